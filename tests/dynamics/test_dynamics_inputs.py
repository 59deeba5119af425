"""Bad input: clear errors that name the argument; non-finite values during integration are
stopped and reported, never returned."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.dynamics as dyn


def _quadratic(x):
    return 0.5 * jnp.sum(x**2)


@pytest.mark.parametrize("build", [
    lambda t: dyn.OverdampedLangevin(_quadratic, 0.01, t),
    lambda t: dyn.UnderdampedLangevin(_quadratic, 0.01, t),
])
@pytest.mark.parametrize("temperature", [-0.1, np.nan, np.inf])
def test_bad_temperature(build, temperature):
    with pytest.raises(ValueError, match="temperature"):
        build(temperature)


def test_zero_temperature_is_allowed():
    model = dyn.OverdampedLangevin(_quadratic, 0.1, 0.0)
    state = dyn.init_dynamics(jax.random.key(0), model, jnp.ones(3))
    final, _ = dyn.run_dynamics(jax.random.key(0), model, state, [10])
    np.testing.assert_allclose(final.position, 0.9**10 * np.ones(3), rtol=1e-5)


@pytest.mark.parametrize("dt", [0.0, -0.01, np.nan])
@pytest.mark.parametrize("build", [
    lambda dt: dyn.OverdampedLangevin(_quadratic, dt, 1.0),
    lambda dt: dyn.UnderdampedLangevin(_quadratic, dt, 1.0),
    lambda dt: dyn.GradientFlow(_quadratic, dt),
])
def test_bad_step_size(build, dt):
    with pytest.raises(ValueError, match="dt"):
        build(dt)


def test_bad_friction_mass_method_energy():
    with pytest.raises(ValueError, match="friction"):
        dyn.UnderdampedLangevin(_quadratic, 0.1, 1.0, friction=-1.0)
    with pytest.raises(ValueError, match="mass"):
        dyn.UnderdampedLangevin(_quadratic, 0.1, 1.0, mass=0.0)
    with pytest.raises(ValueError, match="method"):
        dyn.GradientFlow(_quadratic, 0.1, method="rk4")
    with pytest.raises(TypeError, match="energy"):
        dyn.GradientFlow(np.ones(3), 0.1)
    with pytest.raises(ValueError, match="temperature must be a scalar"):
        dyn.OverdampedLangevin(_quadratic, 0.1, np.ones(3))


def test_traced_negative_temperature_is_caught_at_run_time():
    def run(temp):
        model = dyn.OverdampedLangevin(_quadratic, 0.1, temp)
        state = dyn.init_dynamics(jax.random.key(0), model, jnp.ones(2))
        return dyn.run_dynamics(jax.random.key(0), model, state, [3])[0].position

    assert jnp.all(jnp.isfinite(jax.jit(run)(0.5)))
    with pytest.raises(Exception, match="temperature"):
        jax.block_until_ready(jax.jit(run)(-0.5))


@pytest.mark.parametrize("build", [
    lambda e: dyn.OverdampedLangevin(e, 0.01, 1.0, spherical=True),
    lambda e: dyn.UnderdampedLangevin(e, 0.01, 1.0, spherical=True),
    lambda e: dyn.GradientFlow(e, 0.01, spherical=True),
])
def test_spherical_constraint_rejects_zero_vector(build):
    model = build(_quadratic)
    with pytest.raises(ValueError, match="position.*zero vector"):
        dyn.init_dynamics(jax.random.key(0), model, jnp.zeros(5))
    with pytest.raises(ValueError, match="position.*zero vector"):
        dyn.init_dynamics(jax.random.key(0), model, {"a": jnp.zeros(2), "b": jnp.zeros(3)})
    positions = jnp.ones((4, 5)).at[2].set(0.0)
    with pytest.raises(ValueError, match=r"positions.*zero vector.*replica 2"):
        dyn.init_replicas(jax.random.key(0), model, positions)


def test_bad_positions():
    model = dyn.OverdampedLangevin(_quadratic, 0.01, 1.0)
    with pytest.raises(TypeError, match="position"):
        dyn.init_dynamics(jax.random.key(0), model, jnp.arange(3))
    with pytest.raises(ValueError, match="position"):
        dyn.init_dynamics(jax.random.key(0), model, jnp.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="initial position"):
        dyn.init_dynamics(jax.random.key(0), dyn.OverdampedLangevin(
            lambda x: jnp.sum(jnp.log(x)), 0.01, 1.0), jnp.array([1.0, -1.0]))


def test_bad_record_steps():
    model = dyn.GradientFlow(_quadratic, 0.1)
    state = dyn.init_dynamics(jax.random.key(0), model, jnp.ones(2))
    for steps, err in (([5, 3], ValueError), ([-1, 4], ValueError), ([], ValueError),
                       ([[1, 2]], ValueError), ([0.5, 2], TypeError)):
        with pytest.raises(err, match="record_steps"):
            dyn.run_dynamics(jax.random.key(0), model, state, steps)


def test_nonfinite_energy_stops_and_reports_step():
    """H = -x^4 blows up under gradient flow (x' = 4x^3): the run stops at the first step
    whose energy is not finite, freezes the last finite state and flags later records."""
    model = dyn.GradientFlow(lambda x: -jnp.sum(x**4), 0.05)
    state = dyn.init_dynamics(jax.random.key(0), model, jnp.array([1.0]))
    final, rec = dyn.run_dynamics(jax.random.key(0), model, state, np.arange(0, 101, 5))
    k = int(final.diverged_at)
    assert 1 <= k <= 100
    assert int(final.step) == k - 1
    leaves = jax.tree.leaves(final) + jax.tree.leaves(rec)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves if jnp.issubdtype(x.dtype,
                                                                                   jnp.floating))
    # replay by hand: k - 1 steps stay finite, step k does not
    x = 1.0
    for _ in range(k - 1):
        x = x + 0.05 * 4 * x**3
        assert np.isfinite(x**4)
    with np.errstate(over="ignore"):
        x_next = np.float32(x + 0.05 * 4 * np.float32(x) ** 3)
        assert not np.isfinite(np.float32(x_next) ** 4)
    recorded = np.asarray(rec.step)
    np.testing.assert_array_equal(np.asarray(rec.diverged), recorded >= k)
    np.testing.assert_allclose(np.asarray(rec.energy)[recorded >= k], float(final.energy))


@pytest.mark.parametrize("kind", ["overdamped", "baoab"])
def test_nonfinite_gradient_with_finite_energy_is_reported(kind):
    """An energy whose gradient becomes NaN for |x| > 2 (while the value stays finite)."""

    class NanGradient(eqx.Module):
        def __call__(self, x):
            return -jnp.sum(x**2)

        def energy_and_gradient(self, x):
            g = jnp.where(jnp.abs(x) > 2.0, jnp.nan, -2.0 * x)
            return -jnp.sum(x**2), g

    e = NanGradient()
    model = (dyn.OverdampedLangevin(e, 0.05, 0.01) if kind == "overdamped"
             else dyn.UnderdampedLangevin(e, 0.05, 0.01))
    state = dyn.init_dynamics(jax.random.key(1), model, jnp.array([0.5, -0.3]))
    final, rec = dyn.run_dynamics(jax.random.key(2), model, state, [10, 1000])
    assert int(final.diverged_at) > 0
    assert int(final.step) == int(final.diverged_at) - 1
    assert bool(jnp.all(jnp.isfinite(final.gradient)))
    assert bool(jnp.all(jnp.abs(final.position) <= 2.0))
    assert bool(rec.diverged[-1])


def test_divergence_is_per_replica():
    """One replica starting far out diverges; the others run to the end."""
    model = dyn.GradientFlow(lambda x: -jnp.sum(x**4), 0.01)
    x0 = jnp.array([[0.01], [0.02], [3.0]])
    states = dyn.init_replicas(jax.random.key(0), model, x0)
    final, rec = dyn.run_replicas(jax.random.key(0), model, states, [50, 100])
    d = np.asarray(final.diverged_at)
    assert d[0] == -1 and d[1] == -1 and d[2] > 0
    np.testing.assert_array_equal(np.asarray(final.step)[:2], [100, 100])


@pytest.mark.parametrize("snr", [0.0, -1.0, np.nan])
def test_bad_snr(snr):
    with pytest.raises(ValueError, match="snr"):
        dyn.spiked_wigner(jax.random.key(0), 10, snr)


def test_bad_model_arguments():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="delta2"):
        dyn.spiked_matrix_tensor(key, 8, delta2=0.0)
    with pytest.raises(ValueError, match="deltap"):
        dyn.spiked_matrix_tensor(key, 8, deltap=-1.0)
    with pytest.raises(ValueError, match="at least one channel"):
        dyn.spiked_matrix_tensor(key, 8, delta2=None, deltap=np.inf)
    with pytest.raises(ValueError, match="p must"):
        dyn.spiked_matrix_tensor(key, 8, p=2)
    with pytest.raises(ValueError, match="n must"):
        dyn.spherical_p_spin(key, 1)
    with pytest.raises(TypeError, match="n must"):
        dyn.spiked_wigner(key, 10.5, 1.0)
    with pytest.raises(ValueError, match="signal"):
        dyn.spiked_wigner(key, 4, 1.0, signal=jnp.ones(4) * 3)


def test_bad_aging_arguments():
    pos = jnp.ones((5, 3))
    steps = np.array([0, 1, 2, 4, 8])
    with pytest.raises(ValueError, match="waiting_steps"):
        dyn.two_time_correlation(pos, steps, [3], [1])
    with pytest.raises(ValueError, match="waiting_steps \\+ lag_steps"):
        dyn.mean_square_displacement(pos, steps, [1], [2])
    with pytest.raises(ValueError, match="records"):
        dyn.two_time_correlation(jnp.ones((4, 3)), steps, [1], [1])
    with pytest.raises(ValueError, match="waiting_times"):
        dyn.scaling_collapse([1.0], [1.0, 2.0], jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="overlap"):
        dyn.scaling_collapse([1.0, 1000.0], [1.0, 2.0], jnp.ones((2, 2)))
