"""Integrators against exact results: Ornstein-Uhlenbeck moments and autocorrelations,
Boltzmann sampling in a double well and on a sphere, Heun's order, the spherical constraint,
and the bookkeeping of keys, records and replicas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

import physjax.dynamics as dyn

# ----------------------------------------------------------------- Ornstein-Uhlenbeck


@pytest.mark.compute_bound
def test_ou_overdamped_variance_and_autocorrelation():
    """dx = -kappa x dt + sigma dW is overdamped Langevin with H = kappa x^2/2, T = sigma^2/2:
    stationary variance sigma^2/(2 kappa), autocorrelation exp(-kappa t).

    Euler-Maruyama bias: stationary variance (T/kappa)/(1 - kappa dt/2) (+0.4% at
    kappa dt = 0.008), autocorrelation (1 - kappa dt)^(t/dt) = exp(-kappa t)(1 - kappa^2 dt t/2)
    (-0.4% at t = 0.5), both << the 2% / 3% tolerances.  Statistics: 4096 replicas x 16
    independent coordinates x 5 time origins 1/kappa*2 apart ~ 3e5 samples: relative s.e.
    0.26% (variance) and 0.45% (autocorrelation at lag 0.5), so the tolerances are > 5 s.e.
    beyond the bias."""
    kappa, sigma, dt = 2.0, 1.0, 0.004
    var = sigma**2 / (2 * kappa)
    model = dyn.OverdampedLangevin(lambda x: 0.5 * kappa * jnp.sum(x**2), dt, sigma**2 / 2)
    key = jax.random.key(0)
    x0 = jnp.sqrt(var) * jax.random.normal(jax.random.key(1), (4096, 16))   # stationary start
    waiting = np.arange(0, 1001, 250)                                       # t_w = 0, 1, .. 4
    lags = np.array([25, 50, 125])                                          # t = .1, .2, .5
    steps = dyn.aging_schedule(waiting, lags)
    states = dyn.init_replicas(key, model, x0)
    final, rec = dyn.run_replicas(key, model, states, steps, record_position=True)
    assert int(jnp.max(final.diverged_at)) == -1
    c0 = jnp.mean(dyn.two_time_correlation(rec.position, steps, waiting, [0]))
    assert abs(float(c0) / var - 1) < 0.02
    c = jnp.mean(dyn.two_time_correlation(rec.position, steps, waiting, lags), axis=(0, 1))
    np.testing.assert_allclose(np.asarray(c / c0), np.exp(-kappa * lags * dt), rtol=0.03)


@pytest.mark.compute_bound
def test_ou_baoab_variance_and_autocorrelation():
    """Underdamped OU (H = kappa x^2/2, mass m, friction gamma) at critical damping
    gamma = 2 sqrt(kappa/m): the position marginal is N(0, T/kappa) and its autocorrelation
    is exactly (1 + gamma t/2) exp(-gamma t/2).  BAOAB's position variance is exact for a
    harmonic energy at any stable dt; its autocorrelation error at dt = 0.025, computed from
    the exact linear BAOAB map, is < 4e-5 -- negligible.  3e5 samples as above."""
    kappa, mass, temp, dt = 1.0, 1.0, 0.5, 0.025
    gamma = 2 * np.sqrt(kappa / mass)
    model = dyn.UnderdampedLangevin(lambda x: 0.5 * kappa * jnp.sum(x**2), dt, temp,
                                    friction=gamma, mass=mass)
    key = jax.random.key(2)
    x0 = jnp.sqrt(temp / kappa) * jax.random.normal(jax.random.key(3), (4096, 16))
    waiting = np.arange(0, 481, 120)                                  # t_w = 0, 3, .. 12
    lags = np.array([10, 20, 40])                                     # t = .25, .5, 1
    steps = dyn.aging_schedule(waiting, lags)
    final, rec = dyn.run_replicas(key, model, dyn.init_replicas(key, model, x0), steps,
                                  record_position=True)
    c0 = jnp.mean(dyn.two_time_correlation(rec.position, steps, waiting, [0]))
    assert abs(float(c0) / (temp / kappa) - 1) < 0.02
    c = jnp.mean(dyn.two_time_correlation(rec.position, steps, waiting, lags), axis=(0, 1))
    t = lags * dt
    np.testing.assert_allclose(np.asarray(c / c0), (1 + gamma * t / 2) * np.exp(-gamma * t / 2),
                               rtol=0.03)
    # the momenta are Maxwellian: <p^2> = m T (BAOAB error O(dt^2) ~ 1e-4)
    assert abs(float(jnp.mean(final.momentum**2)) / (mass * temp) - 1) < 0.02


# ------------------------------------------------------------------------ double well

TEMP_DW = 0.5


def _double_well(x):
    return jnp.sum((x**2 - 1) ** 2)


def _boltzmann_weight(x):
    return np.exp(-((x * x - 1) ** 2) / TEMP_DW)


@pytest.fixture(scope="module")
def double_well_exact():
    z = integrate.quad(_boltzmann_weight, -np.inf, np.inf)[0]
    moments = [integrate.quad(lambda x, k=k: x**k * _boltzmann_weight(x), -np.inf, np.inf)[0]
               / z for k in (2, 4)]
    grid = np.linspace(-3.0, 3.0, 20001)
    cdf = integrate.cumulative_trapezoid(_boltzmann_weight(grid) / z, grid, initial=0.0)
    return moments, (lambda x: np.interp(x, grid, cdf))


@pytest.mark.compute_bound
def test_double_well_overdamped_boltzmann_ks(double_well_exact):
    """H = (x^2 - 1)^2 at T = 0.5: 16000 strictly independent samples (2000 replicas x 8
    independent coordinates, one sample each at t = 5, long after within-well relaxation;
    the symmetric start makes the two wells equally populated).  KS test against the
    numerically integrated Boltzmann CDF.  The Euler-Maruyama bias in the CDF is O(dt):
    measured sup-distance 0.0046 at dt = 0.005 (detectable only with ~1.6e5 samples); at
    dt = 0.0025 it is ~0.002, a fifth of the p = 0.01 critical distance 1.63/sqrt(16000)."""
    _, cdf = double_well_exact
    key = jax.random.key(4)
    x0 = jax.random.uniform(jax.random.key(5), (2000, 8), minval=-1.5, maxval=1.5)
    model = dyn.OverdampedLangevin(_double_well, 0.0025, TEMP_DW)
    final, _ = dyn.run_replicas(key, model, dyn.init_replicas(key, model, x0), [2000])
    samples = np.asarray(final.position, np.float64).ravel()
    assert stats.kstest(samples, cdf).pvalue > 0.01


def test_double_well_baoab_configurational_averages(double_well_exact):
    """BAOAB (gamma = 1, dt = 0.05; configurational bias O(dt^2), measured < 0.5 s.e.) gives
    <x^2> and <x^4> within 4 standard errors of quadrature.  Error bars from 16000
    independent coordinates, each averaged over 5 records 10 time units apart."""
    (m2, m4), _ = double_well_exact
    key = jax.random.key(6)
    x0 = jax.random.uniform(jax.random.key(7), (2000, 8), minval=-1.5, maxval=1.5)
    model = dyn.UnderdampedLangevin(_double_well, 0.05, TEMP_DW, friction=1.0)
    steps = np.arange(1, 6) * 200
    _, rec = dyn.run_replicas(key, model, dyn.init_replicas(key, model, x0), steps,
                              record_position=True)
    x = np.asarray(rec.position, np.float64)                 # (R, n_records, 8)
    for k, exact in ((2, m2), (4, m4)):
        per_coordinate = np.mean(x**k, axis=1).ravel()
        se = per_coordinate.std(ddof=1) / np.sqrt(per_coordinate.size)
        assert abs(per_coordinate.mean() - exact) < 4 * se, (k, per_coordinate.mean(), exact)


# -------------------------------------------------------------------------- sphere

@pytest.mark.parametrize("integrator", ["overdamped", "baoab"])
def test_spherical_samplers_langevin_function(integrator):
    """On the sphere |x|^2 = 3 in R^3 with H = -h.x the Boltzmann law of cos(theta) =
    x.h/(|x||h|) is exp(a cos theta) on [-1, 1], a = sqrt(3)|h|/T, so
    <cos theta> = coth(a) - 1/a (Langevin function) -- a finite-N check of the projected
    Euler-Maruyama (its Ito drift) and of geodesic BAOAB.  Also <mu> for overdamped:
    (N-1)T/N + <h.x>/N.  4000 independent replicas, each averaged over 4 records 2 time
    units apart (relaxation time on this sphere ~1.5); s.e. from the spread of the replica
    means; tolerance 4 s.e. + the O(dt) bias
    (~0.3% of <cos theta> at dt = 0.005 for Euler-Maruyama, O(dt^2) for BAOAB)."""
    h = jnp.array([0.3, -0.4, 1.2])
    temp = 1.0
    a = np.sqrt(3.0) * float(jnp.linalg.norm(h)) / temp
    exact = 1.0 / np.tanh(a) - 1.0 / a

    def energy(x):
        return -jnp.dot(h, x)

    key = jax.random.key(8)
    x0 = dyn.uniform_sphere(jax.random.key(9), 3, shape=(4000,))
    if integrator == "overdamped":
        model = dyn.OverdampedLangevin(energy, 0.005, temp, spherical=True)
        steps = np.arange(3, 10, 2) * 200                 # t = 3, 5, 7, 9
    else:
        model = dyn.UnderdampedLangevin(energy, 0.05, temp, friction=1.0, spherical=True)
        steps = np.arange(3, 10, 2) * 20
    def cos_theta(x):
        return jnp.dot(h, x) / (jnp.sqrt(3.0) * jnp.linalg.norm(h))

    _, rec = dyn.run_replicas(key, model, dyn.init_replicas(key, model, x0), steps,
                              observe=cos_theta)
    cos = np.asarray(rec.observables, np.float64).mean(axis=1)
    se = cos.std(ddof=1) / np.sqrt(cos.size)
    assert abs(cos.mean() - exact) < 4 * se + 0.005 * exact, (cos.mean(), exact, se)
    if integrator == "overdamped":
        mu_expected = 2 * temp / 3 + np.sqrt(3.0) * float(jnp.linalg.norm(h)) * exact / 3
        assert abs(float(jnp.mean(rec.mu)) - mu_expected) < 0.02


@pytest.fixture(scope="module")
def matrix_tensor_float64():
    with jax.enable_x64(True):
        return dyn.spiked_matrix_tensor(jax.random.key(10), 24, delta2=0.5, deltap=1.0,
                                        dtype=jnp.float64)


@pytest.mark.parametrize("kind", ["overdamped", "baoab", "euler", "heun"])
def test_spherical_constraint_every_record_float64(kind, matrix_tensor_float64):
    """| |x|^2/N - 1 | < 1e-10 at every recorded time (float64) for every integrator, on the
    spiked matrix-tensor model, with a pytree position split in two leaves."""
    model = matrix_tensor_float64
    with jax.enable_x64(True):
        n = 24

        def energy(tree):                      # the constraint acts on the flat vector
            return model(jnp.concatenate([tree["a"], tree["b"]]))

        x = 3.0 * jax.random.normal(jax.random.key(11), (n,), jnp.float64)   # off the sphere
        position = {"a": x[:10], "b": x[10:]}
        integrators = {
            "overdamped": dyn.OverdampedLangevin(energy, 0.01, 0.7, spherical=True),
            "baoab": dyn.UnderdampedLangevin(energy, 0.05, 0.7, friction=0.5, spherical=True),
            "euler": dyn.GradientFlow(energy, 0.02, spherical=True),
            "heun": dyn.GradientFlow(energy, 0.02, method="heun", spherical=True),
        }
        model_dyn = integrators[kind]
        state = dyn.init_dynamics(jax.random.key(12), model_dyn, position)
        steps = dyn.log_spaced_steps(1000, 25)
        final, rec = dyn.run_dynamics(jax.random.key(13), model_dyn, state, steps,
                                      record_position=True)
        assert rec.position.dtype == jnp.float64
        norm = np.sum(np.asarray(rec.position) ** 2, axis=1) / n
        assert np.max(np.abs(norm - 1.0)) < 1e-10
        assert int(final.diverged_at) == -1
        if kind == "baoab":                    # momenta stay tangent
            p = jnp.concatenate([final.momentum["a"], final.momentum["b"]])
            xf = jnp.concatenate([final.position["a"], final.position["b"]])
            assert abs(float(jnp.dot(p, xf))) < 1e-10 * n
        if kind in ("euler", "heun"):
            # gradient flow: mu = x.(-grad H)/N, and the energy decreases monotonically
            xf = jnp.concatenate([final.position["a"], final.position["b"]])
            g = jax.grad(model)(xf)
            np.testing.assert_allclose(float(final.mu), float(-jnp.dot(xf, g) / n), rtol=1e-12)
            assert np.all(np.diff(np.asarray(rec.energy)) <= 1e-12)


# --------------------------------------------------------------------- gradient flow

def test_gradient_flow_euler_first_order_heun_second_order():
    """x' = -kappa x from x0: exact x0 exp(-kappa t).  Halving dt halves Euler's error and
    quarters Heun's."""
    with jax.enable_x64(True):
        kappa, t_end, x0 = 1.5, 2.0, jnp.array([1.0, -2.0])

        def error(method, dt):
            model = dyn.GradientFlow(lambda x: 0.5 * kappa * jnp.sum(x**2), dt, method=method)
            state = dyn.init_dynamics(jax.random.key(0), model, x0)
            final, _ = dyn.run_dynamics(jax.random.key(0), model, state, [round(t_end / dt)])
            return float(jnp.max(jnp.abs(final.position - x0 * np.exp(-kappa * t_end))))

        for method, order in (("euler", 1), ("heun", 2)):
            ratio = error(method, 0.02) / error(method, 0.01)
            assert abs(np.log2(ratio) - order) < 0.1, (method, ratio)


