"""Leafwise algebra on pytrees of arrays (the flat vector of all leaves is what the
spherical constraint normalizes), and the divergence guard of the dynamics steps (a state
that turns non-finite is frozen)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _vdot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                                  strict=True))


def _sqnorm(a):
    return _vdot(a, a)


def _size(a) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(a))


def _axpy(alpha, x, y):
    """alpha * x + y, leafwise (alpha a scalar)."""
    return jax.tree.map(lambda u, v: (alpha * u + v).astype(v.dtype), x, y)


def _scale(alpha, x):
    return jax.tree.map(lambda u: (alpha * u).astype(u.dtype), x)


def _normal_like(key, tree):
    leaves, treedef = jax.tree.flatten(tree)
    keys = [key] if len(leaves) == 1 else jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [jax.random.normal(k, (x.size,), x.dtype).reshape(x.shape)
                  for k, x in zip(keys, leaves, strict=True)])


def _all_finite(*trees):
    ok = jnp.array(True)
    for t in trees:
        for x in jax.tree.leaves(t):
            ok = ok & jnp.all(jnp.isfinite(x))
    return ok


def _freeze_diverged(old, new, ok):
    """``new`` where ``ok`` and the run has not diverged yet, else ``old`` (a state with
    ``step`` and ``diverged_at`` fields: -1 while finite, else the 1-based index of the step
    that went non-finite; a diverged run stays frozen).  Returns (state, accepted)."""
    running = old.diverged_at < 0
    accept = ok & running
    out = jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, old)
    failed = running & ~ok
    out = out._replace(diverged_at=jnp.where(failed, old.step + 1, old.diverged_at)
                       .astype(jnp.int32))
    return out, accept


def _tangent(x, v, n):
    """Projection of ``v`` on the tangent space of the sphere |x|^2 = n at ``x``."""
    return _axpy(-_vdot(x, v) / n, x, v)


def _to_sphere(x, n):
    """Radial renormalization x <- sqrt(n) x / |x|."""
    return _scale(jnp.sqrt(n / _sqnorm(x)), x)
