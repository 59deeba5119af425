r"""Strain tasks of spring networks: allostery, cooperative binding, free and clamped states.

A task acts on node *pairs* :math:`p = (i, j)` (a spring or any two nodes) with reference
distance :math:`r_p` and unit vector :math:`\hat m_p`; its strain is
:math:`\varepsilon_p = (|x_i - x_j| - r_p)/r_p`, to first order
:math:`\varepsilon_p = (P u)_p = \hat m_p\cdot(u_i - u_j)/r_p`.  In each example :math:`\mu`
some pairs are *sources* (strain imposed) and some *targets* (strain measured, with a
desired value).  Allostery (seed 000): strain the source by :math:`\varepsilon_S`, the target
should strain by :math:`\Delta\,\varepsilon_S`.  Cooperative binding: two sites A and B,
binding = imposing a strain; trained in both directions (A bound :math:`\to` B strained and
B bound :math:`\to` A strained), so that binding B after A costs little energy
(:func:`binding_energies`).

**Linear response** (``method="linear"``, the default and what learning uses).  About the
reference positions the energy is quadratic,
:math:`E(u) = \tfrac12\sum_j k_j\,((Ru)_j + s_j)^2` with :math:`s_j = \ell_j(X) - \ell_{0j}`
(non-zero once rest lengths are trained).  The free state minimizes :math:`E` subject to
:math:`(Pu)_S = \varepsilon_S` (Lagrange multipliers).  With :math:`G = H^{+}` the Green's
function of :math:`H = R^\top K R` on the complement of the rigid-body modes, :math:`Y =
G P^\top` and :math:`y_0 = -G R^\top K s`, every constrained state is

.. math::  u = y_0 + Y W\mu,\qquad (W C W + I - W)\,\mu = W(\varepsilon - P y_0),
           \qquad C = P G P^\top,

where :math:`W` is the 0/1 mask of the imposed pairs and :math:`C` the compliance matrix
between the pairs.  One solve of :math:`H` per pair (plus one for :math:`y_0`) therefore
serves the free state *and* the clamped state (sources and targets imposed, targets at
:math:`\varepsilon_T^C = \varepsilon_T^F + \eta(\Delta - \varepsilon_T^F)`).  The rigid-body
null space is lifted by solving with :math:`A = H + c\,QQ^\top` (:math:`Q` the rigid-body
modes, :math:`c` the mean stiffness), which leaves the solution orthogonal to :math:`Q`
unchanged.  Solvers (``solver=``), all differentiated implicitly (a linear solve's
derivative is another solve, ``lax.custom_linear_solve``):

* ``"dense"``: Cholesky of the dense :math:`A`, :math:`O((Nd)^3)`;
* ``"banded"``: block Cholesky of :math:`H` after a reverse Cuthill--McKee ordering, with
  the rigid-body modes removed by pinning d(d+1)/2 (periodic: d) degrees of freedom and
  restoring the :math:`Q`-orthogonal solution exactly (:mod:`physjax.networks._spring_banded`);
  :math:`O(N d\,b^2)` for a band of b degrees of freedom.  The ordering is computed on the
  host from concrete edges; for a ``vmap`` over networks (traced edges) pass
  ``solver=banded_plan(union)``, a plan built from a network holding every bond of every
  member;
* ``"multifrontal"``: sparse Cholesky of the same pinned :math:`H` after a nested-dissection
  ordering, fronts of equal height in the elimination tree factored together
  (:mod:`physjax.networks._multifrontal`): :math:`O((Nd)^{3/2})` work in 2-D against the
  band's :math:`O(Nd\,b^2)` -- 11x fewer flops on 64 periodic networks of 500 nodes and
  60x fewer at 10^4 nodes, where the wrap-around of a periodic packing makes the band
  wide.  As for the band, the ordering needs concrete edges: for a ``vmap`` over networks
  pass ``solver=multifrontal_plan(union)`` (every member's bonds must be bonds of
  ``union``);
* ``"cg"``: matrix-free Jacobi-preconditioned conjugate gradients
  (``jax.scipy.sparse.linalg.cg``, warm-startable; it stops on the residual norm relative to
  the right-hand side and measured 2x faster per solve than ``lineax.CG`` here);
* ``"auto"``: dense up to :data:`AUTO_DENSE_MAX_DOF` degrees of freedom, multifrontal above
  when the network is concrete, otherwise dense up to :data:`DENSE_MAX_DOF` and CG above.

**Nonlinear** (``method="newton"``): the full energy is minimized with the exact nonlinear
pair strains imposed, by Newton's method (optimistix) on the Lagrange (KKT) system, with the
rigid-body gauge fixed by the penalty :math:`\tfrac c2|Q^\top u|^2` (zero at the solution,
so it does not bias it); differentiable by the implicit function theorem.  ``"fire"`` first
relaxes with FIRE (:func:`physjax.networks.packing.fire_minimize`) with the source strains
imposed by stiff penalty springs, then polishes with Newton: for large strains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Real, Scalar, Size
from physjax._checks import check_choice, check_finite, check_positive, is_concrete
from physjax._options import StrainMethod
from physjax.networks import _spring_banded as _banded
from physjax.networks import _spring_core as _spc
from physjax.networks import _strain_core as _stc
from physjax.networks import solvers as _solvers
from physjax.networks import spring as _sp
from physjax.networks._spring_banded import SpringBandPlan
from physjax.networks._spring_core import SpringNetwork
from physjax.networks._strain_core import LinearResponse, StrainTask

__all__ = [
    "StrainMethod",
    "AUTO_DENSE_MAX_DOF",
    "DENSE_MAX_DOF",
    "BindingEnergies",
    "Equilibria",
    "LinearResponse",
    "StrainTask",
    "SpringBandPlan",
    "allostery_task",
    "banded_plan",
    "binding_energies",
    "clamped_state",
    "constrained_state",
    "cooperative_binding_task",
    "cost_gradient",
    "distant_sites",
    "energy_partials",
    "equilibria",
    "free_state",
    "linear_energy",
    "linear_response",
    "make_strain_task",
    "multifrontal_plan",
    "nudged_constrained_state",
    "pair_strain_matrix",
    "pair_strains",
    "resolve_solver",
    "system_info",
    "task_cost",
]

DENSE_MAX_DOF = _solvers.AUTO_TRACED_DENSE_MAX_DOF  # Auto on a traced network: dense to here
AUTO_DENSE_MAX_DOF = _solvers.AUTO_DENSE_MAX_DOF  # Auto: dense up to here

# Annotation aliases: node pairs (one pair (2,) or (n_pairs, 2)), one pair, per-example
# arrays of make_strain_task (one example (n_pairs,) or (n_examples, n_pairs)), solvers.
_Pairs = Int[ArrayLike, "p 2"] | Int[ArrayLike, " 2"] | Sequence[Sequence[int]] | Sequence[int]
_Pair = Int[ArrayLike, " 2"] | Sequence[int]
_PerExample = (Real[ArrayLike, "k p"] | Real[ArrayLike, " p"] | Sequence[Sequence[Scalar]]
               | Sequence[Scalar])
#: What a spring ``solver=`` takes: a name, a solver instance, or a bare band plan.
SpringSolverLike = str | _solvers.AbstractNetworkSolver | SpringBandPlan


def make_strain_task(network: SpringNetwork, pairs: _Pairs, *, sources: _PerExample,
                     targets: _PerExample, inputs: _PerExample, desired: _PerExample
                     ) -> StrainTask:
    """Validated :class:`StrainTask`: ``pairs`` (n_pairs, 2); ``sources``, ``targets``,
    ``inputs``, ``desired`` of shape (n_examples, n_pairs) (1-D: one example)."""
    _spc.check_network(network)
    p = _stc.check_pairs(network, pairs)
    arrays = {}
    dtype = network.positions.dtype
    for name, a in (("sources", sources), ("targets", targets), ("inputs", inputs),
                    ("desired", desired)):
        a = jnp.asarray(check_finite(a, name), dtype)
        a = a[None] if a.ndim == 1 else a
        if a.ndim != 2 or a.shape[1] != p.shape[0]:
            raise ValueError(f"{name} must have shape (n_examples, n_pairs={p.shape[0]}), "
                             f"got {tuple(a.shape)}")
        arrays[name] = a
    if len({a.shape for a in arrays.values()}) != 1:
        raise ValueError(f"sources, targets, inputs, desired must have the same shape, got "
                         f"{[tuple(a.shape) for a in arrays.values()]}")
    s, t = arrays["sources"], arrays["targets"]
    if is_concrete(s) and is_concrete(t):
        s_, t_ = np.asarray(s), np.asarray(t)
        if not (np.all((s_ == 0) | (s_ == 1)) and np.all((t_ == 0) | (t_ == 1))):
            raise ValueError("sources and targets must be 0/1 masks")
        if np.any(s_ * t_):
            raise ValueError("sources and targets overlap: a pair is either imposed or "
                             "measured in an example")
        if np.any(s_.sum(1) == 0):
            raise ValueError("sources must impose at least one pair strain per example")
    return StrainTask(p, s, t, arrays["inputs"] * s, arrays["desired"] * t)


def allostery_task(network: SpringNetwork, source_pair: _Pairs, target_pair: _Pairs, *,
                   ratio: Scalar | Real[ArrayLike, " _t"] | Sequence[Scalar] = 1.0,
                   source_strain: Scalar | Real[ArrayLike, " _s"] | Sequence[Scalar] = 1.0
                   ) -> StrainTask:
    r"""Allostery: strain ``source_pair`` by :math:`\varepsilon_S`; ``target_pair`` should
    strain by :math:`\Delta\,\varepsilon_S` (``ratio`` :math:`= \Delta`, a scalar or one per
    target when ``target_pair`` lists several pairs)."""
    src = np.atleast_2d(np.asarray(source_pair))
    tgt = np.atleast_2d(np.asarray(target_pair))
    _stc.check_pairs(network, src, "source_pair")
    _stc.check_pairs(network, tgt, "target_pair")
    ns, nt = src.shape[0], tgt.shape[0]
    ratio = np.broadcast_to(check_finite(np.asarray(ratio, float), "ratio"), (nt,))
    eps = np.broadcast_to(check_finite(np.asarray(source_strain, float), "source_strain"), (ns,))
    z = np.zeros(ns + nt)
    return make_strain_task(
        network, np.concatenate([src, tgt]), sources=np.r_[np.ones(ns), np.zeros(nt)],
        targets=np.r_[np.zeros(ns), np.ones(nt)], inputs=np.r_[eps, np.zeros(nt)],
        desired=z + np.r_[np.zeros(ns), ratio * eps.mean()])


def cooperative_binding_task(network: SpringNetwork, site_a: _Pair, site_b: _Pair, *,
                             strain: Scalar = 1.0) -> StrainTask:
    r"""Cooperative binding (seed 000): two examples, A bound (strained by ``strain``)
    :math:`\to` B should strain by ``strain``, and B bound :math:`\to` A by ``strain``."""
    pairs = np.stack([np.asarray(site_a), np.asarray(site_b)])
    _stc.check_pairs(network, pairs, "site_a/site_b")
    check_finite(np.asarray(strain, float), "strain")
    eye = np.eye(2)
    return make_strain_task(network, pairs, sources=eye, targets=eye[::-1],
                            inputs=strain * eye, desired=strain * eye[::-1])


def distant_sites(network: SpringNetwork, node: Size = 0
                  ) -> tuple[Int[np.ndarray, " 2"], Int[np.ndarray, " 2"]]:
    """Two binding sites far apart: ``(site_a, site_b)``, each a node and its nearest
    *unbonded* node (minimum image), site A at ``node`` and site B at the node farthest from
    it -- the source/target geometry of the allostery and cooperative-binding tasks."""
    _spc.check_network(network)
    x = np.asarray(network.positions)
    e = np.asarray(network.graph.edges)
    if not 0 <= node < network.n_nodes:
        raise ValueError(f"node must be in [0, {network.n_nodes}), got {node}")

    def offsets(i):
        d = x - x[i]
        if network.box is not None:
            box = np.asarray(network.box)
            d -= box * np.round(d / box)
        return np.linalg.norm(d, axis=1)

    def site(i):
        dist = offsets(i)
        dist[i] = np.inf
        dist[e[e[:, 0] == i, 1]] = np.inf
        dist[e[e[:, 1] == i, 0]] = np.inf
        return np.array([i, int(np.argmin(dist))])

    return site(node), site(int(np.argmax(offsets(node))))


# --------------------------------------------------------------------------- geometry

def pair_strain_matrix(network: SpringNetwork, pairs: _Pairs,
                       positions: Real[ArrayLike, "n d"] | None = None) -> Float[Array, "p nd"]:
    r"""Linearized pair strains :math:`P` (``(n_pairs, N d)``): :math:`(Pu)_p =
    \hat m_p\cdot(u_i - u_j)/r_p` about ``positions`` (default: the reference)."""
    return _stc.pair_strain_matrix_at(network, _stc.check_pairs(network, pairs),
                                      _spc.checked_positions(network, positions))


def pair_strains(network: SpringNetwork, pairs: _Pairs,
                 displacements: Real[ArrayLike, "*batch n d"], *, linear: bool = True
                 ) -> Float[Array, "*batch p"]:
    r"""Pair strains for displacements u (``(..., N, d)``): linear :math:`Pu`, or the exact
    :math:`(|x_i - x_j| - r_p)/r_p` with :math:`x = X + u` when ``linear=False``."""
    p = _stc.check_pairs(network, pairs)
    u = _displacements(network, displacements)
    x0 = network.positions
    if linear:
        pm = pair_strain_matrix(network, p)
        return u.reshape(u.shape[:-2] + (-1,)) @ pm.T
    r0 = jnp.linalg.norm(_spc.minimum_image(x0[p[:, 0]] - x0[p[:, 1]], network.box), axis=-1)
    x = x0 + u
    v = _spc.minimum_image(x[..., p[:, 0], :] - x[..., p[:, 1], :], network.box)
    return (jnp.linalg.norm(v, axis=-1) - r0) / r0


def linear_energy(network: SpringNetwork, stiffnesses: Real[ArrayLike, "*#batch e"],
                  displacements: Real[ArrayLike, "*#batch n d"], *,
                  rest_lengths: Real[ArrayLike, "*#batch e"] | None = None
                  ) -> Float[Array, "*#batch"]:
    r"""Linear-response energy :math:`\tfrac12\sum_j k_j((Ru)_j + s_j)^2`,
    :math:`s = \ell(X) - \ell_0`; leading axes of ``displacements`` (``(..., N, d)``) are
    batch axes."""
    k = _spc.check_edge_array(network, stiffnesses, "stiffnesses")
    return 0.5 * jnp.sum(k * _extensions(network, displacements, rest_lengths) ** 2, axis=-1)


def _displacements(network, u):
    u = jnp.asarray(check_finite(u, "displacements"))
    if u.shape[-2:] != (network.n_nodes, network.dim):
        raise ValueError(f"displacements must have shape (..., n_nodes, dim) = (..., "
                         f"{network.n_nodes}, {network.dim}), got {tuple(u.shape)}")
    return u


def _extensions(network, u, rest_lengths):
    """(Ru)_j + s_j: the first-order bond extensions l_j - l0_j."""
    r = _sp.bond_vectors(network)
    ln = jnp.linalg.norm(r, axis=-1)
    e = network.graph.edges
    u = _displacements(network, u)
    du = u[..., e[:, 0], :] - u[..., e[:, 1], :]
    return (jnp.sum(du * (r / ln[:, None]), axis=-1) + ln
            - _spc.checked_rest_lengths(network, rest_lengths))


# --------------------------------------------------------------------------- solves

def banded_plan(network: SpringNetwork) -> _solvers.Banded:
    r"""The :class:`~physjax.networks.solvers.Banded` solver of ``network`` (concrete), with
    its plan: reverse Cuthill--McKee order of the nodes, block size (the bandwidth in
    degrees of freedom) and the pinned degrees of freedom that fix the rigid-body modes.
    Pass it as ``solver=``; a plan built from a network holding every bond of an ensemble
    (e.g. the unpruned contact network of networks pruned from one packing) serves
    ``jax.vmap`` over the members, whose edges are then traced: every bond of every member
    must lie in the plan's band (checked for concrete edges; ``equinox.error_if`` under a
    trace) and the members must share the plan network's nodes and positions."""
    return _solvers.Banded(_banded.spring_band_plan(network))


