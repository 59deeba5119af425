r"""Loss landscapes around a point: lines, planes, projected Hessians (seed 001, Sec. 4).

A loss :math:`L(\theta)`, :math:`\theta\in\mathbb{R}^N`, is explored around a point
:math:`\theta^*` along directions :math:`\eta, \delta` (pytrees shaped like the parameters):

.. math::

    \ell(\alpha) = L(\theta^* + \alpha\eta),\qquad
    \ell(\alpha, \beta) = L(\theta^* + \alpha\eta + \beta\delta)\quad\text{(seed eq. 32)}.

The Hessian of the plane at the origin is the projected Hessian (seed eq. 34)

.. math::

    H_{\alpha\beta} = \begin{pmatrix} A & B\\ B & C\end{pmatrix}
    = \begin{pmatrix}\eta^\top H\eta & \eta^\top H\delta\\
                     \delta^\top H\eta & \delta^\top H\delta\end{pmatrix},

computed here with two Hessian-vector products, and its eigenvalues are the principal
curvatures of the projected surface (seed eq. 35)

.. math::

    \kappa_\pm = \tfrac12\Big(A + C \pm \sqrt{4B^2 + (A - C)^2}\Big).

A critical point shows as a saddle in the plane when :math:`\kappa_+\kappa_- < 0`
(:math:`\det H_{\alpha\beta} < 0`) and is hidden (looks like a minimum or maximum) when
:math:`\kappa_+\kappa_- > 0`.  For Gaussian directions :math:`\mathbb{E}[A] = \mathbb{E}[C]
= \mathrm{tr}\,H` and :math:`\mathbb{E}[B] = 0` (seed eq. 36), so random planes are biased
towards the sign of the trace; the directions of the largest and smallest Hessian
eigenvalues (seed Algorithm 1, :func:`hessian_directions`) show a saddle whenever there is
one.

Parameters may be any pytree or a whole Equinox model: only its floating-point arrays
(``eqx.is_inexact_array``) move, and directions are pytrees with the structure of
``eqx.filter(params, eqx.is_inexact_array)`` (``None`` at the other leaves).  Every function
returns new arrays and never modifies ``params``.  Random directions can be normalized as
in Li et al. (2018), *Visualizing the loss landscape of neural nets*:

* ``"filter"``: every filter of a weight :math:`W` (a slice ``W[i]`` along axis 0: an output
  channel of an ``eqx.nn.Conv2d``, a row/neuron of an ``eqx.nn.Linear``) gets
  :math:`d_i \leftarrow d_i\,\lVert W_i\rVert / \lVert d_i\rVert`;
* ``"layer"``: every weight array gets :math:`d \leftarrow d\,\lVert W\rVert/\lVert d\rVert`;
* ``"unit"``: the whole direction is scaled to :math:`\lVert d\rVert = 1` (the norm of a
  Hessian eigenvector, for comparing random and Hessian planes on the same scale);
* ``None``: the raw :math:`\mathcal{N}(0, 1)` direction of the seed.

With ``"filter"`` and ``"layer"``, leaves with ``ndim <= 1`` (biases, scalars) are set to
zero (``bias="zero"``, Li et al.'s default ``ignore='biasbn'``) or normalized as a single
filter (``bias="keep"``: :math:`d_b \leftarrow d_b\lVert b\rVert/\lVert d_b\rVert`).

Plots: :func:`physjax.plotting.plot_loss_heatmap` and
:func:`physjax.plotting.plot_loss_surface` (matplotlib is imported only there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from physjax._array_types import Array, ArrayLike, Float, Key, PyTree, Real, Scalar
from physjax._checks import check_choice, check_positive_int, is_concrete
from physjax._options import BiasRule, HVPMode, Normalization
from physjax.curvature._krylov import batched_map
from physjax.curvature.eigen import ExtremeCurvature, extreme_curvature_directions
from physjax.curvature.hvp import (
    check_params,
    check_scalar_function,
    guarded_params,
    hvp,
)

__all__ = [
    "BiasRule",
    "Normalization",
    "HessianDirections",
    "ProjectionCurvatures",
    "hessian_directions",
    "loss_line",
    "loss_plane",
    "plane_minimum",
    "principal_curvatures",
    "projected_hessian",
    "random_direction",
    "random_projection_curvatures",
]


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------


def _split(params: PyTree, name: str = "params") -> tuple[PyTree, PyTree]:
    """``(arrays, static)`` with ``eqx.partition``; validates the array part."""
    dyn, static = eqx.partition(params, eqx.is_inexact_array)
    if not jax.tree.leaves(dyn):
        raise ValueError(
            f"{name} must contain at least one floating-point array, got "
            f"{type(params).__name__} with none"
        )
    check_params(dyn, name)
    return guarded_params(dyn, name), static  # under a caller's jit: a runtime finiteness check


class _OfArrays(eqx.Module):
    """``p -> f(eqx.combine(p, static))``, a pytree so that jitted callers cache on (f, static)."""

    f: Callable
    static: PyTree

    def __call__(self, p):
        return self.f(eqx.combine(p, self.static))


def _tree_vdot(a: PyTree, b: PyTree) -> Array:
    terms = [jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)]
    return sum(terms[1:], terms[0])


def _check_direction(direction: PyTree, dyn: PyTree, name: str) -> PyTree:
    """Structure and shapes of ``dyn``; floating; finite and not zero when concrete."""
    direction = eqx.filter(direction, eqx.is_array)
    if jax.tree.structure(direction) != jax.tree.structure(dyn):
        raise ValueError(
            f"{name} must have the pytree structure of the parameters' floating-point arrays "
            f"(eqx.filter(params, eqx.is_inexact_array)), got {jax.tree.structure(direction)} "
            f"instead of {jax.tree.structure(dyn)}"
        )
    concrete = True
    for d, p in zip(jax.tree.leaves(direction), jax.tree.leaves(dyn), strict=True):
        if np.shape(d) != np.shape(p):
            raise ValueError(
                f"{name} must have the leaf shapes of params, got a leaf of shape "
                f"{np.shape(d)} where params has {np.shape(p)}"
            )
        if not jnp.issubdtype(jnp.result_type(d), jnp.floating):
            raise TypeError(f"{name} must contain floating-point arrays, got dtype {d.dtype}")
        if is_concrete(d):
            if not np.all(np.isfinite(np.asarray(d))):
                raise ValueError(f"{name} must be finite, got NaN or infinite entries")
        else:
            concrete = False
    if concrete:
        if not any(np.any(np.asarray(d) != 0) for d in jax.tree.leaves(direction)):
            raise ValueError(f"{name} must be a nonzero direction, got all zeros")
        return direction
    flat, unravel = ravel_pytree(direction)  # traced (inside a caller's jit): runtime check
    bad = ~jnp.all(jnp.isfinite(flat)) | ~jnp.any(flat != 0)
    return unravel(eqx.error_if(flat, bad, f"{name} must be finite and nonzero"))


def _check_coordinates(x, name: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of step sizes, got shape "
                         f"{tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} must be finite, got NaN or infinite entries")
    return x


def _shift(dyn: PyTree, coefficients, directions) -> PyTree:
    """:math:`\\theta + \\sum_k c_k d_k` leafwise, in the parameters' dtypes."""

    def leaf(x, *ds):
        out = x
        for c, d in zip(coefficients, ds, strict=True):
            out = out + (c * d).astype(x.dtype)
        return out

    return jax.tree.map(leaf, dyn, *directions)


