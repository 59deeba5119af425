"""Input validation shared by all public functions.

Every check runs on concrete (non-traced) values before tracing and raises a
``ValueError`` or ``TypeError`` whose message names the argument, what was wrong
and what is expected.  Traced values are passed through unchanged so that the
public functions stay usable under ``jax.jit``/``jax.vmap``; where a check on a
traced value matters, the caller uses ``equinox.error_if``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal, get_args, get_origin

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds a value (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def _concrete_array(x):
    return np.asarray(x) if is_concrete(x) else None


def as_float_array(x):
    """``x`` as a jax array, cast to the default floating dtype unless it is floating
    already (no check; tracers pass)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def device_array(x, dtype=None) -> jax.Array:
    """``x`` as a jax array of ``dtype`` (default: its own dtype, canonicalized).  Host data
    (NumPy arrays, Python numbers) is cast on the host and moved by ``jax.device_put``:
    ``jnp.asarray`` of host data compiles a small program per shape and dtype the first time
    (JAX 0.10: ``stage`` or ``convert_element_type``), 10-50 ms each in a fresh process.  Jax
    arrays and tracers (also ``jax.Array``) go through ``jnp.asarray``."""
    if isinstance(x, jax.Array):
        return jnp.asarray(x, dtype)
    a = np.asarray(x)
    return jax.device_put(a.astype(jax.dtypes.canonicalize_dtype(a.dtype if dtype is None
                                                                 else dtype), copy=False))


def check_instance(value, name: str, types: tuple, what: str | None = None) -> None:
    """``TypeError`` naming ``name`` unless ``value`` is an instance of one of ``types``
    (``what`` describes them in the message; default: the class names)."""
    if not isinstance(value, types):
        want = what or " or ".join(t.__name__ for t in types)
        raise TypeError(f"{name} must be a {want}, got {type(value).__name__}")


def check_square_symmetric(M, name: str, *, axes: str = "N, N", symbol: str = "J",
                           allow_empty: bool = True):
    """``M`` as a square matrix, symmetric to 1e-6 of its largest entry when concrete
    (``ValueError`` naming ``name`` otherwise); a traced matrix is passed through."""
    if M.ndim != 2 or M.shape[0] != M.shape[1] or (not allow_empty and M.shape[0] == 0):
        raise ValueError(f"{name} must be a square ({axes}) matrix, got shape {M.shape}")
    if is_concrete(M):
        Mn = np.asarray(M)
        tol = 1e-6 * max(1.0, float(np.abs(Mn).max())) if Mn.size else 0.0
        if not np.allclose(Mn, Mn.T, atol=tol, rtol=0):
            raise ValueError(f"{name} must be symmetric; max |{symbol} - {symbol}^T| = "
                             f"{np.abs(Mn - Mn.T).max():.3g}")
    return M


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as ``int``; it must be an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} "
                        f"of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_sizes(sizes, name: str, what: str) -> tuple[int, ...]:
    """``sizes`` (an iterable of system sizes, each an int >= 2) sorted into a tuple;
    ``ValueError`` naming ``name`` if one is bad or there is none (``what`` names one size,
    e.g. "lattice side L")."""
    out = tuple(sorted(check_positive_int(n, name, minimum=2) for n in sizes))
    if not out:
        raise ValueError(f"{name} must name at least one {what}")
    return out


def check_finite(x, name: str):
    """Reject NaN or infinite entries in a concrete array (tracers pass through)."""
    a = _concrete_array(x)
    if a is not None:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
        if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got NaN or infinite entries")
    return x


def check_positive(x, name: str):
    """Reject non-positive (or non-finite) entries in a concrete array."""
    check_finite(x, name)
    a = _concrete_array(x)
    if a is not None and not np.all(a > 0):
        raise ValueError(f"{name} must be > 0 everywhere, got min {a.min()!r}")
    return x


def check_sample_matrix(data, name: str, *, columns: str = "dim"):
    """A data set of shape (n_samples, ``columns``) with at least one row and a real
    numeric (or bool) dtype: ``TypeError``/``ValueError`` naming ``name``.  Returns it as an
    array (a tracer unchanged); the caller checks the width, whose wording is its own."""
    if not hasattr(data, "shape") or not hasattr(data, "dtype"):
        data = np.asarray(data)
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_) \
            or np.issubdtype(data.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a real numeric array, got dtype {data.dtype}")
    if data.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, {columns}), got shape "
                         f"{tuple(data.shape)}")
    if data.shape[0] == 0:
        raise ValueError(f"{name} holds n = 0 samples (shape {tuple(data.shape)}); expected "
                         "at least one row")
    return data


