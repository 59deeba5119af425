"""The Boltzmann-machine experiments (``physjax/experiments/boltzmann.py``).

``rbm-ising`` runs at the size of issue 4's test 5 (Torlai & Melko 2016 at small size):
its Monte Carlo data are checked against Kaufman's exact finite-lattice energy, and the
RBM samples against the data.  ``rbm-digits`` and ``hopfield-rbm`` run at quick size:
AIS against exact enumeration, physjax against scikit-learn, the Hopfield/RBM
equivalence to rounding, and the Hopfield initialization ahead of a random one."""

from __future__ import annotations

import numpy as np
import pytest

from physjax.experiments import names

EXPERIMENTS = ("rbm-ising", "rbm-digits", "hopfield-rbm")


@pytest.fixture(scope="module")
def ising(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("rbm-ising", tmp_path_factory, n_samples=20000, burn_in=300,
                                n_epochs=50, batch_size=250, n_chains=1000, n_records=50)


@pytest.fixture(scope="module")
def digits(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("rbm-digits", tmp_path_factory, n_epochs=4, ais_every=4,
                                ais_betas=500, sample_steps=200)


@pytest.fixture(scope="module")
def hopfield(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("hopfield-rbm", tmp_path_factory, n_epochs=3)


def test_experiments_are_registered():
    assert set(EXPERIMENTS) <= set(names())


@pytest.mark.slow
def test_rbm_learns_ising_thermodynamics(ising):
    """Issue 4, test 5.  20000 independent 8 x 8 periodic configurations per T in {1.5,
    2.27, 3.5} (multi-spin Metropolis, 300 sweeps from random starts); one RBM per T (64
    spin visible, 64 spin hidden units, CD-1, batch 250, Adam decaying linearly from 0.03
    to 0 over 50 epochs); 1000 Gibbs chains, 200 burn-in steps, 50 records 4 steps apart.

    * the Monte Carlo energies agree with Kaufman's exact energy of the 8 x 8 lattice within
      4.5 standard errors (the data are in equilibrium);
    * <E>/N and <|m|> of the RBM samples agree with the training data within 5% at each T
      (statistical errors below 0.5%; the deviation left, ~1-2%, is the RBM's).
    """
    d = ising.data
    assert np.all(np.abs(d["e_mc"] - d["kaufman_energy"]) < 4.5 * d["e_mc_se"])
    np.testing.assert_allclose(d["e_rbm"], d["e_mc"], rtol=0.05)
    np.testing.assert_allclose(d["abs_m_rbm"], d["abs_m_mc"], rtol=0.05)
    assert np.all(d["abs_m_rbm_se"] < 0.005) and np.all(d["e_rbm_se"] < 0.005)
    assert d["snapshots_rbm"].shape == (3, 8, 8)
    assert set(np.unique(d["snapshots_rbm"])) <= {-1.0, 1.0}


def test_rbm_digits(digits):
    s, d = digits.summary, digits.data
    # AIS (256 chains x 500 temperatures) against enumeration of the 16 hidden units
    assert s["max |AIS - exact| test LL"] < 0.1
    # training helps, and beats scikit-learn with the same size, rate, batch and epochs
    assert d["pseudo_ll_test"][-1] > d["pseudo_ll_test"][0] + 3
    assert s["test pseudo-LL (physjax)"] > s["test pseudo-LL (sklearn)"]
    # the train LL is at most slightly below the test LL (no overfitting to speak of)
    assert s["train LL (AIS)"] > s["test LL (AIS)"] - 0.1
    assert d["filters"].shape == (16, 8, 8) and d["samples"].shape == (16, 8, 8)
    assert np.all((d["samples"] >= 0) & (d["samples"] <= 1))


def test_hopfield_rbm(hopfield):
    s = hopfield.summary
    assert s["max |log p_RBM - log p_Hopfield|"] < 1e-6        # issue 4, test 3, again
    assert s["n_states"] == 2**12
    # seed 003: starting from the class patterns (Hebb) is ahead of a random start; the
    # random start is the independent-spin model, -64 log 2 = -44.36 nats
    assert s["test pseudo-LL at epoch 0, random init"] == pytest.approx(-64 * np.log(2),
                                                                          abs=0.05)
    assert (s["test pseudo-LL at epoch 0, Hopfield init"]
            > s["test pseudo-LL at epoch 0, random init"] + 5)
    assert s["final test pseudo-LL, Hopfield init"] > s["final test pseudo-LL, random init"]
