"""Lanczos, Hessian eigenpairs, Algorithm 1 and power iteration against dense eigh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import physjax.curvature as pc
from tests.curvature.test_hvp import make_mlp


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def mlp():
    """A ~330-parameter tanh MLP at a generic (non-critical) point: indefinite Hessian."""
    with jax.enable_x64(True):
        params, loss, _ = make_mlp([6, 16, 12, 1], 20, 11)
        flat, unravel = ravel_pytree(params)
        H = np.asarray(jax.jit(jax.hessian(lambda z: loss(unravel(z))))(flat))
        evals, evecs = np.linalg.eigh(H)
        yield params, loss, H, evals, evecs


def outlier_operator(n=100_000, seed=0):
    """Dimension-n symmetric operator: bulk eigenvalues uniform in [-0.1, 1] plus five
    outliers in [10, 50], conjugated by a random sign flip and a Householder reflection."""
    rng = np.random.default_rng(seed)
    d = np.concatenate([rng.uniform(-0.1, 1.0, n - 5), rng.uniform(10, 50, 5)])
    u = rng.standard_normal(n)
    u /= np.linalg.norm(u)
    s = rng.choice([-1.0, 1.0], n)
    dj, uj, sj = jnp.asarray(d), jnp.asarray(u), jnp.asarray(s)

    def matvec(x):  # Q^T D Q x with Q = diag(s) (I - 2 u u^T), orthogonal
        y = sj * (x - 2 * uj * jnp.dot(uj, x))
        z = sj * (dj * y)
        return z - 2 * uj * jnp.dot(uj, z)

    return matvec, np.sort(d)[::-1]


def test_top5_hessian_eigenpairs_match_eigh(mlp):
    params, loss, H, evals, evecs = mlp
    res = pc.hessian_eigenpairs(jax.random.key(0), loss, params, k=5)
    exact = evals[::-1][:5]
    assert np.all(res.converged)
    np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-6)
    assert np.all(res.residuals <= 1e-4 * np.abs(exact))
    # reported residuals are the true ||Hv - lambda v|| (recomputed with the dense H)
    V = np.asarray(res.eigenvectors_flat)
    true_res = np.linalg.norm(V @ H - res.eigenvalues[:, None] * V, axis=1)
    np.testing.assert_allclose(res.residuals, true_res, rtol=1e-3, atol=1e-12)
    overlaps = np.abs(np.sum(V * evecs[:, ::-1][:, :5].T, axis=1))
    assert np.all(overlaps > 1 - 1e-6)
    # pytree eigenvectors: leading k axis, leaves shaped like params, equal to the flat ones
    for name, leaf in res.eigenvectors.items():
        assert leaf.shape == (5, *params[name].shape)
    np.testing.assert_array_equal(jax.vmap(lambda t: ravel_pytree(t)[0])(res.eigenvectors), V)
    assert int(res.n_matvecs) >= 5 + 20


def test_algorithm1_extreme_curvatures_match_eigh(mlp):
    params, loss, H, evals, _ = mlp
    assert evals[0] < 0 < evals[-1]
    out = pc.extreme_curvature_directions(jax.random.key(1), loss, params)
    np.testing.assert_allclose([out.max_eigenvalue, out.min_eigenvalue],
                               [evals[-1], evals[0]], rtol=1e-6)
    assert np.all(out.converged)
    assert np.all(out.residuals <= 1e-4 * np.abs([evals[-1], evals[0]]))
    for lam, vec, r in [(out.max_eigenvalue, out.max_eigenvector, out.residuals[0]),
                        (out.min_eigenvalue, out.min_eigenvector, out.residuals[1])]:
        v = np.asarray(ravel_pytree(vec)[0])
        assert abs(np.linalg.norm(v) - 1) < 1e-10
        np.testing.assert_allclose(np.linalg.norm(H @ v - lam * v), r, rtol=1e-3, atol=1e-12)


def test_synthetic_1e5_top1_in_15_and_top5_in_25_matvecs():
    matvec, exact = outlier_operator()
    v0 = jnp.asarray(np.random.default_rng(1).standard_normal(exact.size))
    lz = pc.lanczos(matvec, v0, 25)
    T = np.diag(lz.alphas) + np.diag(lz.betas[:-1], 1) + np.diag(lz.betas[:-1], -1)
    # Lanczos is incremental: the leading 15 x 15 block is the 15-step tridiagonal matrix
    for n_steps, k in [(15, 1), (25, 5)]:
        ritz = np.sort(np.linalg.eigvalsh(T[:n_steps, :n_steps]))[::-1][:k]
        np.testing.assert_allclose(ritz, exact[:k], rtol=1e-6)
    res = pc.lanczos_eigenpairs(jax.random.key(2), matvec, exact.size, k=5, n_steps=25,
                                max_restarts=0)
    # convergence is checked after every step: it stops before the 25-step space is full
    assert np.all(res.converged) and int(res.n_matvecs) < 25 + 5
    np.testing.assert_allclose(res.eigenvalues, exact[:5], rtol=1e-6)
    assert np.all(res.residuals <= 1e-6 * exact[:5])


def test_lanczos_relation_and_orthogonality_on_dense_matrix():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((60, 60))
    A = (M + M.T) / 2
    Aj = jnp.asarray(A)
    lz = pc.lanczos(lambda x: Aj @ x, jnp.asarray(rng.standard_normal(60)), 30)
    Q = np.asarray(lz.basis)
    np.testing.assert_allclose(Q @ Q.T, np.eye(31), atol=1e-12)
    T = np.diag(lz.alphas) + np.diag(lz.betas[:-1], 1) + np.diag(lz.betas[:-1], -1)
    np.testing.assert_allclose(Q[:30] @ A @ Q[:30].T, T, atol=1e-11)
    # A Q_m = Q_m T_m + beta_m q_m e_m^T
    R = A @ Q[:30].T - Q[:30].T @ T
    np.testing.assert_allclose(R[:, :-1], 0, atol=1e-11)
    np.testing.assert_allclose(R[:, -1], lz.betas[-1] * Q[30], atol=1e-11)
    # the plain three-term recurrence agrees at first, then loses orthogonality
    plain = pc.lanczos(lambda x: Aj @ x, jnp.asarray(rng.standard_normal(60)), 59,
                       reorthogonalize=False)
    full = pc.lanczos(lambda x: Aj @ x, plain.basis[0], 59)
    np.testing.assert_allclose(plain.alphas[:5], full.alphas[:5], rtol=1e-10)
    Qp = np.asarray(plain.basis)
    assert np.abs(Qp @ Qp.T - np.eye(60)).max() > 1e-3
    assert np.abs(np.asarray(full.basis) @ np.asarray(full.basis).T - np.eye(60)).max() < 1e-12


def test_jacobi_eigensolver_matches_numpy():
    rng = np.random.default_rng(12)
    M = rng.standard_normal((31, 31))
    Qm, _ = np.linalg.qr(rng.standard_normal((31, 31)))
    degenerate = (Qm * np.r_[np.ones(12), -np.ones(12), np.zeros(7)]) @ Qm.T
    for A in ((M + M.T) / 2, degenerate):  # odd size: exercises the padding
        w, V = pc.symmetric_eigh(jnp.asarray(A))
        np.testing.assert_allclose(w, np.linalg.eigvalsh(A), atol=1e-12)
        np.testing.assert_allclose(np.asarray(V).T @ A @ np.asarray(V), np.diag(w), atol=1e-12)
        np.testing.assert_allclose(np.asarray(V).T @ np.asarray(V), np.eye(31), atol=1e-13)
    a, b = rng.standard_normal((2, 31)), rng.uniform(0, 1, (2, 30))
    w, V = pc.tridiagonal_eigh_float64(jnp.asarray(a), jnp.asarray(b))
    for i in range(2):
        T = np.diag(a[i]) + np.diag(b[i], 1) + np.diag(b[i], -1)
        np.testing.assert_allclose(w[i], np.linalg.eigvalsh(T), atol=1e-12)
        np.testing.assert_allclose(np.asarray(V[i]) @ np.diag(w[i]) @ np.asarray(V[i]).T, T,
                                   atol=1e-12)


def test_invariant_krylov_space_few_distinct_eigenvalues():
    """Seed-001 eq. (40) Hessian diag(1 x 500, -1 x 500, 0): the Krylov space is invariant
    after 3 steps; Lanczos must continue orthogonally instead of dividing by zero."""
    d = jnp.concatenate([jnp.ones(500), -jnp.ones(500), jnp.zeros(1)])
    v0 = jnp.asarray(np.random.default_rng(4).standard_normal(1001))
    lz = pc.lanczos(lambda x: d * x, v0, 20)
    Q = np.asarray(lz.basis)
    assert np.all(np.isfinite(Q)) and np.all(np.isfinite(lz.alphas))
    np.testing.assert_allclose(Q @ Q.T, np.eye(21), atol=1e-12)
    T = np.diag(lz.alphas) + np.diag(lz.betas[:-1], 1) + np.diag(lz.betas[:-1], -1)
    ritz = np.linalg.eigvalsh(T)
    assert ritz.min() == pytest.approx(-1, abs=1e-12) and ritz.max() == pytest.approx(1, abs=1e-12)
    out = pc.extreme_curvature_directions_matvec(jax.random.key(5), lambda x: d * x, 1001)
    assert float(out.max_eigenvalue) == pytest.approx(1, abs=1e-10)
    assert float(out.min_eigenvalue) == pytest.approx(-1, abs=1e-10)
    assert np.all(out.converged)
    vmax, vmin = np.asarray(out.max_eigenvector), np.asarray(out.min_eigenvector)
    assert np.linalg.norm(vmax[500:]) < 1e-8 and np.linalg.norm(vmin[:500]) < 1e-8


@pytest.fixture(scope="module")
def known_spectrum():
    """400 x 400 matrix, eigenvalues -9, -7, -5, 6, 8, 10 outside a bulk in [-1, 1]."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(6)
        lam = np.concatenate([[-9.0, -7.0, -5.0], rng.uniform(-1, 1, 394), [6.0, 8.0, 10.0]])
        Qm, _ = np.linalg.qr(rng.standard_normal((400, 400)))
        A = (Qm * lam) @ Qm.T
        Aj = jnp.asarray(A)

        def matvec(x):  # one function object: the solvers compile once for all tests
            return Aj @ x

        yield matvec, A


