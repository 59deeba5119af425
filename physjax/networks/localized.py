r"""Maximally localized basis of the low modes of a physical Hessian (seed 000), binarized
modes, boundary edges and the weighted boundary frequency.

Given n orthonormal low modes :math:`\Psi = (\psi_1 \dots \psi_n)` of a physical Hessian
(resistor Laplacian: one degree of freedom per node; spring dynamical matrix: d per node,
node-major), every orthogonal :math:`U \in O(n)` gives another orthonormal basis
:math:`\Psi' = \Psi U` of the same subspace.  The spread functional (seed 000; Foster--Boys,
Marzari--Vanderbilt) is

.. math:: \Omega[\Psi'] = \sum_i \big(\psi_i'^\top R^2 \psi_i' - (\psi_i'^\top R\psi_i')^2\big)
          = \mathrm{Tr}\,\Psi^\top R^2\Psi - \sum_i\sum_\alpha (U^\top M_\alpha U)_{ii}^2,

with :math:`R` the (diagonal) position operator of the node carrying each degree of freedom
and :math:`M_\alpha = \Psi^\top X_\alpha \Psi` (:math:`n\times n`), so each step costs
:math:`O(n^3)`.  In a periodic box the position is replaced by the Resta phase:
:math:`\Omega = \sum_i\sum_\alpha (L_\alpha/2\pi)^2 (1 - |\psi_i^\top e^{2\pi i X_\alpha/
L_\alpha}\psi_i|^2)`.

Minimization: gradient descent on the orthogonal group, :math:`U = U_0\,\mathrm{cay}(A -
A^\top)` with the Cayley map :math:`\mathrm{cay}(S) = (I - S)^{-1}(I + S)` (orthogonal for
skew S; cheaper to compile than :math:`\exp`), with an Optax optimizer on A (default
:data:`DESCENT`: gradient descent with an Armijo backtracking line search; any Optax
transformation, e.g. ``optax.lbfgs()``, can be passed).  A step that would increase
:math:`\Omega` is rejected, so the recorded spread never increases; every
``recentre_every`` steps the rotation is absorbed into :math:`U_0` and A reset to 0, which
keeps U orthogonal to round-off.

Seed 000's analysis: binarize each localized mode (node in or out of the mode's region),
mark the *boundary edges* joining nodes on different sides, combine the boundaries of the
modes, and weight by :math:`1/\sqrt{N_m}` (the number of boundary edges grows like
:math:`\sqrt{N_m}`): :math:`f_e = \sum_{N_m=1}^{M} n_e(N_m)/\sqrt{N_m}`, where
:math:`n_e(N_m) = 1` if edge e is a boundary edge of the maximally localized basis built
from the lowest :math:`N_m` modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from physjax import graphs as _graphs
from physjax._array_types import Array, ArrayLike, Bool, Float, Key, Real, Scalar, Shaped
from physjax._checks import check_finite, check_positive_int

#: A periodic box: side lengths, shape ``(d,)``.
Box = Real[ArrayLike, " d"] | Sequence[float]

__all__ = [
    "DESCENT",
    "LocalizedBasis",
    "binarize_modes",
    "boundary_edges",
    "boundary_frequency",
    "maximally_localized_basis",
    "node_weights",
    "spread_functional",
]


def _operators(vectors, positions, box):
    """Position (or phase) matrices M_α = Ψᵀ X_α Ψ and the constant Tr ΨᵀR²Ψ."""
    n_dof = vectors.shape[0]
    n_nodes, dim = positions.shape
    comp = n_dof // n_nodes
    x = jnp.repeat(positions, comp, axis=0)          # position of the node of every dof
    if box is None:
        mats = jnp.einsum("da,di,dj->aij", x, vectors, vectors)
        const = jnp.sum(jnp.sum(x**2, 1)[:, None] * vectors**2)
        return mats, const, None
    phase = jnp.exp(2j * jnp.pi * x / box)
    mats = jnp.einsum("da,di,dj->aij", phase, vectors.astype(phase.dtype),
                      vectors.astype(phase.dtype))
    return mats, None, (jnp.asarray(box) / (2 * jnp.pi)) ** 2


def _spread(u, mats, const, scale):
    diag = jnp.einsum("ki,akl,li->ai", u, mats, u)
    if scale is None:
        return const - jnp.sum(diag**2)
    return jnp.sum(scale[:, None] * (1.0 - jnp.abs(diag) ** 2))


def _check_inputs(vectors, positions, box):
    v = jnp.asarray(check_finite(vectors, "modes"))
    x = jnp.asarray(check_finite(positions, "positions"))
    if v.ndim != 2 or x.ndim != 2:
        raise ValueError(f"modes must be (n_dof, n_modes) and positions (n_nodes, dim), got "
                         f"{v.shape} and {x.shape}")
    if v.shape[0] % x.shape[0]:
        raise ValueError(f"modes have {v.shape[0]} rows, not a multiple of n_nodes = "
                         f"{x.shape[0]} (one or d degrees of freedom per node)")
    if box is not None:
        box = jnp.asarray(check_finite(box, "box"), x.dtype)
        if box.shape != (x.shape[1],):
            raise ValueError(f"box must have shape ({x.shape[1]},), got {box.shape}")
    return v, x, box


def spread_functional(modes: Float[ArrayLike, "dof m"], positions: Real[ArrayLike, "n d"], *,
                      box: Box | None = None) -> Float[Array, ""]:
    r""":math:`\Omega = \sum_i(\psi_i^\top R^2\psi_i - (\psi_i^\top R\psi_i)^2)` of the
    columns of ``modes`` (``(n_dof, n)``, node-major), node ``positions`` ``(n_nodes, d)``;
    the Resta form in a periodic ``box``."""
    v, x, box = _check_inputs(modes, positions, box)
    mats, const, scale = _operators(v, x, box)
    return _spread(jnp.eye(v.shape[1], dtype=v.dtype), mats, const, scale)


class LocalizedBasis(NamedTuple):
    """Result of :func:`maximally_localized_basis`: the localized ``vectors`` (n_dof, n)
    = modes @ ``rotation``; ``spread`` Ω before each step and after the last
    (``n_steps + 1``,)."""

    vectors: jax.Array
    rotation: jax.Array
    spread: jax.Array


def maximally_localized_basis(key: Key, modes: Float[ArrayLike, "dof m"],
                              positions: Real[ArrayLike, "n d"], *, n_steps: int = 200,
                              box: Box | None = None,
                              optimizer: optax.GradientTransformation | None = None,
                              recentre_every: int = 50,
                              initial_rotation_scale: Scalar = 0.0) -> LocalizedBasis:
    r"""Minimize the spread :math:`\Omega` over rotations of the input ``modes`` (module docs).

    ``modes`` (n_dof, n) must be orthonormal columns (e.g. from ``eigh``).  ``key`` draws a
    random initial rotation :math:`\mathrm{cay}(s(B - B^\top))`, ``s`` =
    ``initial_rotation_scale``
    (0: start from the modes themselves), to break symmetries of the starting point.
    """
    v, x, box = _check_inputs(modes, positions, box)
    n_steps = check_positive_int(n_steps, "n_steps")
    recentre_every = check_positive_int(recentre_every, "recentre_every")
    return _localized(key, v, x, box, optimizer, n_steps, recentre_every,
                      initial_rotation_scale, jnp.ones((v.shape[1],) * 2, v.dtype))


#: default optimizer: gradient descent with an Armijo backtracking line search whose step
#: grows (x2) after each success -- every accepted step decreases Omega.  (optax.lbfgs also
#: works, via ``optimizer=``, but compiles ~4x slower.)
DESCENT = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(
    max_backtracking_steps=40, decrease_factor=0.5, increase_factor=2.0,
    max_learning_rate=1e6))


def _localized(key, v, x, box, optimizer, n_steps, recentre_every, scale0, mask):
    """Localize; only the entries of A where ``mask`` is 1 rotate (one compiled program
    serves every sub-block size, see :func:`boundary_frequency`)."""
    opt = optax.with_extra_args_support(DESCENT if optimizer is None else optimizer)
    n = v.shape[1]
    b = jax.random.normal(key, (n, n), v.dtype) * mask
    u0 = _cayley(scale0 * (b - b.T))
    u, history = _localize(v, x, box, u0, mask, opt, n_steps, recentre_every)
    return LocalizedBasis(v @ u, u, history)


def _cayley(s):
    """Cayley map of a skew-symmetric s: (I - s)^{-1}(I + s), orthogonal to round-off."""
    eye = jnp.eye(s.shape[0], dtype=s.dtype)
    return jnp.linalg.solve(eye - s, eye + s)


@eqx.filter_jit
def _localize(v, x, box, u0, mask, opt, n_steps, recentre_every):
    mats, const, scale = _operators(v, x, box)
    n = v.shape[1]

    def run(u0):
        def omega(a, u_ref):
            a = a * mask
            return _spread(u_ref @ _cayley(a - a.T), mats, const, scale)

        value_and_grad = jax.value_and_grad(omega)

        def step(carry, _):
            a, state, u_ref, value = carry
            val, grad = value_and_grad(a, u_ref)
            upd, new_state = opt.update(grad, state, a, value=val, grad=grad,
                                        value_fn=omega, u_ref=u_ref)
            new_a = optax.apply_updates(a, upd)
            new_val = omega(new_a, u_ref)
            ok = jnp.isfinite(new_val) & (new_val <= val)
            a = jnp.where(ok, new_a, a)
            state = jax.tree.map(lambda s1, s0: jnp.where(ok, s1, s0), new_state, state)
            return (a, state, u_ref, jnp.where(ok, new_val, val)), val

        def block(carry, _):
            u_ref, value = carry
            a = jnp.zeros((n, n), v.dtype)
            (a, _, u_ref, value), vals = jax.lax.scan(
                step, (a, opt.init(a), u_ref, value), None, length=recentre_every)
            a = a * mask
            u_ref = u_ref @ _cayley(a - a.T)
            return (u_ref, value), vals

        n_blocks = -(-n_steps // recentre_every)
        v0 = _spread(u0, mats, const, scale)
        (u, value), vals = jax.lax.scan(block, (u0, v0), None, length=n_blocks)
        return u, jnp.concatenate([vals.reshape(-1)[:n_steps], value[None]])

    return run(u0)


def node_weights(vectors: Float[ArrayLike, "dof m"], n_nodes: int) -> Float[Array, "m n"]:
    r"""Per-node values of mode vectors (``(n_dof, n)`` -> ``(n, n_nodes)``): the signed
    value for one degree of freedom per node, :math:`|\psi_{node}|` for d per node."""
    n_nodes = check_positive_int(n_nodes, "n_nodes")
    v = jnp.asarray(check_finite(vectors, "vectors"))
    if v.ndim != 2 or v.shape[0] % n_nodes:
        raise ValueError(f"vectors must be (n_dof, n_modes) with n_dof a multiple of n_nodes = "
                         f"{n_nodes}, got {v.shape}")
    comp = v.shape[0] // n_nodes
    if comp == 1:
        return v.T
    return jnp.linalg.norm(v.T.reshape(v.shape[1], n_nodes, comp), axis=-1)


def binarize_modes(vectors: Float[ArrayLike, "dof m"], n_nodes: int, *,
                   threshold: Scalar = 0.5) -> Bool[Array, "m n"]:
    r"""Binarized modes, ``(n, n_nodes)`` booleans: node in the region of mode i when its
    value, signed towards the mode's peak, is at least ``threshold`` times the peak
    :math:`\max|\psi_{node}|`."""
    check_finite(threshold, "threshold")
    w = node_weights(vectors, n_nodes)
    peak = jnp.take_along_axis(w, jnp.argmax(jnp.abs(w), axis=1)[:, None], axis=1)
    return w * jnp.sign(peak) >= threshold * jnp.abs(peak)


def boundary_edges(graph: _graphs.Graph, binary: Shaped[ArrayLike, "m n"]) -> Bool[Array, "m e"]:
    """Edges joining nodes on different sides of each binarized mode: ``(n, n_edges)``."""
    b = jnp.asarray(binary)
    if b.ndim != 2 or b.shape[1] != graph.n_nodes:
        raise ValueError(f"binary must have shape (n_modes, n_nodes={graph.n_nodes}), got "
                         f"{b.shape}")
    e = graph.edges
    return b[:, e[:, 0]] != b[:, e[:, 1]]


def boundary_frequency(key: Key, graph: _graphs.Graph, modes: Float[ArrayLike, "dof _m"],
                       positions: Real[ArrayLike, "n d"], max_modes: int, *,
                       box: Box | None = None, threshold: Scalar = 0.5, n_steps: int = 100,
                       **localize_kw: Any) -> tuple[Float[Array, " e"], Bool[Array, "mm e"]]:
    r"""Weighted boundary frequency :math:`f_e = \sum_{N_m=1}^{M} n_e(N_m)/\sqrt{N_m}` and the
    combined boundary masks :math:`n_e(N_m)` (``(M, n_edges)``), localizing the lowest
    :math:`N_m` columns of ``modes`` for every :math:`N_m \le M` = ``max_modes``."""
    max_modes = check_positive_int(max_modes, "max_modes")
    n_steps = check_positive_int(n_steps, "n_steps")
    modes, x, box = _check_inputs(modes, positions, box)
    if max_modes > modes.shape[1]:
        raise ValueError(f"max_modes={max_modes} exceeds the {modes.shape[1]} modes given")
    modes = modes[:, :max_modes]
    optimizer = localize_kw.pop("optimizer", None)
    recentre = localize_kw.pop("recentre_every", 50)
    scale0 = localize_kw.pop("initial_rotation_scale", 0.0)
    if localize_kw:
        raise TypeError(f"unexpected arguments {sorted(localize_kw)}")
    masks = []
    idx = jnp.arange(max_modes)
    for m in range(1, max_modes + 1):
        # rotate only the lowest m modes; the others stay as they are (constant spread)
        block = ((idx[:, None] < m) & (idx[None, :] < m)).astype(modes.dtype)
        loc = _localized(jax.random.fold_in(key, m), modes, x, box, optimizer, n_steps,
                         recentre, scale0, block)
        binary = binarize_modes(loc.vectors, graph.n_nodes, threshold=threshold)
        masks.append(jnp.any(boundary_edges(graph, binary) & (idx < m)[:, None], axis=0))
    masks = jnp.stack(masks)
    weights = 1.0 / jnp.sqrt(jnp.arange(1, max_modes + 1, dtype=modes.dtype))
    return weights @ masks.astype(modes.dtype), masks
