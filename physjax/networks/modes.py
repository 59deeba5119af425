r"""Cost and physical Hessians of physical learning networks, and how they relate.

The **cost Hessian** :math:`\mathcal H_{ij} = \partial^2 C/\partial k_i \partial k_j` lives in
the space of learning degrees of freedom (edges); the **physical Hessian**
:math:`H = \Delta^\top K \Delta` in the space of physical degrees of freedom (nodes).  For
:math:`C = \frac{1}{n}\sum_{\mu,T} \tfrac12 r_{\mu T}^2` with residuals
:math:`r = V_T^F - V_T^{desired}`,

.. math:: \mathcal H = \tfrac1n J^\top J + \tfrac1n \sum_{\mu T} r_{\mu T}\,\nabla^2_k r_{\mu T},
    \qquad J_{\mu T, e} = \frac{\partial V^F_{\mu T}}{\partial k_e}
    = -(\Delta G e_T)_e\,(\Delta G S_\mu)_e,

where :math:`G = H_{ff}^{-1}` is the Green's function on the free nodes and :math:`G S_\mu =
V^F_\mu` the free state.  At a solution (:math:`r = 0`) only the Gauss--Newton part
survives, so :math:`\mathcal H` is built from four factors of :math:`H^{-1}` (seed 000) and
has at most :math:`n_T \times n_{examples}` non-zero eigenvalues, one per independent
constraint.  :func:`cost_hessian_from_green` evaluates that formula from the physical Hessian
alone, independently of automatic differentiation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax import graphs as _graphs
from physjax._array_types import Array, ArrayLike, Float, Indices, Int, Real, Scalar
from physjax._checks import check_finite, check_nonnegative
from physjax._options import HVPMode
from physjax.curvature import hvp_fn
from physjax.networks import resistor as _res

Graph = _graphs.Graph
ResistorTask = _res.ResistorTask
SolverLike = _res.SolverLike
CurrentFn = _res.CurrentFn

__all__ = [
    "cost_hessian",
    "cost_hessian_from_green",
    "cost_hvp_fn",
    "count_stiff_modes",
    "gauss_newton_hessian",
    "physical_hessian_spectrum",
    "residual_jacobian",
]


def _task_cost(graph, k, task, solver, current):
    return _res.task_cost(task, _res.equilibria(graph, k, task, solver=solver,
                                                current=current).free)


@eqx.filter_jit
def _cost_hessian(graph, k, task, solver, current):
    return jax.hessian(_task_cost, argnums=1)(graph, k, task, solver, current)


@eqx.filter_jit
def _residual_jacobian(graph, k, task, solver, current):
    def residuals(kk):
        free = _res.equilibria(graph, kk, task, solver=solver, current=current).free
        return (free[:, np.asarray(task.target_nodes)] - task.desired).reshape(-1)

    return jax.jacfwd(residuals)(k)


def cost_hessian(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask, *,
                 solver: SolverLike = "dense",
                 current: CurrentFn | None = None) -> Float[Array, "e e"]:
    r"""Dense cost Hessian :math:`\partial^2 C/\partial k_i\partial k_j` by ``jax.hessian``
    (forward over reverse through the implicit solve), compiled as one program (op-by-op
    evaluation is ~100x slower) once per graph, task nodes and solver; for small
    networks."""
    _res.check_network(graph, conductances, task)
    return _cost_hessian(graph, jnp.asarray(conductances), task,
                         _res.resolve_solver(solver, graph, task), current)


def cost_hvp_fn(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask, *,
                solver: SolverLike = "auto", current: CurrentFn | None = None,
                mode: HVPMode = "fwd-rev") -> Callable[[Float[Array, " e"]], Float[Array, " e"]]:
    r"""Matrix-free cost-Hessian-vector product :math:`v \mapsto \mathcal H v` for large
    networks (forward-over-reverse through the solve by default), jit-compiled; feed it to
    :func:`physjax.curvature.lanczos` for the stiff directions."""
    _res.check_network(graph, conductances, task)
    fn = lambda k: _res.cost(graph, k, task, solver=solver, current=current,  # noqa: E731
                             check=False)
    return hvp_fn(fn, jnp.asarray(conductances), mode=mode)


def residual_jacobian(graph: Graph, conductances: Real[ArrayLike, " e"], task: ResistorTask,
                      *, solver: SolverLike = "dense",
                      current: CurrentFn | None = None) -> Float[Array, "_r e"]:
    r""":math:`J = \partial r/\partial k`, shape ``(n_examples * n_targets, n_edges)``."""
    _res.check_network(graph, conductances, task)
    return _residual_jacobian(graph, jnp.asarray(conductances), task,
                              _res.resolve_solver(solver, graph, task), current)


def gauss_newton_hessian(graph: Graph, conductances: Real[ArrayLike, " e"],
                         task: ResistorTask, **kwargs: Any) -> Float[Array, "e e"]:
    r"""Gauss--Newton part :math:`J^\top J / n_{examples}` of the cost Hessian."""
    j = residual_jacobian(graph, conductances, task, **kwargs)
    return j.T @ j / task.n_examples


def cost_hessian_from_green(graph: Graph, conductances: Real[ArrayLike, " e"],
                            task: ResistorTask) -> Float[Array, "e e"]:
    r"""Gauss--Newton cost Hessian of a linear network from its Green's function:
    :math:`\frac1n\sum_{\mu T} (\Delta G e_T)_i (\Delta V^F_\mu)_i (\Delta G e_T)_j
    (\Delta V^F_\mu)_j` with :math:`G = H_{ff}^{-1}` -- four powers of :math:`H^{-1}`.

    Uses one dense inverse of the physical Hessian and no automatic differentiation; equals
    :func:`cost_hessian` wherever the cost vanishes.
    """
    _res.check_network(graph, conductances, task)
    k = jnp.asarray(conductances)
    fixed = task.fixed_nodes
    free = np.setdiff1d(np.arange(graph.n_nodes), fixed)
    h_ff = _res.reduced_hessian(graph, k, fixed)
    green = jnp.zeros((graph.n_nodes, graph.n_nodes), h_ff.dtype)
    green = green.at[jnp.ix_(free, free)].set(jnp.linalg.inv(h_ff))
    tgt = np.asarray(task.target_nodes)
    dgreen = _graphs.edge_differences(graph, green[:, tgt].T)  # (n_T, n_edges)
    dv = _graphs.edge_differences(graph, _res.free_state(graph, k, task, solver="dense",
                                                         check=False))  # (n_ex, n_edges)
    j = -(dgreen[None, :, :] * dv[:, None, :]).reshape(-1, graph.n_edges)
    return j.T @ j / task.n_examples


def physical_hessian_spectrum(graph: Graph, conductances: Real[ArrayLike, " e"],
                              fixed_nodes: Indices = ()) -> Float[Array, " _m"]:
    r"""Eigenvalues (ascending) of the physical Hessian: the Laplacian :math:`H` if
    ``fixed_nodes`` is empty (one zero mode per connected component), else :math:`H_{ff}`."""
    _res.check_network(graph, conductances)
    k = jnp.asarray(conductances)
    if len(fixed_nodes) == 0:
        return jnp.linalg.eigvalsh(_graphs.laplacian(graph, k))
    return jnp.linalg.eigvalsh(_res.reduced_hessian(graph, k, tuple(fixed_nodes)))


def count_stiff_modes(eigenvalues: Real[ArrayLike, "*shape"],
                      relative_threshold: Scalar = 1e-6) -> Int[Array, ""]:
    r"""Number of eigenvalues above ``relative_threshold`` times the largest magnitude."""
    ev = jnp.asarray(check_finite(eigenvalues, "eigenvalues"))
    check_nonnegative(relative_threshold, "relative_threshold")
    return jnp.sum(ev > relative_threshold * jnp.max(jnp.abs(ev)))
