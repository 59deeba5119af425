"""The dynamics and SGD on the physjax.kernels protocol: gradients through a run against
finite differences, traced hyperparameters (vmap, ensemble sweeps, one compilation), and
bad input named by argument (concrete: ValueError/TypeError; traced: equinox error)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.dynamics as dyn
from physjax.dynamics import runs as dyn_runs
from physjax.dynamics import sgd as dyn_sgd
from physjax.ensemble import sweep
from physjax.kernels import run


class DoubleWell(eqx.Module):
    """H(x) = sum a x^4 / 4 - x^2 / 2."""

    a: jax.Array

    def __call__(self, x):
        return jnp.sum(0.25 * self.a * x ** 4 - 0.5 * x ** 2)


class Harmonic(eqx.Module):
    """H(x) = k |x|^2 / 2."""

    k: jax.Array

    def __call__(self, x):
        return 0.5 * self.k * jnp.sum(x ** 2)


def _quadratic(x):
    return 0.5 * jnp.sum(x ** 2)


# ------------------------------------------------------------------ gradients of a run

@pytest.mark.parametrize("schedule", [np.arange(10, 51, 10), np.array([0, 1, 3, 9, 22, 50])],
                         ids=["even", "log"])
def test_grad_through_a_langevin_run_matches_finite_differences(schedule):
    """jax.grad of a fixed-length 50-step overdamped Langevin run (fixed noise key) with
    respect to a coupling of the energy, the temperature and the step size, against
    central differences, float64.  (The loop is scan-only: no while_loop to refuse
    reverse-mode differentiation.)"""
    with jax.enable_x64(True):
        x0 = jnp.array([0.3, -1.2, 0.8])

        def loss(params):
            a, temperature, dt = params
            d = dyn.OverdampedLangevin(DoubleWell(a), dt, temperature)
            state = dyn.init_dynamics(jax.random.key(0), d, x0)
            final, rec = dyn.run_dynamics(jax.random.key(1), d, state, schedule)
            return jnp.mean(rec.energy) + jnp.sum(final.position ** 2)

        params = (jnp.float64(0.7), jnp.float64(0.4), jnp.float64(0.02))
        grads = jax.grad(loss)(params)
        for i in range(3):
            eps = 1e-6 * float(params[i])
            up = tuple(p + eps if j == i else p for j, p in enumerate(params))
            down = tuple(p - eps if j == i else p for j, p in enumerate(params))
            fd = (loss(up) - loss(down)) / (2 * eps)
            np.testing.assert_allclose(float(grads[i]), float(fd), rtol=1e-6)
        assert all(abs(float(g)) > 1e-3 for g in grads)


# -------------------------------------------------------- traced hyperparameters

def test_sweep_over_temperature_gives_the_exact_euler_maruyama_variance():
    """physjax.ensemble.sweep over the temperature of overdamped Langevin in H = k x^2/2:
    the Euler--Maruyama chain x' = (1 - k dt) x + sqrt(2 T dt) xi is stationary with
    variance T / (k (1 - k dt / 2)) exactly.  256 replicas x 8 coordinates started in that
    law, 6 records 30 steps apart (correlation (1 - k dt)^30 = 0.04): ~1.2e4 samples per
    temperature, relative s.e. of the variance ~1.3%; 4 s.e.  Replica 1 of the sweep at
    T_g is run_dynamics with fold_in(fold_in(key, g), 1), and vmap over T gives the
    per-temperature runs."""
    k, dt = 1.0, 0.1
    temps = np.array([0.25, 1.0, 4.0], np.float32)
    steps = np.arange(1, 7) * 30

    def one(key, point):
        d = dyn.OverdampedLangevin(Harmonic(jnp.asarray(k)), dt, point["temperature"])
        var = point["temperature"] / (k * (1 - k * dt / 2))
        k_x, k_run = jax.random.split(key)
        x0 = jnp.sqrt(var) * jax.random.normal(k_x, (8,))
        _, rec = dyn.run_dynamics(k_run, d, d.kernel.init(k_x, d, x0), steps,
                                  record_position=True)
        return rec.position

    key = jax.random.key(3)
    x = np.asarray(sweep(one, key, {"temperature": temps}, 256, progress=False).values)
    for g, t in enumerate(temps):
        exact = t / (k * (1 - k * dt / 2))
        samples = x[g].reshape(256, -1) ** 2
        per_replica = samples.mean(1)
        se = per_replica.std(ddof=1) / np.sqrt(per_replica.size)
        assert abs(per_replica.mean() - exact) < 4 * se, (t, per_replica.mean(), exact, se)
    single = one(jax.random.fold_in(jax.random.fold_in(key, 2), 1),
                 {"temperature": jnp.float32(temps[2])})
    np.testing.assert_allclose(single, x[2, 1], rtol=1e-5)
    by_vmap = jax.vmap(lambda t: one(key, {"temperature": t}))(jnp.asarray(temps))
    np.testing.assert_allclose(by_vmap[0], one(key, {"temperature": jnp.float32(temps[0])}),
                               rtol=1e-5)


def test_new_hyperparameter_values_do_not_recompile():
    """Temperatures, step sizes and learning rates are arrays in the model: new values
    reuse the compiled program (a Python float would be a static leaf)."""
    state = dyn.init_dynamics(jax.random.key(0), dyn.OverdampedLangevin(_quadratic, 0.1, 1.0),
                              jnp.ones(3))
    dyn.run_dynamics(jax.random.key(0), dyn.OverdampedLangevin(_quadratic, 0.1, 1.0), state,
                     [5])
    before = dyn_runs._run_jit._cached._cache_size()
    for dt, temperature in ((0.2, 0.3), (0.05, 2.0)):
        dyn.run_dynamics(jax.random.key(0), dyn.OverdampedLangevin(_quadratic, dt, temperature),
                         state, [5])
    assert dyn_runs._run_jit._cached._cache_size() == before
    d = dyn.OverdampedLangevin(_quadratic, 0.1, 1.0)
    assert d.temperature.shape == () and isinstance(d.dt, jax.Array)

    task = dyn.SupervisedTask(jnp.ones((4, 2)), jnp.ones((4, 1)), jnp.ones((2, 2)),
                              jnp.ones((2, 1)), "mse")
    net = dyn.masked_mlp(jax.random.key(1), 2, 1, 3, 2)
    for lr in (0.1, 0.2):
        sgd = dyn.MinibatchSGD(task, lr, 2, momentum=0.5)
        dyn.run_sgd(jax.random.key(2), sgd, dyn.init_sgd(jax.random.key(0), sgd, net), [3],
                    record_parameters=False)
        if lr == 0.1:
            before = dyn_sgd._run_jit._cached._cache_size()
    assert dyn_sgd._run_jit._cached._cache_size() == before
    # the older init form init_sgd(sgd, network) gives the same state
    a, b = dyn.init_sgd(sgd, net), dyn.init_sgd(jax.random.key(5), sgd, net)
    np.testing.assert_array_equal(a.loss, b.loss)


def test_kernel_run_continues_and_records_like_the_step_function():
    """physjax.kernels.run of dynamics.kernel: step n uses fold_in(key, n) counted in that
    run; run_dynamics counts n from state.step (a continued run is one long run)."""
    d = dyn.UnderdampedLangevin(Harmonic(jnp.asarray(2.0)), 0.1, 0.5, friction=0.7)
    key = jax.random.key(7)
    state = d.kernel.init(key, d, jnp.array([1.0, -0.5]))
    r = run(d.kernel, key, d, state, 6, record_every=3,
            observe=lambda m, s, i: s.position)
    s = state
    for n in range(6):
        s, info = d.kernel.step(jax.random.fold_in(key, n), d, s)
        assert bool(info.accepted)
    np.testing.assert_allclose(r.records[-1], s.position, rtol=1e-6)
    half, _ = dyn.run_dynamics(key, d, state, [3])
    whole, _ = dyn.run_dynamics(key, d, state, [6])
    rest, rec = dyn.run_dynamics(key, d, half, [0, 3])
    np.testing.assert_array_equal(rest.position, whole.position)
    assert rec.step.tolist() == [3, 6] and rec.step.dtype == jnp.int32
    np.testing.assert_allclose(float(d.kernel.energy(d, whole)), float(whole.energy), rtol=1e-6)


# ------------------------------------------------------------------------- bad input

def test_kernel_refuses_a_state_of_another_model():
    key = jax.random.key(0)
    d8 = dyn.OverdampedLangevin(dyn.spiked_wigner(key, 8, 2.0), 0.01, 0.5)
    d6 = dyn.OverdampedLangevin(dyn.spiked_wigner(key, 6, 2.0), 0.01, 0.5)
    s8 = dyn.init_dynamics(key, d8, jnp.ones(8))
    s6 = dyn.init_dynamics(key, d6, jnp.ones(6))
    with pytest.raises(ValueError, match="state.position"):          # another shape
        run(d8.kernel, key, d8, s6, 2)
    with pytest.raises(ValueError, match="state.position"):
        dyn.run_dynamics(key, d8, s6, [2])
    with pytest.raises(TypeError, match="state.position"):           # integer positions
        run(d8.kernel, key, d8, s8._replace(position=jnp.ones(8, jnp.int32)), 2)
    with pytest.raises(TypeError, match="state.step"):
        run(d8.kernel, key, d8, s8._replace(step=jnp.zeros((), jnp.uint8)), 2)
    with jax.enable_x64(True):                                       # another dtype
        d64 = dyn.OverdampedLangevin(dyn.spiked_wigner(key, 8, 2.0, dtype=jnp.float64),
                                     0.01, 0.5)
        with pytest.raises(ValueError, match="state.*dtype"):
            run(d64.kernel, key, d64, s8, 2)
    baoab = dyn.UnderdampedLangevin(d8.energy, 0.01, 0.5)
    with pytest.raises(ValueError, match="state.*momentum"):         # another dynamics
        run(d8.kernel, key, d8, dyn.init_dynamics(key, baoab, jnp.ones(8)), 2)
    with pytest.raises(ValueError, match="state.*momentum"):
        run(baoab.kernel, key, baoab, s8, 2)
    with pytest.raises(TypeError, match="position"):
        d8.kernel.init(key, d8, jnp.arange(8))
    with pytest.raises(TypeError, match="model"):                    # kernel/model mismatch
        run(dyn.GradientFlowKernel(), key, d8, s8, 2)
    with pytest.raises(TypeError, match="state"):
        run(d8.kernel, key, d8, "bogus", 2)
    with pytest.raises(ValueError, match="one replica"):
        run(d8.kernel, key, d8, dyn.init_replicas(key, d8, jnp.ones((2, 8))), 2)


BAD = [("temperature", np.nan), ("temperature", -0.5), ("dt", -0.1), ("dt", np.inf),
       ("friction", -1.0), ("mass", 0.0)]


@pytest.mark.parametrize("name,value", BAD)
def test_kernel_refuses_bad_hyperparameters_concrete(name, value):
    d = dyn.UnderdampedLangevin(_quadratic, 0.1, 0.5)
    state = d.kernel.init(jax.random.key(0), d, jnp.ones(2))
    bad = eqx.tree_at(lambda m: getattr(m, name), d, jnp.asarray(value, jnp.float32))
    with pytest.raises(ValueError, match=name):
        run(d.kernel, jax.random.key(1), bad, state, 2)


@pytest.mark.parametrize("name,value", [("temperature", -0.5), ("dt", np.nan)])
def test_kernel_refuses_bad_hyperparameters_traced(name, value):
    """Traced under jit: an equinox runtime error naming the hyperparameter."""
    d = dyn.OverdampedLangevin(_quadratic, 0.1, 0.5)
    state = d.kernel.init(jax.random.key(0), d, jnp.ones(2))

    @jax.jit
    def final(v):
        m = eqx.tree_at(lambda m: getattr(m, name), d, v)
        return run(m.kernel, jax.random.key(1), m, state, 2).state.position

    assert np.all(np.isfinite(final(jnp.float32(0.3))))
    with pytest.raises(Exception, match=name):
        jax.block_until_ready(final(jnp.float32(value)))


def test_sgd_kernel_refuses_bad_input():
    task = dyn.SupervisedTask(jnp.ones((4, 2)), jnp.ones((4, 1)), jnp.ones((2, 2)),
                              jnp.ones((2, 1)), "mse")
    sgd = dyn.MinibatchSGD(task, 0.1, 2)
    k = sgd.kernel
    state = k.init(jax.random.key(0), sgd, dyn.masked_mlp(jax.random.key(1), 2, 1, 3, 2))
    with pytest.raises(ValueError, match="learning_rate"):
        run(k, jax.random.key(0), eqx.tree_at(lambda m: m.learning_rate, sgd,
                                              jnp.float32(np.nan)), state, 2)
    with pytest.raises(ValueError, match="momentum"):
        dyn.MinibatchSGD(task, 0.1, 2, momentum=1.0)
    with_momentum = dyn.MinibatchSGD(task, 0.1, 2, momentum=0.9)
    with pytest.raises(ValueError, match="state.opt_state"):         # another optimizer
        run(k, jax.random.key(0), with_momentum, state, 2)
    other = dyn.SupervisedTask(jnp.ones((4, 3)), jnp.ones((4, 1)), jnp.ones((2, 3)),
                               jnp.ones((2, 1)), "mse")
    with pytest.raises(ValueError, match="state.network"):           # another task
        run(k, jax.random.key(0), dyn.MinibatchSGD(other, 0.1, 2), state, 2)

    @jax.jit
    def final(lr):
        m = eqx.tree_at(lambda m: m.learning_rate, sgd, lr)
        return run(k, jax.random.key(1), m, state, 2).state.loss

    with pytest.raises(Exception, match="learning_rate"):
        jax.block_until_ready(final(jnp.float32(-0.1)))


def test_record_of_the_initial_state_only():
    d = dyn.GradientFlow(_quadratic, 0.1)
    state = dyn.init_dynamics(jax.random.key(0), d, jnp.ones(2))
    final, rec = dyn.run_dynamics(jax.random.key(0), d, state, [0], record_position=True)
    assert int(final.step) == 0 and rec.step.tolist() == [0]
    np.testing.assert_allclose(rec.energy, [1.0])