def multifrontal_plan(network: SpringNetwork) -> _solvers.Multifrontal:
    r"""The :class:`~physjax.networks.solvers.Multifrontal` solver of ``network``
    (concrete), with its plan: nested dissection of the nodes (Fiedler-vector bisection),
    the fronts of the elimination tree grouped by level, the storage indices of every bond,
    and the pinned degrees of freedom that fix the rigid-body modes.  Pass it as
    ``solver=``; a plan built from a network holding every bond of an ensemble serves
    ``jax.vmap`` over the members, whose edges are then traced: every bond of every member
    must be a bond of the plan's network (checked for concrete edges; ``equinox.error_if``
    under a trace) and the members must share its nodes and positions."""
    return _solvers.Multifrontal(_banded.spring_band_plan(network, kind="multifrontal"))


def _check_plan(plan, kind, network):
    if not isinstance(plan, SpringBandPlan):
        raise ValueError(f"solver carries a {type(plan).__name__}, not a spring-network plan; "
                         f"build it with strain.{kind}_plan(network)")
    if plan.kind != kind:
        raise ValueError(f"solver: a {kind} solver got a {plan.kind} plan")
    _banded.check_plan(plan, network, "solver")


def system_info(network: SpringNetwork) -> _solvers.SystemInfo:
    """The :class:`~physjax.networks.solvers.SystemInfo` of a spring network's linear
    response (``N d`` unknowns)."""
    concrete = is_concrete(network.graph.edges) and is_concrete(network.positions)
    return _solvers.SystemInfo(
        n_dof=network.n_dof, concrete=concrete,
        build_plan=lambda kind: _banded.spring_band_plan(network, kind=kind),
        check_plan=lambda plan, kind: _check_plan(plan, kind, network), family="spring")