# ----------------------------------------------------------------------------------------
# directions
# ----------------------------------------------------------------------------------------


def random_direction(
    key: Key,
    params: PyTree,
    *,
    normalization: Normalization | None = None,
    bias: BiasRule = "zero",
) -> PyTree:
    r"""A random Gaussian direction :math:`d_i \sim \mathcal{N}(0, 1)` shaped like ``params``.

    Args:
        key: ``jax.random`` key.
        params: the point :math:`\theta^*` (a pytree or an Equinox model).
        normalization: ``None`` (raw Gaussian, the seed's choice), ``"filter"``,
            ``"layer"`` or ``"unit"`` (see the module docstring):
            filter: :math:`d_{i} \leftarrow d_{i}\lVert\theta_{i}\rVert/\lVert d_{i}\rVert`
            for every slice :math:`i` along axis 0 of each weight with ``ndim >= 2``.
        bias: with ``"filter"``/``"layer"``, what happens to leaves with ``ndim <= 1``:
            ``"zero"`` (Li et al.) or ``"keep"`` (normalized as one filter).

    Returns:
        A pytree with the structure of ``eqx.filter(params, eqx.is_inexact_array)`` in the
        parameters' dtypes.
    """
    check_choice(normalization, "normalization", Normalization)
    check_choice(bias, "bias", BiasRule)
    dyn, _ = _split(params)
    return _random_direction_jit(key, dyn, normalization, bias)


