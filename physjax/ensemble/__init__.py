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

Modules: :mod:`~physjax.ensemble.grids` (parameter grids and their checks),
:mod:`~physjax.ensemble.sharded` (the sweep: chunks, device mesh, evaluation) and
``_checkpoint`` (manifest, checksummed chunk files, the ``out_dir`` lock).
"""

from physjax.ensemble.grids import ProductGrid, product_grid, unflatten_grid
from physjax.ensemble.sharded import DEFAULT_MAX_CHUNK as DEFAULT_MAX_CHUNK
from physjax.ensemble.sharded import MESH_AXIS as MESH_AXIS
from physjax.ensemble.sharded import SweepResult, sweep

__all__ = ["ProductGrid", "SweepResult", "product_grid", "sweep", "unflatten_grid"]
