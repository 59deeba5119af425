"""Trace estimators against exact traces and their exact variances.

Statistical tolerances: with S = 2000 independent seeds the sample standard deviation of
the estimates has relative standard error ~ 1/sqrt(2S) = 1.6 % (the m-probe mean is close
to Gaussian), so a 10 % band is > 6 sigma; coverage of the 2-standard-error bar is a
binomial proportion with sd sqrt(0.95 * 0.05 / S) = 0.5 %, tested within +-2 % (4 sigma).
A correct implementation fails these far less than once in 10^4 runs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import physjax.curvature as pc

N_SEEDS = 2000


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def dense_symmetric(n, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    return (M + M.T) / 2 + np.diag(rng.uniform(0, 3, n))


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_spread_and_error_bar_coverage(probe):
    n, m = 100, 50
    A = dense_symmetric(n, 0)
    Aj = jnp.asarray(A)
    tr = np.trace(A)
    offdiag2 = np.sum(A**2) - np.sum(np.diag(A) ** 2)
    var1 = 2 * offdiag2 if probe == "rademacher" else 2 * np.sum(A**2)
    sigma = np.sqrt(var1 / m)

    keys = jax.random.split(jax.random.key(1), N_SEEDS)
    out = jax.vmap(lambda k: pc.hutchinson_trace_matvec(k, lambda x: Aj @ x, n, m,
                                                        probe=probe))(keys)
    est, se = np.asarray(out.estimate), np.asarray(out.standard_error)
    assert out.samples.shape == (N_SEEDS, m)
    assert abs(est.std(ddof=1) / sigma - 1) < 0.10
    assert abs(est.mean() - tr) < 4 * sigma / np.sqrt(N_SEEDS)  # unbiased
    # the error bar: |est - tr| < 2 se with the Student-t rate for m - 1 degrees of freedom
    coverage = np.mean(np.abs(est - tr) < 2 * se)
    expected = stats.t.cdf(2, m - 1) - stats.t.cdf(-2, m - 1)
    assert abs(coverage - expected) < 0.02
    # the standard error itself estimates sigma
    assert abs(np.mean(se) / sigma - 1) < 0.05


def test_hutch_plus_plus_beats_hutchinson_on_low_rank_plus_noise():
    """Equal budgets of 30 matvecs on 8 spikes in [20, 100] plus dense noise.

    Hutch++ errors are heavy-tailed (a sketch that half-misses a spike leaves it to the
    10 deflated probes), so spreads are compared by the median absolute error."""
    n, budget, n_seeds = 200, 30, 500
    rng = np.random.default_rng(2)
    U, _ = np.linalg.qr(rng.standard_normal((n, 8)))
    A = (U * np.linspace(20, 100, 8)) @ U.T + 0.05 * dense_symmetric(n, 3)
    Aj = jnp.asarray(A)
    tr = np.trace(A)

    def matvec(x):
        return Aj @ x

    keys = jax.random.split(jax.random.key(4), n_seeds)
    hpp = jax.vmap(lambda k: pc.hutch_plus_plus_matvec(k, matvec, n, budget))(keys)
    hut = jax.vmap(lambda k: pc.hutchinson_trace_matvec(k, matvec, n, budget))(keys)
    err_hpp = np.asarray(hpp.estimate) - tr
    err_hut = np.asarray(hut.estimate) - tr
    assert np.median(np.abs(err_hpp)) < 0.2 * np.median(np.abs(err_hut))
    assert abs(np.mean(err_hpp)) < 4 * np.std(err_hpp) / np.sqrt(n_seeds)  # unbiased
    # error bar from the 10 deflated probes: Student-t(9) coverage (binomial sd 1.2 %)
    coverage = np.mean(np.abs(err_hpp) < 2 * np.asarray(hpp.standard_error))
    assert abs(coverage - (stats.t.cdf(2, 9) - stats.t.cdf(-2, 9))) < 0.05


def _quadratic(n, seed):
    A = dense_symmetric(n, seed)
    b = np.random.default_rng(seed + 1).standard_normal(n)
    Aj, bj = jnp.asarray(A), jnp.asarray(b)

    def loss(p):  # params as a pytree; gradient non-zero at the evaluation point
        x = jnp.concatenate([p["w"].ravel(), p["c"]])
        return 0.5 * x @ Aj @ x + bj @ x + 3.0

    params = {"w": jnp.asarray(np.random.default_rng(seed + 2).standard_normal((4, 5))),
              "c": jnp.asarray(np.random.default_rng(seed + 3).standard_normal(n - 20))}
    return loss, params, A


def test_hessian_hutchinson_and_hutch_plus_plus_converge_to_the_trace():
    """f-versions on a quadratic loss of a pytree (Hessian A exactly, non-zero gradient)."""
    loss, params, A = _quadratic(30, 5)
    out = pc.hutchinson_trace(jax.random.key(6), loss, params, 400)
    assert out.samples.shape == (400,)
    sigma = np.sqrt(2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2)) / 400)
    assert abs(float(out.estimate) - np.trace(A)) < 4 * sigma
    hpp = pc.hutch_plus_plus(jax.random.key(6), loss, params, 60)
    sigma_hpp = 2 * np.sqrt(2 * np.sum(A**2) / 20)  # loose upper bound on its spread
    assert abs(float(hpp.estimate) - np.trace(A)) < 4 * sigma_hpp


def test_curvature_estimate_fits_exact_quadratic_curvature():
    loss, params, A = _quadratic(30, 7)
    rng = np.random.default_rng(8)
    etas = rng.standard_normal((6, 30))
    directions = {"w": jnp.asarray(etas[:, :20].reshape(6, 4, 5)),
                  "c": jnp.asarray(etas[:, 20:])}
    out = pc.curvature_trace_estimate(None, loss, params, 6, directions=directions)
    exact = np.einsum("ij,jk,ik->i", etas, A, etas)
    np.testing.assert_allclose(out.samples, exact, rtol=1e-8)
    np.testing.assert_allclose(out.estimate, exact.mean(), rtol=1e-8)
    np.testing.assert_allclose(out.standard_error, exact.std(ddof=1) / np.sqrt(6), rtol=1e-6)


def test_curvature_estimate_uses_hutchinsons_gaussian_probes_and_converges():
    """Seed 001 Fig. 9: the same Gaussian vectors in both methods give the same estimates
    for a quadratic loss, and both converge to tr H within their error bars."""
    loss, params, A = _quadratic(30, 9)
    key = jax.random.key(10)
    curv = pc.curvature_trace_estimate(key, loss, params, 300,
                                       alphas=np.linspace(-0.05, 0.05, 50))
    hut = pc.hutchinson_trace(key, loss, params, 300, probe="gaussian")
    np.testing.assert_allclose(curv.samples, hut.samples, rtol=1e-7, atol=1e-9)
    sigma = np.sqrt(2 * np.sum(A**2) / 300)
    assert abs(float(curv.estimate) - np.trace(A)) < 4 * sigma