def _random_direction(key, dyn, normalization, bias):
    # one flat draw (one PRNG call compiles much faster than one per leaf)
    flat, unravel = ravel_pytree(dyn)
    leaves, treedef = jax.tree.flatten(dyn)
    raw = jax.tree.leaves(unravel(jax.random.normal(key, flat.shape, flat.dtype)))
    raw = [d.astype(w.dtype) for d, w in zip(raw, leaves, strict=True)]
    if normalization is None:
        return jax.tree.unflatten(treedef, raw)
    if normalization == "unit":
        norm = jnp.sqrt(sum(jnp.sum(d**2) for d in raw))
        return jax.tree.unflatten(treedef, [d / norm for d in raw])
    out = []
    for d, w in zip(raw, leaves, strict=True):
        if w.ndim <= 1:
            if bias == "zero":
                out.append(jnp.zeros_like(d))
                continue
            axes = tuple(range(w.ndim))
        elif normalization == "filter":
            axes = tuple(range(1, w.ndim))
        else:
            axes = tuple(range(w.ndim))
        w_norm = jnp.sqrt(jnp.sum(w**2, axis=axes, keepdims=True))
        d_norm = jnp.sqrt(jnp.sum(d**2, axis=axes, keepdims=True))
        out.append(d * w_norm / jnp.where(d_norm > 0, d_norm, 1))
    return jax.tree.unflatten(treedef, out)


_random_direction_jit = eqx.filter_jit(_random_direction)


class HessianDirections(NamedTuple):
    r"""The dominant Hessian directions of seed 001's Algorithm 1.

    Attributes:
        max_direction: unit eigenvector of the largest eigenvalue (pytree like params).
        min_direction: unit eigenvector of the smallest (most negative) eigenvalue.
        max_eigenvalue, min_eigenvalue: the eigenvalues :math:`\lambda_{\max},\lambda_{\min}`.
        result: what ``extreme_curvature_directions`` returned (residuals, convergence).
    """

    max_direction: PyTree
    min_direction: PyTree
    max_eigenvalue: Float[Array, ""]
    min_eigenvalue: Float[Array, ""]
    result: ExtremeCurvature


def hessian_directions(
    key: Key, f: Callable[[PyTree], Float[Array, ""]], params: PyTree, **kwargs: Any
) -> HessianDirections:
    r"""Most positive and most negative curvature directions of :math:`L` at ``params``.

    Seed 001's Algorithm 1 (the largest-magnitude eigenpair of :math:`H`, then the
    largest-magnitude eigenpair of :math:`H - \lambda_1 I`, shifted back) via
    :func:`physjax.curvature.eigen.extreme_curvature_directions`; ``kwargs`` are passed on
    to it.  The plane :math:`L(\theta^* + \alpha\,v_{\max} + \beta\,v_{\min})` shows a saddle
    whenever :math:`\lambda_{\max} > 0 > \lambda_{\min}`.

    Args:
        key: PRNG key of the Lanczos start vector (first, as for every stochastic function).
        f: scalar loss of ``params``.
        params: :math:`\theta^*` (a pytree or an Equinox model); not modified.
        **kwargs: ``n_steps``, ``tol``, ``mode``, ``max_restarts`` of
            :func:`~physjax.curvature.eigen.extreme_curvature_directions`.
    """
    dyn, static = _split(params)
    res = extreme_curvature_directions(key, _OfArrays(f, static), dyn, **kwargs)
    return HessianDirections(
        max_direction=res.max_eigenvector,
        min_direction=res.min_eigenvector,
        max_eigenvalue=res.max_eigenvalue,
        min_eigenvalue=res.min_eigenvalue,
        result=res,
    )


