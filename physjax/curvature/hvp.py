r"""Hessian-vector products, Gauss-Newton products and dense Hessians of pytree functions.

Everything here acts on a scalar function ``f(params)`` of a pytree ``params`` (an Equinox
model's loss, a network's cost, an energy).  The Hessian :math:`H_{ij} = \partial_i\partial_j
f(\theta)` is never formed for the matrix-free routines; its action on a direction :math:`v`
(a pytree shaped like ``params``) comes from nested automatic differentiation:

* ``"fwd-rev"`` (default): :math:`Hv = \partial_\epsilon \nabla f(\theta + \epsilon v)|_0`,
  a ``jax.jvp`` of ``jax.grad`` -- one forward-mode sweep over the gradient graph, the
  cheapest in memory and time;
* ``"rev-rev"``: :math:`Hv = \nabla_\theta\,[\nabla f(\theta)\cdot v]` (Pearlmutter's identity,
  seed 001 eq. 47), reverse over reverse;
* ``"rev-fwd"``: :math:`Hv = \nabla_\theta\,[\partial_\epsilon f(\theta+\epsilon v)|_0]`,
  reverse over forward.

All three are exact to rounding; they differ in cost.  ``hvp_fn`` returns a jitted closure
that recomputes the primal on each call: linearizing once (``jax.linearize``) was measured
to save under 5 % per product on a CPU MLP while storing every residual of the gradient, so
it is not used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from physjax._array_types import Array, ArrayLike, Float, PyTree, Shaped
from physjax._checks import check_choice, is_concrete
from physjax._options import HVPMode

__all__ = [
    "HVPMode",
    "flatten",
    "full_hessian",
    "ggn_vp",
    "hvp",
    "hvp_fn",
    "unflatten",
]


# --------------------------------------------------------------------------- helpers


def flatten(tree: PyTree) -> tuple[Shaped[Array, " p"], Callable[[Array], PyTree]]:
    """Concatenate the leaves of ``tree`` into one vector.

    Returns ``(vector, unflatten)`` where ``unflatten(vector)`` rebuilds the pytree
    (``jax.flatten_util.ravel_pytree``).  The flat index order is the leaf order of
    ``jax.tree.leaves(tree)``, each leaf in C order.
    """
    return ravel_pytree(tree)


def unflatten(like: PyTree, vector: Shaped[ArrayLike, " p"]) -> PyTree:
    """Inverse of :func:`flatten`: reshape ``vector`` into a pytree shaped like ``like``."""
    flat, unravel = ravel_pytree(like)
    if jnp.shape(vector) != flat.shape:
        raise ValueError(f"vector must have shape {flat.shape} (the size of like), got "
                         f"{jnp.shape(vector)}")
    return unravel(vector)


def _tree_vdot(a: PyTree, b: PyTree) -> Array:
    leaves = [jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                             strict=True)]
    return sum(leaves[1:], leaves[0])


def check_params(params: PyTree, name: str = "params") -> int:
    """Validate a parameter pytree; return its total number of entries.

    Every leaf must be a floating array (differentiable); concrete leaves must be finite.
    """
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError(f"{name} must be a pytree with at least one array leaf, got "
                         f"{type(params).__name__} with no leaves")
    size = 0
    for leaf in leaves:
        if not hasattr(leaf, "dtype"):
            leaf = np.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"{name} must contain only floating-point arrays (differentiable), found a "
                f"leaf of dtype {leaf.dtype}; for an Equinox model pass the array part, e.g. "
                f"eqx.partition(model, eqx.is_inexact_array)")
        if is_concrete(leaf) and not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError(f"{name} must be finite, got NaN or infinite entries in a leaf "
                             f"of shape {tuple(np.shape(leaf))}")
        size += int(np.prod(np.shape(leaf), dtype=np.int64))
    if size == 0:
        raise ValueError(f"{name} has no entries (all leaves are empty)")
    return size


def check_scalar_function(f: Callable[..., Any], params: PyTree, name: str = "f") -> None:
    """``f(params)`` must return a real floating scalar (checked abstractly, no FLOPs)."""
    if not callable(f):
        raise TypeError(f"{name} must be a callable f(params) -> scalar, got "
                        f"{type(f).__name__}")
    out = jax.eval_shape(f, params)
    leaves = jax.tree.leaves(out)
    if len(leaves) != 1 or not hasattr(leaves[0], "shape"):
        raise TypeError(f"{name} must return a single scalar array, got a pytree with "
                        f"{len(leaves)} leaves: {out}")
    leaf = leaves[0]
    if leaf.shape != ():
        raise ValueError(f"{name} must return a scalar (shape ()), got shape "
                         f"{tuple(leaf.shape)}; reduce it, e.g. with jnp.mean or jnp.sum")
    if not jnp.issubdtype(leaf.dtype, jnp.floating):
        raise TypeError(f"{name} must return a real floating-point scalar, got dtype "
                        f"{leaf.dtype}")


def check_direction(v: PyTree, params: PyTree, name: str = "v") -> None:
    """``v`` must have the structure and shapes of ``params`` and (if concrete) be finite."""
    if jax.tree.structure(v) != jax.tree.structure(params):
        raise ValueError(f"{name} must have the pytree structure of params, got "
                         f"{jax.tree.structure(v)} instead of {jax.tree.structure(params)}")
    for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(params), strict=True):
        if np.shape(a) != np.shape(b):
            raise ValueError(f"{name} must have the leaf shapes of params, got a leaf of "
                             f"shape {np.shape(a)} where params has {np.shape(b)}")
        if is_concrete(a) and not np.all(np.isfinite(np.asarray(a))):
            raise ValueError(f"{name} must be finite, got NaN or infinite entries")


def guard_finite(x: Shaped[Array, "*shape"], name: str) -> Shaped[Array, "*shape"]:
    """Runtime (under-``jit``) guard: error if a traced array has non-finite entries."""
    if is_concrete(x):
        return x
    return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"{name} must be finite")


def guarded_params(params: PyTree, name: str = "params") -> PyTree:
    """``params`` passed through :func:`guard_finite` (a runtime error under ``jit`` if a
    traced parameter is non-finite)."""
    flat, unravel = ravel_pytree(params)
    if is_concrete(flat):
        return params
    return unravel(guard_finite(flat, name))


def flat_hvp(f: Callable[..., Any], params: PyTree, mode: HVPMode = "fwd-rev"
             ) -> tuple[Callable[[Float[Array, " p"]], Float[Array, " p"]], int, Any]:
    """The Hessian as a linear map on flat vectors: ``(matvec, dim, dtype)`` (no checks).

    Traceable: call it inside a jitted function so that ``params`` are traced arguments.
    """
    flat, unravel = ravel_pytree(params)

    def matvec(x):
        hv = _hvp_unchecked(f, params, unravel(x.astype(flat.dtype)), mode)
        return ravel_pytree(hv)[0]

    return matvec, flat.shape[0], flat.dtype


def _hvp_unchecked(f, params, v, mode):
    if mode == "fwd-rev":
        return jax.jvp(jax.grad(f), (params,), (v,))[1]
    if mode == "rev-rev":
        return jax.grad(lambda p: _tree_vdot(jax.grad(f)(p), v))(params)
    if mode == "rev-fwd":
        return jax.grad(lambda p: jax.jvp(f, (p,), (v,))[1])(params)
    raise ValueError(f"mode must be one of {list(get_args(HVPMode))}, got {mode!r}")


_hvp_jit = eqx.filter_jit(_hvp_unchecked)


# --------------------------------------------------------------------------- public API


def hvp(f: Callable[[PyTree], Float[Array, ""]], params: PyTree, v: PyTree, *,
        mode: HVPMode = "fwd-rev") -> PyTree:
    r"""Hessian-vector product :math:`(Hv)_i = \sum_j \partial_i\partial_j f(\theta)\, v_j`.

    Args:
        f: scalar function of the pytree ``params``.
        params: the point :math:`\theta` (a pytree of floating arrays; never modified).
        v: direction, a pytree with the structure and shapes of ``params``.
        mode: ``"fwd-rev"`` (jvp of grad, default), ``"rev-rev"`` (grad of
            :math:`\nabla f\cdot v`) or ``"rev-fwd"`` (grad of the jvp).

    Returns:
        :math:`Hv` as a pytree shaped like ``params``.

    Raises:
        TypeError/ValueError naming ``f`` if ``f`` does not return a floating scalar,
        ``params`` if it is non-finite or not floating (a run-time error under ``jit``),
        ``v`` if its shapes differ or it is non-finite, ``mode`` if unknown.

    Compiled once per ``f`` and ``mode``; for many products at one point use :func:`hvp_fn`.
    """
    check_choice(mode, "mode", HVPMode)
    check_params(params)
    check_scalar_function(f, params)
    check_direction(v, params)
    return _hvp_jit(f, guarded_params(params), v, mode)


def hvp_fn(f: Callable[[PyTree], Float[Array, ""]], params: PyTree, *, mode: HVPMode = "fwd-rev",
           flat: bool = False) -> Callable[[PyTree], PyTree]:
    r"""A jitted closure :math:`v \mapsto Hv` at the fixed point ``params``.

    Checks ``f`` and ``params`` once, then returns ``matvec`` compiled once per input shape.
    ``params`` is passed to the compiled function as an argument (not baked in as a
    constant), so building the closure for a large model is cheap.

    Args:
        f, params, mode: as in :func:`hvp`.
        flat: if True, ``matvec`` takes and returns flat vectors in the order of
            :func:`flatten` (handy for building linear operators); else pytrees.
    """
    check_choice(mode, "mode", HVPMode)
    check_params(params)
    check_scalar_function(f, params)
    if flat:
        @jax.jit
        def _flat(p, x):
            return flat_hvp(f, p, mode)[0](x)

        return lambda x: _flat(params, x)

    @jax.jit
    def _tree(p, v):
        return _hvp_unchecked(f, p, v, mode)

    return lambda v: _tree(params, v)


def ggn_vp(model_fn: Callable[[PyTree], PyTree], loss_fn: Callable[[PyTree], Float[Array, ""]],
           params: PyTree, v: PyTree) -> PyTree:
    r"""Generalized Gauss-Newton product :math:`G v = J^\top H_\ell\, J v`.

    For a loss :math:`\ell(z(\theta))` of model outputs :math:`z = ` ``model_fn(params)``,
    :math:`J = \partial z/\partial\theta` and :math:`H_\ell = \partial^2\ell/\partial z^2`.
    :math:`G` drops the term :math:`\sum_a \partial_a\ell\,\nabla^2 z_a` of the Hessian, so it
    is positive semi-definite whenever :math:`\ell` is convex in :math:`z` (squared error,
    cross-entropy).  Cost: one jvp and one vjp of ``model_fn`` plus an HVP of ``loss_fn``.

    Args:
        model_fn: ``params -> outputs`` (any pytree of floating arrays).
        loss_fn: ``outputs -> scalar``.
        params: the point :math:`\theta`.
        v: direction shaped like ``params``.
    """
    check_params(params)
    if not callable(model_fn):
        raise TypeError(f"model_fn must be callable, got {type(model_fn).__name__}")
    out_shape = jax.eval_shape(model_fn, params)
    for leaf in jax.tree.leaves(out_shape):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(f"model_fn must return floating-point outputs, got dtype "
                            f"{leaf.dtype}")
    check_scalar_function(loss_fn, out_shape, name="loss_fn")
    check_direction(v, params)
    return _ggn_jit(model_fn, loss_fn, guarded_params(params), v)


@eqx.filter_jit
def _ggn_jit(model_fn, loss_fn, params, v):
    z, vjp_fn = jax.vjp(model_fn, params)
    _, jv = jax.jvp(model_fn, (params,), (v,))
    hjv = jax.jvp(jax.grad(loss_fn), (z,), (jv,))[1]
    return vjp_fn(hjv)[0]


def full_hessian(f: Callable[[PyTree], Float[Array, ""]], params: PyTree, *,
                 flat: bool = True) -> Float[Array, "p p"] | PyTree:
    r"""The dense Hessian :math:`H_{ij} = \partial_i\partial_j f(\theta)` via ``jax.hessian``.

    For small models only: memory :math:`N^2` and cost :math:`N` HVPs.

    Args:
        flat: if True (default) return the :math:`N\times N` matrix in the index order of
            :func:`flatten`; else the nested pytree ``jax.hessian(f)(params)`` whose
            ``[a][b]`` block has shape ``a.shape + b.shape``.
    """
    check_params(params)
    check_scalar_function(f, params)
    return _full_hessian_jit(f, guarded_params(params), bool(flat))


@eqx.filter_jit
def _full_hessian_jit(f, params, flat):
    if not flat:
        return jax.hessian(f)(params)
    x, unravel = ravel_pytree(params)
    return jax.hessian(lambda y: f(unravel(y)))(x)
