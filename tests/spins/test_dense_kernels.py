"""Dense spin kernels (physjax.spins.dense) on the physjax.kernels protocol: x64 runs, exact
zero fields at T = 0, one compilation per static configuration.

Stationary laws of every dense kernel against exact enumeration are in
tests/conformance/cases_dense.py; bad input in tests/spins/test_dense_inputs.py.
"""

import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.spins as ps
from physjax.kernels import run
from physjax.spins.dense import DenseSingleSpin
from tests.helpers import CompileCounter


def _model(kind):
    if kind == "sk":
        return ps.sherrington_kirkpatrick(jax.random.key(0), 12, h=0.1)
    if kind == "curie_weiss":
        return ps.curie_weiss(12)
    return ps.hebbian(ps.random_patterns(jax.random.key(1), 3, 20))


def _energy(model, spins):
    """H = -1/2 s^T J s - h^T s in float64 NumPy."""
    J = np.asarray(model.couplings(), np.float64)
    h = np.asarray(model.h, np.float64)
    s = np.asarray(spins, np.float64)
    return -0.5 * s @ J @ s - h @ s


@pytest.mark.parametrize("rule", typing.get_args(ps.DenseRule))
@pytest.mark.parametrize("kind", ["sk", "curie_weiss", "hebbian"])
def test_run_dense_under_x64_for_every_rule(kind, rule):
    """Under jax_enable_x64 the run keeps float64 (the scan carry used to mix an int32 and
    an int64 flip counter); the recorded energy is H of the final spins, and T = 0 sign
    dynamics never raise it."""
    with jax.enable_x64(True):
        model = _model(kind)
        T = 0.0 if rule == "zero_temperature" else 1.2
        state = ps.init_dense(jax.random.key(2), model, T)
        final, trace = ps.run_dense(jax.random.key(3), model, state, 6, rule=rule,
                                    order="random", record_every=2, block=5)
        assert final.spins.dtype == trace.energy.dtype == jnp.float64
        assert trace.energy.shape == trace.flip_rate.shape == (3,)
        np.testing.assert_allclose(float(trace.energy[-1]) * model.n_spins,
                                   _energy(model, final.spins), rtol=1e-12, atol=1e-12)
        if rule == "zero_temperature":
            e0 = _energy(model, state.spins)
            e = np.concatenate([[e0], np.asarray(trace.energy) * model.n_spins])
            assert np.all(np.diff(e) <= 1e-12)
            if kind == "hebbian":
                res = ps.relax(jax.random.key(5), model, state.spins)
                assert res.spins.dtype == jnp.float64 and bool(res.fixed_point)
                assert _energy(model, res.spins) <= e0 + 1e-12
                res = ps.relax(jax.random.key(5), model, state.spins, dynamics="synchronous")
                assert res.spins.dtype == jnp.float64
        # parallel tempering under x64 too
        if rule == "heat_bath" and kind == "sk":
            pt = ps.parallel_tempering(jax.random.key(4), model, [0.8, 1.6], 3)
            assert pt.energy.dtype == jnp.float64 and pt.states.spins.dtype == jnp.float64


def _exact_relax(X, s, rng, max_sweeps=200):
    """Random sequential sign dynamics in integer arithmetic (N phi_i is an integer for
    Hebb's couplings); a spin with zero field is kept."""
    K = X.shape[0]
    M = X @ s
    for _ in range(max_sweeps):
        flips = 0
        for i in rng.permutation(X.shape[1]):
            num = X[:, i] @ M - K * s[i]
            new = s[i] if num == 0 else (1 if num > 0 else -1)
            if new != s[i]:
                M += X[:, i] * (new - s[i])
                s[i] = new
                flips += 1
        if flips == 0:
            return s
    raise AssertionError("no fixed point")


def _zero_field_fixed_points(n_cases, N=200, K=30):
    """Hebbian networks (integer patterns) with a T = 0 fixed point on which some spins
    have an exactly zero local field (K (N - 1) even makes that possible)."""
    cases = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        X = rng.choice([-1, 1], size=(K, N)).astype(np.int64)
        s = _exact_relax(X, rng.choice([-1, 1], size=N).astype(np.int64), rng)
        zero = (X.T @ (X @ s) - K * s) == 0
        if zero.any():
            cases.append((X, s, zero))
        if len(cases) == n_cases:
            return cases
    raise AssertionError("no zero-field fixed point found")