# ----------------------------------------------------------------------------------------
# lines and planes
# ----------------------------------------------------------------------------------------


@eqx.filter_jit
def _sweep(f, dyn, static, directions, coords, batch_size):
    def at(c):
        return f(eqx.combine(_shift(dyn, c, directions), static))

    return batched_map(at, coords, batch_size)


def loss_line(
    f: Callable[[PyTree], Float[Array, ""]],
    params: PyTree,
    direction: PyTree,
    alphas: Real[ArrayLike, " a"] | Sequence[Scalar],
    *,
    batch_size: int | None = None,
) -> Float[Array, " a"]:
    r"""The loss along a line, :math:`\ell_k = L(\theta^* + \alpha_k\,\eta)`.

    Args:
        f: scalar loss of ``params`` (of the whole pytree or model, as given).
        params: :math:`\theta^*`; not modified.
        direction: :math:`\eta`, shaped like the floating-point arrays of ``params``;
            finite and nonzero.
        alphas: 1-D array of step sizes :math:`\alpha_k`.
        batch_size: evaluate ``batch_size`` points at a time (``lax.map``) instead of all at
            once (``vmap``), to bound memory.

    Returns:
        Array of shape ``alphas.shape``.
    """
    dyn, static = _split(params)
    direction = _check_direction(direction, dyn, "direction")
    alphas = _check_coordinates(alphas, "alphas")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    check_scalar_function(_OfArrays(f, static), dyn)
    return _sweep(f, dyn, static, (direction,), alphas[:, None], batch_size)


def loss_plane(
    f: Callable[[PyTree], Float[Array, ""]],
    params: PyTree,
    d1: PyTree,
    d2: PyTree,
    alphas: Real[ArrayLike, " a"] | Sequence[Scalar],
    betas: Real[ArrayLike, " b"] | Sequence[Scalar],
    *,
    batch_size: int | None = None,
) -> Float[Array, "a b"]:
    r"""The loss on a plane, :math:`\ell_{jk} = L(\theta^* + \alpha_j\,\eta + \beta_k\,\delta)`.

    Seed eq. (32) with :math:`\eta` = ``d1`` and :math:`\delta` = ``d2``.  Row ``j`` is
    :math:`\alpha_j`, column ``k`` is :math:`\beta_k` (``indexing="ij"``).

    Args:
        f, params, batch_size: as in :func:`loss_line`.
        d1, d2: the directions :math:`\eta, \delta`; finite and nonzero.
        alphas, betas: 1-D arrays of step sizes.

    Returns:
        Array of shape ``(len(alphas), len(betas))``.
    """
    dyn, static = _split(params)
    d1 = _check_direction(d1, dyn, "d1")
    d2 = _check_direction(d2, dyn, "d2")
    alphas = _check_coordinates(alphas, "alphas")
    betas = _check_coordinates(betas, "betas")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    check_scalar_function(_OfArrays(f, static), dyn)
    a, b = jnp.meshgrid(alphas, betas, indexing="ij")
    coords = jnp.stack([a.ravel(), b.ravel()], axis=-1)
    values = _sweep(f, dyn, static, (d1, d2), coords, batch_size)
    return values.reshape(alphas.shape[0], betas.shape[0])