def check_temperature(temperature, name: str = "temperature"):
    """Temperatures must be finite and strictly positive."""
    return check_positive(temperature, name)


def check_spins(spins, name: str = "spins"):
    """Spins must be +-1 (any integer or float dtype)."""
    a = _concrete_array(spins)
    if a is not None:
        if not np.all((a == 1) | (a == -1)):
            bad = a[(a != 1) & (a != -1)].ravel()[:3]
            raise ValueError(f"{name} must contain only +1 and -1, found e.g. {bad.tolist()}")
    return spins


def check_shape(shape: Sequence[int], name: str = "shape", *, dims=(2, 3),
                even: bool = False, minimum: int = 2) -> tuple[int, ...]:
    """A lattice shape: a tuple of ``len in dims`` integer sides >= ``minimum``."""
    if isinstance(shape, numbers.Integral):
        raise TypeError(f"{name} must be a tuple of side lengths such as (16, 16), "
                        f"got the integer {shape}")
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of side lengths, got {shape!r}") from None
    if len(shape) not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, "
                         f"got {len(shape)} in {shape}")
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral | np.integer):
            raise TypeError(f"{name} sides must be integers, got {shape!r}")
        if s < minimum:
            raise ValueError(f"{name} sides must be >= {minimum}, got {shape}")
        if even and s % 2:
            raise ValueError(f"{name} sides must be even (checkerboard updates on a periodic "
                             f"lattice need an even side), got {shape}")
    return tuple(int(s) for s in shape)


