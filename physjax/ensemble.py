"""Ensemble sweeps: a pure function over a parameter grid x replicas, sharded and resumable.

A sweep evaluates ``fn(key, params)`` -- one replica of a stochastic experiment at one grid
point -- for every pair ``(g, r)`` of a grid of ``G`` parameter points and ``R`` replicas::

    values[g, r] = fn(fold_in(fold_in(key, g), r), grid[g])

The ``G * R`` pairs are flattened (``g`` slow, ``r`` fast) and cut into chunks of
``chunk_size`` pairs.  Each chunk runs as one ``jax.jit(jax.vmap(fn))`` call whose batch axis
is sharded over a 1-D :class:`jax.sharding.Mesh` (axis name ``"ensemble"``) of all devices:
``vmap`` inside a device, sharding across devices.  Because every replica key is a
``fold_in`` of its own ``(g, r)`` -- never of a chunk or device index, nor of earlier draws --
the results do not depend on ``chunk_size``, on the number of devices, or on whether the
sweep was interrupted and resumed.  (This holds for the default threefry keys; JAX does
not promise sharding-invariant bits for the ``"rbg"`` implementations.)

Checkpointing.  With ``out_dir``, a ``manifest.json`` identifies the sweep (function
``__qualname__``, a SHA-256 fingerprint of the grid's structure, dtypes, shapes and bytes,
``n_replicas``, the key data, ``chunk_size``, the user ``tag`` and the output tree's
structure, shapes and dtypes; it also records the ``environment`` of the run that created
it: versions, backend, devices and the git commit of a source checkout) and each finished
chunk is written to ``chunk-NNNNNN.npz``, followed by its checksum file
``chunk-NNNNNN.npz.sha256`` (the SHA-256 of the chunk's arrays: each leaf's index, dtype,
shape and bytes).  Every file is written atomically (a new file in the same directory,
``fsync``, then :func:`os.replace`) with the permissions of ordinary ``open()``, mode
``0o666 & ~umask``, so that a group can read a sweep on a shared file system.
Calling the same sweep again with the same ``out_dir`` verifies every chunk on disk (leaves,
shapes and dtypes against the manifest, arrays against the checksum), loads those that pass
and computes the rest; a chunk that is damaged (truncated, a flipped bit), replaced, or has
no checksum file is never loaded: it is recomputed and rewritten, with a warning naming the
file.  The resumed values are bit-identical to an uninterrupted run.  A directory holding a
different sweep is refused with a ``ValueError`` that says what differs.  Closed-over
constants of ``fn`` (a lattice size, a number of steps) cannot be fingerprinted: record them
in ``tag``.

One sweep per ``out_dir`` at a time: the writing process holds the lock file
``out_dir/sweep.lock`` (its pid, host and start time, created with ``O_EXCL`` semantics)
from before it reads the manifest until the sweep returns or raises.  A second sweep of
the same ``out_dir`` meanwhile raises a ``RuntimeError`` naming ``out_dir`` and the holder.
A lock left by a killed run is taken over with a warning when its pid is no longer running
on this host; a lock of another host cannot be checked from here and is refused; delete it
if no sweep is running there.

Several hosts.  JAX's own multi-controller runtime does the work, there is no scheduler
here.  Start the same script on every host and call :func:`jax.distributed.initialize`
before using physjax (before any other JAX call)::

    import jax
    jax.distributed.initialize()          # coordinator / process ids from the cluster env
    import physjax.ensemble as ens
    result = ens.sweep(fn, key, grid, n_replicas, chunk_size=4096, out_dir="/shared/run1")

:func:`jax.devices` then lists the devices of all hosts, the mesh spans them and every
chunk is sharded over all of them; each process ends up with the full ``values``.  Only
process 0 (:func:`jax.process_index`) takes the lock and writes the manifest, the chunk and
checksum files; whether the lock was taken and which chunks are finished and verified is
decided on process 0 and broadcast, so ``out_dir`` must be on a file system that all
processes can read.  The other processes read the chunks that process 0 verified and check
them again; one that fails there raises (they cannot recompute on their own).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from physjax._checks import check_finite, check_key, check_positive_int
from physjax._files import atomic_write, create_file

__all__ = ["ProductGrid", "SweepResult", "product_grid", "sweep", "unflatten_grid"]

PyTree = Any

MESH_AXIS = "ensemble"
DEFAULT_MAX_CHUNK = 2**16
_FORMAT = "physjax.ensemble.sweep/1"
_MANIFEST = "manifest.json"
_LOCK = "sweep.lock"
_CHECKSUM_SUFFIX = ".sha256"
_TMP_PREFIX = ".physjax-tmp-"


class ProductGrid(NamedTuple):
    """A Cartesian product grid, flattened to one leading axis.

    ``points[name]`` has shape ``(prod(shape),)`` and enumerates the product in C order
    (the first axis varies slowest), so ``x.reshape(shape + x.shape[1:])`` restores the
    axes; :func:`unflatten_grid` does this for a whole result tree.
    """

    points: dict[str, np.ndarray]
    shape: tuple[int, ...]


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


# ----------------------------------------------------------------------------- grids


def product_grid(**axes: Sequence[float] | np.ndarray) -> ProductGrid:
    """Cartesian product of named 1-D value lists, flattened to a grid for :func:`sweep`.

    ``product_grid(temperature=[1., 2.], field=[0., .1, .2])`` has ``shape == (2, 3)`` and
    ``points['temperature'] == [1, 1, 1, 2, 2, 2]``, ``points['field'] == [0, .1, .2] * 2``.
    """
    if not axes:
        raise ValueError("axes: product_grid needs at least one named axis, e.g. "
                         "product_grid(temperature=[1.0, 2.0])")
    values = {}
    for name, v in axes.items():
        a = np.asarray(v)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D list of values, "
                             f"got shape {a.shape}")
        check_finite(a, name)
        values[name] = a
    mesh = np.meshgrid(*values.values(), indexing="ij")
    shape = tuple(a.size for a in values.values())
    return ProductGrid({n: m.reshape(-1) for n, m in zip(values, mesh, strict=True)}, shape)


def unflatten_grid(tree: PyTree, shape: Sequence[int]) -> PyTree:
    """Reshape the leading grid axis ``G`` of every leaf into ``shape`` (``prod(shape) == G``).

    ``unflatten_grid(result.values, pg.shape)`` turns ``(G, R, ...)`` into
    ``(*pg.shape, R, ...)``; ``unflatten_grid(result.grid, pg.shape)`` gives the axes back.
    """
    shape = tuple(check_positive_int(s, "shape entries") for s in shape)
    size = math.prod(shape)

    def reshape(x):
        if np.ndim(x) == 0 or np.shape(x)[0] != size:
            raise ValueError(f"shape {shape} has {size} grid points but a leaf has leading "
                             f"axis {np.shape(x)[:1]}")
        return x.reshape(shape + tuple(np.shape(x)[1:]))

    return jax.tree.map(reshape, tree)


# ----------------------------------------------------------------------------- validation


def _function_name(fn) -> str:
    if isinstance(fn, functools.partial):
        return f"partial({_function_name(fn.func)})"
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def _check_grid(grid) -> tuple[PyTree, int]:
    """Return the grid as a pytree of numpy arrays (JAX-canonical dtypes) and its size G."""
    if isinstance(grid, ProductGrid):
        grid = grid.points
    leaves, treedef = jax.tree_util.tree_flatten_with_path(grid)
    if not leaves:
        raise ValueError("grid must be a pytree with at least one array leaf, e.g. "
                         "{'temperature': jnp.linspace(1, 3, 8)}")
    out, sizes = [], {}
    for path, leaf in leaves:
        name = "grid" + jax.tree_util.keystr(path)
        if isinstance(leaf, jax.core.Tracer):
            raise TypeError(f"{name} is a traced value; sweep runs outside jit/vmap and needs "
                            "concrete grid values")
        a = np.asarray(leaf)
        check_finite(a, name)
        if a.ndim == 0:
            raise ValueError(f"{name} must have a leading grid axis, got a scalar; "
                             "wrap single values as [value]")
        sizes[name] = a.shape[0]
        out.append(a.astype(jax.dtypes.canonicalize_dtype(a.dtype), copy=False))
    if len(set(sizes.values())) != 1:
        raise ValueError(f"grid leaves must share the leading grid axis, got sizes {sizes}")
    size = next(iter(sizes.values()))
    if size == 0:
        raise ValueError("grid must have at least one point, got leading axis 0")
    return jax.tree_util.tree_unflatten(treedef, out), size


def _check_key(key):
    key = check_key(key, "key")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key, {"impl": str(jax.random.key_impl(key)),
                     "data": np.asarray(jax.random.key_data(key)).tolist()}
    return key, {"impl": "raw uint32", "data": np.asarray(key).tolist()}


def _check_tag(tag):
    try:
        return json.loads(json.dumps(tag, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise TypeError(f"tag must be JSON-serializable (str, number, list, dict, None), "
                        f"got {tag!r}: {err}") from None


def _check_devices(devices) -> list:
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices must be a non-empty sequence of jax devices")
    for d in devices:
        if not isinstance(d, jax.Device):
            raise TypeError(f"devices must contain jax.Device objects, got {d!r}")
    return devices


# ----------------------------------------------------------------------------- manifest


def _grid_fingerprint(grid) -> str:
    leaves, treedef = jax.tree.flatten(grid)
    h = hashlib.sha256(str(treedef).encode())
    for a in leaves:
        h.update(f"|{a.dtype.name}|{a.shape}|".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _tree_spec(tree) -> dict:
    leaves, treedef = jax.tree.flatten(tree)
    return {"treedef": str(treedef),
            "leaves": [{"shape": list(x.shape), "dtype": np.dtype(x.dtype).name}
                       for x in leaves]}


def _clip(s: str, limit: int = 200) -> str:
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _describe(x) -> str:
    return _clip(json.dumps(x, sort_keys=True))


def _spec_difference(what: str, there, here: dict) -> str | None:
    """How two ``_tree_spec`` records differ, in words (None when equal)."""
    if there == here:
        return None
    if not isinstance(there, dict) or there.get("treedef") != here["treedef"]:
        old = there.get("treedef") if isinstance(there, dict) else there
        return f"{what} structure is {_clip(str(old))} there but {_clip(here['treedef'])} here"
    leaf = lambda d: f"{d.get('dtype')}{d.get('shape')}" if isinstance(d, dict) else repr(d)
    pairs = zip(there.get("leaves", []), here["leaves"], strict=False)
    bad = [f"leaf {i} is {leaf(a)} there but {leaf(b)} here"
           for i, (a, b) in enumerate(pairs) if a != b]
    return f"{what} leaves differ: " + ", ".join(bad[:4])


def _manifest_differences(stored: dict, wanted: dict) -> list[str]:
    labels = {"format": "file format", "function": "function (fn.__qualname__)", "tag": "tag",
              "n_replicas": "n_replicas", "key": "key", "chunk_size": "chunk_size"}
    diffs = [f"{label} is {_describe(stored.get(field))} there but "
             f"{_describe(wanted[field])} here"
             for field, label in labels.items() if stored.get(field) != wanted[field]]
    stored_grid = stored.get("grid") if isinstance(stored.get("grid"), dict) else {}
    grid_diff = _spec_difference("grid", stored_grid.get("structure"),
                                 wanted["grid"]["structure"])
    if grid_diff:
        diffs.append(grid_diff)
    elif stored_grid.get("fingerprint") != wanted["grid"]["fingerprint"]:
        diffs.append(f"grid values differ (fingerprint {str(stored_grid.get('fingerprint'))[:12]}"
                     f" there, {wanted['grid']['fingerprint'][:12]} here)")
    result_diff = _spec_difference("result of fn", stored.get("result"), wanted["result"])
    return diffs + ([result_diff] if result_diff else [])


def _atomic_write(path: str, write: Callable) -> None:
    """Write via a new file in the same directory (mode ``0o666 & ~umask``, like ``open()``),
    fsync, then os.replace; leftovers of a killed write start with ``_TMP_PREFIX``."""
    atomic_write(path, write, prefix=_TMP_PREFIX)


def _chunk_path(out_dir: str, c: int) -> str:
    return os.path.join(out_dir, f"chunk-{c:06d}.npz")


# ----------------------------------------------------------------------------- lock


_GONE = object()


def _read_lock(path: str):
    """The lock record (a dict), ``_GONE`` when there is no lock file, None if unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return _GONE
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _pid_is_dead(pid) -> bool:
    """True only when ``pid`` is certainly not running on this host (POSIX)."""
    if os.name != "posix" or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, under another user
        return False
    return False


