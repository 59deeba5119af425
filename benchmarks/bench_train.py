"""Coupled-learning training called as a user calls it: ``physjax.networks.train`` against the
Liu group's coupled-learning code (github.com/maguzj/coupled_learning).

Workload: open L x L grids, L = 10 and 20, 1000 steps of coupled learning (quick: 100 steps).
The graph, sources, ground, targets and seed-000 task are those of
``bench_networks.grid_problem`` (sources at nodes 0 and L-1, ground at L*L-1, targets at
L*L/2 + L/2 and L*L/2 + L/4, V_T = A V_S with A = [[0.15, 0.3], [0.2, 0.1]]); eta = 0.1,
learning rate 0.05, conductances clipped to [1e-3, 1e3] (physjax's defaults), initial
conductances uniform in [0.5, 2].  Two task sizes:

* ``1 example`` (V_S = (1, 0.5)): the allostery task both of the anchor's paths train on;
  the target row.
* ``2 examples`` (V_S = e_1, e_2, as in ``bench_networks``; full runs only): only the anchor's
  sparse path trains on several examples (its dense path is recorded as unavailable).

physjax: ``networks.train(graph, k, task, rule="coupled_learning", n_steps=..., learning_rate=
lr, eta=0.1)`` exactly as the README shows it -- a plain call, not wrapped in ``jax.jit`` here,
float32 (the library default), ``solver="auto"``.  Each timed call builds the graph
(``graphs.square_grid``), the task (``make_task``) and the conductances, then calls ``train``
and blocks on its result.  Rows:

* ``first call (fresh process)``: the first such call in a new Python process (a subprocess of
  this file, so no compilation is cached; imports are done before and not timed);
* ``second call (new learning rate)``: later calls in the same process, each with another
  learning rate (0.1, 0.02) -- what a user sees when sweeping a hyperparameter;
* ``first call (fresh process, warm JAX persistent cache)`` (1-example workloads): the first
  call of a new process run with JAX's persistent compilation cache on
  (``JAX_COMPILATION_CACHE_DIR``, every compilation stored) after one earlier process filled
  it -- what a user who turns the cache on sees when a script or notebook runs again.  Tracing
  and lowering still run; the XLA compilation is read from disk.  The anchor's processes get
  a cache of their own the same way (its dense path is JAX code).

Each physjax process makes 3 calls (learning rates 0.05, 0.1, 0.02); each anchor process 2
(0.05, 0.1).

Anchor: ``benchmarks/anchors/liu_coupled_learning.py`` run in subprocesses with this
interpreter, on their two paths, timed the same way (build ``grid_network``, ``CL`` object and
task, then ``train_CL`` with all steps in one epoch):

* ``liu dense-jit``: ``CL(..., jax=True).train_CL`` -- one jitted step per Python-loop
  iteration, dense extended Hessian, ``jax.scipy.linalg.solve``, float32 (JAX's default);
* ``liu scipy-sparse``: ``CL(..., jax=False).train_CL`` (``train_CL_batch`` for 2 examples) --
  SciPy sparse extended Hessian and ``spsolve``, float64.

Their code is never copied here: point ``PHYSJAX_LIU_CL_DIR`` at a checkout of
https://github.com/maguzj/coupled_learning; without it the anchors are recorded as unavailable.
The final conductances of physjax's first call are compared with the anchor's (same learning
rate) as a check that the workloads are the same (``max_rel_k_diff``).

Figure: **training steps per second** = steps / seconds of the call, so ``ratio`` = physjax /
anchor = anchor seconds / physjax seconds (> 1: physjax faster).  Each figure is the median
over ``min(repeats, 3)`` fresh processes (quick: ``min(repeats, 2)``) of their first call, or
over the later calls of those processes.  Target (CPU, full runs, 1 example): physjax >= 3x the
anchor's fastest path at both sizes, for both rows.

Every subprocess, physjax's and the anchor's alike, gets this environment with
``OPENBLAS_NUM_THREADS=1`` added unless it is set already (the README's advice for the CPU;
``bench_networks`` limits both sides the same way).  It matters most to the anchor's dense
path, whose LU goes through jaxlib's LAPACK (SciPy's OpenBLAS): on a busy 2-core machine its
20x20 steps took 20-100 ms with OpenBLAS threads and about 10 ms without.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _harness import log, summarize
from bench_networks import WORK_MODEL, step_bytes

NAME = "train"
DESCRIPTION = ("networks.train (coupled learning, 1000 steps, called as in the README) on "
               "10x10 and 20x20 grids vs the Liu group's coupled_learning code (dense-JIT and "
               "SciPy-sparse paths)")

UNIT = "steps/s"
TARGET = 3.0
WORKER_TIMEOUT_S = 1800
BENCH_DIR = Path(__file__).resolve().parent
ANCHOR_SCRIPT = BENCH_DIR / "anchors" / "liu_coupled_learning.py"
ANCHORS = (("liu dense-jit", "dense"), ("liu scipy-sparse", "sparse"))
ROWS = ("first call (fresh process)", "second call (new learning rate)",
        "first call (fresh process, warm JAX persistent cache)")
CACHED = ROWS[2]
#: What turns JAX's persistent compilation cache on in a worker (JAX reads these variables;
#: physjax itself changes no global JAX setting).  Every compilation is stored, however short.
CACHE_ENV = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _liu():
    """The anchor harness as a module (its task definition is shared with physjax's side)."""
    name = "physjax_benchmarks.liu_coupled_learning"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ANCHOR_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class Workload:
    L: int
    examples: int
    steps: int

    @property
    def label(self) -> str:
        ex = "1 example" if self.examples == 1 else f"{self.examples} examples"
        return f"{self.L}x{self.L} grid, {ex}, {self.steps} steps"


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [Workload(10, 1, 100), Workload(20, 1, 100)]
    return [Workload(10, 1, 1000), Workload(20, 1, 1000), Workload(10, 2, 1000),
            Workload(20, 2, 1000)]


# ------------------------------------------------------------------------ physjax worker

def _physjax_worker(L: int, steps: int, examples: int, calls: int, out: str) -> None:
    """Subprocess entry: ``calls`` trainings, the first one with nothing compiled yet."""
    t0 = time.perf_counter()
    import jax
    import jax.numpy as jnp

    from physjax import graphs
    from physjax import networks as nw

    liu = _liu()
    import_s = time.perf_counter() - t0
    t = liu.task_arrays(L, examples)
    k_init = liu.initial_conductances(L)
    results = []
    for c in range(calls):
        lr = liu.LEARNING_RATES[c % len(liu.LEARNING_RATES)]
        t0 = time.perf_counter()
        g = graphs.square_grid(L)
        task = nw.make_task(t["sources"], t["targets"], jnp.asarray(t["inputs"]),
                            desired=jnp.asarray(t["desired"]), ground_nodes=t["ground"],
                            n_nodes=t["n_nodes"])
        k = jnp.asarray(k_init)
        t1 = time.perf_counter()
        res = nw.train(g, k, task, rule="coupled_learning", n_steps=steps, learning_rate=lr,
                       eta=liu.ETA)
        jax.block_until_ready(res)
        t2 = time.perf_counter()
        if c == 0:
            np.testing.assert_array_equal(np.sort(np.asarray(g.edges), 1),
                                          np.sort(liu.grid_edges(L), 1))
        results.append({"learning_rate": lr, "setup_s": t1 - t0, "train_s": t2 - t1,
                        "total_s": t2 - t0, "final_cost": float(res.final_cost),
                        "conductances": np.asarray(res.conductances, np.float64).tolist()})
    Path(out).write_text(json.dumps({
        "import_s": import_s, "dtype": str(res.conductances.dtype), "calls": results}))


def _worker_env(cache_dir: str | None = None) -> dict:
    """This environment, with ``OPENBLAS_NUM_THREADS=1`` unless it is set already, and JAX's
    persistent compilation cache in ``cache_dir`` when one is given (else turned off)."""
    env = os.environ.copy()
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache_dir is not None:
        env.update(CACHE_ENV, JAX_COMPILATION_CACHE_DIR=cache_dir)
    return env


def _subprocess(cmd: list[str], out: Path, cache_dir: str | None = None) -> dict:
    """Run a worker; its JSON, or ``{"unavailable": reason}``."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S,
                              env=_worker_env(cache_dir))
    except subprocess.TimeoutExpired:
        return {"unavailable": f"worker timed out after {WORKER_TIMEOUT_S} s"}
    if proc.returncode != 0 or not out.is_file():
        lines = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines()
                 or ["no output"])
        return {"unavailable": f"worker failed (exit {proc.returncode}): {lines[-1][:300]}"}
    return json.loads(out.read_text())


def _run_physjax(w: Workload, runs: int, calls: int, cache_dir: str | None = None
                 ) -> list[dict]:
    results = []
    for r in range(runs):
        with tempfile.TemporaryDirectory(prefix="physjax-train-") as tmp:
            out = Path(tmp) / "out.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--physjax-worker",
                   str(w.L), str(w.steps), str(w.examples), str(calls), str(out)]
            res = _subprocess(cmd, out, cache_dir)
        if "unavailable" in res:
            raise RuntimeError(f"physjax worker for {w.label}: {res['unavailable']}")
        log(f"train {w.label}: physjax process {r + 1}/{runs}: " + ", ".join(
            f"{c['total_s']:.2f}s" for c in res["calls"]))
        results.append(res)
    return results


def _run_anchor(w: Workload, path: str, liu_dir: Path, runs: int, calls: int,
                cache_dir: str | None = None) -> list[dict]:
    results = []
    for r in range(runs):
        with tempfile.TemporaryDirectory(prefix="physjax-liu-") as tmp:
            out = Path(tmp) / "out.json"
            cmd = [sys.executable, str(ANCHOR_SCRIPT), "--liu-dir", str(liu_dir), "--L",
                   str(w.L), "--steps", str(w.steps), "--path", path, "--examples",
                   str(w.examples), "--calls", str(calls), "--json", str(out)]
            res = _subprocess(cmd, out, cache_dir)
        if "unavailable" in res:
            return [res]
        log(f"train {w.label}: liu {path} process {r + 1}/{runs}: " + ", ".join(
            f"{c['total_s']:.2f}s" for c in res["calls"]))
        results.append(res)
    return results


def _by_row(processes: list[dict]) -> dict[str, list[dict]]:
    """The calls of the processes by row: each first call, and the later ones."""
    return {ROWS[0]: [p["calls"][0] for p in processes],
            ROWS[1]: [c for p in processes for c in p["calls"][1:]]}


def _max_rel_diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ---------------------------------------------------------------------------------- run

def run(quick: bool, repeats: int) -> list[dict]:
    import jax

    liu = _liu()
    liu_dir, reason = liu.find_liu_dir()
    runs = min(repeats, 2 if quick else 3)
    calls, anchor_calls = 3, 2
    backend = jax.default_backend()
    threads = _worker_env()["OPENBLAS_NUM_THREADS"]
    rows = []
    for w in workloads(quick):
        log(f"train {w.label}: physjax, {runs} fresh processes x {calls} calls")
        ours = _run_physjax(w, runs, calls)
        k_ours = ours[0]["calls"][0]["conductances"]
        calls_of = _by_row(ours)
        cached = w.examples == 1  # the target workloads
        if cached:
            with tempfile.TemporaryDirectory(prefix="physjax-jax-cache-") as cache:
                log(f"train {w.label}: physjax, persistent cache: 1 priming + {runs} processes")
                _run_physjax(w, 1, 1, cache)
                warm = _run_physjax(w, runs, 1, cache)
            calls_of[CACHED] = [p["calls"][0] for p in warm]
        rows_here = [row for row in ROWS if row in calls_of]
        anchors = {row: [] for row in rows_here}
        for name, path in ANCHORS:
            if liu_dir is None:
                res = [{"unavailable": reason}]
            else:
                log(f"train {w.label}: {name}, {runs} fresh processes x {anchor_calls} calls")
                res = _run_anchor(w, path, liu_dir, runs, anchor_calls)
            if "unavailable" in res[0]:
                for row in rows_here:
                    anchors[row].append({"name": name, "figure": None, "ratio": None,
                                         "unavailable": res[0]["unavailable"]})
                continue
            check = _max_rel_diff(k_ours, res[0]["calls"][0]["conductances"])
            log(f"train {w.label}: final conductances, physjax vs {name}: max rel diff "
                f"{check:.1e}")
            extra = {"dtype": res[0]["dtype"], "steps": w.steps, "max_rel_k_diff": check,
                     "import_s": res[0]["import_s"]}
            a_calls = _by_row(res)
            if cached:  # the anchor gets the same cache (its dense path is JAX code)
                with tempfile.TemporaryDirectory(prefix="physjax-liu-cache-") as cache:
                    log(f"train {w.label}: {name}, persistent cache: 1 priming + {runs} "
                        "processes")
                    _run_anchor(w, path, liu_dir, 1, 1, cache)
                    warm = _run_anchor(w, path, liu_dir, runs, 1, cache)
                if "unavailable" in warm[0]:
                    anchors[CACHED].append({"name": name, "figure": None, "ratio": None,
                                            "unavailable": warm[0]["unavailable"]})
                else:
                    a_calls[CACHED] = [p["calls"][0] for p in warm]
            for row in a_calls:
                s = summarize([c["total_s"] for c in a_calls[row]])
                s["figure"] = w.steps / s["median_s"]
                s["figure_best"] = w.steps / s["min_s"]
                s["setup_s"] = float(np.median([c["setup_s"] for c in a_calls[row]]))
                anchors[row].append({"name": name, **s, **extra})
        for row in rows_here:
            calls_here = calls_of[row]
            s = summarize([c["total_s"] for c in calls_here])
            figure = w.steps / s["median_s"]
            entry = {"name": row, "workload": w.label, "L": w.L, "examples": w.examples,
                     "steps": w.steps, "unit": UNIT, **s, "figure": figure,
                     "figure_best": w.steps / s["min_s"],
                     "ms_per_step": 1e3 * s["median_s"] / w.steps,
                     "setup_s": float(np.median([c["setup_s"] for c in calls_here])),
                     "train_s": float(np.median([c["train_s"] for c in calls_here])),
                     "import_s": ours[0]["import_s"], "dtype": ours[0]["dtype"],
                     "learning_rates": sorted({c["learning_rate"] for c in calls_here}),
                     # minimal traffic of the steps (bench_networks' model; graph building
                     # and, in the first call, compilation are in the time but not here)
                     "bytes": w.steps * step_bytes(w.L * w.L, 2 * w.L * (w.L - 1),
                                                   w.examples),
                     "work_model": WORK_MODEL,
                     "note": ("networks.train called as in the README (not jitted here), "
                              f"solver='auto'; {runs} fresh processes x "
                              f"{1 if row == CACHED else calls} calls; "
                              "each call includes building graph and task; "
                              f"OPENBLAS_NUM_THREADS={threads} on both sides"
                              + ("; JAX_COMPILATION_CACHE_DIR set on both sides, filled by "
                                 "one earlier process" if row == CACHED else "")),
                     "anchors": []}
            for a in anchors[row]:
                if a.get("figure") is not None:
                    a = {**a, "ratio": figure / a["figure"]}
                entry["anchors"].append(a)
            measured = [a for a in entry["anchors"] if a.get("figure") is not None]
            if measured:
                fastest = max(measured, key=lambda a: a["figure"])
                entry["fastest_anchor"] = fastest["name"]
                entry["ratio_vs_fastest"] = fastest["ratio"]
            if (backend == "cpu" and not quick and w.examples == 1
                    and len(measured) == len(ANCHORS)):
                entry["target"] = TARGET
                entry["meets_target"] = entry["ratio_vs_fastest"] >= TARGET
                entry["target_text"] = (">= 3x the Liu code's fastest path at 10x10 and "
                                        "20x20, 1000 steps")
            rows.append(entry)
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--physjax-worker":
        L, steps, examples, calls = map(int, sys.argv[2:6])
        _physjax_worker(L, steps, examples, calls, sys.argv[6])
        sys.exit(0)
    for r in run(quick="--quick" in sys.argv, repeats=3):
        print(r["workload"], r["name"], f"{r['median_s']:.3f} s",
              [(a["name"], None if a.get("ratio") is None else round(a["ratio"], 2))
               for a in r["anchors"]])
