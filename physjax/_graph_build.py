"""Host-side helpers for building graphs, shared by :mod:`physjax.graphs` and
:mod:`physjax.networks.packing`: a canonical edge array and a numpy generator seeded from
a jax key."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def canonical_edges(edges) -> np.ndarray:
    """Edges as int64 ``(n_edges, 2)`` with ``a < b`` in every row, rows sorted
    lexicographically (one canonical array per edge set)."""
    e = np.sort(np.asarray(edges, np.int64).reshape(-1, 2), axis=1)
    return e[np.lexsort((e[:, 1], e[:, 0]))]


def host_rng(key) -> np.random.Generator:
    """A numpy generator seeded from a jax key (identical with and without x64)."""
    return np.random.default_rng(np.asarray(jax.random.bits(key, (4,), jnp.uint32)))
