"""Stochastic Lanczos quadrature against matrices with known spectra."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.fft import dct, idct

import physjax.curvature as pc


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def dct_operator(eigenvalues, seed):
    """H = Q^T diag(eigenvalues) Q with Q x = DCT(s * x) (orthonormal DCT-II, random signs s):
    a dense orthogonal basis at FFT cost, so the spectrum is known exactly."""
    n = eigenvalues.size
    s = jnp.asarray(np.random.default_rng(seed).choice([-1.0, 1.0], n))
    d = jnp.asarray(eigenvalues)

    def matvec(x):
        return s * idct(d * dct(s * x, norm="ortho"), norm="ortho")

    return matvec


def test_slq_weights_and_first_two_moments():
    """N = 4096, spectrum uniform on [0.75, 1.25]; 10 runs x 80 steps.

    Gauss quadrature with 80 nodes integrates t and t^2 exactly for each probe, so the only
    error is the probe average: relative sd sqrt(2 N var(lambda^p) / R) / tr(H^p) = 0.1 %
    (p = 1) and 0.2 % (p = 2) for this dense basis, so 1 % is a > 5 sigma band."""
    n = 4096
    lam = np.linspace(0.75, 1.25, n)
    matvec = dct_operator(lam, 0)
    out = pc.spectral_density_matvec(jax.random.key(1), matvec, n, n_runs=10, n_steps=80)
    assert out.nodes.shape == (10, 80) and out.weights.shape == (10, 80)
    w, th = np.asarray(out.weights), np.asarray(out.nodes)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(w >= 0)
    assert th.min() > 0.75 - 1e-9 and th.max() < 1.25 + 1e-9  # Ritz values interlace
    m1 = np.mean(np.sum(w * th, axis=1))
    m2 = np.mean(np.sum(w * th**2, axis=1))
    assert abs(m1 / np.mean(lam) - 1) < 0.01
    assert abs(m2 / np.mean(lam**2) - 1) < 0.01
    # the broadened density: a probability density with the same moments (+ sigma^2)
    t, rho = np.asarray(out.grid), np.asarray(out.density)
    sigma = 0.01 * (th.max() - th.min())
    assert np.trapezoid(rho, t) == pytest.approx(1, abs=1e-6)
    assert np.trapezoid(t * rho, t) == pytest.approx(m1, rel=1e-6)
    assert np.trapezoid(t**2 * rho, t) - sigma**2 == pytest.approx(m2, rel=1e-6)
    inside = (t > 0.8) & (t < 1.2)  # exact mass of the uniform spectrum there: 0.8
    assert np.trapezoid(rho[inside], t[inside]) == pytest.approx(0.8, abs=0.03)


def test_slq_on_few_distinct_eigenvalues_is_exact():
    """Seed-001 eq. (40) Hessian diag(1 x 500, -1 x 500, 0): the Krylov space of a Rademacher
    probe is invariant after 3 steps.  The quadrature measure of v/|v| is then exactly
    500/1001 at +-1 and 1/1001 at 0; later (restarted) blocks carry zero weight."""
    d = jnp.concatenate([jnp.ones(500), -jnp.ones(500), jnp.zeros(1)])
    out = pc.spectral_density_matvec(jax.random.key(2), lambda x: d * x, 1001, n_runs=3,
                                     n_steps=30)
    w, th = np.asarray(out.weights), np.asarray(out.nodes)
    assert np.all(np.isfinite(w)) and np.all(np.isfinite(th))
    for target, mass in [(1.0, 500 / 1001), (-1.0, 500 / 1001), (0.0, 1 / 1001)]:
        near = np.abs(th - target) < 1e-8
        np.testing.assert_allclose((w * near).sum(axis=1), mass, atol=1e-12)


def test_spectral_density_of_hessian_full_krylov_space():
    """With n_steps = dim the quadrature is the exact spectral measure of the probe:
    nodes are the Hessian eigenvalues, and for a diagonal Hessian with a Rademacher probe
    every weight is exactly 1/N."""
    lam = np.array([-2.0, -0.5, 0.1, 0.3, 0.7, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0, 9.0])
    lamj = jnp.asarray(lam)

    def loss(p):
        x = jnp.concatenate([p["a"], p["b"].ravel()])
        return 0.5 * jnp.sum(lamj * x**2) + jnp.sum(jnp.sin(x) * 0)

    params = {"a": jnp.zeros(4), "b": jnp.zeros((2, 4))}
    out = pc.spectral_density(jax.random.key(3), loss, params, n_runs=2, n_steps=12)
    np.testing.assert_allclose(np.asarray(out.nodes), np.tile(lam, (2, 1)), atol=1e-10)
    np.testing.assert_allclose(np.asarray(out.weights), 1 / 12, atol=1e-12)


def test_slq_float32_uses_float64_tridiagonal_eigensolve():
    with jax.enable_x64(False):
        d = jnp.linspace(0.0, 2.0, 500, dtype=jnp.float32)
        out = pc.spectral_density_matvec(jax.random.key(4), lambda x: d * x, 500, n_runs=2,
                                         n_steps=40)
        assert out.weights.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(out.weights).sum(axis=1), 1.0, atol=1e-5)
        m1 = np.mean(np.sum(np.asarray(out.weights) * np.asarray(out.nodes), axis=1))
        assert abs(m1 - 1.0) < 0.1
