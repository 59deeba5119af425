"""Krylov machinery shared by the curvature estimators (:mod:`~physjax.curvature.lanczos`,
:mod:`~physjax.curvature.eigen`, :mod:`~physjax.curvature.trace`,
:mod:`~physjax.curvature.density`, :mod:`~physjax.curvature.landscape`): Lanczos steps with
full reorthogonalization and restarts, operator and start-vector checks, probe vectors and
batched maps."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import is_concrete

HI = jax.lax.Precision.HIGHEST  #: full float32 precision in every Krylov product


def breakdown_vector(B, j, dtype):
    """A unit vector orthogonal to the rows of ``B`` (zero if none exists numerically).

    Deterministic and cheap: a quasi-random cosine vector (no PRNG inside the scan) made
    orthogonal to ``B`` by two Gram-Schmidt passes.
    """
    i = jnp.arange(B.shape[1], dtype=dtype)
    phase = (j + 1).astype(dtype)
    r = jnp.cos(2.399963 * i * phase + 0.7548777 * i * i / B.shape[1] + phase)
    r = r / jnp.linalg.norm(r)
    for _ in range(2):
        r = r - jnp.dot(jnp.dot(B, r, precision=HI), B, precision=HI)
    nr = jnp.linalg.norm(r)
    return jnp.where(nr > 1e-3, r / jnp.where(nr > 0, nr, 1), 0.0)


def krylov_steps(matvec, B, H, anorm, n, *, start=None, reortho=True, stop=None):
    """Lanczos steps j = 0 .. n-1 on the basis ``B`` (m+1, dim); with a (traced) ``start``,
    steps j < start are skipped (one compiled loop serves the first cycle and restarts).

    ``H`` (m+1, m) receives the projection coefficients: column j holds
    :math:`q_i^\top H q_j` for i <= j and :math:`\beta_j` at row j+1.  With ``stop``, a
    function ``(H, a) -> bool`` of the projection after ``a`` steps, the steps run in a
    ``while_loop`` that ends as soon as it returns True.  Returns ``(B, H, anorm, a)``.
    """
    dim = B.shape[1]
    dtype = B.dtype
    eps = jnp.finfo(dtype).eps

    def step(carry, j):
        B, H, anorm = carry
        q = B[j]
        w = matvec(q).astype(dtype)
        anorm = jnp.maximum(anorm, jnp.linalg.norm(w))
        if reortho:
            h = jnp.dot(B, w, precision=HI)
            w = w - jnp.dot(h, B, precision=HI)
            h2 = jnp.dot(B, w, precision=HI)
            w = w - jnp.dot(h2, B, precision=HI)
            h = h + h2
        else:
            alpha = jnp.dot(q, w, precision=HI)
            beta_prev = jnp.where(j > 0, H[j, j - 1], 0.0)
            w = w - alpha * q - beta_prev * B[j - 1]
            h = jnp.zeros(B.shape[0], dtype).at[j].set(alpha)
            h = h.at[j - 1].set(jnp.where(j > 0, beta_prev, h[j - 1]))
        beta = jnp.linalg.norm(w)
        broke = beta <= jnp.sqrt(dim) * eps * anorm
        q_next, beta = jax.lax.cond(
            broke,
            lambda: (breakdown_vector(B, j, dtype), jnp.zeros((), dtype)),
            lambda: (w / jnp.where(beta > 0, beta, 1), beta))
        B = B.at[j + 1].set(q_next)
        H = H.at[:, j].set(h.at[j + 1].set(beta))
        return (B, H, anorm), None

    if stop is not None:
        def cond(state):
            return (state[3] < n) & ~state[4]

        def loop(state):
            B, H, anorm, j, _ = state
            (B, H, anorm), _ = step((B, H, anorm), j)
            return B, H, anorm, j + 1, stop(H, j + 1)

        j0 = jnp.zeros((), jnp.int32) if start is None else jnp.asarray(start, jnp.int32)
        B, H, anorm, a, _ = jax.lax.while_loop(cond, loop, (B, H, anorm, j0,
                                                            jnp.zeros((), bool)))
        return B, H, anorm, a

    if start is None:
        body = step
    else:
        def body(carry, j):
            return jax.lax.cond(j >= start, step, lambda c, _: (c, None), carry, j)

    (B, H, anorm), _ = jax.lax.scan(body, (B, H, anorm), jnp.arange(n))
    return B, H, anorm, jnp.asarray(n, jnp.int32)


def lanczos_core(matvec, v0, n_steps, reortho):
    """``n_steps`` Lanczos steps from ``v0``: ``(alphas, betas, basis)`` of
    :class:`physjax.curvature.LanczosResult`."""
    dim = v0.shape[0]
    dtype = v0.dtype
    B = jnp.zeros((n_steps + 1, dim), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    H = jnp.zeros((n_steps + 1, n_steps), dtype)
    B, H, _, _ = krylov_steps(matvec, B, H, jnp.zeros((), dtype), n_steps, reortho=reortho)
    alphas = jnp.diagonal(H)
    betas = jnp.diagonal(H, offset=-1)
    return alphas, betas, B


def check_matvec(matvec, x, name="matvec"):
    if not callable(matvec):
        raise TypeError(f"{name} must be a callable x -> A x, got {type(matvec).__name__}")
    out = jax.eval_shape(matvec, x)
    if not hasattr(out, "shape") or tuple(out.shape) != tuple(x.shape):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"{name} must map a vector of shape {tuple(x.shape)} to the same "
                         f"shape (a square linear operator), got {shape}")


def check_start_vector(v0, name="v0"):
    if not hasattr(v0, "shape"):
        v0 = np.asarray(v0)
    if v0.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector (flatten pytrees with "
                         f"physjax.curvature.flatten), got shape {tuple(v0.shape)}")
    if not jnp.issubdtype(v0.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point vector, got dtype {v0.dtype}")
    if is_concrete(v0):
        a = np.asarray(v0)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got NaN or infinite entries")
        if not np.any(a != 0):
            raise ValueError(f"{name} must be non-zero (Lanczos normalizes it), got the "
                             f"zero vector")
        return jnp.asarray(v0)
    bad = ~jnp.all(jnp.isfinite(v0)) | ~jnp.any(v0 != 0)
    return eqx.error_if(v0, bad, f"{name} must be finite and non-zero")


def draw_probe(key, dim, dtype, probe):
    if probe == "rademacher":
        return jax.random.rademacher(key, (dim,), dtype)
    return jax.random.normal(key, (dim,), dtype)


def batched_map(fn, xs, batch_size):
    """``jax.vmap`` when ``batch_size`` is None, else ``lax.map`` in batches."""
    if batch_size is None:
        return jax.vmap(fn)(xs)
    if batch_size == 1:
        return jax.lax.map(fn, xs)
    return jax.lax.map(fn, xs, batch_size=batch_size)
