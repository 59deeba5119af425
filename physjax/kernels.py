"""One protocol for every sampler and dynamics in physjax, and one loop that runs them.

**Kernels.**  A kernel is an :class:`equinox.Module` whose fields are its *static*
configuration only (a rule name, a block size, a number of inner sweeps) and which has two
pure methods, in the spirit of BlackJAX's ``SamplingAlgorithm``:

* ``init(key, model, ...) -> State``
* ``step(key, model, state) -> (State, Info)``

``model`` is a pytree holding every *number* of the problem (couplings, fields, temperature,
step size, learning rate...), so any of them may be traced: ``jax.vmap`` over a temperature
ladder or ``physjax.ensemble.sweep`` over a step size needs no special support.  ``State``
and ``Info`` are NamedTuples (or Equinox modules) of arrays.  Because the kernel holds no
arrays, two kernels built with the same configuration are equal and hash alike, so every
entry point compiles once per static configuration.

A kernel that can be tempered (:class:`ReplicaExchange` wraps it) also has
``energy(model, state) -> Array`` (the energy :math:`H`, not :math:`\\beta H`) and a state with
a ``beta`` field (its inverse temperature).

**The run loop.**  :func:`run` advances any kernel with step ``n`` drawing its randomness from
``jax.random.fold_in(key, n)``, ``n`` counted from the first burn-in step, so a run does not
depend on where it is recorded or on how it is split into chunks.  Records are taken at
static steps (``record_every`` or an explicit ``record_steps`` schedule, e.g.
:func:`physjax.dynamics.log_spaced_steps`), each record being ``observe(model, state,
info)`` (default: ``info`` of the last step).

* A run with a fixed number of steps is built from ``lax.scan`` only, so ``jax.grad``
  differentiates through it.  Evenly spaced records are a scan over records with a
  fixed-length inner loop; other schedules are one scan over steps that writes a record
  only at the scheduled steps (``lax.cond``).  Either way one loop body is compiled.
* ``stop=`` (opt-in) ends the run at the first step where ``stop(model, state, info)`` is
  true: it is a ``lax.while_loop`` and cannot be reverse-differentiated.  Records not
  reached repeat the final state's observation; :attr:`RunResult.n_steps` says where it
  stopped.
* ``progress=`` (opt-in) splits the run into chunks of equal length, each one call of the
  same compiled program, and reports after each chunk from the host (a tqdm bar, or a
  callable ``progress(done_steps, total_steps)``).  The result is bit-identical to a run
  without progress.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import check_key, check_positive_int, check_step_schedule

__all__ = ["Kernel", "RunResult", "run", "record_schedule"]

PyTree = Any

# The step counter is int32 in every configuration (also under jax_enable_x64), so that
# loop carries never change type between float32 and float64 runs.
_COUNTER = jnp.int32


class Kernel(eqx.Module):
    """Base class of every physjax sampler and dynamics (see the module docstring).

    Subclasses declare their configuration as static fields and implement :meth:`init` and
    :meth:`step`; tempered kernels also implement :meth:`energy`.
    """

    @abc.abstractmethod
    def init(self, key: Array, model: PyTree, *args, **kwargs) -> PyTree:
        """The initial state."""

    @abc.abstractmethod
    def step(self, key: Array, model: PyTree, state: PyTree) -> tuple[PyTree, PyTree]:
        """One step: ``(new_state, info)``."""

    def check(self, model: PyTree, state: PyTree) -> tuple[PyTree, PyTree]:
        """Validate ``model`` and ``state`` once, before a run (called by :func:`run`).

        Raise a ``TypeError``/``ValueError`` naming the argument for anything wrong that
        can be seen without values (a state of another shape or dtype, a model of the wrong
        type); check values (non-finite or negative temperatures, step sizes...) on
        concrete arrays directly, and on traced ones with ``equinox.error_if``, returning
        the guarded ``(model, state)``.  ``step`` itself checks only shapes (free at trace
        time), so the hot loop pays nothing."""
        return model, state

    def energy(self, model: PyTree, state: PyTree) -> Array:
        """Energy :math:`H` of ``state`` (needed by :class:`ReplicaExchange` and AIS)."""
        raise NotImplementedError(f"{type(self).__name__} has no energy; it cannot be "
                                  f"tempered")


class RunResult(NamedTuple):
    """Output of :func:`run`.

    Attributes:
        state: the final state.
        records: ``observe(model, state, info)`` stacked on a leading record axis.
        record_steps: step of each record, counted from the end of the burn-in.
        n_steps: steps taken after the burn-in (fewer than asked when ``stop`` fired).
        stopped: True when ``stop`` ended the run (always False without ``stop``).
    """

    state: PyTree
    records: PyTree
    record_steps: Array
    n_steps: Array
    stopped: Array


def _default_observe(model, state, info):
    return info


def record_schedule(n_steps: int | None = None, *, record_every: int | None = None,
                    record_steps=None) -> np.ndarray:
    """The static record steps of a run (counted after the burn-in; 0 is the state before
    the first recorded step).  Either ``record_steps`` (strictly increasing, >= 0; the run
    takes ``n_steps`` steps, default ``record_steps[-1]``) or ``record_every`` (records
    after every ``record_every`` steps; ``n_steps`` must be a multiple of it; default 1)."""
    if record_steps is not None:
        if record_every is not None:
            raise ValueError("give record_every or record_steps, not both")
        steps = check_step_schedule(record_steps, "record_steps")
        if n_steps is not None:
            n_steps = check_positive_int(n_steps, "n_steps", minimum=0)
            if n_steps < steps[-1]:
                raise ValueError(f"n_steps ({n_steps}) is smaller than the last of "
                                 f"record_steps ({steps[-1]})")
        return steps
    if n_steps is None:
        raise TypeError("run needs n_steps (or an explicit record_steps schedule)")
    n_steps = check_positive_int(n_steps, "n_steps", minimum=1)
    every = 1 if record_every is None else check_positive_int(record_every, "record_every")
    if n_steps % every:
        raise ValueError(f"n_steps ({n_steps}) must be a multiple of record_every ({every})")
    return np.arange(every, n_steps + 1, every, dtype=np.int64)


@eqx.filter_jit
def _info_template(kernel, key, model, state):
    _, info = eqx.filter_eval_shape(kernel.step, key, model, state)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info)


def _check_kernel(kernel):
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a physjax.kernels.Kernel (an (init, step) pair), "
                        f"got {type(kernel).__name__}")


# ------------------------------------------------------------------------ the loop bodies

def _advance(kernel, key, model, carry, count):
    """``count`` (static) steps; carry = (state, info, n)."""
    def one(_, c):
        state, _, n = c
        state, info = kernel.step(jax.random.fold_in(key, n), model, state)
        return state, info, n + 1
    return jax.lax.fori_loop(0, count, one, carry)


def _uniform_segment(kernel, key, model, carry, n_records, gap, observe):
    """``n_records`` records, ``gap`` steps apart (the first after ``gap`` steps)."""
    def record(c, _):
        c = _advance(kernel, key, model, c, gap)
        return c, observe(model, c[0], c[1])
    return jax.lax.scan(record, carry, None, length=n_records)


def _scheduled_segment(kernel, key, model, carry, buffer, record_at, observe):
    """``len(record_at)`` steps, one scan over steps; the record after step ``i`` of the
    segment is written to ``buffer`` at ``record_at[i]`` (-1: no record)."""
    def one(c, slot):
        (state, info, n), buf = c
        state, info = kernel.step(jax.random.fold_in(key, n), model, state)
        buf = jax.lax.cond(slot >= 0,
                           lambda b: jax.tree.map(lambda x, o: x.at[slot].set(o), b,
                                                  observe(model, state, info)),
                           lambda b: b, buf)
        return ((state, info, n + 1), buf), None
    (carry, buffer), _ = jax.lax.scan(one, (carry, buffer), record_at)
    return carry, buffer


# --------------------------------------------------------------------- compiled programs

@eqx.filter_jit
def _burn(kernel, key, model, carry, count):
    return _advance(kernel, key, model, carry, count)


@eqx.filter_jit
def _uniform(kernel, key, model, carry, n_records, gap, observe):
    return _uniform_segment(kernel, key, model, carry, n_records, gap, observe)


@eqx.filter_jit
def _scheduled(kernel, key, model, carry, buffer, record_at, observe):
    return _scheduled_segment(kernel, key, model, carry, buffer, record_at, observe)


@eqx.filter_jit
def _until(kernel, key, model, carry, buffer, record_steps, n_total, observe, stop):
    """Early-stopping run: a while_loop over steps (not reverse-differentiable)."""
    start = carry[2]

    def cond(c):
        (_, _, n), _, _, stopped = c
        return (n - start < n_total) & ~stopped

    def body(c):
        (state, info, n), buf, next_record, _ = c
        state, info = kernel.step(jax.random.fold_in(key, n), model, state)
        n = n + 1
        hit = (next_record < record_steps.shape[0]) & \
            (n - start == record_steps[jnp.minimum(next_record, record_steps.shape[0] - 1)])
        buf = jax.lax.cond(hit,  # observe only at record steps
                           lambda b: jax.tree.map(lambda x, o: x.at[next_record].set(o), b,
                                                  observe(model, state, info)),
                           lambda b: b, buf)
        stopped = jnp.asarray(stop(model, state, info), bool)
        return (state, info, n), buf, next_record + hit.astype(_COUNTER), stopped

    first = (record_steps.shape[0] > 0) & (record_steps[0] == 0)
    obs0 = observe(model, carry[0], carry[1])
    buffer = jax.tree.map(lambda b, o: jnp.where(first, b.at[0].set(o), b), buffer, obs0)
    init = (carry, buffer, first.astype(_COUNTER), jnp.zeros((), bool))
    carry, buffer, next_record, stopped = jax.lax.while_loop(cond, body, init)
    final = observe(model, carry[0], carry[1])
    idx = jnp.arange(record_steps.shape[0])
    buffer = jax.tree.map(
        lambda b, o: jnp.where((idx >= next_record).reshape((-1,) + (1,) * o.ndim), o, b),
        buffer, final)
    return carry, buffer, stopped


# ----------------------------------------------------------------------------- the API

@eqx.filter_jit
def _empty_records(observe, model, state, info, n):
    shapes = eqx.filter_eval_shape(observe, model, state, info)
    return jax.tree.map(lambda s: jnp.zeros((n, *s.shape), s.dtype), shapes)


def _progress_reporter(progress, total):
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, unit="step", leave=False)

        def report(done, _total):
            bar.update(done - bar.n)
            if done >= _total:
                bar.close()
        return report
    raise TypeError(f"progress must be None, True or a callable (done, total), got "
                    f"{type(progress).__name__}")


def _chunks(total: int, n_chunks: int) -> list[int]:
    """Split ``total`` units into equal chunks (at most two distinct lengths)."""
    if total == 0:
        return []
    n_chunks = max(1, min(n_chunks, total))
    size = math.ceil(total / n_chunks)
    out = [size] * (total // size)
    if total % size:
        out.append(total % size)
    return out


def run(kernel: Kernel, key: Array, model: PyTree, state: PyTree, n_steps: int | None = None,
        *, record_every: int | None = None, record_steps=None,
        observe: Callable | None = None, burn_in: int = 0, stop: Callable | None = None,
        progress=None, progress_chunks: int = 50) -> RunResult:
    """Run ``kernel`` from ``state``: ``burn_in`` steps, then ``n_steps`` recorded steps.

    Args:
        kernel: any :class:`Kernel`.
        key: a PRNG key (typed or legacy); step ``n`` uses ``fold_in(key, n)``, ``n``
            counted from the first burn-in step.
        model: the pytree of numbers the kernel's ``step`` takes (may be traced).
        state: the kernel's state (from ``kernel.init`` or an earlier run).
        n_steps: recorded-phase steps (static).
        record_every: records after every ``record_every`` steps (default 1).
        record_steps: or an explicit static schedule (0 records the state after burn-in).
        observe: ``observe(model, state, info) -> pytree`` recorded at each record step;
            default: ``info`` of the last step.
        burn_in: unrecorded steps first (static).
        stop: opt-in early stop ``stop(model, state, info) -> bool``, checked after every
            step (a ``while_loop``: not reverse-differentiable).
        progress: ``True`` for a progress bar, or a callable ``(done, total)`` called on the
            host after each chunk; the run is split into about ``progress_chunks`` calls
            of one compiled program (same result bit for bit).

    Returns:
        :class:`RunResult`.  Works under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (with a
        fixed number of steps and no ``progress``).
    """
    _check_kernel(kernel)
    key = check_key(key, traced=True)
    burn_in = check_positive_int(burn_in, "burn_in", minimum=0)
    steps = record_schedule(n_steps, record_every=record_every, record_steps=record_steps)
    total = int(steps[-1]) if n_steps is None else int(n_steps)
    if observe is None:
        observe = _default_observe
    elif not callable(observe):
        raise TypeError(f"observe must be a callable (model, state, info), got "
                        f"{type(observe).__name__}")
    if stop is not None and not callable(stop):
        raise TypeError(f"stop must be a callable (model, state, info) -> bool, got "
                        f"{type(stop).__name__}")
    report = _progress_reporter(progress, burn_in + total)
    if report is not None and stop is not None:
        raise ValueError("progress and stop cannot be combined (an early-stopping run is "
                         "one while_loop)")
    progress_chunks = check_positive_int(progress_chunks, "progress_chunks")
    model, state = kernel.check(model, state)

    info = _info_template(kernel, key, model, state)
    carry = (state, info, jnp.zeros((), _COUNTER))
    n_chunks = progress_chunks if report is not None else 1

    done = 0
    n_records = steps.shape[0]
    gaps = np.diff(steps, prepend=0)
    uniform = steps[0] > 0 and np.all(gaps == gaps[0]) and total == steps[-1]
    gap = int(gaps[0])
    # The burn-in runs in the same compiled loop as the records whenever it can (one loop
    # body to compile): as leading records that are dropped, or as unrecorded steps.
    fold_burn_in = stop is None and (not uniform or burn_in % gap == 0)
    if not fold_burn_in:
        for count in ([] if burn_in == 0 else _chunks(burn_in, n_chunks)):
            carry = _burn(kernel, key, model, carry, count)
            done += count
            if report is not None:
                report(done, burn_in + total)

    if stop is not None:
        buffer = _empty_records(observe, model, state, info, n_records)
        n0 = carry[2]
        carry, records, stopped = _until(kernel, key, model, carry, buffer,
                                         jnp.asarray(steps, _COUNTER), total, observe, stop)
        return RunResult(carry[0], records, jnp.asarray(steps, _COUNTER), carry[2] - n0,
                         stopped)

    if uniform:
        n_burn = burn_in // gap if fold_burn_in else 0
        pieces = []
        for count in _chunks(n_burn + n_records, n_chunks):
            carry, rec = _uniform(kernel, key, model, carry, count, gap, observe)
            pieces.append(rec)
            done += count * gap
            if report is not None:
                report(done, burn_in + total)
        records = pieces[0] if len(pieces) == 1 else jax.tree.map(
            lambda *xs: jnp.concatenate(xs), *pieces)
        if n_burn:
            records = jax.tree.map(lambda x: x[n_burn:], records)
    else:
        n_burn = burn_in if fold_burn_in else 0
        records = _empty_records(observe, model, state, info, n_records)
        slot_of_step = np.full(n_burn + total, -1, np.int32)
        later = steps > 0
        slot_of_step[n_burn + steps[later] - 1] = np.flatnonzero(later)
        if steps[0] == 0 and n_burn == 0:
            obs0 = observe(model, carry[0], carry[1])
            records = jax.tree.map(lambda b, o: b.at[0].set(o), records, obs0)
        elif steps[0] == 0:
            slot_of_step[n_burn - 1] = 0
        start = 0
        for count in _chunks(n_burn + total, n_chunks):
            carry, records = _scheduled(kernel, key, model, carry, records,
                                        jnp.asarray(slot_of_step[start:start + count]),
                                        observe)
            start += count
            done += count
            if report is not None:
                report(done, burn_in + total)
    return RunResult(carry[0], records, jnp.asarray(steps, _COUNTER),
                     jnp.asarray(total, _COUNTER), jnp.zeros((), bool))
