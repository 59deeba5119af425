"""Anchor: the Liu group's coupled-learning code (github.com/maguzj/coupled_learning) training
an L x L grid resistor network, on its dense-JIT path and on its SciPy-sparse path.

Usage::

    python liu_coupled_learning.py --liu-dir DIR --L 10 --steps 1000 --path dense|sparse
        [--examples 1|2] [--calls 3] [--json OUT]

``DIR`` (or the environment variable ``PHYSJAX_LIU_CL_DIR``) is a checkout of that
repository: its root or its ``coupled_learning/`` folder.  Nothing of it is copied here; its
modules are imported from there.  Its imports need networkx, matplotlib, tqdm, cmocean, numba,
vapory and poisson_disc besides jax and scipy (``pip install numba cmocean vapory`` and
``pip install --no-deps poisson_disc``: poisson_disc pins numpy 1.x, and only its
``Bridson_sampling`` is imported).

Workload (the one ``benchmarks/bench_train.py`` gives ``physjax.networks.train``): the open
L x L grid of ``bench_networks.grid_problem`` (their ``grid_network(L, L)``, same node
numbering), voltage sources at nodes 0 and L-1, ground (a source held at 0 in their code) at
node L*L-1, targets at L*L/2 + L/2 and L*L/2 + L/4; seed 000's linear task
V_T = A V_S, A = [[0.15, 0.3], [0.2, 0.1]]; initial conductances uniform in [0.5, 2]
(``default_rng(1)``, in physjax's edge order, mapped onto theirs); coupled learning with
eta = 0.1, learning rate 0.05 (then 0.1, 0.02, ... for the later calls), conductances clipped
to [1e-3, 1e3]; ``steps`` steps as one epoch (their loss is evaluated once per epoch, so one
epoch is their cheapest way to run the steps).

* ``--examples 1`` (default): one input example V_S = (1, 0.5), the allostery task their
  ``CL.set_task`` + ``CL.train_CL`` take; both paths.
* ``--examples 2``: the two unit inputs of ``grid_problem`` (V_S = e_1, e_2), averaged in each
  step; only their sparse path trains on several examples (``set_task_regression`` +
  ``train_CL_batch`` with the whole batch each step; its dense branch raises
  ``NotImplementedError``).

Paths: ``dense`` = ``CL(..., jax=True).train_CL``: dense incidence matrix, dense extended
Hessian solved by ``jax.scipy.linalg.solve`` in the jitted ``CL._sstep_CL_NA``, one jitted call
per step from a Python loop, float32 (JAX's default; not switched to float64).  ``sparse`` =
``CL(..., jax=False).train_CL``: SciPy sparse extended Hessian and ``spsolve`` per solve,
float64.

Timing: each call builds the graph (``grid_network``), the ``CL`` object and the task, then
trains; ``setup_s`` and ``train_s`` are reported separately and ``total_s`` is their sum.
Call 0 runs in this (fresh) process, so for the dense path it includes JIT compilation; the
later calls (new ``CL`` objects with other learning rates) show the steady state.  Prints one
line ``RESULT {json}`` (and writes the JSON to ``--json``); the final conductances of each
call are given in physjax's edge order, for cross-checking.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ENV_VAR = "PHYSJAX_LIU_CL_DIR"
REPO_URL = "https://github.com/maguzj/coupled_learning"
SEED_TASK = np.array([[0.15, 0.3], [0.2, 0.1]])
ONE_EXAMPLE = np.array([[1.0, 0.5]])
ETA = 0.1
LEARNING_RATES = (0.05, 0.1, 0.02, 0.07, 0.03, 0.08, 0.04, 0.06)
K_MIN, K_MAX = 1e-3, 1e3
PATHS = ("dense", "sparse")


# ------------------------------------------------------------------------ the workload

def grid_edges(L: int) -> np.ndarray:
    """Edges of the open L x L grid in physjax's order (``graphs.square_grid``,
    ``bench_networks.grid_problem``): horizontal bonds row by row, then vertical ones."""
    idx = np.arange(L * L).reshape(L, L)
    return np.concatenate([np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1),
                           np.stack([idx[:-1].ravel(), idx[1:].ravel()], 1)])


def task_arrays(L: int, examples: int = 1) -> dict:
    """Sources, ground, targets, inputs (n_examples, 2) and desired (n_examples, 2)."""
    n = L * L
    if examples == 1:
        inputs = ONE_EXAMPLE
    elif examples == 2:
        inputs = np.eye(2)
    else:
        raise ValueError(f"examples must be 1 or 2, got {examples}")
    return {"n_nodes": n, "sources": np.array([0, L - 1]), "ground": np.array([n - 1]),
            "targets": np.array([n // 2 + L // 2, n // 2 + L // 4]),
            "inputs": inputs, "desired": inputs @ SEED_TASK.T}


def initial_conductances(L: int) -> np.ndarray:
    """Initial conductances in physjax's edge order."""
    return np.random.default_rng(1).uniform(0.5, 2.0, 2 * L * (L - 1))


# ------------------------------------------------------------------ finding their code