# ------------------------------------------------------------------------ bookkeeping

def test_trajectory_independent_of_records_and_resumable():
    """Step n uses fold_in(key, n): recording differently, or stopping and continuing with
    the same key, gives the same trajectory bit for bit; dynamics_step is the same step.
    (Record arrays of equal length share one compilation.)"""
    model = dyn.OverdampedLangevin(_double_well, 0.01, 0.5)
    key = jax.random.key(14)
    state = dyn.init_dynamics(key, model, jnp.array([0.3, -0.2, 1.0]))

    def run(s, steps):
        return dyn.run_dynamics(key, model, s, steps, record_position=True)

    a, rec_a = run(state, [0, 7, 50, 100])
    b, _ = run(state, [3, 20, 64, 100])
    mid, _ = run(state, [1, 2, 3, 40])
    c, rec_c = run(mid, [10, 20, 30, 60])
    np.testing.assert_array_equal(a.position, b.position)
    np.testing.assert_array_equal(a.position, c.position)
    assert int(c.step) == 100 and rec_c.step.tolist() == [50, 60, 70, 100]
    np.testing.assert_allclose(np.asarray(rec_c.time), [0.5, 0.6, 0.7, 1.0], rtol=1e-6)
    s = state
    for n in range(7):
        s = dyn.dynamics_step(jax.random.fold_in(key, n), model, s)
    assert int(s.step) == 7
    np.testing.assert_allclose(s.position, rec_a.position[1], rtol=1e-6)
    np.testing.assert_allclose(float(s.energy), float(rec_a.energy[1]), rtol=1e-6)