def resolve_solver(solver: SpringSolverLike, network: SpringNetwork, *, rtol: Scalar | None = None
                   ) -> _solvers.AbstractNetworkSolver:
    """``solver`` (a name or :mod:`~physjax.networks.solvers` instance) resolved for
    ``network``; ``rtol`` (older API) sets the tolerance of a CG that has none."""
    return _solvers.resolve(solver, system_info(network), rtol)


def linear_response(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"], pairs: _Pairs,
                    *, rest_lengths: Real[ArrayLike, " e"] | None = None,
                    solver: SpringSolverLike = "auto", initial: LinearResponse | None = None,
                    rtol: Scalar | None = None) -> LinearResponse:
    r"""Solve :math:`(H + cQQ^\top) [Y, y_0] = [P^\top, -R^\top K s]` (``solver``: a
    :mod:`~physjax.networks.solvers` instance or name; a CG is warm-started from
    ``initial``; see the module docs) and return the :class:`LinearResponse`."""
    return _stc.solve_linear_response(
        network, _spc.check_edge_array(network, stiffnesses, "stiffnesses"),
        _stc.check_pairs(network, pairs), rest_lengths,
        resolve_solver(solver, network, rtol=rtol), initial)


@jax.jit
def constrained_state(response: LinearResponse, imposed: Real[ArrayLike, "*#batch p"],
                      values: Real[ArrayLike, "*#batch p"]
                      ) -> tuple[Float[Array, "*#batch nd"], Float[Array, "*#batch p"]]:
    r"""Displacements (flat, ``(..., N d)``) and strains of all pairs (``(..., n_pairs)``)
    with the pairs of the 0/1 mask ``imposed`` held at ``values``: :math:`u = y_0 + Y W\mu`,
    :math:`(WCW + I - W)\mu = W(\varepsilon - Py_0)`.  Leading axes are examples."""
    w = jnp.asarray(imposed)
    n_p = w.shape[-1]
    a = (w[..., :, None] * response.compliance * w[..., None, :]
         + jnp.eye(n_p) * (1.0 - w[..., None, :]))
    mu = jnp.linalg.solve(a, (w * (values - response.offset_strains))[..., None])[..., 0]
    u = response.offset + (w * mu) @ response.basis
    strains = response.offset_strains + (w * mu) @ response.compliance.T
    return u, strains