def find_liu_dir(explicit: str | os.PathLike | None = None) -> tuple[Path | None, str | None]:
    """The folder holding their ``cl_utils.py`` (from ``explicit`` or ``$PHYSJAX_LIU_CL_DIR``),
    or ``(None, reason)``."""
    given = explicit if explicit else os.environ.get(ENV_VAR)
    if not given:
        return None, (f"no checkout of {REPO_URL}: set {ENV_VAR} (or pass --liu-dir) to "
                      "its path")
    root = Path(given).expanduser().resolve()
    for folder in (root / "coupled_learning", root):
        if (folder / "cl_utils.py").is_file():
            return folder, None
    return None, f"{ENV_VAR}={given} holds no coupled_learning/cl_utils.py"


def _import_liu(folder: Path):
    sys.path.insert(0, str(folder))
    import matplotlib

    matplotlib.use("Agg")  # their modules import pyplot
    from cl_utils import CL
    from network_utils import grid_network

    return CL, grid_network


# ------------------------------------------------------------------------------ one run

def run(liu_dir: Path, L: int, steps: int, path: str, examples: int = 1, calls: int = 2,
        epochs: int = 1) -> dict:
    """Train ``calls`` times in this process; see the module docstring."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}")
    if steps % epochs:
        raise ValueError("epochs must divide steps")
    if path == "dense" and examples != 1:
        return {"unavailable": "their dense-JIT path trains on one example per step "
                               "(CL.train_CL_batch raises NotImplementedError for jax=True)"}
    t0 = time.perf_counter()
    CL, grid_network = _import_liu(liu_dir)
    import jax

    import_s = time.perf_counter() - t0
    t = task_arrays(L, examples)
    src_ground = np.r_[t["sources"], t["ground"]]
    ours = grid_edges(L)
    k_ours = initial_conductances(L)
    position = {tuple(sorted(e)): i for i, e in enumerate(ours.tolist())}
    np.random.seed(0)  # train_CL_batch draws its batches with np.random

    results = []
    for c in range(calls):
        lr = LEARNING_RATES[c % len(LEARNING_RATES)]
        t0 = time.perf_counter()
        g = grid_network(L, L, periodic=False, size_uc=(1, 1), relabel_nodes=True)
        theirs = [position[tuple(sorted(e))] for e in g.edges]  # their edge e = our theirs[e]
        allo = CL(g, k_ours[theirs].copy(), learning_rate=lr, min_k=K_MIN, max_k=K_MAX,
                  jax=(path == "dense"), name=f"CL_{path}")
        if examples == 1:
            allo.set_task(src_ground, np.r_[t["inputs"][0], 0.0], t["targets"],
                          t["desired"][0])
        else:
            # rows [V_S1, V_S2, V_ground, V_T1, V_T2]; the "regression matrix" maps the
            # sources (ground included) to the targets
            train_data = np.c_[t["inputs"], np.zeros(examples), t["desired"]]
            allo.set_task_regression(src_ground, t["targets"],
                                     matrix=np.c_[SEED_TASK, np.zeros(2)])
        t1 = time.perf_counter()
        if examples == 1:
            losses, k = allo.train_CL(epochs, steps // epochs, eta=ETA, verbose=False,
                                      pbar=False, log_spaced=False, save_global=False,
                                      save_state=False)
        else:
            losses, k = allo.train_CL_batch(train_data, epochs, steps // epochs, examples,
                                            eta=ETA, verbose=False, pbar=False,
                                            log_spaced=False, save_global=False,
                                            save_state=False)
        k = np.asarray(jax.block_until_ready(k), dtype=np.float64)
        final_loss = float(np.asarray(losses[-1]))
        t2 = time.perf_counter()
        k_back = np.empty_like(k)
        k_back[theirs] = k
        results.append({"learning_rate": lr, "setup_s": t1 - t0, "train_s": t2 - t1,
                        "total_s": t2 - t0, "final_loss": final_loss,
                        "conductances": k_back.tolist()})
    return {"L": L, "steps": steps, "epochs": epochs, "path": path, "examples": examples,
            "eta": ETA, "k_min": K_MIN, "k_max": K_MAX, "import_s": import_s,
            "dtype": "float32" if path == "dense" and not jax.config.jax_enable_x64
            else "float64",
            "jax": jax.__version__, "calls": results}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--liu-dir", default=None, help=f"checkout of {REPO_URL} (else ${ENV_VAR})")
    p.add_argument("--L", type=int, default=10)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--path", choices=PATHS, default="dense")
    p.add_argument("--examples", type=int, choices=(1, 2), default=1)
    p.add_argument("--calls", type=int, default=2, help="trainings in this process (>= 1)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)
    folder, reason = find_liu_dir(args.liu_dir)
    if folder is None:
        out = {"unavailable": reason}
    else:
        out = run(folder, args.L, args.steps, args.path, args.examples, max(args.calls, 1),
                  args.epochs)
    text = json.dumps(out)
    if args.json:
        Path(args.json).write_text(text)
    print("RESULT " + text)
    for i, c in enumerate(out.get("calls", [])):
        print(f"liu {args.path} L={args.L} examples={args.examples} steps={args.steps} "
              f"call {i} (lr {c['learning_rate']}): setup {c['setup_s']:.3f}s "
              f"train {c['train_s']:.3f}s loss {c['final_loss']:.3g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
