"""Exact scores against independent densities (gradients by finite differences or by
brute-force enumeration)."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from physjax.diffusion import (
    OU,
    VE,
    VP,
    CurieWeissScore,
    EmpiricalScore,
    GaussianMixtureScore,
    GaussianScore,
    curie_weiss_magnetization_law,
    mean_field_magnetization,
    sample_curie_weiss,
)
from tests.helpers import central_difference


@pytest.fixture(autouse=True)
def _x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def _a_var(schedule, t):
    return float(schedule.mean_scale(t)), float(schedule.variance(t))


SCHEDULES = [OU(5.0), VP(0.1, 20.0, 1.0), VE(0.01, 10.0, 1.0)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["OU", "VP", "VE"])
def test_gaussian_mixture_score_is_gradient_of_noised_density(schedule):
    rng = np.random.default_rng(0)
    d, K = 3, 3
    w = np.array([0.2, 0.5, 0.3])
    mu = rng.normal(size=(K, d))
    A = rng.normal(size=(K, d, d))
    cov = A @ np.swapaxes(A, 1, 2) + 0.3 * np.eye(d)
    score = GaussianMixtureScore(schedule, w, mu, cov)
    t = 0.3 * float(schedule.T)
    a, var = _a_var(schedule, t)

    def logp(x):
        return logsumexp([np.log(w[k]) + multivariate_normal.logpdf(
            x, a * mu[k], a**2 * cov[k] + var * np.eye(d)) for k in range(K)])

    x = rng.normal(size=d)
    np.testing.assert_allclose(score(jnp.asarray(x), t), central_difference(logp, x), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(float(score.log_density(jnp.asarray(x), t)), logp(x),
                               rtol=1e-10)


def test_isotropic_and_diagonal_covariances():
    s = OU(5.0)
    mu = np.array([[1.0, -1.0], [0.0, 2.0]])
    iso = GaussianMixtureScore(s, [0.5, 0.5], mu, np.array([0.5, 2.0]))
    full = GaussianMixtureScore(s, [0.5, 0.5], mu, np.array([0.5 * np.eye(2), 2 * np.eye(2)]))
    diag = GaussianMixtureScore(s, [0.5, 0.5], mu, np.array([[0.5, 0.5], [2.0, 2.0]]))
    x = jnp.array([0.3, 0.9])
    np.testing.assert_allclose(iso(x, 0.4), full(x, 0.4), rtol=1e-10)
    np.testing.assert_allclose(diag(x, 0.4), full(x, 0.4), rtol=1e-10)


def test_gaussian_score_and_tweedie():
    rng = np.random.default_rng(1)
    d = 4
    A = rng.normal(size=(d, d))
    cov = A @ A.T + np.eye(d)
    mu = rng.normal(size=d)
    s = OU(5.0)
    g = GaussianScore(s, mu, cov)
    t = 0.7
    a, var = _a_var(s, t)
    x = rng.normal(size=d)
    C = a**2 * cov + var * np.eye(d)
    np.testing.assert_allclose(g(jnp.asarray(x), t), -np.linalg.solve(C, x - a * mu),
                               rtol=1e-10)
    # Tweedie: E[x0 | x_t] for jointly Gaussian (x0, x_t)
    post = mu + a * cov @ np.linalg.solve(C, x - a * mu)
    np.testing.assert_allclose(g.denoise(jnp.asarray(x), t), post, rtol=1e-9)
    np.testing.assert_allclose(g.covariance_at(t), C, rtol=1e-10)


@pytest.mark.parametrize("n", [1, 7])
def test_empirical_score(n):
    rng = np.random.default_rng(2)
    d = 5
    X = rng.normal(size=(n, d))
    s = VP(0.1, 20.0, 1.0)
    e = EmpiricalScore(s, X)
    t = 0.2
    a, var = _a_var(s, t)

    def logp(x):
        return logsumexp(-np.sum((x - a * X) ** 2, 1) / (2 * var)) - np.log(n) \
            - 0.5 * d * np.log(2 * np.pi * var)

    x = rng.normal(size=d)
    np.testing.assert_allclose(e(jnp.asarray(x), t), central_difference(logp, x), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(float(e.log_density(jnp.asarray(x), t)), logp(x), rtol=1e-10)
    w = np.asarray(e.posterior_weights(jnp.asarray(x), t))
    np.testing.assert_allclose(w.sum(), 1.0)
    if n == 1:
        np.testing.assert_allclose(e(jnp.asarray(x), t), (a * X[0] - x) / var, rtol=1e-10)
    # the batched form the backward kernels call (one (m, d) x (d, n) product)
    xs = rng.normal(size=(3, d))
    np.testing.assert_allclose(e.batch(jnp.asarray(xs), t),
                               np.stack([central_difference(logp, xi) for xi in xs]),
                               rtol=1e-6, atol=1e-8)
    W = np.asarray(e.posterior_weights(jnp.asarray(xs), t))    # (3, n): rows at once
    log_w = -np.sum((xs[:, None, :] - a * X[None]) ** 2, -1) / (2 * var)
    np.testing.assert_allclose(W, np.exp(log_w - logsumexp(log_w, axis=1, keepdims=True)),
                               rtol=1e-9, atol=1e-12)
    g = GaussianScore(s, np.zeros(d), 1.5)          # the default: vmap of __call__
    np.testing.assert_allclose(g.batch(jnp.asarray(xs), t), -xs / (1.5 * a**2 + var),
                               rtol=1e-10)


@pytest.mark.parametrize("beta,h", [(1.5, 0.0), (0.6, 0.2)])
def test_curie_weiss_score_against_enumeration(beta, h):
    N = 8
    s = OU(5.0)
    cw = CurieWeissScore(s, N, beta, h)
    score = eqx.filter_jit(lambda x, t: cw(x, t))
    posterior = eqx.filter_jit(lambda x, t: cw.magnetization_posterior(x, t))
    conf = np.array(list(itertools.product([-1.0, 1.0], repeat=N)))
    M = conf.sum(1)
    logP = beta * M**2 / (2 * N) + beta * h * M
    rng = np.random.default_rng(3)
    for t in [0.05, 0.5, 2.0]:
        a, var = _a_var(s, t)
        x = a * conf[rng.integers(len(conf))] + np.sqrt(var) * rng.normal(size=N)

        def logp(y, a=a, var=var):
            return logsumexp(logP - np.sum((y - a * conf) ** 2, 1) / (2 * var))

        np.testing.assert_allclose(score(jnp.asarray(x), t), central_difference(logp, x), rtol=1e-5,
                                   atol=1e-6)
        lw = logP - np.sum((x - a * conf) ** 2, 1) / (2 * var)
        pM = np.bincount(((M + N) // 2).astype(int), weights=np.exp(lw - lw.max()))
        np.testing.assert_allclose(posterior(jnp.asarray(x), t),
                                   pM / pM.sum(), rtol=1e-8, atol=1e-12)


def test_curie_weiss_law_sampler_and_mean_field():
    N, beta = 10, 1.3
    conf = np.array(list(itertools.product([-1.0, 1.0], repeat=N)))
    M = conf.sum(1)
    w = np.exp(beta * M**2 / (2 * N))
    exact = np.bincount(((M + N) // 2).astype(int), weights=w) / w.sum()
    m, p = curie_weiss_magnetization_law(N, beta)
    np.testing.assert_allclose(m, (2 * np.arange(N + 1) - N) / N)
    np.testing.assert_allclose(p, exact, rtol=1e-10)
    n = 20_000
    x = np.asarray(sample_curie_weiss(jax.random.key(0), n, N, beta))
    assert set(np.unique(x)) == {-1.0, 1.0}
    counts = np.bincount(((x.sum(1) + N) // 2).astype(int), minlength=N + 1)
    chi2 = np.sum((counts - n * exact) ** 2 / (n * exact))
    assert chi2 < N + 1 + 4 * np.sqrt(2 * (N + 1))          # chi^2 with ~N dof
    # mean field: m* = tanh(beta m*), 0 above T_c = 1
    for b in [1.2, 1.5, 3.0]:
        ms = float(mean_field_magnetization(b))
        assert ms > 0.1 and abs(ms - np.tanh(b * ms)) < 1e-10
    assert abs(float(mean_field_magnetization(0.8))) < 1e-6
    np.testing.assert_allclose(float(mean_field_magnetization(1.5)), 0.858560, atol=1e-5)


def test_scores_are_traceable():
    s = OU(5.0)
    x = jnp.linspace(-1, 1, 6)
    # vmap over an inverse temperature
    f = jax.jit(jax.vmap(lambda b: CurieWeissScore(s, 6, b)(x, 0.5)))
    out = f(jnp.array([0.5, 1.0, 1.5]))
    assert out.shape == (3, 6)
    # gradient with respect to a mean, vs finite differences
    @jax.jit
    def loss(m):
        return jnp.sum(GaussianScore(s, m, jnp.eye(6))(x, 0.3) ** 2)
    m0 = np.linspace(0.1, 0.6, 6)
    np.testing.assert_allclose(jax.grad(loss)(jnp.asarray(m0)),
                               central_difference(lambda m: float(loss(jnp.asarray(m))), m0),
                               rtol=1e-6)