def free_state(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"], task: StrainTask,
               *, rest_lengths: Real[ArrayLike, " e"] | None = None,
               method: StrainMethod = "linear",
               solver: SpringSolverLike = "auto", response: LinearResponse | None = None,
               check: bool = True, **nonlinear_kw: Any
               ) -> tuple[Float[Array, "k n d"], Float[Array, "k p"]]:
    r"""Free state: sources held at ``task.inputs``, everything else relaxed.

    Returns ``(displacements, strains)``: ``(n_examples, N, d)`` and the strains of all task
    pairs ``(n_examples, n_pairs)`` (linearized for ``method="linear"``, exact otherwise).
    ``response`` reuses a :class:`LinearResponse` of the same stiffnesses.
    """
    check_choice(method, "method", StrainMethod)
    _stc.check_task(network, stiffnesses, task, check, rest_lengths)
    shape = (task.n_examples, network.n_nodes, network.dim)
    if method != "linear":
        from physjax.networks._strain_nonlinear import nonlinear_states
        u = nonlinear_states(network, stiffnesses, task, task.sources, task.inputs,
                             rest_lengths, method, **nonlinear_kw)
        return u, pair_strains(network, task.pairs, u, linear=False)
    if response is None:
        response = linear_response(network, stiffnesses, task.pairs,
                                   rest_lengths=rest_lengths, solver=solver)
    u, eps = constrained_state(response, task.sources, task.inputs)
    return u.reshape(shape), eps


