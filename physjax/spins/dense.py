"""Single-spin dynamics of dense spin models (Curie-Weiss, SK, Hopfield).

Models are :class:`~physjax.spins.models.DenseIsing` or
:class:`~physjax.spins.models.LowRankIsing`; one replica's state is a float vector of
:math:`\\pm1` spins plus the model's field cache (the unnormalized overlaps
:math:`M = \\xi\\sigma` for low-rank couplings) and its inverse temperature.  Replicas are a
``jax.vmap`` axis; per-replica temperatures live in the state (``beta``), so a vmapped
ladder of temperatures, or :class:`~physjax.spins.tempering.ReplicaExchange`, needs nothing
special.

The kernel is :class:`DenseSingleSpin` (the :class:`physjax.kernels.Kernel` protocol: one
step is one sweep); :func:`run_dense`, :func:`dense_sweep` and :func:`relax` are thin
wrappers over it and :func:`physjax.kernels.run`.

Rules for the update of spin i with local field
:math:`\\phi_i = \\sum_{j\\ne i}J_{ij}\\sigma_j+h_i`:

* ``"heat_bath"`` (Glauber): :math:`P(\\sigma_i=+1) = \\tfrac12[1+\\tanh(\\beta\\phi_i)]`;
* ``"metropolis"``: flip with probability :math:`\\min(1, e^{-2\\beta\\sigma_i\\phi_i})`;
* ``"zero_temperature"``: :math:`\\sigma_i \\leftarrow \\mathrm{sign}(\\phi_i)` (kept when
  :math:`\\phi_i = 0`); with symmetric J and zero diagonal each such flip lowers
  :math:`H = -\\tfrac12\\sigma^TJ\\sigma - h^T\\sigma`.  A zero field is recognised exactly
  when the model computes it exactly: always for integer patterns in
  :class:`~physjax.spins.models.LowRankIsing` (Hebb), see its docstring.

A sweep visits all N spins once, in index order (``order="sequential"``) or in a fresh
random permutation (``order="random"``, random sequential / asynchronous dynamics).
Updates are strictly sequential, but are organised in blocks of B spins: the fields of a
block are computed with one matrix product, then the B updates run one after another (a
loop, not unrolled, so the compiled program does not grow with B), each correcting its
field for the flips made earlier in the block with the B x B coupling block.  This is
exactly single-spin sequential dynamics at O(N) work per spin (O(K) for low-rank
couplings), with one outer loop iteration per block instead of per spin.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Key, Real, Scalar
from physjax._checks import (
    check_choice,
    check_instance,
    check_key,
    check_positive_int,
    check_spins,
    is_concrete,
)
from physjax._options import DenseRule, RelaxDynamics, SweepOrder
from physjax.kernels import Kernel, run
from physjax.spins.models import DenseIsing, LowRankIsing

__all__ = [
    "SweepOrder",
    "RelaxDynamics",
    "DenseSingleSpin",
    "SynchronousSign",
    "DenseState",
    "DenseInfo",
    "DenseTrace",
    "SynchronousState",
    "SynchronousInfo",
    "RelaxResult",
    "DenseRule",
    "init_dense",
    "dense_sweep",
    "run_dense",
    "relax",
]

DEFAULT_BLOCK = 32
_COUNT = jnp.int32   # flip counters: int32 also under jax_enable_x64


class DenseState(NamedTuple):
    """One replica: spins (N,) of +-1 floats, the model's field cache, inverse temperature."""

    spins: Array
    cache: Array
    beta: Array


class DenseInfo(NamedTuple):
    """What one sweep did: ``flips``, the number of spins it flipped (int32)."""

    flips: Array


class DenseTrace(NamedTuple):
    """Recorded observables: energy per spin, flips per spin in the last sweep, and the
    user's ``observe(spins)`` output (``None`` if not requested)."""

    energy: Array
    flip_rate: Array
    extra: object


