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

# Each submodule's __all__ is its public API; the package re-exports all of them.
from physjax.dynamics import (  # noqa: I001  (the submodules, for their __all__)
    aging, integrators, mlp, models, runs, sgd, theory,
)

__all__ = [
    *aging.__all__, *integrators.__all__, *mlp.__all__, *models.__all__, *runs.__all__,
    *sgd.__all__, *theory.__all__,
]

from physjax.dynamics.aging import *  # noqa: E402, F403
from physjax.dynamics.integrators import *  # noqa: E402, F403
from physjax.dynamics.mlp import *  # noqa: E402, F403
from physjax.dynamics.models import *  # noqa: E402, F403
from physjax.dynamics.runs import *  # noqa: E402, F403
from physjax.dynamics.sgd import *  # noqa: E402, F403
from physjax.dynamics.theory import *  # noqa: E402, F403
