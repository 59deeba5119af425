"""Checkerboard Monte Carlo samplers for the lattice Ising model.

Two engines, same physics, both :class:`physjax.kernels.Kernel` s advanced by
:func:`physjax.kernels.run`:

* :class:`CheckerboardIsing`, the **reference** engine, stores spins as ``int8`` and draws a
  float uniform per site from ``jax.random``.  Its state may carry any leading replica axes
  (one temperature each), and it ``jax.vmap`` s.  It is short enough to check by eye and
  serves as the pure-JAX path.
* :class:`MultispinIsing`, the **multi-spin** engine (:mod:`physjax.spins.multispin`), packs
  32 replicas (or 32 strips of one lattice) into the bits of ``uint32`` words; it is 10-20x
  faster on a CPU.

Both update the two checkerboard colours in turn (a step = one sweep = one attempted update
of every spin) with either rule

* Metropolis: flip with probability :math:`\\min(1, e^{-\\beta\\Delta E})`;
* heat bath (Glauber): set :math:`s_i=+1` with probability
  :math:`\\tfrac12[1+\\tanh(\\beta\\phi_i)]`, :math:`\\phi_i = J\\sum_{j\\in\\partial i}s_j + h`,
  i.e. flip with probability :math:`1/(1+e^{\\beta\\Delta E})`.

The model (:class:`~physjax.spins.IsingLattice`) holds ``J`` and ``h``; the inverse
temperature of each replica lives in the state (``state.beta``), so a state may hold a
whole temperature ladder, and ``energy(model, state)`` gives :math:`H` per replica for
tempering.  Temperatures, ``J`` and ``h`` may all be traced (``jax.vmap``,
:func:`physjax.ensemble.sweep`): a program is compiled once per static configuration
(lattice shape, number of replicas, rule, numbers of sweeps).

:func:`sample_ising` is the one-call entry point: R replicas at per-replica temperatures,
``burn_in`` sweeps, then a time series of energy and magnetization per spin.
:func:`run_ising` and :func:`run_multispin` run an existing state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Key, Real, Scalar
from physjax._checks import (
    check_choice,
    check_key,
    check_positive_int,
    check_spins,
    check_temperature,
    is_concrete,
)
from physjax._counter_rng import hashed_words
from physjax._options import IsingEngine, IsingStart, PackedLayout, UpdateRule
from physjax.kernels import Kernel, run
from physjax.spins import multispin as _ms
from physjax.spins.models import IsingLattice

__all__ = [
    "IsingStart",
    "IsingEngine",
    "CheckerboardIsing",
    "MultispinIsing",
    "IsingState",
    "IsingInfo",
    "IsingTrace",
    "IsingSamples",
    "UpdateRule",
    "init_ising",
    "checkerboard_sweep",
    "run_ising",
    "init_multispin",
    "multispin_sweep",
    "run_multispin",
    "multispin_spins",
    "sample_ising",
]


#: Replica temperatures: a scalar (one replica) or a 1-D array or list, one per replica.
Temperatures = Real[ArrayLike, ""] | Real[ArrayLike, " r"] | Sequence[float]


class IsingState(NamedTuple):
    """State of the reference engine: ``int8`` spins of shape ``(*batch, *model.shape)`` and
    the inverse temperature of each replica, shape ``batch`` (``()`` for one replica)."""

    spins: Array
    beta: Array


class IsingInfo(NamedTuple):
    """What a step of either Ising kernel reports: nothing (observables are computed by
    ``observe`` at the record steps only, so the sweep pays nothing for them)."""


class IsingTrace(NamedTuple):
    """Observables recorded during a run: energy and magnetization per spin.

    Shapes: ``(n_records, *batch)`` for the reference engine, ``(n_records, n_lanes)`` for
    the multi-spin engine (time first, replicas last).
    """

    energy: Array
    magnetization: Array


# ------------------------------------------------------------------------- checks

def _check_model(model, name="model"):
    if not isinstance(model, IsingLattice):
        raise TypeError(f"{name} must be a physjax.spins.IsingLattice, got "
                        f"{type(model).__name__}")
    for side in model.shape:
        if side % 2:
            raise ValueError(f"{name}.shape sides must be even for the samplers (both the "
                             f"reference and the multi-spin engine update a checkerboard, "
                             f"which on a periodic lattice needs even sides), got "
                             f"{model.shape}; odd sides suit lattice_energy only")


def _guard_finite(x, name):
    """``x`` checked finite: ValueError when concrete, ``equinox.error_if`` when traced."""
    if is_concrete(x):
        if not np.all(np.isfinite(np.asarray(x))):
            raise ValueError(f"{name} must be finite, got {np.asarray(x)!r}")
        return x
    return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"{name} must be finite")


def _guard_positive(x, name):
    """``x`` checked finite and > 0: ValueError when concrete, ``equinox.error_if`` when
    traced (a traced temperature cannot be checked before the program runs)."""
    if is_concrete(x):
        check_temperature(x, name)
        return x
    return eqx.error_if(x, ~jnp.all((x > 0) & jnp.isfinite(x)), f"{name} must be finite "
                                                                 f"and > 0")


def _guarded_model(model):
    _check_model(model)
    return eqx.tree_at(lambda m: (m.J, m.h), model,
                       (_guard_finite(model.J, "model.J"), _guard_finite(model.h, "model.h")))


def _initial_spins(key, shape, start, dtype=jnp.int8):
    if start == "random":
        return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1, -1).astype(dtype)
    return jnp.full(shape, 1 if start == "up" else -1, dtype)


def _inverse_temperature(temperature, name):
    temperature = jnp.asarray(check_temperature(temperature, name), dtype=float)
    return 1.0 / _guard_positive(temperature, name)


def _colour_masks(shape):
    parity = sum(np.indices(shape)) % 2
    return parity == 0, parity == 1


def _lattice_sum(x, d):
    return jnp.sum(x, axis=tuple(range(x.ndim - d, x.ndim)))


# ------------------------------------------------------------- reference engine

class CheckerboardIsing(Kernel):
    """The reference checkerboard engine (``int8`` spins, one ``jax.random`` uniform per
    site) as a :class:`~physjax.kernels.Kernel`: ``step`` is one sweep of both colours of
    every replica in the state.

    Attributes:
        rule: ``"metropolis"`` or ``"heat_bath"`` (static).
    """

    rule: UpdateRule = eqx.field(static=True, default="metropolis")

    def __check_init__(self):
        check_choice(self.rule, "rule", UpdateRule)

    def init(self, key: Key, model: IsingLattice,
             temperature: Real[ArrayLike, "*batch"] | Sequence[float], *,
             start: IsingStart = "random",
             spins: Real[ArrayLike, " ..."] | None = None) -> IsingState:
        """State at ``temperature`` (a scalar, or an array of replica temperatures: the
        spins get its shape as leading axes).  ``start``: ``"random"``, ``"up"`` or
        ``"down"``, or explicit ``spins`` of shape ``(*temperature.shape, *model.shape)``."""
        _check_model(model)
        check_key(key, traced=True)
        check_choice(start, "start", IsingStart)
        beta = _inverse_temperature(temperature, "temperature")
        shape = beta.shape + model.shape
        if spins is None:
            spins = _initial_spins(key, shape, start)
        else:
            spins = jnp.asarray(check_spins(spins, "spins"))
            if spins.shape != shape:
                raise ValueError(f"spins must have the shape {shape} (temperatures, then the "
                                 f"lattice {model.shape}), got {spins.shape}")
            spins = spins.astype(jnp.int8)
        return IsingState(spins=spins, beta=beta)

    def _shapes(self, model, state, name="state"):
        """Trace-time check that ``state`` belongs to ``model``; returns the batch shape."""
        if not isinstance(state, IsingState):
            raise TypeError(f"{name} must be an IsingState (from CheckerboardIsing.init or "
                            f"init_ising), got {type(state).__name__}")
        d = len(model.shape)
        spins, beta = state.spins, state.beta
        if spins.dtype != jnp.int8 or spins.shape[spins.ndim - d:] != model.shape:
            raise ValueError(f"{name}.spins must be int8 of shape (..., {model.shape}) for "
                             f"this model, got {spins.dtype} {spins.shape}: a state from "
                             f"another lattice?")
        if beta.shape != spins.shape[:spins.ndim - d] or \
                not jnp.issubdtype(beta.dtype, jnp.floating):
            raise ValueError(f"{name}.beta must be a float array of shape "
                             f"{spins.shape[:spins.ndim - d]} (one per replica), got "
                             f"{beta.dtype} {beta.shape}")
        return beta.shape

    def check(self, model: IsingLattice, state: IsingState) -> tuple[IsingLattice, IsingState]:
        model = _guarded_model(model)
        self._shapes(model, state)
        return model, state._replace(beta=_guard_positive(state.beta, "state.beta"))

    def step(self, key: Key, model: IsingLattice, state: IsingState,
             ) -> tuple[IsingState, IsingInfo]:
        self._shapes(model, state)
        return _reference_sweep(key, model, state, self.rule), IsingInfo()

    def energy(self, model: IsingLattice, state: IsingState) -> Float[Array, "*batch"]:
        """Energy :math:`H` of each replica, shape ``batch``."""
        self._shapes(model, state)
        e, m = _reference_sums(model, state)
        return e

    def observables(self, model: IsingLattice, state: IsingState) -> IsingTrace:
        """Energy and magnetization per spin of each replica."""
        self._shapes(model, state)
        e, m = _reference_sums(model, state)
        return IsingTrace(e / model.n_spins, m / model.n_spins)


@partial(jax.jit, static_argnums=3)  # one program also when called eagerly
def _reference_sweep(key, model, state, rule):
    spins, beta = state.spins, state.beta
    d = len(model.shape)
    lattice_axes = tuple(range(spins.ndim - d, spins.ndim))
    b = beta.reshape(beta.shape + (1,) * d)
    for mask, k in zip(_colour_masks(model.shape), jax.random.split(key), strict=True):
        s32 = spins.astype(jnp.int32)
        nsum = sum(jnp.roll(s32, shift, a) for a in lattice_axes for shift in (1, -1))
        dE = 2.0 * s32.astype(beta.dtype) * (model.J * nsum + model.h)
        u = jax.random.uniform(k, spins.shape, dtype=beta.dtype)
        if rule == "metropolis":
            flip = u < jnp.exp(-b * dE)  # >= 1 when dE <= 0: always accepted
        else:
            flip = u < jax.nn.sigmoid(-b * dE)
        spins = jnp.where(jnp.asarray(mask) & flip, -spins, spins)
    return IsingState(spins, beta)


def _reference_sums(model, state):
    """(H, total magnetization) of every replica."""
    d = len(model.shape)
    s = state.spins.astype(state.beta.dtype)
    axes = range(s.ndim - d, s.ndim)
    bonds = _lattice_sum(sum(s * jnp.roll(s, -1, a) for a in axes), d)
    m = _lattice_sum(s, d)
    return -model.J * bonds - model.h * m, m


def _reference_trace(model, state, info):
    return CheckerboardIsing().observables(model, state)


def init_ising(key: Key, model: IsingLattice, temperature: Scalar, *, start: IsingStart = "random",
               spins: Real[ArrayLike, "*lattice"] | None = None) -> IsingState:
    """Initial state of one replica at ``temperature`` (``start``: random, up or down,
    or explicit ``spins`` of the lattice shape).  :meth:`CheckerboardIsing.init` also takes
    an array of temperatures."""
    _check_model(model)
    check_key(key, traced=True)
    check_temperature(temperature, "temperature")
    if np.ndim(temperature):
        raise ValueError(f"temperature must be a scalar for one replica, got shape "
                         f"{np.shape(temperature)}; vmap init_ising over replicas (or give "
                         f"CheckerboardIsing.init an array of temperatures)")
    if spins is not None:
        spins = jnp.asarray(check_spins(spins, "spins"))
        if spins.shape != model.shape:
            raise ValueError(f"spins must have the lattice shape {model.shape}, "
                             f"got {spins.shape}")
    return CheckerboardIsing().init(key, model, temperature, start=start, spins=spins)


@eqx.filter_jit
def _step(kernel, key, model, state):
    return kernel.step(key, model, state)[0]


def checkerboard_sweep(key: Key, model: IsingLattice, state: IsingState, *,
                       rule: UpdateRule = "metropolis") -> IsingState:
    """One checkerboard sweep (both colours) with the reference engine
    (:meth:`CheckerboardIsing.step`)."""
    check_key(key, traced=True)
    kernel = CheckerboardIsing(rule)
    model, state = kernel.check(model, state)
    return _step(kernel, key, model, state)


def _check_run_args(rule, n_sweeps, record_every):
    check_choice(rule, "rule", UpdateRule)
    check_positive_int(n_sweeps, "n_sweeps", minimum=0)
    check_positive_int(record_every, "record_every")
    if n_sweeps % record_every:
        raise ValueError(f"n_sweeps ({n_sweeps}) must be a multiple of record_every "
                         f"({record_every})")


def _run_records(kernel, key, model, state, n_sweeps, record_every, burn_in, observe,
                 progress=None):
    """``burn_in`` then ``n_sweeps`` steps with :func:`physjax.kernels.run`, recording
    ``observe`` every ``record_every`` sweeps; ``n_sweeps = 0`` gives empty records."""
    if n_sweeps == 0:
        if burn_in:
            state = run(kernel, key, model, state, burn_in, record_every=burn_in,
                        observe=_no_record, progress=progress).state
        empty = jax.eval_shape(observe, model, state, None)
        return state, jax.tree.map(lambda s: jnp.zeros((0, *s.shape), s.dtype), empty)
    n_units = n_sweeps // record_every + (0 if burn_in % record_every else
                                          burn_in // record_every)
    r = run(kernel, key, model, state, n_sweeps, record_every=record_every, burn_in=burn_in,
            observe=observe, progress=progress, progress_chunks=_progress_chunks(n_units))
    return r.state, r.records


def _no_record(model, state, info):
    return ()


def _progress_chunks(n_units, target=50):
    """A divisor of ``n_units`` within a factor 4 of ``target`` when there is one: the run
    then splits into equal chunks, one compiled program (a remainder chunk compiles a
    second one); else ``target``."""
    divisors = [d for d in range(target // 4, 4 * target + 1) if d and n_units % d == 0]
    return min(divisors, key=lambda d: abs(math.log(d / target)), default=target)


def run_ising(key: Key, model: IsingLattice, state: IsingState, n_sweeps: int, *,
              rule: UpdateRule = "metropolis",
              record_every: int = 1) -> tuple[IsingState, IsingTrace]:
    """Run ``n_sweeps`` reference sweeps (:class:`CheckerboardIsing` through
    :func:`physjax.kernels.run`), recording energy and magnetization per spin every
    ``record_every`` sweeps.  Returns (final state, trace of shape ``(n_records, *batch)``)."""
    _check_model(model)
    check_key(key, traced=True)
    _check_run_args(rule, n_sweeps, record_every)
    return _run_records(CheckerboardIsing(rule), key, model, state, n_sweeps, record_every, 0,
                        _reference_trace)


# ------------------------------------------------------------ multi-spin engine

def _layout_for(model, n_replicas, layout):
    if layout == "auto":
        if n_replicas < _ms.WORD_BITS and model.shape[-1] % (2 * _ms.WORD_BITS) == 0:
            return "strips"
        return "replicas"
    check_choice(layout, "layout", PackedLayout)
    if layout == "strips" and model.shape[-1] % (2 * _ms.WORD_BITS):
        raise ValueError(f"layout='strips' needs the last side of model.shape divisible by "
                         f"64, got {model.shape}")
    return layout


def _state_layout(model, state, name="state"):
    """The lane layout of a packed state (static: from its shapes), checked against the
    model."""
    if not isinstance(state, _ms.PackedIsingState):
        raise TypeError(f"{name} must be a PackedIsingState (from MultispinIsing.init or "
                        f"init_multispin), got {type(state).__name__}")
    black, white, beta = state.black, state.white, state.beta
    c = black.shape[-1] if black.ndim else 0
    layout = ("replicas" if 2 * c == model.shape[-1] else
              "strips" if _ms.WORD_BITS * 2 * c == model.shape[-1] else None)
    lanes = None if black.ndim == 0 else \
        black.shape[0] * (_ms.WORD_BITS if layout == "replicas" else 1)
    if (layout is None or black.dtype != jnp.uint32 or white.dtype != jnp.uint32
            or black.shape != white.shape or black.shape[1:-1] != model.shape[:-1]):
        raise ValueError(f"{name} does not fit model.shape {model.shape}: black/white words "
                         f"{black.dtype} {black.shape} and {white.dtype} {white.shape}, "
                         f"expected uint32 (G, {', '.join(map(str, model.shape[:-1]))}, "
                         f"{model.shape[-1] // 2} or {model.shape[-1] // 64}): a state from "
                         f"another lattice?")
    if beta.shape != (lanes,) or not jnp.issubdtype(beta.dtype, jnp.floating):
        raise ValueError(f"{name}.beta must be a float array of shape ({lanes},) (one per "
                         f"lane), got {beta.dtype} {beta.shape}")
    return layout


def _check_precision(precision_bits):
    check_positive_int(precision_bits, "precision_bits")
    if precision_bits > 31:
        raise ValueError(f"precision_bits must be between 1 and 31, got {precision_bits}")


class MultispinIsing(Kernel):
    """The multi-spin coded checkerboard engine (:mod:`physjax.spins.multispin`) as a
    :class:`~physjax.kernels.Kernel`: ``step`` is one sweep of every packed replica.

    Attributes (static):
        rule: ``"metropolis"`` or ``"heat_bath"``.
        precision_bits: resolution :math:`2^{-k}` of the acceptance probabilities.
        zero_field: compile the update without the field term (about half the work per
            random bit); :meth:`check` then requires ``model.h == 0``.  The wrappers set it
            from the concrete ``model.h``.
    """

    rule: UpdateRule = eqx.field(static=True, default="metropolis")
    precision_bits: int = eqx.field(static=True, default=24)
    zero_field: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        check_choice(self.rule, "rule", UpdateRule)
        _check_precision(self.precision_bits)
        if not isinstance(self.zero_field, bool):
            raise TypeError(f"zero_field must be a bool, got {self.zero_field!r}")

    def init(self, key: Key, model: IsingLattice, temperatures: Temperatures, *,
             layout: PackedLayout | Literal["auto"] = "auto", start: IsingStart = "random",
             spins: Real[ArrayLike, " r *lattice"] | None = None) -> _ms.PackedIsingState:
        """State for ``R = len(temperatures)`` replicas (see :func:`init_multispin`)."""
        _check_model(model)
        check_key(key, traced=True)
        check_choice(start, "start", IsingStart)
        check_temperature(temperatures, "temperatures")
        temps = jnp.atleast_1d(jnp.asarray(temperatures, dtype=float))
        if temps.ndim != 1:
            raise ValueError(f"temperatures must be a scalar or 1-D array, got shape "
                             f"{temps.shape}")
        if temps.shape[0] == 0:
            raise ValueError("temperatures must hold at least one replica's temperature")
        temps = _guard_positive(temps, "temperatures")
        R = temps.shape[0]
        layout = _layout_for(model, R, layout)
        n_lanes = -(-R // _ms.WORD_BITS) * _ms.WORD_BITS if layout == "replicas" else R
        beta = jnp.concatenate([1.0 / temps, jnp.full((n_lanes - R,), 1.0 / temps[-1])])
        if spins is not None:
            spins = jnp.asarray(check_spins(spins, "spins"), dtype=jnp.int8)
            if spins.shape != (R, *model.shape):
                raise ValueError(f"spins must have shape {(R, *model.shape)} (replicas "
                                 f"first), got {spins.shape}")
            spins = jnp.concatenate([spins, jnp.ones((n_lanes - R, *model.shape), jnp.int8)])
            black, white = _ms.pack_spins(spins, layout)
        else:
            shape = (n_lanes // _ms.WORD_BITS if layout == "replicas" else n_lanes,
                     *model.shape[:-1],
                     model.shape[-1] // (2 if layout == "replicas" else 2 * _ms.WORD_BITS))
            if start == "random":  # every bit a fair coin: hashed counters, as the sweeps
                seeds = jax.random.bits(key, (2, 2), jnp.uint32)
                counter = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
                black, white = (hashed_words(seeds[i], counter) for i in (0, 1))
            else:
                black = white = jnp.full(shape, 0xFFFFFFFF if start == "up" else 0, jnp.uint32)
        return _ms.PackedIsingState(black=black, white=white, beta=beta)

    def check(self, model: IsingLattice, state: _ms.PackedIsingState,
              ) -> tuple[IsingLattice, _ms.PackedIsingState]:
        model = _guarded_model(model)
        _state_layout(model, state)
        if self.zero_field:
            if is_concrete(model.h):
                if float(model.h) != 0:
                    raise ValueError(f"model.h must be 0 for MultispinIsing(zero_field=True), "
                                     f"got {float(model.h)}")
            else:
                model = eqx.tree_at(lambda m: m.h, model, eqx.error_if(
                    model.h, model.h != 0, "model.h must be 0 for zero_field=True"))
        return model, state._replace(beta=_guard_positive(state.beta, "state.beta"))

    def step(self, key: Key, model: IsingLattice, state: _ms.PackedIsingState,
             ) -> tuple[_ms.PackedIsingState, IsingInfo]:
        layout = _state_layout(model, state)
        new = _ms.packed_sweep(key, model.J, model.h, state, rule=self.rule, layout=layout,
                               precision_bits=self.precision_bits,
                               has_field=not self.zero_field)
        return new, IsingInfo()

    def energy(self, model: IsingLattice, state: _ms.PackedIsingState,
               ) -> Float[Array, " lanes"]:
        """Energy :math:`H` of every lane, shape ``(n_lanes,)``."""
        return self.observables(model, state).energy * model.n_spins

    def observables(self, model: IsingLattice, state: _ms.PackedIsingState) -> IsingTrace:
        """Energy and magnetization per spin of every lane, each of shape ``(n_lanes,)``."""
        layout = _state_layout(model, state)
        return IsingTrace(*_ms.packed_energy_magnetization(model.J, model.h, state,
                                                           layout=layout))


def _packed_trace(model, state, info):
    return MultispinIsing().observables(model, state)


def init_multispin(key: Key, model: IsingLattice, temperatures: Temperatures, *,
                   layout: PackedLayout | Literal["auto"] = "auto", start: IsingStart = "random",
                   spins: Real[ArrayLike, " r *lattice"] | None = None,
                   ) -> _ms.PackedIsingState:
    """Initial multi-spin state for ``R = len(temperatures)`` replicas
    (:meth:`MultispinIsing.init`).

    ``layout="replicas"`` packs 32 replicas per word (R is padded up to a multiple of 32
    internally; :func:`multispin_spins` and the traces return only the first R);
    ``layout="strips"`` packs 32 strips of one lattice per word (needs the last side
    divisible by 64); ``"auto"`` picks strips when R < 32 and the shape allows it.
    """
    return MultispinIsing().init(key, model, temperatures, layout=layout, start=start,
                                 spins=spins)


def _has_field(model):
    """False only for a concrete zero ``model.h`` (a traced field may be anything)."""
    return not is_concrete(model.h) or bool(np.asarray(model.h) != 0)


def _multispin_kernel(model, rule, precision_bits):
    return MultispinIsing(rule, precision_bits, zero_field=not _has_field(model))


def multispin_sweep(key: Key, model: IsingLattice, state: _ms.PackedIsingState, *,
                    rule: UpdateRule = "metropolis", precision_bits: int = 24,
                    ) -> _ms.PackedIsingState:
    """One checkerboard sweep of every packed replica (:meth:`MultispinIsing.step`).

    ``precision_bits`` is the resolution :math:`2^{-k}` of the acceptance probabilities
    (see :mod:`physjax.spins.multispin`).  The field term is compiled in only when
    ``model.h`` is non-zero (checked on the concrete value).
    """
    _check_model(model)
    check_key(key, traced=True)
    check_choice(rule, "rule", UpdateRule)
    _check_precision(precision_bits)
    kernel = _multispin_kernel(model, rule, precision_bits)
    model, state = kernel.check(model, state)
    return _step(kernel, key, model, state)


def run_multispin(key: Key, model: IsingLattice, state: _ms.PackedIsingState, n_sweeps: int,
                  *, rule: UpdateRule = "metropolis", record_every: int = 1,
                  precision_bits: int = 24,
                  ) -> tuple[_ms.PackedIsingState, IsingTrace]:
    """Run ``n_sweeps`` multi-spin sweeps (:class:`MultispinIsing` through
    :func:`physjax.kernels.run`); the trace has shape ``(n_sweeps // record_every,
    n_lanes)`` (padding lanes included; slice ``[:, :R]``)."""
    _check_model(model)
    check_key(key, traced=True)
    _check_run_args(rule, n_sweeps, record_every)
    _check_precision(precision_bits)
    return _run_records(_multispin_kernel(model, rule, precision_bits), key, model, state,
                        n_sweeps, record_every, 0, _packed_trace)


def multispin_spins(model: IsingLattice, state: _ms.PackedIsingState,
                    ) -> Int[Array, " lanes *lattice"]:
    """Unpack a multi-spin state into ``int8`` spins of shape ``(n_lanes, *model.shape)``."""
    return _ms.unpack_spins(state.black, state.white, _state_layout(model, state),
                            model.shape)


# ------------------------------------------------------------------ entry point

class IsingSamples(NamedTuple):
    """Result of :func:`sample_ising`: time series with shape ``(R, n_records)``."""

    energy: Array
    magnetization: Array
    spins: Array
    temperatures: Array


@eqx.filter_jit
def _sample_init(kernel, key, model, temps, start):
    k_init, k_run = jax.random.split(key)
    return kernel.init(k_init, model, temps, start=start), k_run


@eqx.filter_jit
def _sample_result(kernel, model, state, trace, temps):
    R = temps.shape[0]
    if isinstance(kernel, CheckerboardIsing):
        spins = state.spins
    else:
        spins = multispin_spins(model, state)[:R]
    return IsingSamples(trace.energy[:, :R].T, trace.magnetization[:, :R].T, spins, temps)


def sample_ising(key: Key, model: IsingLattice, temperatures: Temperatures, n_sweeps: int, *,
                 rule: UpdateRule = "metropolis", burn_in: int = 0, record_every: int = 1,
                 start: IsingStart = "random", engine: IsingEngine = "auto",
                 precision_bits: int = 24,
                 progress: bool | Callable[..., Any] | None = None) -> IsingSamples:
    """Sample ``R = len(temperatures)`` independent replicas of ``model``.

    Runs ``burn_in`` sweeps, then ``n_sweeps`` sweeps recording the energy and the
    magnetization per spin every ``record_every`` sweeps.  ``engine``: ``"multispin"``
    (:class:`MultispinIsing`, bit-packed, fastest), ``"reference"``
    (:class:`CheckerboardIsing`) or ``"auto"`` (multispin).  ``progress``: ``True`` for a
    progress bar or a callable ``(done_sweeps, total_sweeps)`` called between chunks of
    the run (same result).  Returns :class:`IsingSamples` with time series of shape
    ``(R, n_sweeps // record_every)`` and the final ``int8`` spins ``(R, *model.shape)``.
    """
    _check_model(model)
    check_key(key, traced=True)
    _check_run_args(rule, n_sweeps, record_every)
    check_positive_int(burn_in, "burn_in", minimum=0)
    check_choice(engine, "engine", IsingEngine)
    check_choice(start, "start", IsingStart)
    _check_precision(precision_bits)
    check_temperature(temperatures, "temperatures")
    if np.ndim(temperatures) > 1 or np.size(temperatures) == 0:
        raise ValueError(f"temperatures must be a non-empty scalar or 1-D array, "
                         f"got shape {np.shape(temperatures)}")
    if is_concrete(temperatures):  # a host array: no device op to compile
        temperatures = np.asarray(temperatures, dtype=jnp.result_type(float))
    temps = jnp.atleast_1d(jnp.asarray(temperatures, dtype=float))
    if engine == "reference":
        kernel, observe = CheckerboardIsing(rule), _reference_trace
    else:
        kernel, observe = _multispin_kernel(model, rule, precision_bits), _packed_trace
    state, k_run = _sample_init(kernel, key, model, temps, start)
    state, trace = _run_records(kernel, k_run, model, state, n_sweeps, record_every, burn_in,
                                observe, progress)
    return _sample_result(kernel, model, state, trace, temps)
