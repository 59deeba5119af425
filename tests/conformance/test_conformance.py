"""The kernel conformance table: every sampler and dynamics of physjax through the same
checks (as BlackJAX's test_sampling.py and Optax's common tests do).

* jit and vmap give the same result as eager;
* typed keys (``jax.random.key``) and legacy keys (``jax.random.PRNGKey``) agree;
* float32 and float64 both run and keep their dtype;
* a hyperparameter traced under ``vmap`` matches the per-value runs;
* the stationary law: the chain-averaged statistics match the exact values within 4 sigma
  (enumeration of <= 12 spins for discrete kernels, Gaussian moments for continuous ones).
"""

from __future__ import annotations

import importlib
import pkgutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tests.conformance as _pkg
from physjax.kernels import run


class _Observe(eqx.Module):
    """``observe`` for run: equal for equal statistics, so run's compiled programs are
    reused across calls (a fresh lambda each call would miss the cache)."""

    statistic: object = eqx.field(static=True)

    def __call__(self, model, state, info):
        return self.statistic(model, state)


def _collect():
    cases = []
    for info in pkgutil.iter_modules(_pkg.__path__):
        if info.name.startswith("cases_"):
            cases += importlib.import_module(f"tests.conformance.{info.name}").CASES
    return cases


CASES = _collect()
PARAMS = [pytest.param(c, id=c.name) for c in CASES]
EXACT_PARAMS = [p for p in PARAMS if p.values[0].exact is not None]


N_RUN = 6  # steps of the short runs; one length so that every check reuses run's program


# Module-level compiled entry points, so that every test of a case reuses one executable
# (a fresh ``jax.jit(case.kernel.step)`` per test would compile again).  The kernel has
# static fields only, so filter_jit treats it as static.
@eqx.filter_jit
def _jit_step(kernel, key, model, state):
    return kernel.step(key, model, state)


@eqx.filter_jit
def _jit_vmap_step(kernel, keys, model, state):
    return jax.vmap(kernel.step, in_axes=(0, None, None))(keys, model, state)


@eqx.filter_jit
def _run_inside_jit(kernel, key, model, state, observe):
    return run(kernel, key, model, state, N_RUN, record_every=2, observe=observe)



def _float_leaves(tree):
    return [x for x in jax.tree.leaves(tree)
            if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)]


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        if jnp.issubdtype(jnp.asarray(x).dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), rtol=rtol,
                                   atol=atol)


def test_every_family_declares_cases():
    assert CASES, "no conformance cases found"


@pytest.mark.parametrize("case", PARAMS)
def test_jit_and_vmap_match_eager(case):
    model = case.make_model(jnp.float32)
    key = jax.random.key(0)
    state = case.init(key, case.kernel, model)
    k = jax.random.key(1)
    eager = case.kernel.step(k, model, state)
    _assert_trees_close(eager, _jit_step(case.kernel, k, model, state))
    keys = jax.random.split(jax.random.key(2), 3)
    batched = _jit_vmap_step(case.kernel, keys, model, state)
    for i in range(3):
        _assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched),
                            _jit_step(case.kernel, keys[i], model, state))
    # the run loop, called directly and from inside a user's jit, agrees
    observe = _Observe(case.observable)
    r1 = run(case.kernel, k, model, state, N_RUN, record_every=2, observe=observe)
    r2 = _run_inside_jit(case.kernel, k, model, state, observe)
    _assert_trees_close(r1.records, r2.records)


@pytest.mark.parametrize("case", PARAMS)
def test_typed_and_legacy_keys_agree(case):
    model = case.make_model(jnp.float32)
    typed = case.init(jax.random.key(3), case.kernel, model)
    legacy = case.init(jax.random.PRNGKey(3), case.kernel, model)
    _assert_trees_close(typed, legacy)
    a = _jit_step(case.kernel, jax.random.key(4), model, typed)
    b = _jit_step(case.kernel, jax.random.PRNGKey(4), model, legacy)
    _assert_trees_close(a, b)


@pytest.mark.parametrize("case", PARAMS)
def test_float64_runs_and_keeps_its_dtype(case):
    with jax.enable_x64(True):
        model = case.make_model(jnp.float64)
        state = case.init(jax.random.key(5), case.kernel, model)
        r = run(case.kernel, jax.random.key(6), model, state, 6, record_every=3,
                observe=_Observe(case.observable))
        for x in _float_leaves(r.state):
            assert x.dtype == jnp.float64, (case.name, x.dtype)
        assert np.all(np.isfinite(np.asarray(r.records)))


@pytest.mark.parametrize("case", PARAMS)
def test_traced_hyperparameter_under_vmap_matches_per_value_runs(case):
    set_value, values = case.hyperparameter
    model = case.make_model(jnp.float32)
    state = case.init(jax.random.key(7), case.kernel, model)
    key = jax.random.key(8)

    def records(v):
        m = set_value(model, v)
        return run(case.kernel, key, m, state, N_RUN, record_every=2,
                   observe=_Observe(case.observable)).records
    batched = jax.jit(jax.vmap(records))(jnp.asarray(values, jnp.float32))
    for i, v in enumerate(values):
        _assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched),
                            records(jnp.asarray(v, jnp.float32)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", EXACT_PARAMS)
def test_stationary_law_matches_exact_within_4_sigma(case):
    with jax.enable_x64(True):
        model = case.make_model(jnp.float64)
        keys = jax.random.split(jax.random.key(9), case.n_chains)

        @jax.jit
        def chain_means(keys):
            def one(k):
                k_init, k_run = jax.random.split(k)
                state = case.init(k_init, case.kernel, model)
                r = run(case.kernel, k_run, model, state, case.n_steps, burn_in=case.n_burn,
                        observe=_Observe(case.observable))
                return jnp.mean(r.records, axis=0)
            return jax.vmap(one)(keys)
        means = np.asarray(chain_means(keys))
    estimate = means.mean(axis=0)
    sigma = means.std(axis=0, ddof=1) / np.sqrt(case.n_chains)
    exact = np.asarray(case.exact(model), float)
    assert estimate.shape == exact.shape
    assert np.all(sigma > 0), f"{case.name}: a statistic does not fluctuate: {sigma}"
    z = np.abs(estimate - exact) / sigma
    assert np.all(z < 4), f"{case.name}: estimate {estimate}, exact {exact}, z {z}"
