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

# Each submodule's __all__ is its public API; the package re-exports all of them (eigen
# re-exports lanczos's results, hence the de-duplication).  landscape (loss landscapes along
# random and Hessian directions) and losses (the seed-001 test losses) are also public as
# submodules.
from physjax.curvature import (  # noqa: I001  (the submodules, for their __all__)
    density, eigen, hvp, lanczos, landscape, losses, trace,
)

__all__ = list(dict.fromkeys([
    *density.__all__, *eigen.__all__, *hvp.__all__, *lanczos.__all__, *trace.__all__,
    "landscape", "losses", *landscape.__all__, *losses.__all__,
]))

from physjax.curvature.density import *  # noqa: E402, F403, I001
from physjax.curvature.eigen import *  # noqa: E402, F403
from physjax.curvature.hvp import *  # noqa: E402, F403
from physjax.curvature.lanczos import *  # noqa: E402, F403
from physjax.curvature.landscape import *  # noqa: E402, F403
from physjax.curvature.losses import *  # noqa: E402, F403
from physjax.curvature.trace import *  # noqa: E402, F403
