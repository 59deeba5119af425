"""Multi-spin coded checkerboard Monte Carlo for the lattice Ising model.

Thirty-two spins are stored in the bits ("lanes") of one ``uint32`` word and updated
together with bitwise logic.  Two lane layouts share the same kernel:

* ``"replicas"``: lane ``b`` of a word is replica ``32 g + b`` of the same site, so
  32 independent replicas (each with its own temperature) advance at once.
* ``"strips"``: one lattice; the compressed last axis of each checkerboard colour is
  cut into 32 strips of ``W`` words and lane ``b`` of word ``w`` is column ``b W + w``.

Checkerboard decomposition: a site's colour is the parity of the sum of its
coordinates; each colour is stored compressed along the last axis (half the
columns).  Updating one colour needs only the other, so a half-sweep is one fused
elementwise pass.

Acceptance without floating point: with :math:`n` the number of neighbours aligned
with :math:`s_i` the energy change of a flip is
:math:`\\Delta E = 2J(2n - z) + 2hs_i`, so the flip probability :math:`p` of a site
takes one of :math:`2(z+1)` values per lane (Metropolis :math:`\\min(1,e^{-\\beta\\Delta E})`,
heat bath :math:`1/(1+e^{\\beta\\Delta E})`).  Each :math:`p<1` is quantized to ``k`` bits
(round to nearest, resolution :math:`2^{-k}`, default ``k = 24`` which matches a float32
uniform); a lane flips if its ``k``-bit uniform random integer :math:`r` satisfies
:math:`r < \\lfloor p 2^k \\rceil`, decided bit-serially on 32 lanes at once, and
:math:`p = 1` flips without a draw.

Random bits: a counter-based generator.  Each half-sweep draws two 32-bit seeds from
the user's ``jax.random`` key (Threefry); word ``j`` of element ``e`` is
``triple32(triple32(j n + e + s1) ^ s2)`` with Wellons' ``triple32`` integer hash
(a bijection of 32-bit words with near-ideal avalanche).  It is ~15x cheaper than
drawing the bits with ``jax.random.bits`` on a CPU, which is what makes multi-spin
coding pay; the tests check the sampled physics against exact results.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Integer, Key, Real, Scalar
from physjax._checks import check_choice
from physjax._counter_rng import _u32, hashed_words
from physjax._options import PackedLayout, UpdateRule

__all__ = [
    "PackedLayout",
    "PackedIsingState",
    "pack_spins",
    "unpack_spins",
]

WORD_BITS = 32
_LEVEL_UNROLL = 4
_ALL = np.uint32(0xFFFFFFFF)


class PackedIsingState(NamedTuple):
    """State of a multi-spin coded checkerboard sampler.

    Attributes:
        black, white: ``uint32`` words of the two checkerboard colours, shape
            ``(G, *lattice_shape[:-1], C)`` with ``C = L_last/2`` (replicas layout) or
            ``L_last/64`` (strips layout).
        beta: inverse temperature per replica, shape ``(R,)``; ``R = 32 G`` for the
            replicas layout and ``R = G`` for strips.
    """

    black: Array
    white: Array
    beta: Array


# ----------------------------------------------------------------------------- bits

def random_words(seeds: Integer[Array, " 2"], level: Integer[ArrayLike, ""],
                 counter: Integer[Array, "*shape"], n: int) -> Integer[Array, "*shape"]:
    """Word ``level`` (an int, or a traced integer) of the counter-based stream: 32
    independent random bits per entry."""
    return hashed_words(seeds, counter + jnp.asarray(level, jnp.uint32) * _u32(n))


def _rotl1(x):
    return (x << 1) | (x >> (WORD_BITS - 1))


def _rotr1(x):
    return (x >> 1) | (x << (WORD_BITS - 1))


def lane_sums(words: Integer[Array, " ..."], n_lead: int = 1) -> Int[Array, "*lead 32"]:
    """Number of set bits of every lane summed over all but the first ``n_lead`` axes.

    Returns an int32 array of shape ``words.shape[:n_lead] + (32,)``.  Byte-sliced: the
    mask ``0x01010101 << k`` puts lanes k, k+8, k+16, k+24 into separate bytes, so up to
    255 words are summed per byte without overflow — 8 shift/mask/add per word instead
    of 32.
    """
    lead = words.shape[:n_lead]
    flat = words.reshape(lead + (-1,))
    n = flat.shape[-1]
    chunk = 255
    n_chunks = -(-n // chunk)
    flat = jnp.pad(flat, [(0, 0)] * n_lead + [(0, n_chunks * chunk - n)])
    x = flat.reshape(lead + (n_chunks, chunk))
    out = []
    for k in range(8):
        packed = jnp.sum((x >> _u32(k)) & _u32(0x01010101), axis=-1, dtype=jnp.uint32)
        out.append(jnp.stack([jnp.sum(((packed >> _u32(8 * j)) & _u32(0xFF)).astype(jnp.int32),
                                      axis=-1) for j in range(4)], axis=-1))
    lanes = jnp.stack(out, axis=-2)  # (..., k, j) holds lane k + 8 j
    return jnp.swapaxes(lanes, -1, -2).reshape(lead + (WORD_BITS,))


# ----------------------------------------------------------------------- geometry

def _parity_mask(sub_shape: tuple[int, ...], colour) -> Array:
    """True where the extra last-axis neighbour of ``colour`` (0 or 1, may be traced) sits
    at ``c + 1``."""
    return (jnp.asarray(_row_parity(sub_shape)) + colour) % 2 == 1


def _neighbours(other: Array, colour: int, layout: PackedLayout) -> list[Array]:
    """The z = 2d neighbour words of every site of ``colour`` taken from the other colour.

    ``other`` has shape ``(G, n_1, ..., n_{d-1}, C)``.
    """
    d = other.ndim - 1
    nbrs = []
    for axis in range(1, d):  # full (uncompressed) lattice axes
        nbrs.append(jnp.roll(other, 1, axis))
        nbrs.append(jnp.roll(other, -1, axis))
    last = other.ndim - 1
    minus = jnp.roll(other, 1, last)   # value at compressed column c - 1
    plus = jnp.roll(other, -1, last)   # value at c + 1
    if layout == "strips":
        w = jnp.arange(other.shape[last])
        minus = jnp.where(w == 0, _rotl1(minus), minus)
        plus = jnp.where(w == other.shape[last] - 1, _rotr1(plus), plus)
    mask = _parity_mask(other.shape[1:], colour)
    nbrs.append(other)
    nbrs.append(jnp.where(mask, plus, minus))
    return nbrs


def _aligned_count_bits(spins: Array, nbrs: list[Array]) -> list[Array]:
    """Bit-sliced count of neighbours aligned with each spin: binary digits (LSB first)."""
    digits: list[Array] = []
    for t, nb in enumerate(nbrs, start=1):
        carry = ~(spins ^ nb)
        for i in range(len(digits)):
            digits[i], carry = digits[i] ^ carry, digits[i] & carry
        if len(digits) < t.bit_length():  # the count t needs one more binary digit
            digits.append(carry)
    return digits


def _class_masks(digits: list[Array], z: int) -> list[Array]:
    """One-hot lane masks ``M_n`` of the aligned-neighbour count n = 0..z."""
    masks = []
    for n in range(z + 1):
        m = None
        for i, dgt in enumerate(digits):
            term = dgt if (n >> i) & 1 else ~dgt
            m = term if m is None else (m & term)
        masks.append(m)
    return masks


# ----------------------------------------------------------------- probabilities

def flip_probabilities(beta: Float[Array | np.ndarray, "*batch"], J: Scalar, h: Scalar,
                       z: int, rule: UpdateRule) -> Float[Array, "*batch 2 _classes"]:
    """Flip probability of a spin ``s`` with ``n`` aligned neighbours.

    Returns shape ``beta.shape + (2, z + 1)``: index 0 for ``s = +1``, 1 for ``s = -1``.
    :math:`\\Delta E = 2J(2n - z) + 2hs`.
    """
    n = jnp.arange(z + 1)
    s = jnp.array([1.0, -1.0])[:, None]
    dE = 2.0 * J * (2 * n - z)[None, :] + 2.0 * h * s
    x = beta[..., None, None] * dE
    if rule == "metropolis":
        return jnp.minimum(1.0, jnp.exp(-x))
    return jax.nn.sigmoid(-x)  # heat bath 1/(1 + exp(beta dE))


def _quantized_thresholds(prob: Array, precision_bits: int, layout: PackedLayout):
    """Pack per-lane thresholds.

    ``prob`` has shape ``(R, 2, z+1)``.  Returns ``always`` of shape ``(G, 2, z+1)`` and
    ``levels`` of shape ``(k, G, 2, z+1)`` (MSB first), all uint32 lane words.
    """
    k = precision_bits
    scale = float(2**k)
    q = jnp.round(prob.astype(jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
                  * scale)
    always = q >= scale
    q = jnp.where(always, 0, q).astype(jnp.uint32)
    shifts = jnp.arange(k - 1, -1, -1, dtype=jnp.uint32)
    bits = (q[None] >> shifts[:, None, None, None]) & _u32(1)  # (k, R, 2, z+1)
    if layout == "replicas":
        R = prob.shape[0]
        lanes = jnp.arange(WORD_BITS, dtype=jnp.uint32)
        def pack(b):  # (..., R, ...) bits -> (..., G, ...) words along the replica axis
            b = b.reshape(b.shape[:-3] + (R // WORD_BITS, WORD_BITS) + b.shape[-2:])
            return jnp.sum(b << lanes[:, None, None], axis=-3, dtype=jnp.uint32)
        return pack(always.astype(jnp.uint32)), pack(bits)
    full = jnp.where(always, _ALL, _u32(0))
    return full, jnp.where(bits == 1, _ALL, _u32(0))


# ----------------------------------------------------------------------- kernel

def _class_words(table: Array, has_field: bool, z: int) -> Array:
    """Per-class lane words ``(..., G, n_classes)`` from ``(..., G, 2, z+1)`` tables: classes
    n = 0..z (aligned neighbours), then, with a field, the same for down spins."""
    return table[..., 0, :] if not has_field else \
        table.reshape(table.shape[:-2] + (2 * (z + 1),))


def _half_sweep(seeds, spins, other, colour, always, levels, *, layout, z, has_field):
    """Update every site of one colour.  ``always``: (G, n_classes) and ``levels``:
    (k, G, n_classes) lane words of the quantized flip probabilities (:func:`_class_words`)."""
    G = spins.shape[0]
    bshape = (G,) + (1,) * (spins.ndim - 1)
    nbrs = _neighbours(other, colour, layout)
    masks = _class_masks(_aligned_count_bits(spins, nbrs), z)
    if has_field:
        masks = [m & spins for m in masks] + [m & ~spins for m in masks]

    def lanes_of(words):  # (G, n_classes) per-class lane words -> one word per site
        out = jnp.zeros_like(spins)
        for c, m in enumerate(masks):
            out = out | (m & words[:, c].reshape(bshape))
        return out

    flip = lanes_of(always)
    n_elem = int(np.prod(spins.shape))
    counter = jax.lax.iota(jnp.uint32, n_elem).reshape(spins.shape)
    k = levels.shape[0]

    def level(i, lt):  # LSB first (j = k-1 ... 0): lt = (B & ~R) | (~(B ^ R) & lt)
        j = k - 1 - i
        B = lanes_of(levels[j])
        R = random_words(seeds, j, counter, n_elem)
        return (B & ~R) | (~(B ^ R) & lt)
    # a rolled loop, unrolled by _LEVEL_UNROLL: a fully unrolled one compiles ~k times the
    # code (seconds of XLA time) and, measured on a 2-core CPU, runs no faster
    lt = jax.lax.fori_loop(0, k, level, jnp.zeros_like(spins), unroll=_LEVEL_UNROLL)
    return spins ^ (flip | lt)


@partial(jax.jit, static_argnames=("rule", "layout", "precision_bits", "has_field"))
def packed_sweep(key: Key, J: Scalar, h: Scalar, state: PackedIsingState, *, rule: UpdateRule,
                 layout: PackedLayout, precision_bits: int = 24, has_field: bool = False,
                 ) -> PackedIsingState:
    d = state.black.ndim - 1
    z = 2 * d
    prob = flip_probabilities(state.beta, J, h, z, rule)
    if not has_field:
        prob = prob[:, :1]  # s = +1 and s = -1 see the same probabilities
    always, levels = _quantized_thresholds(prob, precision_bits, layout)
    always, levels = _class_words(always, has_field, z), _class_words(levels, has_field, z)
    seeds = jax.random.bits(key, (2, 2), jnp.uint32)

    def half(colour, pair):  # (to update, other colour) -> (other colour, updated)
        spins, other = pair
        return other, _half_sweep(seeds[colour], spins, other, colour, always, levels,
                                  layout=layout, z=z, has_field=has_field)
    # black then white, as a loop over the colour: one copy of the update to compile
    black, white = jax.lax.fori_loop(0, 2, half, (state.black, state.white))
    return state._replace(black=black, white=white)


def _row_parity(shape) -> np.ndarray:
    """Parity of the sum of all but the last coordinate, broadcastable to ``(*shape[:-1], 1)``."""
    return (sum(np.indices(shape[:-1])) % 2)[..., None] if len(shape) > 1 else np.zeros((1,))


def pack_spins(spins: Real[ArrayLike, " r *lattice"], layout: PackedLayout,
               ) -> tuple[Integer[Array, " g *words"], Integer[Array, " g *words"]]:
    """Pack ``(R, *shape)`` +-1 spins into (black, white) words (pure ``jax.numpy``).

    Black sites have an even coordinate sum; in row ``p`` (the parity of the other
    coordinates) black sits at even columns when ``p`` is even, so colour ``c`` keeps the
    columns ``2 c' + (p + c) mod 2``.
    """
    check_choice(layout, "layout", PackedLayout)
    spins = jnp.asarray(spins)
    R, *shape = spins.shape
    step = 2 if layout == "replicas" else 2 * WORD_BITS
    if not shape or shape[-1] % step or (layout == "replicas" and R % WORD_BITS):
        raise ValueError(f"spins of shape {spins.shape} cannot be packed with layout="
                         f"{layout!r}: the last side must be a multiple of {step}"
                         + (f" and R of {WORD_BITS}" if layout == "replicas" else ""))
    pairs = (spins > 0).reshape((R, *shape[:-1], shape[-1] // 2, 2))
    even_row = jnp.asarray(_row_parity(shape) == 0)
    out = []
    for colour in (0, 1):
        first = even_row if colour == 0 else ~even_row  # colour sits at the even column
        bits = jnp.where(first, pairs[..., 0], pairs[..., 1]).astype(jnp.uint32)
        if layout == "replicas":
            b = bits.reshape((R // WORD_BITS, WORD_BITS) + bits.shape[1:])
            lanes = jnp.arange(WORD_BITS, dtype=jnp.uint32).reshape((1, WORD_BITS) +
                                                                    (1,) * len(shape))
            out.append(jnp.sum(b << lanes, axis=1, dtype=jnp.uint32))
        else:
            W = shape[-1] // (2 * WORD_BITS)
            b = bits.reshape(bits.shape[:-1] + (WORD_BITS, W))
            lanes = jnp.arange(WORD_BITS, dtype=jnp.uint32)[:, None]
            out.append(jnp.sum(b << lanes, axis=-2, dtype=jnp.uint32))
    return out[0], out[1]


def unpack_spins(black: Integer[Array, " g *words"], white: Integer[Array, " g *words"],
                 layout: PackedLayout, shape: Sequence[int]) -> Int[Array, " r *lattice"]:
    """Inverse of :func:`pack_spins`: ``int8`` spins of shape ``(R, *shape)``."""
    check_choice(layout, "layout", PackedLayout)
    shape = tuple(shape)
    colours = []
    for words in (black, white):
        if layout == "replicas":
            lanes = jnp.arange(WORD_BITS, dtype=jnp.uint32)
            bits = (words[:, None] >> lanes.reshape((1, WORD_BITS) + (1,) * (words.ndim - 1)))
            bits = bits.reshape((-1,) + words.shape[1:])
        else:
            lanes = jnp.arange(WORD_BITS, dtype=jnp.uint32)[:, None]
            bits = (words[..., None, :] >> lanes).reshape(words.shape[:-1] + (-1,))
        colours.append((bits & _u32(1)).astype(bool))
    black_bits, white_bits = colours
    even_row = jnp.asarray(_row_parity(shape) == 0)
    first = jnp.where(even_row, black_bits, white_bits)
    second = jnp.where(even_row, white_bits, black_bits)
    up = jnp.stack([first, second], axis=-1).reshape((first.shape[0], *shape))
    return jnp.where(up, 1, -1).astype(jnp.int8)


# ------------------------------------------------------------------ observables

def _group_counts(words: Array, layout: PackedLayout) -> Array:
    """Set bits per replica: (G, 32) lane sums for replicas, (G, 1) popcounts for strips."""
    if layout == "replicas":
        return lane_sums(words, 1)
    pc = jax.lax.population_count(words).astype(jnp.int32)
    return jnp.sum(pc.reshape(pc.shape[0], -1), axis=1, keepdims=True)


@partial(jax.jit, static_argnames=("layout",))
def packed_energy_magnetization(J: Scalar, h: Scalar, state: PackedIsingState, *,
                                layout: PackedLayout,
                                ) -> tuple[Float[Array, " r"], Float[Array, " r"]]:
    """Energy per spin and magnetization per spin of every replica, each of shape ``(R,)``."""
    black, white = state.black, state.white
    d = black.ndim - 1
    n_sites = 2 * int(np.prod(black.shape[1:])) * (WORD_BITS if layout == "strips" else 1)
    digits = _aligned_count_bits(black, _neighbours(white, 0, layout))
    aligned = sum((2**i) * _group_counts(dg, layout) for i, dg in enumerate(digits))
    up = _group_counts(black, layout) + _group_counts(white, layout)
    dtype = jnp.result_type(float)  # float64 under jax_enable_x64
    aligned = aligned.reshape(-1).astype(dtype)
    m_total = (2 * up.reshape(-1) - n_sites).astype(dtype)
    bonds = 2.0 * aligned - d * n_sites
    energy = -J * bonds - h * m_total
    return energy / n_sites, m_total / n_sites