DENSE_MODELS = (DenseIsing, LowRankIsing)  #: the models the dense samplers accept
DenseModel = DenseIsing | LowRankIsing     #: their type, for annotations


def check_dense_model(model: Any, name: str = "model") -> None:
    """``TypeError`` naming ``name`` unless ``model`` is a dense spin model."""
    check_instance(model, name, DENSE_MODELS, "physjax.spins.DenseIsing or LowRankIsing")


def _dtype(model):
    return model.h.dtype


def _check_state(model, state, name="state"):
    """Trace-time check that ``state`` is one replica of ``model`` (shapes and dtypes)."""
    if not isinstance(state, DenseState):
        raise TypeError(f"{name} must be a DenseState (from init_dense or "
                        f"DenseSingleSpin.init), got {type(state).__name__}")
    N, dtype = model.n_spins, _dtype(model)
    spins = jnp.shape(state.spins)
    if spins != (N,):
        raise ValueError(f"{name}.spins has shape {spins} but the model has {N} spins: a "
                         f"state of another model (one replica per state; vmap over "
                         f"replicas)")
    if jnp.result_type(state.spins) != dtype:
        raise TypeError(f"{name}.spins has dtype {jnp.result_type(state.spins)} but the "
                        f"model is {dtype}: a state of another model (build it with "
                        f"init_dense under the same jax_enable_x64 setting)")
    cache = jax.eval_shape(model.field_cache, jax.ShapeDtypeStruct((N,), dtype))
    if jnp.shape(state.cache) != cache.shape or jnp.result_type(state.cache) != cache.dtype:
        raise ValueError(f"{name}.cache has shape {jnp.shape(state.cache)} "
                         f"({jnp.result_type(state.cache)}) but this model's field cache is "
                         f"{cache.shape} ({cache.dtype}): a state of another model")
    if jnp.shape(state.beta) != ():
        raise ValueError(f"{name}.beta must be a scalar (one replica), got shape "
                         f"{jnp.shape(state.beta)}; vmap over replicas")


def _guard_model(model, name="model"):
    """Non-finite couplings or fields of a traced model raise an equinox error when the
    program runs (a concrete model was checked by its constructor)."""
    def guard(path, x):
        if is_concrete(x) or not jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            return x
        return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)),
                            f"{name}{jax.tree_util.keystr(path)} must be finite, got NaN or "
                            f"infinite entries")
    return jax.tree_util.tree_map_with_path(guard, model)


def _temperature_message(rule):
    return (f"temperature (state.beta = 1/T) must be >= 0 and not NaN; rule={rule!r} needs "
            f"temperatures > 0 (T = 0 only with rule='zero_temperature')")


def _guard_beta(rule, beta, name="state.beta"):
    """Inverse temperatures: NaN or negative always refused, T = 0 (beta = inf) only for
    the zero-temperature rule; beta = 0 (T = inf) is allowed."""
    if is_concrete(beta):
        b = np.asarray(beta)
        if np.any(np.isnan(b)):
            raise ValueError(f"{name}: the temperature is NaN; {_temperature_message(rule)}")
        if np.any(b < 0):
            raise ValueError(f"{name}: a temperature is negative (min beta {b.min()}); "
                             f"{_temperature_message(rule)}")
        if rule != "zero_temperature" and np.any(np.isinf(b)):
            raise ValueError(f"rule={rule!r} needs temperatures > 0 (T = 0 only with "
                             f"rule='zero_temperature'); {name} is inf")
        return beta
    bad = jnp.isnan(beta) | (beta < 0)
    if rule != "zero_temperature":
        bad = bad | jnp.isinf(beta)
    return eqx.error_if(beta, bad, f"{name}: {_temperature_message(rule)}")


