"""Dynamics benchmark: overdamped Langevin on the spherical spiked matrix--tensor model.

Workload (the issue's): N = 256 with the full dense order-3 tensor (16.7M float32
entries), R = 1024 replicas sharing the instance, Euler--Maruyama on the sphere
:math:`|x|^2 = N` at T = 1 (the Bayes posterior), :math:`\\Delta_2 = 0.7`,
:math:`\\Delta_3 = 1`, dt = 0.05.  Figure of merit: **replica-steps per second**,
``R * steps / seconds``.  Each step costs one contraction of the tensor with every
replica, a GEMM of :math:`2N^3R \\approx 34` GFLOP at R = 1024, so the issue's 10^4 steps
take over an hour on a 2-core CPU: each timed call runs a few steps instead (``steps`` in
the row; one call lasts a few seconds), and the figure is per step, so it is the same
number a 10^4-step run would give.  ``--quick``: R = 128.

Rows:

* ``run_replicas`` (its ``sweeps`` column: steps per timed call):
  :func:`physjax.dynamics.run_replicas` with
  ``OverdampedLangevin(model, dt, T, spherical=True)``, recording once at the end (the
  model's analytic ``energy_and_gradient``: the first contraction of the vmapped replicas is
  one GEMM).

Anchors, measured in the same run on the same instance and starts:

* ``numpy (BLAS matmul)``: :func:`numpy_spherical_langevin` below -- the same step in plain
  NumPy, batched over replicas, the tensor contraction written as one matrix product
  ``X @ T.reshape(N, N*N)`` (OpenBLAS GEMM) and a batched ``matmul``: what a NumPy
  programmer who knows BLAS writes;
* ``numpy (einsum)``: the same with the two contractions as ``np.einsum`` (default,
  ``optimize=False``: NumPy's own loops, no BLAS) -- the literal transcription of the
  formula.  Slow: fewer steps per call.

Before timing, the NumPy gradient is checked against the model's on a few replicas
(``max_rel_gradient_diff``), and each row reports the mean energy per spin after its run.
On a GPU the anchors stay on the host CPU and physjax runs more steps per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from _harness import log, summarize, time_repeats

NAME = "dynamics"
DESCRIPTION = ("Langevin on the spherical spiked matrix-tensor model, N = 256, full order-3 "
               "tensor, 1024 replicas (replica-steps/s) vs NumPy")

UNIT = "replica-steps/s"
N = 256
P = 3
DELTA2, DELTAP = 0.7, 1.0
TEMPERATURE, DT = 1.0, 0.05
TARGET_CPU = 20.0


@dataclass(frozen=True)
class Workload:
    """R replicas; steps per timed call of each engine (``None`` skips the engine)."""

    R: int
    steps: int
    numpy_steps: int | None
    einsum_steps: int | None

    @property
    def label(self) -> str:
        return f"N={N} p={P}, R={self.R}"

    def figure(self, steps: int, seconds: float) -> float:
        return self.R * steps / seconds


def workloads(backend: str, quick: bool) -> list[Workload]:
    if backend == "cpu":
        # ~0.4 s (physjax) / ~1 s (BLAS) / ~5 s (einsum) per step at R = 1024 on 2 cores
        return [Workload(128, 16, 6, 1)] if quick else [Workload(1024, 8, 3, 1)]
    return [Workload(128, 400, 6, 1)] if quick else [Workload(1024, 200, 3, 1)]


def flops_per_replica_step(n: int = N) -> int:
    """Floating-point operations one replica-step must do at least (p = 3): the tensor
    contraction ``T(x, x, .)`` as ``x @ T.reshape(n, n*n)`` then an n x n matrix-vector
    product (2 n^3 + 2 n^2) and the matrix term ``Y x`` (2 n^2); the projection, noise and
    normalization are O(n) and not counted.  The GEMM dominates: the roofline is compute."""
    return 2 * n**3 + 4 * n**2


# ---------------------------------------------------------------------- the instance

def _instance(R: int, n: int = N):
    """The model (physjax), its arrays for NumPy, and R starts on the sphere (``n`` spins;
    the benchmark's N unless the device check asks for another size)."""
    import jax
    import jax.numpy as jnp

    import physjax.dynamics as dyn

    key = jax.random.key(0)
    model = dyn.spiked_matrix_tensor(key, n, delta2=DELTA2, deltap=DELTAP, p=P,
                                     dtype=jnp.float32)
    x0 = dyn.uniform_sphere(jax.random.fold_in(key, 1), n, shape=(R,), dtype=jnp.float32)
    arrays = {"matrix": np.asarray(model.matrix), "tensor": np.asarray(model.tensor),
              "x0": np.asarray(x0)}
    return model, x0, arrays


# --------------------------------------------------------------------- NumPy anchors

def numpy_gradient(x: np.ndarray, matrix: np.ndarray, tensor: np.ndarray, *,
                   einsum: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Energies ``(R,)`` and gradients ``(R, N)`` of the spiked matrix--tensor model (p = 3)
    for replicas ``x`` of shape ``(R, N)``, as in :class:`physjax.dynamics.SpikedMatrixTensor`:
    :math:`\\nabla H = -Yx/(\\Delta_2\\sqrt N) - c\\,T(x, x, \\cdot)/(\\Delta_p (p-1)!)`,
    :math:`c = \\sqrt{(p-1)!}/N^{(p-1)/2}`, :math:`H = x\\cdot g_2/2 + x\\cdot g_p/p`."""
    n = x.shape[-1]
    c = math.sqrt(math.factorial(P - 1)) / n ** ((P - 1) / 2)
    if einsum:
        g2 = -np.einsum("ij,rj->ri", matrix, x) / (DELTA2 * math.sqrt(n))
        tx = np.einsum("ijk,rk->rij", tensor, x)
        gp = -(c / (DELTAP * math.factorial(P - 1))) * np.einsum("rij,rj->ri", tx, x)
    else:
        g2 = -(x @ matrix) / (DELTA2 * math.sqrt(n))               # Y symmetric
        tx = (x @ tensor.reshape(n, n * n)).reshape(-1, n, n)      # T symmetric: one GEMM
        gp = -(c / (DELTAP * math.factorial(P - 1))) * np.matmul(tx, x[:, :, None])[..., 0]
    energy = np.sum(x * g2, -1) / 2 + np.sum(x * gp, -1) / P
    return energy, g2 + gp


def numpy_spherical_langevin(x: np.ndarray, matrix: np.ndarray, tensor: np.ndarray,
                             n_steps: int, rng: np.random.Generator, *,
                             einsum: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Projected Euler--Maruyama on :math:`|x|^2 = N`, the step of
    :class:`physjax.dynamics.OverdampedLangevin` with ``spherical=True``:
    :math:`x \\leftarrow x + dt\\,P_x(-\\nabla H) + \\sqrt{2T\\,dt}\\,\\xi`, then
    :math:`x \\leftarrow \\sqrt N x/|x|`, with :math:`P_x(v) = v - (x\\cdot v/N)x`; float32
    normals from ``rng``.  Returns the final positions and energies."""
    n = x.shape[-1]
    x = x.copy()
    energy, grad = numpy_gradient(x, matrix, tensor, einsum=einsum)
    noise = np.empty_like(x)
    scale = np.float32(math.sqrt(2.0 * TEMPERATURE * DT))
    for _ in range(n_steps):
        force = -grad + (np.sum(x * grad, -1, keepdims=True) / n) * x
        rng.standard_normal(out=noise, dtype=np.float32)
        x += DT * force + scale * noise
        x *= np.sqrt(n / np.sum(x * x, -1, keepdims=True))
        energy, grad = numpy_gradient(x, matrix, tensor, einsum=einsum)
    return x, energy


def _time_numpy(w: Workload, arrays: dict, repeats: int, *, einsum: bool) -> dict:
    steps = w.einsum_steps if einsum else w.numpy_steps
    rng = np.random.default_rng(0)
    seconds, (_, energy) = time_repeats(
        lambda x: numpy_spherical_langevin(x, arrays["matrix"], arrays["tensor"], steps, rng,
                                           einsum=einsum),
        lambda i: (arrays["x0"],), repeats)
    stats = summarize(seconds)
    how = ("np.einsum (optimize=False) for both contractions" if einsum else
           "x @ T.reshape(N, N*N) (OpenBLAS GEMM) and a batched matmul")
    return {"name": "numpy (einsum)" if einsum else "numpy (BLAS matmul)", "steps": steps,
            **stats, "figure": w.figure(steps, stats["median_s"]),
            "figure_best": w.figure(steps, stats["min_s"]),
            "energy_per_spin": float(np.mean(energy)) / arrays["x0"].shape[-1],
            "detail": f"plain NumPy projected Euler-Maruyama on the sphere, {how}, float32, "
                      "numpy_spherical_langevin in this file"}


# ---------------------------------------------------------------------------- physjax

def _time_physjax(w: Workload, model, x0, repeats: int) -> dict:
    import jax

    import physjax.dynamics as dyn

    langevin = dyn.OverdampedLangevin(model, DT, TEMPERATURE, spherical=True)
    states = dyn.init_replicas(jax.random.key(2), langevin, x0)
    jax.block_until_ready(states)

    def call(key, states):
        return dyn.run_replicas(key, langevin, states, [w.steps])

    seconds, (final, _) = time_repeats(
        call, lambda i: (jax.random.key(i + 3), states), repeats)
    stats = summarize(seconds)
    return {**stats, "steps": w.steps,
            "figure": w.figure(w.steps, stats["median_s"]),
            "figure_best": w.figure(w.steps, stats["min_s"]),
            "energy_per_spin": float(np.mean(np.asarray(final.energy))) / x0.shape[-1],
            "diverged": bool(np.any(np.asarray(final.diverged_at) >= 0))}


def _gradient_check(model, arrays: dict) -> float:
    """Largest relative difference between the NumPy and the model's gradients (4
    replicas; float32 contractions of 256^2 terms: ~1e-6)."""
    import jax

    x = arrays["x0"][:4]
    e_np, g_np = numpy_gradient(x, arrays["matrix"], arrays["tensor"])
    e_pj, g_pj = jax.vmap(model.energy_and_gradient)(x)
    e_ein, g_ein = numpy_gradient(x, arrays["matrix"], arrays["tensor"], einsum=True)
    scale = np.abs(np.asarray(g_pj)).max()
    diff = max(np.abs(g_np - np.asarray(g_pj)).max(), np.abs(g_ein - np.asarray(g_pj)).max())
    energy_diff = np.abs(e_np - np.asarray(e_pj)).max() / np.abs(np.asarray(e_pj)).max()
    return float(max(diff / scale, energy_diff))


# ------------------------------------------------------------------------------ rows

def run(quick: bool, repeats: int) -> list[dict]:
    import jax

    backend = jax.default_backend()
    rows = []
    for w in workloads(backend, quick):
        log(f"dynamics {w.label}: building the instance")
        model, x0, arrays = _instance(w.R)
        check = _gradient_check(model, arrays)
        log(f"dynamics {w.label}: numpy vs physjax gradient, max rel diff {check:.2e}")
        if check > 1e-4:
            raise RuntimeError(f"the NumPy anchor's gradient differs from the model's by "
                               f"{check:.2e} (relative): not the same math")
        anchors = []
        for einsum, steps in ((False, w.numpy_steps), (True, w.einsum_steps)):
            if steps is not None:
                log(f"dynamics {w.label}: numpy anchor ({'einsum' if einsum else 'BLAS'}), "
                    f"{steps} steps per call")
                anchors.append(_time_numpy(w, arrays, repeats, einsum=einsum))
        log(f"dynamics {w.label}: physjax run_replicas, {w.steps} steps per call")
        result = _time_physjax(w, model, x0, repeats)
        row = {"name": "run_replicas", "workload": w.label, "sweeps": w.steps,
               "N": N, "R": w.R, "p": P,
               "delta2": DELTA2, "deltap": DELTAP, "temperature": TEMPERATURE, "dt": DT,
               "unit": UNIT, "note": f"OverdampedLangevin(spherical=True), {w.steps} steps "
               "per call, one record", "max_rel_gradient_diff": check, **result,
               "flops": w.R * w.steps * flops_per_replica_step(N),
               "work_model": "2 N^3 + 4 N^2 flops per replica-step (tensor GEMM + matvecs)"}
        row["anchors"] = [{**a, "ratio": row["figure"] / a["figure"]} for a in anchors]
        if backend == "cpu" and not quick:
            row["target"] = TARGET_CPU
            row["target_text"] = (f">= {TARGET_CPU:g}x the NumPy anchor on the CPU (issue 8; "
                                  "judged against the BLAS anchor)")
            blas = [a for a in row["anchors"] if a["name"] == "numpy (BLAS matmul)"]
            row["meets_target"] = bool(blas and blas[0]["ratio"] >= TARGET_CPU)
        rows.append(row)
    return rows


if __name__ == "__main__":
    import sys

    for r in run(quick="--quick" in sys.argv, repeats=3):
        print(r["workload"], f"{r['figure']:.4g} {UNIT}",
              [(a["name"], round(a["ratio"], 2)) for a in r["anchors"]])
