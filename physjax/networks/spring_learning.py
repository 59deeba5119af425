r"""Learning in spring networks: coupled learning, double optimization, energy regularization.

Learning degrees of freedom are the stiffnesses :math:`k_j` and, optionally, the rest
lengths :math:`\ell_{0j}`; states are linear responses (:mod:`physjax.networks.strain`).
The cost of a task is :math:`C = \frac{1}{n_{ex}}\sum_\mu \tfrac12\sum_T
(\varepsilon_T^F - \Delta_T)^2`.

* **Coupled learning** (seed 000).  Free state F: sources imposed.  Clamped state C: targets
  also held, at :math:`\varepsilon_T^C = \varepsilon_T^F + \eta(\Delta - \varepsilon_T^F)`.
  The contrast :math:`\mathcal C = \frac1\eta(E^C - E^F) \ge 0` is differentiated at fixed
  states (what each spring can measure locally):

  .. math:: \Delta k_j = -\alpha\,\partial_{k_j}\mathcal C
            = -\frac{\alpha}{2\eta}\big[(\ell_j^C - \ell_{0j})^2 - (\ell_j^F - \ell_{0j})^2\big],
            \qquad
            \Delta\ell_{0j} = -\alpha\,\partial_{\ell_{0j}}\mathcal C
            = \frac{\alpha}{\eta}k_j\big[(\ell_j^C - \ell_{0j}) - (\ell_j^F - \ell_{0j})\big].

* **Energy regularization** (seed 000: a term "to raise the energy of the free state", so
  that mode energies rise and the crossover temperature :math:`T^*` with them):

  .. math:: \mathcal C_\lambda = \frac1\eta\big[(E^C - E^F) - \lambda E^F\big],\qquad
            \Delta k_j = -\frac{\alpha}{2\eta}\big[(\ell^C_j-\ell_{0j})^2 -
            (1+\lambda)(\ell^F_j-\ell_{0j})^2\big],

  :math:`\lambda` = ``energy_regularization`` (summed over examples, e.g. the A→B and B→A
  directions of cooperative binding).  Seed 000 writes the term as :math:`+\lambda E^F`;
  since :math:`\partial E^F/\partial k_j = \tfrac12(\ell^F_j-\ell_{0j})^2 > 0`, descending
  :math:`+\lambda E^F` would *lower* :math:`E^F` (and, we checked, :math:`T^*`), so the sign
  here is the one that does what the seed says the term is for: :math:`\lambda > 0` raises
  :math:`E^F` and :math:`T^*` at the price of a larger training error
  (tests/networks/test_thermal.py).  Note :math:`T^* \le 2E^F` (per unit input strain):
  the response :math:`\delta` obeys :math:`\delta^2 \le C_{TT}\,\varepsilon_S^2/C_{SS}`.
* **Double optimization**: :math:`\nabla C` through the equilibrium (implicit
  differentiation of the linear solves), the update :math:`\Delta\theta = -\alpha\nabla C`.

The rules themselves are written once for resistor and spring networks in
:mod:`physjax.networks.learning` (this module's functions are the spring-flavoured entry
points over it), and :func:`train_springs` is :func:`physjax.networks.train` with the spring
defaults (``rule="coupled_learning"``, ``eta=1e-2``).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import optax

from physjax._array_types import Array, ArrayLike, Float, Real, Scalar
from physjax._checks import check_choice, check_finite, check_positive
from physjax._options import LearningRule
from physjax.networks import _spring_core as _spc
from physjax.networks import _strain_core as _stc
from physjax.networks import learning as _learning
from physjax.networks import strain as _st
from physjax.networks._spring_core import SpringNetwork
from physjax.networks._strain_core import StrainTask

__all__ = [
    "SpringTrainResult",
    "coupled_learning_step",
    "double_optimization_gradient",
    "regularized_contrast",
    "regularized_contrast_gradient",
    "strain_cost",
    "train_springs",
]

SpringTrainResult = _learning.TrainResult  # one result type for every network kind

_Solver = _st.SpringSolverLike  # a name, a solver instance or a bare band plan
_Edges = Real[ArrayLike, " e"]                                   # one value per spring


def _check(network, k, task, eta=None, l0=None, energy_regularization=0.0):
    _stc.check_task(network, k, task, True, l0)
    if eta is not None:
        check_positive(eta, "eta")
    check_finite(energy_regularization, "energy_regularization")


def strain_cost(network: SpringNetwork, stiffnesses: _Edges, task: StrainTask, *,
                rest_lengths: _Edges | None = None, solver: _Solver = "auto",
                check: bool = True) -> Float[Array, ""]:
    r""":math:`C = \frac1{n_{ex}}\sum_\mu\tfrac12\sum_T(\varepsilon_T^F - \Delta_T)^2`
    (linear response)."""
    if check:
        _check(network, stiffnesses, task, None, rest_lengths)
    return _cost(network, jnp.asarray(stiffnesses), task, rest_lengths,
                 _st.resolve_solver(solver, network))


@eqx.filter_jit
def _cost(network, k, task, l0, solver):
    eq = _st.equilibria(network, k, task, rest_lengths=l0, solver=solver)
    return _st.task_cost(task, eq.free_strains)


def regularized_contrast(network: SpringNetwork, stiffnesses: _Edges, task: StrainTask,
                         eta: Scalar, *, energy_regularization: Scalar = 0.0,
                         rest_lengths: _Edges | None = None, solver: _Solver = "auto",
                         check: bool = True) -> Float[Array, ""]:
    r"""Contrast :math:`\frac1\eta\,\overline{[(E^C - E^F) - \lambda E^F]}` (mean over
    examples), :math:`\lambda` = ``energy_regularization`` (sign: see the module docs).
    Non-negative for :math:`\lambda = 0`."""
    if check:
        _check(network, stiffnesses, task, eta, rest_lengths, energy_regularization)
    k = jnp.asarray(stiffnesses)
    return _contrast(network, k, task, jnp.asarray(eta, k.dtype),
                     jnp.asarray(energy_regularization, k.dtype), rest_lengths,
                     _st.resolve_solver(solver, network))


@eqx.filter_jit
def _contrast(network, k, task, eta, lam, l0, solver):
    eq = _st.equilibria(network, k, task, rest_lengths=l0, solver=solver)
    ef = _st.linear_energy(network, k, eq.free, rest_lengths=l0)
    ec = _st.linear_energy(network, k, eq.clamp(eta), rest_lengths=l0)
    return jnp.mean(ec - ef - lam * ef) / eta


def regularized_contrast_gradient(network: SpringNetwork, stiffnesses: _Edges,
                                  task: StrainTask, eta: Scalar, *,
                                  energy_regularization: Scalar = 0.0,
                                  rest_lengths: _Edges | None = None, solver: _Solver = "auto",
                                  check: bool = True
                                  ) -> tuple[Float[Array, " e"], Float[Array, " e"]]:
    r"""Partial derivatives of :func:`regularized_contrast` at fixed free and clamped states,
    ``(∂C/∂k, ∂C/∂ℓ0)``; the coupled-learning update is minus these times :math:`\alpha`."""
    if check:
        _check(network, stiffnesses, task, eta, rest_lengths, energy_regularization)
    _, g, _ = _learning.learning_direction(
        "coupled_learning", network, stiffnesses, task, eta=eta,
        energy_regularization=energy_regularization, rest_lengths=rest_lengths,
        solver=solver, check=False)
    return g


def coupled_learning_step(network: SpringNetwork, stiffnesses: _Edges, task: StrainTask,
                          eta: Scalar, *, energy_regularization: Scalar = 0.0,
                          rest_lengths: _Edges | None = None, solver: _Solver = "auto",
                          check: bool = True) -> tuple[Float[Array, " e"], Float[Array, " e"]]:
    r"""Coupled-learning update per unit learning rate, ``(Δk/α, Δℓ0/α)`` (seed 000):
    :math:`-\frac1{2\eta}[(\ell^C - \ell_0)^2 - (1+\lambda)(\ell^F - \ell_0)^2]` and
    :math:`\frac{k}{\eta}[(\ell^C - \ell_0) - (1+\lambda)(\ell^F - \ell_0)]`, averaged over
    examples (:math:`\lambda` = ``energy_regularization``).  As :math:`\eta \to 0` (and
    :math:`\lambda = 0`) the partials tend to :math:`S_{eff}\nabla C` for a single target,
    :math:`S_{eff} = 1/(C_{TT} - C_{TS}^2/C_{SS})` the target's effective stiffness."""
    g_k, g_l0 = regularized_contrast_gradient(
        network, stiffnesses, task, eta, energy_regularization=energy_regularization,
        rest_lengths=rest_lengths, solver=solver, check=check)
    return -g_k, -g_l0


