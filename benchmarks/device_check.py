"""One device check: every benchmark family's hot path on the backend JAX sees, at sizes that
suit it, with compile time apart from run time, a roofline column and the published anchors.

    python benchmarks/device_check.py                  # --size auto: gpu sizes on an
                                                       # accelerator, tiny on a CPU
    python benchmarks/device_check.py --size cpu       # the CPU benchmark sizes
    python benchmarks/device_check.py --only ising --only curvature
    python benchmarks/device_check.py --out /tmp/dc    # directory, or a .json file path

Families are the ``benchmarks/bench_*.py`` modules.  A family with a workload table here
(``SPECS``) runs that; any other module whose ``run`` accepts ``size=`` is called as
``run(quick=size == "tiny", repeats=..., size=size)`` and must return rows in the benchmark
row format (``name``, ``workload``, ``median_s``, ``figure``, ``unit``, ``anchors``; work
counts ``bytes``/``flops`` per timed call for the roofline); a module without either is
listed as not covered, with the reason.

Sizes (``--size``): ``gpu`` -- the issue's accelerator workloads (Ising L = 1024 x 64
replicas and one L = 16384 lattice; RBM 1024x512 on 20000 Ising configurations and digits
64x256; resistor ensembles 64 x 40^2 and 1024 x 20^2 and one 200^2 grid; springs 64 x 1000
nodes; curvature on the 301k-parameter digits MLP and a 10.5M-parameter MLP; 3-spin dynamics
N = 512 x 1024 replicas; Hopfield retrieval N = 10^4, K = 1000); ``cpu`` -- the benchmarks'
CPU sizes (minutes on 2 cores); ``tiny`` -- small enough that the whole check runs in under
two minutes on a 2-core CPU (the test suite runs it); ``auto`` -- ``gpu`` on an accelerator,
``tiny`` on a CPU.

Every physjax row is the median of ``--repeats`` timed calls after one warm-up call;
``compile_s`` is the compilation that warm-up triggered (JAX's own compile events: tracing,
lowering, XLA compilation), reported apart from the run time.  Anchors run where they can
(THRML, scikit-learn, PyTorch + PyHessian, the Liu group's code; NumPy and SciPy always) and
are skipped with a one-line reason where they cannot; the issue's published GPU anchors and
targets are printed as reference columns.  Writes
``benchmarks/results/<device>-<date>-device-check.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import inspect
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import _roofline  # noqa: E402
import run as bench_run  # noqa: E402
from _harness import compile_delta, compile_seconds, log, time_device  # noqa: E402

SIZES = ("tiny", "cpu", "gpu")
DEFAULT_REPEATS = 3

# the published anchors and targets (reference columns, not measured here)
CUISING = {"name": "cuIsing 893/H100", "figure": 893.0, "unit": "flips/ns",
           "kind": "published", "device": "H100",
           "source": "NVIDIA ising-gpu README: cuIsing multi-spin CUDA, 893 flips/ns per H100"}


def _ref(text: str, figure: float | None = None, unit: str | None = None,
         kind: str = "target", **extra) -> dict:
    """A reference column: a published figure (``kind="published"``) or a target of the
    issue (``kind="target"``), never measured here."""
    return {"name": text, "figure": figure, "unit": unit, "kind": kind, **extra}


# =============================================================================== families

def _measured(fn: Callable[[], dict]) -> dict:
    """Run a bench module's timer (warm-up + timed calls) and add the compilation it
    triggered and the wall time of the whole timer."""
    before = compile_seconds()
    t0 = time.perf_counter()
    result = fn()
    return {**result, **compile_delta(before), "timer_wall_s": time.perf_counter() - t0}


def _unavailable(name: str, reason: str) -> dict:
    return {"name": name, "figure": None, "ratio": None, "unavailable": reason}


def _with_ratios(row: dict, anchors: list[dict]) -> dict:
    row["anchors"] = [{**a, "ratio": row["figure"] / a["figure"] if a.get("figure") else None}
                      for a in anchors]
    return row


def _target(row: dict, size: str, value: float | None, text: str, met: bool | None) -> None:
    """Targets of the issue apply on the accelerator sizes only."""
    if size == "gpu" and value is not None:
        row["target"], row["target_text"] = value, text
        row["meets_target"] = None if met is None else bool(met)


# ------------------------------------------------------------------------------- ising

def _ising(mod, size: str, repeats: int) -> list[dict]:
    table = {  # (label, L, R, sweeps, thrml sweeps or None)
        "tiny": [("replica batch", 64, 32, 50, 5), ("single lattice", 256, 1, 20, None)],
        "cpu": [("replica batch", 128, 256, 200, 20), ("single lattice", 1024, 1, 100, None)],
        "gpu": [("replica batch", 1024, 64, 2000, None),
                ("single lattice", 16384, 1, 200, None)],
    }[size]
    targets = {"replica batch": 1000.0, "single lattice": 100.0}
    rows = []
    for label, L, R, sweeps, thrml_sweeps in table:
        w = mod.Workload(L, R, sweeps, sweeps, None, None, thrml_sweeps)
        anchors = []
        if thrml_sweeps is not None:
            log(f"ising {w.label}: thrml anchor (subprocess)")
            anchors.append(mod._time_thrml(w))
        else:
            anchors.append(_unavailable("thrml", f"not run at L = {L}, R = {R}: THRML builds a "
                                                 "Python node per spin (only the small batch "
                                                 "is compared)"))
        log(f"ising {w.label}: physjax multispin, {sweeps} sweeps")
        res = _measured(lambda w=w: mod._time_multispin(w, w.sweeps, w.sweeps, repeats))
        row = {"name": f"multispin, {label}", "workload": w.label, "L": L, "R": R,
               "unit": mod.UNIT, **res,
               "bytes": mod.sweep_bytes(L, R, sweeps), "work_model": mod.WORK_MODEL,
               "references": [CUISING,
                              _ref(f"target >= {targets[label]:g} (GPU)", targets[label],
                                   mod.UNIT)]}
        _target(row, size, targets[label], f">= {targets[label]:g} flips/ns on a GPU",
                row["figure"] >= targets[label])
        rows.append(_with_ratios(row, anchors))
    return rows


# ----------------------------------------------------------------------------- hopfield

def _hopfield(mod, size: str, repeats: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import physjax.spins as ps

    N, K, R, sweeps = {"tiny": (256, 26, 8, 4), "cpu": (4096, 200, 64, 5),
                       "gpu": (10_000, 1000, 64, 5)}[size]
    T = 0.1
    xi = mod.hopfield_patterns(N, K)
    rng = np.random.default_rng(2)
    flip = np.where(rng.random((R, N)) < 0.1, -1.0, 1.0).astype(np.float32)
    starts = jnp.asarray(xi[0][None] * flip)  # pattern 0 with 10% of the spins flipped
    model = ps.hebbian(xi)
    states = jax.vmap(lambda k, s: ps.init_dense(k, model, T, spins=s))(
        jax.random.split(jax.random.key(0), R), starts)
    run = jax.jit(jax.vmap(lambda k, s: ps.run_dense(k, model, s, sweeps, rule="heat_bath",
                                                     record_every=sweeps)))
    log(f"hopfield retrieval N={N} K={K} R={R}: physjax, {sweeps} sweeps")
    stats, (final, _) = time_device(
        run, lambda i: (jax.random.split(jax.random.key(i + 1), R), states), repeats)
    overlap = float(jnp.mean(jnp.abs(final.spins @ jnp.asarray(xi[0])) / N))
    anchors = []
    log(f"hopfield retrieval N={N}: numpy anchor, 1 sweep")
    start_np = np.ascontiguousarray(np.asarray(starts).T)
    from _harness import summarize, time_repeats

    secs, _ = time_repeats(lambda s: mod.numpy_heat_bath(s, xi, 1.0 / T, 1, rng),
                           lambda i: (start_np.copy(),), max(1, min(repeats, 2)))
    s = summarize(secs)
    anchors.append({"name": "numpy", "sweeps": 1, **s,
                    "figure": N * R / s["median_s"] / 1e9,
                    "detail": "bench_hopfield.numpy_heat_bath, 1 sweep, host CPU"})
    row = {"name": "heat-bath retrieval (vmap run_dense)",
           "workload": f"{R} x N={N}, K={K}, T={T}, from pattern 0 with 10% flipped",
           "N": N, "K": K, "R": R, "sweeps": sweeps, "unit": mod.UNIT, **stats,
           "figure": N * R * sweeps / stats["median_s"] / 1e9,
           "final_overlap": overlap,
           "flops": mod.update_flops(N, K, R, sweeps), "work_model": mod.WORK_MODEL,
           "references": []}
    return [_with_ratios(row, anchors)]


# ---------------------------------------------------------------------------- boltzmann

def _boltzmann(mod, size: str, repeats: int) -> list[dict]:
    import numpy as np

    have_sklearn = importlib.util.find_spec("sklearn") is not None
    runs = max(1, min(repeats, 3))
    n_cfg, L, H, burn, ising_epochs = {"tiny": (1000, 16, 64, 20, 1),
                                       "cpu": (4000, 32, 512, 200, 1),
                                       "gpu": (20000, 32, 512, 200, 5)}[size]
    digit_epochs = {"tiny": 2, "cpu": 10, "gpu": 10}[size]
    rows = []

    def sklearn_anchor(X, hidden, lr, n_iter):
        if not have_sklearn:
            return _unavailable("sklearn BernoulliRBM",
                                "scikit-learn is not installed (pip install -e '.[data]')")
        return mod._time_sklearn(X, hidden, lr, n_iter, 1)

    # Ising configurations, 1024 x 512 on a GPU
    import jax

    from physjax import datasets

    if size == "tiny":  # the throughput depends on the shape only: skip the sampler's compile
        Xi = (np.random.default_rng(0).random((n_cfg, L * L)) < 0.5).astype(np.float64)
        what = "random bits in place of Ising configurations (tiny)"
    else:
        log(f"boltzmann: {n_cfg} Ising {L}x{L} configurations ({burn} sweeps)")
        d = datasets.ising_configurations(jax.random.key(0), L, [2.27], n_cfg, burn_in=burn,
                                          units="binary")
        Xi = np.asarray(d.spins[0], np.float64).reshape(n_cfg, -1)
        what = f"Ising {L}x{L} configurations at T=2.27"
    log(f"boltzmann ising {Xi.shape[1]}x{H}: sklearn anchor (1 epoch)")
    anchor = sklearn_anchor(Xi, H, 0.01, 1)
    log(f"boltzmann ising {Xi.shape[1]}x{H}: physjax CD-1, {ising_epochs} epoch(s)")
    res = _measured(lambda: mod._time_physjax(Xi, H, 0.01, ising_epochs, "cd", runs)[0])
    row = {"name": "CD-1 epoch, Ising", "unit": mod.UNIT,
           "workload": f"{n_cfg} {what}, {Xi.shape[1]}x{H}, batch "
                       f"{mod.BATCH}, {ising_epochs} epoch(s) per call",
           "n_visible": Xi.shape[1], "n_hidden": H, **res,
           "references": [_ref("target >= 20x sklearn on host CPU (GPU)")]}
    _with_ratios(row, [anchor])
    ratio = row["anchors"][0].get("ratio")
    if anchor.get("figure"):
        _target(row, size, 20.0 * anchor["figure"], ">= 20x scikit-learn on the host CPU",
                ratio is not None and ratio >= 20.0)
    rows.append(row)

    # digits 64 x 256 (random bits of the same shape when scikit-learn is missing)
    if have_sklearn:
        X, what = mod.digits_data(), "binarized digits"
    else:
        X = (np.random.default_rng(0).random((1797, 64)) < 0.5).astype(np.float64)
        what = "random bits in place of digits (scikit-learn missing)"
    log(f"boltzmann digits: sklearn anchor ({digit_epochs} epochs)")
    anchor = sklearn_anchor(X, 256, 0.05, digit_epochs)
    log(f"boltzmann digits: physjax CD-1, {digit_epochs} epochs")
    res = _measured(lambda: mod._time_physjax(X, 256, 0.05, digit_epochs, "cd", runs)[0])
    row = {"name": "CD-1 epochs, digits", "unit": mod.UNIT,
           "workload": f"{what} {X.shape[0]} x 64, 256 hidden, batch {mod.BATCH}, "
                       f"{digit_epochs} epochs per call",
           "n_visible": 64, "n_hidden": 256, **res, "references": []}
    rows.append(_with_ratios(row, [anchor]))
    return rows


# ---------------------------------------------------------------------------- curvature

def _curvature(mod, size: str, repeats: int) -> list[dict]:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np

    import physjax.curvature as pc
    from physjax.curvature.losses import cross_entropy_loss, loss_of_parameters, train

    widths = {"tiny": [64], "cpu": [512], "gpu": [512, 3200]}[size]
    train_steps = {"tiny": 0, "cpu": 50, "gpu": 50}[size]
    n_matvecs = {"tiny": 30, "cpu": 100, "gpu": 100}[size]
    runs = max(1, min(repeats, 3))
    if importlib.util.find_spec("sklearn") is not None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y, data = digits.data / 16.0, digits.target, "digits"
    else:
        rng = np.random.default_rng(0)
        x, y = rng.random((1797, 64)), rng.integers(0, 10, 1797)
        data = "random inputs of the digits' shape (scikit-learn missing)"
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.int32)
    rows = []
    for width in widths:
        model = eqx.nn.MLP(64, 10, width, 2, activation=jax.nn.relu, key=jax.random.key(0))
        if train_steps:  # tiny: the untrained net (saves the training loop's compilation)
            log(f"curvature MLP 64-{width}-{width}-10: {train_steps} Adam steps")
            model, _ = train(model, cross_entropy_loss, (x, y), n_steps=train_steps,
                             learning_rate=1e-3)
        f, params = loss_of_parameters(cross_entropy_loss, model, x, y)
        n_params = sum(a.size for a in jax.tree.leaves(params))
        shapes = [a.shape for a in jax.tree.leaves(params) if a.ndim == 2]
        flops_hvp = mod.mlp_hvp_flops(shapes, x.shape[0])
        flops_grad = mod.mlp_gradient_flops(shapes, x.shape[0])
        label = f"MLP 64-{width}-{width}-10 ({n_params:,} params), {data} {x.shape[0]}"
        base = {"n_params": n_params, "flops_per_hvp": flops_hvp}
        work = f"HVPs x {flops_hvp / 1e9:.3g} GFLOP ({mod.HVP_WORK_MODEL})"

        # one HVP and one gradient
        v = jax.tree.map(lambda a: jnp.ones_like(a) * 0.01, params)
        log(f"curvature {label}: HVP and gradient")
        grad = jax.jit(jax.grad(f))
        g_stats, _ = time_device(grad, lambda i, p=params: (p,), max(repeats, 5))
        h_stats, _ = time_device(pc.hvp_fn(f, params), lambda i, v=v: (v,), max(repeats, 5))
        over = h_stats["median_s"] / g_stats["median_s"]
        row = {"name": "HVP", "workload": f"{label}: one HVP", "unit": "HVP/s", **base,
               **h_stats, "figure": 1.0 / h_stats["median_s"], "flops": flops_hvp,
               "work_model": work, "gradient_s": g_stats["median_s"],
               "gradient_gflops": flops_grad / g_stats["median_s"] / 1e9,
               "hvp_over_gradient": over, "anchors": [],
               "references": [_ref("target HVP <= 2.5 gradients (GPU)")]}
        _target(row, size, 1.0 / (2.5 * g_stats["median_s"]), "HVP <= 2.5 x gradient",
                over <= 2.5)
        rows.append(row)

        # top-5 Lanczos
        log(f"curvature {label}: Lanczos top-5, tol 1e-3")
        stats, out = time_device(lambda key, f=f, p=params: pc.hessian_eigenpairs(
                                     key, f, p, k=5, tol=1e-3),
                                 lambda i: (jax.random.key(100 + i),), runs)
        n_hvps = int(out.n_matvecs)
        eig = {"name": "lanczos top-5", "workload": f"{label}: top-5 eigenvalues, tol 1e-3",
               "unit": "runs/s", **base, **stats, "figure": 1.0 / stats["median_s"],
               "n_hvps": n_hvps, "flops": n_hvps * flops_hvp, "work_model": work,
               "eigenvalues": np.asarray(out.eigenvalues, np.float64).tolist(),
               "converged": bool(np.all(np.asarray(out.converged))),
               "references": ([_ref("target >= 10x PyHessian on host CPU (GPU)")]
                              if width == 512 else [])}
        anchors = [_pyhessian_top5(mod, width, size, x, y, params, eig["eigenvalues"])]
        _with_ratios(eig, anchors)
        if width == 512 and anchors[0].get("figure"):
            _target(eig, size, 10.0 * anchors[0]["figure"], ">= 10x PyHessian (CPU)",
                    eig["anchors"][0]["ratio"] >= 10.0)
        rows.append(eig)

        # Hutch++
        log(f"curvature {label}: Hutch++, {n_matvecs} HVPs")
        stats, out = time_device(lambda key, f=f, p=params: pc.hutch_plus_plus(
                                     key, f, p, n_matvecs),
                                 lambda i: (jax.random.key(300 + i),), runs)
        rows.append({"name": "hutch++", "workload": f"{label}: trace, {n_matvecs} HVPs",
                     "unit": "runs/s", **base, **stats, "figure": 1.0 / stats["median_s"],
                     "n_hvps": n_matvecs, "flops": n_matvecs * flops_hvp, "work_model": work,
                     "estimate": float(out.estimate), "anchors": [], "references": []})
    return rows


def _pyhessian_top5(mod, width, size, x, y, params, eigenvalues) -> dict:
    """PyHessian's top-5 on the host CPU, through bench_curvature's worker (the 301k MLP
    only: the worker builds that model)."""
    import jax
    import numpy as np

    name = "pyhessian top-5 (host CPU)"
    if width != 512:
        return _unavailable(name, "the PyHessian worker builds the 301k-parameter MLP only")
    reason = mod._pyhessian_unavailable()
    if reason:
        return _unavailable(name, reason)
    if size == "tiny":
        return _unavailable(name, "not run at tiny size")
    try:
        leaves = [np.asarray(a) for a in jax.tree.leaves(params)]
        n = sum(a.size for a in leaves)
        p = mod.Problem("MLP (device check)", None, params, n, float("nan"), np.asarray(x),
                        np.asarray(y), leaves, np.asarray(eigenvalues, np.float64)[::-1]
                        if eigenvalues[0] < eigenvalues[-1] else
                        np.asarray(eigenvalues, np.float64), float("nan"),
                        "physjax's own Lanczos (device check)")
        w = mod.Workload("mlp", 0, 0.0, 1, 10, (1e-3,), (), False, 1, 1)
        res = mod._run_pyhessian(p, w, 1, np.zeros(n, np.float32))
        if "unavailable" in res:
            return _unavailable(name, res["unavailable"])
        entry = res["eigen"]["5"][0]
        return {"name": name, "median_s": float(np.median(entry["seconds"])),
                "figure": 1.0 / float(np.median(entry["seconds"])), "tol": entry["tol"],
                "n_hvps": int(np.median(entry["hvps"])), "torch": res.get("torch")}
    except Exception as exc:  # noqa: BLE001 - an anchor never fails the check
        return _unavailable(name, f"{type(exc).__name__}: {exc}"[:300])


# ----------------------------------------------------------------------------- dynamics

def _dynamics(mod, size: str, repeats: int) -> list[dict]:
    N, R, steps, np_steps = {"tiny": (64, 64, 10, 2), "cpu": (256, 128, 8, 2),
                             "gpu": (512, 1024, 50, 1)}[size]
    log(f"dynamics N={N} R={R}: building the instance")
    model, x0, arrays = mod._instance(R, N)
    w = mod.Workload(R, steps, np_steps, None)
    log(f"dynamics N={N} R={R}: numpy (BLAS) anchor, {np_steps} step(s), host CPU")
    anchor = mod._time_numpy(w, arrays, max(1, min(repeats, 2)), einsum=False)
    log(f"dynamics N={N} R={R}: physjax run_replicas, {steps} steps")
    res = _measured(lambda: mod._time_physjax(w, model, x0, repeats))
    row = {"name": "run_replicas (3-spin Langevin)", "unit": mod.UNIT,
           "workload": f"N={N} p=3 full tensor, R={R}, {steps} steps per call", "N": N,
           "R": R, "sweeps": steps, **res,
           "flops": R * steps * mod.flops_per_replica_step(N),
           "work_model": "2 N^3 + 4 N^2 flops per replica-step (tensor GEMM + matvecs)",
           "references": []}
    return [_with_ratios(row, [anchor])]


# ----------------------------------------------------------------------------- networks

def _networks(mod, size: str, repeats: int) -> list[dict]:
    import numpy as np
    from threadpoolctl import threadpool_limits

    table = {  # (L, networks, physjax steps per call, anchor steps, anchor networks)
        "tiny": [(10, 1, 20, 2, 1), (10, 8, 10, 1, 4)],
        "cpu": [(40, 1, 20, 2, 1), (20, 64, 10, 1, 8)],
        "gpu": [(200, 1, 20, 1, 1), (40, 64, 50, 1, 8), (20, 1024, 50, 1, 16)],
    }[size]
    rule = "coupled_learning"
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for L, nets, steps, a_steps, a_nets in table:
            w = mod.Workload(L, nets, steps, a_steps)
            n_edges = 2 * L * (L - 1)
            k0 = np.random.default_rng(1).uniform(0.5, 2.0, (nets, n_edges))
            log(f"networks {w.label}: scipy anchor on {a_nets} network(s), {a_steps} step(s)")
            anchor = mod._time_anchor(mod.Workload(L, a_nets, steps, a_steps), rule,
                                      list(k0[:a_nets]), max(1, min(repeats, 2)))
            anchor["networks_timed"] = a_nets
            log(f"networks {w.label}: physjax {rule}, {steps} steps")
            res = _measured(lambda w=w, k0=k0: mod._time_physjax(w, rule, k0, repeats))
            row = {"name": f"{rule}, {'ensemble' if nets > 1 else 'single'}",
                   "workload": w.label, "L": L, "networks": nets, "edges": n_edges,
                   "unit": mod.UNIT, **res,
                   "bytes": nets * steps * mod.step_bytes(L * L, n_edges, 2),
                   "work_model": mod.WORK_MODEL, "references": []}
            if nets == 1024:
                row["references"] = [_ref("target >= 100x SciPy spsolve loop (GPU)")]
            _with_ratios(row, [anchor])
            if nets == 1024:
                _target(row, size, 100.0 * anchor["figure"], ">= 100x SciPy spsolve looped",
                        row["anchors"][0]["ratio"] >= 100.0)
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------ springs

def _springs(mod, size: str, repeats: int) -> list[dict]:
    import jax
    from threadpoolctl import threadpool_limits

    nets, particles, steps, a_steps = {"tiny": (4, 64, 5, 2), "cpu": (16, 500, 20, 5),
                                       "gpu": (64, 1000, 50, 5)}[size]
    # tiny: the default solver above 512 dofs only (each solver is a compilation)
    solvers = ("multifrontal",) if size == "tiny" else ("cg", "banded", "multifrontal")
    # per-row compile time: bench_springs times each row with time_repeats, in order
    records = []
    original = mod.time_repeats

    def recording(call, prepare, n):
        before = compile_seconds()
        t0 = time.perf_counter()
        out = original(call, prepare, n)
        records.append({**compile_delta(before), "timer_wall_s": time.perf_counter() - t0})
        return out

    mod.time_repeats = recording
    try:
        with jax.enable_x64(True), threadpool_limits(limits=1, user_api="blas"):
            rows = mod._ensemble(nets, particles, repeats, steps, a_steps, solvers)
    finally:
        mod.time_repeats = original
    for row, rec in zip(rows, records[1:], strict=False):  # records[0]: the anchor
        row.update(rec)
        row.setdefault("references", [])
        for key in ("target", "target_text", "meets_target"):  # issue 6's CPU target
            row.pop(key, None)
    return rows


# -------------------------------------------------------------------------------- train

def _train(mod, size: str, repeats: int) -> list[dict]:
    import jax.numpy as jnp

    from physjax import graphs
    from physjax import networks as nw

    L, steps = {"tiny": (10, 100), "cpu": (20, 1000), "gpu": (20, 1000)}[size]
    liu = mod._liu()
    t = liu.task_arrays(L, 1)
    k_init = jnp.asarray(liu.initial_conductances(L))
    rates = liu.LEARNING_RATES

    def call(lr):
        g = graphs.square_grid(L)
        task = nw.make_task(t["sources"], t["targets"], jnp.asarray(t["inputs"]),
                            desired=jnp.asarray(t["desired"]), ground_nodes=t["ground"],
                            n_nodes=t["n_nodes"])
        return nw.train(g, k_init, task, rule="coupled_learning", n_steps=steps,
                        learning_rate=lr, eta=liu.ETA).conductances

    log(f"train {L}x{L}: networks.train as the README calls it, {steps} steps")
    stats, _ = time_device(call, lambda i: (rates[(i + 1) % len(rates)],), repeats)
    row = {"name": "networks.train (new learning rate)", "unit": mod.UNIT,
           "workload": f"{L}x{L} grid, 1 example, {steps} steps, coupled learning", "L": L,
           "steps": steps, **stats, "figure": steps / stats["median_s"],
           "ms_per_step": 1e3 * stats["median_s"] / steps,
           "bytes": steps * mod.step_bytes(L * L, 2 * L * (L - 1), 1),
           "work_model": mod.WORK_MODEL, "references": []}
    liu_dir, reason = liu.find_liu_dir()
    if liu_dir is None:
        anchor = _unavailable("liu dense-jit", reason)
    else:
        w = mod.Workload(L, 1, steps)
        res = mod._run_anchor(w, "dense", liu_dir, 1, 2)
        if "unavailable" in res[0]:
            anchor = _unavailable("liu dense-jit", res[0]["unavailable"])
        else:
            later = [c["total_s"] for p in res for c in p["calls"][1:]]
            anchor = {"name": "liu dense-jit", "median_s": later[0],
                      "figure": steps / later[0]}
    return [_with_ratios(row, [anchor])]


SPECS: dict[str, Callable] = {
    "ising": _ising, "hopfield": _hopfield, "boltzmann": _boltzmann,
    "curvature": _curvature, "dynamics": _dynamics, "networks": _networks,
    "springs": _springs, "train": _train,
}


# ================================================================================ driver

def _accepts_size(fn) -> bool:
    try:
        return "size" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def family_runner(name: str, module) -> tuple[Callable | None, str | None]:
    """(runner(size, repeats) -> rows, or None with the reason the family is not covered)."""
    if name in SPECS:
        return (lambda size, repeats: SPECS[name](module, size, repeats)), None
    run = getattr(module, "run", None)
    if run is not None and _accepts_size(run):
        return (lambda size, repeats: run(quick=size == "tiny", repeats=repeats,
                                          size=size)), None
    return None, (f"bench_{name}.py has no device-check workloads: give its run() a "
                  f"size='tiny'|'cpu'|'gpu' parameter (or add it to SPECS in device_check.py)")


def resolve_size(size: str, backend: str) -> str:
    if size == "auto":
        return "tiny" if backend == "cpu" else "gpu"
    return size


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}g}" if abs(x) < 1e5 else f"{x:.3g}"
    return str(x)


def _anchor_cell(row: dict) -> str:
    cells = [f"{a['name']} {_fmt(a['ratio'])}x" for a in row.get("anchors", [])
             if a.get("figure") and a.get("ratio") is not None]
    return "; ".join(cells) if cells else "-"


def _reference_cell(row: dict) -> str:
    cells = []
    for r in row.get("references", []):
        if r.get("kind") == "published" and r.get("figure") and r.get("unit") == row.get("unit"):
            cells.append(f"{r['name']} ({_fmt(row['figure'] / r['figure'])}x)")
        else:
            cells.append(r["name"])
    if row.get("target") is not None:
        met = row.get("meets_target")
        cells.append("target " + ("met" if met else "MISSED" if met is False else "?"))
    return "; ".join(cells) if cells else "-"


def format_table(families: list[dict]) -> str:
    header = ["family", "row", "workload", "rate", "unit", "roofline", "bound", "compile s",
              "run s", "anchor ratio", "reference"]
    lines = []
    for fam in families:
        if fam.get("error"):
            lines.append([fam["name"], "ERROR", fam["error"].strip().splitlines()[-1][:90],
                          *[""] * 8])
            continue
        if fam.get("skipped"):
            lines.append([fam["name"], "not covered", fam["skipped"][:90], *[""] * 8])
            continue
        for row in fam["rows"]:
            rl = row.get("roofline") or {}
            lines.append([fam["name"], row["name"], row["workload"][:60], _fmt(row["figure"]),
                          row.get("unit", ""),
                          _fmt(rl.get("fraction"), 2) if rl else "-",
                          rl.get("bound", "-") if rl else "-",
                          _fmt(row.get("compile_s"), 2), _fmt(row.get("median_s"), 3),
                          _anchor_cell(row), _reference_cell(row)])
    widths = [max([len(header[i])] + [len(r[i]) for r in lines]) for i in range(len(header))]
    fmt_row = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
    out = [fmt_row(header), fmt_row(["-" * w for w in widths]), *map(fmt_row, lines)]
    notes = []
    for fam in families:
        seen = set()
        for row in fam.get("rows", []):
            for a in row.get("anchors", []):
                if a.get("unavailable") and (a["name"], a["unavailable"]) not in seen:
                    seen.add((a["name"], a["unavailable"]))
                    notes.append(f"  {fam['name']}: {a['name']} skipped: {a['unavailable']}")
    if notes:
        out += ["", "anchors skipped:", *notes]
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/device_check.py",
        description="Run every benchmark family's hot path on JAX's backend at a size that "
                    "suits it; print one table and write a JSON record.")
    p.add_argument("--size", choices=(*SIZES, "auto"), default="auto",
                   help="workload sizes (default auto: gpu on an accelerator, tiny on a CPU)")
    p.add_argument("--only", metavar="FAMILY", action="append",
                   help="run only this family (repeatable)")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="N",
                   help=f"timed calls per row after one warm-up (default {DEFAULT_REPEATS})")
    p.add_argument("--out", type=Path, default=bench_run.DEFAULT_OUT, metavar="PATH",
                   help="directory for the JSON record, or a .json file (default "
                        "benchmarks/results/)")
    p.add_argument("--list", action="store_true", help="list the families and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    available = bench_run.discover()
    if args.list:
        print("\n".join(available))
        return 0
    names = list(available)
    if args.only:
        unknown = [n for n in args.only if n not in available]
        if unknown:
            print(f"device_check: unknown family {', '.join(map(repr, unknown))}; "
                  f"families: {', '.join(available)}", file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    if args.repeats < 1:
        print("device_check: --repeats must be >= 1", file=sys.stderr)
        return 2

    import jax

    backend = jax.default_backend()
    size = resolve_size(args.size, backend)
    machine = bench_run.machine_info()
    started = _dt.datetime.now().astimezone()
    wall0 = time.perf_counter()
    print(f"physjax device check on {machine['slug']} (jax {machine['jax']} {backend}: "
          f"{', '.join(machine['devices'])}); size {size}, repeats {args.repeats}", flush=True)

    print("[roofline probes]", file=sys.stderr, flush=True)
    probe_repeats = 3 if size == "tiny" else 5
    probes = [_roofline.measure(repeats=probe_repeats)]
    log(f"memory {probes[0]['memory_source']}; compute {probes[0]['compute_source']}")

    families = []
    for name in names:
        print(f"[{name}]", file=sys.stderr, flush=True)
        entry = {"name": name, "rows": [], "error": None, "skipped": None}
        t0 = time.perf_counter()
        before = compile_seconds()
        try:
            module = bench_run.load(available[name])
            runner, reason = family_runner(name, module)
            if runner is None:
                entry["skipped"] = reason
                log(f"{name}: not covered: {reason}")
            else:
                entry["rows"] = runner(size, args.repeats)
        except Exception:  # noqa: BLE001 - report and go on with the other families
            entry["error"] = traceback.format_exc()
            print(entry["error"], file=sys.stderr)
        entry["wall_s"] = round(time.perf_counter() - t0, 2)
        entry["compile"] = compile_delta(before)
        families.append(entry)

    print("[roofline probes, again]", file=sys.stderr, flush=True)
    probes.append(_roofline.measure(repeats=probe_repeats))
    limits = _roofline.best_of(probes)
    for entry in families:
        _roofline.annotate(entry["rows"], limits)
    wall = time.perf_counter() - wall0

    print()
    print(format_table(families))
    compile_total = sum(f["compile"]["compile_s"] for f in families)
    print(f"\nroofline = rate / the binding limit, measured in this run: memory "
          f"{limits['memory_source']}; compute {limits['compute_source']}")
    print(f"wall {wall:.1f} s, of which compilation {compile_total:.1f} s (JAX compile "
          f"events; anchors and probes included in the wall time)")

    out = args.out
    if out.suffix != ".json":
        out = out / f"{machine['slug']}-{started.date().isoformat()}-device-check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "schema": 1,
        "kind": "device-check",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine,
        "options": {"size": size, "size_requested": args.size, "only": args.only,
                    "repeats": args.repeats,
                    "statistic": "median of the timed calls after one warm-up call"},
        "wall_s": round(wall, 1),
        "compile_s": round(compile_total, 2),
        "roofline_limits": limits,
        "roofline_probes": probes,
        "families": families,
    }
    out.write_text(json.dumps(record, indent=2, default=_json_default) + "\n")
    shown = out.relative_to(bench_run.REPO) if out.is_relative_to(bench_run.REPO) else out
    print(f"wrote {shown}")
    return 1 if any(f["error"] for f in families) else 0


def _json_default(x):
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:
        pass
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
