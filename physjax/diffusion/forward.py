r"""The forward (noising) process: exact transitions and the simulated SDE.

For a schedule (:mod:`physjax.diffusion.schedules`) the forward SDE
:math:`dx = f(x, t)\,dt + g(t)\,dW` started at the data :math:`x_0` has the exact
transition

.. math::  x_t = a_t\,x_0 + \sqrt{\Delta_t}\,z,\qquad z\sim\mathcal N(0, I),

which :func:`noise` samples (for the Ornstein--Uhlenbeck process of seed 004, eq. 17.1,
:math:`a_t = e^{-t}`, :math:`\Delta_t = 1 - e^{-2t}`).  :class:`ForwardEulerMaruyama` is the
same SDE integrated step by step on the :class:`physjax.kernels.Kernel` protocol,

.. math::  x \leftarrow x + f(x, t)\,dt + g(t)\sqrt{dt}\,\xi,\qquad t \leftarrow t + dt,

and :func:`simulate_forward` runs it with :func:`physjax.kernels.run`; its moments converge
to the closed form as :math:`dt\to 0` (the test of physics item 1).
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from physjax._array_types import Array, ArrayLike, Float, Key, Real, Scalar
from physjax._checks import check_key, check_positive_int, is_concrete
from physjax.diffusion._common import check_data as _check_data
from physjax.diffusion._common import check_schedule as _check_schedule
from physjax.diffusion._common import check_time as _check_time
from physjax.diffusion._common import positive_scalar as _scalar
from physjax.diffusion._common import transition as _noise
from physjax.diffusion.schedules import Schedule
from physjax.kernels import Kernel, run

__all__ = [
    "noise",
    "ForwardSDE",
    "ForwardState",
    "ForwardEulerMaruyama",
    "ForwardResult",
    "simulate_forward",
]


def noise(key: Key, schedule: Schedule, x0: Real[ArrayLike, "*shape"],
          t: Real[ArrayLike, " ..."]) -> Float[Array, "*shape"]:
    """Sample the exact forward transition :math:`x_t = a_t x_0 + \\sqrt{\\Delta_t}\\,z`.

    Args:
        key: PRNG key.
        schedule: :class:`~physjax.diffusion.OU`, :class:`~physjax.diffusion.VP` or
            :class:`~physjax.diffusion.VE`.
        x0: data, any shape (one noise draw per entry).
        t: time in :math:`[0, T]` (a scalar, or an array broadcastable against ``x0``,
            e.g. shape ``(n, 1)`` for one time per sample).

    Returns:
        :math:`x_t`, the shape of ``x0``.
    """
    key = check_key(key, traced=True)
    _check_schedule(schedule)
    x0 = _check_data(x0, "x0", min_ndim=0)
    t = _check_time(t, schedule, "t", allow_zero=True)
    return _noise(key, schedule, x0, t)


class ForwardSDE(eqx.Module):
    """Model of :class:`ForwardEulerMaruyama`: the schedule and the step ``dt`` (arrays,
    traceable)."""

    schedule: Schedule
    dt: Array


class ForwardState(NamedTuple):
    """State of :class:`ForwardEulerMaruyama`: positions ``x`` (any shape, e.g. ``(n, d)``
    for ``n`` trajectories) and the current time ``t``."""

    x: Array
    t: Array


class ForwardEulerMaruyama(Kernel):
    """Euler--Maruyama for the forward SDE, :math:`x \\leftarrow x + f(x,t)\\,dt +
    g(t)\\sqrt{dt}\\,\\xi`, :math:`t \\leftarrow t + dt` (model: :class:`ForwardSDE`)."""

    def init(self, key: Key | None, model: ForwardSDE, x0: Real[ArrayLike, " ..."],
             t0: Scalar = 0.0) -> ForwardState:
        del key
        x0 = jnp.asarray(x0)
        return ForwardState(x0, jnp.asarray(t0, x0.dtype))

    def step(self, key: Key, model: ForwardSDE,
             state: ForwardState) -> tuple[ForwardState, Real[Array, ""]]:
        x, t = state
        dt = model.dt.astype(x.dtype)
        xi = jax.random.normal(key, x.shape, x.dtype)
        s = model.schedule
        x = x + s.drift(x, t) * dt + s.diffusion(t) * jnp.sqrt(dt) * xi
        t = t + dt
        return ForwardState(x, t), t

    def check(self, model: ForwardSDE, state: ForwardState) -> tuple[ForwardSDE, ForwardState]:
        if not isinstance(model, ForwardSDE):
            raise TypeError(f"model must be a ForwardSDE, got {type(model).__name__}")
        _check_schedule(model.schedule, "model.schedule")
        if is_concrete(model.dt):
            _scalar(model.dt, "dt")
        else:
            model = eqx.tree_at(lambda m: m.dt, model,
                                eqx.error_if(model.dt, ~(model.dt > 0), "dt must be > 0"))
        return model, state


class ForwardResult(NamedTuple):
    """Output of :func:`simulate_forward`.

    Attributes:
        times: time of each record, shape ``(n_records,)``.
        x: positions at the records, shape ``(n_records, *x0.shape)``.
        final: the final :class:`ForwardState`.
    """

    times: Array
    x: Array
    final: ForwardState


def simulate_forward(key: Key, schedule: Schedule, x0: Real[ArrayLike, " ..."], n_steps: int,
                     dt: Scalar, *, record_every: int | None = None) -> ForwardResult:
    """Integrate the forward SDE by Euler--Maruyama from :math:`t = 0` for ``n_steps``
    steps of ``dt`` (all entries of ``x0`` are independent trajectories), recording the
    positions every ``record_every`` steps (default: only at the end).

    The exact law is :math:`x_t \\sim \\mathcal N(a_t x_0, \\Delta_t)` (see :func:`noise`).
    """
    key = check_key(key, traced=True)
    _check_schedule(schedule)
    x0 = _check_data(x0, "x0", min_ndim=0)
    n_steps = check_positive_int(n_steps, "n_steps")
    dt = _scalar(dt, "dt")
    if is_concrete(dt) and is_concrete(schedule.T) and \
            n_steps * float(dt) > float(schedule.T) * (1 + 1e-6):
        raise ValueError(f"n_steps * dt must be <= T = {float(schedule.T):g} (the schedule's "
                         f"horizon), got n_steps={n_steps}, dt={float(dt):g}")
    every = n_steps if record_every is None else check_positive_int(record_every,
                                                                    "record_every")
    kernel = ForwardEulerMaruyama()
    model = ForwardSDE(schedule, dt.astype(x0.dtype))
    state = kernel.init(key, model, x0)
    res = run(kernel, key, model, state, n_steps, record_every=every,
              observe=lambda m, s, i: (s.t, s.x))
    times, xs = res.records
    return ForwardResult(times, xs, res.state)