def clamped_state(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                  task: StrainTask, eta: Scalar, *,
                  free_strains: Real[ArrayLike, "k p"] | None = None,
                  rest_lengths: Real[ArrayLike, " e"] | None = None,
                  solver: SpringSolverLike = "auto",
                  response: LinearResponse | None = None, check: bool = True
                  ) -> tuple[Float[Array, "k n d"], Float[Array, "k p"]]:
    r"""Clamped state of coupled learning (linear response): sources held at the inputs and
    targets at :math:`\varepsilon_T^C = \varepsilon_T^F + \eta(\Delta - \varepsilon_T^F)`.
    Returns ``(displacements, strains)`` as :func:`free_state`."""
    _stc.check_task(network, stiffnesses, task, check, rest_lengths)
    if check:
        check_positive(eta, "eta")
    if response is None:
        response = linear_response(network, stiffnesses, task.pairs,
                                   rest_lengths=rest_lengths, solver=solver)
    if free_strains is None:
        free_strains = constrained_state(response, task.sources, task.inputs)[1]
    values = task.inputs + task.targets * (free_strains + eta * (task.desired - free_strains))
    u, eps = constrained_state(response, task.sources + task.targets, values)
    return u.reshape(task.n_examples, network.n_nodes, network.dim), eps


class BindingEnergies(NamedTuple):
    """Linear-response energies to impose strains at sites A, B and both (cooperative
    binding); ``b_after_a = ab - a`` is the energy to bind B once A is bound."""

    a: Float[Array, "*batch"]
    b: Float[Array, "*batch"]
    ab: Float[Array, "*batch"]

    @property
    def b_after_a(self) -> Float[Array, "*batch"]:
        return self.ab - self.a


