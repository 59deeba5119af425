r"""Resistor networks that learn (seed 000; Stern, Guzman, Martins, Liu, Balasubramanian,
arXiv 2406.09689): three learning rules, the cost and physical Hessians during training, and
the small-nudge limit of the local rules.

The task throughout is seed 000's linear regression: two source nodes with imposed voltages
:math:`V_{S1}, V_{S2}`, one ground node, and two target nodes that should read
:math:`V_{T1} = 0.15\,V_{S1} + 0.3\,V_{S2}`, :math:`V_{T2} = 0.2\,V_{S1} + 0.1\,V_{S2}`.  With
voltage sources and a ground the free state is linear in :math:`V_S`, so the two examples
:math:`V_S = (1, 0)` and :math:`(0, 1)` define the task: :math:`2\times 2 = 4` constraints.
The five terminals are distinct nodes drawn at random from the experiment's key.

* ``resistor-learning``: cost against step for double optimization (:math:`\nabla_k C`
  through the equilibrium), coupled learning (hard clamp, :math:`\eta`) and equilibrium
  propagation (centred nudge :math:`\pm\eta`), each with Adam, on one random network; the
  trained conductances drawn on the graph.
* ``hessian-evolution``: double optimization with snapshots; at each snapshot the spectrum of
  the cost Hessian :math:`\partial^2 C/\partial k_i\partial k_j` (``jax.hessian`` through the
  solve) and of the physical Hessian :math:`H_{ff}` (the Laplacian on the free nodes).  Seed
  000: learning raises the highest cost-Hessian eigenvalues and lowers the lowest physical
  ones (:math:`\mathcal H \sim (H^{-1})^4` at a solution); at the end the number of stiff
  cost-Hessian modes (eigenvalues above :math:`10^{-6}\lambda_{max}`) equals the number of
  independent constraints, checked on several tasks (targets x independent examples; a
  third example :math:`V_S = (1, 1)` adds no independent constraint in a linear network).
* ``eta-convergence``: on a square grid with random conductances, the error of the local
  rules against their :math:`\eta \to 0` limits for :math:`\eta \in [10^{-4}, 10^{-1}]`:
  equilibrium propagation (positive, negative, centred nudge) against :math:`\nabla_k C`,
  and the coupled-learning contrast gradient :math:`\partial_k\mathcal C_\eta` against
  :math:`\frac1n J^\top (I_n\otimes G_{eff})\, r` -- :math:`J = \partial r/\partial k`, the
  residuals :math:`r = V_T^F - V_T^{desired}` of the :math:`n` examples, and :math:`G_{eff}`
  the effective conductance matrix between the targets (inverse of the targets' block of
  :math:`H_{ff}^{-1}`).  Log-log slopes: 1 for coupled learning and one-sided EP, 2 for
  centred EP.

Which network.  The default graphs are random regular graphs (``graph="regular"``, drawn
with a spring layout).  On random *geometric* graphs (``graph="geometric"``), which are
nearly planar, the seed-000 task is often not realizable: with random terminals on 64-node
networks of mean coordination 4 and 3000 Adam steps, double optimization reached
:math:`C < 10^{-8}` on 1 of 12 random geometric graphs (8 of them stuck above
:math:`10^{-3}`, at the same cost for every optimizer and rule we tried) but on 12 of 12
random 4-regular graphs (:math:`C \sim 10^{-31}`).  The likely reason is topological: a
(nearly) planar network cannot route "S2 -> T1 strongly" and "S1 -> T2 strongly" past
each other when the terminals lie in the wrong order.

Everything runs in float64 (a scoped ``jax.enable_x64``): the stiff-mode count compares
eigenvalues across 6+ decades and the centred-EP error reaches :math:`10^{-8}`.
"""

from __future__ import annotations

import time
from typing import get_args

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_choice, check_positive, check_positive_int
from physjax._options import GraphKind
from physjax.experiments import ExperimentResult, register
from physjax.experiments._networks_figures import eta_figure, hessian_figure, learning_figure