def init_dense(key: Key, model: DenseModel, temperature: Scalar, *,
               spins: Real[ArrayLike, " n"] | None = None) -> DenseState:
    """State of one replica at ``temperature`` (``jnp.inf`` allowed; 0 only for the
    zero-temperature rule, encoded as beta = inf).  Random spins unless ``spins`` given.
    ``temperature`` may be traced (vmap over a ladder)."""
    check_dense_model(model)
    N, dtype = model.n_spins, _dtype(model)
    t = jnp.asarray(temperature, dtype=dtype)
    if t.ndim:
        raise ValueError(f"temperature must be a scalar for one replica, got shape "
                         f"{t.shape}; vmap init_dense over replicas")
    if is_concrete(t):
        tn = np.asarray(t)
        if np.isnan(tn) or tn < 0:
            raise ValueError(f"temperature must be >= 0 (0 only for zero-temperature "
                             f"dynamics), got {float(tn)}")
    else:
        t = eqx.error_if(t, jnp.isnan(t) | (t < 0), "temperature must be >= 0 (0 only for "
                         "zero-temperature dynamics) and not NaN")
    if spins is None:
        spins = jnp.where(jax.random.bernoulli(key, 0.5, (N,)), 1.0, -1.0)
    else:
        spins = jnp.asarray(check_spins(spins, "spins"))
        if spins.shape != (N,):
            raise ValueError(f"spins must have shape ({N},) for one replica of this model, "
                             f"got {spins.shape}; vmap over replicas")
    spins = spins.astype(dtype)
    return DenseState(spins, model.field_cache(spins), 1.0 / t)


def _new_spin(rule, phi, s, u, beta):
    if rule == "heat_bath":
        return jnp.where(u < jax.nn.sigmoid(2.0 * beta * phi), 1.0, -1.0).astype(s.dtype)
    if rule == "metropolis":
        flip = u < jnp.exp(-2.0 * beta * s * phi)
        return jnp.where(flip, -s, s)
    return jnp.where(phi > 0, 1.0, jnp.where(phi < 0, -1.0, s)).astype(s.dtype)


