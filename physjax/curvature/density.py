r"""Spectral density of the Hessian by stochastic Lanczos quadrature (SLQ).

The eigenvalue density :math:`\rho(t) = \frac1N\sum_i \delta(t-\lambda_i)` satisfies
:math:`\int g\,\rho = \frac1N\mathrm{tr}\,g(H) = \mathbb E_v[v^\top g(H) v]` for random unit
probes :math:`v` (:math:`\mathbb E[vv^\top] = I/N`).  For each run, Lanczos from :math:`v`
gives :math:`T_m = Y\,\mathrm{diag}(\theta)\,Y^\top`, and

.. math:: v^\top g(H) v \approx \sum_{j=1}^m w_j\, g(\theta_j), \qquad w_j = Y_{1j}^2,

the Gauss quadrature rule of the spectral measure of :math:`v`, exact for polynomials of
degree :math:`\le 2m-1`.  Since :math:`\|v\| = 1` and :math:`Y` is orthogonal, **each run's
weights are non-negative and sum to 1**.  The density is the run average of the quadrature
measures broadened by Gaussians of width :math:`\sigma`:

.. math:: \hat\rho(t) = \frac{1}{R}\sum_{r=1}^R \sum_j w^{(r)}_j\,
          \frac{e^{-(t-\theta^{(r)}_j)^2/2\sigma^2}}{\sqrt{2\pi}\,\sigma}.

Its moments are :math:`\int t^p\hat\rho = \langle\sum_j w_j\theta_j^p\rangle` (+
:math:`\sigma^2` for :math:`p = 2`), unbiased estimates of :math:`\mathrm{tr}(H^p)/N` for
:math:`p < 2m`.  The tridiagonal eigenproblem is solved in float64 (on the host when x64 is
off); Lanczos uses full reorthogonalization (see :mod:`physjax.curvature.lanczos`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from physjax._array_types import Array, ArrayLike, Float, Key, PyTree, Real, Scalar
from physjax._checks import check_choice, check_positive_int, is_concrete
from physjax._options import HVPMode, Probe
from physjax.curvature._krylov import batched_map, check_matvec, draw_probe, lanczos_core
from physjax.curvature.hvp import (
    check_params,
    check_scalar_function,
    flat_hvp,
    guarded_params,
)
from physjax.curvature.lanczos import tridiagonal_eigh_float64

__all__ = ["SpectralDensity", "spectral_density", "spectral_density_matvec"]


class SpectralDensity(NamedTuple):
    r"""Output of :func:`spectral_density`.

    Attributes:
        grid: ``(n_grid,)`` evaluation points :math:`t`.
        density: ``(n_grid,)`` broadened density :math:`\hat\rho(t)` (integrates to 1 when
            the grid covers the spectrum).
        nodes: ``(n_runs, n_steps)`` Ritz values :math:`\theta^{(r)}_j` of each run.
        weights: ``(n_runs, n_steps)`` quadrature weights :math:`w^{(r)}_j`; each row sums
            to 1.
    """

    grid: Float[Array, " g"]
    density: Float[Array, " g"]
    nodes: Float[Array, "r m"]
    weights: Float[Array, "r m"]


def _slq_core(matvec, key, dim, dtype, n_runs, n_steps, grid, sigma, probe, batch_size,
              n_grid):
    def run(k):
        v = draw_probe(k, dim, dtype, probe)
        alphas, betas, _ = lanczos_core(matvec, v / jnp.linalg.norm(v), n_steps, True)
        return alphas, betas[:-1]

    alphas, offdiag = batched_map(run, jax.random.split(key, n_runs), batch_size)
    nodes, Y = tridiagonal_eigh_float64(alphas, offdiag)  # all runs at once
    weights = Y[:, 0, :] ** 2
    lo, hi = jnp.min(nodes), jnp.max(nodes)
    width = hi - lo
    if sigma is None:
        sigma = jnp.where(width > 0, 0.01 * width, 0.01 * jnp.maximum(jnp.abs(hi), 1.0))
    sigma = jnp.asarray(sigma, dtype)
    if grid is None:
        grid = jnp.linspace(lo - 5 * sigma, hi + 5 * sigma, n_grid, dtype=dtype)
    grid = jnp.asarray(grid, dtype)
    z = (grid[:, None, None] - nodes[None]) / sigma
    kernel = jnp.exp(-0.5 * z**2) / (jnp.sqrt(2 * jnp.pi) * sigma)
    density = jnp.sum(kernel * weights[None], axis=(1, 2)) / n_runs
    return SpectralDensity(grid, density, nodes, weights)


_slq_jit = eqx.filter_jit(_slq_core)


def _check_density_args(n_runs, n_steps, grid, sigma, probe, batch_size, n_grid, dim):
    n_runs = check_positive_int(n_runs, "n_runs")
    n_steps = min(check_positive_int(n_steps, "n_steps"), dim)
    n_grid = check_positive_int(n_grid, "n_grid", minimum=2)
    check_choice(probe, "probe", Probe)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    if grid is not None:
        if np.ndim(grid) != 1 or np.shape(grid)[0] < 2:
            raise ValueError(f"grid must be a 1-D array of at least 2 points, got shape "
                             f"{np.shape(grid)}")
        if is_concrete(grid) and not np.all(np.isfinite(np.asarray(grid))):
            raise ValueError("grid must be finite, got NaN or infinite entries")
    if sigma is not None and is_concrete(sigma):
        s = np.asarray(sigma)
        if s.ndim != 0 or not np.isfinite(s) or s <= 0:
            raise ValueError(f"sigma must be a finite scalar > 0, got {sigma!r}")
    return n_runs, n_steps, n_grid


def spectral_density_matvec(key: Key, matvec: Callable[[Float[Array, " p"]], Float[Array, " p"]],
                            dim: int, *, n_runs: int = 10, n_steps: int = 80,
                            grid: Real[ArrayLike, " g"] | Sequence[Scalar] | None = None,
                            sigma: Scalar | None = None, probe: Probe = "rademacher",
                            batch_size: int | None = 1, n_grid: int = 1000,
                            dtype: DTypeLike | None = None) -> SpectralDensity:
    r"""Spectral density of a symmetric operator on :math:`\mathbb R^{\rm dim}` by SLQ.

    Args:
        key: PRNG key; run ``r`` uses ``jax.random.split(key, n_runs)[r]``.
        matvec: ``x -> A x`` on flat vectors.
        dim: dimension :math:`N`.
        n_runs: number of independent probes :math:`R`.
        n_steps: Lanczos steps per run :math:`m` (capped at ``dim``, where the quadrature
            becomes exact).
        grid: evaluation points (default ``n_grid`` points spanning the nodes
            :math:`\pm 5\sigma`).
        sigma: Gaussian broadening (default 1 % of the node range).
        probe: ``"rademacher"`` or ``"gaussian"`` start vectors (normalized).
        batch_size: runs evaluated together (``lax.map``); the default 1 keeps one Krylov
            basis ``(m+1, N)`` in memory; None vmaps all runs.
    """
    dim = check_positive_int(dim, "dim")
    n_runs, n_steps, n_grid = _check_density_args(n_runs, n_steps, grid, sigma, probe,
                                                  batch_size, n_grid, dim)
    dtype = dtype or jnp.result_type(float)
    check_matvec(matvec, jnp.zeros((dim,), dtype))
    return _slq_jit(matvec, key, dim, dtype, n_runs, n_steps, grid, sigma, probe, batch_size,
                    n_grid)


def spectral_density(key: Key, f: Callable[[PyTree], Float[Array, ""]], params: PyTree, *,
                     n_runs: int = 10, n_steps: int = 80,
                     grid: Real[ArrayLike, " g"] | Sequence[Scalar] | None = None,
                     sigma: Scalar | None = None,
                     probe: Probe = "rademacher", mode: HVPMode = "fwd-rev",
                     batch_size: int | None = 1, n_grid: int = 1000) -> SpectralDensity:
    r"""Hessian eigenvalue density of ``f`` at ``params`` by stochastic Lanczos quadrature
    (see :func:`spectral_density_matvec`, ``key`` first as there; one HVP per Lanczos
    step)."""
    check_choice(mode, "mode", HVPMode)
    dim = check_params(params)
    check_scalar_function(f, params)
    n_runs, n_steps, n_grid = _check_density_args(n_runs, n_steps, grid, sigma, probe,
                                                  batch_size, n_grid, dim)
    return _slq_hessian_jit(f, params, key, n_runs, n_steps, grid, sigma, probe, mode,
                            batch_size, n_grid)


@eqx.filter_jit
def _slq_hessian_jit(f, params, key, n_runs, n_steps, grid, sigma, probe, mode, batch_size,
                     n_grid):
    matvec, dim, dtype = flat_hvp(f, guarded_params(params), mode)
    return _slq_core(matvec, key, dim, dtype, n_runs, n_steps, grid, sigma, probe,
                     batch_size, n_grid)
