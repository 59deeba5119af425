"""Recorded runs: one ``lax.scan`` over a static array of record steps, replicas by
``vmap``.

**Recording**.  :func:`run_dynamics` is one ``lax.scan`` over a static array of record
steps (e.g. :func:`log_spaced_steps`); between two records an inner ``fori_loop`` takes
the steps, so nothing but the records is stored.  The noise of step ``n`` uses
``fold_in(key, n)`` (``n`` = the absolute step counter of the state), so a trajectory does
not depend on where it is recorded, and continuing a run with the same key reproduces one
long run bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree

from physjax._checks import check_positive_int, check_step_schedule
from physjax.dynamics.integrators import (
    Dynamics,
    DynamicsState,
    _check_dynamics,
    _guarded,
    _replica_keys,
    _step,
)

__all__ = [
    "DynamicsRecord",
    "run_dynamics",
    "run_replicas",
    "scan_with_records",
    "log_spaced_steps",
]

PyTree = Any


class DynamicsRecord(NamedTuple):
    """Observables recorded by :func:`run_dynamics` (leading axis: the record times;
    :func:`run_replicas` adds a replica axis in front).

    Attributes:
        step: absolute step index of each record (start step + ``record_steps``).
        time: ``step * dt``.
        energy: :math:`H(x)` at the record.
        mu: Lagrange multiplier :math:`\\mu` at the record (0 without the constraint).
        diverged: True where the run had stopped on a non-finite value before this
            record (the recorded values are those of the frozen last finite state).
        observables: ``observe(position)`` stacked over records, or ``None``.
        position: the flattened position ``ravel_pytree(x)`` of shape ``(n_records, N)``
            when ``record_position=True``, else ``None``.
    """

    step: Array
    time: Array
    energy: Array
    mu: Array
    diverged: Array
    observables: PyTree
    position: Array | None


def _observe_record(dynamics, state, steps_abs, observe, record_position):
    obs = None if observe is None else observe(state.position)
    pos = ravel_pytree(state.position)[0] if record_position else None
    return DynamicsRecord(
        step=steps_abs, time=steps_abs * jnp.asarray(dynamics.dt, state.energy.dtype),
        energy=state.energy, mu=state.mu, diverged=state.diverged_at >= 0,
        observables=obs, position=pos)


def _scan_records(key, step, state, record_steps, observe, start_step):
    gaps = jnp.diff(record_steps, prepend=jnp.zeros((1,), record_steps.dtype))
    start = jnp.asarray(start_step, jnp.int32)

    def one_step(_, carry):
        st, n = carry
        return step(jax.random.fold_in(key, n), st), n + 1

    def segment(carry, gap):
        st, n = jax.lax.fori_loop(0, gap, one_step, carry)
        return (st, n), observe(st, n)

    (state, _), records = jax.lax.scan(segment, (state, start), gaps)
    return state, records


def scan_with_records(key: Array, step: Callable, state: PyTree, record_steps,
                      observe: Callable, *, start_step=0) -> tuple[PyTree, PyTree]:
    """Generic recorded loop, the engine of :func:`run_dynamics` (use it for any other
    dynamics, e.g. minibatch SGD): one ``lax.scan`` over the records, an inner
    ``fori_loop`` over the steps between them.

    Step ``n`` (counted from ``start_step``) is ``state = step(fold_in(key, n), state)``;
    after ``record_steps[i]`` steps of this call, ``observe(state, n)`` is recorded
    (``n = start_step + record_steps[i]``).  ``record_steps``: static, strictly increasing
    integers >= 0.  Returns ``(final_state, records)``, records stacked on a leading axis.
    Pure and jit/vmap-compatible (wrap it in ``jax.jit`` yourself).
    """
    steps = check_step_schedule(record_steps, "record_steps")
    if not callable(step) or not callable(observe):
        raise TypeError("step and observe must be callables")
    return _scan_records(key, step, state, jnp.asarray(steps, jnp.int32), observe, start_step)


def _run(key, dynamics, state, record_steps, observe, record_position):
    dynamics = _guarded(dynamics)
    return _scan_records(
        key, lambda k, st: _step(k, dynamics, st), state, record_steps,
        lambda st, n: _observe_record(dynamics, st, n, observe, record_position),
        state.step)


_run_jit = eqx.filter_jit(_run)


def run_dynamics(key: Array, dynamics: Dynamics, state: DynamicsState, record_steps, *,
                 observe: Callable | None = None,
                 record_position: bool = False) -> tuple[DynamicsState, DynamicsRecord]:
    """Integrate one replica inside one ``lax.scan`` and record at ``record_steps``.

    Args:
        key: PRNG key; step ``n`` (absolute counter ``state.step``) uses
            ``fold_in(key, n)``.
        dynamics: an :class:`OverdampedLangevin`, :class:`UnderdampedLangevin` or
            :class:`GradientFlow`.
        state: from :func:`init_dynamics` (or a previous run, to continue it).
        record_steps: static, strictly increasing integers >= 0 counted from the start of
            this run (0 records the initial state); the run takes ``record_steps[-1]``
            steps.  E.g. ``log_spaced_steps(10_000, 40)``.
        observe: optional callable ``observe(position) -> pytree`` evaluated at each record
            (a bound method of an equinox model such as ``model.overlap`` keeps the model's
            arrays traced rather than baked in as constants).
        record_position: also store the flattened position at each record (for the aging
            observables of :mod:`physjax.dynamics.aging`).

    Returns:
        ``(final_state, record)``; see :class:`DynamicsRecord`.  Check
        ``final_state.diverged_at`` (-1 when the whole run stayed finite).
    """
    _check_dynamics(dynamics)
    steps = check_step_schedule(record_steps, "record_steps")
    if not isinstance(state, DynamicsState) or np.ndim(state.step) != 0:
        raise ValueError("state must be a single-replica DynamicsState (from init_dynamics)")
    if observe is not None and not callable(observe):
        raise TypeError(f"observe must be a callable of the position, got "
                        f"{type(observe).__name__}")
    return _run_jit(key, dynamics, state, jnp.asarray(steps, jnp.int32), observe,
                    bool(record_position))


@eqx.filter_jit
def _run_replicas(key, dynamics, states, record_steps, observe, record_position):
    keys = _replica_keys(key, states.step.shape[0])
    return jax.vmap(lambda k, s: _run(k, dynamics, s, record_steps, observe,
                                      record_position))(keys, states)


def run_replicas(key: Array, dynamics: Dynamics, states: DynamicsState, record_steps, *,
                 observe: Callable | None = None,
                 record_position: bool = False) -> tuple[DynamicsState, DynamicsRecord]:
    """:func:`run_dynamics` vmapped over the leading (replica) axis of ``states`` (from
    :func:`init_replicas`), all replicas sharing ``dynamics``; replica ``r`` uses
    ``fold_in(key, r)``.  Record leaves have shape ``(R, n_records, ...)``.

    For per-replica disorder or hyperparameters, vmap :func:`run_dynamics` yourself, e.g.
    ``jax.vmap(lambda k, d, s: run_dynamics(k, d, s, steps))(keys, dynamics, states)``
    with a ``dynamics`` whose array leaves carry the replica axis.
    """
    _check_dynamics(dynamics)
    steps = check_step_schedule(record_steps, "record_steps")
    if not isinstance(states, DynamicsState) or np.ndim(states.step) != 1:
        raise ValueError("states must be a DynamicsState with a leading replica axis "
                         "(from init_replicas)")
    return _run_replicas(key, dynamics, states, jnp.asarray(steps, jnp.int32), observe,
                         bool(record_position))


def log_spaced_steps(n_steps: int, n_records: int, *, include_zero: bool = True) -> np.ndarray:
    """Record steps roughly evenly spaced in :math:`\\log t` from 1 to ``n_steps``
    (duplicates from rounding removed, so at most ``n_records`` of them), plus 0 when
    ``include_zero``.  A static ``int64`` array for :func:`run_dynamics`.

    ``n_records`` may not exceed ``n_steps`` (there are only ``n_steps`` distinct steps in
    1..``n_steps``): asking for more raises a ``ValueError`` naming ``n_records``."""
    n_steps = check_positive_int(n_steps, "n_steps")
    n_records = check_positive_int(n_records, "n_records")
    if n_records > n_steps:
        raise ValueError(f"n_records must be <= n_steps: there are only {n_steps} distinct "
                         f"integer steps in 1..{n_steps}, got n_records={n_records}")
    steps = np.unique(np.round(np.logspace(0.0, np.log10(n_steps), n_records)).astype(np.int64))
    steps[-1] = n_steps
    if include_zero:
        steps = np.concatenate([[0], steps])
    return np.unique(steps)
