"""Resistor-network training steps: physjax against SciPy sparse direct solves.

Workload (issue 5): the seed-000 task (two voltage sources in two corners, a ground in a
third, two targets in the middle; V_T1 = .15 V_S1 + .3 V_S2, V_T2 = .2 V_S1 + .1 V_S2 learned
from the two unit input examples) on open L x L square grids, L = 10, 20, 40, 100, and on an
ensemble of 64 networks of 20 x 20 (same grid, different random initial conductances).  One
training step of each rule:

* double optimization: free state, adjoint state, gradient, update;
* coupled learning (eta = 0.1): free state, clamped state, local update;
* equilibrium propagation (centred, beta = 0.1): two nudged states, local update.

Figure of merit: **training steps per second** (networks x steps / s for the ensemble).

physjax: :func:`physjax.networks.train` with ``optax.sgd``, jit-compiled, ``steps`` steps per
timed call (``lax.scan``), float32 (the library default) and ``solver="auto"`` (dense below
256 free nodes, banded block Cholesky above); the ensemble is ``jax.vmap`` over the initial
conductances.

Anchor ("scipy spsolve"): the way this is usually written -- per step and per network, build
the sparse Laplacian H = D^T K D from the conductances, extend it with the Lagrange rows of
the imposed voltages (seed 000), and solve with ``scipy.sparse.linalg.spsolve`` (SuperLU,
float64), all input examples as columns of one right-hand side; the ensemble loops over the
networks.  Its double-optimization gradient is checked against physjax's before timing.

Both sides run with the BLAS/LAPACK thread pools limited to one thread
(``threadpoolctl``): jaxlib's CPU LAPACK kernels (Cholesky, triangular solves) come from
SciPy's OpenBLAS, whose threads fight XLA's own on the small blocks of the banded solver --
on this machine the 100 x 100 step took 250-600 ms with OpenBLAS threads and 20-26 ms without,
while the SciPy anchor did not change.  Users get the same by setting
``OPENBLAS_NUM_THREADS=1``.

Targets (CPU): >= 5x the anchor per network at 40 x 40, >= 50x for the 64-network
ensemble, and 100 x 100 (19 800 edges) under 50 ms per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from _harness import log, summarize, time_repeats

NAME = "networks"
DESCRIPTION = ("Resistor-network training steps (double optimization, coupled learning, "
               "equilibrium propagation) on square grids and a 64-network ensemble vs SciPy "
               "spsolve")

UNIT = "steps/s"
SEED_TASK = np.array([[0.15, 0.3], [0.2, 0.1]])
RULES = ("double_optimization", "coupled_learning", "equilibrium_propagation")
ETA = 0.1
LEARNING_RATE = 0.05
K_MIN, K_MAX = 1e-3, 1e3


@dataclass(frozen=True)
class Workload:
    L: int
    networks: int  # 1, or the ensemble size
    steps: int  # physjax steps per timed call
    anchor_steps: int  # anchor steps per timed call

    @property
    def label(self) -> str:
        base = f"{self.L}x{self.L} grid"
        return base if self.networks == 1 else f"{self.networks} x {base}"


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [Workload(10, 1, 50, 5), Workload(20, 1, 20, 3), Workload(20, 8, 10, 1)]
    return [Workload(10, 1, 200, 20), Workload(20, 1, 200, 10), Workload(40, 1, 100, 5),
            Workload(100, 1, 10, 2), Workload(20, 64, 50, 1)]


# Minimal memory traffic of one training step of one network, for the roofline column.  Each
# rule needs two linear solves with the network's Laplacian (double optimization: free and
# adjoint states; coupled learning: free and clamped; equilibrium propagation: two nudged
# states).  Any solver -- direct or iterative -- reads the operator at least once per solve:
# the Laplacian is assembled from the bonds, so E x (conductance 4 B + two endpoints 2 x 4 B),
# and it reads the right-hand sides and writes the solutions, n x n_rhs x (4 + 4) B.  The
# update reads and writes the conductances (2 x 4 B per bond).  Factors, fill-in and Krylov
# vectors are not counted: this is a lower bound, which says how far the step is from what
# the memory system allows -- not that a direct solve of a grid could reach it.
SOLVES_PER_STEP = 2
WORK_MODEL = ("per step: 2 solves x (read the bonds 12 B/edge + rhs and solution 8 B per "
              "node and example) + conductance update 8 B/edge (float32)")


def step_bytes(n_nodes: int, n_edges: int, n_rhs: int, itemsize: int = 4,
               solves: int = SOLVES_PER_STEP) -> float:
    """Bytes one training step of one resistor network must move at least (see above)."""
    per_solve = n_edges * (itemsize + 8) + n_nodes * n_rhs * 2 * itemsize
    return float(solves * per_solve + 2 * itemsize * n_edges)


def grid_problem(L: int):
    idx = np.arange(L * L).reshape(L, L)
    edges = np.concatenate([np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1),
                            np.stack([idx[:-1].ravel(), idx[1:].ravel()], 1)])
    n = L * L
    sources = np.array([0, L - 1])
    ground = np.array([n - 1])
    targets = np.array([n // 2 + L // 2, n // 2 + L // 4])
    inputs = np.eye(2)
    desired = inputs @ SEED_TASK.T
    return edges, n, sources, ground, targets, inputs, desired


# --------------------------------------------------------------------------- the anchor

class ScipyResistorNetwork:
    """One network solved the usual way: sparse Lagrange-extended Laplacian + spsolve."""

    def __init__(self, L: int):
        import scipy.sparse as sp

        self.sp = sp
        edges, n, src, gnd, tgt, inputs, desired = grid_problem(L)
        ne = len(edges)
        rows = np.r_[np.arange(ne), np.arange(ne)]
        self.D = sp.csr_matrix((np.r_[np.ones(ne), -np.ones(ne)],
                                (rows, np.r_[edges[:, 0], edges[:, 1]])), shape=(ne, n))
        self.n, self.tgt = n, tgt
        self.fixed = np.r_[src, gnd]
        self.fixed_values = np.c_[inputs, np.zeros((len(inputs), len(gnd)))]  # (n_ex, n_fixed)
        self.desired = desired
        self.n_ex = len(inputs)

    def _solve(self, k, fixed, values, extra_diag=None, currents=None):
        """Voltages (n, n_ex) with V[fixed] = values (n_fixed, n_ex)."""
        from scipy.sparse.linalg import spsolve

        sp = self.sp
        h = self.D.T @ sp.diags(k) @ self.D
        if extra_diag is not None:
            h = h + sp.diags(extra_diag)
        m = len(fixed)
        e = sp.csr_matrix((np.ones(m), (np.arange(m), fixed)), shape=(m, self.n))
        ext = sp.bmat([[h, -e.T], [-e, None]], format="csc")
        rhs = np.zeros((self.n + m, values.shape[1]))
        if currents is not None:
            rhs[: self.n] = currents
        rhs[self.n:] = -values
        sol = spsolve(ext, rhs)
        return sol.reshape(self.n + m, -1)[: self.n]

    def free(self, k):
        return self._solve(k, self.fixed, self.fixed_values.T)

    def gradient(self, k):
        """Double optimization: free state, adjoint state, dC/dk_e = -(D a)_e (D V)_e."""
        v = self.free(k)
        dc_dv = np.zeros_like(v)
        dc_dv[self.tgt] = (v[self.tgt] - self.desired.T) / self.n_ex
        adj = self._solve(k, self.fixed, np.zeros_like(self.fixed_values.T), currents=dc_dv)
        return -np.sum((self.D @ adj) * (self.D @ v), axis=1)

    def step(self, rule: str, k):
        if rule == "double_optimization":
            g = self.gradient(k)
        elif rule == "coupled_learning":
            v = self.free(k)
            v_t = v[self.tgt] + ETA * (self.desired.T - v[self.tgt])
            vc = self._solve(k, np.r_[self.fixed, self.tgt],
                             np.r_[self.fixed_values.T, v_t])
            g = np.mean((self.D @ vc) ** 2 - (self.D @ v) ** 2, axis=1) / ETA
        else:
            def nudged(beta):
                diag = np.zeros(self.n)
                diag[self.tgt] = beta
                cur = np.zeros((self.n, self.n_ex))
                cur[self.tgt] = beta * self.desired.T
                return self._solve(k, self.fixed, self.fixed_values.T, diag, cur)
            g = np.mean((self.D @ nudged(ETA)) ** 2 - (self.D @ nudged(-ETA)) ** 2,
                        axis=1) / (4 * ETA)
        return np.clip(k - LEARNING_RATE * g, K_MIN, K_MAX)


def _time_anchor(w: Workload, rule: str, k0: np.ndarray, repeats: int) -> dict:
    nets = ScipyResistorNetwork(w.L)

    def call(ks):
        for _ in range(w.anchor_steps):
            ks = [nets.step(rule, k) for k in ks]
        return ks

    seconds, _ = time_repeats(call, lambda i: ([k.copy() for k in k0],), repeats)
    stats = summarize(seconds)
    return {"name": "scipy spsolve", "steps": w.anchor_steps, **stats,
            "figure": w.networks * w.anchor_steps / stats["median_s"]}


# --------------------------------------------------------------------------- physjax

def _physjax_problem(w: Workload):
    import jax.numpy as jnp

    from physjax import graphs, networks

    edges, n, src, gnd, tgt, inputs, desired = grid_problem(w.L)
    graph = graphs.square_grid(w.L)
    np.testing.assert_array_equal(np.sort(np.asarray(graph.edges), 1), np.sort(edges, 1))
    task = networks.make_task(src, tgt, jnp.asarray(inputs), desired=jnp.asarray(desired),
                              ground_nodes=gnd, n_nodes=n)
    return graph, task


def _time_physjax(w: Workload, rule: str, k0: np.ndarray, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    from physjax import networks

    graph, task = _physjax_problem(w)
    opt = optax.sgd(LEARNING_RATE)

    def train(k):
        return networks.train(graph, k, task, rule=rule, n_steps=w.steps, optimizer=opt,
                              eta=ETA, k_min=K_MIN, k_max=K_MAX, check=False).conductances

    fn = jax.jit(jax.vmap(train) if w.networks > 1 else train)
    ks = jnp.asarray(k0 if w.networks > 1 else k0[0], jnp.float32)
    seconds, _ = time_repeats(fn, lambda i: (ks,), repeats)
    stats = summarize(seconds)
    return {**stats, "steps": w.steps, "figure": w.networks * w.steps / stats["median_s"]}


def gradient_check(L: int = 10) -> float:
    """Max relative difference of the anchor's and physjax's gradient (float64)."""
    import jax
    import jax.numpy as jnp

    from physjax import networks

    w = Workload(L, 1, 1, 1)
    k = np.random.default_rng(0).uniform(0.5, 2.0, 2 * L * (L - 1))
    with jax.enable_x64(True):
        graph, task = _physjax_problem(w)
        _, g, _ = networks.double_optimization_gradient(graph, jnp.asarray(k), task)
    ref = ScipyResistorNetwork(L).gradient(k)
    return float(np.max(np.abs(np.asarray(g) - ref)) / np.max(np.abs(ref)))


def run(quick: bool, repeats: int) -> list[dict]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _run(quick, repeats)


def _run(quick: bool, repeats: int) -> list[dict]:
    import jax

    backend = jax.default_backend()
    check = gradient_check()
    log(f"networks: anchor vs physjax gradient, max rel diff {check:.1e}")
    if check > 1e-8:
        raise RuntimeError(f"the SciPy anchor's gradient differs from physjax's by {check:.1e}")
    rows = []
    for w in workloads(quick):
        n_edges = 2 * w.L * (w.L - 1)
        k0 = np.random.default_rng(1).uniform(0.5, 2.0, (w.networks, n_edges))
        for rule in RULES:
            log(f"networks {w.label} {rule}: scipy anchor, {w.anchor_steps} steps per call")
            anchor = _time_anchor(w, rule, list(k0), repeats)
            log(f"networks {w.label} {rule}: physjax, {w.steps} steps per call")
            result = _time_physjax(w, rule, k0, repeats)
            ms_per_step = 1e3 * result["median_s"] / result["steps"]
            row = {"name": rule, "workload": w.label, "L": w.L, "edges": n_edges,
                   "networks": w.networks, "unit": UNIT, "ms_per_step": ms_per_step,
                   "max_rel_gradient_diff": check,
                   "note": "float32, solver='auto'; anchor float64 SuperLU; BLAS threads = 1",
                   **result,
                   "bytes": w.networks * result["steps"] * step_bytes(w.L * w.L, n_edges, 2),
                   "work_model": WORK_MODEL,
                   "anchors": [{**anchor, "ratio": result["figure"] / anchor["figure"]}]}
            if backend == "cpu" and not quick:
                if w.networks > 1:
                    row["target"], text = 50.0, ">= 50x the anchor for the ensemble"
                    row["meets_target"] = row["anchors"][0]["ratio"] >= 50.0
                elif w.L == 40:
                    row["target"], text = 5.0, ">= 5x the anchor per network at 40x40"
                    row["meets_target"] = row["anchors"][0]["ratio"] >= 5.0
                elif w.L == 100:
                    text = "< 50 ms per step at 100x100"
                    row["meets_target"] = ms_per_step < 50.0
                else:
                    text = None
                if text:
                    row["target_text"] = text + " (issue 5)"
            rows.append(row)
    return rows


if __name__ == "__main__":
    import sys

    for r in run(quick="--quick" in sys.argv, repeats=3):
        print(r["workload"], r["name"], f"{r['ms_per_step']:.3f} ms/step",
              [(a["name"], round(a["ratio"], 2)) for a in r["anchors"]])
