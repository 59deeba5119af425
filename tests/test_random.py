"""The counter-based uniforms of the samplers' inner loops (physjax._counter_rng, a name
that cannot shadow the standard ``random`` module)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from physjax import _counter_rng


def test_triple32_is_the_published_hash():
    """Known values of Wellons' triple32 (computed from its C definition with Python ints)."""
    def reference(x):
        m = 0xFFFFFFFF
        x ^= x >> 17
        x = (x * 0xED5AD4BB) & m
        x ^= x >> 11
        x = (x * 0xAC4C1B51) & m
        x ^= x >> 15
        x = (x * 0x31848BAB) & m
        x ^= x >> 14
        return x
    xs = [0, 1, 2, 12345, 0xDEADBEEF, 0xFFFFFFFF]
    got = np.asarray(_counter_rng.triple32(jnp.asarray(xs, jnp.uint32)))
    assert [int(g) for g in got] == [reference(x) for x in xs]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_uniform_is_uniform_and_uncorrelated(dtype):
    """KS test against U[0, 1), the mean and variance at 5 sigma, and no correlation between
    neighbouring entries, between rows, or between draws from split keys."""
    k1, k2 = jax.random.split(jax.random.key(3))
    n = 1 << 17
    with jax.enable_x64(dtype == jnp.float64):
        u = _counter_rng.uniform(k1, (n // 64, 64), dtype)
        v = np.asarray(_counter_rng.uniform(k2, (n // 64, 64), dtype), np.float64)
    assert u.dtype == dtype
    u = np.asarray(u, np.float64)
    assert 0.0 <= u.min() and u.max() < 1.0
    flat = u.reshape(-1)
    assert stats.kstest(flat, "uniform").pvalue > 1e-4
    assert abs(flat.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(flat.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    z = (u - 0.5) * np.sqrt(12)
    for a, b in [(z[:, 1:], z[:, :-1]), (z[1:], z[:-1]), (z, (v - 0.5) * np.sqrt(12))]:
        assert abs(np.mean(a * b)) < 5 / np.sqrt(a.size)


def test_bernoulli_frequencies_follow_the_probabilities():
    """P(u < p) = p: frequencies of 2^16 draws per probability within 5 sigma."""
    p = jnp.asarray([0.0, 1e-3, 0.1, 0.5, 0.9, 0.999, 1.0], jnp.float32)
    n = 1 << 16
    u = _counter_rng.uniform(jax.random.key(0), (n, p.size), jnp.float32)
    freq = np.asarray(jnp.mean(u < p, axis=0), np.float64)
    sigma = np.sqrt(np.asarray(p) * (1 - np.asarray(p)) / n)
    assert freq[0] == 0.0 and freq[-1] == 1.0
    np.testing.assert_array_less(np.abs(freq - np.asarray(p)), 5 * sigma + 1e-12)


def test_permutation_is_a_uniform_permutation():
    """Each draw is a permutation; over 6000 draws of n = 4 every one of the 24 orders is
    equally likely (chi-square) and position/value pairs are uniform."""
    n, draws = 4, 6000
    perms = np.asarray(jax.vmap(lambda k: _counter_rng.permutation(k, n))(
        jax.random.split(jax.random.key(5), draws)))
    assert (np.sort(perms, axis=1) == np.arange(n)).all()
    codes = perms @ (n ** np.arange(n))
    _, counts = np.unique(codes, return_counts=True)
    assert counts.size == 24
    assert stats.chisquare(counts).pvalue > 1e-4
    big = np.asarray(_counter_rng.permutation(jax.random.key(1), 1797))
    assert (np.sort(big) == np.arange(1797)).all()