def binding_energies(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                     site_a: _Pair, site_b: _Pair, *, strain: Scalar = 1.0,
                     rest_lengths: Real[ArrayLike, " e"] | None = None,
                     solver: SpringSolverLike = "auto") -> BindingEnergies:
    r""":math:`E^A, E^B, E^{A+B}`: minimum energies with the strain imposed at A, at B, and
    at both (linear response; :math:`E = \tfrac12\varepsilon^\top C^{-1}\varepsilon` at zero
    prestress)."""
    _sp.check_stiffnesses(network, stiffnesses)
    _stc.check_pairs(network, np.stack([np.asarray(site_a), np.asarray(site_b)]), "site_a/site_b")
    pairs = jnp.stack([jnp.asarray(site_a), jnp.asarray(site_b)])
    resp = linear_response(network, stiffnesses, pairs, rest_lengths=rest_lengths,
                           solver=solver)
    masks = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], resp.basis.dtype)
    u, _ = constrained_state(resp, masks, strain * masks)
    e = linear_energy(network, stiffnesses, u.reshape(3, network.n_nodes, network.dim),
                      rest_lengths=rest_lengths)
    return BindingEnergies(e[0], e[1], e[2])


# --------------------------------------------------------------------------- for learning

def task_cost(task: StrainTask, strains: Real[ArrayLike, "... p"]) -> Float[Array, ""]:
    r""":math:`C = \frac1{n_{ex}}\sum_\mu\tfrac12\sum_T(\varepsilon_T - \Delta_T)^2` of the
    pair ``strains`` (``(n_examples, n_pairs)``)."""
    if jnp.shape(strains)[-1:] != task.targets.shape[-1:]:
        raise ValueError(f"strains must have shape (n_examples, n_pairs={task.targets.shape[-1]})"
                         f", got {jnp.shape(strains)}")
    r = task.targets * (strains - task.desired)
    return 0.5 * jnp.sum(r**2) / task.n_examples


