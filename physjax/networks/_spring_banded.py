r"""Sparse direct linear response of spring networks: Cholesky of :math:`H = R^\top K R`
with the rigid-body modes pinned, differentiated implicitly.

**Layout.**  Two orderings, computed on the host once per graph, the d degrees of freedom of
a node kept together (node-major):

* ``kind="banded"``: reverse Cuthill--McKee, so that :math:`H` is block tridiagonal with
  blocks of about d times the node bandwidth, factored by the block Cholesky of
  :mod:`physjax.networks._solve` (one ``lax.scan``, :math:`O(n b^2)` work);
* ``kind="multifrontal"``: nested dissection and a level-batched multifrontal Cholesky
  (:mod:`physjax.networks._multifrontal`), :math:`O(n^{3/2})` work for 2-D networks.  The
  wrap-around of a periodic packing makes the RCM band wide; nested dissection does not
  care (11x fewer flops for 500 nodes, 60x for 10^4).

**Rigid-body modes.**  :math:`H` is singular on the rigid-body motions (orthonormal columns
:math:`Q`: d(d+1)/2 translations and rotations, d translations in a periodic box).  The
dense path solves with :math:`A = H + cQQ^\top`, which would fill the factor.  Here instead
``n_rigid`` degrees of freedom are *pinned* (held at zero): chosen by QR with column pivoting
of :math:`Q^\top`, so that :math:`Q` restricted to them is as well conditioned as possible
(for a rotation, a component far from the axis).  The pinned matrix :math:`H_{ff}` is then
positive definite for a rigid network, and with :math:`P_\perp = I - QQ^\top`

.. math::  A^{-1} b = P_\perp\, S_{pin}(P_\perp b) + Q Q^\top b / c

exactly: a self-equilibrated load :math:`P_\perp b` needs no reaction at the pins (the
reactions :math:`r` obey :math:`Q_{pin}^\top r = 0`, so :math:`r = 0`), so the pinned
solution differs from :math:`H^{+} P_\perp b` only by a rigid motion, which :math:`P_\perp`
removes.  The whole map is wrapped in ``lax.custom_linear_solve(symmetric=True)`` with the
matrix-free product by :math:`A`: derivatives with respect to the stiffnesses are implicit
(one more banded solve), nothing is unrolled.

**Ensembles (traced bonds).**  The plan (ordering, band, pinned degrees of freedom) needs
concrete edges and positions; the blocks are assembled by scatter-adds from the *edges of
the network being solved*, which may be traced.  So one plan built from a network that
holds every bond of every member (e.g. the unpruned contact network from which an
ensemble is pruned) serves a ``vmap`` over networks on the same nodes.  Contract: every
bond of every member lies inside the plan's band (banded) or is a bond of the plan's
network (multifrontal) -- checked on the host for concrete edges, and by
``equinox.error_if`` when they are traced -- and the members share the plan's nodes
(same number, dimension, periodicity, and positions for which the pinned degrees of
freedom stay non-degenerate: checked for concrete positions).
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import is_concrete
from physjax.networks import _multifrontal as _mf
from physjax.networks import _solve
from physjax.networks import _spring_core as _spc
from physjax.networks import spring as _sp

PINNED_MAX_CONDITION = 1e8  # condition number of Q on the pinned dofs above which we refuse


@dataclasses.dataclass(frozen=True, eq=False)
class SpringBandPlan(_solve.LayoutPlan):
    """Host-side plan of a sparse direct spring solve (build with
    :func:`physjax.networks.strain.banded_plan` or
    :func:`~physjax.networks.strain.multifrontal_plan`): the ordering of the degrees of
    freedom -- an RCM :class:`~._solve.BandLayout` (``kind="banded"``) or a nested-dissection
    :class:`~._multifrontal.MultifrontalLayout` (``kind="multifrontal"``, with the storage
    indices of the plan network's bonds in ``entries``) -- the ``pinned`` ones, and the nodes
    it is for.  Pass it as ``solver=`` to the strain and learning functions; it hashes by
    identity (plans are cached per network), so a compiled function is reused across calls."""

    layout: _solve.BandLayout | _mf.MultifrontalLayout
    pinned: np.ndarray
    n_nodes: int
    dim: int
    periodic: bool
    entries: _mf.EdgeEntries | None = None

    @property
    def n_blocks(self) -> int:
        """Diagonal blocks (banded) or levels of fronts (multifrontal)."""
        if self.kind == "multifrontal":
            return self.layout.n_levels
        return self.layout.n_blocks

    def __repr__(self) -> str:
        kind = "periodic" if self.periodic else "free"
        shape = (f"{self.n_blocks} levels of fronts up to {self.block} dofs"
                 if self.kind == "multifrontal" else
                 f"{self.n_blocks} blocks of {self.block} dofs")
        return (f"SpringBandPlan({self.kind}, {self.n_nodes} nodes, {self.dim}-D {kind}, "
                f"{shape}, pinned dofs {self.pinned.tolist()})")


def _rigid_modes_np(x: np.ndarray, periodic: bool) -> np.ndarray:
    """Host copy of :func:`spring.rigid_body_modes` (float64)."""
    n, d = x.shape
    cols = [np.zeros((n, d)) for _ in range(d)]
    for a in range(d):
        cols[a][:, a] = 1.0
    if not periodic:
        c = x - x.mean(0)
        if d == 2:
            cols.append(np.stack([-c[:, 1], c[:, 0]], -1))
        else:
            cols += [np.cross(np.eye(3)[a], c) for a in range(3)]
    q, _ = np.linalg.qr(np.stack([v.reshape(-1) for v in cols], -1))
    return q


@functools.lru_cache(maxsize=32)
def _plan_cached(edges_bytes: bytes, x_bytes: bytes, n_nodes: int, dim: int,
                 periodic: bool, kind: str) -> SpringBandPlan:
    from scipy.linalg import qr

    edges = np.frombuffer(edges_bytes, np.int64).reshape(-1, 2)
    x = np.frombuffer(x_bytes, np.float64).reshape(n_nodes, dim)
    q = _rigid_modes_np(x, periodic)
    pinned = np.sort(qr(q.T, pivoting=True, mode="r")[1][: q.shape[1]])
    if kind == "multifrontal":
        layout = _mf.multifrontal_layout(edges, n_nodes, dim, pinned)
        return SpringBandPlan(layout, pinned, n_nodes, dim, periodic,
                              _mf.edge_entries(layout, edges))
    layout = _solve.band_layout(edges, n_nodes, dim, pinned)
    return SpringBandPlan(layout, pinned, n_nodes, dim, periodic)


def spring_band_plan(network, name: str = "network", kind: str = "banded") -> SpringBandPlan:
    """The :class:`SpringBandPlan` of a concrete network (cached); ``kind`` is
    ``"banded"`` or ``"multifrontal"``."""
    _spc.check_network(network, name)
    if not (is_concrete(network.graph.edges) and is_concrete(network.positions)):
        raise ValueError(f"{name}: a {kind} plan orders the nodes on the host and needs "
                         "concrete edges and positions, got traced ones; build it outside "
                         "jit/vmap from a network that holds every bond")
    edges = np.ascontiguousarray(np.asarray(network.graph.edges), np.int64)
    x = np.ascontiguousarray(np.asarray(network.positions), np.float64)
    return _plan_cached(edges.tobytes(), x.tobytes(), network.n_nodes, network.dim,
                        network.periodic, kind)


def check_plan(plan: SpringBandPlan, network, name: str = "solver") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``plan`` fits ``network``: same nodes,
    every (concrete) bond inside the band, pinned dofs non-degenerate at its positions."""
    if (plan.n_nodes, plan.dim, plan.periodic) != (network.n_nodes, network.dim,
                                                   network.periodic):
        raise ValueError(
            f"{name} is a banded plan for {plan.n_nodes} nodes in {plan.dim}-D "
            f"(periodic={plan.periodic}), but network has {network.n_nodes} nodes in "
            f"{network.dim}-D (periodic={network.periodic}); build the plan with "
            "strain.banded_plan from a network on the same nodes")
    edges, x = network.graph.edges, network.positions
    if is_concrete(edges) and edges.ndim == 2:
        e = np.ascontiguousarray(np.asarray(edges), np.int64)
        _check_edges_cached(plan, e.tobytes(), name)
    if is_concrete(x) and x.ndim == 2:
        x = np.ascontiguousarray(np.asarray(x), np.float64)
        _check_pins_cached(plan, x.tobytes(), name)


@functools.lru_cache(maxsize=64)
def _check_edges_cached(plan, edges_bytes, name):
    edges = np.frombuffer(edges_bytes, np.int64).reshape(-1, 2)
    if plan.kind == "multifrontal":
        _, missing = _mf.edge_entry_index(plan.layout, plan.entries, edges)
        bad = np.flatnonzero(missing)
        if bad.size:
            raise ValueError(
                f"network: {bad.size} bond(s) are not bonds of the network the plan passed "
                f"as {name} was built from, e.g. edges {bad[:5].tolist()} = "
                f"{edges[bad[:5]].tolist()}; build the plan with strain.multifrontal_plan "
                "from a network that contains every bond (e.g. the unpruned contact network "
                "of an ensemble)")
        return
    _, outside = _solve.edge_entry_index(plan.layout, edges)
    bad = np.flatnonzero(outside.any(axis=(1, 2, 3)))
    if bad.size:
        raise ValueError(
            f"network: {bad.size} bond(s) lie outside the band of the plan passed as {name} "
            f"(block of {plan.block} dofs), e.g. edges {bad[:5].tolist()} = "
            f"{edges[bad[:5]].tolist()}; build the plan with strain.banded_plan from a "
            "network that contains every bond (e.g. the unpruned contact network of an "
            "ensemble)")


@functools.lru_cache(maxsize=64)
def _check_pins_cached(plan, x_bytes, name):
    x = np.frombuffer(x_bytes, np.float64).reshape(plan.n_nodes, plan.dim)
    cond = np.linalg.cond(_rigid_modes_np(x, plan.periodic)[plan.pinned])
    if not cond < PINNED_MAX_CONDITION:
        raise ValueError(
            f"{name}: the plan's pinned dofs {plan.pinned.tolist()} do not fix the rigid-body "
            f"modes of network at its positions (condition number {cond:.3g}); build the "
            "plan from a network with the same positions")


def linear_response_solve(plan: SpringBandPlan, network, k, nhat, q, c, rhs):
    r""":math:`(H + cQQ^\top)^{-1}` ``rhs`` (``rhs`` of shape ``(N d, m)``) by the pinned
    sparse solve and the rigid-mode restoration (module docs); implicit derivatives."""
    edges = network.graph.edges
    g = k[:, None, None] * nhat[:, :, None] * nhat[:, None, :]           # k_j n n^T
    values = g[:, None] * jnp.asarray(_solve.EDGE_BLOCK_SIGNS, g.dtype)[:, None, None]
    if plan.kind == "multifrontal":
        index, missing = _mf.edge_entry_index(plan.layout, plan.entries, edges, jnp)
        bad = jnp.any(missing)
        message = "network: a bond is not a bond of the plan's network (solver=)"
        factor_fn, solve_fn = _mf.factor, _mf.solve
    else:
        index, outside = _solve.edge_entry_index(plan.layout, edges, jnp)
        bad = jnp.any(outside)
        message = ("network: a bond lies outside the band of the banded plan (solver=); "
                   "build it from a network holding every bond")
        factor_fn, solve_fn = _solve.banded_factor, _solve.banded_solve
    if not is_concrete(edges):
        values = eqx.error_if(values, bad, message)
    pinned_solve = functools.partial(solve_fn, plan.layout,
                                     factor_fn(plan.layout, index, values))
    h_matvec = jax.vmap(_sp.dynamical_matvec(network, k), in_axes=1, out_axes=1)

    def matvec(v):
        return h_matvec(v) + c * (q @ (q.T @ v))

    def solve(_, b):
        qb = q.T @ b
        u = pinned_solve(b - q @ qb)
        return u - q @ (q.T @ u) + q @ (qb / c)

    return jax.lax.custom_linear_solve(matvec, rhs, solve, symmetric=True)
