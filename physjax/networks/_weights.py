"""The check of per-edge weights (resistor conductances, spring stiffnesses) shared by
:mod:`~physjax.networks.resistor` and :mod:`~physjax.networks.spring`."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from physjax._checks import is_concrete


def check_edge_weights(weights, n_edges: int, name: str, *, not_finite: str, not_positive: str):
    """``weights`` as an array of shape ``(..., n_edges)``, finite and > 0 when concrete
    (tracers pass); ``ValueError`` naming ``name`` otherwise.  The two value errors are
    worded by the caller: ``not_finite`` and ``not_positive`` are :meth:`str.format`
    templates with the fields ``name``, ``count`` (non-finite entries), ``edges`` (up to 10
    edges with a weight <= 0) and ``minimum``."""
    k = jnp.asarray(weights)
    if k.ndim < 1 or k.shape[-1] != n_edges:
        raise ValueError(f"{name} must have shape (..., n_edges={n_edges}), got {tuple(k.shape)}")
    if is_concrete(k):
        kk = np.asarray(k)
        if not np.all(np.isfinite(kk)):
            raise ValueError(not_finite.format(name=name, count=int(np.sum(~np.isfinite(kk)))))
        if np.any(kk <= 0):
            bad = np.flatnonzero(np.reshape(kk, (-1, kk.shape[-1])).min(0) <= 0)
            raise ValueError(
                not_positive.format(name=name, edges=bad[:10].tolist(), minimum=kk.min())
            )
    return k
