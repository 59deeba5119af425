"""Bad input to the dense-spin / Hopfield API raises errors that name the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.spins as ps

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