def _create_lock(path: str, payload: bytes) -> bool:
    """Create ``path`` holding ``payload`` unless it exists; True when created.

    The record is written to a temporary file first and hard-linked into place (the link
    fails if the lock exists), so a lock file is never seen half written; where hard links
    are not supported, ``O_EXCL`` creation is used instead.
    """
    fd, tmp = create_file(os.path.dirname(path), _TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            pass
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _remove_stale_lock(path: str, holder: dict) -> None:
    """Move the stale lock aside, then delete it -- unless it is no longer the stale one."""
    aside = os.path.join(os.path.dirname(path), f"{_TMP_PREFIX}stale-lock-{os.urandom(4).hex()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if _read_lock(aside) != holder:  # another process took it over in between: put it back
        with contextlib.suppress(OSError):
            os.link(aside, path)
    with contextlib.suppress(OSError):
        os.unlink(aside)


def _acquire_lock(out_dir: str) -> dict:
    """Take ``out_dir/sweep.lock`` (pid, host, time, token); a stale one is taken over."""
    import socket

    path = os.path.join(out_dir, _LOCK)
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "token": os.urandom(8).hex()}
    payload = (json.dumps(record, indent=1) + "\n").encode()
    for _ in range(5):
        if _create_lock(path, payload):
            return record
        holder = _read_lock(path)
        if holder is _GONE:  # released in the meantime
            continue
        if holder is None:
            raise RuntimeError(
                f"out_dir {out_dir!r} is locked by {path!r}, which cannot be read; if no "
                "sweep is writing to this out_dir, delete the lock file")
        pid, host = holder.get("pid"), holder.get("host")
        if host == record["host"] and _pid_is_dead(pid):
            warnings.warn(f"sweep: taking over the stale lock {path!r} of process {pid} on "
                          f"this host ({host}), which is no longer running", stacklevel=4)
            _remove_stale_lock(path, holder)
            continue
        where = ("this host" if host == record["host"] else
                 f"host {host!r} (physjax cannot tell from here whether it still runs)")
        raise RuntimeError(
            f"out_dir {out_dir!r} is in use: process {pid} on {where} holds its lock "
            f"{path!r} since {holder.get('created')}. Two sweeps must not write one out_dir "
            "at once: wait for it, use another out_dir, or, if no sweep is running there, "
            "delete the lock file")
    raise RuntimeError(f"out_dir {out_dir!r}: could not take the lock {path!r}; "
                       "another process keeps taking it")


def _release_lock(out_dir: str, record: dict) -> None:
    path = os.path.join(out_dir, _LOCK)
    holder = _read_lock(path)
    if isinstance(holder, dict) and holder.get("token") == record["token"]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _lock_out_dir(out_dir: str, writer: bool, stack: contextlib.ExitStack) -> None:
    """Process 0 creates ``out_dir`` and locks it until the sweep ends; every process
    learns whether that worked (a collective decision, so no process is left waiting)."""
    error = None
    if writer:
        try:
            os.makedirs(out_dir, exist_ok=True)
            record = _acquire_lock(out_dir)
        except (OSError, RuntimeError) as err:
            error = err
        else:
            stack.callback(_release_lock, out_dir, record)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        ok = int(multihost_utils.broadcast_one_to_all(np.int32(error is None)))
        if not ok and not writer:
            raise RuntimeError(f"out_dir {out_dir!r}: process 0 could not lock it (see the "
                               "error of process 0)")
    if isinstance(error, OSError):
        raise ValueError(f"out_dir {out_dir!r} cannot be created or locked: {error}") from error
    if error is not None:
        raise error


# ----------------------------------------------------------------------------- chunks


def _prepare_out_dir(out_dir: str, manifest: dict, writer: bool) -> None:
    mpath = os.path.join(out_dir, _MANIFEST)
    if os.path.exists(mpath):
        try:
            with open(mpath) as f:
                stored = json.load(f)
        except (OSError, ValueError) as err:
            raise ValueError(f"out_dir {out_dir!r}: cannot read {_MANIFEST}: {err}") from None
        diffs = _manifest_differences(stored, manifest)
        if diffs:
            raise ValueError(f"out_dir {out_dir!r} holds a different sweep: "
                             + "; ".join(diffs)
                             + ". Use another out_dir, or delete this one to start over.")
    elif os.path.isdir(out_dir) and any(n.startswith("chunk-") for n in os.listdir(out_dir)):
        raise ValueError(f"out_dir {out_dir!r} holds chunk files but no {_MANIFEST}; "
                         "refusing to mix them with a new sweep")
    elif writer:
        from physjax._provenance import environment

        record = {**manifest, "environment": environment()}
        text = json.dumps(record, indent=1, sort_keys=True).encode()
        _atomic_write(mpath, lambda f: f.write(text))
    if writer:  # temporary files left behind by a killed run (we hold the lock)
        for name in os.listdir(out_dir):
            if name.startswith(_TMP_PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(out_dir, name))


def _chunk_digest(leaves: Sequence[np.ndarray]) -> str:
    """SHA-256 of a chunk's arrays: for each leaf its index, dtype, shape and bytes."""
    h = hashlib.sha256(_FORMAT.encode())
    for i, x in enumerate(leaves):
        x = np.ascontiguousarray(x)
        h.update(f"|leaf_{i}|{x.dtype.name}|{list(x.shape)}|".encode())
        h.update(x.reshape(-1).view(np.uint8))
    return h.hexdigest()


def _save_chunk(path: str, leaves: list[np.ndarray]) -> None:
    """Write the chunk, then its checksum file ``chunk-NNNNNN.npz.sha256`` (both atomic)."""
    _atomic_write(path, lambda f: np.savez(f, **{f"leaf_{i}": x for i, x in enumerate(leaves)}))
    record = {"file": os.path.basename(path), "sha256": _chunk_digest(leaves),
              "of": "each leaf's index, dtype, shape and bytes (physjax.ensemble)"}
    text = (json.dumps(record, indent=1) + "\n").encode()
    _atomic_write(path + _CHECKSUM_SUFFIX, lambda f: f.write(text))


def _load_chunk(path: str, spec: list[tuple[tuple, np.dtype]], length: int) -> list:
    """Read one chunk and verify it; ``ValueError`` saying what is wrong with it otherwise.

    Leaves, shapes and dtypes are checked against the manifest and the SHA-256 of the arrays
    against the checksum file written after the chunk.  ml_dtypes such as bfloat16 come back
    from ``np.load`` as raw void bytes: view them back.
    """
    sums = path + _CHECKSUM_SUFFIX
    try:
        with open(sums, encoding="utf-8") as f:
            expected = json.load(f)["sha256"]
        if not isinstance(expected, str):
            raise TypeError(f"sha256 is {expected!r}")
    except FileNotFoundError:
        raise ValueError(f"has no checksum file {os.path.basename(sums)!r} (the run "
                         "stopped between the two writes, or the chunk is not ours)") from None
    except Exception as err:  # noqa: BLE001 - any damage means: do not trust the chunk
        raise ValueError(f"has an unreadable checksum file {os.path.basename(sums)!r} "
                         f"({type(err).__name__}: {err})") from None
    out = []
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            if sorted(data.files) != sorted(f"leaf_{i}" for i in range(len(spec))):
                raise ValueError(f"its leaves {data.files} do not match the manifest")
            for i, (shape, dtype) in enumerate(spec):
                x = data[f"leaf_{i}"]
                if x.dtype.kind == "V" and x.dtype.itemsize == dtype.itemsize != 0:
                    x = x.view(dtype)
                if x.dtype != dtype or x.shape != (length, *shape):
                    raise ValueError(f"leaf {i} is {x.dtype}{list(x.shape)}, the manifest "
                                     f"says {dtype}{[length, *shape]}")
                out.append(x)
    except Exception as err:  # noqa: BLE001 - truncated, bit flips in the zip, wrong leaves
        raise ValueError(f"cannot be used ({type(err).__name__}: {err})") from None
    actual = _chunk_digest(out)
    if actual != expected:
        raise ValueError(f"does not match its checksum: the SHA-256 of its arrays is "
                         f"{actual[:16]}..., {os.path.basename(sums)!r} says {expected[:16]}...")
    return out


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


def sweep(fn: Callable[[jax.Array, PyTree], PyTree], key: jax.Array, grid: PyTree,
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
            ``{'temperature': jnp.linspace(1, 3, 8)}``), or a :class:`ProductGrid` (its
            ``points`` are swept; reshape results with :func:`unflatten_grid`).
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
    grid, n_grid = _check_grid(grid)
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