def check_choice(value, name: str, choices: Any) -> str | None:
    """``value`` if it is one of ``choices`` -- a ``typing.Literal`` alias of the rule names
    (the convention for public options, docs/ARCHITECTURE.md) or a sequence; ``None`` where
    it is an option -- else a ``ValueError`` naming ``name``."""
    if get_origin(choices) is Literal:
        choices = get_args(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_time_series(x, name: str, *, axis: int = -1, min_length: int = 2) -> int:
    """A Monte Carlo time series: a real numeric array whose axis ``axis`` (the time axis)
    holds at least ``min_length`` finite samples.  Returns ``axis`` made non-negative.

    Shape and dtype are checked for tracers too; finiteness only on concrete values.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got complex dtype {x.dtype}")
    ndim = len(x.shape)
    if ndim == 0:
        raise ValueError(f"{name} must be an array with a time axis, got a scalar")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral | np.integer):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis must be in [{-ndim}, {ndim - 1}] for {name} of shape "
                         f"{tuple(x.shape)}, got {axis}")
    axis = int(axis) % ndim
    n = x.shape[axis]
    if n == 0:
        raise ValueError(f"{name} is empty along its time axis (axis {axis}); "
                         f"expected at least {min_length} samples")
    if n < min_length:
        raise ValueError(f"{name} has {n} samples along its time axis (axis {axis}); "
                         f"expected at least {min_length}")
    check_finite(x, name)
    return axis


def check_nonnegative(x, name: str):
    """Reject negative (or non-finite) entries in a concrete array; zero is allowed."""
    check_finite(x, name)
    a = _concrete_array(x)
    if a is not None and not np.all(a >= 0):
        raise ValueError(f"{name} must be >= 0 everywhere, got min {a.min()!r}")
    return x


def check_step_schedule(steps, name: str = "record_steps") -> np.ndarray:
    """A static schedule of step indices: a concrete, non-empty 1-D array of integers
    ``>= 0`` in strictly increasing order.  Returns it as ``np.int64``."""
    if not is_concrete(steps):
        raise TypeError(f"{name} must be a concrete (static) array of step indices, "
                        f"got a traced value")
    a = np.asarray(steps)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of step indices, "
                         f"got shape {a.shape}")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        if np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) \
                and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer step indices, got dtype {a.dtype}")
    if np.any(a < 0):
        raise ValueError(f"{name} must be >= 0, got min {a.min()}")
    if np.any(np.diff(a) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {a[:8].tolist()}...")
    return a.astype(np.int64)


def check_key(key, name: str = "key", *, traced: bool = False):
    """A single concrete ``jax.random`` key: a typed key (``jax.random.key(seed)``) of shape
    ``()`` or a raw ``uint32`` key (``jax.random.PRNGKey(seed)``).  Returns it as an array.
    With ``traced=True`` a traced key is accepted too (its dtype and shape are checked)."""
    if not is_concrete(key) and not traced:
        raise TypeError(f"{name} must be a concrete PRNG key, got a traced value "
                        f"(this function runs on the host, outside jit/vmap)")
    if isinstance(key, bool | numbers.Number | str) or key is None:
        raise TypeError(f"{name} must be a PRNG key (jax.random.key(seed)), got "
                        f"{type(key).__name__} {key!r}")
    try:
        key = jnp.asarray(key)
    except TypeError:
        raise TypeError(f"{name} must be a PRNG key (jax.random.key(seed)), "
                        f"got {type(key).__name__}") from None
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name} must be a single PRNG key, got a key array of shape "
                             f"{key.shape}")
    elif key.dtype != np.uint32 or key.ndim != 1:
        raise TypeError(f"{name} must be a PRNG key (jax.random.key(seed) or "
                        f"jax.random.PRNGKey(seed)), got dtype {key.dtype} shape {key.shape}")
    return key


def check_edge_array(edges, n_nodes: int, name: str = "edges") -> jax.Array:
    """Edges of a simple graph on ``n_nodes`` nodes: shape (n_edges, 2), integer, indices in
    range, no self loops, no duplicates in either orientation.  Returns an int32 jax array
    (tracers: shape and dtype checks only)."""
    if not is_concrete(edges):
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(f"{name} must have shape (n_edges, 2), got {edges.shape}")
        if not jnp.issubdtype(edges.dtype, jnp.integer):
            raise TypeError(f"{name} must hold integer node indices, got dtype {edges.dtype}")
        return edges.astype(jnp.int32)
    e = np.asarray(edges)
    if e.size == 0 and e.ndim <= 2:
        e = np.zeros((0, 2), np.int64)
    if e.dtype == np.bool_ or not np.issubdtype(e.dtype, np.integer):
        raise TypeError(f"{name} must hold integer node indices, got dtype {e.dtype}")
    if e.ndim != 2 or e.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n_edges, 2), got {e.shape}")
    bad = np.flatnonzero(((e < 0) | (e >= n_nodes)).any(axis=1))
    if bad.size:
        raise ValueError(f"{name} must hold node indices in [0, {n_nodes - 1}] "
                         f"(n_nodes={n_nodes}); edge {bad[0]} is {e[bad[0]].tolist()}")
    loops = np.flatnonzero(e[:, 0] == e[:, 1])
    if loops.size:
        raise ValueError(f"{name} must not contain self loops; edge {loops[0]} is "
                         f"{e[loops[0]].tolist()}")
    canon = np.sort(e, axis=1)
    _, first, counts = np.unique(canon, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        dup = canon[first[np.argmax(counts > 1)]]
        rows = np.flatnonzero((canon == dup).all(axis=1))
        raise ValueError(f"{name} must not contain duplicate edges (in either orientation); "
                         f"edges {rows.tolist()} all join nodes {dup.tolist()}")
    return device_array(e, jnp.int32)


def check_positions(positions, n_nodes: int, name: str = "positions"):
    """None, or finite real node coordinates of shape (n_nodes, dim) as a float jax array."""
    if positions is None:
        return None
    if is_concrete(positions):
        p = np.asarray(positions)
        if not np.issubdtype(p.dtype, np.number) or np.issubdtype(p.dtype, np.complexfloating):
            raise TypeError(f"{name} must be a real numeric array, got dtype {p.dtype}")
        check_finite(p, name)
        positions = p
    if positions.ndim != 2 or positions.shape[0] != n_nodes:
        raise ValueError(f"{name} must have shape (n_nodes, dim) = ({n_nodes}, dim), "
                         f"got {positions.shape}")
    inexact = jnp.issubdtype(positions.dtype, jnp.floating)
    return device_array(positions, None if inexact else float)
