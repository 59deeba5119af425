"""Diffusion benchmark: backward-SDE trajectories per second (issue 19).

The reverse SDE of the Ornstein--Uhlenbeck process (T = 5), :math:`dx = [x + 2s(x, t)]\\,dt +
\\sqrt2\\,d\\bar W` run backwards by Euler--Maruyama on ``physjax.diffusion.time_grid`` (log
noise-to-signal spacing, down to t = 1e-3), for R trajectories in d = 64 at once, with two
scores:

* ``empirical score``: :class:`physjax.diffusion.EmpiricalScore` of n = 10^4 training points
  (each evaluation a softmax over the n posterior weights: one (R, d) x (d, n) product, the
  softmax, one (R, n) x (n, d) product per step);
* ``learned MLP score``: :class:`physjax.diffusion.ScoreMLP` (width 256, 3 hidden layers,
  16 Fourier frequencies; untrained weights -- the cost does not depend on their values).

Figure of merit: **trajectories per second**, ``R / seconds`` for whole trajectories of
``steps`` steps (``physjax.diffusion.reverse``, one call, recording nothing).

Anchor, measured in the same run on the same grid, starts and scores: the same integrator in
plain NumPy (:func:`numpy_reverse_em` below; float32, batched over trajectories, the
products as BLAS matrix products, the softmax with ``np.exp``; the MLP as its matrix
products and SiLU), what a NumPy programmer writes.  Before timing, the NumPy scores are
checked against physjax's on a few points (``max_rel_score_diff``).  Target on the CPU:
physjax >= 10x the NumPy anchor (recorded, not enforced).  ``--quick``: fewer trajectories
and steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from _harness import log, summarize, time_device, time_repeats

NAME = "diffusion"
DESCRIPTION = ("backward SDE (Euler-Maruyama), d = 64: empirical score of 10^4 points and "
               "an MLP score, trajectories/s vs NumPy")

UNIT = "trajectories/s"
D = 64
N_TRAIN = 10_000
HORIZON = 5.0
T_END = 1e-3
TARGET_CPU = 10.0


@dataclass(frozen=True)
class Workload:
    score: str          # "empirical" or "mlp"
    R: int
    steps: int

    @property
    def label(self) -> str:
        extra = f"n={N_TRAIN}, " if self.score == "empirical" else "MLP 256x3, "
        return f"d={D}, {extra}R={self.R}"

    def figure(self, seconds: float) -> float:
        return self.R / seconds


def workloads(backend: str, quick: bool, size: str | None = None) -> list[Workload]:
    """``size`` (from device_check.py) overrides the backend's choice: ``"tiny"`` (a few
    seconds, the test suite), ``"cpu"`` or ``"gpu"``."""
    if size == "tiny":
        return [Workload("empirical", 16, 10), Workload("mlp", 64, 10)]
    if size is not None:
        backend = "cpu" if size == "cpu" else "gpu"
    if backend == "cpu":
        if quick:
            return [Workload("empirical", 64, 50), Workload("mlp", 256, 50)]
        return [Workload("empirical", 256, 100), Workload("mlp", 1024, 100)]
    if quick:
        return [Workload("empirical", 256, 50), Workload("mlp", 1024, 50)]
    return [Workload("empirical", 1024, 100), Workload("mlp", 4096, 100)]


# ------------------------------------------------------------------------- the scores

def _setup(w: Workload):
    import jax
    import jax.numpy as jnp

    import physjax.diffusion as pd
    from physjax.diffusion.score_matching import ScoreMLP

    key = jax.random.key(0)
    sched = pd.OU(T=HORIZON)
    if w.score == "empirical":
        data = jnp.sign(jax.random.normal(key, (N_TRAIN, D), jnp.float32))
        score = pd.EmpiricalScore(sched, data)
        arrays = {"data": np.asarray(data)}
    else:
        score = ScoreMLP(key, D, sched, width=256, depth=3)
        arrays = {"layers": [(np.asarray(layer.weight).T.copy(), np.asarray(layer.bias))
                             for layer in score.mlp.layers],
                  "frequencies": np.asarray(score.frequencies),
                  "data_scale": float(score.data_scale)}
    grid = pd.time_grid(sched, w.steps, t_end=T_END)
    x0 = pd.prior_sample(jax.random.fold_in(key, 1), sched, w.R, D)
    return sched, score, arrays, grid, x0


def _silu(z):
    return 0.5 * z * (1 + np.tanh(0.5 * z))      # z * sigmoid(z), without overflow


def numpy_score(kind: str, arrays: dict, x: np.ndarray, t: float) -> np.ndarray:
    """Score of a batch ``x`` (R, d) at time ``t`` for the OU process (float32)."""
    a = np.float32(np.exp(-t))
    var = np.float32(-np.expm1(-2 * t))
    if kind == "empirical":
        data = arrays["data"]
        if "sq_norms" not in arrays:
            arrays["sq_norms"] = np.sum(data * data, axis=1)
        logits = (a * (x @ data.T) - 0.5 * a * a * arrays["sq_norms"]) / var
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        return (a * (w @ data) - x) / var
    c_in = np.float32(1 / np.sqrt(a * a * arrays["data_scale"] ** 2 + var))
    phase = (arrays["frequencies"] * np.float32(np.log(var) - 2 * np.log(a))).astype(np.float32)
    emb = np.broadcast_to(np.concatenate([np.cos(phase), np.sin(phase)]),
                          (x.shape[0], phase.size * 2))
    h = np.concatenate([c_in * x, emb], axis=1)
    layers = arrays["layers"]
    for weight, bias in layers[:-1]:
        h = _silu(h @ weight + bias)
    weight, bias = layers[-1]
    return -(h @ weight + bias) / np.sqrt(var)


def numpy_reverse_em(kind: str, arrays: dict, x: np.ndarray, grid: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Euler--Maruyama on the reverse SDE of OU, as ``physjax.diffusion.reverse`` with
    ``method="euler_maruyama"``: :math:`x' = x + [x + 2s(x, t)]h + \\sqrt{2h}\\,\\xi` for
    each step :math:`t\\to t - h` of the decreasing ``grid``."""
    x = x.copy()
    noise = np.empty_like(x)
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        h = np.float32(t - t_next)
        drift = x + 2 * numpy_score(kind, arrays, x, float(t))
        rng.standard_normal(out=noise, dtype=np.float32)
        x += h * drift + np.sqrt(2 * h) * noise
    return x


