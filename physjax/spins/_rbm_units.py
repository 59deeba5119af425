"""The unit algebra of restricted Boltzmann machines, shared by :mod:`~physjax.spins.rbm`,
:mod:`~physjax.spins.rbm_training` and :mod:`~physjax.spins.ais`: per-unit log partition
sums, conditional means and samples for binary (0/1), spin (+-1) and Gaussian units, and the
unchecked visible free energy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from physjax import _counter_rng
from physjax._array_types import Array, Float, Key, PyTree

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def log_sum_unit(a: Float[Array, "*shape"], units: str) -> Float[Array, "*shape"]:
    r""":math:`\log\sum_s e^{a s}` over the values s of one unit (elementwise)."""
    if units == "binary":
        return jax.nn.softplus(a)
    if units == "spin":
        return jnp.logaddexp(a, -a)
    return 0.5 * a * a + HALF_LOG_2PI


def visible_free_energy(rbm: PyTree, v: Float[Array, "*batch n_visible"]
                        ) -> Float[Array, "*batch"]:
    """:math:`F(v)` without checks (see :func:`physjax.spins.free_energy`); ``rbm`` is an
    :class:`~physjax.spins.RBM` (not imported here: that module imports this one)."""
    a = v @ rbm.weights + rbm.hidden_bias
    return -(v @ rbm.visible_bias) - jnp.sum(log_sum_unit(a, rbm.hidden), axis=-1)


def unit_mean(a: Float[Array, "*shape"], units: str) -> Float[Array, "*shape"]:
    if units == "binary":
        return jax.nn.sigmoid(a)
    if units == "spin":
        return jnp.tanh(a)
    return a


def sample_units(key: Key, a: Float[Array, "*shape"], units: str) -> Float[Array, "*shape"]:
    if units == "gaussian":
        return a + jax.random.normal(key, a.shape, a.dtype)
    u = _counter_rng.uniform(key, a.shape, a.dtype)  # counter-based: 6x cheaper than Threefry
    if units == "binary":
        return (u < jax.nn.sigmoid(a)).astype(a.dtype)
    return jnp.where(u < jax.nn.sigmoid(2 * a), 1.0, -1.0).astype(a.dtype)
