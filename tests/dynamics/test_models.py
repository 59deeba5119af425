"""Models: normalizations against their definitions, analytic gradients against autodiff,
BBP recovery by gradient flow on the sphere, and the paramagnetic energy of the spherical
3-spin glass."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.dynamics as dyn


def test_uniform_sphere():
    x = dyn.uniform_sphere(jax.random.key(0), 50, shape=(4, 3))
    assert x.shape == (4, 3, 50)
    np.testing.assert_allclose(np.sum(np.asarray(x) ** 2, -1), 50.0, rtol=1e-5)
    np.testing.assert_allclose(dyn.signal_overlap(x, x[0, 0]), np.asarray(x @ x[0, 0]) / 50,
                               atol=1e-5)
    assert float(dyn.signal_overlap(x[0, 0], x[0, 0])) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("name", ["wigner", "matrix_tensor", "matrix", "tensor", "pspin3",
                                  "pspin4", "pspin3_distinct"])
def test_analytic_gradient_matches_autodiff_float64(name):
    with jax.enable_x64(True):
        key = jax.random.key(1)
        n = 9
        model = {
            "wigner": lambda: dyn.spiked_wigner(key, n, 1.5),
            "matrix_tensor": lambda: dyn.spiked_matrix_tensor(key, n, delta2=0.7, deltap=1.3),
            "matrix": lambda: dyn.spiked_matrix_tensor(key, n, delta2=0.7, deltap=None),
            "tensor": lambda: dyn.spiked_matrix_tensor(key, n, delta2=np.inf, deltap=1.3, p=4),
            "pspin3": lambda: dyn.spherical_p_spin(key, n),
            "pspin4": lambda: dyn.spherical_p_spin(key, n, p=4),
            "pspin3_distinct": lambda: dyn.spherical_p_spin(key, n, distinct_indices=True),
        }[name]()
        x = jax.random.normal(jax.random.key(2), (n,), jnp.float64)
        e, g = dyn.energy_and_gradient(model, x)
        assert e.dtype == jnp.float64
        # analytic gradient (one contraction + homogeneity) against autodiff of __call__
        np.testing.assert_allclose(float(e), float(model(x)), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(g), np.asarray(jax.grad(model)(x)), rtol=1e-10,
                                   atol=1e-12)


def test_spiked_matrix_tensor_matches_its_definition_float64():
    """Energy = -(1/(D2 sqrt N)) sum_{i<j} Y_ij x_i x_j - (sqrt2/(D3 N)) sum_{i<j<k} T_ijk
    x_i x_j x_k with Y_ij = x*_i x*_j/sqrt N + xi, T_ijk = sqrt2/N x*_i x*_j x*_k + xi
    (Sarao Mannelli et al. 2019), summed by explicit loops over i<j(<k); tensors symmetric
    with zeros on coincident indices."""
    with jax.enable_x64(True):
        n, d2, d3 = 6, 0.8, 1.7
        model = dyn.spiked_matrix_tensor(jax.random.key(3), n, delta2=d2, deltap=d3)
        y, t, xs = (np.asarray(a) for a in (model.matrix, model.tensor, model.signal))
        np.testing.assert_allclose(xs @ xs, n, rtol=1e-12)
        np.testing.assert_array_equal(y, y.T)
        assert np.all(np.diag(y) == 0)
        for perm in itertools.permutations(range(3)):
            np.testing.assert_allclose(t, np.transpose(t, perm), rtol=1e-13, atol=1e-15)
        for i, j in itertools.product(range(n), repeat=2):
            assert t[i, i, j] == 0 and t[i, j, i] == 0 and t[j, i, i] == 0
        x = np.asarray(jax.random.normal(jax.random.key(4), (n,), jnp.float64))
        h2 = sum(y[i, j] * x[i] * x[j] for i, j in itertools.combinations(range(n), 2))
        h3 = sum(t[i, j, k] * x[i] * x[j] * x[k]
                 for i, j, k in itertools.combinations(range(n), 3))
        expected = -h2 / (d2 * np.sqrt(n)) - np.sqrt(2) * h3 / (d3 * n)
        np.testing.assert_allclose(float(model(jnp.asarray(x))), expected, rtol=1e-12)
        np.testing.assert_allclose(float(model.overlap(model.signal)), 1.0, rtol=1e-12)


def test_spiked_matrix_tensor_noise_statistics():
    """Over 2000 draws (N = 7, float64): the entries i<j and i<j<k have mean x*_i x*_j/sqrt N
    and sqrt2/N x*_i x*_j x*_k and variances D2 and D3 (signal held fixed).  Tolerances
    5 s.e. of the pooled estimates."""
    with jax.enable_x64(True):
        n, d2, d3, draws = 7, 0.6, 2.5, 2000
        xs = dyn.uniform_sphere(jax.random.key(5), n, dtype=jnp.float64)
        keys = jax.random.split(jax.random.key(6), draws)
        sample = jax.vmap(lambda k: dyn.spiked_matrix_tensor(k, n, delta2=d2, deltap=d3,
                                                             signal=xs))
        models = sample(keys)
        xs = np.asarray(xs)
        iu = np.triu_indices(n, 1)
        noise2 = np.asarray(models.matrix)[:, iu[0], iu[1]] - (np.outer(xs, xs) / np.sqrt(n))[iu]
        trip = np.array(list(itertools.combinations(range(n), 3))).T
        spike3 = np.sqrt(2) / n * xs[trip[0]] * xs[trip[1]] * xs[trip[2]]
        noise3 = np.asarray(models.tensor)[:, trip[0], trip[1], trip[2]] - spike3
        for noise, var in ((noise2, d2), (noise3, d3)):
            m = noise.size
            assert abs(noise.mean()) < 5 * np.sqrt(var / m)
            assert abs(noise.var() / var - 1) < 5 * np.sqrt(2 / m)


def test_p_spin_covariance_normalization():
    """E_J[H(x)^2] = |x|^6/(2N^2) = N/2 on the sphere (full sum, every N), and
    (3/N^2) sum_{i<j<k} x_i^2 x_j^2 x_k^2 for distinct_indices -- the Crisanti-Sommers
    variance p!/(2N^{p-1}).  8000 disorder draws at N = 6; the estimator of E[H^2] has
    relative s.e. sqrt(2/8000) = 1.6%; tolerance 5 s.e."""
    n, draws = 6, 8000
    x = np.asarray(dyn.uniform_sphere(jax.random.key(7), n))
    keys = jax.random.split(jax.random.key(8), draws)
    for distinct in (False, True):
        energies = jax.vmap(lambda k, distinct=distinct: dyn.spherical_p_spin(
            k, n, distinct_indices=distinct)(jnp.asarray(x)))(keys)
        if distinct:
            x2 = x.astype(np.float64) ** 2
            expected = 3 / n**2 * sum(x2[i] * x2[j] * x2[k]
                                      for i, j, k in itertools.combinations(range(n), 3))
        else:
            expected = n / 2
        second_moment = float(jnp.mean(energies.astype(jnp.float32) ** 2))
        assert abs(second_moment / expected - 1) < 5 * math.sqrt(2 / draws), (distinct,
                                                                               second_moment)


def test_spiked_wigner_gradient_flow_bbp():
    """N = 2000, gradient flow on the sphere (dt = 0.1, t = 20) from random starts, two
    disorder samples per SNR, all four runs in one vmap: the squared overlap goes from
    O(1/N) to 1 - 1/lambda^2 = 0.75 at lambda = 2 (finite-N spread of the top eigenvector's
    overlap ~0.01 per sample; converged by t ~ 10 since the gap above the bulk edge is 0.5)
    and stays < 0.05 at lambda = 0.5 (m^2 = O(1/N))."""
    n = 2000
    snrs = jnp.array([2.0, 2.0, 0.5, 0.5])
    keys = jax.random.split(jax.random.key(10), 4)
    x0 = dyn.uniform_sphere(jax.random.key(9), n, shape=(4,))

    def overlaps(key, x, snr):
        model = dyn.spiked_wigner(key, n, snr)
        flow = dyn.GradientFlow(model, 0.1, spherical=True)
        state = dyn.init_dynamics(key, flow, x)
        _, rec = dyn.run_dynamics(key, flow, state, [0, 200], observe=model.overlap)
        return rec.observables ** 2

    m2 = np.asarray(jax.vmap(overlaps)(keys, x0, snrs))
    assert np.all(m2[:, 0] < 0.01)                       # random start
    assert abs(m2[:2, -1].mean() - 0.75) < 0.05, m2
    assert np.all(m2[2:, -1] < 0.05), m2


@pytest.mark.compute_bound
def test_spherical_3spin_paramagnetic_energy():
    """Spherical 3-spin, N = 64, T = 2: overdamped Langevin on the sphere, 192 replicas
    equilibrated for t = 5 then averaged over t in [5, 25] gives e = -1/(2T) = -0.25 within
    3%.  With the full-sum normalization E[H(x)H(y)] = N (q^3)/2, so
    E<H>/N = -(beta/2)(1 - E<q12^3>) with q12 = O(N^-1/2): no finite-N shift beyond ~1e-3.
    Euler-Maruyama bias measured -1.0% at dt = 0.01 (-2.5% at 0.02, -0.35% at 0.005);
    statistical s.e. ~0.4% from the spread of per-replica means.  Also checks <mu> =
    (N-1)T/N - 3<e> (homogeneity: x.grad H = 3H)."""
    n, temp, dt, replicas = 64, 2.0, 0.01, 192
    model = dyn.spherical_p_spin(jax.random.key(11), n)
    langevin = dyn.OverdampedLangevin(model, dt, temp, spherical=True)
    x0 = dyn.uniform_sphere(jax.random.key(12), n, shape=(replicas,))
    states = dyn.init_replicas(jax.random.key(13), langevin, x0)
    steps = 500 + np.arange(0, 2001, 25)
    _, rec = dyn.run_replicas(jax.random.key(14), langevin, states, steps)
    e = np.asarray(rec.energy, np.float64) / n
    per_replica = e.mean(axis=1)
    se = per_replica.std(ddof=1) / np.sqrt(replicas)
    assert se < 0.0015
    assert abs(per_replica.mean() / (-1 / (2 * temp)) - 1) < 0.03, (per_replica.mean(), se)
    mu = np.asarray(rec.mu, np.float64)
    np.testing.assert_allclose(mu, (n - 1) * temp / n - 3 * e, rtol=1e-4)
