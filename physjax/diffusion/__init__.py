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

from physjax.diffusion.backward import (
    CloneResult,
    ReverseKernel,
    ReverseProcess,
    ReverseResult,
    ReverseState,
    clone,
    prior_sample,
    reverse,
    sample,
    time_grid,
)
from physjax.diffusion.forward import (
    ForwardEulerMaruyama,
    ForwardResult,
    ForwardSDE,
    ForwardState,
    noise,
    simulate_forward,
)
from physjax.diffusion.regimes import (
    CloningCurve,
    CollapseCurve,
    cloning_curve,
    collapse_curve,
    collapse_time,
    collapse_time_from_spectrum,
    collapsed_fraction,
    covariance_spectrum,
    crossing_time,
    excess_entropy,
    nearest_posterior_weight,
    same_class_probability,
    speciation_time,
    speciation_time_from_spectrum,
)
from physjax.diffusion.schedules import OU, VE, VP, Schedule
from physjax.diffusion.score_matching import (
    DECAYS,
    TIME_SAMPLINGS,
    AbstractScoreNetwork,
    ScoreConvNet,
    ScoreMLP,
    denoising_score_loss,
    train_score,
)
from physjax.diffusion.scores import (
    CurieWeissScore,
    EmpiricalScore,
    GaussianMixtureScore,
    GaussianScore,
    Score,
    curie_weiss_magnetization_law,
    mean_field_magnetization,
    sample_curie_weiss,
)

__all__ = [
    # schedules
    "Schedule", "OU", "VP", "VE",
    # forward
    "noise", "simulate_forward", "ForwardSDE", "ForwardState", "ForwardEulerMaruyama",
    "ForwardResult",
    # scores
    "Score", "GaussianScore", "GaussianMixtureScore", "EmpiricalScore", "CurieWeissScore",
    "curie_weiss_magnetization_law", "sample_curie_weiss", "mean_field_magnetization",
    # backward
    "ReverseProcess", "ReverseState", "ReverseKernel", "ReverseResult", "CloneResult",
    "reverse", "sample", "clone", "time_grid", "prior_sample",
    # regimes
    "covariance_spectrum", "speciation_time", "speciation_time_from_spectrum",
    "excess_entropy", "collapse_time", "collapse_time_from_spectrum",
    "same_class_probability", "CloningCurve", "cloning_curve", "nearest_posterior_weight",
    "CollapseCurve", "collapse_curve", "collapsed_fraction", "crossing_time",
    # learned scores
    "AbstractScoreNetwork", "ScoreMLP", "ScoreConvNet", "denoising_score_loss", "train_score",
    "TIME_SAMPLINGS", "DECAYS",
]