SEED000_COEFFICIENTS = ((0.15, 0.3), (0.2, 0.1))  #: seed 000: V_T = A V_S
SEED000_INPUTS = ((1.0, 0.0), (0.0, 1.0))  #: the two independent input examples
RULE_LABELS = {"double_optimization": "double optimization",
               "coupled_learning": "coupled learning",
               "equilibrium_propagation": "equilibrium propagation"}
STIFF_THRESHOLD = 1e-6  #: stiff cost-Hessian modes: eigenvalues above this times lambda_max


# --------------------------------------------------------------------------- helpers

def random_network(key, n_nodes: int, coordination: float, graph: GraphKind = "regular"):
    """A connected random network: a random regular graph of degree ``coordination`` or a
    random geometric graph of that mean coordination in the unit square."""
    from physjax import graphs as pg

    check_choice(graph, "graph", GraphKind)
    n_nodes = check_positive_int(n_nodes, "n_nodes", minimum=6)
    if graph == "regular":
        degree = int(round(coordination))
        if degree != coordination:
            raise ValueError(f"coordination must be an integer for graph='regular', got "
                             f"{coordination}")
        return pg.random_regular(key, n_nodes, degree)
    return pg.random_geometric(key, n_nodes, float(coordination))


def terminal_nodes(key, n_nodes: int, n_sources: int = 2, n_targets: int = 2,
                   n_ground: int = 1):
    """Distinct random source, target and ground nodes drawn from ``key``."""
    n = n_sources + n_targets + n_ground
    if n > n_nodes:
        raise ValueError(f"need {n} distinct terminals, the network has {n_nodes} nodes")
    rng = np.random.default_rng(np.asarray(jax.random.bits(key, (4,), jnp.uint32)))
    nodes = rng.choice(n_nodes, n, replace=False)
    return (tuple(int(i) for i in nodes[:n_sources]),
            tuple(int(i) for i in nodes[n_sources:n_sources + n_targets]),
            tuple(int(i) for i in nodes[n_sources + n_targets:]))


def seed000_task(graph, sources, targets, ground, *, inputs=SEED000_INPUTS,
                 target_rows=(0, 1)):
    """Seed 000's task on the given terminals: :math:`V_T = A V_S` for the listed
    ``inputs`` examples and the rows ``target_rows`` of :math:`A` (which targets)."""
    from physjax.networks import make_task

    coeff = np.asarray(SEED000_COEFFICIENTS)[list(target_rows)]
    return make_task(sources, [targets[i] for i in target_rows],
                     jnp.asarray(inputs, jnp.result_type(float)), coefficients=coeff,
                     ground_nodes=ground, n_nodes=graph.n_nodes)


