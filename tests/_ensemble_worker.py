"""Subprocess worker for tests/test_ensemble.py (not a test module).

Run as ``python tests/_ensemble_worker.py MODE ARG`` from the repository root:

* ``devices OUT.npz`` -- needs ``XLA_FLAGS=--xla_force_host_platform_device_count=4``;
  checks that JAX sees 4 devices, runs the reference sweep on 4, 3 and 1 of them and with
  two chunk sizes, and saves every result's leaves to ``OUT.npz``.
* ``kill OUT_DIR`` -- runs the reference sweep with checkpoints in ``OUT_DIR``, prints
  ``computed C`` (flushed) after each chunk is on disk and, after ``KILL_AFTER`` chunks,
  blocks so that the parent can SIGKILL it mid-sweep.

The test process imports this file too, so that ``replica_observables`` has the same
``__qualname__`` in both processes and a resumed sweep matches the manifest.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from physjax.ensemble import sharded, sweep

N_REPLICAS = 8
CHUNK_SIZE = 5  # 6 x 8 = 48 pairs -> 10 chunks, the last one partial
KILL_AFTER = 3


def grid():
    return {"temperature": jnp.linspace(0.5, 3.0, 6),
            "field": jnp.arange(6, dtype=jnp.int32) - 2}


def key():
    return jax.random.key(20240611)


def replica_observables(key, params):
    """A few steps of noisy relaxation of 16 spins; outputs of several dtypes."""
    k_init, k_noise = jax.random.split(key)
    x0 = jax.random.normal(k_init, (16,))
    beta = 1.0 / params["temperature"]

    def step(x, k):
        force = -x + 0.1 * params["field"] + jnp.roll(x, 1)
        x = x + 0.1 * beta * force + 0.3 * jax.random.normal(k, x.shape)
        return x, jnp.mean(x)

    x, trace = jax.lax.scan(step, x0, jax.random.split(k_noise, 10))
    return {
        "energy": 0.5 * jnp.sum(x**2) - jnp.sum(x * jnp.roll(x, 1)),
        "trace": trace,
        "spins": jnp.sign(x).astype(jnp.int8),
        "n_up": jnp.sum(x > 0),
        "low_precision": x[:3].astype(jnp.bfloat16),
        "flag": jnp.all(jnp.abs(x) < 10.0),
    }


def run(**kwargs):
    """The reference sweep; on the CPU devices unless told otherwise, so that results of
    this process and of the CPU-only subprocesses are comparable bit for bit."""
    kwargs.setdefault("progress", False)
    kwargs.setdefault("devices", jax.devices("cpu"))
    return sweep(replica_observables, key(), grid(), N_REPLICAS, **kwargs)


def _leaves(result) -> list[np.ndarray]:
    # bfloat16 has no portable npz dtype: store raw bytes, the parent views them back.
    return [np.ascontiguousarray(x).view(np.uint8) for x in jax.tree.leaves(result.values)]


def main(mode: str, arg: str) -> None:
    if mode == "devices":
        assert jax.device_count() == 4, f"expected 4 CPU devices, got {jax.device_count()}"
        devs = jax.devices()
        # Record over how many devices each chunk's outputs were really sharded.  Patch the
        # module whose globals the sweep reads _to_host from (physjax.ensemble.sharded).
        used, to_host = [], sharded._to_host

        def recording_to_host(out):
            used.append(len({d for x in jax.tree.leaves(out) for d in x.sharding.device_set}))
            return to_host(out)

        sharded._to_host = recording_to_host
        arrays = {"device_count": np.array(jax.device_count())}
        for name, kwargs in {
            "dev4_chunk5": dict(chunk_size=CHUNK_SIZE, devices=devs),
            "dev3_chunk5": dict(chunk_size=CHUNK_SIZE, devices=devs[:3]),
            "dev1_chunk5": dict(chunk_size=CHUNK_SIZE, devices=devs[:1]),
            "dev4_chunk13": dict(chunk_size=13, devices=devs),
            "dev4_whole": dict(),
        }.items():
            used.clear()
            result = run(**kwargs)
            arrays[f"{name}/devices_used"] = np.array(sorted(set(used)))
            for i, x in enumerate(_leaves(result)):
                arrays[f"{name}/{i}"] = x
        np.savez(arg, **arrays)
    elif mode == "kill":
        n_done = 0

        def on_chunk(c, loaded):
            nonlocal n_done
            print(f"{'loaded' if loaded else 'computed'} {c}", flush=True)
            n_done += not loaded
            if n_done >= KILL_AFTER:
                time.sleep(600)  # the parent SIGKILLs us here

        run(chunk_size=CHUNK_SIZE, out_dir=arg, on_chunk=on_chunk)
        print("finished", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
