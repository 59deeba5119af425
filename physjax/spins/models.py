"""Spin models: energies and couplings.

The lattice Ising model lives here; dense models (Curie-Weiss, SK, Hopfield) join it.

Conventions used throughout :mod:`physjax.spins`: spins are :math:`s_i=\\pm1`
(stored as ``int8``), :math:`k_B = 1`, and the periodic lattice energy is

.. math::  H(s) = -J \\sum_i \\sum_{a=1}^{d} s_i s_{i+e_a} - h \\sum_i s_i ,

with the neighbour :math:`i+e_a` taken by a periodic ``roll`` along axis ``a``
(for a side of length 2 a pair is therefore counted twice, consistently in the
energy, the samplers and the exact enumeration).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Key, Real, Scalar
from physjax._checks import check_finite, check_shape, check_spins, check_square_symmetric

__all__ = ["DenseIsing", "IsingLattice", "LowRankIsing", "curie_weiss", "lattice_energy",
           "magnetization", "neighbour_sum", "sherrington_kirkpatrick"]


class IsingLattice(eqx.Module):
    """Periodic hypercubic Ising model in 2 or 3 dimensions.

    Any side ``>= 2`` is accepted: the model itself (:func:`lattice_energy`,
    :func:`neighbour_sum`, :func:`magnetization`) is defined for odd sides too.  Every
    sampler (the reference checkerboard engine of :func:`init_ising`/:func:`run_ising` and
    the multi-spin engine of :func:`init_multispin`/:func:`run_multispin`, hence
    :func:`sample_ising` with any ``engine``) updates the two sublattices of a checkerboard,
    which on a periodic lattice needs even sides: those refuse odd sides with a
    ``ValueError`` naming ``model.shape`` before any work.

    Attributes:
        shape: lattice side lengths, e.g. ``(64, 64)`` or ``(16, 16, 16)`` (static).
        J: nearest-neighbour coupling (``J > 0`` ferromagnetic).
        h: uniform external field.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    J: Array
    h: Array

    def __init__(self, shape, J=1.0, h=0.0):
        self.shape = check_shape(shape, "shape", dims=(2, 3), minimum=2)
        self.J = jnp.asarray(check_finite(J, "J"), dtype=float)
        self.h = jnp.asarray(check_finite(h, "h"), dtype=float)
        if self.J.ndim or self.h.ndim:
            raise ValueError(f"J and h must be scalars, got shapes {self.J.shape} and "
                             f"{self.h.shape}; vmap over models for several couplings")

    @property
    def n_spins(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def dimension(self) -> int:
        return len(self.shape)

    @property
    def coordination(self) -> int:
        """Number of nearest neighbours z = 2d."""
        return 2 * len(self.shape)


def _check_lattice_spins(model: IsingLattice, spins) -> Array:
    spins = jnp.asarray(check_spins(spins, "spins"))
    if spins.shape != model.shape:
        raise ValueError(f"spins must have the lattice shape {model.shape}, got {spins.shape}; "
                         f"vmap over replicas")
    return spins


def neighbour_sum(spins: Real[Array | np.ndarray, "*lattice"]) -> Int[Array, "*lattice"]:
    """Sum of the 2d nearest neighbours of every site, :math:`\\sum_{j\\in\\partial i} s_j`."""
    s = spins.astype(jnp.int32)
    total = jnp.zeros_like(s)
    for axis in range(s.ndim):
        total = total + jnp.roll(s, 1, axis) + jnp.roll(s, -1, axis)
    return total


def lattice_energy(model: IsingLattice, spins: Real[ArrayLike, "*lattice"]) -> Float[Array, ""]:
    """Total energy :math:`H(s) = -J\\sum_i\\sum_a s_i s_{i+e_a} - h\\sum_i s_i`."""
    spins = _check_lattice_spins(model, spins)
    s = spins.astype(jnp.int32)
    bonds = sum(jnp.sum(s * jnp.roll(s, -1, axis)) for axis in range(s.ndim))
    return -model.J * bonds - model.h * jnp.sum(s)


def magnetization(spins: Real[Array | np.ndarray, "*lattice"]) -> Float[Array, ""]:
    """Magnetization per spin :math:`m = \\sum_i s_i / N` (over the trailing lattice axes of a
    single configuration)."""
    return jnp.mean(spins.astype(jnp.float32 if spins.dtype != jnp.float64 else spins.dtype))


# ------------------------------------------------------------------ dense models

def _check_square_symmetric(J, name="J"):
    return check_square_symmetric(jnp.asarray(check_finite(J, name)), name)


def _field_vector(h, n, name="h"):
    h = jnp.asarray(check_finite(h, name), dtype=float)
    if h.ndim == 0:
        h = jnp.full((n,), h)
    if h.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {h.shape}")
    return h


class DenseIsing(eqx.Module):
    """Ising model with arbitrary symmetric couplings (Curie-Weiss, SK, any symmetric J).

    .. math::
        H(\\sigma) = -\\tfrac12 \\sum_{i\\ne j} J_{ij}\\sigma_i\\sigma_j - \\sum_i h_i\\sigma_i .

    The diagonal of ``J`` is set to zero (a self-coupling only adds a constant to H and
    would bias the single-spin dynamics).  The local field is
    :math:`\\phi_i = \\sum_{j\\ne i} J_{ij}\\sigma_j + h_i`, summed in floating point: it
    is exact (so an exactly zero field stays zero) when the products and partial sums are
    representable, e.g. for integer couplings; for real couplings it carries the rounding
    of an N-term sum.
    """

    J: Array
    h: Array

    def __init__(self, J, h=0.0):
        J = _check_square_symmetric(J, "J").astype(float)
        self.J = J * (1 - jnp.eye(J.shape[0], dtype=J.dtype))
        self.h = _field_vector(h, J.shape[0])

    @property
    def n_spins(self) -> int:
        return self.J.shape[0]

    def couplings(self) -> Float[Array, "n n"]:
        """The (N, N) coupling matrix with zero diagonal."""
        return self.J

    # -- the block-sequential samplers of physjax.spins.dense work with unscaled fields:
    #    phi_b = field_scale * (block_fields + block_couplings @ dspins_b) + h_b
    field_scale = 1.0

    def field_cache(self, spins: Float[Array | np.ndarray, " n"]) -> Float[Array, " 0"]:
        return jnp.zeros((0,), spins.dtype)

    def block_fields(self, cache: Float[ArrayLike, " 0"], spins: Float[ArrayLike, " n"],
                     idx: Int[ArrayLike, " b"]) -> Float[Array, " b"]:
        return self.J[idx] @ spins

    def block_couplings(self, idx: Int[ArrayLike, " b"]) -> Float[Array, "b b"]:
        return self.J[idx][:, idx]

    def update_cache(self, cache: Float[Array, " 0"], idx: Int[ArrayLike, " b"],
                     dspins: Float[ArrayLike, " b"]) -> Float[Array, " 0"]:
        return cache

    def fields(self, spins: Real[ArrayLike, " n"]) -> Float[Array, " n"]:
        return self.J @ spins + self.h

    def energy(self, spins: Real[ArrayLike, " n"]) -> Float[Array, ""]:
        s = jnp.asarray(spins, dtype=self.J.dtype)
        return -0.5 * s @ (self.J @ s) - self.h @ s


class LowRankIsing(eqx.Module):
    r"""Couplings of low rank, :math:`J = \xi^T A \xi / N` with zero diagonal.

    ``patterns`` :math:`\xi` has shape (K, N).  The K x K kernel A is the identity (Hebb)
    unless ``kernel`` (a symmetric matrix, e.g. the dreaming kernel (1+t)(I+tC)^{-1}) or
    ``weights`` (a diagonal :math:`A = \mathrm{diag}(w)`, e.g. 0/1 to switch patterns on
    and off while the pattern matrix stays shared across a sweep) is given.  Samplers keep
    the K unnormalized overlaps :math:`M = \xi\sigma = N m` up to date, so a spin update
    costs O(K) (O(K^2) per block of spins with a full kernel) instead of O(N).  Same energy
    and dynamics as ``DenseIsing(J, h)`` with this J.

    Exact fields.  The local field is computed as
    :math:`\phi_i = [\xi_i^T A M - D_{i}\sigma_i]/N + h_i` with
    :math:`D_i = (\xi^TA\xi)_{ii}` (``diagonal``): for integer patterns and an integer
    kernel or weights (Hebb, 0/1 active patterns) every term and partial sum is an integer,
    exact in floating point while below :math:`2^{24}` in float32 (:math:`2^{53}` in
    float64; for Hebb with :math:`\pm1` patterns every partial sum is at most N K), so a
    field that is exactly zero is computed as zero and its spin is kept by
    zero-temperature dynamics.  (With Mattis overlaps
    :math:`m = M/N` instead, the rounding of :math:`1/N` gives a zero field a value of order
    1e-7 of either sign, and such a spin can flip back and forth for ever.)  Real-valued
    patterns or kernels (dreaming) are rounded as any floating-point sum.
    """

    patterns: Array
    kernel: Array | None
    weights: Array | None
    h: Array
    diagonal: Array

    def __init__(self, patterns, kernel=None, h=0.0, *, weights=None):
        xi = jnp.asarray(check_finite(patterns, "patterns"), dtype=float)
        if xi.ndim != 2 or xi.shape[0] == 0:
            raise ValueError(f"patterns must have shape (K, N) with K >= 1, got {xi.shape}")
        K, N = xi.shape
        if kernel is not None and weights is not None:
            raise ValueError("give kernel or weights, not both")
        A = None if kernel is None else _check_square_symmetric(kernel, "kernel").astype(
            xi.dtype)
        if A is not None and A.shape != (K, K):
            raise ValueError(f"kernel must have shape ({K}, {K}) for {K} patterns, "
                             f"got {A.shape}")
        w = None if weights is None else jnp.asarray(check_finite(weights, "weights"),
                                                     dtype=xi.dtype)
        if w is not None and w.shape != (K,):
            raise ValueError(f"weights must have shape ({K},) for {K} patterns, got {w.shape}")
        self.patterns, self.kernel, self.weights = xi, A, w
        self.h = _field_vector(h, N)
        self.diagonal = jnp.einsum("ki,ki->i", xi, self.apply_kernel(xi))

    @property
    def n_spins(self) -> int:
        return self.patterns.shape[1]

    @property
    def self_coupling(self) -> Float[Array, " n"]:
        r""":math:`(\xi^TA\xi)_{ii}/N`, the diagonal removed from J."""
        return self.diagonal / self.n_spins

    @property
    def field_scale(self) -> float:
        return 1.0 / self.n_spins

    def apply_kernel(self, v: Float[Array, " k *rest"]) -> Float[Array, " k *rest"]:
        r""":math:`A v` along the leading (pattern) axis of ``v``."""
        if self.kernel is not None:
            return jnp.tensordot(self.kernel, v, axes=1)
        if self.weights is not None:
            return self.weights.reshape(self.weights.shape + (1,) * (v.ndim - 1)) * v
        return v

    def couplings(self) -> Float[Array, "n n"]:
        """The dense (N, N) coupling matrix with zero diagonal (O(N^2) memory)."""
        J = self.patterns.T @ self.apply_kernel(self.patterns) / self.n_spins
        return J * (1 - jnp.eye(self.n_spins, dtype=J.dtype))

    # -- unscaled (times N) fields and couplings for the block-sequential samplers
    def field_cache(self, spins: Real[ArrayLike, " n"]) -> Float[Array, " k"]:
        r"""The unnormalized overlaps :math:`M = \xi\sigma`."""
        return self.patterns @ spins

    def block_fields(self, cache: Float[Array, " k"], spins: Float[ArrayLike, " n"],
                     idx: Int[ArrayLike, " b"]) -> Float[Array, " b"]:
        return (self.patterns[:, idx].T @ self.apply_kernel(cache)
                - self.diagonal[idx] * spins[idx])

    def block_couplings(self, idx: Int[Array | np.ndarray, " b"]) -> Float[Array, "b b"]:
        xb = self.patterns[:, idx]
        G = xb.T @ self.apply_kernel(xb)
        return G * (1 - jnp.eye(idx.shape[0], dtype=G.dtype))

    def update_cache(self, cache: Float[ArrayLike, " k"], idx: Int[ArrayLike, " b"],
                     dspins: Float[ArrayLike, " b"]) -> Float[Array, " k"]:
        return cache + self.patterns[:, idx] @ dspins

    def fields(self, spins: Real[ArrayLike, " n"]) -> Float[Array, " n"]:
        M = self.field_cache(spins)
        return (self.patterns.T @ self.apply_kernel(M) - self.diagonal * spins) / self.n_spins \
            + self.h

    def energy(self, spins: Real[ArrayLike, " n"]) -> Float[Array, ""]:
        s = jnp.asarray(spins, dtype=self.patterns.dtype)
        M = self.field_cache(s)
        return -(M @ self.apply_kernel(M) - jnp.sum(self.diagonal)) / (2 * self.n_spins) \
            - self.h @ s


def curie_weiss(n_spins: int, J: Scalar = 1.0, h: Scalar | Real[ArrayLike, " n"] = 0.0,
                ) -> DenseIsing:
    """Curie-Weiss model: all-to-all couplings J/N (mean-field ferromagnet)."""
    from physjax._checks import check_positive_int
    n = check_positive_int(n_spins, "n_spins", minimum=2)
    check_finite(J, "J")
    return DenseIsing(jnp.full((n, n), J / n), h)


def sherrington_kirkpatrick(key: Key, n_spins: int, J: Scalar = 1.0,
                            h: Scalar | Real[ArrayLike, " n"] = 0.0) -> DenseIsing:
    """SK spin glass: :math:`J_{ij} = J_{ji} \\sim \\mathcal N(0, J^2/N)` for i < j."""
    from physjax._checks import check_positive_int
    n = check_positive_int(n_spins, "n_spins", minimum=2)
    check_finite(J, "J")
    g = jax.random.normal(key, (n, n)) * (J / np.sqrt(n))
    upper = jnp.triu(g, 1)
    return DenseIsing(upper + upper.T, h)
