"""Dynamics in rough landscapes: Langevin, gradient flow, spherical models and aging.

* :mod:`~physjax.dynamics.integrators`: overdamped Langevin (Euler--Maruyama), underdamped
  Langevin (BAOAB) and gradient flow (Euler/Heun) for any energy that is a pure function of
  a pytree, optionally on the sphere :math:`|x|^2 = N` with the Lagrange multiplier
  :math:`\\mu(t)`; divergence stopped and reported.  Each dynamics is the model of a
  :class:`physjax.kernels.Kernel` (``dynamics.kernel``); its numbers are traced arrays.
* :mod:`~physjax.dynamics.runs`: recorded runs (:func:`physjax.kernels.run` on static record
  steps, log-spaced schedules), replicas, and the generic :func:`scan_with_records`.
* :mod:`~physjax.dynamics.models`: spiked Wigner, spiked matrix--tensor (Sarao Mannelli et
  al.) and spherical p-spin energies with analytic gradients and signal overlaps.
* :mod:`~physjax.dynamics.aging`: two-time correlation, mean-square displacement, scaling
  collapse in :math:`t/t_w`, power-law decay exponents.
* :mod:`~physjax.dynamics.sgd`: minibatch SGD (optax) on Equinox MLPs as a dynamics and a
  kernel, width sweeps through a hidden-unit mask as one sharded ensemble, recording losses
  and parameters for the aging observables.  Its tasks (digits, teacher--student) are built
  by :mod:`physjax.datasets`.
"""

from physjax.dynamics.aging import (
    Collapse,
    aging_schedule,
    loglog_slope,
    mean_square_displacement,
    scaling_collapse,
    two_time_correlation,
)
from physjax.dynamics.integrators import (
    DynamicsInfo,
    DynamicsState,
    GradientFlow,
    GradientFlowKernel,
    OverdampedLangevin,
    OverdampedLangevinKernel,
    UnderdampedLangevin,
    UnderdampedLangevinKernel,
    dynamics_step,
    energy_and_gradient,
    init_dynamics,
    init_replicas,
)
from physjax.dynamics.mlp import MaskedMLP, embed_mlp, masked_mlp, mlp_parameter_count
from physjax.dynamics.models import (
    SphericalPSpin,
    SpikedMatrixTensor,
    SpikedWigner,
    signal_overlap,
    spherical_p_spin,
    spiked_matrix_tensor,
    spiked_wigner,
    uniform_sphere,
)
from physjax.dynamics.runs import (
    DynamicsRecord,
    log_spaced_steps,
    run_dynamics,
    run_replicas,
    scan_with_records,
)
from physjax.dynamics.sgd import (
    MinibatchSGD,
    MinibatchSGDKernel,
    SGDRecord,
    SGDState,
    SupervisedTask,
    WidthSweep,
    init_sgd,
    run_sgd,
    sgd_step,
    sgd_width_sweep,
)
from physjax.dynamics.theory import matrix_channel_overlap, wigner_equilibrium_overlap

__all__ = [
    # integrators and runs
    "OverdampedLangevin",
    "UnderdampedLangevin",
    "GradientFlow",
    "OverdampedLangevinKernel",
    "UnderdampedLangevinKernel",
    "GradientFlowKernel",
    "DynamicsState",
    "DynamicsInfo",
    "DynamicsRecord",
    "energy_and_gradient",
    "init_dynamics",
    "dynamics_step",
    "run_dynamics",
    "init_replicas",
    "run_replicas",
    "log_spaced_steps",
    "scan_with_records",
    # models
    "SpikedWigner",
    "SpikedMatrixTensor",
    "SphericalPSpin",
    "spiked_wigner",
    "spiked_matrix_tensor",
    "spherical_p_spin",
    "uniform_sphere",
    "signal_overlap",
    # closed forms (large N)
    "wigner_equilibrium_overlap",
    "matrix_channel_overlap",
    # aging
    "aging_schedule",
    "two_time_correlation",
    "mean_square_displacement",
    "Collapse",
    "scaling_collapse",
    "loglog_slope",
    # SGD as a dynamics
    "MaskedMLP",
    "masked_mlp",
    "embed_mlp",
    "mlp_parameter_count",
    "SupervisedTask",
    "MinibatchSGD",
    "MinibatchSGDKernel",
    "SGDState",
    "SGDRecord",
    "init_sgd",
    "sgd_step",
    "run_sgd",
    "WidthSweep",
    "sgd_width_sweep",
]
