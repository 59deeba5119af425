"""Aging observables against exact results for free diffusion, the sphere identity
Delta = 2(1 - C), scaling collapses and power laws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.dynamics as dyn


@pytest.fixture(scope="module")
def free_diffusion():
    """Brownian motion dx = sqrt(2T) dW from x = 0 (H = 0; Euler-Maruyama is exact here):
    MSD(t_w, t_w + t) = 2T t for every t_w, C(t_w, t_w + t) = 2T t_w, so the normalized
    correlation C(t_w, t_w+t)/sqrt(C(t_w,t_w) C(t_w+t,t_w+t)) = sqrt(t_w/(t_w+t)) is a
    function of t/t_w only: exact simple aging."""
    temp, dt = 0.5, 0.01
    model = dyn.OverdampedLangevin(lambda x: 0.0 * jnp.sum(x), dt, temp)
    waiting = np.array([10, 40, 160])
    lags = np.array([5, 10, 20, 40, 80, 160, 320, 640])
    steps = dyn.aging_schedule(waiting, lags, n_log=5)
    key = jax.random.key(0)
    states = dyn.init_replicas(key, model, jnp.zeros((512, 64)))
    _, rec = dyn.run_replicas(key, model, states, steps, record_position=True)
    return dict(temp=temp, dt=dt, waiting=waiting, lags=lags, steps=steps, rec=rec)


def test_aging_schedule_contains_all_pairs():
    steps = dyn.aging_schedule([10, 100], [1, 5, 50], n_steps=1000, n_log=4)
    for s in (0, 10, 11, 15, 60, 100, 101, 105, 150, 1000):
        assert s in steps
    assert np.all(np.diff(steps) > 0)


def test_msd_of_free_diffusion_is_2Tt(free_diffusion):
    """Each (t_w, t) entry averages 512 x 64 independent Gaussian squared increments, so
    its relative s.e. is sqrt(2/32768) = 0.8%; tolerance 5%."""
    f = free_diffusion
    msd = jnp.mean(dyn.mean_square_displacement(f["rec"].position, f["steps"], f["waiting"],
                                                f["lags"]), axis=0)
    exact = 2 * f["temp"] * f["lags"] * f["dt"]
    np.testing.assert_allclose(np.asarray(msd), np.broadcast_to(exact, msd.shape), rtol=0.05)


def test_free_diffusion_ages_simply(free_diffusion):
    """Normalized C(t_w, t_w + t) equals sqrt(t_w/(t_w + t)) and collapses against t/t_w
    (exponent 1) far better than against t (exponent 0)."""
    f = free_diffusion
    pos, steps, w, lags = f["rec"].position, f["steps"], f["waiting"], f["lags"]
    c = jnp.mean(dyn.two_time_correlation(pos, steps, w, lags), axis=0)
    c_ww = jnp.mean(dyn.two_time_correlation(pos, steps, w, [0]), axis=0)       # (n_w, 1)
    c_tt = jnp.stack([jnp.mean(dyn.two_time_correlation(pos, steps, w + lag, [0]), axis=0)[:, 0]
                      for lag in lags], axis=1)
    normalized = c / jnp.sqrt(c_ww * c_tt)
    exact = np.sqrt(w[:, None] / (w[:, None] + lags[None, :]))
    np.testing.assert_allclose(np.asarray(normalized), exact, atol=0.03)
    aging = dyn.scaling_collapse(w, lags, normalized, exponent=1.0)
    tti = dyn.scaling_collapse(w, lags, normalized, exponent=0.0)
    assert float(aging.spread) < 0.02 < 0.1 < float(tti.spread)
    assert aging.curves.shape == (3, 32) and aging.scaled_lag.shape == (32,)


def test_sphere_identity_msd_equals_two_minus_two_c():
    """On |x|^2 = N: Delta(t_w, t_w+t) = 2 - 2 C(t_w, t_w+t) exactly (float64), for a 3-spin
    quench at T = 0.4 (below T_d = sqrt(3/8)); C(t_w, t_w) = 1."""
    with jax.enable_x64(True):
        n = 16
        model = dyn.spherical_p_spin(jax.random.key(1), n)
        langevin = dyn.OverdampedLangevin(model, 0.02, 0.4, spherical=True)
        waiting, lags = np.array([3, 30]), np.array([0, 1, 10, 100])
        steps = dyn.aging_schedule(waiting, lags)
        state = dyn.init_dynamics(jax.random.key(2), langevin,
                                  dyn.uniform_sphere(jax.random.key(3), n, dtype=jnp.float64))
        _, rec = dyn.run_dynamics(jax.random.key(4), langevin, state, steps,
                                  record_position=True)
        c = dyn.two_time_correlation(rec.position, steps, waiting, lags)
        msd = dyn.mean_square_displacement(rec.position, steps, waiting, lags)
        np.testing.assert_allclose(np.asarray(msd), 2 - 2 * np.asarray(c), atol=1e-12)
        np.testing.assert_allclose(np.asarray(c[:, 0]), 1.0, atol=1e-12)


def test_loglog_slope_reads_power_laws():
    t = np.logspace(0, 4, 30)
    assert float(dyn.loglog_slope(t, 3.0 * t**-0.7)) == pytest.approx(-0.7, abs=1e-5)
    v = np.where(t < 10, 1.0, t**1.5)
    assert float(dyn.loglog_slope(t, v, t_min=20.0)) == pytest.approx(1.5, abs=1e-5)


def test_collapse_of_exact_functions():
    """Curves that are exactly f(t/t_w) collapse to spread ~0 with exponent 1; exactly
    g(t) to ~0 with exponent 0."""
    w = np.array([10.0, 100.0, 1000.0])
    lags = np.logspace(0, 5, 60)
    f_aging = np.exp(-(lags[None, :] / w[:, None]) ** 0.5)
    f_tti = np.broadcast_to(np.exp(-(lags / 300.0) ** 0.5), f_aging.shape)
    assert float(dyn.scaling_collapse(w, lags, f_aging).spread) < 5e-3
    assert float(dyn.scaling_collapse(w, lags, f_aging, exponent=0.0).spread) > 0.1
    assert float(dyn.scaling_collapse(w, lags, f_tti, exponent=0.0).spread) < 1e-6


@pytest.mark.slow
def test_three_spin_quench_ages_below_td_and_not_above():
    """Spherical 3-spin (N = 64, 32 replicas, one disorder sample), quench from random
    starts.  Below the dynamical temperature T_d = sqrt(3/8) (T = 0.4) C(t_w, t_w + t) at
    fixed t grows with t_w (aging; measured 0.32 -> 0.71 at t = 6 for t_w = 0.2 -> 20);
    above it (T = 2) the curves for different t_w coincide (time-translation invariance;
    measured spread 0.015)."""
    n, dt = 64, 0.02
    model = dyn.spherical_p_spin(jax.random.key(0), n)
    waiting, lags = np.array([10, 100, 1000]), np.array([10, 30, 100, 300, 1000])
    steps = dyn.aging_schedule(waiting, lags)
    x0 = dyn.uniform_sphere(jax.random.key(2), n, shape=(32,))
    curves = {}
    for temp in (0.4, 2.0):
        langevin = dyn.OverdampedLangevin(model, dt, temp, spherical=True)
        states = dyn.init_replicas(jax.random.key(1), langevin, x0)
        _, rec = dyn.run_replicas(jax.random.key(3), langevin, states, steps,
                                  record_position=True)
        curves[temp] = np.asarray(jnp.mean(
            dyn.two_time_correlation(rec.position, steps, waiting, lags), axis=0))
    cold = curves[0.4]
    assert np.all(np.diff(cold[:, 1:], axis=0) > 0.02)
    assert cold[-1, 3] - cold[0, 3] > 0.2
    tti = dyn.scaling_collapse(waiting * dt, lags * dt, curves[2.0], exponent=0.0)
    assert float(tti.spread) < 0.05
