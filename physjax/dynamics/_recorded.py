"""Recorded runs on any kernel with absolute step keys: step ``n`` of a run that starts at
step ``start`` draws from ``fold_in(key, start + n)``, so that a continued run reproduces one
long run bit for bit (shared by :mod:`physjax.dynamics.runs` and the SGD dynamics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import check_step_schedule
from physjax.kernels import Kernel, run

PyTree = Any


class Clocked(NamedTuple):
    """Model of :class:`AbsoluteStepKeys`: the wrapped kernel's model and the run key."""

    model: PyTree
    key: Array


class ClockState(NamedTuple):
    """State of :class:`AbsoluteStepKeys`: the wrapped state and the absolute step."""

    state: PyTree
    n: Array


class AbsoluteStepKeys(Kernel):
    """Step ``n`` of ``inner`` draws from ``fold_in(key, n)`` with ``n`` the absolute step
    counter carried in the state (not the counter of :func:`physjax.kernels.run`, which
    starts at 0 in every run), so that a continued run reproduces one long run."""

    inner: Kernel

    def init(self, key, model, *args, **kwargs):
        raise NotImplementedError("AbsoluteStepKeys wraps a state built by its inner kernel")

    def step(self, key, model: Clocked, state: ClockState):
        del key
        new, info = self.inner.step(jax.random.fold_in(model.key, state.n), model.model,
                                    state.state)
        return ClockState(new, state.n + 1), info

    def check(self, model, state):
        inner_model, inner_state = self.inner.check(model.model, state.state)
        return Clocked(inner_model, model.key), ClockState(inner_state, state.n)


class ObserveWithStep(eqx.Module):
    """``observe(model, state, n)`` with ``n`` the absolute step, as a stable
    ``observe(model, state, info)`` for :func:`physjax.kernels.run`."""

    fn: Callable

    def __call__(self, model: Clocked, state: ClockState, info):
        return self.fn(model.model, state.state, state.n)


def recorded_run(kernel, key, model, state, start, steps, observe):
    """Run ``kernel`` recording after each of the static ``steps`` (a tuple counted from
    this run's start); step ``n`` (absolute, from ``start``) uses ``fold_in(key, n)``;
    ``observe(model, state, n)``.  Returns ``(final_state, records)``."""
    steps = np.asarray(steps, np.int64)
    n0 = jnp.asarray(start, jnp.int32)
    if steps[-1] == 0:                                       # nothing to run: one record
        kernel.check(model, state)
        return state, jax.tree.map(lambda x: jnp.asarray(x)[None], observe(model, state, n0))
    result = run(AbsoluteStepKeys(kernel), key, Clocked(model, key),
                 ClockState(state, n0), record_steps=steps, observe=ObserveWithStep(observe))
    return result.state.state, result.records


def static_steps(record_steps) -> tuple[int, ...]:
    return tuple(int(s) for s in check_step_schedule(record_steps, "record_steps"))