def test_run_replicas_matches_single_runs():
    """Replica r of run_replicas is run_dynamics with key fold_in(key, r)."""
    model = dyn.UnderdampedLangevin(_double_well, 0.05, 0.5, friction=2.0)
    key = jax.random.key(15)
    x0 = jax.random.normal(jax.random.key(16), (3, 2))
    states = dyn.init_replicas(key, model, x0)
    final, rec = dyn.run_replicas(key, model, states, [0, 5, 20], record_position=True)
    assert rec.energy.shape == (3, 3) and rec.position.shape == (3, 3, 2)
    for r in range(3):
        kr = jax.random.fold_in(key, r)
        s = dyn.init_dynamics(kr, model, x0[r])
        f, rr = dyn.run_dynamics(kr, model, s, [0, 5, 20])
        np.testing.assert_allclose(f.position, final.position[r], rtol=1e-6)
        np.testing.assert_allclose(rr.energy, rec.energy[r], rtol=1e-5)


def test_log_spaced_steps():
    s = dyn.log_spaced_steps(10_000, 40)
    assert s[0] == 0 and s[-1] == 10_000 and np.all(np.diff(s) > 0) and s.size <= 41
    assert s[1] == 1
    ratios = s[-10:][1:] / s[-10:][:-1]
    np.testing.assert_allclose(ratios, 10 ** (4 / 39), rtol=0.02)
    assert dyn.log_spaced_steps(5, 3, include_zero=False).tolist() == [1, 2, 5]
    assert dyn.log_spaced_steps(5, 5, include_zero=False).tolist() == [1, 2, 3, 5]  # <= 5
    with pytest.raises(ValueError, match="n_records must be <= n_steps.*n_records=500"):
        dyn.log_spaced_steps(100, 500)