def double_optimization_gradient(network: SpringNetwork, stiffnesses: _Edges,
                                 task: StrainTask, *, rest_lengths: _Edges | None = None,
                                 solver: _Solver = "auto", check: bool = True
                                 ) -> tuple[Float[Array, ""], Float[Array, " e"],
                                            Float[Array, " e"]]:
    r"""Cost and its gradient through the equilibrium: ``(C, ∂C/∂k, ∂C/∂ℓ0)`` (reverse mode
    through the implicit linear solves)."""
    if check:
        _check(network, stiffnesses, task, None, rest_lengths)
    c, (g_k, g_l0), _ = _learning.learning_direction(
        "double_optimization", network, stiffnesses, task, rest_lengths=rest_lengths,
        solver=solver, check=False)
    return c, g_k, g_l0


def train_springs(network: SpringNetwork, stiffnesses: _Edges, task: StrainTask, *,
                  rule: LearningRule = "coupled_learning", n_steps: int = 1000,
                  learning_rate: Scalar = 0.1,
                  optimizer: optax.GradientTransformation | None = None, eta: Scalar = 1e-2,
                  energy_regularization: Scalar = 0.0, learn_rest_lengths: bool = False,
                  rest_lengths: _Edges | None = None, k_min: Scalar = 1e-3,
                  k_max: Scalar = 1e3, record_every: int | None = None,
                  solver: _Solver = "auto", rtol: Scalar | None = None, check: bool = True
                  ) -> _learning.TrainResult:
    r""":func:`physjax.networks.train` for a spring network with the spring defaults
    (``rule="coupled_learning"``, ``eta=1e-2``); returns its
    :class:`~physjax.networks.TrainResult` (``.stiffnesses``, ``.rest_lengths``,
    ``.cost``, ``.final_cost``, ``.snapshots``)."""
    check_choice(rule, "rule", LearningRule)
    _spc.check_network(network)
    return _learning.train(network, stiffnesses, task, rule=rule, n_steps=n_steps,
                           learning_rate=learning_rate, optimizer=optimizer, eta=eta,
                           energy_regularization=energy_regularization,
                           learn_rest_lengths=learn_rest_lengths, rest_lengths=rest_lengths,
                           k_min=k_min, k_max=k_max, record_every=record_every,
                           solver=solver, rtol=rtol, check=check)
