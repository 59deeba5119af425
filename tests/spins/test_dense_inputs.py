"""Bad input to the dense-spin / Hopfield API raises errors that name the argument."""

import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.spins as ps
from physjax.kernels import run
from physjax.spins.dense import DenseSingleSpin

KEY = jax.random.key(0)
XI = ps.random_patterns(KEY, 3, 20)


@pytest.mark.parametrize("patterns", [np.zeros((3, 20)), np.ones(20), np.ones((0, 20)),
                                      np.full((3, 20), np.nan)])
def test_bad_patterns(patterns):
    with pytest.raises(ValueError, match="patterns"):
        ps.hebbian(patterns)


def test_zero_patterns_requested():
    with pytest.raises(ValueError, match="n_patterns"):
        ps.random_patterns(KEY, 0, 10)


@pytest.mark.parametrize("J", [np.array([[0, 1.0], [2.0, 0]]), np.ones((2, 3)),
                               np.array([[0, np.nan], [np.nan, 0]])])
def test_bad_couplings(J):
    with pytest.raises(ValueError, match="J"):
        ps.DenseIsing(J)


def test_bad_field_shape():
    with pytest.raises(ValueError, match="h"):
        ps.DenseIsing(np.zeros((3, 3)), h=np.ones(4))


def test_negative_sleep_time():
    with pytest.raises(ValueError, match="sleep_time"):
        ps.dreaming(XI, -1.0)


@pytest.mark.parametrize("quality", [0.0, 1.5])
def test_bad_example_quality(quality):
    with pytest.raises(ValueError, match="quality"):
        ps.noisy_examples(KEY, XI, 5, quality)
    with pytest.raises(ValueError, match="quality"):
        ps.supervised_hebbian(ps.noisy_examples(KEY, XI, 5, 0.5), quality)


def test_temperatures():
    model = ps.hebbian(XI)
    with pytest.raises(ValueError, match="temperature"):
        ps.init_dense(KEY, model, -0.5)
    st = ps.init_dense(KEY, model, 0.0)  # allowed: zero-temperature dynamics
    with pytest.raises(ValueError, match="temperatures > 0"):
        ps.run_dense(KEY, model, st, 2, rule="heat_bath")
    ps.run_dense(KEY, model, st, 2, rule="zero_temperature")


@pytest.mark.parametrize("ladder,match", [([], "non-empty"), ([1.0, 0.5], "increasing"),
                                          ([0.0, 1.0], "> 0"), ([1.0, np.nan], "finite")])
def test_bad_temperature_ladder(ladder, match):
    with pytest.raises(ValueError, match=match):
        ps.parallel_tempering(KEY, ps.hebbian(XI), ladder, 2)


def test_mismatched_replicas_and_temperatures():
    model = ps.hebbian(XI)
    states = jax.vmap(lambda k: ps.init_dense(k, model, 1.0))(jax.random.split(KEY, 3))
    with pytest.raises(ValueError, match="temperatures"):
        ps.parallel_tempering(KEY, model, [0.5, 1.0], 2, states=states)


def test_spins_and_run_arguments():
    model = ps.hebbian(XI)
    with pytest.raises(ValueError, match="spins"):
        ps.init_dense(KEY, model, 1.0, spins=jnp.zeros(20))
    with pytest.raises(ValueError, match="spins"):
        ps.init_dense(KEY, model, 1.0, spins=jnp.ones(21))
    st = ps.init_dense(KEY, model, 1.0)
    with pytest.raises(ValueError, match="rule"):
        ps.run_dense(KEY, model, st, 2, rule="glauber")
    with pytest.raises(ValueError, match="order"):
        ps.run_dense(KEY, model, st, 2, order="backwards")
    with pytest.raises(ValueError, match="record_every"):
        ps.run_dense(KEY, model, st, 3, record_every=2)
    with pytest.raises(TypeError, match="model"):
        ps.run_dense(KEY, XI, st, 2)
    with pytest.raises(ValueError, match="dynamics"):
        ps.relax(KEY, model, XI[0], dynamics="parallel")
    with pytest.raises(ValueError, match="fraction"):
        ps.corrupt(KEY, XI[0], 1.5)