def plane_minimum(values: Real[ArrayLike, "a b"] | Sequence[Sequence[Scalar]],
                  alphas: Real[ArrayLike, " a"] | Sequence[Scalar],
                  betas: Real[ArrayLike, " b"] | Sequence[Scalar]) -> tuple[float, float, float]:
    r"""Where the sampled plane is lowest: :math:`(\alpha, \beta, \ell)` at the smallest entry.

    ``values`` has shape ``(len(alphas), len(betas))`` as returned by :func:`loss_plane`.
    """
    values = np.asarray(values)
    alphas, betas = np.asarray(alphas), np.asarray(betas)
    if values.shape != (alphas.shape[0], betas.shape[0]):
        raise ValueError(f"values must have shape (len(alphas), len(betas)) = "
                         f"{(alphas.shape[0], betas.shape[0])}, got {values.shape}")
    if not np.any(np.isfinite(values)):
        raise ValueError("values has no finite entry")
    j, k = np.unravel_index(np.nanargmin(np.where(np.isfinite(values), values, np.nan)),
                            values.shape)
    return float(alphas[j]), float(betas[k]), float(values[j, k])


# ----------------------------------------------------------------------------------------
# projected Hessian and principal curvatures
# ----------------------------------------------------------------------------------------


def _projected(f_dyn, dyn, d1, d2, mode):
    h1 = hvp(f_dyn, dyn, d1, mode=mode)
    h2 = hvp(f_dyn, dyn, d2, mode=mode)
    a = _tree_vdot(d1, h1)
    c = _tree_vdot(d2, h2)
    b = 0.5 * (_tree_vdot(d1, h2) + _tree_vdot(d2, h1))
    return jnp.stack([jnp.stack([a, b]), jnp.stack([b, c])])


_projected_jit = eqx.filter_jit(_projected)


def projected_hessian(
    f: Callable[[PyTree], Float[Array, ""]],
    params: PyTree,
    d1: PyTree,
    d2: PyTree,
    *,
    mode: HVPMode = "fwd-rev",
) -> Float[Array, "2 2"]:
    r"""The 2×2 Hessian of :math:`L(\theta^* + \alpha\eta + \beta\delta)` at :math:`\alpha=\beta=0`.

    .. math::

        H_{\alpha\beta} = \begin{pmatrix}\eta^\top H\eta & \eta^\top H\delta\\
        \delta^\top H\eta & \delta^\top H\delta\end{pmatrix}\qquad\text{(seed eq. 34)}

    from two Hessian-vector products :math:`H\eta, H\delta` (``mode`` as in
    :func:`physjax.curvature.hvp.hvp`); the off-diagonal is the average of the two
    (equal in exact arithmetic) cross terms.  The directions are used as given (not
    normalized).
    """
    check_choice(mode, "mode", HVPMode)
    dyn, static = _split(params)
    d1 = _check_direction(d1, dyn, "d1")
    d2 = _check_direction(d2, dyn, "d2")
    f_dyn = _OfArrays(f, static)
    check_scalar_function(f_dyn, dyn)
    return _projected_jit(f_dyn, dyn, d1, d2, mode)


