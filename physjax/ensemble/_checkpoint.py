"""Checkpoint files of :func:`physjax.ensemble.sweep`: manifest, chunk files, the out_dir lock.

Shared by the modules of :mod:`physjax.ensemble` (hence the underscore): the manifest that
identifies a sweep and how a stored one differs from it, the checksummed chunk files
(``chunk-NNNNNN.npz`` and ``chunk-NNNNNN.npz.sha256``, written atomically) and the lock file
``sweep.lock`` that keeps a second writer out of ``out_dir``.  The file formats and the
locking protocol are described in :mod:`physjax.ensemble`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence

import jax
import numpy as np

from physjax._files import atomic_write, create_file

_FORMAT = "physjax.ensemble.sweep/1"
_MANIFEST = "manifest.json"
_LOCK = "sweep.lock"
_CHECKSUM_SUFFIX = ".sha256"
_TMP_PREFIX = ".physjax-tmp-"


def _function_name(fn) -> str:
    if isinstance(fn, functools.partial):
        return f"partial({_function_name(fn.func)})"
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def _check_tag(tag):
    try:
        return json.loads(json.dumps(tag, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise TypeError(f"tag must be JSON-serializable (str, number, list, dict, None), "
                        f"got {tag!r}: {err}") from None


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

