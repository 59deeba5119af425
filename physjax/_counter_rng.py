"""Counter-based random bits for the samplers' inner loops.

Gibbs and Metropolis updates need one uniform number per unit per step, and on a CPU
drawing them with ``jax.random`` (Threefry, 20 rounds) costs more than the physics: a CD-1
step of a 64 x 256 RBM spends half its time there.  The samplers therefore draw two 32-bit
seeds from the user's key (Threefry, so keys keep their usual split/fold_in semantics)
and hash a counter: entry ``e`` of a draw gets ``triple32(triple32(e + s1) ^ s2)``, with
Chris Wellons' ``triple32`` integer hash -- a bijection of 32-bit words with near-ideal
avalanche (bias about 0.021 in his measure).  Measured on a 2-core CPU: 5.8 M float32
uniforms (180 CD-1 steps of a 64 x 256 RBM) in 7 ms, against 42 ms for
``jax.random.uniform`` with Threefry and 19-56 ms with the ``rbg`` keys.  The tests check
the bits' uniformity and independence and, in each sampler, the sampled physics against
exact results.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import Array


def _u32(x):
    return jnp.asarray(x, dtype=jnp.uint32)


def triple32(x: Array) -> Array:
    """Wellons' triple32 integer hash (public domain), a bijection on uint32."""
    x = x ^ (x >> 17)
    x = x * _u32(0xED5AD4BB)
    x = x ^ (x >> 11)
    x = x * _u32(0xAC4C1B51)
    x = x ^ (x >> 15)
    x = x * _u32(0x31848BAB)
    x = x ^ (x >> 14)
    return x


def hashed_words(seeds: Array, counter: Array) -> Array:
    """32 random bits per entry of ``counter`` (uint32) from the two uint32 ``seeds``."""
    return triple32(triple32(counter + seeds[0]) ^ seeds[1])


def counter_bits(key, shape) -> Array:
    """``shape`` uint32 words of random bits: two seeds from ``key``, then the hash of each
    entry's index (at most 2^32 entries per draw)."""
    n = math.prod(shape)
    if n > 2**32:
        raise ValueError(f"counter_bits draws at most 2^32 words at once, asked for {n}")
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    counter = jax.lax.iota(jnp.uint32, n).reshape(shape)
    return hashed_words(seeds, counter)


def uniform(key, shape, dtype) -> Array:
    """Uniform numbers in [0, 1) of ``dtype`` from :func:`counter_bits`: 24 bits of
    resolution in float32 (as ``jax.random.uniform``), 32 in float64."""
    bits = counter_bits(key, shape)
    if jnp.dtype(dtype) == jnp.float64:
        return bits.astype(dtype) * (2.0**-32)
    return (bits >> 8).astype(dtype) * jnp.asarray(2.0**-24, dtype)


def permutation(key, n: int) -> Array:
    """A random permutation of ``range(n)``: one sort of ``n`` counter-based 32-bit keys
    (``jax.random.permutation`` sorts several rounds of Threefry keys and took 0.6 ms for
    n = 1797 on a 2-core CPU, a tenth of a digits training epoch).  Ties, with probability
    below n^2 / 2^33, keep index order."""
    return jnp.argsort(counter_bits(key, (n,)), stable=True).astype(jnp.int32)
