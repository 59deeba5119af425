"""Roofline limits measured in the same run, and the roofline column of a benchmark row.

Two probes, run with ``jax.numpy`` on JAX's default backend (not a datasheet):

* **memory bandwidth**, STREAM-like: ``copy`` (``a = s * b``: one read, one write per
  element; a scale, because XLA may alias or elide a plain copy) and ``triad``
  (``a = b + s * c``: two reads, one write) on float32 arrays far larger than any cache
  (2^25 elements = 128 MiB per array on a CPU, 2^28 = 1 GiB on an accelerator), the output
  donated into the input buffer so that no call pays for fresh pages.  GB/s = bytes the
  kernel must move / best time.  The limit used is the higher of the two.
* **compute**, a large float32 GEMM ``A @ B`` (n = 2048 on a CPU, 8192 on an accelerator) at
  JAX's default matmul precision -- the precision every benchmarked GEMM runs at (on recent
  NVIDIA GPUs XLA may use TF32 tensor cores for it; the probe then measures that rate, which
  is the ceiling of the rows too).  GFLOP/s = 2 n^3 / best time.

Both take the *best* of their timed calls (the fastest the device showed), so a row's
fraction -- its median rate over this limit -- stays below 1 up to noise.

A row that states its work per timed call (``row["bytes"]``: bytes it must move at least,
``row["flops"]``: floating-point operations it must do at least) gets
``row["roofline"] = {"bound", "fraction", "limit", "limit_unit", "limit_source",
"achieved", ...}``: the classic roofline, time >= max(bytes / bandwidth, flops / peak); the
larger term names the bound, and ``fraction`` = that lower bound / the measured median time
(= achieved rate / limit).  A row without work counts gets none.
"""

from __future__ import annotations

import math
import time

CPU_STREAM_N = 1 << 25
GPU_STREAM_N = 1 << 28
CPU_GEMM_N = 2048
GPU_GEMM_N = 8192
REPEATS = 7


def _backend() -> str:
    import jax

    return jax.default_backend()