def energy_partials(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                    displacements: Real[ArrayLike, "k n d"], *,
                    rest_lengths: Real[ArrayLike, " e"] | None = None
                    ) -> tuple[Float[Array, " e"], Float[Array, " e"]]:
    r"""Partial derivatives of the linear-response energy at fixed displacements
    (``(n_examples, N, d)``), averaged over examples: :math:`\partial E/\partial k_j =
    \tfrac12 e_j^2` and :math:`\partial E/\partial \ell_{0j} = -k_j e_j`, :math:`e_j` the bond
    extension.  Returns ``(∂E/∂k, ∂E/∂ℓ0)``."""
    if jnp.ndim(displacements) != 3:      # a single (N, d) example would average over bonds
        raise ValueError("displacements must have shape (n_examples, n_nodes, dim), got "
                         f"shape {jnp.shape(displacements)}")
    ext = _extensions(network, displacements, rest_lengths)
    return (0.5 * jnp.mean(ext**2, axis=0),
            -_spc.check_edge_array(network, stiffnesses, "stiffnesses") * jnp.mean(ext, axis=0))


def nudged_constrained_state(response: LinearResponse, task: StrainTask, beta: Scalar
                             ) -> tuple[Float[Array, "k nd"], Float[Array, "k p"]]:
    r"""Nudged state of equilibrium propagation (linear response): sources held at the
    inputs, every target pulled by the force :math:`\beta(\Delta_T - \varepsilon_T)`, i.e.
    :math:`\arg\min_u [E(u) + \beta\,\tfrac12\sum_T(\varepsilon_T - \Delta_T)^2]`.  With
    pair forces :math:`\mu` (:math:`u = y_0 + Y\mu`, :math:`\varepsilon = Py_0 + C\mu`),
    :math:`(W + \beta T)\,C\,(W + T)\,\mu + (I - W)\mu = W(\varepsilon_S - Py_0) +
    \beta T(\Delta - Py_0)`.  Returns ``(displacements (flat), strains)``."""
    check_finite(beta, "beta")
    w, t = task.sources, task.targets
    n_p = w.shape[-1]
    m = w + t
    a = ((w + beta * t)[..., :, None] * response.compliance * m[..., None, :]
         + jnp.eye(n_p) * (1.0 - w[..., None, :]))
    b = w * (task.inputs - response.offset_strains) + beta * t * (
        task.desired - response.offset_strains)
    mu = m * jnp.linalg.solve(a, b[..., None])[..., 0]
    return response.offset + mu @ response.basis, response.offset_strains + mu @ \
        response.compliance.T