@pytest.mark.parametrize("which,exact", [("top", [10.0, 8.0, 6.0]),
                                         ("bottom", [-9.0, -7.0, -5.0]),
                                         ("magnitude", [10.0, -9.0, 8.0])])
def test_top_bottom_magnitude_on_known_spectrum(known_spectrum, which, exact):
    matvec, _ = known_spectrum
    res = pc.lanczos_eigenpairs(jax.random.key(7), matvec, 400, k=3, which=which)
    assert np.all(res.converged)
    np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-6)


def test_power_iteration_needs_more_matvecs_than_lanczos(known_spectrum):
    matvec, A = known_spectrum
    out = pc.power_iteration_matvec(jax.random.key(9), matvec, 400, k=2, n_iter=1000,
                                    tol=1e-10)
    assert np.all(out.converged)
    np.testing.assert_allclose(out.eigenvalues, [10.0, -9.0], rtol=1e-6)
    V = np.asarray(out.eigenvectors)
    np.testing.assert_allclose(out.residuals,
                               np.linalg.norm(V @ A - out.eigenvalues[:, None] * V, axis=1),
                               rtol=1e-6, atol=1e-12)
    # Lanczos reaches the same pairs (and a third) to tol 1e-6 with far fewer matvecs
    lz = pc.lanczos_eigenpairs(jax.random.key(9), matvec, 400, k=3, which="magnitude")
    assert np.all(lz.converged) and 2 * int(lz.n_matvecs) < int(out.n_matvecs)