def principal_curvatures(
    hessian_2x2: Real[ArrayLike, "*batch 2 2"] | Sequence[Any],
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    r"""Principal curvatures :math:`(\kappa_+, \kappa_-)` of a projected Hessian (seed eq. 35).

    .. math::

        \kappa_\pm = \tfrac12\Big(A + C \pm \sqrt{4B^2 + (A - C)^2}\Big)

    for :math:`H_{\alpha\beta} = ((A, B), (B, C))`, i.e. its eigenvalues,
    :math:`\kappa_+ \ge \kappa_-`.  Accepts a batch of shape ``(..., 2, 2)``; ``B`` is the
    mean of the two off-diagonal entries.
    """
    h = jnp.asarray(hessian_2x2)
    if h.ndim < 2 or h.shape[-2:] != (2, 2):
        raise ValueError(f"hessian_2x2 must have shape (..., 2, 2), got {tuple(h.shape)}")
    if is_concrete(h) and not np.all(np.isfinite(np.asarray(h))):
        raise ValueError("hessian_2x2 must be finite, got NaN or infinite entries")
    a, c = h[..., 0, 0], h[..., 1, 1]
    b = 0.5 * (h[..., 0, 1] + h[..., 1, 0])
    root = jnp.sqrt(4.0 * b**2 + (a - c) ** 2)
    return 0.5 * (a + c + root), 0.5 * (a + c - root)


class ProjectionCurvatures(NamedTuple):
    r"""Principal curvatures of many random planes (see :func:`random_projection_curvatures`).

    Attributes:
        kappa_plus, kappa_minus: :math:`\kappa_\pm` per plane, shape ``(n_planes,)``.
        projected_hessians: :math:`H_{\alpha\beta}` per plane, shape ``(n_planes, 2, 2)``.
        saddle_fraction: fraction of planes with :math:`\kappa_+\kappa_- < 0` (saddle shown).
        hidden_fraction: fraction with :math:`\kappa_+\kappa_- > 0` (saddle hidden: the plane
            looks like a minimum or a maximum).  Planes with :math:`\kappa_+\kappa_- = 0`
            exactly count in neither.
    """

    kappa_plus: Float[Array, " s"]
    kappa_minus: Float[Array, " s"]
    projected_hessians: Float[Array, "s 2 2"]
    saddle_fraction: Float[Array, ""]
    hidden_fraction: Float[Array, ""]


def random_projection_curvatures(
    key: Key,
    f: Callable[[PyTree], Float[Array, ""]],
    params: PyTree,
    n_planes: int,
    *,
    normalization: Normalization | None = None,
    bias: BiasRule = "zero",
    mode: HVPMode = "fwd-rev",
    batch_size: int | None = None,
) -> ProjectionCurvatures:
    r"""Principal curvatures :math:`\kappa_\pm` of ``n_planes`` random planes through ``params``.

    Plane :math:`s` uses two independent directions :math:`\eta^{(s)}, \delta^{(s)}` from
    :func:`random_direction` (``normalization``, ``bias``) and its projected Hessian from
    two HVPs; all planes are evaluated with ``vmap`` (in chunks of ``batch_size`` with
    ``lax.map`` if given).  The key comes first, as in :func:`random_direction` and
    :func:`hessian_directions`, so the three calls read alike; plane :math:`s` uses
    ``jax.random.split(key, n_planes)[s]``.

    Returns:
        :class:`ProjectionCurvatures`; e.g. for seed 001's eq. (40) at :math:`\theta^*`
        (:math:`n = 500`) about 29 % of Gaussian planes hide the saddle, for eq. (45) with
        :math:`\tilde n = 800` all of them do.
    """
    check_choice(normalization, "normalization", Normalization)
    check_choice(bias, "bias", BiasRule)
    check_choice(mode, "mode", HVPMode)
    n_planes = check_positive_int(n_planes, "n_planes")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    dyn, static = _split(params)
    f_dyn = _OfArrays(f, static)
    check_scalar_function(f_dyn, dyn)
    keys = jax.random.split(key, n_planes)
    h = _projection_batch(f_dyn, dyn, keys, normalization, bias, mode, batch_size)
    kp, km = principal_curvatures(h)
    det = kp * km
    return ProjectionCurvatures(
        kappa_plus=kp,
        kappa_minus=km,
        projected_hessians=h,
        saddle_fraction=jnp.mean(det < 0),
        hidden_fraction=jnp.mean(det > 0),
    )


@eqx.filter_jit
def _projection_batch(f_dyn, dyn, keys, normalization, bias, mode, batch_size):
    def one(k):
        k1, k2 = jax.random.split(k)
        d1 = _random_direction(k1, dyn, normalization, bias)
        d2 = _random_direction(k2, dyn, normalization, bias)
        return _projected(f_dyn, dyn, d1, d2, mode)

    return batched_map(one, keys, batch_size)
