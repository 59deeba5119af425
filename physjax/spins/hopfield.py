"""Hopfield networks: patterns, Hebbian and dreaming couplings, learning from examples.

Patterns :math:`\\xi^\\mu \\in \\{\\pm1\\}^N`, :math:`\\mu = 1..K`, load :math:`\\alpha = K/N`.
Every coupling builder returns a :class:`~physjax.spins.models.LowRankIsing` (couplings
:math:`J = \\xi^T A\\xi/N`, zero diagonal), which the samplers update in O(K) per spin;
``model.couplings()`` gives the dense matrix when wanted.

* Hebb: :math:`J_{ij} = \\frac1N\\sum_\\mu \\xi_i^\\mu\\xi_j^\\mu` (A = I).
* Dreaming (seed 003): :math:`J(t) = \\frac1N \\xi^T (1+t)(I + tC)^{-1}\\xi` with
  :math:`C = \\xi\\xi^T/N`; t = 0 is Hebb and t -> infinity the projector (Kohonen) rule
  :math:`\\xi^T C^{-1}\\xi/N`.
* Projector (Kohonen, pseudo-inverse) rule (seed 004): :math:`J = \\xi^T C^{-1}\\xi/N`,
  the orthogonal projector onto the span of the patterns; with the diagonal removed each
  pattern is a fixed point whenever the patterns are linearly independent (K <= N).
* Learning from examples (seed 003): K archetypes are seen through M blurred examples
  :math:`\\eta^{\\mu,a}_i = \\chi^{\\mu,a}_i\\xi^\\mu_i` with
  :math:`P(\\chi = +1) = (1+r)/2` (example quality r).  Unsupervised Hebb stores every
  example, supervised Hebb the class averages; both are normalized by
  :math:`r^2(1+\\rho)`, :math:`\\rho = (1-r^2)/(Mr^2)`, so that r = 1 gives Hebb.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Key, Real, Scalar
from physjax._checks import check_finite, check_positive_int, check_spins, is_concrete
from physjax.spins.models import LowRankIsing

__all__ = [
    "random_patterns",
    "correlated_patterns",
    "noisy_examples",
    "corrupt",
    "hebbian",
    "dreaming",
    "dreaming_kernel",
    "projector",
    "projector_kernel",
    "unsupervised_hebbian",
    "supervised_hebbian",
]


def _check_patterns(patterns, name="patterns") -> Array:
    xi = jnp.asarray(check_spins(check_finite(patterns, name), name))
    if xi.ndim != 2 or xi.shape[0] == 0 or xi.shape[1] == 0:
        raise ValueError(f"{name} must have shape (K, N) with K >= 1 patterns of N >= 1 "
                         f"spins, got shape {xi.shape}")
    return xi.astype(float)


def random_patterns(key: Key, n_patterns: int, n_spins: int, *, bias: Scalar = 0.0,
                    ) -> Float[Array, "k n"]:
    """K random patterns with :math:`P(\\xi_i = \\pm1) = (1\\pm b)/2` (``bias`` b)."""
    K = check_positive_int(n_patterns, "n_patterns")
    N = check_positive_int(n_spins, "n_spins")
    check_finite(bias, "bias")
    if not -1 < float(bias) < 1:
        raise ValueError(f"bias must lie in (-1, 1), got {bias}")
    up = jax.random.bernoulli(key, (1 + bias) / 2, (K, N))
    return jnp.where(up, 1.0, -1.0)


def correlated_patterns(key: Key, n_patterns: int, n_spins: int, *, correlation: Scalar,
                        ) -> Float[Array, "k n"]:
    """Patterns sharing a hidden ancestor: :math:`\\xi^\\mu_i = \\zeta_i` with probability
    (1+c)/2, else :math:`-\\zeta_i`, so :math:`\\langle\\xi^\\mu_i\\xi^\\nu_i\\rangle = c^2`
    for :math:`\\mu\\ne\\nu`."""
    K = check_positive_int(n_patterns, "n_patterns")
    N = check_positive_int(n_spins, "n_spins")
    if not 0 <= float(correlation) < 1:
        raise ValueError(f"correlation must lie in [0, 1), got {correlation}")
    k1, k2 = jax.random.split(key)
    ancestor = jnp.where(jax.random.bernoulli(k1, 0.5, (N,)), 1.0, -1.0)
    keep = jax.random.bernoulli(k2, (1 + correlation) / 2, (K, N))
    return jnp.where(keep, ancestor, -ancestor)


def corrupt(key: Key, spins: Real[ArrayLike, "*batch n"], fraction: Scalar,
            ) -> Real[Array, "*batch n"]:
    """Flip exactly ``round(fraction * N)`` randomly chosen spins (last axis)."""
    s = jnp.asarray(check_spins(spins, "spins"))
    if not 0 <= float(fraction) <= 1:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    N = s.shape[-1]
    n_flip = int(round(float(fraction) * N))
    keys = jax.random.split(key, int(np.prod(s.shape[:-1])) or 1)
    ranks = jax.vmap(lambda k: jax.random.permutation(k, N))(keys).reshape(s.shape)
    return jnp.where(ranks < n_flip, -s, s)


def noisy_examples(key: Key, archetypes: Real[ArrayLike, "k n"], n_examples: int,
                   quality: Scalar) -> Float[Array, "k m n"]:
    """M examples of each archetype: :math:`\\eta^{\\mu,a}_i = \\chi^{\\mu,a}_i\\xi^\\mu_i`,
    :math:`P(\\chi=+1) = (1+r)/2`.  Returns shape (K, M, N)."""
    xi = _check_patterns(archetypes, "archetypes")
    M = check_positive_int(n_examples, "n_examples")
    if not 0 < float(quality) <= 1:
        raise ValueError(f"quality must lie in (0, 1], got {quality}")
    chi = jnp.where(jax.random.bernoulli(key, (1 + quality) / 2, (xi.shape[0], M, xi.shape[1])),
                    1.0, -1.0)
    return chi * xi[:, None, :]


def hebbian(patterns: Real[ArrayLike, "k n"], h: Scalar | Real[ArrayLike, " n"] = 0.0,
            ) -> LowRankIsing:
    """Hebbian couplings :math:`J = \\xi^T\\xi/N`, zero diagonal."""
    return LowRankIsing(_check_patterns(patterns), None, h)


def dreaming_kernel(patterns: Real[ArrayLike, "k n"], sleep_time: Scalar) -> Float[Array, "k k"]:
    """The K x K kernel :math:`(1+t)(I + tC)^{-1}`, :math:`C = \\xi\\xi^T/N`."""
    xi = _check_patterns(patterns)
    check_finite(sleep_time, "sleep_time")
    t = jnp.asarray(sleep_time, dtype=xi.dtype)
    if is_concrete(t) and float(t) < 0:
        raise ValueError(f"sleep_time must be >= 0, got {float(t)}")
    K, N = xi.shape
    C = xi @ xi.T / N
    A = (1 + t) * jnp.linalg.solve(jnp.eye(K, dtype=xi.dtype) + t * C, jnp.eye(K, dtype=xi.dtype))
    return 0.5 * (A + A.T)  # symmetric up to rounding


def dreaming(patterns: Real[ArrayLike, "k n"], sleep_time: Scalar,
             h: Scalar | Real[ArrayLike, " n"] = 0.0) -> LowRankIsing:
    """Dreaming couplings :math:`J(t) = \\xi^T (1+t)(I+tC)^{-1}\\xi / N`, zero diagonal."""
    return LowRankIsing(_check_patterns(patterns), dreaming_kernel(patterns, sleep_time), h)


def projector_kernel(patterns: Real[ArrayLike, "k n"]) -> Float[Array, "k k"]:
    """The K x K kernel :math:`C^{-1}`, :math:`C = \\xi\\xi^T/N` (the sleep time -> infinity
    limit of :func:`dreaming_kernel`).  The patterns must be linearly independent."""
    xi = _check_patterns(patterns)
    K, N = xi.shape
    if K > N:
        raise ValueError(f"patterns: the projector rule needs linearly independent patterns, "
                         f"but K = {K} patterns of N = {N} spins are dependent (K > N)")
    C = xi @ xi.T / N
    if is_concrete(C):
        eig = np.linalg.eigvalsh(np.asarray(C, np.float64))
        if eig[0] <= 1e3 * np.finfo(np.asarray(C).dtype).eps * eig[-1]:
            raise ValueError("patterns are linearly dependent (the pattern correlation matrix "
                             f"C has smallest eigenvalue {eig[0]:.3g}); the projector rule "
                             "needs K linearly independent patterns")
    chol = jax.scipy.linalg.cho_factor(C)
    A = jax.scipy.linalg.cho_solve(chol, jnp.eye(K, dtype=xi.dtype))
    return 0.5 * (A + A.T)  # symmetric up to rounding


def projector(patterns: Real[ArrayLike, "k n"], h: Scalar | Real[ArrayLike, " n"] = 0.0,
              ) -> LowRankIsing:
    """Projector (Kohonen / pseudo-inverse) couplings :math:`J = \\xi^T C^{-1}\\xi/N`,
    :math:`C = \\xi\\xi^T/N`, zero diagonal.  J without its diagonal is
    :math:`P - \\mathrm{diag}(P)`, P the orthogonal projector onto the patterns' span, so
    the field on pattern :math:`\\mu` is :math:`\\xi^\\mu_i(1 - P_{ii})` with
    :math:`P_{ii} < 1`: every stored pattern is a fixed point up to K = N - 1."""
    return LowRankIsing(_check_patterns(patterns), projector_kernel(patterns), h)


def _example_normalization(M, r):
    if not 0 < r <= 1:
        raise ValueError(f"quality must lie in (0, 1], got {r}")
    rho = (1 - r**2) / (M * r**2)
    return r**2 * (1 + rho)


def unsupervised_hebbian(examples: Real[ArrayLike, "k m n"], quality: Scalar,
                         h: Scalar | Real[ArrayLike, " n"] = 0.0) -> LowRankIsing:
    """:math:`J = \\frac{1}{N M r^2(1+\\rho)}\\sum_{\\mu,a}\\eta^{\\mu,a}\\eta^{\\mu,a\\,T}`
    from examples of shape (K, M, N)."""
    eta = jnp.asarray(check_spins(check_finite(examples, "examples"), "examples"), float)
    if eta.ndim != 3:
        raise ValueError(f"examples must have shape (K, M, N), got {eta.shape}")
    K, M, N = eta.shape
    c = _example_normalization(M, float(quality))
    return LowRankIsing(eta.reshape(K * M, N), None, h, weights=jnp.full((K * M,), 1 / (M * c)))


def supervised_hebbian(examples: Real[ArrayLike, "k m n"], quality: Scalar,
                       h: Scalar | Real[ArrayLike, " n"] = 0.0) -> LowRankIsing:
    """:math:`J = \\frac{1}{N M^2 r^2(1+\\rho)}\\sum_\\mu (\\sum_a\\eta^{\\mu,a})
    (\\sum_b\\eta^{\\mu,b})^T` from examples of shape (K, M, N)."""
    eta = jnp.asarray(check_spins(check_finite(examples, "examples"), "examples"), float)
    if eta.ndim != 3:
        raise ValueError(f"examples must have shape (K, M, N), got {eta.shape}")
    K, M, N = eta.shape
    c = _example_normalization(M, float(quality))
    return LowRankIsing(eta.mean(axis=1), None, h, weights=jnp.full((K,), 1 / c))
