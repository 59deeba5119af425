"""Backward process with exact scores (physics tests 2 and 3 of issue 19)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.diffusion import (
    OU,
    VE,
    VP,
    EmpiricalScore,
    GaussianMixtureScore,
    GaussianScore,
    clone,
    cloning_curve,
    crossing_time,
    reverse,
    sample,
    speciation_time,
    time_grid,
)

D = 20


def _anisotropic_gaussian():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    eig = np.geomspace(0.1, 4.0, D)                      # condition number 40
    return rng.normal(size=D), (Q * eig) @ Q.T


def _null_errors(mu, cov, n, n_boot=200, seed=1):
    """Parametric bootstrap: the errors of n exact samples of N(mu, cov)."""
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(cov)
    fro, mean = [], []
    for _ in range(n_boot):
        x = mu + rng.normal(size=(n, D)) @ L.T
        fro.append(np.linalg.norm(np.cov(x.T) - cov))
        mean.append(np.linalg.norm(x.mean(0) - mu))
    return np.array(fro), np.array(mean)


N_SAMPLES = 2000


@pytest.mark.parametrize("schedule,process,method,n_steps", [
    (OU(8.0), "sde", "euler_maruyama", 200),
    (OU(8.0), "sde", "exponential", 300),
    (OU(8.0), "ode", "heun", 50),
    (OU(8.0), "ode", "exponential", 100),
    (VP(0.1, 20.0, 1.0), "sde", "heun", 50),
    (VE(0.01, 30.0, 1.0), "ode", "heun", 100),
], ids=["OU-sde-em", "OU-sde-exp", "OU-ode-heun", "OU-ode-exp", "VP-sde-heun",
        "VE-ode-heun"])
def test_gaussian_data_recovered(schedule, process, method, n_steps):
    """N(mu, Sigma), d = 20, anisotropic: generated mean and covariance match within 4
    sigma of the error distribution of exact samples of the same size."""
    mu, cov = _anisotropic_gaussian()
    score = GaussianScore(schedule, mu, cov)
    x = np.asarray(sample(jax.random.key(4), schedule, score, N_SAMPLES, D, n_steps=n_steps,
                          process=process, method=method), np.float64)
    fro, mean = _null_errors(mu, cov, N_SAMPLES)
    e_fro = np.linalg.norm(np.cov(x.T) - cov)
    e_mean = np.linalg.norm(x.mean(0) - mu)
    assert e_fro < fro.mean() + 4 * fro.std(), (e_fro, fro.mean(), fro.std())
    assert e_mean < mean.mean() + 4 * mean.std(), (e_mean, mean.mean(), mean.std())


def test_exponential_integrator_is_exact_for_one_data_point():
    """For a single training point the exponential (bridge) step is the exact transition:
    from x_T, five steps give x_{t_end} ~ N(a x1 + ..., ...) -- checked through the
    endpoint law N(a_{t_end} x1, Delta_{t_end}) when x_T ~ p_T."""
    s = OU(3.0)
    x1 = jnp.array([[2.0, -1.0, 0.5]])
    score = EmpiricalScore(s, x1)
    n = 20_000
    key = jax.random.key(0)
    xT = s.mean_scale(3.0) * x1 + jnp.sqrt(s.variance(3.0)) * jax.random.normal(key, (n, 3))
    grid = time_grid(s, 5, t_end=0.3)
    x = np.asarray(reverse(jax.random.key(1), s, score, xT, grid, method="exponential").x)
    a, var = float(s.mean_scale(0.3)), float(s.variance(0.3))
    assert np.all(np.abs(x.mean(0) - a * np.asarray(x1[0])) < 4 * np.sqrt(var / n))
    assert np.all(np.abs(x.var(0) - var) < 4 * var * np.sqrt(2 / n))


def test_reverse_records_and_compiles_once():
    s = OU(4.0)
    grid = time_grid(s, 20, t_end=0.01)
    x = jnp.zeros((8, 3))
    traces = []

    def score(y, t):
        traces.append(1)
        return -y

    res = reverse(jax.random.key(0), s, score, x, grid, record_steps=[0, 10, 20],
                  observe=lambda y, t: jnp.full(y.shape[0], t))
    np.testing.assert_allclose(res.times, grid[np.array([0, 10, 20])])
    np.testing.assert_allclose(res.records[:, 0], grid[np.array([0, 10, 20])], rtol=1e-6)
    n = len(traces)
    # a new schedule horizon and grid values reuse the compiled program
    s2 = OU(5.0)
    reverse(jax.random.key(1), s2, score, x, time_grid(s2, 20, t_end=0.02),
            record_steps=[0, 10, 20], observe=lambda y, t: jnp.full(y.shape[0], t))
    # the new observe lambda recompiles the record function only; the score is traced
    # again by eval_shape but the loop is not re-traced more than once
    assert len(traces) - n <= n


def test_two_cluster_cloning_crosses_at_speciation():
    """Two Gaussian clusters +-m in d = 200, |m|^2 = d: the same-class probability of two
    clones, phi(t), goes from 1 to 1/2; its midpoint phi = 3/4 lies within 0.3 of
    t_S = (1/2) log Lambda, Lambda the top eigenvalue of the data covariance."""
    d = 200
    s = OU(8.0)
    m = jnp.ones(d)
    score = GaussianMixtureScore(s, jnp.array([0.5, 0.5]), jnp.stack([m, -m]), jnp.ones(2))
    k1, k2 = jax.random.split(jax.random.key(0))
    labels = jax.random.bernoulli(k1, 0.5, (400,))
    x0 = jnp.where(labels[:, None], m, -m) + jax.random.normal(k2, (400, d))
    t_s = float(speciation_time(x0))
    assert abs(t_s - 0.5 * np.log(d + 1)) < 0.05                   # Lambda = |m|^2 + 1
    times = t_s + jnp.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    curve = cloning_curve(jax.random.key(1), s, score, x0, times,
                          lambda x: (jnp.sum(x * m) > 0).astype(jnp.int32), n_steps=30,
                          method="heun")
    phi = np.asarray(curve.probability)
    assert phi[0] > 0.9 and phi[-1] < 0.65
    t_cross = crossing_time(times, phi, 0.75)
    assert abs(t_cross - t_s) < 0.3, (t_cross, t_s, phi)


def test_clone_shapes_and_small_time_limit():
    s = OU(4.0)
    score = GaussianScore(s, jnp.zeros(3), 1.0)
    x0 = jnp.array([[3.0, 0.0, -3.0], [1.0, 1.0, 1.0]])
    res = clone(jax.random.key(0), s, score, x0, 0.01, n_clones=4, n_steps=10, t_end=1e-3)
    assert res.start.shape == (2, 3) and res.endpoints.shape == (2, 4, 3)
    # U-turn at t -> 0: the clones stay within a few sqrt(Delta_t) of the sample
    assert np.max(np.abs(np.asarray(res.endpoints) - np.asarray(x0)[:, None])) < 0.8
    res = clone(jax.random.key(0), s, score, x0[0], jnp.array([0.5, 1.0]), n_steps=10)
    assert res.start.shape == (2, 3) and res.endpoints.shape == (2, 2, 3)