class Equilibria(NamedTuple):
    """Free displacements ``(n_examples, N, d)`` and the maps ``eta -> clamped`` and
    ``beta -> nudged`` displacements, all from one :class:`LinearResponse` (``response``,
    also the warm start of the next CG solve); ``free_strains`` of the task pairs."""

    free: Float[Array, "k n d"]
    clamp: Callable[[Scalar], Float[Array, "k n d"]]
    nudge: Callable[[Scalar], Float[Array, "k n d"]]
    free_strains: Float[Array, "k p"]
    response: LinearResponse


def equilibria(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"], task: StrainTask,
               *, rest_lengths: Real[ArrayLike, " e"] | None = None,
               solver: SpringSolverLike = "auto",
               initial: LinearResponse | None = None) -> Equilibria:
    """Free, clamped and nudged states of a linear spring network from one linear response
    (no input checks; ``solver`` is resolved for ``network`` first)."""
    solver = resolve_solver(solver, network)
    resp = _stc.solve_linear_response(network, jnp.asarray(stiffnesses), task.pairs,
                                      rest_lengths, solver, initial)
    shape = (task.n_examples, network.n_nodes, network.dim)
    uf, ef = constrained_state(resp, task.sources, task.inputs)

    def clamp(eta):
        values = task.inputs + task.targets * (ef + eta * (task.desired - ef))
        return constrained_state(resp, task.sources + task.targets, values)[0].reshape(shape)

    def nudge(beta):
        return nudged_constrained_state(resp, task, beta)[0].reshape(shape)

    return Equilibria(uf.reshape(shape), clamp, nudge, ef, resp)


def cost_gradient(network: SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                  task: StrainTask, *, rest_lengths: Real[ArrayLike, " e"] | None = None,
                  solver: SpringSolverLike = "auto", initial: LinearResponse | None = None
                  ) -> tuple[Float[Array, ""], tuple[Float[Array, " e"], Float[Array, " e"]],
                             LinearResponse]:
    r"""Cost and its gradient through the equilibrium (reverse mode through the implicit
    linear solves): ``(C, (∂C/∂k, ∂C/∂ℓ0), response)``."""
    solver = resolve_solver(solver, network)
    l0 = _spc.checked_rest_lengths(network, rest_lengths)

    def cost(kk, ll):
        resp = _stc.solve_linear_response(network, kk, task.pairs, ll, solver, initial)
        return task_cost(task, constrained_state(resp, task.sources, task.inputs)[1]), resp

    (c, resp), grads = jax.value_and_grad(cost, argnums=(0, 1), has_aux=True)(
        jnp.asarray(stiffnesses), l0)
    return c, grads, resp
