r"""Linear and nonlinear resistor networks: power, free, clamped and nudged states.

A network is a :class:`physjax.graphs.Graph` with conductances :math:`k_e > 0` on its
:math:`N_e` edges.  With the incidence matrix :math:`\Delta` (:math:`\Delta V_e = V_a - V_b`)
the physical Hessian is the weighted Laplacian :math:`H = \Delta^\top K \Delta`,
:math:`K = \mathrm{diag}(k)`, and the power (seed 000)

.. math::  P(V) = \tfrac12 V^\top H V - V^\top I = \tfrac12 \sum_e k_e \Delta V_e^2 - V^\top I

is minimized by the physical state, which therefore obeys Kirchhoff's current law at every
node whose voltage is not imposed.  Voltages imposed at source (and ground) nodes are
constraints; seed 000 writes them with Lagrange multipliers and an extended Hessian
(:func:`extended_hessian`).  We solve the equivalent *reduced* problem -- eliminate the
imposed voltages and solve :math:`H_{ff} V_f = I_f - H_{fs} V_s` on the free nodes -- because
:math:`H_{ff}` is symmetric positive definite when every connected component touches an
imposed voltage, so Cholesky or conjugate gradients apply (the extended matrix is
indefinite).  The Lagrange multipliers are the currents :math:`\lambda = (H V)_s` drawn from
the sources.

Solve paths (``solver=``, see :mod:`physjax.networks._solve`): ``"dense"`` (Cholesky),
``"banded"`` (block Cholesky after a reverse Cuthill--McKee ordering: a sparse direct solve
in one ``lax.scan``), ``"multifrontal"`` (sparse Cholesky after a nested-dissection
ordering, fronts batched by level; faster than banded on large grids: 15 vs 23 ms per
step at 100 x 100, slower on small ones), ``"cg"`` (matrix-free preconditioned conjugate
gradients, warm-started from ``initial``) and ``"auto"`` (dense for up to
:data:`DENSE_MAX_FREE_NODES` free nodes, banded above, CG when the band is too wide or the
graph is traced).  All are differentiated
implicitly (adjoint solves with the same factor), never by unrolling.  The clamped and
nudged states of a linear network come from the same factorization as the free state: they
differ from it by the response :math:`G_T I_T` to currents :math:`I_T` at the targets, with
:math:`G_T = H_{ff}^{-1} e_T` the Green's function there.

Nonlinear resistors carry a current :math:`I_e = k_e f(\Delta V_e)` for a monotone
:math:`f` (:func:`cubic_current`, :func:`diode_current`, or any function); the power is then
the co-content :math:`P = \sum_e k_e \int_0^{\Delta V_e} f(u)\,du - V^\top I`, and the state
solves Kirchhoff's law with optimistix's Newton method, differentiated by the implicit
function theorem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from physjax import graphs as _graphs
from physjax._array_types import Array, ArrayLike, Float, Indices, Real, Scalar, Size
from physjax._checks import (
    check_choice,
    check_finite,
    check_positive,
    check_positive_int,
    is_concrete,
)
from physjax._options import SourceKind
from physjax.networks import _small_linalg, _solve
from physjax.networks import solvers as _solvers
from physjax.networks._weights import check_edge_weights

__all__ = [
    "SourceKind",
    "DENSE_MAX_FREE_NODES",
    "CubicCurrent",
    "DiodeCurrent",
    "Equilibria",
    "ResistorTask",
    "check_network",
    "clamp_with_green",
    "clamped_state",
    "co_content",
    "cost",
    "cost_gradient",
    "cubic_current",
    "diode_current",
    "dissipated_power",
    "edge_currents",
    "equilibria",
    "extended_hessian",
    "free_state",
    "kirchhoff_residual",
    "linear_states",
    "make_task",
    "nudge_with_green",
    "nudged_state",
    "power",
    "power_partials",
    "reduced_hessian",
    "resolve_solver",
    "residuals",
    "source_currents",
    "task_cost",
]

DENSE_MAX_FREE_NODES = _solve.DENSE_MAX_FREE_NODES

CurrentFn = Callable[[Array], Array]
SolverLike = _solvers.SolverLike
Graph = _graphs.Graph
#: Values given as (nested) Python lists, which the function converts.
_Numbers = Sequence[float | int] | Sequence[Sequence[float | int]]


# --------------------------------------------------------------------------- the task

class ResistorTask(eqx.Module):
    r"""Source -> target relations learned by a resistor network.

    For every input example :math:`\mu`, voltages ``inputs[μ]`` are imposed at
    ``source_nodes`` (or, with ``source_kind="current"``, currents are injected there), the
    ``ground_nodes`` are held at 0 V, and the voltages at ``target_nodes`` should equal
    ``desired[μ]``.  Node indices are static (they fix which nodes are free), the values are
    arrays, so a task can be ``vmap``-ed over data sets.
    """

    inputs: Array  # (n_examples, n_sources)
    desired: Array  # (n_examples, n_targets)
    source_nodes: tuple[int, ...] = eqx.field(static=True)
    target_nodes: tuple[int, ...] = eqx.field(static=True)
    ground_nodes: tuple[int, ...] = eqx.field(static=True)
    source_kind: SourceKind = eqx.field(static=True, default="voltage")

    @property
    def n_examples(self) -> int:
        return self.inputs.shape[-2]

    @property
    def n_constraints(self) -> int:
        """Number of scalar conditions ``V_T = V_T^desired``: targets x examples."""
        return self.desired.shape[-2] * self.desired.shape[-1]

    @property
    def fixed_nodes(self) -> tuple[int, ...]:
        """Nodes whose voltage is imposed in the free state."""
        if self.source_kind == "voltage":
            return self.source_nodes + self.ground_nodes
        return self.ground_nodes

    def fixed_values(self) -> Float[Array, "*batch ex f"]:
        """Imposed voltages at :attr:`fixed_nodes`, shape ``(n_examples, n_fixed)``."""
        zeros = jnp.zeros(self.inputs.shape[:-1] + (len(self.ground_nodes),), self.inputs.dtype)
        if self.source_kind == "voltage":
            return jnp.concatenate([self.inputs, zeros], axis=-1)
        return zeros


def _node_tuple(nodes, name: str, n_nodes: int | None) -> tuple[int, ...]:
    arr = np.asarray(nodes)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a 1-D sequence of integer node indices, got {nodes!r}")
    if len(set(arr.tolist())) != arr.size:
        raise ValueError(f"{name} lists a node more than once: {arr.tolist()}")
    if n_nodes is not None and arr.size and (arr.min() < 0 or arr.max() >= n_nodes):
        bad = arr[(arr < 0) | (arr >= n_nodes)].tolist()
        raise ValueError(f"{name} has node indices {bad} outside [0, {n_nodes}) for a graph "
                         f"of {n_nodes} nodes")
    return tuple(int(i) for i in arr)


def make_task(source_nodes: Indices | Size, target_nodes: Indices | Size,
              inputs: Real[ArrayLike, "ex s"] | Real[ArrayLike, " s"] | _Numbers,
              desired: Real[ArrayLike, "ex k"] | Real[ArrayLike, " k"] | _Numbers | None = None,
              *, coefficients: Real[ArrayLike, "k s"] | _Numbers | None = None,
              ground_nodes: Indices | Size = (), source_kind: SourceKind = "voltage",
              n_nodes: Size | None = None) -> ResistorTask:
    r"""Build and validate a :class:`ResistorTask`.

    Args:
        source_nodes, target_nodes, ground_nodes: disjoint node indices.
        inputs: source values, shape ``(n_examples, n_sources)`` (a 1-D array is one example).
        desired: desired target voltages, shape ``(n_examples, n_targets)``; or give
        coefficients: a matrix :math:`A` of shape ``(n_targets, n_sources)`` for the linear
            task :math:`V_T^{desired} = A V_S` (seed 000: ``[[0.15, 0.3], [0.2, 0.1]]``).
        source_kind: ``"voltage"`` (imposed voltages) or ``"current"`` (injected currents;
            then at least one ground node is required).
        n_nodes: if given, node indices are checked against it.
    """
    check_choice(source_kind, "source_kind", SourceKind)
    if n_nodes is not None:
        check_positive_int(n_nodes, "n_nodes")
    src = _node_tuple(source_nodes, "source_nodes", n_nodes)
    tgt = _node_tuple(target_nodes, "target_nodes", n_nodes)
    gnd = _node_tuple(ground_nodes, "ground_nodes", n_nodes)
    if not src:
        raise ValueError("source_nodes must name at least one node")
    if not tgt:
        raise ValueError("target_nodes must name at least one node")
    for (a, na), (b, nb) in [((src, "source_nodes"), (tgt, "target_nodes")),
                             ((src, "source_nodes"), (gnd, "ground_nodes")),
                             ((tgt, "target_nodes"), (gnd, "ground_nodes"))]:
        common = sorted(set(a) & set(b))
        if common:
            raise ValueError(f"{na} and {nb} overlap at nodes {common}; a node is either a "
                             "source, a target or ground")
    if source_kind == "current" and not gnd:
        raise ValueError("source_kind='current' needs ground_nodes: injected currents leave "
                         "the voltages defined only up to a constant")
    inputs = jnp.asarray(inputs)
    if inputs.ndim == 1:
        inputs = inputs[None, :]
    if inputs.ndim != 2 or inputs.shape[1] != len(src):
        raise ValueError(f"inputs must have shape (n_examples, n_sources={len(src)}), got "
                         f"{tuple(inputs.shape)}")
    if not jnp.issubdtype(inputs.dtype, jnp.floating):
        inputs = inputs.astype(jnp.result_type(float))
    check_finite(inputs, "inputs")
    if (desired is None) == (coefficients is None):
        raise ValueError("give exactly one of desired (target voltages) and coefficients "
                         "(the linear map from source to target values)")
    if coefficients is not None:
        coefficients = jnp.asarray(coefficients, inputs.dtype)
        if coefficients.shape != (len(tgt), len(src)):
            raise ValueError(f"coefficients must have shape (n_targets={len(tgt)}, "
                             f"n_sources={len(src)}), got {tuple(coefficients.shape)}")
        check_finite(coefficients, "coefficients")
        desired = inputs @ coefficients.T
    desired = jnp.asarray(desired, inputs.dtype)
    if desired.ndim == 1:
        desired = desired[None, :]
    if desired.shape != (inputs.shape[0], len(tgt)):
        raise ValueError(f"desired must have shape (n_examples={inputs.shape[0]}, "
                         f"n_targets={len(tgt)}), got {tuple(desired.shape)}")
    check_finite(desired, "desired")
    return ResistorTask(inputs, desired, src, tgt, gnd, source_kind)


def check_network(graph: Graph, conductances: Real[ArrayLike, "*batch e"],
                  task: ResistorTask | None = None, *, name: str = "conductances") -> None:
    """Validate a network before solving it (concrete inputs only; tracers pass).

    Checks the conductances (shape ``(n_edges,)`` or with leading batch axes, finite,
    positive), the task's node indices against the graph, and that every connected component
    of the graph holds a node with an imposed voltage -- otherwise the reduced Laplacian is
    singular and the voltages of that component are undefined; the error names its nodes.
    """
    check_edge_weights(
        conductances, graph.n_edges, name,
        not_finite="{name} has {count} non-finite entries; conductances must be finite and "
                   "positive",
        not_positive="{name} must be positive; edges {edges} have k <= 0 (min {minimum:.3g})")
    if task is None:
        return
    if not isinstance(task, ResistorTask):
        raise TypeError(f"task must be a ResistorTask (see make_task), got "
                        f"{type(task).__name__}")
    for nodes, nname in [(task.source_nodes, "source_nodes"), (task.target_nodes, "target_nodes"),
                         (task.ground_nodes, "ground_nodes")]:
        _node_tuple(nodes, f"task.{nname}", graph.n_nodes)
    for arr, aname in ((task.inputs, "task.inputs"), (task.desired, "task.desired")):
        if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
            raise ValueError(f"{aname} has non-finite entries; sources and targets must be "
                             "finite")
    if not is_concrete(graph.edges):
        return
    degree = np.bincount(np.asarray(graph.edges).reshape(-1), minlength=graph.n_nodes)
    for nodes, nname in [(task.source_nodes, "source_nodes"), (task.target_nodes, "target_nodes"),
                         (task.ground_nodes, "ground_nodes")]:
        lonely = [i for i in nodes if degree[i] == 0]
        if lonely:
            raise ValueError(f"task.{nname}: nodes {lonely} touch no edge of the graph, so "
                             "they cannot drive or read the network")
    labels = _graphs.connected_components(graph)
    anchored = set(labels[list(task.fixed_nodes)].tolist())
    orphan = sorted(set(labels.tolist()) - anchored)
    if orphan:
        nodes = np.flatnonzero(np.isin(labels, orphan))
        raise ValueError(
            f"graph: {len(orphan)} connected component(s) hold no source or ground node, so "
            f"their voltages are undefined (singular Laplacian): nodes {nodes[:20].tolist()}"
            f"{' ...' if nodes.size > 20 else ''}; connect them or add a ground node there")


# --------------------------------------------------------------------------- physics

class CubicCurrent(eqx.Module):
    r"""Current-voltage curve :math:`f(\Delta V) = \Delta V + \alpha \Delta V^3`; ``alpha``
    is an array leaf (it may be traced: a sweep over it compiles once)."""

    alpha: Array

    def __call__(self, dv):
        return dv + self.alpha * dv**3


class DiodeCurrent(eqx.Module):
    r"""Smooth diode-like curve :math:`f(\Delta V) = \Delta V + s\,[\log(1 + e^{\Delta V/s})
    - \log 2]` (``scale`` :math:`s` an array leaf)."""

    scale: Array

    def __call__(self, dv):
        return dv + self.scale * (jax.nn.softplus(dv / self.scale) - jnp.log(2.0))


def cubic_current(alpha: Scalar = 1.0) -> CubicCurrent:
    r"""Current-voltage curve :math:`f(\Delta V) = \Delta V + \alpha \Delta V^3`
    (``alpha >= 0``)."""
    if is_concrete(alpha) and not float(alpha) >= 0:
        raise ValueError(f"alpha must be >= 0 for a monotone current, got {alpha}")
    return CubicCurrent(jnp.asarray(alpha))


def diode_current(scale: Scalar = 0.2) -> DiodeCurrent:
    r"""Smooth diode-like curve :math:`f(\Delta V) = \Delta V + s\,[\log(1 + e^{\Delta V/s})
    - \log 2]`: :math:`f(0) = 0`, monotone, with differential conductance rising from 1
    (reverse bias) to 2 (forward bias) over a voltage scale :math:`s`."""
    if is_concrete(scale) and not float(scale) > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return DiodeCurrent(jnp.asarray(scale))


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)


def co_content(current: CurrentFn | None, dv: Real[Array, "*shape"]) -> Float[Array, "*shape"]:
    r""":math:`\int_0^{\Delta V} f(u)\,du` by 16-point Gauss--Legendre quadrature (exact for
    polynomial :math:`f` up to degree 31); :math:`\Delta V^2/2` for ohmic edges."""
    if current is None:
        return 0.5 * dv**2
    t = jnp.asarray(0.5 * (_GL_NODES + 1.0), dv.dtype)
    w = jnp.asarray(0.5 * _GL_WEIGHTS, dv.dtype)
    return dv * jnp.sum(w * current(dv[..., None] * t), axis=-1)


def _edge_node_arrays(graph, conductances, voltages):
    """Shapes ``(..., n_edges)`` / ``(..., n_nodes)`` and finite entries (concrete values)."""
    for a, name, n, what in ((conductances, "conductances", graph.n_edges, "n_edges"),
                             (voltages, "voltages", graph.n_nodes, "n_nodes")):
        if a is not None and (jnp.ndim(a) < 1 or jnp.shape(a)[-1] != n):
            raise ValueError(f"{name} must have shape (..., {what}={n}), got {jnp.shape(a)}")
        if a is not None:
            check_finite(a, name)


def _currents_and_drops(graph, conductances, voltages, current):
    r"""Edge currents :math:`k_e f(\Delta V_e)` and voltage drops :math:`\Delta V_e`
    (inputs checked by :func:`_edge_node_arrays`)."""
    _edge_node_arrays(graph, conductances, voltages)
    dv = _graphs.edge_differences(graph, voltages)
    return conductances * (dv if current is None else current(dv)), dv


def power(graph: Graph, conductances: Real[ArrayLike, "*#batch e"],
          voltages: Real[ArrayLike, "*#batch n"], *,
          currents: Real[ArrayLike, "*#batch n"] | None = None,
          current: CurrentFn | None = None) -> Float[Array, "*#batch"]:
    r"""Power :math:`P = \sum_e k_e \int_0^{\Delta V_e} f - V\cdot I` (:math:`\tfrac12 V^\top
    H V - V\cdot I` for ohmic edges); leading batch axes of ``voltages`` are kept."""
    _edge_node_arrays(graph, conductances, voltages)
    dv = _graphs.edge_differences(graph, voltages)
    p = jnp.sum(conductances * co_content(current, dv), axis=-1)
    if currents is not None:
        p = p - jnp.sum(voltages * currents, axis=-1)
    return p


def edge_currents(graph: Graph, conductances: Real[ArrayLike, "*#batch e"],
                  voltages: Real[ArrayLike, "*#batch n"], *,
                  current: CurrentFn | None = None) -> Real[Array, "*#batch e"]:
    r"""Current through each edge from :math:`a` to :math:`b`: :math:`k_e f(\Delta V_e)`."""
    return _currents_and_drops(graph, conductances, voltages, current)[0]


def dissipated_power(graph: Graph, conductances: Real[ArrayLike, "*#batch e"],
                     voltages: Real[ArrayLike, "*#batch n"], *,
                     current: CurrentFn | None = None) -> Real[Array, "*#batch"]:
    r"""Joule heating :math:`\sum_e I_e \Delta V_e` (:math:`= 2P` for ohmic edges)."""
    i, dv = _currents_and_drops(graph, conductances, voltages, current)
    return jnp.sum(i * dv, axis=-1)


def kirchhoff_residual(graph: Graph, conductances: Real[ArrayLike, "*#batch e"],
                       voltages: Real[ArrayLike, "*#batch n"], *,
                       currents: Real[ArrayLike, "*#batch n"] | None = None,
                       current: CurrentFn | None = None) -> Real[Array, "*#batch n"]:
    r"""Net current leaving each node, :math:`\Delta^\top I_{edge} - I_{injected}`.

    Zero (Kirchhoff's current law) at every node whose voltage is free; at a source node it
    is the current the source supplies.
    """
    out = _graphs.node_divergence(graph, edge_currents(graph, conductances, voltages,
                                                       current=current))
    return out if currents is None else out - currents


def source_currents(graph: Graph, conductances: Real[ArrayLike, "*#batch e"],
                    voltages: Real[ArrayLike, "*#batch n"], task: ResistorTask, *,
                    current: CurrentFn | None = None) -> Real[Array, "*#batch s"]:
    """Current each voltage source supplies (the Lagrange multipliers of seed 000)."""
    r = kirchhoff_residual(graph, conductances, voltages, current=current)
    return r[..., jnp.asarray(task.source_nodes)]


def reduced_hessian(graph: Graph, conductances: Real[ArrayLike, " e"],
                    fixed_nodes: Indices | Size) -> Real[Array, "nf nf"]:
    r"""Physical Hessian on the free nodes, :math:`H_{ff}`: the Laplacian with the rows and
    columns of the nodes whose voltage is imposed removed (symmetric positive definite when
    every component holds a fixed node)."""
    check_network(graph, conductances)
    fixed_nodes = _node_tuple(fixed_nodes, "fixed_nodes", graph.n_nodes)
    free = _free_nodes(graph.n_nodes, tuple(fixed_nodes))
    lap = _graphs.laplacian(graph, conductances)
    return lap[jnp.ix_(free, free)]


def extended_hessian(graph: Graph, conductances: Real[ArrayLike, " e"],
                     fixed_nodes: Indices | Size) -> Real[Array, "m m"]:
    r"""Lagrange-extended Hessian of seed 000,
    :math:`\begin{pmatrix} H & -E^\top \\ -E & 0\end{pmatrix}` with :math:`E_{mi} = 1` when
    constraint :math:`m` fixes node :math:`i`; solving it with the source vector
    :math:`(0, -V^{input})` gives the voltages and, in the extra rows, the source currents."""
    check_network(graph, conductances)
    fixed = np.asarray(_node_tuple(fixed_nodes, "fixed_nodes", graph.n_nodes), int)
    lap = _graphs.laplacian(graph, conductances)
    e = jnp.zeros((fixed.size, graph.n_nodes), lap.dtype).at[np.arange(fixed.size), fixed].set(1.0)
    top = jnp.concatenate([lap, -e.T], axis=1)
    bottom = jnp.concatenate([-e, jnp.zeros((fixed.size, fixed.size), lap.dtype)], axis=1)
    return jnp.concatenate([top, bottom], axis=0)


# --------------------------------------------------------------------------- solves

_free_nodes = _solve.free_nodes


def resolve_solver(solver: SolverLike, graph: Graph, task: ResistorTask, *,
                   rtol: float | None = None) -> _solvers.AbstractNetworkSolver:
    r"""``solver`` (a name or :mod:`~physjax.networks.solvers` instance) resolved for this
    graph and task: :class:`~physjax.networks.solvers.Auto` applied, the banded or
    multifrontal plan built (cached per graph) or checked.  ``rtol`` (older API) sets the
    tolerance of a :class:`~physjax.networks.solvers.CG` that has none."""
    return _solve.resolve(solver, graph, _free_nodes(graph.n_nodes, task.fixed_nodes), rtol)


def _injected_sources(task: ResistorTask, n_nodes: int, dtype):
    if task.source_kind != "current":
        return None
    inj = jnp.zeros((task.n_examples, n_nodes), dtype)
    return inj.at[:, np.asarray(task.source_nodes)].set(task.inputs.astype(dtype))


def linear_states(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask, *,
                  solver: SolverLike = "auto", initial: Real[ArrayLike, "ex n"] | None = None,
                  green: bool = False) -> tuple[Float[Array, "ex n"], Float[Array, "n k"] | None]:
    r"""Free state of a linear network and, if ``green``, the Green's-function columns
    :math:`G e_T = H_{ff}^{-1} e_T` at the targets (zero at fixed nodes), from one
    factorization (the clamped and nudged states follow from them exactly:
    :func:`clamp_with_green`, :func:`nudge_with_green`).

    Returns ``(V_F (n_ex, N), G (N, n_T) or None)``.  No input checks (see
    :func:`free_state`).
    """
    k = jnp.asarray(conductances)
    solver = resolve_solver(solver, graph, task)
    n = graph.n_nodes
    free = _free_nodes(n, task.fixed_nodes)
    dtype = jnp.result_type(k.dtype, task.inputs.dtype)
    k = k.astype(dtype)
    fixed = np.asarray(task.fixed_nodes, int)
    v_fixed = jnp.zeros((task.n_examples, n), dtype).at[:, fixed].set(
        task.fixed_values().astype(dtype))
    rhs = -_graphs.laplacian_matvec(graph, k, v_fixed)[:, free]  # I_f - H_fs V_s
    injected = _injected_sources(task, n, dtype)
    if injected is not None:
        rhs = rhs + injected[:, free]
    columns = rhs.T
    x0 = None if initial is None else jnp.asarray(initial, dtype)[:, free].T
    n_t = len(task.target_nodes)
    if green:
        unit = np.zeros((free.size, n_t))
        unit[np.searchsorted(free, task.target_nodes), np.arange(n_t)] = 1.0
        columns = jnp.concatenate([columns, jnp.asarray(unit, dtype)], axis=1)
        if x0 is not None:
            x0 = jnp.concatenate([x0, jnp.zeros((free.size, n_t), dtype)], axis=1)
    x = _solve.solve_reduced(graph, k, free, columns, solver=solver, initial=x0)
    v = v_fixed.at[:, free].set(x[:, : task.n_examples].T)
    g = None
    if green:
        g = jnp.zeros((n, n_t), dtype).at[free].set(x[:, task.n_examples:])
    return v, g


def clamp_with_green(free: Float[ArrayLike, "ex n"], green: Float[ArrayLike, "n k"],
                     task: ResistorTask, eta: Scalar) -> Float[Array, "ex n"]:
    r"""Hard clamp from the free state: currents :math:`I_T = G_{TT}^{-1}(V_T^C - V_T^F)`
    injected at the targets give :math:`V^C = V^F + G_T I_T` (exact for linear networks)."""
    tgt = np.asarray(task.target_nodes)
    v_t = free[:, tgt]
    shift = eta * (task.desired - v_t)  # V_T^C - V_T^F
    # G_TT is symmetric positive definite: Cholesky, not LU (no pivoting to lower and
    # compile, and no batched LAPACK call under vmap; see _small_linalg)
    factor = _small_linalg.cholesky(green[tgt])
    currents = _small_linalg.cho_solve((factor, True), shift.T)  # (n_T, n_ex)
    return free + (green @ currents).T


def nudge_with_green(free: Float[ArrayLike, "ex n"], green: Float[ArrayLike, "n k"],
                     task: ResistorTask, beta: Scalar) -> Float[Array, "ex n"]:
    r"""Nudged state: the current :math:`\beta(V^{desired} - V_T)` at the targets solves
    :math:`(1 + \beta G_{TT}) V_T = V_T^F + \beta G_{TT} V^{desired}` (Woodbury)."""
    tgt = np.asarray(task.target_nodes)
    g_tt = green[tgt]
    a = jnp.eye(len(tgt), dtype=g_tt.dtype) + beta * g_tt
    v_t = jnp.linalg.solve(a, free[:, tgt].T + beta * g_tt @ task.desired.T)  # (n_T, n_ex)
    currents = beta * (task.desired.T - v_t)
    return free + (green @ currents).T


def _nonlinear_state(graph, k, task, fixed, fixed_values, diag, nudge_values, current,
                     initial, rtol, solver="auto"):
    """Kirchhoff's law for I_e = k_e f(ΔV_e) by Newton's method (optimistix), per example;
    ``diag``/``nudge_values`` add the equilibrium-propagation pull β(V_T - V^desired)."""
    n = graph.n_nodes
    free = _free_nodes(n, fixed)
    dtype = jnp.result_type(k.dtype, fixed_values.dtype)
    if rtol is None:
        rtol = _solvers.default_rtol(dtype)
    v_fixed = jnp.zeros((task.n_examples, n), dtype).at[:, np.asarray(fixed, int)].set(
        fixed_values)
    injected = _injected_sources(task, n, dtype)
    if injected is None:
        injected = jnp.zeros((task.n_examples, n), dtype)
    if initial is None:
        initial, _ = linear_states(graph, k, task, solver=solver)
    if nudge_values is None:
        nudge_values = jnp.zeros((task.n_examples, n), dtype)

    def residual(x, args):
        kk, vf, inj, nv = args
        full = vf.at[free].set(x)
        r = kirchhoff_residual(graph, kk, full, current=current) - inj
        if diag is not None:
            r = r + diag * (full - nv)
        return r[free]

    def one(vf, inj, y0, nv):
        # Newton on the reduced Kirchhoff equations; optimistix differentiates the root by
        # the implicit function theorem.
        sol = optx.root_find(residual, optx.Newton(rtol=rtol, atol=rtol * 1e-3),
                             jnp.asarray(y0, dtype)[free], args=(k, vf, inj, nv),
                             max_steps=100)
        return vf.at[free].set(sol.value)

    return jax.vmap(one)(v_fixed, injected, jnp.asarray(initial, dtype), nudge_values)


class Equilibria(NamedTuple):
    """The free state and the maps ``eta -> clamped state`` and ``beta -> nudged state``
    at one set of conductances (what the learning rules need)."""

    free: Array
    clamp: Callable[[Array], Array]
    nudge: Callable[[Array], Array]


def equilibria(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask, *,
               solver: SolverLike = "auto", current: CurrentFn | None = None,
               initial: Real[ArrayLike, "ex n"] | None = None,
               rtol: float | None = None) -> Equilibria:
    """Free state plus the clamped and nudged states as functions of ``eta``/``beta``; for
    linear networks all three come from one factorization (the clamped and nudged states
    add the response of the targets' Green's function to the free state).  No input
    checks."""
    k = jnp.asarray(conductances)
    solver = resolve_solver(solver, graph, task, rtol=rtol)
    if current is None:
        free, green = linear_states(graph, k, task, solver=solver, initial=initial, green=True)
        return Equilibria(free, lambda eta: clamp_with_green(free, green, task, eta),
                          lambda beta: nudge_with_green(free, green, task, beta))
    free = _free_state(graph, k, task, solver, current, initial, rtol)
    return Equilibria(
        free, lambda eta: _clamped_state(graph, k, task, eta, free, solver, current, None, rtol),
        lambda beta: _nudged_state(graph, k, task, beta, solver, current, free, rtol))


@eqx.filter_jit
def _free_state(graph, k, task, solver, current, initial, rtol):
    if current is None:
        return linear_states(graph, k, task, solver=solver, initial=initial)[0]
    dtype = jnp.result_type(k.dtype, task.inputs.dtype)
    return _nonlinear_state(graph, k, task, task.fixed_nodes, task.fixed_values().astype(dtype),
                            None, None, current, initial, rtol, solver)


def free_state(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask, *,
               solver: SolverLike = "auto", current: CurrentFn | None = None,
               initial: Real[ArrayLike, "ex n"] | None = None, rtol: float | None = None,
               check: bool = True) -> Float[Array, "ex n"]:
    r"""Free state :math:`V^F = \arg\min_V P(V)` with the task's inputs imposed.

    Returns voltages of shape ``(n_examples, n_nodes)``.  ``current`` makes the resistors
    nonlinear (Newton, to relative tolerance ``rtol``); ``initial`` (same shape)
    warm-starts iterative solvers.  ``solver``: a :mod:`~physjax.networks.solvers` instance
    or name (``"auto"``, ``"dense"``, ``"banded"``, ``"multifrontal"``, ``"cg"``).  Compiled
    once per graph shape, task nodes and solver; later calls with new conductances or
    inputs reuse the executable.
    """
    if check:
        check_network(graph, conductances, task)
    solver = resolve_solver(solver, graph, task, rtol=rtol)
    return _free_state(graph, jnp.asarray(conductances), task, solver, current, initial, rtol)


def residuals(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask, *,
              free: Float[ArrayLike, "ex n"] | None = None,
              **kwargs: Any) -> Float[Array, "ex k"]:
    r"""Target errors :math:`V_T^F - V_T^{desired}`, shape ``(n_examples, n_targets)``."""
    if free is None:
        free = free_state(graph, conductances, task, **kwargs)
    return free[:, np.asarray(task.target_nodes)] - task.desired


def cost(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask,
         **kwargs: Any) -> Float[Array, ""]:
    r"""Cost :math:`C = \frac{1}{n_{ex}}\sum_\mu \tfrac12 \sum_T (V_T^F - V_T^{desired})^2`
    (seed 000's :math:`C` averaged over input examples)."""
    r = residuals(graph, conductances, task, **kwargs)
    return 0.5 * jnp.sum(r**2) / task.n_examples


@eqx.filter_jit
def _clamped_state(graph, k, task, eta, free, solver, current, initial, rtol):
    if current is None:
        v, green = linear_states(graph, k, task, solver=solver, initial=initial, green=True)
        return clamp_with_green(v if free is None else free, green, task, eta)
    if free is None:
        free = _free_state(graph, k, task, solver, current, None, rtol)
    tgt = np.asarray(task.target_nodes)
    v_t = free[:, tgt] + eta * (task.desired - free[:, tgt])
    values = jnp.concatenate([task.fixed_values().astype(free.dtype), v_t], axis=-1)
    return _nonlinear_state(graph, k, task, task.fixed_nodes + task.target_nodes, values,
                            None, None, current, free if initial is None else initial, rtol,
                            solver)


def clamped_state(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask,
                  eta: Scalar, *, free: Float[ArrayLike, "ex n"] | None = None,
                  solver: SolverLike = "auto", current: CurrentFn | None = None,
                  initial: Real[ArrayLike, "ex n"] | None = None, rtol: float | None = None,
                  check: bool = True) -> Float[Array, "ex n"]:
    r"""Clamped state of coupled learning: the target voltages are held at
    :math:`V_T^C = V_T^F + \eta\,(V_T^{desired} - V_T^F)` and the rest relaxes.

    ``free`` is the free state if already computed.  For linear networks the clamped state is
    the free state plus the response to the currents that hold the targets, from the same
    factorization; nonlinear networks are solved again by Newton's method.
    """
    if check:
        check_network(graph, conductances, task)
        check_positive(eta, "eta")
    solver = resolve_solver(solver, graph, task, rtol=rtol)
    return _clamped_state(graph, jnp.asarray(conductances), task, jnp.asarray(eta), free,
                          solver, current, initial, rtol)


@eqx.filter_jit
def _nudged_state(graph, k, task, beta, solver, current, initial, rtol):
    if current is None:
        v, green = linear_states(graph, k, task, solver=solver, initial=initial, green=True)
        return nudge_with_green(v, green, task, beta)
    dtype = jnp.result_type(k.dtype, task.inputs.dtype)
    tgt = np.asarray(task.target_nodes)
    diag = jnp.zeros((graph.n_nodes,), dtype).at[tgt].set(beta)
    nudge_values = jnp.zeros((task.n_examples, graph.n_nodes), dtype).at[:, tgt].set(
        task.desired.astype(dtype))
    return _nonlinear_state(graph, k, task, task.fixed_nodes, task.fixed_values().astype(dtype),
                            diag, nudge_values, current, initial, rtol, solver)


def nudged_state(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask,
                 beta: Scalar, *, solver: SolverLike = "auto",
                 current: CurrentFn | None = None,
                 initial: Real[ArrayLike, "ex n"] | None = None, rtol: float | None = None,
                 check: bool = True) -> Float[Array, "ex n"]:
    r"""Nudged state of equilibrium propagation: :math:`\arg\min_V [P(V) + \beta\,
    \tfrac12\sum_T (V_T - V_T^{desired})^2]` -- a current :math:`\beta(V_T^{desired} - V_T)`
    pulls each target.  ``beta`` may be negative (the negative nudge) as long as the
    nudged Hessian stays positive definite.
    """
    if check:
        check_network(graph, conductances, task)
        if is_concrete(beta) and not np.isfinite(float(beta)):
            raise ValueError(f"beta must be finite, got {beta}")
    solver = resolve_solver(solver, graph, task, rtol=rtol)
    return _nudged_state(graph, jnp.asarray(conductances), task, jnp.asarray(beta), solver,
                         current, initial, rtol)


# --------------------------------------------------------------------------- for learning

def power_partials(graph: Graph, voltages: Real[ArrayLike, "ex *batch n"], *,
                   current: CurrentFn | None = None) -> Float[Array, "*batch e"]:
    r""":math:`\partial P/\partial k_e = \int_0^{\Delta V_e} f` at fixed voltages
    (``(n_examples, N)``), averaged over examples (:math:`\tfrac12\Delta V_e^2` for ohmic
    edges)."""
    _edge_node_arrays(graph, None, voltages)
    dv = _graphs.edge_differences(graph, voltages)
    return jnp.mean(co_content(current, dv), axis=0)


def task_cost(task: ResistorTask, voltages: Real[ArrayLike, "ex n"]) -> Float[Array, ""]:
    r""":math:`C = \frac{1}{n_{ex}}\sum_\mu \tfrac12 \sum_T (V_T - V_T^{desired})^2` of the
    voltages ``(n_examples, N)``."""
    if jnp.ndim(voltages) != 2 or jnp.shape(voltages)[0] != task.n_examples:
        raise ValueError(f"voltages must have shape (n_examples={task.n_examples}, n_nodes), "
                         f"got {jnp.shape(voltages)}")
    r = voltages[:, np.asarray(task.target_nodes)] - task.desired
    return 0.5 * jnp.sum(r**2) / task.n_examples


def cost_gradient(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask, *,
                  solver: SolverLike = "auto", current: CurrentFn | None = None,
                  initial: Real[ArrayLike, "ex n"] | None = None, rtol: float | None = None,
                  ) -> tuple[Float[Array, ""], Float[Array, " e"], Float[Array, "ex n"]]:
    r""":math:`\nabla_k C` through the free state (adjoint method); returns
    ``(C, grad, V_F)``, no input checks.

    Linear networks: the adjoint potentials :math:`\lambda = H_{ff}^{-1}\partial C/\partial V`
    are combinations of the targets' Green's-function columns, which come from the same
    factorization and solve as the free state, and :math:`\partial C/\partial k_e =
    -\sum_\mu \Delta V^\mu_e\,\Delta\lambda^\mu_e` (about 20% less time than differentiating
    the solve, 40 x 40 grid).  Nonlinear networks: reverse mode through the Newton solve
    (implicit differentiation)."""
    k = jnp.asarray(conductances)
    solver = resolve_solver(solver, graph, task, rtol=rtol)
    if initial is not None:
        initial = jax.lax.stop_gradient(initial)
    if current is None:
        free, green = linear_states(graph, k, task, solver=solver, initial=initial, green=True)
        r = free[:, np.asarray(task.target_nodes)] - task.desired
        adjoint = r @ green.T / task.n_examples  # (n_ex, N), zero at the fixed nodes
        grad = -jnp.sum(_graphs.edge_differences(graph, free)
                        * _graphs.edge_differences(graph, adjoint), axis=0)
        return task_cost(task, free), grad, free

    def solve(kk):
        return _free_state(graph, kk, task, solver, current, initial, rtol)

    free, pullback = jax.vjp(solve, k)
    r = free[:, np.asarray(task.target_nodes)] - task.desired
    dc_dv = jnp.zeros_like(free).at[:, np.asarray(task.target_nodes)].set(r / task.n_examples)
    (grad,) = pullback(dc_dv)
    return task_cost(task, free), grad, free