def _block_layout(N, block):
    B = min(block, N)
    n_blocks = -(-N // B)
    return B, n_blocks


def _uniform_from_bits(words, dtype):
    """Uniform floats in [0, 1) from one (float32) or two (float64) rows of random uint32
    words, with the full mantissa (as jax.random.uniform)."""
    if jnp.dtype(dtype).itemsize <= 4:
        one = jax.lax.bitcast_convert_type(jnp.uint32(0x3F800000), jnp.float32)
        mantissa = (words[0] >> 9) | jnp.uint32(0x3F800000)
        return (jax.lax.bitcast_convert_type(mantissa, jnp.float32) - one).astype(dtype)
    hi = (words[0] >> 11).astype(dtype)          # 21 bits
    lo = words[1].astype(dtype)                  # 32 bits
    return (hi * 2.0 ** 32 + lo) * 2.0 ** -53


def _sweep_randomness(key, order, rule, N, shape, dtype):
    """Visiting order and uniforms of one sweep from a single ``jax.random.bits`` call
    (each threefry call site costs compile time): a random order sorts the sites by two
    random 32-bit words (ties have probability ~N^2 / 2^64)."""
    n_sort = 2 if order == "random" else 0
    n_uniform = 0 if rule == "zero_temperature" else (1 if jnp.dtype(dtype).itemsize <= 4
                                                       else 2)
    n = shape[0] * shape[1]
    if n_sort + n_uniform == 0:          # sequential zero-temperature sweeps: no randomness
        return jnp.arange(N), jnp.zeros(shape, dtype)
    # one 1-D draw (a multi-dimensional shape costs several times more to compile)
    words = jax.random.bits(key, ((n_sort + n_uniform) * n,), jnp.uint32).reshape(-1, n)
    if n_sort:
        sites = jax.lax.sort((words[0, :N], words[1, :N], jnp.arange(N)), num_keys=2)[2]
    else:
        sites = jnp.arange(N)
    if n_uniform:
        u = _uniform_from_bits(words[n_sort:], dtype).reshape(shape)
    else:
        u = jnp.zeros(shape, dtype)
    return sites, u


def _sweep(rule, order, block, key, model, state):
    """One sweep of block-sequential single-spin updates: (spins, cache, flips)."""
    N = model.n_spins
    B, n_blocks = _block_layout(N, block)
    dtype = state.spins.dtype
    sites, u = _sweep_randomness(key, order, rule, N, (n_blocks, B), dtype)
    pad = n_blocks * B - N
    sites = jnp.concatenate([sites, jnp.zeros((pad,), sites.dtype)]).reshape(n_blocks, B)
    valid = (jnp.arange(n_blocks * B) < N).reshape(n_blocks, B)
    scale, beta = model.field_scale, state.beta

    def block_step(carry, xs):
        spins, cache = carry
        idx, ok, ub = xs
        # unscaled fields of the block before any of its updates, and the couplings that
        # correct them for the flips made earlier in the block (exact for integer data)
        num = model.block_fields(cache, spins, idx)
        G = model.block_couplings(idx)
        hb, sb = model.h[idx], spins[idx]

        def update(i, ds):  # strictly sequential inside the block
            phi = (num[i] + G[i] @ ds) * scale + hb[i]
            new = _new_spin(rule, phi, sb[i], ub[i], beta)
            return ds.at[i].set(jnp.where(ok[i], new - sb[i], 0))

        ds = jax.lax.fori_loop(0, B, update, jnp.zeros_like(sb))
        spins = spins.at[idx].add(ds)
        cache = model.update_cache(cache, idx, ds)
        return (spins, cache), jnp.sum(ds != 0, dtype=_COUNT)

    (spins, cache), flips = jax.lax.scan(block_step, (state.spins, state.cache),
                                         (sites, valid, u))
    return spins, cache, jnp.sum(flips, dtype=_COUNT)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _dense_step(rule, order, block, key, model, state):
    # jitted so that tracing a sweep (inside run, vmap or eval_shape) is done once per
    # configuration and shape, then reused from jax's cache
    check_dense_model(model)
    _check_state(model, state)
    spins, cache, flips = _sweep(rule, order, block, key, model, state)
    return state._replace(spins=spins, cache=cache), DenseInfo(flips)


class DenseSingleSpin(Kernel):
    """Single-spin dynamics of a dense spin model; one step is one sweep of N updates.

    Static configuration: ``rule`` (``"heat_bath"``, ``"metropolis"`` or
    ``"zero_temperature"``), ``order`` (``"sequential"`` or ``"random"``) and the ``block``
    size of the exact block-sequential update (see the module docstring).  ``model`` is a
    :class:`~physjax.spins.models.DenseIsing` or :class:`~physjax.spins.models.LowRankIsing`;
    the state is :class:`DenseState` (its ``beta`` is the replica's inverse temperature, so
    the kernel can be tempered); the info is :class:`DenseInfo` (flips in the sweep).
    """

    rule: DenseRule = eqx.field(static=True, default="heat_bath")
    order: SweepOrder = eqx.field(static=True, default="sequential")
    block: int = eqx.field(static=True, default=DEFAULT_BLOCK)

    def __check_init__(self):
        check_choice(self.rule, "rule", DenseRule)
        check_choice(self.order, "order", SweepOrder)
        check_positive_int(self.block, "block")

    def init(self, key: Key, model: DenseModel, temperature: Scalar | None = None, *,
             spins: Real[ArrayLike, " n"] | None = None) -> DenseState:
        """:func:`init_dense`; ``temperature`` defaults to 0 for the zero-temperature rule."""
        if temperature is None:
            if self.rule != "zero_temperature":
                raise TypeError(f"temperature is required for rule={self.rule!r}")
            temperature = 0.0
        return init_dense(key, model, temperature, spins=spins)

    def step(self, key: Key, model: DenseModel, state: DenseState,
             ) -> tuple[DenseState, DenseInfo]:
        return _dense_step(self.rule, self.order, self.block, key, model, state)

    def energy(self, model: DenseModel, state: DenseState) -> Float[Array, ""]:
        """:math:`H(\\sigma)` of the replica."""
        return model.energy(state.spins)

    def check(self, model: DenseModel, state: DenseState) -> tuple[DenseModel, DenseState]:
        check_dense_model(model)
        _check_state(model, state)
        model = _guard_model(model)
        return model, state._replace(beta=_guard_beta(self.rule, state.beta))


# ------------------------------------------------------------------ convenience wrappers

def dense_sweep(key: Key, model: DenseModel, state: DenseState, *, rule: DenseRule = "heat_bath",
                order: SweepOrder = "sequential", block: int = DEFAULT_BLOCK,
                ) -> tuple[DenseState, Int[Array, ""]]:
    """One sweep of single-spin updates (``DenseSingleSpin(rule, order, block).step``).
    Returns the new state and the number of flips."""
    check_dense_model(model)
    kernel = DenseSingleSpin(rule, order, block)
    new, info = kernel.step(check_key(key, traced=True), model, state)
    return new, info.flips


class _DenseRecord(eqx.Module):
    """``observe`` for :func:`run_dense`: energy per spin, flip rate, ``extra(spins)``."""

    extra: Callable | None = eqx.field(static=True)

    def __call__(self, model, state, info):
        N = model.n_spins
        extra = None if self.extra is None else self.extra(state.spins)
        return DenseTrace(model.energy(state.spins) / N,
                          info.flips.astype(state.spins.dtype) / N, extra)


def run_dense(key: Key, model: DenseModel, state: DenseState, n_sweeps: int, *,
              rule: DenseRule = "heat_bath", order: SweepOrder = "sequential",
              record_every: int = 1,
              observe: Callable[..., Any] | None = None,
              block: int = DEFAULT_BLOCK) -> tuple[DenseState, DenseTrace]:
    """``n_sweeps`` sweeps of :class:`DenseSingleSpin` through :func:`physjax.kernels.run`,
    recording every ``record_every`` sweeps the energy per spin, the flip rate and
    ``observe(spins)`` (e.g. Mattis overlaps).  Sweep n draws from ``fold_in(key, n)``.
    Pass the same ``observe`` object each call (a module-level function), or call inside
    ``jax.jit``: a new lambda per call compiles a new program."""
    check_dense_model(model)
    kernel = DenseSingleSpin(rule, order, block)
    n_sweeps = check_positive_int(n_sweeps, "n_sweeps", minimum=0)
    record_every = check_positive_int(record_every, "record_every")
    if n_sweeps % record_every:
        raise ValueError(f"n_sweeps ({n_sweeps}) must be a multiple of record_every "
                         f"({record_every})")
    if observe is not None and not callable(observe):
        raise TypeError(f"observe must be a callable of the spins, got "
                        f"{type(observe).__name__}")
    record = _DenseRecord(observe)
    if n_sweeps == 0:
        model, state = kernel.check(model, state)
        info = DenseInfo(jnp.zeros((), _COUNT))
        shapes = jax.eval_shape(record, model, state, info)
        return state, jax.tree.map(lambda s: jnp.zeros((0, *s.shape), s.dtype), shapes)
    result = run(kernel, key, model, state, n_sweeps, record_every=record_every,
                 observe=record)
    return result.state, result.records


# ---------------------------------------------------------------- zero-temperature relax

class RelaxResult(NamedTuple):
    """Outcome of zero-temperature dynamics for one replica.

    ``fixed_point``: a sweep (asynchronous) or a parallel update (synchronous) changed no
    spin; ``two_cycle``: synchronous dynamics returned to the configuration of two steps
    before without being fixed; ``n_sweeps``: sweeps (or parallel steps) performed.
    """

    spins: Array
    fixed_point: Array
    two_cycle: Array
    n_sweeps: Array


class SynchronousState(NamedTuple):
    """Spins now and one parallel step before."""

    spins: Array
    previous: Array


class SynchronousInfo(NamedTuple):
    """``fixed_point``: the step changed no spin; ``two_cycle``: it returned to the
    configuration of two steps before without being fixed."""

    fixed_point: Array
    two_cycle: Array


class SynchronousSign(Kernel):
    """Synchronous (Little) zero-temperature dynamics,
    :math:`\\sigma \\leftarrow \\mathrm{sign}(J\\sigma + h)` for all spins at once (a spin
    with zero field is kept).  Deterministic; it can end in a 2-cycle."""

    def init(self, key: Key, model: DenseModel, spins: Real[ArrayLike, " n"],
             ) -> SynchronousState:
        s = init_dense(key, model, 0.0, spins=spins).spins
        return SynchronousState(s, s)

    def step(self, key: Key, model: DenseModel, state: SynchronousState,
             ) -> tuple[SynchronousState, SynchronousInfo]:
        check_dense_model(model)
        s = state.spins
        if jnp.shape(s) != (model.n_spins,):
            raise ValueError(f"state.spins has shape {jnp.shape(s)} but the model has "
                             f"{model.n_spins} spins: a state of another model")
        phi = model.fields(s)
        new = jnp.where(phi > 0, 1.0, jnp.where(phi < 0, -1.0, s)).astype(s.dtype)
        fixed = jnp.all(new == s)
        return SynchronousState(new, s), SynchronousInfo(
            fixed, jnp.all(new == state.previous) & ~fixed)

    def energy(self, model: DenseModel, state: SynchronousState) -> Float[Array, ""]:
        return model.energy(state.spins)

    def check(self, model: DenseModel, state: SynchronousState,
              ) -> tuple[DenseModel, SynchronousState]:
        check_dense_model(model)
        if not isinstance(state, SynchronousState):
            raise TypeError(f"state must be a SynchronousState, got {type(state).__name__}")
        return _guard_model(model), state


def _no_flips(model, state, info):
    return info.flips == 0


def _fixed_or_cycle(model, state, info):
    return info.fixed_point | info.two_cycle


def relax(key: Key, model: DenseModel, spins: Real[ArrayLike, " n"], *,
          dynamics: RelaxDynamics = "asynchronous", max_sweeps: int = 100,
          block: int = DEFAULT_BLOCK) -> RelaxResult:
    """Zero-temperature sign dynamics from ``spins`` (one replica; vmap for more) until a
    fixed point, a 2-cycle (synchronous only) or ``max_sweeps``.

    ``"asynchronous"``: random sequential updates (:class:`DenseSingleSpin` with rule
    ``"zero_temperature"``, order ``"random"``: a fresh permutation every sweep);
    ``"synchronous"``: :class:`SynchronousSign` (Little dynamics), which can end in a
    2-cycle.  Either runs through :func:`physjax.kernels.run` with an early stop.  A spin
    with zero local field is kept; for Hebbian couplings (integer patterns) the fields are
    computed exactly, so such a spin cannot flip back and forth on rounding
    (:class:`~physjax.spins.models.LowRankIsing`).
    """
    check_dense_model(model)
    check_choice(dynamics, "dynamics", RelaxDynamics)
    max_sweeps = check_positive_int(max_sweeps, "max_sweeps")
    if dynamics == "asynchronous":
        kernel = DenseSingleSpin("zero_temperature", "random", block)
        state = kernel.init(key, model, spins=spins)
        r = run(kernel, key, model, state, max_sweeps, record_every=max_sweeps,
                stop=_no_flips)
        return RelaxResult(r.state.spins, r.stopped, jnp.zeros((), bool), r.n_steps)
    kernel = SynchronousSign()
    state = kernel.init(key, model, spins)
    r = run(kernel, key, model, state, max_sweeps, record_every=max_sweeps,
            stop=_fixed_or_cycle)
    return RelaxResult(r.state.spins, r.records.fixed_point[-1], r.records.two_cycle[-1],
                       r.n_steps)