def _best_time(fn, args_fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls ``fn(*args_fn())`` after one warm-up call; the
    output is blocked on inside the timed region."""
    import jax

    out = jax.block_until_ready(fn(*args_fn()))
    best = math.inf
    for _ in range(repeats):
        args = jax.block_until_ready(args_fn())
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    del out
    return best


def probe_bandwidth(n: int | None = None, repeats: int = REPEATS) -> dict:
    """STREAM-like copy (scale) and triad bandwidth in GB/s on the default backend."""
    import jax
    import jax.numpy as jnp

    backend = _backend()
    n = n or (CPU_STREAM_N if backend == "cpu" else GPU_STREAM_N)
    item = 4
    b = jnp.full((n,), 1.0, jnp.float32)
    c = jnp.full((n,), 2.0, jnp.float32)
    s = jnp.float32(1.0000001)
    # the first argument is donated: the output reuses its buffer (where the backend allows)
    scale = jax.jit(lambda a, b, s: s * b, donate_argnums=0)
    triad = jax.jit(lambda a, b, c, s: b + s * c, donate_argnums=0)
    state = {"a": jnp.zeros((n,), jnp.float32)}

    def run_scale(a, b, s):
        state["a"] = scale(a, b, s)
        return state["a"]

    def run_triad(a, b, c, s):
        state["a"] = triad(a, b, c, s)
        return state["a"]

    import warnings

    with warnings.catch_warnings():  # "donated buffers were not usable" on some backends
        warnings.simplefilter("ignore")
        t_copy = _best_time(run_scale, lambda: (state["a"], b, s), repeats)
        t_triad = _best_time(run_triad, lambda: (state["a"], b, c, s), repeats)
    copy_gbs = 2 * n * item / t_copy / 1e9
    triad_gbs = 3 * n * item / t_triad / 1e9
    return {
        "copy_gbs": copy_gbs,
        "triad_gbs": triad_gbs,
        "gbs": max(copy_gbs, triad_gbs),
        "n": n,
        "array_mib": n * item / 2**20,
        "repeats": repeats,
        "backend": backend,
        "method": (f"STREAM-like, jax.numpy float32 on {backend}: copy a = s*b (2 x 4 B per "
                   f"element) and triad a = b + s*c (3 x 4 B), n = 2^{int(math.log2(n))} "
                   f"({n * item / 2**20:.0f} MiB per array), output donated, best of "
                   f"{repeats} after a warm-up"),
    }


def probe_gemm(n: int | None = None, repeats: int = REPEATS) -> dict:
    """Float32 GEMM rate in GFLOP/s on the default backend (default matmul precision)."""
    import jax
    import jax.numpy as jnp

    backend = _backend()
    n = n or (CPU_GEMM_N if backend == "cpu" else GPU_GEMM_N)
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    mm = jax.jit(lambda a, b: a @ b)
    t = _best_time(mm, lambda: (a, b), repeats)
    gflops = 2.0 * n**3 / t / 1e9
    return {
        "gflops": gflops,
        "n": n,
        "repeats": repeats,
        "backend": backend,
        "precision": str(jax.config.jax_default_matmul_precision or "default"),
        "method": (f"float32 GEMM jnp.matmul n = {n} on {backend} at the default matmul "
                   f"precision (2 n^3 flops), best of {repeats} after a warm-up"),
    }


def measure(repeats: int = REPEATS, stream_n: int | None = None,
            gemm_n: int | None = None) -> dict:
    """Both limits of this device, with the source of each stated."""
    t0 = time.perf_counter()
    bw = probe_bandwidth(stream_n, repeats)
    mm = probe_gemm(gemm_n, repeats)
    return {
        "memory_gbs": bw["gbs"],
        "memory_source": (f"measured: stream "
                          f"{'triad' if bw['triad_gbs'] >= bw['copy_gbs'] else 'copy'}"
                          f" {bw['gbs']:.1f} GB/s (copy {bw['copy_gbs']:.1f}, triad "
                          f"{bw['triad_gbs']:.1f}; n = 2^{int(math.log2(bw['n']))} float32)"),
        "compute_gflops": mm["gflops"],
        "compute_source": f"measured: gemm n={mm['n']} float32 {mm['gflops']:.0f} GFLOP/s",
        "bandwidth": bw,
        "gemm": mm,
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def roofline(row: dict, limits: dict | None) -> dict | None:
    """The roofline entry of ``row`` (its ``bytes`` and/or ``flops`` per timed call over its
    ``median_s``), or ``None`` when the row states no work or has no time."""
    if not limits:
        return None
    nbytes, flops, seconds = row.get("bytes"), row.get("flops"), row.get("median_s")
    if not seconds or seconds <= 0 or not (nbytes or flops):
        return None
    t_mem = nbytes / (limits["memory_gbs"] * 1e9) if nbytes else 0.0
    t_cmp = flops / (limits["compute_gflops"] * 1e9) if flops else 0.0
    memory = t_mem >= t_cmp
    entry = {
        "bound": "memory" if memory else "compute",
        "fraction": (t_mem if memory else t_cmp) / seconds,
        "limit": limits["memory_gbs"] if memory else limits["compute_gflops"],
        "limit_unit": "GB/s" if memory else "GFLOP/s",
        "limit_source": limits["memory_source"] if memory else limits["compute_source"],
        "achieved": (nbytes if memory else flops) / seconds / 1e9,
    }
    if nbytes:
        entry["achieved_gbs"] = nbytes / seconds / 1e9
    if flops:
        entry["achieved_gflops"] = flops / seconds / 1e9
    if nbytes and flops:
        entry["arithmetic_intensity"] = flops / nbytes
    if row.get("work_model"):
        entry["work_model"] = row["work_model"]
    return entry


def annotate(rows: list[dict], limits: dict | None) -> list[dict]:
    """Add ``roofline`` to every row (in place; ``None`` where the row states no work)."""
    for row in rows:
        row["roofline"] = roofline(row, limits)
    return rows


def fmt(entry: dict | None) -> str:
    """Short table cell: ``0.31 mem`` / ``0.72 cmp`` / ``-``."""
    if not entry:
        return "-"
    f = entry["fraction"]
    text = f"{f:.2g}" if f >= 0.01 else f"{f:.1e}"
    return f"{text} {'mem' if entry['bound'] == 'memory' else 'cmp'}"


def best_of(measurements: list[dict]) -> dict:
    """The limits of several probe sessions (start and end of a run): the highest bandwidth
    and the highest GEMM rate seen, each with its own source (a busy, shared machine slows
    the probes too; the best is the nearest to what the device can do)."""
    mem = max(measurements, key=lambda m: m["memory_gbs"])
    cmp = max(measurements, key=lambda m: m["compute_gflops"])
    n = len(measurements)
    suffix = f"; best of {n} probe sessions" if n > 1 else ""
    return {"memory_gbs": mem["memory_gbs"], "memory_source": mem["memory_source"] + suffix,
            "compute_gflops": cmp["compute_gflops"],
            "compute_source": cmp["compute_source"] + suffix,
            "sessions": n}
