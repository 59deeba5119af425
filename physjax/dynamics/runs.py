"""Recorded runs of the dynamics kernels: thin wrappers over :func:`physjax.kernels.run`,
replicas by ``vmap``.

**Recording**.  :func:`run_dynamics` runs ``dynamics.kernel`` with
:func:`physjax.kernels.run` on a static schedule of record steps (e.g.
:func:`log_spaced_steps`; evenly spaced records are a scan over records with a fixed-length
inner loop, any other schedule one scan over steps that writes a record only at the
scheduled steps), so nothing but the records is stored and ``jax.grad`` differentiates
through a run.  The noise of step ``n`` uses ``fold_in(key, n)`` with ``n`` the *absolute*
step counter (``state.step`` at the start of the run plus the steps taken), so a trajectory
does not depend on where it is recorded, and continuing a run with the same key reproduces
one long run bit for bit.  (A bare :func:`physjax.kernels.run` of the kernel counts ``n``
from the start of that run instead.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, get_args

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from physjax._array_types import Array, ArrayLike, Int, Key, PyTree
from physjax._checks import check_instance, check_positive_int, check_step_schedule
from physjax.dynamics._common import Steps, replica_keys
from physjax.dynamics._recorded import recorded_run, static_steps
from physjax.dynamics.integrators import Dynamics, DynamicsState
from physjax.kernels import Kernel

__all__ = [
    "DynamicsRecord",
    "run_dynamics",
    "run_replicas",
    "scan_with_records",
    "log_spaced_steps",
]

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


# ------------------------------------------------------------ a bare step function as kernel

class _StepFunction(Kernel):
    """A bare ``step(key, state) -> state`` as a kernel (the engine of
    :func:`scan_with_records`)."""

    fn: Callable

    def init(self, key, model, *args, **kwargs):
        raise NotImplementedError

    def step(self, key, model, state):
        return self.fn(key, state), None


# ---------------------------------------------------------------------- dynamics runs

class _DynamicsObserver(eqx.Module):
    observe: Callable | None
    record_position: bool = eqx.field(static=True)

    def __call__(self, dynamics, state: DynamicsState, n):
        return DynamicsRecord(
            step=n, time=n * jnp.asarray(dynamics.dt, state.energy.dtype),
            energy=state.energy, mu=state.mu, diverged=state.diverged_at >= 0,
            observables=None if self.observe is None else self.observe(state.position),
            position=ravel_pytree(state.position)[0] if self.record_position else None)


def _run(key, dynamics, state, steps, observe, record_position):
    return recorded_run(dynamics.kernel, key, dynamics, state, state.step, steps,
                         _DynamicsObserver(observe, record_position))


_run_jit = eqx.filter_jit(_run)


def run_dynamics(key: Key, dynamics: Dynamics, state: DynamicsState, record_steps: Steps, *,
                 observe: Callable[..., Any] | None = None,
                 record_position: bool = False) -> tuple[DynamicsState, DynamicsRecord]:
    """Integrate one replica (``dynamics.kernel`` in :func:`physjax.kernels.run`, one
    compiled program) and record at ``record_steps``.

    Args:
        key: PRNG key; step ``n`` (absolute counter ``state.step``) uses
            ``fold_in(key, n)``.
        dynamics: an :class:`OverdampedLangevin`, :class:`UnderdampedLangevin` or
            :class:`GradientFlow`.
        state: from :func:`init_dynamics` (or a previous run, to continue it).
        record_steps: static, strictly increasing integers >= 0 counted from the start of
            this run (0 records the initial state); the run takes ``record_steps[-1]``
            steps.  E.g. ``log_spaced_steps(10_000, 40)``.  Each distinct schedule is
            one compilation.
        observe: optional callable ``observe(position) -> pytree`` evaluated at each record
            (a bound method of an equinox model such as ``model.overlap`` keeps the model's
            arrays traced rather than baked in as constants).
        record_position: also store the flattened position at each record (for the aging
            observables of :mod:`physjax.dynamics.aging`).

    Returns:
        ``(final_state, record)``; see :class:`DynamicsRecord`.  Check
        ``final_state.diverged_at`` (-1 when the whole run stayed finite).  Differentiable
        (``jax.grad``) with respect to the dynamics' arrays and the initial state.
    """
    check_instance(dynamics, "dynamics", get_args(Dynamics))
    steps = static_steps(record_steps)
    if not isinstance(state, DynamicsState) or np.ndim(state.step) != 0:
        raise ValueError("state must be a single-replica DynamicsState (from init_dynamics)")
    if observe is not None and not callable(observe):
        raise TypeError(f"observe must be a callable of the position, got "
                        f"{type(observe).__name__}")
    return _run_jit(key, dynamics, state, steps, observe, bool(record_position))


@eqx.filter_jit
def _run_replicas(key, dynamics, states, steps, observe, record_position):
    keys = replica_keys(key, states.step.shape[0])
    return jax.vmap(lambda k, s: _run(k, dynamics, s, steps, observe,
                                      record_position))(keys, states)


def run_replicas(key: Key, dynamics: Dynamics, states: DynamicsState, record_steps: Steps,
                 *, observe: Callable[..., Any] | None = None,
                 record_position: bool = False) -> tuple[DynamicsState, DynamicsRecord]:
    """:func:`run_dynamics` vmapped over the leading (replica) axis of ``states`` (from
    :func:`init_replicas`), all replicas sharing ``dynamics``; replica ``r`` uses
    ``fold_in(key, r)``.  Record leaves have shape ``(R, n_records, ...)``.

    For per-replica disorder or hyperparameters, vmap :func:`run_dynamics` yourself, e.g.
    ``jax.vmap(lambda k, d, s: run_dynamics(k, d, s, steps))(keys, dynamics, states)``
    with a ``dynamics`` whose array leaves carry the replica axis.
    """
    check_instance(dynamics, "dynamics", get_args(Dynamics))
    steps = static_steps(record_steps)
    if not isinstance(states, DynamicsState) or np.ndim(states.step) != 1:
        raise ValueError("states must be a DynamicsState with a leading replica axis "
                         "(from init_replicas)")
    if observe is not None and not callable(observe):
        raise TypeError(f"observe must be a callable of the position, got "
                        f"{type(observe).__name__}")
    return _run_replicas(key, dynamics, states, steps, observe, bool(record_position))


# ------------------------------------------------------------------- the generic loop

class _StateObserver(eqx.Module):
    fn: Callable

    def __call__(self, model, state, n):
        return self.fn(state, n)


def scan_with_records(key: Key, step: Callable[..., Any], state: PyTree, record_steps: Steps,
                      observe: Callable[..., Any], *,
                      start_step: Int[ArrayLike, ""] = 0) -> tuple[PyTree, PyTree]:
    """Generic recorded loop for a bare ``step`` function (a thin wrapper over
    :func:`physjax.kernels.run`; a :class:`physjax.kernels.Kernel` is the better shape
    for a new dynamics).

    Step ``n`` (counted from ``start_step``) is ``state = step(fold_in(key, n), state)``;
    after ``record_steps[i]`` steps of this call, ``observe(state, n)`` is recorded
    (``n = start_step + record_steps[i]``).  ``record_steps``: static, strictly increasing
    integers >= 0.  Returns ``(final_state, records)``, records stacked on a leading axis.
    Pure and jit/vmap/grad-compatible (wrap it in ``jax.jit`` yourself).
    """
    steps = check_step_schedule(record_steps, "record_steps")
    if not callable(step) or not callable(observe):
        raise TypeError("step and observe must be callables")
    return recorded_run(_StepFunction(step), key, None, state, start_step, tuple(steps),
                         _StateObserver(observe))


def log_spaced_steps(n_steps: int, n_records: int, *,
                     include_zero: bool = True) -> Int[np.ndarray, " t"]:
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