def test_power_iteration_on_hessian():
    lam = jnp.asarray([4.0, -3.0, 1.0, 0.5, 0.25, -0.1])

    def loss(p):
        x = jnp.concatenate([p["u"], p["v"].ravel()])
        return 0.5 * jnp.sum(lam * x**2) + jnp.sum(x)

    params = {"u": jnp.ones(2), "v": jnp.ones((2, 2))}
    out = pc.power_iteration(jax.random.key(10), loss, params, k=2, n_iter=300, tol=1e-12)
    np.testing.assert_allclose(out.eigenvalues, [4.0, -3.0], rtol=1e-8)
    # a Rayleigh quotient is within its residual of an eigenvalue
    assert np.all(np.abs(out.eigenvalues - np.array([4.0, -3.0])) <= out.residuals + 1e-12)
    assert out.eigenvectors["v"].shape == (2, 2, 2)


def test_early_stop_counts_every_matvec_and_keeps_the_tolerance():
    """Convergence is checked after every Lanczos step: ``n_matvecs`` equals the operator
    applications actually made (counted by a host callback), and every returned pair still
    meets the tolerance with residuals recomputed from real matvecs."""
    rng = np.random.default_rng(7)
    evals = np.concatenate([rng.uniform(-1.0, 1.0, 195), [3.0, 4.0, 6.0, -5.0, 8.0]])
    Q = np.linalg.qr(rng.standard_normal((200, 200)))[0]
    A = jnp.asarray((Q * evals) @ Q.T)
    calls = []

    def matvec(x):  # under vmap (the verification) the callback sees the whole batch
        jax.debug.callback(lambda v: calls.append(1 if v.ndim == 1 else v.shape[0]), x)
        return A @ x

    for which, want in [("top", np.sort(evals)[::-1][:2]),
                        ("magnitude", np.array([8.0, 6.0, -5.0]))]:
        calls.clear()
        res = pc.lanczos_eigenpairs(jax.random.key(3), matvec, 200, k=want.size,
                                    which=which, n_steps=40, tol=1e-8)
        assert np.all(res.converged)
        assert int(res.n_matvecs) == sum(calls) < 40 + want.size
        np.testing.assert_allclose(res.eigenvalues, want, rtol=1e-8)
        assert np.all(res.residuals <= 1e-8 * np.abs(want))
