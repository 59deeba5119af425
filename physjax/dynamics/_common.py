"""Checks and small helpers shared by the dynamics modules (integrators, runs, SGD
dynamics) and :mod:`physjax.datasets`: hyperparameters as traced scalars, activations,
pytree layouts, per-replica keys."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._array_types import ArrayLike, Real, Scalar
from physjax._checks import as_float_array, check_nonnegative, check_positive, is_concrete

#: A static schedule of step indices (``record_steps``): a 1-D array or a list of
#: integers (integral floats are accepted), ``t`` of them.
Steps = Real[ArrayLike, " t"] | Sequence[Scalar]


def check_scalar(x, name):
    if np.ndim(x) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(x)}; "
                         f"vmap over replicas for per-replica values")


def check_activation(activation):
    if not callable(activation):
        raise TypeError(f"activation must be a callable such as jax.nn.relu, got "
                        f"{type(activation).__name__}")
    return activation


def hyperparameter(value, name: str, *, positive: bool) -> Array:
    """``value`` as a scalar floating JAX array (a traced value passes unchanged), checked
    when concrete: finite and > 0 (``positive``) or >= 0.  A Python float would be a static
    leaf of the model (one compilation per value); an array is traced."""
    (check_positive if positive else check_nonnegative)(value, name)
    check_scalar(value, name)
    return as_float_array(value)


def guard_hyperparameter(value, name: str, *, positive: bool):
    """Check a hyperparameter once per run: ``ValueError`` naming it when concrete, an
    ``equinox.error_if`` guard (raised when the compiled program runs) when traced."""
    if is_concrete(value):
        hyperparameter(value, name, positive=positive)
        return value
    bad = ~jnp.isfinite(value) | ~((value > 0) if positive else (value >= 0))
    return eqx.error_if(value, bad, f"{name} must be finite and {'> 0' if positive else '>= 0'}")


def same_layout(a, b, dtypes=False):
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if np.shape(x) != np.shape(y) or (dtypes and jnp.result_type(x) != jnp.result_type(y)):
            return False
    return True


def replica_keys(key, n):
    return jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(n))
