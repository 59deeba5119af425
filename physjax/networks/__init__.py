"""Physical learning networks: resistor networks that learn, their cost and physical
Hessians.

* :mod:`physjax.networks.resistor` -- power, free/clamped/nudged states, linear and
  nonlinear resistors, dense and iterative solves with implicit differentiation;
* :mod:`physjax.networks.learning` -- double optimization, coupled learning, equilibrium
  propagation and the ``train`` loop;
* :mod:`physjax.networks.modes` -- cost Hessian, Gauss-Newton part, physical-Hessian spectra.

Elastic spring networks live in submodules (their state functions share names with the
resistor ones, so they are reached as ``physjax.networks.strain.free_state`` etc.):
:mod:`~physjax.networks.spring` (energy, dynamical matrix, normal modes),
:mod:`~physjax.networks.packing` (jammed packings by FIRE, pruning),
:mod:`~physjax.networks.strain` (allostery and cooperative-binding tasks),
:mod:`~physjax.networks.spring_learning`, :mod:`~physjax.networks.thermal` (equipartition,
T*) and :mod:`~physjax.networks.localized` (maximally localized bases).
"""

from physjax.networks import localized, packing, spring, spring_learning, strain, thermal
from physjax.networks.learning import (
    NUDGES,
    RULES,
    TrainResult,
    contrast,
    contrast_gradient,
    coupled_learning_update,
    double_optimization_gradient,
    equilibrium_propagation_gradient,
    learning_direction,
    train,
)
from physjax.networks.modes import (
    cost_hessian,
    cost_hessian_from_green,
    cost_hvp_fn,
    count_stiff_modes,
    gauss_newton_hessian,
    physical_hessian_spectrum,
    residual_jacobian,
)
from physjax.networks.resistor import (
    DENSE_MAX_FREE_NODES,
    SOLVERS,
    ResistorTask,
    check_network,
    clamped_state,
    co_content,
    cost,
    cubic_current,
    diode_current,
    dissipated_power,
    edge_currents,
    extended_hessian,
    free_state,
    kirchhoff_residual,
    make_task,
    nudged_state,
    power,
    reduced_hessian,
    residuals,
    source_currents,
)

__all__ = [
    "DENSE_MAX_FREE_NODES",
    "NUDGES",
    "RULES",
    "SOLVERS",
    "ResistorTask",
    "TrainResult",
    "check_network",
    "clamped_state",
    "co_content",
    "contrast",
    "contrast_gradient",
    "cost",
    "cost_hessian",
    "cost_hessian_from_green",
    "cost_hvp_fn",
    "count_stiff_modes",
    "coupled_learning_update",
    "cubic_current",
    "diode_current",
    "dissipated_power",
    "double_optimization_gradient",
    "edge_currents",
    "equilibrium_propagation_gradient",
    "extended_hessian",
    "free_state",
    "gauss_newton_hessian",
    "kirchhoff_residual",
    "learning_direction",
    "make_task",
    "nudged_state",
    "physical_hessian_spectrum",
    "power",
    "reduced_hessian",
    "residual_jacobian",
    "residuals",
    "source_currents",
    "train",
    # spring-network submodules
    "localized",
    "packing",
    "spring",
    "spring_learning",
    "strain",
    "thermal",
]
