"""The multi-spin coded kernel against an independent per-site implementation.

The reference below works on int8 lattices with ``jnp.roll`` neighbour sums and float64
flip probabilities; it draws the *same* random words as the kernel (one k-bit integer per
site, assembled from the per-level words) so that the two must agree bit for bit.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.spins import multispin as ms


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _random_spins(rng, R, shape):
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(R, *shape))


@pytest.mark.parametrize("layout,R,shape", [
    ("replicas", 64, (6, 8)), ("replicas", 32, (4, 6, 8)), ("strips", 3, (6, 128)),
    ("strips", 2, (4, 2, 64)), ("replicas", 32, (2, 4))])
def test_pack_roundtrip(layout, R, shape):
    s = _random_spins(np.random.default_rng(0), R, shape)
    black, white = ms.pack_spins(s, layout)
    assert black.dtype == jnp.uint32
    np.testing.assert_array_equal(np.asarray(ms.unpack_spins(black, white, layout, shape)), s)


def test_pack_places_known_sites():
    # one up spin at (row 1, col 3): parity 0 -> black, compressed column 1 of row 1
    s = -np.ones((32, 4, 8), np.int8)
    s[5, 1, 3] = 1
    black, white = ms.pack_spins(s, "replicas")
    assert int(black[0, 1, 1]) == 1 << 5 and int(np.asarray(black).sum()) == 1 << 5
    assert int(np.asarray(white).sum()) == 0


def _lattice_neighbour_sum(s):
    total = np.zeros(s.shape, np.int64)
    for ax in range(1, s.ndim):
        total += np.roll(s, 1, ax) + np.roll(s, -1, ax)
    return total


def _reference_half_sweep(spins, colour, seeds, beta, J, h, rule, k, layout):
    """Per-site update of one colour with the kernel's random words (float64 probabilities)."""
    R, *shape = spins.shape
    black, _ = ms.pack_spins(spins, layout)
    n = int(np.prod(black.shape))
    counter = jnp.arange(n, dtype=jnp.uint32).reshape(black.shape)
    r = np.zeros(spins.shape, np.int64)
    zeros = jnp.zeros_like(black)
    for j in range(k):  # level j carries bit k-1-j of the site's k-bit integer
        words = ms.random_words(seeds, j, counter, n)
        args = (words, zeros) if colour == 0 else (zeros, words)
        bit = np.asarray(ms.unpack_spins(*args, layout, shape)) > 0
        r += bit.astype(np.int64) << (k - 1 - j)
    s = spins.astype(np.int64)
    dE = 2.0 * s * (J * _lattice_neighbour_sum(s) + h)
    b = np.asarray(beta).reshape((R,) + (1,) * len(shape))
    p = np.minimum(1.0, np.exp(-b * dE)) if rule == "metropolis" else 1 / (1 + np.exp(b * dE))
    q = np.round(p * 2.0**k)
    flip = (q >= 2**k) | (r < q)
    parity = sum(np.indices(shape)) % 2 == colour
    return np.where(parity & flip, -spins, spins).astype(np.int8)


@pytest.mark.parametrize("rule", ["metropolis", "heat_bath"])
@pytest.mark.parametrize("layout,R,shape,h", [
    ("replicas", 64, (8, 6), 0.0), ("replicas", 32, (4, 4, 6), 0.35),
    ("strips", 2, (6, 128), -0.2), ("strips", 1, (4, 4, 64), 0.0)])
def test_kernel_matches_per_site_reference(rule, layout, R, shape, h):
    rng = np.random.default_rng(1)
    spins = _random_spins(rng, R, shape)
    beta = jnp.asarray(rng.uniform(0.2, 0.7, R) if layout == "replicas" else
                       rng.uniform(0.2, 0.7, R))
    J, k = 0.9, 24
    state = ms.PackedIsingState(*ms.pack_spins(spins, layout), beta=beta)
    key = jax.random.key(7)
    new = ms.packed_sweep(key, jnp.float64(J), jnp.float64(h), state, rule=rule, layout=layout,
                          precision_bits=k, has_field=h != 0)
    seeds = jax.random.bits(key, (2, 2), jnp.uint32)
    ref = _reference_half_sweep(spins, 0, seeds[0], beta, J, h, rule, k, layout)
    ref = _reference_half_sweep(ref, 1, seeds[1], beta, J, h, rule, k, layout)
    got = np.asarray(ms.unpack_spins(new.black, new.white, layout, shape))
    assert (got != spins).mean() > 0.05  # the sweep did something
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("layout,R,shape,h", [("replicas", 32, (4, 6), 0.3),
                                              ("strips", 2, (4, 64), -0.5),
                                              ("replicas", 64, (4, 4, 4), 0.0)])
def test_packed_energy_and_magnetization(layout, R, shape, h):
    spins = _random_spins(np.random.default_rng(2), R, shape)
    J = -0.7
    state = ms.PackedIsingState(*ms.pack_spins(spins, layout), beta=jnp.ones(R))
    e, m = ms.packed_energy_magnetization(jnp.float64(J), jnp.float64(h), state, layout=layout)
    s = spins.astype(np.int64)
    axes = tuple(range(1, s.ndim))
    bonds = sum(np.sum(s * np.roll(s, -1, a), axis=axes) for a in axes)
    N = np.prod(shape)
    np.testing.assert_allclose(np.asarray(e), (-J * bonds - h * s.sum(axes)) / N, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m), s.sum(axes) / N, rtol=1e-12)


def test_random_words_are_uniform_and_uncorrelated():
    """Bits of the counter-based stream: frequency and pair correlations at 5 sigma."""
    n = 1 << 16
    counter = jnp.arange(n, dtype=jnp.uint32)
    seeds = jnp.array([12345, 678910], jnp.uint32)
    words = np.stack([np.asarray(ms.random_words(seeds, j, counter, n)) for j in range(4)])
    bits = ((words[..., None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.float64)
    bits = bits.reshape(4, n, 32)
    sigma = 0.5 / np.sqrt(n)
    assert np.abs(bits.mean(axis=1) - 0.5).max() < 5 * sigma * 1.5  # 128 tests, Bonferroni
    x = 2 * bits - 1
    # neighbouring counters, neighbouring lanes and neighbouring levels
    for a, b in [(x[0, 1:], x[0, :-1]), (x[0][:, 1:], x[0][:, :-1]), (x[1], x[0])]:
        c = (a * b).mean(axis=0)
        assert np.abs(c).max() < 5.5 / np.sqrt(a.shape[0])