def adam_halving(learning_rate: float, n_steps: int):
    """Adam whose learning rate halves every ``n_steps / 4`` steps (ends at 1/16 of it).

    With a constant rate Adam reaches C ~ 1e-30 and is then kicked back out (to C ~ 1e-7
    on a 256-node network with rate 0.01): its normalized steps do not shrink with the
    gradient.  The decay keeps the solution."""
    import optax

    return optax.adam(optax.exponential_decay(learning_rate, max(1, n_steps // 4), 0.5))


def _check_rates(learning_rate, eta):
    check_positive(learning_rate, "learning_rate")
    check_positive(eta, "eta")


# ------------------------------------------------------------------ resistor-learning

@register(
    "resistor-learning",
    description="seed 000 task learned by a random resistor network: cost vs step for "
                "double optimization, coupled learning, equilibrium propagation; "
                "conductance maps",
    quick={"n_nodes": 64, "coordination": 4.0, "graph": "regular", "n_steps": 1000,
           "learning_rate": 0.02, "eta": 0.01},
    full={"n_nodes": 256, "coordination": 4.0, "graph": "regular", "n_steps": 4000,
          "learning_rate": 0.02, "eta": 0.01},
)
def resistor_learning(key, *, n_nodes, coordination, graph, n_steps, learning_rate, eta,
                      progress=None) -> ExperimentResult:
    """Train k (initially 1 on every edge) with each rule and Adam (``learning_rate``,
    halved every n_steps/4: :func:`adam_halving`); ``eta`` is the clamping factor of coupled
    learning and the nudge of EP."""
    from physjax import networks as pn

    n_steps = check_positive_int(n_steps, "n_steps")
    _check_rates(learning_rate, eta)
    k_graph, k_nodes = jax.random.split(key)
    with jax.enable_x64(True):
        net = random_network(k_graph, n_nodes, coordination, graph)
        sources, targets, ground = terminal_nodes(k_nodes, net.n_nodes)
        task = seed000_task(net, sources, targets, ground)
        k0 = jnp.ones(net.n_edges)
        rules = get_args(pn.LearningRule)
        costs, finals, ks, seconds = [], [], [], []
        for i, rule in enumerate(rules):
            t0 = time.perf_counter()
            res = pn.train(net, k0, task, rule=rule, n_steps=n_steps,
                           optimizer=adam_halving(learning_rate, n_steps), eta=eta)
            costs.append(np.asarray(res.cost))
            finals.append(float(res.final_cost))
            ks.append(np.asarray(res.conductances))
            seconds.append(time.perf_counter() - t0)
            if progress is not None:
                progress(i + 1, len(rules))
        kf = jnp.asarray(ks[0])
        v_f = pn.free_state(net, kf, task)
        kirchhoff = pn.kirchhoff_residual(net, kf, v_f)
        free = np.setdiff1d(np.arange(net.n_nodes), task.fixed_nodes)
        kirchhoff = float(jnp.max(jnp.abs(kirchhoff[:, free])))
    from physjax.plotting import network_layout

    data = {"rules": list(rules), "cost": np.stack(costs),
            "final_cost": np.array(finals),
            "conductances": np.stack(ks), "edges": np.asarray(net.edges),
            "positions": network_layout(net), "sources": sources, "targets": targets,
            "ground": ground, "desired": np.asarray(task.desired),
            "trained_targets": np.asarray(v_f[:, list(targets)]), "n_steps": n_steps,
            "seconds_per_rule": np.array(seconds), "kirchhoff_residual": kirchhoff}
    summary = {}
    for rule, c, s in zip(rules, finals, seconds, strict=True):
        summary[f"{rule}: final cost"] = c
        summary[f"{rule}: seconds"] = s
    summary["initial cost"] = float(costs[0][0])
    summary["n_edges"] = int(net.n_edges)
    summary["steps"] = n_steps
    summary["max Kirchhoff residual (double optimization)"] = kirchhoff
    fig = learning_figure(data, net, RULE_LABELS)
    return ExperimentResult(data=data, figure=fig, summary=summary)


# ------------------------------------------------------------------ hessian-evolution

def _stiff_task_variants():
    r"""(label, mask, independent constraints) for the stiff-mode count.

    Every variant is a sub-task of the seed-000 task written on the three examples
    :math:`V_S = (1, 0), (0, 1), (1, 1)`: ``mask[μ, T]`` says which conditions
    :math:`V_{\mu T} = V^{desired}_{\mu T}` it imposes.  In a linear network the third
    example's target voltages are the sum of the first two, so it adds no independent
    constraint."""
    one = np.array([[1, 0], [0, 0], [0, 0]])
    return [("T1\n1 example", one, 1),
            ("T1, T2\n1 example", np.array([[1, 1], [0, 0], [0, 0]]), 2),
            ("T1, T2\n2 examples", np.array([[1, 1], [1, 1], [0, 0]]), 4),
            ("T1, T2\n3 examples\n(3rd = sum)", np.ones((3, 2), int), 4)]


def _chunked(fn, xs, chunk=8):
    """``fn`` (vmapped over a leading axis) applied to ``xs`` in chunks of ``chunk`` rows,
    the last one padded, so that a single program is compiled; returns numpy arrays."""
    f = jax.jit(fn)
    n = xs.shape[0]
    size = min(chunk, n)
    pad = -n % size
    xs = jnp.concatenate([xs, jnp.repeat(xs[-1:], pad, axis=0)]) if pad else xs
    parts = [jax.tree.map(np.asarray, f(xs[i:i + size])) for i in range(0, xs.shape[0], size)]
    return jax.tree.map(lambda *a: np.concatenate(a)[:n], *parts)


def _subtask_cost_hessians(net, conductances, task3, masks):
    r"""Cost Hessians of the sub-tasks ``masks`` of ``task3`` (3 examples x 2 targets),
    :math:`C_m = \frac{1}{n_m}\sum_{\mu T} m_{\mu T}\,\tfrac12 r_{\mu T}^2` with
    :math:`n_m` the examples the mask uses (:func:`physjax.networks.cost` of that sub-task),
    by ``jax.hessian`` through the solve, one compiled program for all masks."""
    from physjax import networks as pn

    def cost(k, mask):
        r = pn.residuals(net, k, task3, solver="dense", check=False)
        n_used = jnp.sum(jnp.any(mask > 0, axis=1))
        return 0.5 * jnp.sum(mask * r**2) / n_used

    hess = jax.jit(jax.vmap(jax.hessian(cost), in_axes=(None, 0)))
    return hess(conductances, jnp.asarray(masks, conductances.dtype))


@register(
    "hessian-evolution",
    description="seed 000: cost-Hessian and physical-Hessian spectra during double "
                "optimization (highest rise, lowest fall); stiff modes vs constraints",
    quick={"n_nodes": 64, "coordination": 4.0, "graph": "regular", "n_steps": 600,
           "record_every": 10, "learning_rate": 0.02, "n_tracked": 4},
    full={"n_nodes": 128, "coordination": 4.0, "graph": "regular", "n_steps": 1500,
          "record_every": 10, "learning_rate": 0.02, "n_tracked": 6},
)
def hessian_evolution(key, *, n_nodes, coordination, graph, n_steps, record_every,
                      learning_rate, n_tracked, progress=None) -> ExperimentResult:
    """Spectra of the cost and physical Hessians at every ``record_every`` steps of double
    optimization.  The n_constraints highest cost-Hessian eigenvalues (the stiff modes of
    the solution) and the ``n_tracked`` lowest physical-Hessian eigenvalues are drawn and
    summarized (final against initial value; "rose"/"fell" in the summary means the
    extreme one and a majority of the tracked ones did).  At the end, the stiff modes of
    the cost Hessians of sub-tasks with 1, 2, 4 and 6 (4 independent) constraints, at the
    trained conductances (a solution of the full task solves every sub-task)."""
    from physjax import graphs as pg
    from physjax import networks as pn

    n_steps = check_positive_int(n_steps, "n_steps")
    record_every = check_positive_int(record_every, "record_every")
    n_tracked = check_positive_int(n_tracked, "n_tracked")
    check_positive(learning_rate, "learning_rate")
    k_graph, k_nodes = jax.random.split(key)
    variants = _stiff_task_variants()
    with jax.enable_x64(True):
        net = random_network(k_graph, n_nodes, coordination, graph)
        sources, targets, ground = terminal_nodes(k_nodes, net.n_nodes)
        task = seed000_task(net, sources, targets, ground)
        res = pn.train(net, jnp.ones(net.n_edges), task, rule="double_optimization",
                       n_steps=n_steps, optimizer=adam_halving(learning_rate, n_steps),
                       record_every=record_every)
        if progress is not None:
            progress(1, 3)

        # Cost Hessians of the snapshots, vmapped over chunks of a fixed size: one compiled
        # program, ~4x faster than one call per snapshot on a CPU.  (A program returning the
        # cost Hessian *and* another output of the solve, vmapped over 16 networks of ~100
        # nodes, deadlocks XLA's multithreaded CPU runtime in jax 0.10.2, so the physical
        # Hessians are built separately.)  Eigenvalues on the host, LAPACK via numpy.
        hess = _chunked(jax.vmap(lambda k: pn.cost_hessian(net, k, task)), res.snapshots)
        free = np.setdiff1d(np.arange(net.n_nodes), task.fixed_nodes)
        lap = np.asarray(pg.laplacian(net, res.snapshots))[:, free][:, :, free]  # H_ff
        cost_ev = np.linalg.eigvalsh(hess)
        phys_ev = np.linalg.eigvalsh(lap)  # = pn.physical_hessian_spectrum per snapshot
        phys_check = np.asarray(pn.physical_hessian_spectrum(net, res.conductances,
                                                             task.fixed_nodes))
        phys_error = float(np.abs(phys_check - phys_ev[-1]).max() / phys_check.max())
        h = hess[-1]
        gn = np.asarray(jax.jit(lambda k: pn.gauss_newton_hessian(net, k, task))(
            res.conductances))
        gn_error = float(np.abs(h - gn).max() / np.abs(h).max())
        if progress is not None:
            progress(2, 3)
        task3 = seed000_task(net, sources, targets, ground,
                             inputs=SEED000_INPUTS + ((1.0, 1.0),))
        masks = np.stack([v[1] for v in variants])
        sub_h = _subtask_cost_hessians(net, res.conductances, task3, masks)
        sub_ev = np.linalg.eigvalsh(np.asarray(sub_h))
        # the full-task mask reproduces pn.cost_hessian (an independent check of the masks)
        full_h_error = float(np.abs(np.asarray(sub_h[2]) - h).max() / np.abs(h).max())
        stiff_modes = np.array([int(pn.count_stiff_modes(ev, STIFF_THRESHOLD))
                                for ev in sub_ev])
        stiff = np.array([int(pn.count_stiff_modes(ev, STIFF_THRESHOLD)) for ev in cost_ev])
        if progress is not None:
            progress(3, 3)
    steps = np.arange(res.snapshots.shape[0]) * record_every
    n_c = task.n_constraints
    # the n_c highest cost eigenvalues are the stiff modes at a solution; the rest vanish
    n_top = min(n_c, cost_ev.shape[1])
    m = min(n_tracked, phys_ev.shape[1])
    top0, top1 = cost_ev[0, -n_top:], cost_ev[-1, -n_top:]
    low0, low1 = phys_ev[0, :m], phys_ev[-1, :m]
    data = {"steps": steps, "cost": np.asarray(res.cost), "final_cost": float(res.final_cost),
            "cost_hessian_eigenvalues": cost_ev, "physical_hessian_eigenvalues": phys_ev,
            "n_constraints": n_c, "stiff_modes": stiff,
            "gauss_newton_relative_difference": gn_error,
            "stiff_task_labels": [v[0] for v in variants],
            "stiff_task_constraints": masks.sum(axis=(1, 2)),
            "stiff_task_independent_constraints": np.array([v[2] for v in variants]),
            "stiff_task_modes": stiff_modes, "stiff_task_eigenvalues": sub_ev,
            "n_edges": int(net.n_edges), "sources": sources, "targets": targets,
            "ground": ground, "n_tracked": m}
    summary = {
        "final cost": float(res.final_cost),
        "constraints": n_c,
        "stiff cost-Hessian modes at the end": int(stiff[-1]),
        "stiff modes at step 0": int(stiff[0]),
        "|H - J^T J| / |H| at the end": gn_error,
        "sub-task Hessian (full mask) vs cost_hessian": full_h_error,
        "H_ff spectrum vs physical_hessian_spectrum": phys_error,
        "lambda_max(cost) final / initial": float(top1[-1] / top0[-1]),
        f"top {n_top} cost eigenvalues that rose": int(np.sum(top1 > top0)),
        "lambda_min(physical) final / initial": float(low1[0] / low0[0]),
        f"lowest {m} physical eigenvalues that fell": int(np.sum(low1 < low0)),
        "highest cost-Hessian eigenvalues rose": bool(top1[-1] > top0[-1]
                                                     and np.sum(top1 > top0) > n_top / 2),
        "lowest physical-Hessian eigenvalues fell": bool(low1[0] < low0[0]
                                                        and np.sum(low1 < low0) > m / 2),
        "stiff-mode count = independent constraints (all sub-tasks)": bool(np.all(
            stiff_modes == data["stiff_task_independent_constraints"])),
    }
    return ExperimentResult(data=data, figure=hessian_figure(data, STIFF_THRESHOLD),
                            summary=summary)


# -------------------------------------------------------------------- eta-convergence

def _slope(x, y):
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def coupled_learning_limit(graph, conductances, task):
    r"""The :math:`\eta\to 0` limit of the coupled-learning contrast gradient,
    :math:`\frac1n J^\top (I_n\otimes G_{eff})\,r`: :math:`J = \partial r/\partial k` of the
    residuals of the :math:`n` examples, :math:`G_{eff} = [(H_{ff}^{-1})_{TT}]^{-1}`."""
    from physjax import networks as pn

    n = graph.n_nodes
    free = np.setdiff1d(np.arange(n), np.asarray(task.fixed_nodes, int))
    pos = np.searchsorted(free, np.asarray(task.target_nodes, int))
    green = jnp.linalg.inv(pn.reduced_hessian(graph, conductances, task.fixed_nodes))
    g_eff = jnp.linalg.inv(green[np.ix_(pos, pos)])
    jac = pn.residual_jacobian(graph, conductances, task)
    r = pn.residuals(graph, conductances, task, check=False)  # (n_ex, n_T)
    return jac.T @ (r @ g_eff.T).reshape(-1) / task.n_examples, g_eff


@register(
    "eta-convergence",
    description="local learning rules vs eta on a square grid: coupled learning and one-sided "
                "EP err ~ eta, centred EP ~ eta^2 (fitted log-log slopes)",
    quick={"side": 10, "n_eta": 7, "eta_min": 1e-4, "eta_max": 1e-1},
    full={"side": 20, "n_eta": 16, "eta_min": 1e-4, "eta_max": 1e-1},
)
def eta_convergence(key, *, side, n_eta, eta_min, eta_max, progress=None) -> ExperimentResult:
    """Relative errors ``|g(eta) - g(0)| / |g(0)|`` of the local rules at random k."""
    from physjax import graphs as pg
    from physjax import networks as pn

    side = check_positive_int(side, "side", minimum=3)
    n_eta = check_positive_int(n_eta, "n_eta", minimum=3)
    if not 0 < eta_min < eta_max:
        raise ValueError(f"need 0 < eta_min < eta_max, got {eta_min}, {eta_max}")
    k_cond, k_nodes = jax.random.split(key)
    with jax.enable_x64(True):
        net = pg.square_grid(side)
        sources, targets, ground = terminal_nodes(k_nodes, net.n_nodes)
        task = seed000_task(net, sources, targets, ground)
        k = jax.random.uniform(k_cond, (net.n_edges,), jnp.float64, 0.5, 1.5)
        pn.check_network(net, k, task)
        etas = jnp.geomspace(eta_min, eta_max, n_eta)

        @jax.jit
        def errors(k, etas):
            _, grad, _ = pn.double_optimization_gradient(net, k, task, check=False)
            limit, g_eff = coupled_learning_limit(net, k, task)

            def rel(a, b):
                return jnp.linalg.norm(a - b) / jnp.linalg.norm(b)

            def at(eta):
                cl = pn.contrast_gradient(net, k, task, eta, check=False)
                ep = {n: pn.equilibrium_propagation_gradient(net, k, task, eta, nudge=n,
                                                             check=False)
                      for n in get_args(pn.Nudge)}
                return (rel(cl, limit), rel(ep["positive"], grad), rel(ep["negative"], grad),
                        rel(ep["centred"], grad), rel(cl, grad))

            cosine = limit @ grad / (jnp.linalg.norm(limit) * jnp.linalg.norm(grad))
            return jax.vmap(at)(etas), cosine, g_eff

        (cl_err, epp_err, epn_err, epc_err, cl_vs_grad), cosine, g_eff = errors(k, etas)
        etas = np.asarray(etas)
        errs = {"coupled_learning": np.asarray(cl_err), "ep_positive": np.asarray(epp_err),
                "ep_negative": np.asarray(epn_err), "ep_centred": np.asarray(epc_err)}
        cl_vs_grad, cosine, g_eff = np.asarray(cl_vs_grad), float(cosine), np.asarray(g_eff)
    if progress is not None:
        progress(1, 1)
    slopes = {name: _slope(etas, e) for name, e in errs.items()}
    data = {"etas": etas, "errors": errs, "slopes": slopes,
            "coupled_learning_vs_gradient": cl_vs_grad, "limit_gradient_cosine": cosine,
            "effective_conductance": g_eff, "side": side, "sources": sources,
            "targets": targets, "ground": ground}
    summary = {f"slope {name}": s for name, s in slopes.items()}
    summary.update({f"error {name} at eta={etas[0]:.0e}": float(e[0])
                    for name, e in errs.items()})
    summary["cos(CL limit, grad C)"] = cosine
    return ExperimentResult(data=data, figure=eta_figure(data), summary=summary)


