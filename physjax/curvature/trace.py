r"""Stochastic estimates of the Hessian trace :math:`\mathrm{tr}\,H = \sum_i \kappa_i`.

* Hutchinson: :math:`\mathrm{tr}\,A = \mathbb E[z^\top A z]` for probes with
  :math:`\mathbb E[z z^\top] = I` (seed 001 eq. 39).  With :math:`m` probes the mean has
  variance :math:`2(\|A\|_F^2 - \sum_i A_{ii}^2)/m` (Rademacher) or :math:`2\|A\|_F^2/m`
  (Gaussian); the reported error bar is the sample standard error
  :math:`s/\sqrt m`.
* Hutch++ (Meyer, Musco, Musco & Woodruff 2021): the trace of a rank-:math:`s` sketch
  :math:`Q^\top A Q` exactly, plus Hutchinson on the deflated
  :math:`(I-QQ^\top)A(I-QQ^\top)`; error :math:`O(1/m)` instead of :math:`O(1/\sqrt m)`
  when the spectrum decays.
* Curvature-based (seed 001 eq. 37): along a Gaussian direction :math:`\eta`, fit
  :math:`L(\theta+\alpha\eta) \approx a + b\alpha + \tfrac12\kappa\alpha^2` by least squares;
  :math:`\kappa \approx \eta^\top H\eta` (exact for a quadratic :math:`L`), so
  :math:`\langle\kappa\rangle` estimates :math:`\mathrm{tr}\,H` without any HVP.

Probes are drawn per probe from ``jax.random.split(key, n)``; for the same ``key`` the
Gaussian probes of :func:`hutchinson_trace` and the directions of
:func:`curvature_trace_estimate` are identical (seed 001 Fig. 9 compares them this way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import DTypeLike

from physjax._array_types import Array, ArrayLike, Float, Key, PyTree, Real, Scalar
from physjax._checks import check_choice, check_positive_int, is_concrete
from physjax._options import HVPMode, Probe
from physjax.curvature._krylov import batched_map, check_matvec, draw_probe
from physjax.curvature.hvp import (
    check_params,
    check_scalar_function,
    flat_hvp,
    guard_finite,
    guarded_params,
)

__all__ = [
    "Probe",
    "TraceEstimate",
    "curvature_trace_estimate",
    "hutch_plus_plus",
    "hutch_plus_plus_matvec",
    "hutchinson_trace",
    "hutchinson_trace_matvec",
]

DEFAULT_ALPHAS = np.linspace(-0.05, 0.05, 11)  # seed 001 uses [-0.05, 0.05] (50 points)


class TraceEstimate(NamedTuple):
    r"""A stochastic trace estimate.

    Attributes:
        estimate: the mean of ``samples``, an unbiased estimate of :math:`\mathrm{tr}\,H`.
        standard_error: ``std(samples, ddof=1) / sqrt(len(samples))``; for many samples the
            estimate is within two standard errors of the trace about 95 % of the time.
        samples: the i.i.d. single-probe estimates (e.g. :math:`z_i^\top H z_i`).
    """

    estimate: Float[Array, ""]
    standard_error: Float[Array, ""]
    samples: Float[Array, " m"]


def _summarize(samples):
    m = samples.shape[0]
    return TraceEstimate(jnp.mean(samples), jnp.std(samples, ddof=1) / jnp.sqrt(m), samples)


def _check_common(probe, batch_size):
    check_choice(probe, "probe", Probe)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")


# --------------------------------------------------------------------------- Hutchinson


def _hutchinson_core(matvec, key, dim, dtype, n_probes, probe, batch_size):
    keys = jax.random.split(key, n_probes)

    def sample(k):
        z = draw_probe(k, dim, dtype, probe)
        return jnp.dot(z, matvec(z).astype(dtype), precision=jax.lax.Precision.HIGHEST)

    return _summarize(batched_map(sample, keys, batch_size))


_hutchinson_jit = eqx.filter_jit(_hutchinson_core)


def hutchinson_trace_matvec(key: Key, matvec: Callable[[Float[Array, " p"]], Float[Array, " p"]],
                            dim: int, n_probes: int, *, probe: Probe = "rademacher",
                            batch_size: int | None = None, dtype: DTypeLike | None = None
                            ) -> TraceEstimate:
    r"""Hutchinson's estimate of :math:`\mathrm{tr}\,A` for a symmetric operator on
    :math:`\mathbb R^{\rm dim}`: the mean of :math:`z_i^\top A z_i`, :math:`i=1..m`.

    Args:
        key: PRNG key; probe ``i`` uses ``jax.random.split(key, n_probes)[i]``; the function
            can be ``jax.vmap``-ed over keys.
        matvec: ``x -> A x`` on flat vectors (static: compiled per function object).
        dim: dimension.
        n_probes: number of probes (= matvecs), at least 2 for an error bar.
        probe: ``"rademacher"`` (:math:`\pm1`, smallest variance,
            :math:`2\sum_{i\ne j}A_{ij}^2`) or ``"gaussian"`` (variance :math:`2\|A\|_F^2`).
        batch_size: probes per batch (``lax.map``); None applies all at once (``vmap``,
            memory of n_probes HVPs): fastest on accelerators and for small models, but on
            a 2-core CPU a 300k-parameter MLP ran 3x faster with ``batch_size=1``.
        dtype: probe dtype (default: the float default).
    """
    dim = check_positive_int(dim, "dim")
    n_probes = check_positive_int(n_probes, "n_probes", minimum=2)
    _check_common(probe, batch_size)
    dtype = dtype or jnp.result_type(float)
    check_matvec(matvec, jnp.zeros((dim,), dtype))
    return _hutchinson_jit(matvec, key, dim, dtype, n_probes, probe, batch_size)


def hutchinson_trace(key: Key, f: Callable[[PyTree], Float[Array, ""]], params: PyTree,
                     n_probes: int, *, probe: Probe = "rademacher", mode: HVPMode = "fwd-rev",
                     batch_size: int | None = None) -> TraceEstimate:
    r"""Hutchinson's estimate of the Hessian trace :math:`\mathrm{tr}\,H = \mathbb
    E[z^\top H z]` with ``n_probes`` HVPs (see :func:`hutchinson_trace_matvec`; ``key``
    first, as there)."""
    check_choice(mode, "mode", HVPMode)
    check_params(params)
    check_scalar_function(f, params)
    n_probes = check_positive_int(n_probes, "n_probes", minimum=2)
    _check_common(probe, batch_size)
    return _hutchinson_hessian_jit(f, params, key, n_probes, probe, mode, batch_size)


@eqx.filter_jit
def _hutchinson_hessian_jit(f, params, key, n_probes, probe, mode, batch_size):
    matvec, dim, dtype = flat_hvp(f, guarded_params(params), mode)
    return _hutchinson_core(matvec, key, dim, dtype, n_probes, probe, batch_size)


# --------------------------------------------------------------------------- Hutch++


def _hpp_core(matvec, key, dim, dtype, n_matvecs, probe):
    n_sketch = n_matvecs // 3
    n_hutch = n_matvecs - 2 * n_sketch
    k_s, k_g = jax.random.split(key)
    hi = jax.lax.Precision.HIGHEST
    S = jax.vmap(lambda k: draw_probe(k, dim, dtype, probe))(jax.random.split(k_s, n_sketch))
    AS = jax.vmap(matvec)(S).astype(dtype)  # rows are A s_i
    Q, _ = jnp.linalg.qr(AS.T)  # (dim, n_sketch), orthonormal columns
    AQ = jax.vmap(matvec)(Q.T).astype(dtype)
    t_low = jnp.sum(Q.T * AQ)

    def sample(k):
        g = draw_probe(k, dim, dtype, probe)
        g = g - jnp.dot(Q, jnp.dot(g, Q, precision=hi), precision=hi)
        return jnp.dot(g, matvec(g).astype(dtype), precision=hi)

    return _summarize(t_low + jax.vmap(sample)(jax.random.split(k_g, n_hutch)))


_hpp_jit = eqx.filter_jit(_hpp_core)


def hutch_plus_plus_matvec(key: Key, matvec: Callable[[Float[Array, " p"]], Float[Array, " p"]],
                           dim: int, n_matvecs: int, *, probe: Probe = "rademacher",
                           dtype: DTypeLike | None = None) -> TraceEstimate:
    r"""Hutch++ estimate of :math:`\mathrm{tr}\,A` with ``n_matvecs`` matvecs (Meyer et al.
    2021, Algorithm 1).

    With :math:`s = \lfloor m/3\rfloor`: sketch :math:`Q = \mathrm{qr}(A S)` for a random
    :math:`S \in \mathbb R^{N\times s}` (:math:`s` matvecs), take
    :math:`\mathrm{tr}(Q^\top A Q)` exactly (:math:`s` matvecs), and add Hutchinson with
    the remaining :math:`m-2s` probes on the deflated operator
    :math:`(I-QQ^\top)A(I-QQ^\top)`.  ``samples`` are
    :math:`\mathrm{tr}(Q^\top AQ) + \tilde g_i^\top A\tilde g_i`, so ``standard_error`` is
    that of the deflated Hutchinson part (the sketch part is taken as fixed).

    Args:
        key: PRNG key of the sketch and of the deflated probes.
        matvec, dim, probe, dtype: as in :func:`hutchinson_trace_matvec`.
        n_matvecs: total matvec budget, at least 4 (two deflated probes for an error bar).
    """
    dim = check_positive_int(dim, "dim")
    n_matvecs = check_positive_int(n_matvecs, "n_matvecs", minimum=4)
    _check_common(probe, None)
    dtype = dtype or jnp.result_type(float)
    check_matvec(matvec, jnp.zeros((dim,), dtype))
    return _hpp_jit(matvec, key, dim, dtype, n_matvecs, probe)


def hutch_plus_plus(key: Key, f: Callable[[PyTree], Float[Array, ""]], params: PyTree,
                    n_matvecs: int, *, probe: Probe = "rademacher",
                    mode: HVPMode = "fwd-rev") -> TraceEstimate:
    r"""Hutch++ estimate of the Hessian trace with ``n_matvecs`` HVPs (see
    :func:`hutch_plus_plus_matvec`; ``key`` first, as there)."""
    check_choice(mode, "mode", HVPMode)
    check_params(params)
    check_scalar_function(f, params)
    n_matvecs = check_positive_int(n_matvecs, "n_matvecs", minimum=4)
    _check_common(probe, None)
    return _hpp_hessian_jit(f, params, key, n_matvecs, probe, mode)


@eqx.filter_jit
def _hpp_hessian_jit(f, params, key, n_matvecs, probe, mode):
    matvec, dim, dtype = flat_hvp(f, guarded_params(params), mode)
    return _hpp_core(matvec, key, dim, dtype, n_matvecs, probe)


# --------------------------------------------------------------------------- curvature-based


def _check_alphas(alphas):
    a = np.asarray(alphas) if is_concrete(alphas) else None
    shape = np.shape(alphas)
    if len(shape) != 1 or shape[0] < 3:
        raise ValueError(f"alphas must be a 1-D array of at least 3 step sizes (a quadratic "
                         f"fit has 3 coefficients), got shape {shape}")
    if a is not None:
        if not np.all(np.isfinite(a)):
            raise ValueError("alphas must be finite, got NaN or infinite entries")
        if np.unique(a).size < 3:
            raise ValueError(f"alphas must contain at least 3 distinct values, got "
                             f"{np.unique(a).tolist()}")


def _check_directions(directions, params, n_directions):
    if jax.tree.structure(directions) != jax.tree.structure(params):
        raise ValueError("directions must have the pytree structure of params with a leading "
                         "n_directions axis")
    for d, p in zip(jax.tree.leaves(directions), jax.tree.leaves(params), strict=True):
        if np.shape(d) != (n_directions, *np.shape(p)):
            raise ValueError(f"directions leaves must have shape (n_directions, *leaf.shape) "
                             f"= {(n_directions, *np.shape(p))}, got {np.shape(d)}")
    flat = jax.vmap(lambda t: ravel_pytree(t)[0])(directions)
    if is_concrete(flat):
        a = np.asarray(flat)
        if not np.all(np.isfinite(a)):
            raise ValueError("directions must be finite, got NaN or infinite entries")
        if np.any(~np.any(a != 0, axis=1)):
            raise ValueError("directions must be non-zero vectors, got a zero direction")
        return flat
    bad = ~jnp.all(jnp.isfinite(flat)) | jnp.any(~jnp.any(flat != 0, axis=1))
    return eqx.error_if(flat, bad, "directions must be finite and non-zero")


def _curvature_core(f, params, key, n_directions, alphas, directions, batch_size):
    flat, unravel = ravel_pytree(params)
    flat = guard_finite(flat, "params")
    dtype = flat.dtype
    alphas = jnp.asarray(alphas, dtype)
    X = jnp.stack([jnp.ones_like(alphas), alphas, 0.5 * alphas**2], axis=1)
    kappa_row = jnp.linalg.pinv(X)[2]  # least-squares coefficient of alpha^2 / 2
    if directions is None:
        directions = jax.vmap(lambda k: draw_probe(k, flat.shape[0], dtype, "gaussian"))(
            jax.random.split(key, n_directions))

    def kappa(eta):
        losses = jax.vmap(lambda a: f(unravel(flat + a * eta)))(alphas)
        return jnp.dot(kappa_row, losses.astype(dtype))

    return _summarize(batched_map(kappa, directions, batch_size))


_curvature_jit = eqx.filter_jit(_curvature_core)


def curvature_trace_estimate(key: Key | None, f: Callable[[PyTree], Float[Array, ""]],
                             params: PyTree, n_directions: int, *,
                             alphas: Real[ArrayLike, " a"] | Sequence[Scalar] = DEFAULT_ALPHAS,
                             directions: PyTree | None = None,
                             batch_size: int | None = None) -> TraceEstimate:
    r"""Curvature-based trace estimate of seed 001 (eq. 37, Fig. 9), without HVPs.

    For each Gaussian direction :math:`\eta_i \sim \mathcal N(0, I_N)`, least-squares fit

    .. math:: L(\theta + \alpha\eta_i) \approx a_i + b_i\alpha + \tfrac12\kappa_i\alpha^2

    over the step sizes ``alphas``.  For a quadratic :math:`L` (or a small enough
    :math:`\alpha` range) :math:`\kappa_i = \eta_i^\top H \eta_i` exactly, so
    :math:`\langle\kappa\rangle` is an unbiased Hutchinson-type estimate of
    :math:`\mathrm{tr}\,H` (variance :math:`2\|H\|_F^2/m`); the linear term absorbs a
    non-zero gradient, so :math:`\theta` need not be critical.  Beyond second order the
    fit is biased by :math:`O(\alpha^2)` quartic terms (:math:`O(\alpha^2)` for cubic
    terms with asymmetric ``alphas``), so keep the range in the quadratic regime; in
    float32 the :math:`\alpha^2` signal must stand above the rounding of :math:`L`.

    Args:
        key: PRNG key of the directions (ignored, and may be None, when ``directions`` is
            given); the same key gives the same vectors as
            ``hutchinson_trace(key, ..., probe="gaussian")``.
        f: scalar loss of the pytree ``params``.
        params: the point :math:`\theta^*` (never modified).
        n_directions: number of directions :math:`m`, at least 2.
        alphas: 1-D step sizes, at least 3 distinct (default 11 points on
            :math:`[-0.05, 0.05]`; seed 001 uses 50).
        directions: optional pytree like ``params`` with a leading ``n_directions`` axis.
        batch_size: directions per batch (``lax.map``); None evaluates all at once.

    Returns:
        :class:`TraceEstimate` whose ``samples`` are the fitted :math:`\kappa_i`.
    """
    check_params(params)
    check_scalar_function(f, params)
    n_directions = check_positive_int(n_directions, "n_directions", minimum=2)
    _check_alphas(alphas)
    _check_common("gaussian", batch_size)
    flat_dirs = None
    if directions is not None:
        flat_dirs = _check_directions(directions, params, n_directions)
    return _curvature_jit(f, params, key, n_directions, jnp.asarray(alphas), flat_dirs,
                          batch_size)
