"""Internals shared by the modules of :mod:`physjax.diffusion` (not public): argument checks
of schedules, times, time grids and data; the unchecked exact forward transition; the marker
base of run-loop observers."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import as_float_array, check_finite, check_positive, is_concrete


def positive_scalar(value, name: str) -> Array:
    """A positive finite scalar hyperparameter as a floating array (tracers pass)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise TypeError(f"{name} must be a positive real number, got {value!r}")
    check_positive(value, name)
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
    return as_float_array(value)


def check_real(x, name: str, what: str):
    """``TypeError`` naming ``name`` ("must be ``what``") for a bool, None or string, or for
    a concrete value whose dtype is neither integer nor floating.  Returns the concrete value
    as a numpy array, ``None`` for a tracer."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        raise TypeError(f"{name} must be {what}, got {x!r}")
    if not is_concrete(x):
        return None
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be {what}, got dtype {a.dtype}")
    return a


def check_schedule(schedule, name: str = "schedule"):
    from physjax.diffusion.schedules import Schedule  # (schedules imports this module)

    if not isinstance(schedule, Schedule):
        raise TypeError(f"{name} must be a physjax.diffusion schedule (OU, VP or VE), got "
                        f"{type(schedule).__name__}")
    return schedule


def check_time(t, schedule, name: str = "t", *, allow_zero: bool = False):
    """A time (scalar or array) in (0, T] (``[0, T]`` with ``allow_zero``), checked when
    concrete; returned as a floating array."""
    a = check_real(t, name, "a real time in (0, T]")
    if a is not None:
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got {a!r}")
        T = float(schedule.T) if is_concrete(schedule.T) else np.inf
        low_ok = np.all(a >= 0) if allow_zero else np.all(a > 0)
        if not low_ok or np.any(a > T * (1 + 1e-6)):
            interval = "[0, T]" if allow_zero else "(0, T]"
            raise ValueError(f"{name} must lie in {interval} = {interval[0]}0, {T:g}], got "
                             f"min {a.min()!r}, max {a.max()!r}")
    return as_float_array(t)


def check_time_grid(times, schedule, name: str = "times") -> Array:
    """A concrete 1-D grid of at least two times, strictly decreasing, in (0, T]."""
    if not is_concrete(times):
        if jnp.ndim(times) != 1 or times.shape[0] < 2:
            raise ValueError(f"{name} must be a 1-D grid of at least 2 times, got shape "
                             f"{jnp.shape(times)}")
        return times
    a = np.asarray(times)
    if a.ndim != 1 or a.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D grid of at least 2 times (from the start "
                         f"time down to the end time), got shape {a.shape}")
    if not np.all(np.diff(a) < 0):
        raise ValueError(f"{name} must be strictly decreasing (the backward process runs "
                         f"from T towards 0), got {a[:6].tolist()}...")
    check_time(a, schedule, name)
    return jnp.asarray(a, dtype=jnp.result_type(float))


def check_data(x, name: str, *, min_ndim: int = 1) -> Array:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real array, got dtype {x.dtype}")
    if jnp.ndim(x) < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape "
                         f"{jnp.shape(x)}")
    check_finite(x, name)
    return as_float_array(x)


@eqx.filter_jit
def transition(key, schedule, x0, t):
    t = jnp.asarray(t, x0.dtype)
    a = schedule.mean_scale(t)
    var = schedule.variance(t)
    z = jax.random.normal(key, x0.shape, x0.dtype)
    return a * x0 + jnp.sqrt(var) * z


class KernelObserver:
    """Marker base of observers written against the run loop's ``(model, state, info)``
    signature (used inside the package, e.g. by :func:`physjax.diffusion.collapse_curve`)."""
