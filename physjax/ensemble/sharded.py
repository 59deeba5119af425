"""The sharded sweep: ``fn(key, params)`` over a grid x replicas, chunked and resumable.

:func:`sweep` cuts the ``G * R`` pairs into chunks, evaluates each as one
``jax.jit(jax.vmap(fn))`` call sharded over a 1-D mesh of devices, and (with ``out_dir``)
checkpoints them through :mod:`physjax.ensemble._checkpoint`.  See :mod:`physjax.ensemble`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from physjax._array_types import Key, PyTree
from physjax._checks import check_key, check_positive_int
from physjax.ensemble._checkpoint import (
    _FORMAT,
    _check_tag,
    _chunk_path,
    _function_name,
    _grid_fingerprint,
    _load_chunk,
    _lock_out_dir,
    _prepare_out_dir,
    _save_chunk,
    _tree_spec,
)
from physjax.ensemble.grids import check_grid

__all__ = ["DEFAULT_MAX_CHUNK", "MESH_AXIS", "SweepResult", "sweep"]

MESH_AXIS = "ensemble"
DEFAULT_MAX_CHUNK = 2**16


class SweepResult(NamedTuple):
    """What :func:`sweep` returns.

    Attributes:
        values: the pytree returned by ``fn`` with two leading axes ``(G, R)`` (numpy).
        grid: the grid as evaluated: numpy leaves with leading axis ``G``, in the dtypes
            JAX computed with.
        n_replicas: ``R``.
        chunk_size: number of ``(g, r)`` pairs per chunk (after capping at ``G * R``).
        chunks_loaded: indices of chunks read from ``out_dir``.
        chunks_computed: indices of chunks evaluated by this call.
    """

    values: PyTree
    grid: PyTree
    n_replicas: int
    chunk_size: int
    chunks_loaded: tuple[int, ...]
    chunks_computed: tuple[int, ...]


# ----------------------------------------------------------------------------- validation


def _check_key(key):
    key = check_key(key, "key")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key, {"impl": str(jax.random.key_impl(key)),
                     "data": np.asarray(jax.random.key_data(key)).tolist()}
    return key, {"impl": "raw uint32", "data": np.asarray(key).tolist()}


def _check_devices(devices) -> list:
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices must be a non-empty sequence of jax devices")
    for d in devices:
        if not isinstance(d, jax.Device):
            raise TypeError(f"devices must contain jax.Device objects, got {d!r}")
    return devices


# ----------------------------------------------------------------------------- sweep


def _global_array(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """Place a host array (identical on every process) as a global array."""
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _to_host(tree) -> list[np.ndarray]:
    leaves = jax.tree.leaves(tree)
    if all(x.is_fully_addressable for x in leaves):
        return [np.asarray(x) for x in jax.device_get(leaves)]
    from jax.experimental import multihost_utils

    return [np.asarray(multihost_utils.process_allgather(x, tiled=True)) for x in leaves]


class _ByIdentity(NamedTuple):
    """Hashable by identity: any callable (an equinox Module with array fields too) can be
    a static argument, and a second sweep of the same ``fn`` reuses its compilation."""

    fn: Callable

    def __hash__(self):
        return id(self.fn)

    def __eq__(self, other):
        return isinstance(other, _ByIdentity) and other.fn is self.fn


@functools.partial(jax.jit, static_argnames=("fn", "impl", "sharding"))
def _evaluate_chunk(key_data, grid, g, r, *, fn, impl, sharding):
    """``vmap(fn)`` over the pairs ``(g[i], r[i])`` of one chunk, batch axis sharded."""
    key = key_data if impl is None else jax.random.wrap_key_data(key_data, impl=impl)
    keys = jax.vmap(lambda g, r: jax.random.fold_in(jax.random.fold_in(key, g), r))(g, r)
    params = jax.tree.map(lambda a: a[g], grid)
    return jax.lax.with_sharding_constraint(jax.vmap(fn.fn)(keys, params), sharding)


def sweep(fn: Callable[[Key, PyTree], PyTree], key: Key, grid: PyTree,
          n_replicas: int, *, chunk_size: int | None = None,
          out_dir: str | os.PathLike | None = None, progress: bool = True,
          tag: Any = None, devices: Sequence[jax.Device] | None = None,
          on_chunk: Callable[[int, bool], None] | None = None) -> SweepResult:
    """Evaluate ``fn`` over every grid point and replica, sharded over devices.

    ``values[g, r] = fn(fold_in(fold_in(key, g), r), params_g)`` where ``params_g`` is the
    ``g``-th slice of every leaf of ``grid``.

    Args:
        fn: pure, jit-compatible ``fn(key, params) -> pytree of arrays`` for one replica at
            one grid point.  Its ``__qualname__`` is recorded in the manifest.
        key: a PRNG key (``jax.random.key`` or legacy ``jax.random.PRNGKey``).
        grid: pytree whose leaves share a leading axis ``G`` (e.g.
            ``{'temperature': jnp.linspace(1, 3, 8)}``), or a
            :class:`~physjax.ensemble.grids.ProductGrid` (its ``points`` are swept; reshape
            results with :func:`~physjax.ensemble.grids.unflatten_grid`).
        n_replicas: ``R >= 1`` replicas per grid point.
        chunk_size: ``(g, r)`` pairs per chunk; the unit of device work, of the progress
            bar and of checkpointing.  Default: the whole sweep, at most
            ``DEFAULT_MAX_CHUNK = 65536`` pairs; values above ``G * R`` are capped there.
            Each chunk is padded to a multiple of the device count (and the last one to
            the full size, so ``fn`` compiles once); padding is dropped.
        out_dir: directory for ``manifest.json`` and one ``chunk-NNNNNN.npz`` (with its
            checksum file ``chunk-NNNNNN.npz.sha256``) per finished chunk; an existing
            directory of the same sweep is resumed (chunks that fail verification are
            recomputed, with a warning), one of another sweep is refused.  Locked by
            ``sweep.lock`` while the sweep runs: a second writer gets a ``RuntimeError``.
        progress: show a tqdm bar advancing per chunk (process 0 only).
        tag: JSON-serializable label stored in and checked against the manifest; put
            here whatever ``fn`` closes over (sizes, number of steps, ...).
        devices: devices of the 1-D mesh; default :func:`jax.devices` (all hosts).
        on_chunk: called as ``on_chunk(chunk_index, loaded)`` once per chunk, after it was
            loaded from ``out_dir`` (``loaded=True``) or computed and, with ``out_dir``,
            written (``loaded=False``).

    Returns:
        a :class:`SweepResult`; ``values`` has leading axes ``(G, R)``.

    Replicas and grid points are independent: reductions inside ``fn`` must act on
    per-replica quantities only.  Results are bit-identical across chunk sizes, device
    counts and resumption as long as XLA compiles ``fn`` to the same per-element code
    (true for the CPU backend in the test suite; batch-size dependent kernel choices of
    a backend could in principle change the last bits of reductions).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(key, params), got {fn!r}")
    key, key_record = _check_key(key)
    grid, n_grid = check_grid(grid)
    n_replicas = check_positive_int(n_replicas, "n_replicas")
    if chunk_size is not None:
        chunk_size = check_positive_int(chunk_size, "chunk_size")
    tag = _check_tag(tag)
    devices = _check_devices(devices)
    if on_chunk is not None and not callable(on_chunk):
        raise TypeError(f"on_chunk must be callable as on_chunk(chunk_index, loaded), "
                        f"got {on_chunk!r}")

    n_total = n_grid * n_replicas
    chunk_size = min(chunk_size or DEFAULT_MAX_CHUNK, n_total)
    n_chunks = -(-n_total // chunk_size)
    n_dev = len(devices)
    padded = -(-chunk_size // n_dev) * n_dev

    # Output structure from tracing one replica (no computation).
    params0 = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), grid)
    out_shape = jax.eval_shape(fn, key, params0)
    out_leaves, out_treedef = jax.tree.flatten(out_shape)
    for x in out_leaves:
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            raise TypeError("fn must return numeric arrays; it returned a PRNG key array "
                            "(return jax.random.key_data(k) instead)")
    spec = [(tuple(x.shape), np.dtype(x.dtype)) for x in out_leaves]

    writer = jax.process_index() == 0
    buffers = [np.empty((n_total, *shape), dtype) for shape, dtype in spec]
    finished = np.zeros(n_chunks, dtype=bool)
    loaded, computed = [], []

    def bounds(c):
        return c * chunk_size, min((c + 1) * chunk_size, n_total)

    def store(c, leaves):
        lo, hi = bounds(c)
        for buf, x in zip(buffers, leaves, strict=True):
            buf[lo:hi] = x

    with contextlib.ExitStack() as stack:  # holds the lock of out_dir until the sweep ends
        if out_dir is not None:
            out_dir = os.fspath(out_dir)
            if os.path.exists(out_dir) and not os.path.isdir(out_dir):
                raise ValueError(f"out_dir {out_dir!r} exists and is not a directory")
            manifest = {
                "format": _FORMAT, "function": _function_name(fn), "tag": tag,
                "grid": {"fingerprint": _grid_fingerprint(grid), "size": n_grid,
                         "structure": _tree_spec(grid)},
                "n_replicas": n_replicas, "key": key_record, "chunk_size": chunk_size,
                "n_chunks": n_chunks, "result": _tree_spec(out_shape),
            }
            _lock_out_dir(out_dir, writer, stack)
            _prepare_out_dir(out_dir, manifest, writer)
            if writer:  # verify every chunk on disk; one that fails is recomputed
                for c in range(n_chunks):
                    path = _chunk_path(out_dir, c)
                    if not os.path.exists(path):
                        continue
                    lo, hi = bounds(c)
                    try:
                        store(c, _load_chunk(path, spec, hi - lo))
                    except ValueError as err:
                        warnings.warn(f"sweep: chunk file {path!r} {err}; not using it, "
                                      "recomputing it", stacklevel=2)
                    else:
                        finished[c] = True
            if jax.process_count() > 1:
                from jax.experimental import multihost_utils

                finished = np.asarray(multihost_utils.broadcast_one_to_all(finished),
                                      dtype=bool)

        from tqdm.auto import tqdm

        with tqdm(total=n_chunks, disable=not progress or not writer, unit="chunk",
                  desc=f"sweep {_function_name(fn)}") as bar:
            for c in np.flatnonzero(finished):
                c = int(c)
                if not writer:  # process 0 verified the chunk; read (and verify) it here
                    lo, hi = bounds(c)
                    path = _chunk_path(out_dir, c)
                    try:
                        store(c, _load_chunk(path, spec, hi - lo))
                    except ValueError as err:
                        raise ValueError(
                            f"out_dir: chunk file {path!r} {err} on process "
                            f"{jax.process_index()}, although process 0 verified it; out_dir "
                            "must be on a file system that all processes see alike") from None
                loaded.append(c)
                bar.update(1)
                if on_chunk is not None:
                    on_chunk(c, True)

            missing = [int(c) for c in np.flatnonzero(~finished)]
            if missing:
                mesh = Mesh(np.asarray(devices), (MESH_AXIS,))
                sharded = NamedSharding(mesh, PartitionSpec(MESH_AXIS))
                replicated = NamedSharding(mesh, PartitionSpec())
                typed_key = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
                impl = jax.random.key_impl(key) if typed_key else None
                key_data = np.asarray(jax.random.key_data(key) if typed_key else key)
                program = functools.partial(_evaluate_chunk, fn=_ByIdentity(fn), impl=impl,
                                            sharding=sharded)
                key_arg = _global_array(key_data, replicated)
                grid_arg = jax.tree.map(lambda a: _global_array(a, replicated), grid)

                def finish(c, out):
                    lo, hi = bounds(c)
                    leaves = [x[: hi - lo] for x in _to_host(out)]
                    if out_dir is not None and writer:
                        _save_chunk(_chunk_path(out_dir, c), leaves)
                    store(c, leaves)
                    computed.append(c)
                    bar.update(1)
                    if on_chunk is not None:
                        on_chunk(c, False)

                pending = None
                for c in missing:  # dispatch chunk c before fetching c-1: overlap
                    lo, hi = bounds(c)
                    flat = np.zeros(padded, dtype=np.int64)  # padding evaluates pair (0, 0)
                    flat[: hi - lo] = np.arange(lo, hi)
                    g = _global_array((flat // n_replicas).astype(np.int32), sharded)
                    r = _global_array((flat % n_replicas).astype(np.int32), sharded)
                    out = program(key_arg, grid_arg, g, r)
                    if pending is not None:
                        finish(*pending)
                    pending = (c, out)
                finish(*pending)

    values = jax.tree.unflatten(
        out_treedef, [b.reshape(n_grid, n_replicas, *b.shape[1:]) for b in buffers])
    return SweepResult(values, grid, n_replicas, chunk_size, tuple(loaded), tuple(computed))
