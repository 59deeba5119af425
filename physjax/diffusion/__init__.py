r"""Generative diffusion as statistical physics (issue 19, seed 004).

The forward process noises data, :math:`x_t = a_t x_0 + \sqrt{\Delta_t}\,z`
(:mod:`~physjax.diffusion.schedules`: the Ornstein--Uhlenbeck process
:math:`dx = -x\,dt + \sqrt2\,dW` of Biroli, Bonnaire, de Bortoli and Mézard 2024, and the VP
and VE schedules); the backward process (:mod:`~physjax.diffusion.backward`: reverse SDE
and probability-flow ODE, Euler--Maruyama, Heun and exponential integrators, on the
:class:`physjax.kernels.Kernel` protocol) regenerates data from a score
(:mod:`~physjax.diffusion.scores`: exact scores of Gaussian data, Gaussian mixtures,
Curie--Weiss spins and the memorizing empirical score) or learned by denoising score
matching (:mod:`~physjax.diffusion.score_matching`).  :mod:`~physjax.diffusion.regimes`
predicts and measures the speciation time :math:`t_S = \tfrac12\log\Lambda` and the collapse
time of the excess-entropy criterion.  See ``docs/diffusion.md``.
"""

# Each submodule's __all__ is its public API; the package re-exports all of them.
from physjax.diffusion import (  # noqa: I001  (the submodules, for their __all__)
    backward, forward, regimes, schedules, score_matching, scores,
)

__all__ = [
    *backward.__all__, *forward.__all__, *regimes.__all__, *schedules.__all__,
    *score_matching.__all__, *scores.__all__,
]

from physjax.diffusion.backward import *  # noqa: E402, F403
from physjax.diffusion.forward import *  # noqa: E402, F403
from physjax.diffusion.regimes import *  # noqa: E402, F403
from physjax.diffusion.schedules import *  # noqa: E402, F403
from physjax.diffusion.score_matching import *  # noqa: E402, F403
from physjax.diffusion.scores import *  # noqa: E402, F403
