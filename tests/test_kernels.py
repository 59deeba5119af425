"""The run loop of physjax.kernels on a toy kernel whose every property is known in closed
form: the Gaussian AR(1) chain x' = a x + sqrt(1 - a^2) * s * xi, stationary N(0, s^2)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.kernels import Kernel, RunResult, record_schedule, run


class AR1(eqx.Module):
    a: jax.Array
    scale: jax.Array


class ARState(eqx.Module):
    x: jax.Array


class ARKernel(Kernel):
    def init(self, key, model, x0=0.0):
        return ARState(jnp.asarray(x0, jnp.result_type(float)))

    def step(self, key, model, state):
        xi = jax.random.normal(key, state.x.shape, state.x.dtype)
        x = model.a * state.x + jnp.sqrt(1 - model.a ** 2) * model.scale * xi
        return ARState(x), x - state.x


def _model(a=0.5, scale=2.0):
    return AR1(jnp.asarray(a), jnp.asarray(scale))


def _trajectory(key, model, x0, n):
    """Eager reference: step n uses fold_in(key, n)."""
    k = ARKernel()
    s = k.init(key, model, x0)
    xs = []
    for i in range(n):
        s, _ = k.step(jax.random.fold_in(key, i), model, s)
        xs.append(float(s.x))
    return np.array(xs)


def _x(model, state, info):
    return state.x


def test_records_follow_the_step_by_step_trajectory():
    key = jax.random.key(0)
    m = _model()
    ref = _trajectory(key, m, 1.0, 12)
    k = ARKernel()
    r = run(k, key, m, k.init(key, m, 1.0), 12, record_every=3, observe=_x)
    np.testing.assert_allclose(r.records, ref[2::3], rtol=1e-6)
    np.testing.assert_array_equal(r.record_steps, [3, 6, 9, 12])
    # burn-in: the step numbering continues through it
    r = run(k, key, m, k.init(key, m, 1.0), 8, burn_in=4, record_every=2, observe=_x)
    np.testing.assert_allclose(r.records, ref[4 + 1::2], rtol=1e-6)
    # an irregular schedule (with a record of the initial state)
    r = run(k, key, m, k.init(key, m, 1.0), record_steps=[0, 1, 2, 5, 11], observe=_x)
    np.testing.assert_allclose(r.records, [1.0, *ref[[0, 1, 4, 10]]], rtol=1e-6)
    assert isinstance(r, RunResult) and int(r.n_steps) == 11
    # burn-in that is not a multiple of the record spacing, and before an irregular schedule
    r = run(k, key, m, k.init(key, m, 1.0), 6, burn_in=3, record_every=2, observe=_x)
    np.testing.assert_allclose(r.records, ref[3 + 1:9:2], rtol=1e-6)
    r = run(k, key, m, k.init(key, m, 1.0), burn_in=3, record_steps=[0, 2, 7], observe=_x)
    np.testing.assert_allclose(r.records, ref[[2, 4, 9]], rtol=1e-6)
    # only the initial state (no step), with and without burn-in
    r = run(k, key, m, k.init(key, m, 1.0), record_steps=[0], observe=_x)
    np.testing.assert_allclose(r.records, [1.0]) and int(r.n_steps) == 0
    r = run(k, key, m, k.init(key, m, 1.0), burn_in=2, record_steps=[0], observe=_x)
    np.testing.assert_allclose(r.records, ref[[1]], rtol=1e-6)


def test_progress_chunks_give_the_same_run_bit_for_bit():
    key = jax.random.key(1)
    m = _model()
    k = ARKernel()
    seen = []
    for kwargs in ({"record_every": 2}, {"record_steps": [0, 3, 7, 40]}):
        a = run(k, key, m, k.init(key, m), 40, burn_in=5, observe=_x, **kwargs)
        b = run(k, key, m, k.init(key, m), 40, burn_in=5, observe=_x, progress_chunks=7,
                progress=lambda done, total: seen.append((done, total)), **kwargs)
        np.testing.assert_array_equal(a.records, b.records)
        np.testing.assert_array_equal(a.state.x, b.state.x)
    assert seen[-1] == (45, 45) and len(seen) > 7


def test_stationary_mean_and_variance_within_4_sigma():
    m = _model(0.3, 1.5)
    k = ARKernel()
    r = run(k, jax.random.key(2), m, k.init(None, m), 20_000, burn_in=50, observe=_x)
    x = np.asarray(r.records)
    tau = (1 + 0.3) / (1 - 0.3)                      # integrated autocorrelation of AR(1)
    err_mean = 1.5 * np.sqrt(tau / x.size)
    assert abs(x.mean()) < 4 * err_mean
    tau2 = (1 + 0.09) / (1 - 0.09)
    err_var = 1.5 ** 2 * np.sqrt(2 * tau2 / x.size)
    assert abs(x.var() - 1.5 ** 2) < 4 * err_var


@pytest.mark.parametrize("schedule", [{"record_every": 5}, {"record_steps": [0, 2, 9, 20]}])
def test_grad_through_a_fixed_length_run_matches_finite_differences(schedule):
    key = jax.random.key(3)
    k = ARKernel()

    def loss(a):
        m = AR1(a, jnp.asarray(1.0))
        r = run(k, key, m, k.init(key, m, 0.7), 20, observe=_x, **schedule)
        return jnp.sum(r.records ** 2)

    with jax.enable_x64(True):
        a = jnp.asarray(0.4, jnp.float64)
        g = jax.grad(loss)(a)
        eps = 1e-6
        fd = (loss(a + eps) - loss(a - eps)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_vmap_over_a_traced_hyperparameter_matches_single_runs():
    key = jax.random.key(4)
    k = ARKernel()
    scales = jnp.asarray([0.5, 1.0, 3.0])

    def one(scale):
        m = AR1(jnp.asarray(0.5), scale)
        return run(k, key, m, k.init(key, m, 0.0), 30, record_every=10, observe=_x).records
    batched = jax.jit(jax.vmap(one))(scales)
    for i, s in enumerate(scales):
        np.testing.assert_allclose(batched[i], one(s), rtol=1e-6)


def test_early_stop_ends_the_run_and_fills_later_records():
    k = ARKernel()
    m = AR1(jnp.asarray(0.0), jnp.asarray(1.0))       # x is a fresh N(0,1) every step
    stop = lambda model, state, info: state.x > 2.0
    r = run(k, jax.random.key(5), m, k.init(None, m), 100_000, record_every=1, observe=_x,
            stop=stop)
    n = int(r.n_steps)
    assert bool(r.stopped) and 0 < n < 100_000
    x = np.asarray(r.records)
    assert x[n - 1] > 2.0 and np.all(x[: n - 1] <= 2.0) and np.all(x[n:] == x[n - 1])


def test_x64_run_has_float64_records_and_int32_counter():
    with jax.enable_x64(True):
        k = ARKernel()
        m = AR1(jnp.asarray(0.5, jnp.float64), jnp.asarray(1.0, jnp.float64))
        r = run(k, jax.random.key(6), m, k.init(None, m), 6, record_steps=[0, 1, 6],
                observe=_x)
        assert r.records.dtype == jnp.float64
        r = run(k, jax.random.PRNGKey(6), m, k.init(None, m), 6, record_every=2)
        assert r.records.dtype == jnp.float64


def test_compiles_once_for_new_numbers():
    k = ARKernel()
    key = jax.random.key(7)
    from physjax import kernels
    run(k, key, _model(0.1), k.init(key, _model()), 10, observe=_x)
    before = kernels._uniform._cached._cache_size()
    run(k, key, _model(0.7, 3.0), k.init(key, _model()), 10, observe=_x)
    assert kernels._uniform._cached._cache_size() == before


def test_bad_arguments_are_named():
    k = ARKernel()
    key = jax.random.key(0)
    m = _model()
    s = k.init(key, m)
    with pytest.raises(TypeError, match="kernel"):
        run(lambda: None, key, m, s, 3)
    with pytest.raises(ValueError, match="record_every"):
        run(k, key, m, s, 10, record_every=3)
    with pytest.raises(ValueError, match="record_steps"):
        run(k, key, m, s, record_steps=[3, 2])
    with pytest.raises(TypeError, match="key"):
        run(k, 3, m, s, 10)
    with pytest.raises(ValueError, match="burn_in"):
        run(k, key, m, s, 10, burn_in=-1)
    with pytest.raises(TypeError, match="observe"):
        run(k, key, m, s, 10, observe=3)
    with pytest.raises(ValueError, match="n_steps"):
        record_schedule(2, record_steps=[0, 5])
