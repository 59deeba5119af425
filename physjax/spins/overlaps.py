"""Overlaps for dense spin systems: Mattis overlaps, replica overlaps, P(q), Hamming distance.

Spins are +-1 with the site axis last (other values are refused, naming the argument); any
leading axes broadcast.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Real
from physjax._checks import check_finite, check_positive_int, check_spins

__all__ = ["mattis_overlaps", "replica_overlap", "overlap_matrix", "overlap_histogram",
           "hamming_to_nearest_pattern"]


def _patterns(patterns):
    xi = jnp.asarray(check_finite(patterns, "patterns"))
    if xi.ndim != 2:
        raise ValueError(f"patterns must have shape (K, N), got {xi.shape}")
    return xi


def _site_axis(spins, n, name="spins"):
    s = jnp.asarray(check_spins(spins, name))
    if s.shape[-1:] != (n,):
        raise ValueError(f"{name} must have N = {n} sites on the last axis, got {s.shape}")
    return s


def mattis_overlaps(patterns: Real[ArrayLike, "k n"], spins: Real[ArrayLike, "*batch n"],
                    ) -> Float[Array, "*batch k"]:
    """:math:`m_\\mu = \\xi^\\mu\\cdot\\sigma/N` for all K patterns: shape (..., K)."""
    xi = _patterns(patterns)
    s = _site_axis(spins, xi.shape[1])
    return s.astype(xi.dtype) @ xi.T / xi.shape[1]


def replica_overlap(spins_a: Real[ArrayLike, "*#batch n"], spins_b: Real[ArrayLike, "*#batch n"],
                    ) -> Float[Array, "*#batch"]:
    """:math:`q_{ab} = \\sigma^a\\cdot\\sigma^b/N` (site axis last)."""
    a = jnp.asarray(check_spins(spins_a, "spins_a"))
    b = _site_axis(spins_b, a.shape[-1], "spins_b")
    return jnp.sum(a * b, axis=-1) / a.shape[-1]


def overlap_matrix(spins: Real[ArrayLike, "*batch r n"]) -> Float[Array, "*batch r r"]:
    """All :math:`q_{ab}` of replicas on axis -2: shape (..., R, R)."""
    s = jnp.asarray(check_spins(spins, "spins"))
    if s.ndim < 2:
        raise ValueError(f"spins must have shape (..., R, N) with replicas on axis -2, got "
                         f"{s.shape}")
    return s @ jnp.swapaxes(s, -1, -2) / s.shape[-1]


def overlap_histogram(spins: Real[ArrayLike, "*batch r n"], bins: int = 41,
                      ) -> tuple[Float[np.ndarray, " bins"], Float[np.ndarray, " bins"]]:
    """Histogram P(q) of the overlaps of all distinct replica pairs (axis -2 = replicas,
    leading axes pooled, e.g. time).  Returns (bin centres, density)."""
    check_positive_int(bins, "bins")
    q = np.asarray(overlap_matrix(spins))
    R = q.shape[-1]
    if R < 2:
        raise ValueError(f"spins must hold at least 2 replicas on axis -2, got {R}")
    iu = np.triu_indices(R, 1)
    values = q[..., iu[0], iu[1]].ravel()
    density, edges = np.histogram(values, bins=bins, range=(-1, 1), density=True)
    return 0.5 * (edges[1:] + edges[:-1]), density


def hamming_to_nearest_pattern(patterns: Real[ArrayLike, "k n"],
                               spins: Real[ArrayLike, "*batch n"], *, symmetric: bool = True,
                               ) -> tuple[Int[Array, "*batch"], Int[Array, "*batch"]]:
    """Smallest Hamming distance :math:`(N - \\xi^\\mu\\cdot\\sigma)/2` to any pattern, and its
    index.  With ``symmetric`` the reversed patterns :math:`-\\xi^\\mu` count too (the
    Hopfield energy is even in :math:`\\sigma`)."""
    xi = _patterns(patterns)
    N = xi.shape[1]
    overlap = mattis_overlaps(xi, spins) * N
    if symmetric:
        overlap = jnp.abs(overlap)
    best = jnp.argmax(overlap, axis=-1)
    dist = (N - jnp.max(overlap, axis=-1)) / 2
    return jnp.round(dist).astype(jnp.int32), best