def test_energy_and_gradient_fallback_is_autodiff():
    f = lambda t: jnp.sum(t["w"] ** 3) + jnp.sin(t["b"])
    tree = {"w": jnp.arange(3.0), "b": jnp.array(0.5)}
    e, g = dyn.energy_and_gradient(f, tree)
    assert float(e) == pytest.approx(9.0 + np.sin(0.5), rel=1e-6)
    np.testing.assert_allclose(g["w"], 3 * np.arange(3.0) ** 2)
    assert float(g["b"]) == pytest.approx(np.cos(0.5), rel=1e-6)


def test_langevin_function_helper_sane():
    """Sanity of the reference used above: coth(a) - 1/a is the mean of exp(a c) on [-1,1]."""
    a = 1.7
    num = integrate.quad(lambda c: c * np.exp(a * c), -1, 1)[0]
    den = integrate.quad(lambda c: np.exp(a * c), -1, 1)[0]
    assert num / den == pytest.approx(1 / np.tanh(a) - 1 / a, rel=1e-10)
    assert special.expit(0.0) == 0.5


def test_scan_with_records_generic_loop():
    """The generic engine: step n gets fold_in(key, n), records after record_steps[i]
    steps, observe gets the absolute step index."""
    key = jax.random.key(17)

    def step(k, s):
        return s + jax.random.uniform(k)

    final, recs = jax.jit(lambda k, s0: dyn.scan_with_records(
        k, step, s0, [0, 2, 5], lambda s, n: (s, n), start_step=3))(key, jnp.float32(0.0))
    manual, expected = 0.0, []
    for n in range(3, 8):
        if n - 3 in (0, 2):
            expected.append(manual)
        manual = manual + float(jax.random.uniform(jax.random.fold_in(key, n)))
    expected.append(manual)
    np.testing.assert_allclose(np.asarray(recs[0]), expected, rtol=1e-6)
    assert recs[1].tolist() == [3, 5, 8]
    assert float(final) == pytest.approx(manual, rel=1e-6)
    with pytest.raises(ValueError, match="record_steps"):
        dyn.scan_with_records(key, step, 0.0, [3, 3], lambda s, n: s)
