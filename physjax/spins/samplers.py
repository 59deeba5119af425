"""Checkerboard Monte Carlo samplers for the lattice Ising model.

Two engines, same physics, same (init, step, run) shape (DESIGN.md):

* the **reference** engine stores one replica's spins as ``int8`` and draws a float
  uniform per site from ``jax.random``; replicas are made with ``jax.vmap``.  It is short
  enough to check by eye and serves as the pure-JAX path.
* the **multi-spin** engine (:mod:`physjax.spins.multispin`) packs 32 replicas (or 32
  strips of one lattice) into the bits of ``uint32`` words; it is 10-20x faster on a CPU.

Both update the two checkerboard colours in turn (a sweep = one attempted update of every
spin) with either rule

* Metropolis: flip with probability :math:`\\min(1, e^{-\\beta\\Delta E})`;
* heat bath (Glauber): set :math:`s_i=+1` with probability
  :math:`\\tfrac12[1+\\tanh(\\beta\\phi_i)]`, :math:`\\phi_i = J\\sum_{j\\in\\partial i}s_j + h`,
  i.e. flip with probability :math:`1/(1+e^{\\beta\\Delta E})`.

:func:`sample_ising` is the one-call entry point: R replicas at per-replica temperatures,
``burn_in`` sweeps, then a time series of energy and magnetization per spin.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import (
    check_choice,
    check_key,
    check_positive_int,
    check_spins,
    check_temperature,
)
from physjax.spins import multispin as _ms
from physjax.spins.models import IsingLattice, neighbour_sum

__all__ = [
    "IsingState",
    "IsingTrace",
    "IsingSamples",
    "RULES",
    "init_ising",
    "checkerboard_sweep",
    "run_ising",
    "init_multispin",
    "multispin_sweep",
    "run_multispin",
    "multispin_spins",
    "sample_ising",
]

RULES = ("metropolis", "heat_bath")
_STARTS = ("random", "up", "down")


class IsingState(NamedTuple):
    """One replica of the reference engine: ``int8`` spins and the inverse temperature."""

    spins: Array
    beta: Array


class IsingTrace(NamedTuple):
    """Observables recorded during a run: energy and magnetization per spin.

    Shapes: ``(n_records,)`` for one reference replica, ``(n_records, R)`` for the
    multi-spin engine (time first, replicas last).
    """

    energy: Array
    magnetization: Array


def _check_model(model):
    if not isinstance(model, IsingLattice):
        raise TypeError(f"model must be a physjax.spins.IsingLattice, got {type(model).__name__}")
    for side in model.shape:
        if side % 2:
            raise ValueError(f"model.shape sides must be even for the samplers (both the "
                             f"reference and the multi-spin engine update a checkerboard, "
                             f"which on a periodic lattice needs even sides), got "
                             f"{model.shape}; odd sides suit lattice_energy only")


def _initial_spins(key, shape, start, dtype=jnp.int8):
    if start == "random":
        return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1, -1).astype(dtype)
    return jnp.full(shape, 1 if start == "up" else -1, dtype)


# ------------------------------------------------------------- reference engine

def init_ising(key: Array, model: IsingLattice, temperature, *, start="random",
               spins=None) -> IsingState:
    """Initial state of one replica at ``temperature`` (``start``: random, up or down,
    or explicit ``spins`` of the lattice shape)."""
    _check_model(model)
    check_key(key, traced=True)
    check_temperature(temperature, "temperature")
    check_choice(start, "start", _STARTS)
    if spins is None:
        spins = _initial_spins(key, model.shape, start)
    else:
        spins = jnp.asarray(check_spins(spins, "spins"))
        if spins.shape != model.shape:
            raise ValueError(f"spins must have the lattice shape {model.shape}, "
                             f"got {spins.shape}")
        spins = spins.astype(jnp.int8)
    temperature = jnp.asarray(temperature, dtype=float)
    beta = 1.0 / _error_if_not_positive(temperature, "temperature")
    if beta.ndim:
        raise ValueError(f"temperature must be a scalar for one replica, got shape "
                         f"{beta.shape}; vmap init_ising over replicas")
    return IsingState(spins=spins, beta=beta)


def _error_if_not_positive(t, name):
    """Runtime guard for traced temperatures (concrete ones were checked before tracing)."""
    return eqx.error_if(t, ~(t > 0), f"{name} must be finite and > 0")


def _colour_masks(shape):
    parity = sum(np.indices(shape)) % 2
    return jnp.asarray(parity == 0), jnp.asarray(parity == 1)


def _reference_half_sweep(key, model, spins, beta, colour_mask, rule):
    s = spins.astype(jnp.float32)
    field = model.J * neighbour_sum(spins) + model.h
    dE = 2.0 * s * field
    u = jax.random.uniform(key, spins.shape)
    if rule == "metropolis":
        flip = u < jnp.exp(-beta * dE)  # exp(-beta dE) >= 1 when dE <= 0: always accepted
    else:
        flip = u < jax.nn.sigmoid(-beta * dE)
    return jnp.where(colour_mask & flip, -spins, spins)


@partial(jax.jit, static_argnames=("rule",))
def checkerboard_sweep(key: Array, model: IsingLattice, state: IsingState, *,
                       rule: str = "metropolis") -> IsingState:
    """One checkerboard sweep (both colours) of one replica with the reference engine."""
    black, white = _colour_masks(model.shape)
    k1, k2 = jax.random.split(key)
    spins = _reference_half_sweep(k1, model, state.spins, state.beta, black, rule)
    spins = _reference_half_sweep(k2, model, spins, state.beta, white, rule)
    return state._replace(spins=spins)


def _reference_observables(model, spins):
    s = spins.astype(jnp.result_type(float))
    bonds = sum(jnp.sum(s * jnp.roll(s, -1, a)) for a in range(s.ndim))
    n = model.n_spins
    return (-model.J * bonds - model.h * jnp.sum(s)) / n, jnp.sum(s) / n


def _scan_records(sweep, observe, key, state, n_records, record_every):
    def record(st, k):
        st = _sweeps(sweep, k, st, record_every)
        return st, observe(st)
    return jax.lax.scan(record, state, jax.random.split(key, n_records))


def _check_run_args(rule, n_sweeps, record_every):
    check_choice(rule, "rule", RULES)
    check_positive_int(n_sweeps, "n_sweeps", minimum=0)
    check_positive_int(record_every, "record_every")
    if n_sweeps % record_every:
        raise ValueError(f"n_sweeps ({n_sweeps}) must be a multiple of record_every "
                         f"({record_every})")


def run_ising(key: Array, model: IsingLattice, state: IsingState, n_sweeps: int, *,
              rule: str = "metropolis", record_every: int = 1) -> tuple[IsingState, IsingTrace]:
    """Run ``n_sweeps`` reference sweeps inside one ``lax.scan``, recording energy and
    magnetization per spin every ``record_every`` sweeps.  Returns (final state, trace)."""
    _check_model(model)
    check_key(key, traced=True)
    _check_run_args(rule, n_sweeps, record_every)
    return _run_ising(key, model, state, n_sweeps // record_every, rule, record_every)


@partial(jax.jit, static_argnums=(3, 4, 5))
def _run_ising(key, model, state, n_records, rule, record_every):
    sweep = lambda k, st: checkerboard_sweep(k, model, st, rule=rule)
    observe = lambda st: IsingTrace(*_reference_observables(model, st.spins))
    return _scan_records(sweep, observe, key, state, n_records, record_every)


# ------------------------------------------------------------ multi-spin engine

def _layout_for(model, n_replicas, layout):
    if layout == "auto":
        if n_replicas < _ms.WORD_BITS and model.shape[-1] % (2 * _ms.WORD_BITS) == 0:
            return "strips"
        return "replicas"
    check_choice(layout, "layout", ("replicas", "strips"))
    if layout == "strips" and model.shape[-1] % (2 * _ms.WORD_BITS):
        raise ValueError(f"layout='strips' needs the last side of model.shape divisible by "
                         f"64, got {model.shape}")
    return layout


def init_multispin(key: Array, model: IsingLattice, temperatures, *, layout: str = "auto",
                   start: str = "random", spins=None) -> _ms.PackedIsingState:
    """Initial multi-spin state for ``R = len(temperatures)`` replicas.

    ``layout="replicas"`` packs 32 replicas per word (R is padded up to a multiple of 32
    internally; :func:`multispin_spins` and the traces return only the first R);
    ``layout="strips"`` packs 32 strips of one lattice per word (needs the last side
    divisible by 64); ``"auto"`` picks strips when R < 32 and the shape allows it.
    """
    _check_model(model)
    check_key(key, traced=True)
    check_choice(start, "start", _STARTS)
    temps = jnp.atleast_1d(jnp.asarray(check_temperature(temperatures, "temperatures"),
                                       dtype=float))
    if temps.ndim != 1:
        raise ValueError(f"temperatures must be a scalar or 1-D array, got shape {temps.shape}")
    if temps.shape[0] == 0:
        raise ValueError("temperatures must hold at least one replica's temperature")
    temps = _error_if_not_positive(temps, "temperatures")
    R = temps.shape[0]
    layout = _layout_for(model, R, layout)
    n_lanes = -(-R // _ms.WORD_BITS) * _ms.WORD_BITS if layout == "replicas" else R
    beta = jnp.concatenate([1.0 / temps, jnp.full((n_lanes - R,), 1.0 / temps[-1])])
    if spins is None:
        spins = _initial_spins(key, (n_lanes, *model.shape), start)
    else:
        spins = jnp.asarray(check_spins(spins, "spins"), dtype=jnp.int8)
        if spins.shape != (R, *model.shape):
            raise ValueError(f"spins must have shape {(R, *model.shape)} (replicas first), "
                             f"got {spins.shape}")
        spins = jnp.concatenate([spins, jnp.ones((n_lanes - R, *model.shape), jnp.int8)])
    black, white = _ms.pack_spins(spins, layout)
    return _ms.PackedIsingState(black=black, white=white, beta=beta)


def _state_layout(model, state):
    c = state.black.shape[-1]
    return "replicas" if 2 * c == model.shape[-1] else "strips"


def multispin_sweep(key: Array, model: IsingLattice, state: _ms.PackedIsingState, *,
                    rule: str = "metropolis", precision_bits: int = 24,
                    ) -> _ms.PackedIsingState:
    """One checkerboard sweep of every packed replica.

    ``precision_bits`` is the resolution :math:`2^{-k}` of the acceptance probabilities
    (see :mod:`physjax.spins.multispin`).  The field term is compiled in only when
    ``model.h`` is non-zero (checked on the concrete value).
    """
    _check_model(model)
    check_key(key, traced=True)
    check_choice(rule, "rule", RULES)
    _check_precision(precision_bits)
    return _ms.packed_sweep(key, model.J, model.h, state, rule=rule,
                            layout=_state_layout(model, state), precision_bits=precision_bits,
                            has_field=_has_field(model))


def _check_precision(precision_bits):
    check_positive_int(precision_bits, "precision_bits")
    if precision_bits > 31:
        raise ValueError(f"precision_bits must be between 1 and 31, got {precision_bits}")


def _has_field(model):
    try:
        return bool(model.h != 0)
    except jax.errors.ConcretizationTypeError:
        return True


def run_multispin(key: Array, model: IsingLattice, state: _ms.PackedIsingState, n_sweeps: int,
                  *, rule: str = "metropolis", record_every: int = 1, precision_bits: int = 24,
                  ) -> tuple[_ms.PackedIsingState, IsingTrace]:
    """Run ``n_sweeps`` multi-spin sweeps in one ``lax.scan``; the trace has shape
    ``(n_sweeps // record_every, n_lanes)`` (padding lanes included; slice ``[:, :R]``)."""
    _check_model(model)
    check_key(key, traced=True)
    _check_run_args(rule, n_sweeps, record_every)
    _check_precision(precision_bits)
    return _run_multispin(key, model, state, n_sweeps // record_every, rule, record_every,
                          precision_bits, _state_layout(model, state), _has_field(model))


@partial(jax.jit, static_argnums=(3, 4, 5, 6, 7, 8), donate_argnums=(2,))
def _run_multispin(key, model, state, n_records, rule, record_every, precision_bits, layout,
                   has_field):
    def sweep(k, st):
        return _ms.packed_sweep(k, model.J, model.h, st, rule=rule, layout=layout,
                                precision_bits=precision_bits, has_field=has_field)

    def observe(st):
        return IsingTrace(*_ms.packed_energy_magnetization(model.J, model.h, st, layout=layout))
    return _scan_records(sweep, observe, key, state, n_records, record_every)


def multispin_spins(model: IsingLattice, state: _ms.PackedIsingState) -> Array:
    """Unpack a multi-spin state into ``int8`` spins of shape ``(n_lanes, *model.shape)``."""
    return _ms.unpack_spins(state.black, state.white, _state_layout(model, state), model.shape)


# ------------------------------------------------------------------ entry point

class IsingSamples(NamedTuple):
    """Result of :func:`sample_ising`: time series with shape ``(R, n_records)``."""

    energy: Array
    magnetization: Array
    spins: Array
    temperatures: Array


def sample_ising(key: Array, model: IsingLattice, temperatures, n_sweeps: int, *,
                 rule: str = "metropolis", burn_in: int = 0, record_every: int = 1,
                 start: str = "random", engine: str = "auto",
                 precision_bits: int = 24) -> IsingSamples:
    """Sample ``R = len(temperatures)`` independent replicas of ``model``.

    Runs ``burn_in`` sweeps, then ``n_sweeps`` sweeps recording the energy and the
    magnetization per spin every ``record_every`` sweeps.  ``engine``: ``"multispin"``
    (bit-packed, fastest), ``"reference"`` (int8 spins, float uniforms, vmapped) or
    ``"auto"`` (multispin).  Returns :class:`IsingSamples` with time series of shape
    ``(R, n_sweeps // record_every)`` and the final ``int8`` spins ``(R, *model.shape)``.
    """
    _check_model(model)
    check_key(key, traced=True)
    _check_run_args(rule, n_sweeps, record_every)
    check_positive_int(burn_in, "burn_in", minimum=0)
    check_choice(engine, "engine", ("auto", "multispin", "reference"))
    check_choice(start, "start", _STARTS)
    _check_precision(precision_bits)
    temps = jnp.atleast_1d(jnp.asarray(check_temperature(temperatures, "temperatures"),
                                       dtype=float))
    if temps.ndim != 1 or temps.shape[0] == 0:
        raise ValueError(f"temperatures must be a non-empty scalar or 1-D array, "
                         f"got shape {temps.shape}")
    return _sample_ising(key, model, temps, burn_in, n_sweeps // record_every, record_every,
                         rule, start, engine, precision_bits, _has_field(model))


def _sweeps(sweep, key, state, n):
    return jax.lax.fori_loop(0, n, lambda i, st: sweep(jax.random.fold_in(key, i), st), state)


@partial(jax.jit, static_argnums=tuple(range(3, 11)))
def _sample_ising(key, model, temps, burn_in, n_records, record_every, rule, start, engine,
                  precision_bits, has_field):
    """Initialise, burn in and record in one compiled program."""
    R = temps.shape[0]
    k_init, k_burn, k_run = jax.random.split(key, 3)
    if engine == "reference":
        def one_replica(k_i, k_b, k_r, t):
            sweep = lambda k, st: checkerboard_sweep(k, model, st, rule=rule)
            observe = lambda st: IsingTrace(*_reference_observables(model, st.spins))
            state = _sweeps(sweep, k_b, init_ising(k_i, model, t, start=start), burn_in)
            return _scan_records(sweep, observe, k_r, state, n_records, record_every)
        split = lambda k: jax.random.split(k, R)
        state, trace = jax.vmap(one_replica)(split(k_init), split(k_burn), split(k_run), temps)
        return IsingSamples(trace.energy, trace.magnetization, state.spins, temps)
    layout = _layout_for(model, R, "auto")

    def sweep(k, st):
        return _ms.packed_sweep(k, model.J, model.h, st, rule=rule, layout=layout,
                                precision_bits=precision_bits, has_field=has_field)

    def observe(st):
        return IsingTrace(*_ms.packed_energy_magnetization(model.J, model.h, st, layout=layout))
    state = _sweeps(sweep, k_burn, init_multispin(k_init, model, temps, start=start), burn_in)
    state, trace = _scan_records(sweep, observe, k_run, state, n_records, record_every)
    spins = multispin_spins(model, state)[:R]
    return IsingSamples(trace.energy[:, :R].T, trace.magnetization[:, :R].T, spins, temps)
