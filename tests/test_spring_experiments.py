"""The spring-network experiments (``physjax/experiments/springs.py``) at quick size.

Physics each must show (seed 000): coupled learning reaches the allosteric response and
cooperative binding (binding B after A costs far less than binding B alone); the
cooperative response projects more strongly on the lowest mode; energy regularization
raises T* at the price of a larger training error; T* obeys its criterion
<eps> = sigma + sigma0; the boundary frequency is sum_m n(m)/sqrt(m).
"""

from __future__ import annotations

import numpy as np
import pytest

from physjax.experiments import names

EXPERIMENTS = ("allostery-vs-cooperative", "thermal-crossover", "localized-modes")


def test_experiments_are_registered():
    assert set(EXPERIMENTS) <= set(names())


@pytest.fixture(scope="module")
def allostery(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("allostery-vs-cooperative", tmp_path_factory, n_particles=64,
                                n_steps=200, n_modes=10)


@pytest.fixture(scope="module")
def thermal(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("thermal-crossover", tmp_path_factory, n_particles=64,
                                n_steps=200, ratios=(0.5, 1.0), lambdas=(0.0, 1e-3),
                                n_temperatures=9)


@pytest.fixture(scope="module")
def localized(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("localized-modes", tmp_path_factory, n_particles=64,
                                n_steps=200, max_modes=4, localize_steps=20)


def test_allostery_and_cooperative_binding_are_learned(allostery):
    d = allostery.data
    # float32 linear solves: the learned response is good to ~1e-3
    assert d["allostery"]["strain_b_given_a"] == pytest.approx(1.0, abs=1e-2)
    for key in ("strain_b_given_a", "strain_a_given_b"):
        assert d["cooperative"][key] > 0.9
    for name in ("allostery", "cooperative"):
        assert d[name]["e_b_after_a"] < 0.1 * d[name]["e_b"]
        p = np.asarray(d[name]["projection"])
        assert np.all(p >= 0) and p.sum() <= 1 + 1e-5
    # seed 000: the cooperative response projects more strongly on the lowest mode
    assert d["cooperative"]["projection"][0] > d["allostery"]["projection"][0]
    # regularization raises the energy to bind B alone
    assert d["cooperative, regularized"]["e_b"] > d["cooperative"]["e_b"]


def test_thermal_crossover(thermal):
    d = thermal.data
    t = np.asarray(d["temperatures"])
    band = np.asarray(d["sigma"]) + np.asarray(d["sigma_rest"])
    # spreads grow as sqrt(T) and reach the response exactly at T*
    np.testing.assert_allclose(band / np.sqrt(t), band[0] / np.sqrt(t[0]), rtol=1e-5)
    at_t_star = band[0] * np.sqrt(d["t_star"] / t[0])
    assert at_t_star == pytest.approx(d["mean_strain_b"], rel=1e-4)
    # the allosteric networks reached their responses
    np.testing.assert_allclose(d["achieved_ratio"], d["ratios"], atol=1e-2)
    # energy regularization: higher T*, not a lower training error
    assert d["t_star_vs_lambda"][-1] > d["t_star_vs_lambda"][0]
    assert d["cost_vs_lambda"][-1] >= d["cost_vs_lambda"][0]


def test_localized_modes(localized):
    d = localized.data
    masks = np.asarray(d["boundary_masks"])
    m = np.arange(1, masks.shape[0] + 1)
    np.testing.assert_allclose(d["frequency"], (masks / np.sqrt(m)[:, None]).sum(0),
                               rtol=1e-6)
    assert np.asarray(d["boundary_counts"])[0] > 0
    assert d["boundary_counts"][-1] >= d["boundary_counts"][0]
    assert localized.summary["final cost"] < 1e-4
