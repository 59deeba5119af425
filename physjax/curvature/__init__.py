"""Loss-landscape geometry from Hessian-vector products.

Every routine takes a scalar function ``f(params)`` of a pytree ``params`` (an Equinox
model's loss, a network's cost, an energy) and never forms the Hessian unless asked
(:func:`full_hessian`); each ``*_matvec`` variant takes a flat linear operator instead.
Every stochastic routine takes its ``jax.random`` key as the first argument, e.g.
``hessian_eigenpairs(key, f, params, k=5)``, ``lanczos_eigenpairs(key, matvec, dim)``.

* :mod:`~physjax.curvature.hvp`: Hessian-vector products (three AD modes), Gauss-Newton
  products, dense Hessians.
* :mod:`~physjax.curvature.lanczos`: Lanczos with full reorthogonalization inside one
  ``lax.scan``; a LAPACK-free Jacobi eigensolver for the small projected matrices.
* :mod:`~physjax.curvature.eigen`: Hessian eigenpairs with residuals and convergence flags
  (thick-restart Lanczos), Algorithm 1 of seed 001 (extreme curvature directions), power
  iteration.
* :mod:`~physjax.curvature.trace`: Hutchinson, Hutch++ and the curvature-based trace estimate.
* :mod:`~physjax.curvature.density`: spectral density by stochastic Lanczos quadrature.
"""

from physjax.curvature.density import SpectralDensity, spectral_density, spectral_density_matvec
from physjax.curvature.eigen import (
    EigenResult,
    ExtremeCurvature,
    PowerIterationResult,
    extreme_curvature_directions,
    extreme_curvature_directions_matvec,
    hessian_eigenpairs,
    lanczos_eigenpairs,
    power_iteration,
    power_iteration_matvec,
)
from physjax.curvature.hvp import HVP_MODES, flatten, full_hessian, ggn_vp, hvp, hvp_fn, unflatten
from physjax.curvature.lanczos import (
    LanczosResult,
    lanczos,
    symmetric_eigh,
    tridiagonal_eigh_float64,
)
from physjax.curvature.trace import (
    TraceEstimate,
    curvature_trace_estimate,
    hutch_plus_plus,
    hutch_plus_plus_matvec,
    hutchinson_trace,
    hutchinson_trace_matvec,
)

__all__ = [
    # hvp
    "HVP_MODES",
    "flatten",
    "full_hessian",
    "ggn_vp",
    "hvp",
    "hvp_fn",
    "unflatten",
    # eigen
    "EigenResult",
    "ExtremeCurvature",
    "LanczosResult",
    "PowerIterationResult",
    "extreme_curvature_directions",
    "extreme_curvature_directions_matvec",
    "hessian_eigenpairs",
    "lanczos",
    "lanczos_eigenpairs",
    "power_iteration",
    "power_iteration_matvec",
    # lanczos
    "symmetric_eigh",
    "tridiagonal_eigh_float64",
    # trace
    "TraceEstimate",
    "curvature_trace_estimate",
    "hutch_plus_plus",
    "hutch_plus_plus_matvec",
    "hutchinson_trace",
    "hutchinson_trace_matvec",
    # density
    "SpectralDensity",
    "spectral_density",
    "spectral_density_matvec",
]

# ---------------------------------------------------------------------------------------
# Loss landscapes along random and Hessian directions, and the seed-001 test losses.
from physjax.curvature import landscape, losses  # noqa: E402
from physjax.curvature.landscape import *  # noqa: E402, F403
from physjax.curvature.losses import *  # noqa: E402, F403

__all__ += ["landscape", "losses", *landscape.__all__, *losses.__all__]
# ---------------------------------------------------------------------------------------