def test_relax_keeps_spins_with_exactly_zero_local_field():
    """At a fixed point where some spins have an exactly zero field (exact integer
    arithmetic), float32 relax must keep every spin and report a fixed point after one
    sweep; with fields rounded through 1/N a zero field came out as +-1e-7 and the dynamics
    walked away from the fixed point."""
    for X, s, zero in _zero_field_fixed_points(2):
        patterns = jnp.asarray(X, jnp.float32)
        start = jnp.asarray(s, jnp.float32)
        K = X.shape[0]
        padded = jnp.concatenate([patterns, -patterns[:3]])     # 3 inactive patterns
        for model in (ps.hebbian(patterns),
                      ps.LowRankIsing(padded, weights=(jnp.arange(K + 3) < K) * 1.0)):
            phi = np.asarray(model.fields(start))
            assert np.all(phi[zero] == 0) and np.all(phi[~zero] * s[~zero] > 0)
            for seed in range(3):
                res = ps.relax(jax.random.key(seed), model, start, max_sweeps=20)
                np.testing.assert_array_equal(res.spins, start)
                assert bool(res.fixed_point) and int(res.n_sweeps) == 1
            res = ps.relax(jax.random.key(0), model, start, dynamics="synchronous")
            np.testing.assert_array_equal(res.spins, start)
            assert bool(res.fixed_point) and int(res.n_sweeps) == 1


def _mattis(spins):
    return jnp.mean(spins)


def test_entry_points_compile_once_per_static_configuration():
    """A second call with another temperature, key, start or network of the same shapes
    compiles nothing (numbers are traced, only sizes and rule names are static)."""
    xi = ps.random_patterns(jax.random.key(5), 6, 40)
    model = ps.hebbian(xi)
    other = ps.hebbian(ps.random_patterns(jax.random.key(6), 6, 40))
    starts = [xi[0], xi[1]]
    keys = jax.random.split(jax.random.key(7), 8)
    st = ps.init_dense(keys[0], model, 0.5)
    ps.run_dense(keys[1], model, st, 4, record_every=2, observe=_mattis)
    ps.relax(keys[2], model, starts[0])
    ps.parallel_tempering(keys[3], model, [0.5, 1.0], 3)
    with CompileCounter() as c:
        st2 = ps.init_dense(keys[4], other, 1.5)
        ps.run_dense(keys[5], other, st2, 4, record_every=2, observe=_mattis)
        ps.relax(keys[6], other, starts[1])
        ps.parallel_tempering(keys[7], other, [0.7, 1.9], 3)
    assert c.count == 0


def test_kernel_runs_under_vmap_over_temperatures_and_grad_free_early_stop():
    """The kernel with the generic run loop: replicas at a traced ladder of temperatures
    (vmap over init), and relax's early stop: a fixed point of T = 0 dynamics is reached
    and reported at the sweep with no flip."""
    model = ps.curie_weiss(10)
    kernel = DenseSingleSpin("heat_bath")
    T = jnp.asarray([0.2, 50.0])
    states = jax.vmap(lambda t: kernel.init(jax.random.key(0), model, t,
                                            spins=jnp.ones(10)))(T)
    r = jax.vmap(lambda k, s: run(kernel, k, model, s, 200, record_every=1,
                                  observe=lambda m, st, i: jnp.mean(st.spins)))(
        jax.random.split(jax.random.key(1), 2), states)
    m = np.asarray(r.records)
    # T = 0.2: P(m = 1) = 1 - O(e^{-2 beta (N - 1)/N * 2}) ~ 1 - 10 e^{-18};
    # T = 50: nearly free spins, <m^2> = 1/N + O(beta) ~ 0.1
    assert np.all(m[0] == 1.0)
    assert abs(np.mean(m[1] ** 2) - 0.1) < 0.05
    zero_t = DenseSingleSpin("zero_temperature", "random")
    s0 = zero_t.init(jax.random.key(2), model)
    r = run(zero_t, jax.random.key(3), model, s0, 50, record_every=50,
            stop=lambda m_, s, i: i.flips == 0)
    assert bool(r.stopped) and 1 <= int(r.n_steps) <= 3
    assert abs(float(jnp.sum(r.state.spins))) == 10  # Curie-Weiss: the ground states
