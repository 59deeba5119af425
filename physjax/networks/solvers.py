r"""Linear solvers of physical networks: one ``solver=`` argument for resistors and springs.

Every equilibrium of a linear network (resistor voltages, spring displacements) solves one
symmetric positive-definite system with the network's physical Hessian: the reduced
Laplacian :math:`H_{ff}` of a resistor network (imposed voltages eliminated), or the
dynamical matrix :math:`H = R^\top K R` of a spring network (rigid-body modes removed).
Every function of :mod:`physjax.networks` and :mod:`physjax.networks.strain` that solves one
takes ``solver=``: an instance of a class below, or its name as a string (``"auto"``,
``"dense"``, ``"banded"``, ``"multifrontal"``, ``"cg"``).  All of them are differentiated
implicitly (``lax.custom_linear_solve`` or Lineax): the derivative of a solve is one more
solve with the same factor, nothing is unrolled.

* :class:`Dense` -- Cholesky of the dense matrix, :math:`n^3/3` flops and :math:`n^2`
  memory; Auto's choice up to 256 unknowns, and for traced graphs up to 2048.
* :class:`Banded` -- block-tridiagonal Cholesky after a reverse Cuthill--McKee ordering, in
  one ``lax.scan``: :math:`n b^2` flops, :math:`2nb` memory; Auto's choice for a concrete
  graph whose band :math:`b \le 64` (2-D grids up to ~64 wide, ensembles of small grids).
* :class:`Multifrontal` -- nested dissection, fronts batched per level of the elimination
  tree: :math:`O(n^{3/2})` flops in 2-D; Auto's choice for a concrete graph with a wider
  band (large grids, periodic packings).
* :class:`CG` -- matrix-free Jacobi-preconditioned Lineax CG, warm-started: :math:`O(n)`
  memory, :math:`O(\sqrt\kappa)` products; Auto's choice for traced graphs above 2048
  unknowns.

``n_dof`` counts the unknowns (free nodes of a resistor network, ``N d`` for springs).
:class:`Auto` applies these rules; it needs concrete edges to build a sparse plan (the
orderings are computed on the host), so under ``jit``/``vmap`` over graphs it falls back to
:class:`Dense` or :class:`CG`.

**Plans.**  :class:`Banded` and :class:`Multifrontal` carry their *plan* (node ordering, block
or front layout, storage indices: host-side NumPy, hashed by identity).  ``Banded()`` builds it
from the network when first used (cached per graph, so a compiled function is reused across
calls); ``networks.resolve_solver(solver, graph, task)`` and
``strain.resolve_solver(solver, network)`` return the solver with its plan, and a plan built
from a *parent* network holding every bond serves a ``vmap`` over spring networks whose bonds
are traced (``strain.banded_plan(union)``/``strain.multifrontal_plan(union)`` return such
solvers).  A plan built for another network is refused with an error naming ``solver``.

**Tolerance convention** (one for both families): :class:`CG` stops when every right-hand
side meets :math:`\max_i |r_i| \le` ``rtol`` :math:`\max_i |b_i|` ``+ atol``
:math:`\max_i |b_i|` (Lineax's max-norm test on the right-hand side scaled to
:math:`\max|b| = 1`); ``rtol=None`` means :data:`DEFAULT_RTOL` of the dtype (1e-12 in
float64, 1e-5 in float32), ``atol=None`` means ``rtol``.  Direct solvers are exact to rounding.

The protocol (:class:`AbstractNetworkSolver`) is small: a solver is an Equinox module whose
:meth:`~AbstractNetworkSolver.resolve` turns it into a concrete solver for one network (a
:class:`SystemInfo` says what the network is); the families dispatch on the resolved class.
(physjax's own protocol rather than ``lineax.AbstractLinearSolver``: a Lineax solver sees an
operator, but the banded and multifrontal factorizations are assembled from the network's
bonds, not from an operator; the CG path *is* ``lineax.CG``.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, get_args

import equinox as eqx
import jax.numpy as jnp
from jax.typing import DTypeLike

from physjax._options import SolverName

__all__ = [
    "AUTO_BANDED_MAX_BLOCK",
    "AUTO_DENSE_MAX_DOF",
    "AUTO_TRACED_DENSE_MAX_DOF",
    "DEFAULT_RTOL",
    "SolverName",
    "AbstractNetworkSolver",
    "Auto",
    "Banded",
    "CG",
    "Dense",
    "Multifrontal",
    "SystemInfo",
    "as_solver",
    "default_rtol",
    "resolve",
]

AUTO_DENSE_MAX_DOF = 256  # Auto: dense Cholesky up to this many unknowns
AUTO_TRACED_DENSE_MAX_DOF = 2048  # Auto on a traced graph (no plan): dense up to here, CG above
AUTO_BANDED_MAX_BLOCK = 64  # Auto: banded when the RCM band is at most this wide
DEFAULT_RTOL = {"float64": 1e-12, "float32": 1e-5}


def default_rtol(dtype: DTypeLike) -> float:
    """:data:`DEFAULT_RTOL` of ``dtype`` (float32 for anything narrower than float64)."""
    return DEFAULT_RTOL["float64" if jnp.dtype(dtype) == jnp.float64 else "float32"]


class SystemInfo(NamedTuple):
    """What a solver needs to know about the system it will solve (built by each family).

    Attributes:
        n_dof: number of unknowns.
        concrete: whether the graph's edges (and positions) are concrete, so that a plan can
            be built on the host.
        build_plan: ``build_plan(kind)`` -> the host-side plan of ``kind`` (``"banded"`` or
            ``"multifrontal"``) for this network (cached).
        check_plan: ``check_plan(plan, kind)`` raises ``ValueError`` naming ``solver`` when
            ``plan`` does not fit this network.
        family: ``"resistor"`` or ``"spring"`` (for messages).
    """

    n_dof: int
    concrete: bool
    build_plan: Callable[[str], Any]
    check_plan: Callable[[Any, str], None]
    family: str


class AbstractNetworkSolver(eqx.Module):
    """A linear solver of a network's physical Hessian (see the module docs).

    ``warm_starts``: whether the solver starts from the previous solution when given one
    (a training loop then carries that solution from step to step)."""

    warm_starts: ClassVar[bool] = False

    def resolve(self, info: SystemInfo) -> AbstractNetworkSolver:
        """The concrete solver to use for the system ``info`` describes."""
        return self


class Dense(AbstractNetworkSolver):
    """Cholesky of the dense matrix: :math:`n^3/3` flops, :math:`n^2` memory; any graph."""


class CG(AbstractNetworkSolver):
    """Matrix-free Jacobi-preconditioned conjugate gradients (``lineax.CG``), warm-started
    from the previous solution when the caller has one.

    Attributes:
        rtol: relative residual, :math:`\\max|r| \\le` ``rtol`` :math:`\\max|b|` per
            right-hand side (``None``: :data:`DEFAULT_RTOL` of the dtype).
        atol: added to ``rtol`` (``None``: ``rtol``); also relative to :math:`\\max|b|`.
        max_steps: iteration cap (``None``: ``20 n + 100``); hitting it raises an error.
    """

    warm_starts: ClassVar[bool] = True
    rtol: float | None = eqx.field(static=True, default=None)
    atol: float | None = eqx.field(static=True, default=None)
    max_steps: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        for name in ("rtol", "atol"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and v >= 0
                                      and v == v and v != float("inf")):
                raise ValueError(f"CG: {name} must be a finite float >= 0 or None, got {v!r}")
        if self.rtol == 0 and self.atol == 0:
            raise ValueError("CG: rtol = atol = 0 can never be met; give a positive rtol")
        if self.max_steps is not None and not (isinstance(self.max_steps, int)
                                               and self.max_steps > 0):
            raise ValueError(f"CG: max_steps must be a positive int or None, got "
                             f"{self.max_steps!r}")


class _PlannedSolver(AbstractNetworkSolver):
    plan: Any = eqx.field(static=True, default=None)
    kind = ""

    def resolve(self, info: SystemInfo) -> AbstractNetworkSolver:
        if self.plan is None:
            if not info.concrete:
                raise ValueError(
                    f"solver={type(self).__name__}() orders the nodes on the host and needs "
                    "concrete edges and positions, got traced ones; under jit/vmap over "
                    f"networks pass solver={type(self).__name__}(plan) with a plan built from "
                    "a network holding every bond (strain.banded_plan / "
                    "strain.multifrontal_plan for springs), or use Dense() or CG()")
            return type(self)(info.build_plan(self.kind))
        info.check_plan(self.plan, self.kind)
        return self


class Banded(_PlannedSolver):
    """Block-tridiagonal Cholesky after a reverse Cuthill--McKee ordering (``plan``: built
    from the network when ``None``)."""

    kind = "banded"


class Multifrontal(_PlannedSolver):
    """Level-batched multifrontal Cholesky after nested dissection (``plan``: built from
    the network when ``None``)."""

    kind = "multifrontal"


class Auto(AbstractNetworkSolver):
    """The table of the module docs: :class:`Dense` up to :data:`AUTO_DENSE_MAX_DOF`
    unknowns; for a concrete graph :class:`Banded` when its RCM band is at most
    :data:`AUTO_BANDED_MAX_BLOCK` wide, else :class:`Multifrontal`; for a traced graph
    :class:`Dense` up to :data:`AUTO_TRACED_DENSE_MAX_DOF` unknowns, else :class:`CG`."""

    def resolve(self, info: SystemInfo) -> AbstractNetworkSolver:
        if info.n_dof <= AUTO_DENSE_MAX_DOF:
            return Dense()
        if not info.concrete:
            return Dense() if info.n_dof <= AUTO_TRACED_DENSE_MAX_DOF else CG()
        band = info.build_plan("banded")
        if band.block <= AUTO_BANDED_MAX_BLOCK:
            return Banded(band)
        return Multifrontal(info.build_plan("multifrontal"))


#: What a ``solver=`` argument takes: a name (:data:`SolverName`) or a solver instance.
SolverLike = SolverName | AbstractNetworkSolver

_BY_NAME = {"auto": Auto, "dense": Dense, "banded": Banded, "multifrontal": Multifrontal,
            "cg": CG}


def as_solver(solver: SolverLike, name: str = "solver") -> AbstractNetworkSolver:
    """``solver`` as an :class:`AbstractNetworkSolver`: instances pass through, names
    (:data:`SolverName`) become default instances; anything else is refused naming
    ``name``."""
    if isinstance(solver, AbstractNetworkSolver):
        return solver
    if isinstance(solver, str):
        if solver not in _BY_NAME:
            raise ValueError(f"{name} must be one of {list(get_args(SolverName))} or a solver "
                             f"instance (physjax.networks.solvers), got {solver!r}")
        return _BY_NAME[solver]()
    kind = getattr(solver, "kind", None)  # a bare plan (older API): wrap it
    if kind in ("banded", "multifrontal") and hasattr(solver, "layout"):
        return (Banded if kind == "banded" else Multifrontal)(solver)
    raise TypeError(f"{name} must be one of {list(get_args(SolverName))} or a solver instance "
                    f"(physjax.networks.solvers.Dense(), Banded(), Multifrontal(), CG(), "
                    f"Auto()), got {type(solver).__name__}")


def resolve(solver: SolverLike, info: SystemInfo,
            rtol: float | None = None) -> AbstractNetworkSolver:
    """``solver`` (a name or instance) resolved for the system ``info`` describes; ``rtol``
    (the families' older keyword) sets the tolerance of a :class:`CG` that has none."""
    s = as_solver(solver).resolve(info)
    if rtol is not None and isinstance(s, CG) and s.rtol is None:
        s = CG(rtol=rtol, atol=s.atol, max_steps=s.max_steps)
    return s
