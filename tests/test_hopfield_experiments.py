"""The Hopfield experiments (``physjax/experiments/hopfield.py``) at quick size, and the
helper networks they rely on (the AGS theory itself is tested in
``tests/spins/test_theory.py``).

Physics references: the AGS replica-symmetric theory (alpha_c = 0.138, m_c = 0.967 at
T = 0, AGS 1987), the Hebbian and dreaming couplings of ``physjax.spins.hopfield``, and
the physical facts each experiment must show
(retrieval at low load, loss of retrieval above the capacity, a paramagnet at high T, the
dreaming kernel beating Hebb at alpha = 0.4).  Seeds are fixed; the margins are stated at
each check.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.experiments import hopfield as hop
from physjax.experiments import names
from physjax.spins import dreaming, hebbian, init_dense, random_patterns, run_dense

EXPERIMENTS = ("hopfield-retrieval", "hopfield-capacity", "hopfield-phase-diagram", "dreaming")


@pytest.fixture(scope="module")
def retrieval(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("hopfield-retrieval", tmp_path_factory, alphas=(0.05, 0.2),
                initial_overlaps=(0.4, 0.7, 1.0))


@pytest.fixture(scope="module")
def capacity(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("hopfield-capacity", tmp_path_factory)


@pytest.fixture(scope="module")
def phase_diagram(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("hopfield-phase-diagram", tmp_path_factory)


@pytest.fixture(scope="module")
def dreaming_result(tmp_path_factory, run_quick_experiment):
    return run_quick_experiment("dreaming", tmp_path_factory, sleep_times=(0.0, 1.0, 1e4),
                alphas=(0.05, 0.1, 0.15, 0.2, 0.3, 0.4))


def test_experiments_are_registered():
    assert set(EXPERIMENTS) <= set(names())


# ------------------------------------------------------------- the helper networks

def test_active_patterns_network_equals_hebb_of_the_active_rows():
    xi = random_patterns(jax.random.key(3), 12, 64)
    K = 7
    net, ref = hop._hebbian_network(xi, K), hebbian(xi[:K])
    s = random_patterns(jax.random.key(4), 1, 64)[0]
    np.testing.assert_allclose(net.couplings(), ref.couplings(), atol=1e-6)
    np.testing.assert_allclose(net.fields(s), ref.fields(s), atol=1e-5)
    np.testing.assert_allclose(net.energy(s), ref.energy(s), rtol=1e-5)
    np.testing.assert_allclose(net.self_coupling, ref.self_coupling, atol=1e-6)
    idx = jnp.array([5, 1, 60, 33])
    np.testing.assert_allclose(net.block_couplings(idx), ref.block_couplings(idx), atol=1e-6)
    np.testing.assert_allclose(net.block_fields(net.field_cache(s), s, idx),
                               ref.block_fields(ref.field_cache(s), s, idx), atol=1e-5)
    # the same heat-bath trajectory (same keys, fields equal to rounding; a rounding
    # difference can only matter when a uniform falls within ~1e-6 of the acceptance
    # probability, so at most a stray spin out of 64 x 20 updates)
    runs = [run_dense(jax.random.key(5), m, init_dense(jax.random.key(6), m, 0.7), 20,
                      record_every=20)[0].spins for m in (net, ref)]
    assert np.mean(np.asarray(runs[0]) == np.asarray(runs[1])) > 0.98


@pytest.mark.parametrize("t", [0.0, 1.0, 100.0])
def test_dreaming_network_equals_the_dreaming_couplings(t):
    xi = random_patterns(jax.random.key(7), 10, 80)
    K = 6
    net, ref = hop._dreaming_network(xi, K, t), dreaming(xi[:K], t)
    scale = float(jnp.abs(ref.couplings()).max())
    np.testing.assert_allclose(net.couplings(), ref.couplings(), atol=2e-5 * scale)
    s = random_patterns(jax.random.key(8), 1, 80)[0]
    np.testing.assert_allclose(net.energy(s), ref.energy(s), rtol=1e-4)


# -------------------------------------------------------------------- experiments

def test_retrieval_low_load_recovers_corrupted_patterns(retrieval):
    d = retrieval.data
    a = list(np.round(d["alphas"], 3))
    j = list(d["initial_overlaps"]).index(0.7)  # 15% of the spins flipped
    m = np.asarray(d["mean_final_overlap"])
    assert np.asarray(d["final_overlaps"]).shape == (2, 3, 16)
    # alpha = 0.05 is far inside the retrieval phase (AGS: m = 0.9999 at alpha = 0.05):
    assert m[a.index(0.05), j] > 0.99
    assert np.min(np.asarray(d["final_overlaps"])[a.index(0.05), j]) > 0.95
    # alpha = 0.2 > alpha_c: no retrieval state; the spin-glass remanence is ~0.3-0.5
    assert m[a.index(0.2), j] < 0.9
    assert np.all(np.asarray(d["fixed_point"]).mean() > 0.95)


def test_capacity_threshold_near_ags(capacity):
    d = capacity.data
    th = np.asarray(d["thresholds"])
    # finite-size thresholds at N = 250 and 500 (32 patterns each) lie within
    # [0.10, 0.20] around AGS 0.138; the grid step is 0.02
    assert th.shape == (2,) and np.all((th >= 0.10) & (th <= 0.20)), th
    p = np.asarray(d["retrieval_probability"])
    assert np.all(p[:, 0] == 1.0)  # alpha = 0.06: every stored pattern is a fixed point
    assert np.all(p[:, -1] < 0.5)  # alpha = 0.24: retrieval mostly lost
    m = np.asarray(d["mean_final_overlap"])
    assert np.all(m[:, 0] > 0.99) and np.all(m[:, -1] < 0.8)


def test_phase_diagram_regions(phase_diagram):
    d = phase_diagram.data
    phase = np.asarray(d["phase"])
    n_a, n_t = len(d["alphas"]), len(d["temperatures"])
    assert phase.shape == (n_a, n_t)
    assert np.asarray(d["q_ea"]).shape == (n_a, n_t, 4)
    # alpha = 0.025, T = 0.1: deep in the retrieval phase (AGS m ~ 1)
    assert phase[0, 0] == hop.RETRIEVAL and d["mean_abs_overlap"][0, 0] > 0.9
    # T = 1.6 > T_g(0.2) = 1.45: paramagnet everywhere; q_EA is O(1/sqrt(N n)) ~ 0.01
    assert np.all(phase[:, -1] == hop.PARAMAGNET)
    assert np.all(np.abs(np.asarray(d["mean_q_ea"])[:, -1]) < 0.05)
    assert np.all(np.asarray(d["mean_abs_overlap"])[:, -1] < 0.2)
    # the three phases all occur and most cells agree with the AGS classification
    assert set(np.unique(phase)) == {hop.PARAMAGNET, hop.SPIN_GLASS, hop.RETRIEVAL}
    assert phase_diagram.summary["fraction of cells agreeing with AGS"] > 0.7
    frac = sum(phase_diagram.summary[f"fraction {n}"] for n in hop.PHASE_NAMES)
    assert frac == pytest.approx(1.0)


def test_dreaming_increases_capacity(dreaming_result):
    d = dreaming_result.data
    t = list(d["sleep_times"])
    a = list(np.round(d["alphas"], 3))
    m = np.asarray(d["mean_final_overlap"])
    th = np.asarray(d["thresholds"])
    # t = 0 is Hebb: threshold within [0.08, 0.2] at N = 200
    assert 0.08 <= th[t.index(0.0)] <= 0.2
    # alpha = 0.4: the t = 1e4 (projector-like) kernel retrieves, Hebb does not
    assert m[t.index(1e4), a.index(0.4)] > 0.95
    assert m[t.index(0.0), a.index(0.4)] < 0.9
    # the threshold grows with the sleep time (NaN: retrieval on the whole grid)
    th_big = np.where(np.isnan(th), np.inf, th)
    assert th_big[t.index(1.0)] > th_big[t.index(0.0)]
    assert th_big[t.index(1e4)] >= th_big[t.index(1.0)]