# ------------------------------------------------------- the kernel (DenseSingleSpin)

def test_kernel_configuration_is_checked():
    for kwargs, name in [({"rule": "glauber"}, "rule"), ({"order": "backwards"}, "order"),
                         ({"block": 0}, "block")]:
        with pytest.raises(ValueError, match=name):
            DenseSingleSpin(**kwargs)
    with pytest.raises(TypeError, match="temperature"):
        DenseSingleSpin("heat_bath").init(KEY, ps.hebbian(XI))


def test_state_of_another_model_is_refused():
    """Another size, another number of patterns (field cache), another dtype, a batch of
    replicas: each names the state, in the step (trace time) and in a run."""
    model = ps.hebbian(XI)
    kernel = DenseSingleSpin()
    st = ps.init_dense(KEY, model, 1.0)
    other_size = ps.init_dense(KEY, ps.hebbian(ps.random_patterns(KEY, 3, 21)), 1.0)
    other_k = ps.init_dense(KEY, ps.hebbian(ps.random_patterns(KEY, 4, 20)), 1.0)
    batch = jax.vmap(lambda k: ps.init_dense(k, model, 1.0))(jax.random.split(KEY, 2))
    for bad in (other_size, other_k, batch):
        with pytest.raises(ValueError, match="state"):
            kernel.step(KEY, model, bad)
        with pytest.raises(ValueError, match="state"):
            run(kernel, KEY, model, bad, 2)
        with pytest.raises(ValueError, match="state"):
            ps.run_dense(KEY, model, bad, 2)
    with jax.enable_x64(True):
        wide = st._replace(spins=st.spins.astype(jnp.float64))
        with pytest.raises(TypeError, match="state"):
            kernel.step(KEY, model, wide)
        with pytest.raises(TypeError, match="state"):
            ps.run_dense(KEY, model, wide, 2)
    with pytest.raises(TypeError, match="state"):
        ps.run_dense(KEY, model, (st.spins, st.cache, st.beta), 2)


@pytest.mark.parametrize("beta", [np.nan, -1.0])
def test_nan_or_negative_temperature_is_refused(beta):
    model = ps.sherrington_kirkpatrick(KEY, 8)
    st = ps.init_dense(KEY, model, 1.0)
    bad = st._replace(beta=jnp.asarray(beta, st.beta.dtype))
    for rule in typing.get_args(ps.DenseRule):
        with pytest.raises(ValueError, match="temperature"):
            ps.run_dense(KEY, model, bad, 2, rule=rule)
    # traced (under jit): an equinox error naming the temperature when the program runs
    f = jax.jit(lambda b: ps.run_dense(KEY, model, st._replace(beta=b), 2)[1].energy)
    with pytest.raises(Exception, match="temperature"):
        jax.block_until_ready(f(jnp.asarray(beta, st.beta.dtype)))
    g = jax.jit(lambda t: ps.init_dense(KEY, model, t).beta)
    with pytest.raises(Exception, match="temperature"):
        jax.block_until_ready(g(jnp.asarray(1.0 / beta)))
    np.testing.assert_allclose(f(jnp.asarray(1.0)).shape, (2,))  # a valid traced value runs


def test_zero_temperature_traced_needs_the_zero_temperature_rule():
    model = ps.sherrington_kirkpatrick(KEY, 8)
    st = ps.init_dense(KEY, model, 1.0)
    f = jax.jit(lambda b: ps.run_dense(KEY, model, st._replace(beta=b), 2,
                                       rule="metropolis")[1].energy)
    with pytest.raises(Exception, match="temperatures > 0"):
        jax.block_until_ready(f(jnp.asarray(np.inf, st.beta.dtype)))


def test_non_finite_traced_couplings_are_refused():
    model = ps.sherrington_kirkpatrick(KEY, 8)
    st = ps.init_dense(KEY, model, 1.0)
    f = jax.jit(lambda g: ps.run_dense(KEY, eqx.tree_at(lambda m: m.J, model, g * model.J),
                                       st, 2)[1].energy)
    with pytest.raises(Exception, match="model.J"):
        jax.block_until_ready(f(jnp.asarray(np.nan)))
