r"""Learning rules for physical networks -- double optimization, coupled learning and
equilibrium propagation -- written once for resistor and spring networks, and the one
``train`` loop (Optax, ``lax.scan``, compiled once per static configuration).

**The protocol.**  A network kind (:class:`NetworkKind`: :data:`RESISTOR`, :data:`SPRING`)
supplies the free state, the clamped and nudged states as functions of :math:`\eta` and
:math:`\beta`, the partial derivatives of the physical energy with respect to the learnable
parameters at a fixed state (conductances :math:`\partial P/\partial k_e = \int_0^{\Delta
V_e} f`; stiffnesses :math:`\partial E/\partial k_j = \tfrac12 e_j^2` and rest lengths
:math:`\partial E/\partial \ell_{0j} = -k_j e_j`), the task cost and its exact gradient.
The rules below only combine those; the kind is read off the task
(:class:`~physjax.networks.ResistorTask` or :class:`~physjax.networks.strain.StrainTask`).

Every rule returns a *descent direction estimate* :math:`g \approx \nabla_k C` (up to a
positive metric for coupled learning), which an Optax optimizer turns into an update
:math:`k \leftarrow k - \alpha g`; conductances are then clipped to ``[k_min, k_max]``
(the box projection ``optax.projections.projection_box``; clipping, rather than a log
parametrization, keeps the local rules exactly the update a physical network would apply to
its edges).  Rest lengths of springs are kept above 1% of the reference bond length.

* **Double optimization** (:func:`double_optimization_gradient`): :math:`g = \nabla_k C`
  through the equilibrium, by implicit (adjoint) differentiation of the free-state solve.
* **Coupled learning** (Stern et al. 2021; seed 000): targets clamped at
  :math:`V_T^C = V_T^F + \eta(V_T^{desired} - V_T^F)`, and
  :math:`\Delta k_e = -\frac{\alpha}{\eta}[(\Delta V_e^C)^2 - (\Delta V_e^F)^2]`, i.e.
  :math:`g = 2\,\partial_k \mathcal C_\eta` with the contrast
  :math:`\mathcal C_\eta = [P_C - P_F]/\eta`.  As :math:`\eta \to 0`,
  :math:`\partial_k \mathcal C_\eta \to J^\top G_{eff}\, r` (resistors) where :math:`r = V_T^F -
  V_T^{desired}`, :math:`J = \partial V_T^F/\partial k` and :math:`G_{eff}` is the effective
  conductance matrix between the targets (the Schur complement of the Laplacian on the
  targets, sources grounded).  A hard clamp injects the current :math:`\eta G_{eff}
  (V^{desired} - V^F)`, so coupled learning descends :math:`C` in the metric
  :math:`G_{eff}` -- along :math:`-\nabla C` exactly when there is a single target.  With
  several targets :math:`\nabla C \cdot J^\top G_{eff} r` need not be positive, so how fast
  (and whether) coupled learning converges depends on the step size and optimizer: on the
  seed-000 task some networks need plain steps, others Adam (see the tests and README).
* **Equilibrium propagation** (Scellier & Bengio 2017): the nudged state minimizes
  :math:`P + \beta C`; :math:`\partial_k P(V^\beta)` with :math:`\partial_{k_e} P =
  \int_0^{\Delta V_e} f` gives :math:`g_+ = [\partial_k P(V^{\beta}) - \partial_k P(V^0)]
  /\beta`, :math:`g_- = [\partial_k P(V^0) - \partial_k P(V^{-\beta})]/\beta` (errors
  :math:`O(\beta)`) and the centred :math:`g_\pm = [\partial_k P(V^{\beta}) -
  \partial_k P(V^{-\beta})]/2\beta` (error :math:`O(\beta^2)`), all tending to
  :math:`\nabla_k C`.
* **Energy regularization** (``energy_regularization`` :math:`\lambda`, seed 000; see
  :mod:`physjax.networks.spring_learning` for the sign): coupled learning descends
  :math:`[(E^C - E^F) - \lambda E^F]/\eta`, i.e. uses :math:`\partial E^C - (1 + \lambda)
  \partial E^F`; for both kinds.

Coupled learning keeps each kind's seed convention for the step: resistors
:math:`g = 2\,\partial_k\mathcal C_\eta` (seed 000's :math:`\Delta k_e = -\frac\alpha\eta
[(\Delta V^C_e)^2 - (\Delta V^F_e)^2]`), springs :math:`g = \partial\mathcal C_\eta`
(:math:`\Delta k_j = -\frac{\alpha}{2\eta}[(e^C_j)^2 - (e^F_j)^2]`):
:attr:`NetworkKind.coupled_scale`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from physjax import graphs as _graphs
from physjax._array_types import Array, ArrayLike, Float, Real, Scalar
from physjax._checks import (
    check_choice,
    check_finite,
    check_positive,
    check_positive_int,
    device_array,
    is_concrete,
)
from physjax._compile import FAST_CPU_COMPILE, filter_jit_with_options
from physjax._options import LearningRule, Nudge
from physjax.networks import _spring_core as _spc
from physjax.networks import _strain_core as _stc
from physjax.networks import resistor as _res
from physjax.networks import spring as _sp
from physjax.networks import strain as _st
from physjax.networks.solvers import Banded, Multifrontal

__all__ = [
    "Nudge",
    "RESISTOR",
    "LearningRule",
    "SPRING",
    "NetworkKind",
    "TrainResult",
    "contrast",
    "contrast_gradient",
    "coupled_learning_update",
    "double_optimization_gradient",
    "equilibrium_propagation_gradient",
    "kind_of",
    "learning_direction",
    "train",
]

PyTree = Any
SolverLike = _res.SolverLike
CurrentFn = _res.CurrentFn
Graph = _graphs.Graph
#: A network of either kind and its task.
Network = _graphs.Graph | _sp.SpringNetwork
Task = _res.ResistorTask | _st.StrainTask
#: The descent direction of a rule: one array (conductances, stiffnesses) or, for springs,
#: the pair (stiffnesses, rest lengths).
Direction = Float[Array, " e"] | tuple[Float[Array, " e"], Float[Array, " e"]]


# --------------------------------------------------------------------------- the protocol

class States(NamedTuple):
    """What a kind's ``equilibria`` returns: the task ``cost`` at the free state, the
    ``free`` state, the maps ``clamp(eta)`` and ``nudge(beta)`` to the clamped and nudged
    states, and ``warm``, what warm-starts the next solve (free voltages; a
    :class:`~physjax.networks.strain.LinearResponse`)."""

    cost: jax.Array
    free: jax.Array
    clamp: Callable
    nudge: Callable
    warm: PyTree


class NetworkKind(NamedTuple):
    """The learning protocol one kind of physical network implements.

    ``theta`` is the kind's full parameter pytree (conductances; ``(stiffnesses,
    rest_lengths)``).  Functions (no input checks; ``solver`` already resolved):

    * ``resolve(solver, network, task, rtol)`` -> resolved solver;
    * ``equilibria(network, theta, task, solver, current, initial, rtol)`` -> :class:`States`;
    * ``partials(network, theta, state, current)`` -> :math:`\\partial E/\\partial\\theta`
      at a fixed state, averaged over examples (a pytree like ``theta``);
    * ``cost_gradient(network, theta, task, solver, current, initial, rtol)`` ->
      ``(C, ∇_θ C, warm)`` through the equilibrium;
    * ``check(network, theta, task)`` -> validates concrete inputs (host side).
    """

    name: str
    resolve: Callable
    equilibria: Callable
    partials: Callable
    cost_gradient: Callable
    check: Callable
    coupled_scale: float
    default_eta: float


def _resistor_equilibria(graph, k, task, solver, current, initial, rtol):
    eq = _res.equilibria(graph, k, task, solver=solver, current=current, initial=initial,
                         rtol=rtol)
    return States(_res.task_cost(task, eq.free), eq.free, eq.clamp, eq.nudge, eq.free)


def _resistor_cost_gradient(graph, k, task, solver, current, initial, rtol):
    return _res.cost_gradient(graph, k, task, solver=solver, current=current,
                              initial=initial, rtol=rtol)


RESISTOR = NetworkKind(
    name="resistor",
    resolve=lambda solver, graph, task, rtol: _res.resolve_solver(solver, graph, task,
                                                                  rtol=rtol),
    equilibria=_resistor_equilibria,
    partials=lambda graph, k, v, current: _res.power_partials(graph, v, current=current),
    cost_gradient=_resistor_cost_gradient,
    check=lambda graph, k, task: _res.check_network(graph, k, task, name="parameters"),
    coupled_scale=2.0,
    default_eta=1e-3,
)


def _spring_equilibria(network, theta, task, solver, current, initial, rtol):
    k, l0 = theta
    eq = _st.equilibria(network, k, task, rest_lengths=l0, solver=solver, initial=initial)
    return States(_st.task_cost(task, eq.free_strains), eq.free, eq.clamp, eq.nudge,
                  eq.response)


def _spring_cost_gradient(network, theta, task, solver, current, initial, rtol):
    k, l0 = theta
    return _st.cost_gradient(network, k, task, rest_lengths=l0, solver=solver,
                             initial=initial)


def _spring_check(network, theta, task):
    k, l0 = theta
    _stc.check_task(network, k, task, True, l0)


SPRING = NetworkKind(
    name="spring",
    resolve=lambda solver, network, task, rtol: _st.resolve_solver(solver, network, rtol=rtol),
    equilibria=_spring_equilibria,
    partials=lambda network, theta, u, current: _st.energy_partials(
        network, theta[0], u, rest_lengths=theta[1]),
    cost_gradient=_spring_cost_gradient,
    check=_spring_check,
    coupled_scale=1.0,
    default_eta=1e-2,
)


def kind_of(network: Network, task: Task) -> NetworkKind:
    """The :class:`NetworkKind` of a (network, task) pair, read off the task type."""
    if isinstance(task, _res.ResistorTask):
        return RESISTOR
    if isinstance(task, _st.StrainTask):
        if not isinstance(network, _sp.SpringNetwork):
            raise TypeError(f"network must be a SpringNetwork for a StrainTask, got "
                            f"{type(network).__name__}")
        return SPRING
    raise TypeError(f"task must be a ResistorTask (networks.make_task) or a StrainTask "
                    f"(strain.make_strain_task), got {type(task).__name__}")


# --------------------------------------------------------------------------- the rules

def _contrast_direction(kind, network, theta, states, eta, lam, current):
    p_c = kind.partials(network, theta, states.clamp(eta), current)
    p_f = kind.partials(network, theta, states.free, current)
    return jax.tree.map(lambda c, f: kind.coupled_scale * (c - (1.0 + lam) * f) / eta,
                        p_c, p_f)


def _ep_direction(kind, network, theta, states, beta, nudge, current):
    def partials(b):
        return kind.partials(network, theta, states.nudge(b), current)

    if nudge == "centred":
        return jax.tree.map(lambda a, b: (a - b) / (2.0 * beta), partials(beta),
                            partials(-beta))
    p0 = kind.partials(network, theta, states.free, current)
    if nudge == "positive":
        return jax.tree.map(lambda a, b: (a - b) / beta, partials(beta), p0)
    return jax.tree.map(lambda a, b: (a - b) / beta, p0, partials(-beta))


def _direction(kind, rule, nudge, network, theta, task, eta, lam, solver, current, initial,
               rtol):
    """``(C, g, warm)``: the cost at ``theta``, one rule's descent direction (a pytree like
    ``theta``) and what warm-starts the next solve."""
    if rule == "double_optimization":
        return kind.cost_gradient(network, theta, task, solver, current, initial, rtol)
    states = kind.equilibria(network, theta, task, solver, current, initial, rtol)
    if rule == "coupled_learning":
        g = _contrast_direction(kind, network, theta, states, eta, lam, current)
    else:
        g = _ep_direction(kind, network, theta, states, eta, nudge, current)
    return states.cost, g, states.warm


def _theta(kind, network, parameters, rest_lengths):
    k = jnp.asarray(parameters)
    if kind is SPRING:
        return k, jnp.asarray(_spc.checked_rest_lengths(network, rest_lengths), k.dtype)
    return k


@eqx.filter_jit
def _direction_jit(kind_name, rule, nudge, network, theta, task, eta, lam, solver, current,
                   initial, rtol):
    kind = RESISTOR if kind_name == "resistor" else SPRING
    return _direction(kind, rule, nudge, network, theta, task, eta, lam, solver, current,
                      initial, rtol)


def learning_direction(rule: LearningRule, network: Network, parameters: Real[ArrayLike, " e"],
                       task: Task, *, eta: Scalar | None = None, nudge: Nudge = "centred",
                       energy_regularization: Scalar = 0.0,
                       rest_lengths: Real[ArrayLike, " e"] | None = None,
                       solver: SolverLike = "auto", current: CurrentFn | None = None,
                       initial: PyTree = None, rtol: float | None = None,
                       check: bool = True,
                       ) -> tuple[Float[Array, ""], Direction, PyTree]:
    r"""One rule's descent direction :math:`g` and the cost at ``parameters``: returns
    ``(C, g, warm)`` (``warm``: the free voltages of a resistor network, the
    :class:`~physjax.networks.strain.LinearResponse` of a spring network).  The update is
    :math:`\theta \leftarrow \theta - \alpha g`; for springs ``g`` is ``(∂k, ∂ℓ0)``.
    ``eta`` is the clamping factor of coupled learning and the nudge :math:`\beta` of
    equilibrium propagation (default: 1e-3 for resistors, 1e-2 for springs)."""
    check_choice(rule, "rule", LearningRule)
    check_choice(nudge, "nudge", Nudge)
    kind = kind_of(network, task)
    eta = kind.default_eta if eta is None else eta
    theta = _theta(kind, network, parameters, rest_lengths)
    if check:
        kind.check(network, theta, task)
        check_positive(eta, "eta")
    solver = kind.resolve(solver, network, task, rtol)
    dtype = jnp.result_type(jax.tree.leaves(theta)[0].dtype, float)
    return _direction_jit(kind.name, rule, nudge, network, theta, task,
                          jnp.asarray(eta, dtype), jnp.asarray(energy_regularization, dtype),
                          solver, current, initial, rtol)


def double_optimization_gradient(graph: Graph, conductances: Real[ArrayLike, " e"],
                                 task: _res.ResistorTask, *, solver: SolverLike = "auto",
                                 current: CurrentFn | None = None,
                                 initial: Real[ArrayLike, "ex n"] | None = None,
                                 check: bool = True,
                                 ) -> tuple[Float[Array, ""], Float[Array, " e"],
                                            Float[Array, "ex n"]]:
    r""":math:`\nabla_k C` of a resistor network through the free state (adjoint method);
    returns ``(C, grad, V_F)`` (:func:`physjax.networks.resistor.cost_gradient`)."""
    if check:
        _res.check_network(graph, conductances, task)
    return learning_direction("double_optimization", graph, conductances, task, solver=solver,
                              current=current, initial=initial, check=False)


def contrast(graph: Graph, conductances: Real[ArrayLike, " e"], task: _res.ResistorTask,
             eta: Scalar, *, solver: SolverLike = "auto",
             current: CurrentFn | None = None) -> Float[Array, ""]:
    r"""Contrast :math:`\mathcal C_\eta = [P(V^C) - P(V^F)]/\eta` (hard clamp), averaged over
    examples; non-negative because :math:`V^F` minimizes :math:`P` with only the sources
    fixed."""
    _res.check_network(graph, conductances, task)
    check_positive(eta, "eta")
    eq = _res.equilibria(graph, conductances, task, solver=solver, current=current)
    p = lambda v: _res.power(graph, conductances, v, current=current)  # noqa: E731
    return jnp.mean(p(eq.clamp(eta)) - p(eq.free)) / eta


def contrast_gradient(graph: Graph, conductances: Real[ArrayLike, " e"],
                      task: _res.ResistorTask, eta: Scalar, *, solver: SolverLike = "auto",
                      current: CurrentFn | None = None,
                      initial: Real[ArrayLike, "ex n"] | None = None,
                      check: bool = True) -> Float[Array, " e"]:
    r"""Partial :math:`\partial_k \mathcal C_\eta = [\partial_k P(V^C) - \partial_k P(V^F)]/
    \eta` at fixed states (what each edge can measure locally)."""
    if check:
        _res.check_network(graph, conductances, task)
        check_positive(eta, "eta")
    _, g, _ = learning_direction("coupled_learning", graph, conductances, task, eta=eta,
                                 solver=solver, current=current, initial=initial, check=False)
    return g / RESISTOR.coupled_scale


def coupled_learning_update(graph: Graph, conductances: Real[ArrayLike, " e"],
                            task: _res.ResistorTask, eta: Scalar,
                            **kwargs: Any) -> Float[Array, " e"]:
    r"""Coupled-learning update per unit learning rate,
    :math:`\Delta k_e/\alpha = -\frac1\eta[(\Delta V_e^C)^2 - (\Delta V_e^F)^2]` (seed 000;
    :math:`-2\,\partial_k \mathcal C_\eta`, which for nonlinear edges uses the co-content)."""
    return -2.0 * contrast_gradient(graph, conductances, task, eta, **kwargs)


def equilibrium_propagation_gradient(graph: Graph, conductances: Real[ArrayLike, " e"],
                                     task: _res.ResistorTask, beta: Scalar, *,
                                     nudge: Nudge = "centred", solver: SolverLike = "auto",
                                     current: CurrentFn | None = None,
                                     initial: Real[ArrayLike, "ex n"] | None = None,
                                     check: bool = True) -> Float[Array, " e"]:
    r"""Equilibrium-propagation estimate of :math:`\nabla_k C` from nudged states
    (``nudge`` = ``"positive"``, ``"negative"`` or ``"centred"``)."""
    check_choice(nudge, "nudge", Nudge)
    if check:
        _res.check_network(graph, conductances, task)
        check_positive(beta, "beta")
    _, g, _ = learning_direction("equilibrium_propagation", graph, conductances, task,
                                 eta=beta, nudge=nudge, solver=solver, current=current,
                                 initial=initial, check=False)
    return g


# --------------------------------------------------------------------------- training

class TrainResult(NamedTuple):
    """Outcome of :func:`train`, for every kind of network.

    Attributes:
        parameters: final learnable parameters: conductances ``(n_edges,)`` (resistors);
            stiffnesses, or ``(stiffnesses, rest_lengths)`` with ``learn_rest_lengths``.
        cost: cost before each step, shape ``(n_steps,)``.
        final_cost: cost at the final parameters.
        snapshots: conductances/stiffnesses every ``record_every`` steps, shape
            ``(n_steps // record_every + 1, n_edges)`` (first row: the initial ones).
        rest_lengths: springs: the final rest lengths (learned or as given); ``None`` for
            resistors.
    """

    parameters: PyTree
    cost: jax.Array
    final_cost: jax.Array
    snapshots: jax.Array
    rest_lengths: jax.Array | None = None

    @property
    def conductances(self) -> PyTree:
        """The final conductances (resistor networks)."""
        return self.parameters

    @property
    def stiffnesses(self) -> Float[Array, "*batch e"]:
        """The final stiffnesses (spring networks)."""
        return self.parameters[0] if isinstance(self.parameters, tuple) else self.parameters


class _Hyper(NamedTuple):
    """The numeric hyperparameters of :func:`train`: arrays, so they may be traced."""

    learning_rate: jax.Array
    eta: jax.Array
    energy_regularization: jax.Array
    k_min: jax.Array
    k_max: jax.Array


def train(network: Network, parameters: Real[ArrayLike, " e"], task: Task, *,
          rule: LearningRule = "double_optimization", n_steps: int = 1000,
          learning_rate: Scalar = 0.1, optimizer: optax.GradientTransformation | None = None,
          eta: Scalar | None = None, nudge: Nudge = "centred",
          energy_regularization: Scalar = 0.0, k_min: Scalar = 1e-3, k_max: Scalar = 1e3,
          learn_rest_lengths: bool = False, rest_lengths: Real[ArrayLike, " e"] | None = None,
          record_every: int | None = None, solver: SolverLike = "auto",
          current: CurrentFn | None = None, rtol: float | None = None,
          check: bool = True) -> TrainResult:
    r"""Train a resistor or spring network with one rule for ``n_steps`` in ``lax.scan``.

    ``network`` and ``task``: a :class:`~physjax.graphs.Graph` and a
    :class:`~physjax.networks.ResistorTask` (parameters: conductances), or a
    :class:`~physjax.networks.spring.SpringNetwork` and a
    :class:`~physjax.networks.strain.StrainTask` (parameters: stiffnesses; also the rest
    lengths with ``learn_rest_lengths``, starting from ``rest_lengths`` or the network's).
    ``rule``: ``"double_optimization"``, ``"coupled_learning"`` or
    ``"equilibrium_propagation"`` (``nudge``: ``"positive"``, ``"negative"``, ``"centred"``);
    ``eta``: clamping factor / nudge :math:`\beta` (default 1e-3 resistors, 1e-2 springs);
    ``energy_regularization`` :math:`\lambda` of coupled learning.

    ``optimizer`` defaults to ``optax.sgd(learning_rate)`` (plain gradient descent: the
    coupled-learning update of seed 000 with :math:`\alpha` = ``learning_rate``).  After each
    update the conductances/stiffnesses are projected on ``[k_min, k_max]``
    (``optax.projections.projection_box``) and rest lengths kept above 1% of the reference
    bond lengths.  The previous step's state warm-starts iterative solvers.

    **Compiled once** per static configuration (network and task shapes, rule, nudge,
    ``n_steps``, ``record_every``, solver, ``current``'s type, optimizer object): later calls
    with new parameters, targets, ``learning_rate``, ``eta``, ``energy_regularization``,
    ``k_min``, ``k_max`` reuse the executable, and all of these may be traced (``jax.vmap``
    over learning rates works).  A user ``optimizer`` is part of the configuration: pass the
    same object to reuse the compilation (or ``optax.inject_hyperparameters`` to trace its
    numbers).  ``jax.vmap`` over parameters (an ensemble of initial conditions) or over
    networks of equal size works (``check=False`` inside ``vmap``; a sparse direct solver
    then needs a plan built from a network holding every bond, see
    :mod:`physjax.networks.solvers`).
    """
    check_choice(rule, "rule", LearningRule)
    check_choice(nudge, "nudge", Nudge)
    kind = kind_of(network, task)
    n_steps = check_positive_int(n_steps, "n_steps")
    record_every = n_steps if record_every is None else check_positive_int(record_every,
                                                                           "record_every")
    if n_steps % record_every:
        raise ValueError(f"record_every={record_every} must divide n_steps={n_steps}")
    if kind is RESISTOR and (learn_rest_lengths or rest_lengths is not None):
        raise ValueError("learn_rest_lengths/rest_lengths: resistor networks have no rest "
                         "lengths")
    if kind is SPRING and current is not None:
        raise ValueError("current: a nonlinear current-voltage curve applies to resistor "
                         "networks only")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got "
                        f"{type(optimizer).__name__}")
    eta = kind.default_eta if eta is None else eta
    theta = _theta(kind, network, parameters, rest_lengths)
    if check:
        kind.check(network, theta, task)
        if kind is RESISTOR:
            check_finite(task.desired, "task.desired")
        check_positive(eta, "eta")
        check_positive(learning_rate, "learning_rate")
        check_positive(k_min, "k_min")
        check_finite(energy_regularization, "energy_regularization")
        if is_concrete(k_max) and is_concrete(k_min) and not np.all(
                np.asarray(k_max) > np.asarray(k_min)):
            raise ValueError(f"k_max={k_max} must exceed k_min={k_min}")
    solver = kind.resolve(solver, network, task, rtol)
    dtype = jnp.result_type(jax.tree.leaves(theta)[0].dtype, task.inputs.dtype)
    theta = jax.tree.map(lambda a: a.astype(dtype), theta)
    hyper = _Hyper(*(device_array(v, dtype) for v in (learning_rate, eta,
                                                     energy_regularization, k_min, k_max)))
    # A resistor plan holds its graph's edges, and resolve() has just compared them with the
    # concrete edges on the host: the loop can take the plan's edges as constants (the
    # executable is already specific to the static plan) instead of re-checking traced ones
    # with equinox.error_if every step -- a host callback, which also keeps JAX's persistent
    # compilation cache from storing the executable.
    edges_from_plan = (kind is RESISTOR and isinstance(solver, (Banded, Multifrontal))
                       and is_concrete(network.edges))
    return _train_loop(kind.name, rule, nudge, n_steps, record_every, bool(learn_rest_lengths),
                       edges_from_plan, optimizer, network, theta, task, hyper, solver,
                       current, rtol)


# The first `train` call is mostly XLA compile time (the run itself: 0.07 s at 10x10 for
# 1000 steps on 2 CPU cores).  Compiled with XLA:CPU's legacy emitter
# (physjax._compile.FAST_CPU_COMPILE), the first call fell from 0.97 to 0.76 s at 10x10
# (backend compile 0.61 -> 0.36 s); later calls ran as fast (0.071 vs 0.071 s at 10x10,
# 0.271 vs 0.280 s at 20x20).
@filter_jit_with_options(FAST_CPU_COMPILE)
def _train_loop(kind_name, rule, nudge, n_steps, record_every, learn_l0, edges_from_plan,
                optimizer, network, theta0, task, hyper, solver, current, rtol):
    kind = RESISTOR if kind_name == "resistor" else SPRING
    if edges_from_plan:
        network = eqx.tree_at(lambda g: g.edges, network,  # NumPy: a constant, not traced
                              np.asarray(solver.plan.edges, network.edges.dtype))
    opt = optax.sgd(hyper.learning_rate) if optimizer is None else optimizer
    spring = kind is SPRING
    if spring:
        l_min = 1e-2 * jax.lax.stop_gradient(_sp.bond_lengths(network)).astype(theta0[1].dtype)
        params0 = theta0 if learn_l0 else theta0[0]
        lower = (hyper.k_min, l_min) if learn_l0 else hyper.k_min
        upper = (hyper.k_max, jnp.inf) if learn_l0 else hyper.k_max
    else:
        params0, lower, upper = theta0, hyper.k_min, hyper.k_max

    def full(params):
        if not spring:
            return params
        return params if learn_l0 else (params, theta0[1])

    def learnable(g):
        return g if (not spring or learn_l0) else g[0]

    n_records = n_steps // record_every

    def step(carry, i):
        # one trace of the rule for the whole run (compile time): step n_steps only
        # evaluates the final cost, its update is discarded
        params, opt_state, warm, snaps = carry
        c, g, new_warm = _direction(kind, rule, nudge, network, full(params), task,
                                    hyper.eta, hyper.energy_regularization, solver, current,
                                    warm, rtol)
        warm = None if warm is None else new_warm
        updates, new_state = opt.update(learnable(g), opt_state, params)
        new = optax.projections.projection_box(optax.apply_updates(params, updates),
                                               lower, upper)
        last = i == n_steps
        params, opt_state = jax.tree.map(lambda old, upd: jnp.where(last, old, upd),
                                         (params, opt_state), (new, new_state))
        record = (i + 1) % record_every == 0
        snaps = jax.lax.cond(record & ~last,
                             lambda s: s.at[(i + 1) // record_every].set(edge_params(params)),
                             lambda s: s, snaps)
        return (params, opt_state, warm, snaps), c

    def edge_params(p):
        return p[0] if (spring and learn_l0) else p

    # warm start of the first step: only Newton (nonlinear resistors) needs a real one and
    # CG starts from zero; the direct solvers carry none (no extra trace of the solve for
    # its shape: 0.09 s of the first call at 10x10)
    if current is not None:
        warm0 = kind.equilibria(network, theta0, task, solver, current, None, rtol).warm
    elif solver.warm_starts:
        warm_shape = jax.eval_shape(
            lambda: kind.equilibria(network, theta0, task, solver, current, None, rtol).warm)
        warm0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), warm_shape)
    else:
        warm0 = None
    k0 = theta0[0] if spring else theta0
    snaps0 = jnp.zeros((n_records + 1,) + k0.shape, k0.dtype).at[0].set(k0)
    carry = (params0, opt.init(params0), warm0, snaps0)
    (params, _, _, snaps), costs = jax.lax.scan(step, carry, jnp.arange(n_steps + 1))
    l0 = full(params)[1] if spring else None
    return TrainResult(params, costs[:n_steps], costs[n_steps], snaps, l0)