def _score_check(w: Workload, score, arrays) -> float:
    import jax
    import jax.numpy as jnp

    x = np.random.default_rng(3).normal(size=(4, D)).astype(np.float32)
    worst = 0.0
    for t in (0.05, 0.5, 2.0):
        ref = np.asarray(jax.vmap(score, in_axes=(0, None))(jnp.asarray(x), t))
        got = numpy_score(w.score, arrays, x, t)
        worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
    return worst


# ------------------------------------------------------------------------------ rows

def run(quick: bool, repeats: int, size: str | None = None) -> list[dict]:
    import jax

    backend = jax.default_backend()
    return [_measure(w, repeats, backend) for w in workloads(backend, quick, size)]


def _flops_per_score(w: Workload, arrays) -> float:
    """FLOPs of one score evaluation: the empirical score's two (n x d) products (logits
    and the posterior-weighted mean; the softmax's O(n) is left out), or the MLP's layers."""
    if w.score == "empirical":
        n, d = arrays["data"].shape
        return 4.0 * n * d
    return float(sum(2 * wt.shape[0] * wt.shape[1] for wt, _ in arrays["layers"]))


def _measure(w: Workload, repeats: int, backend: str) -> dict:
    import jax

    import physjax.diffusion as pd

    log(f"diffusion {w.score} {w.label}: setting up")
    sched, score, arrays, grid, x0 = _setup(w)
    check = _score_check(w, score, arrays)
    log(f"diffusion {w.score}: numpy vs physjax score, max rel diff {check:.2e}")
    if check > 1e-3:
        raise RuntimeError(f"the NumPy score differs from physjax's by {check:.2e} "
                           "(relative): not the same math")
    grid_np, x0_np = np.asarray(grid), np.asarray(x0)
    rng = np.random.default_rng(0)
    log(f"diffusion {w.score}: numpy anchor, {w.steps} steps")
    seconds, final_np = time_repeats(
        lambda x: numpy_reverse_em(w.score, arrays, x, grid_np, rng),
        lambda i: (x0_np,), repeats)
    stats = summarize(seconds)
    anchor = {"name": "numpy (BLAS matmul)", **stats,
              "figure": w.figure(stats["median_s"]),
              "figure_best": w.figure(stats["min_s"]),
              "mean_abs_x_end": float(np.abs(final_np).mean()),
              "detail": "plain NumPy Euler-Maruyama on the reverse SDE, float32, batched "
                        "over trajectories, numpy_reverse_em in this file"}

    def call(key, x):
        return pd.reverse(key, sched, score, x, grid, method="euler_maruyama").x

    log(f"diffusion {w.score}: physjax reverse, {w.steps} steps")
    # time_device: the warm-up call and the compilation it triggered are reported apart
    stats, final = time_device(call, lambda i: (jax.random.key(i + 6), x0), repeats)
    row = {"name": f"reverse SDE, {w.score} score"
                   if w.score == "empirical" else "reverse SDE, learned MLP score",
           "workload": w.label, "sweeps": w.steps, "d": D, "R": w.R,
           "unit": UNIT, **stats, "figure": w.figure(stats["median_s"]),
           "figure_best": w.figure(stats["min_s"]),
           "mean_abs_x_end": float(np.abs(np.asarray(final)).mean()),
           "max_rel_score_diff": check,
           "flops": w.steps * w.R * _flops_per_score(w, arrays),
           "work_model": "score evaluations x FLOPs per evaluation (GEMM-bound)",
           "note": f"physjax.diffusion.reverse(method='euler_maruyama'), {w.steps} steps "
                   f"from T = {HORIZON} to {T_END}, one call per trajectory batch"}
    row["anchors"] = [{**anchor, "ratio": row["figure"] / anchor["figure"]}]
    if backend == "cpu":
        row["target"] = TARGET_CPU
        row["target_text"] = f">= {TARGET_CPU:g}x the NumPy anchor on the CPU (issue 19)"
        row["meets_target"] = bool(row["anchors"][0]["ratio"] >= TARGET_CPU)
    return row


if __name__ == "__main__":
    import sys

    for r in run(quick="--quick" in sys.argv, repeats=3):
        print(r["name"], r["workload"], f"{r['figure']:.4g} {UNIT}",
              [(a["name"], round(a["ratio"], 2)) for a in r["anchors"]])
