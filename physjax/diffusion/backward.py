r"""The backward (generative) process driven by a score, and the cloning ("U-turn") protocol.

Given a forward schedule :math:`dx = f(x, t)\,dt + g(t)\,dW` (:math:`f = -\lambda(t)x`) and
a score :math:`s(x, t) \approx \nabla\log p_t(x)`, the time-reversed process runs from
:math:`t = T` down to :math:`t_{\rm end} > 0`:

* reverse SDE (Anderson 1982): :math:`dx = [f(x,t) - g(t)^2 s(x,t)]\,dt + g(t)\,d\bar W`
  (:math:`dt < 0`); it reproduces the marginals :math:`p_t` and the forward path law;
* probability-flow ODE (Song et al. 2021): :math:`dx = [f(x,t) - \tfrac12 g(t)^2 s(x,t)]
  \,dt`; same marginals, deterministic.

Writing :math:`c = 1` (SDE) or :math:`\tfrac12` (ODE) and a step from :math:`t` to
:math:`t' = t - h` on a decreasing grid, with :math:`D(x, u) = -f(x,u) + c\,g(u)^2 s(x,u)`
the drift in reverse time and :math:`\xi\sim\mathcal N(0, I)`:

* ``"euler_maruyama"``: :math:`x' = x + D(x, t)\,h + g(t)\sqrt h\,\xi` (no noise for the
  ODE, where it is explicit Euler);
* ``"heun"``: predictor :math:`\tilde x = x + D(x,t)h + \sigma\xi`, corrector
  :math:`x' = x + \tfrac12[D(x,t) + D(\tilde x, t')]h + \sigma\xi` with the same
  :math:`\xi` and :math:`\sigma^2 = \tfrac12[g(t)^2 + g(t')^2]h` (stochastic Heun for
  additive noise; the classical second-order Heun for the ODE);
* ``"exponential"``: exponential integrator in the data-prediction form (first-order
  DPM-Solver++ of Lu et al. 2022): the denoiser :math:`\hat x_0 = (x + \Delta_t
  s(x,t))/a_t` (Tweedie) is frozen over the step and everything else -- the linear drift
  :math:`-\lambda x` and the :math:`-x/\Delta` part of the score -- is integrated exactly.
  For the SDE this is the Gaussian bridge (DDPM's ancestral step)

  .. math:: x' = \frac{\alpha\Delta_{t'}}{\Delta_t}\,x + \frac{\gamma\,a_{t'}}{\Delta_t}
            \,\hat x_0 + \sqrt{\frac{\gamma\,\Delta_{t'}}{\Delta_t}}\;\xi,\qquad
            \alpha = \frac{a_t}{a_{t'}},\quad \gamma = \Delta_t - \alpha^2\Delta_{t'},

  and for the ODE it is DDIM, :math:`x' = a_{t'}\hat x_0 + \sqrt{\Delta_{t'}/\Delta_t}\,
  (x - a_t\hat x_0)`.  Exact when the data are one point (for OU, :math:`\alpha = e^{-h}`,
  :math:`\gamma = 1 - e^{-2h}`).

All three are :class:`ReverseKernel` (``process``, ``method``) on the
:class:`physjax.kernels.Kernel` protocol, with model :class:`ReverseProcess` (schedule,
score, grid) and a state holding a batch ``x`` of shape ``(n, d)``: the ``n``
trajectories are a vmap axis of the score.  :func:`reverse` runs it with
:func:`physjax.kernels.run`; :func:`sample` starts it from the reference law;
:func:`clone` is the U-turn protocol of Biroli, Bonnaire, de Bortoli and Mézard (2024):
noise a sample to time :math:`t` with the exact transition, regenerate ``n_clones`` times
independently, return the endpoints.

The score's output shape is checked once, up front, with ``jax.eval_shape`` (an error
naming ``score``); the time grid must be strictly decreasing within :math:`(0, T]`
(an error naming ``times``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from physjax._array_types import Array, ArrayLike, Float, Indices, Key, Real, Scalar
from physjax._checks import check_choice, check_key, check_positive_int, is_concrete
from physjax._options import Integrator, Process, Spacing
from physjax.diffusion._common import KernelObserver as _KernelObserver
from physjax.diffusion._common import check_data as _check_data
from physjax.diffusion._common import check_schedule as _check_schedule
from physjax.diffusion._common import check_time as _check_time
from physjax.diffusion._common import check_time_grid as _check_time_grid
from physjax.diffusion._common import transition as _noise
from physjax.diffusion.schedules import Schedule
from physjax.diffusion.scores import Score
from physjax.kernels import Kernel, run

__all__ = [
    "Spacing",
    "Integrator",
    "Process",
    "ReverseProcess",
    "ReverseState",
    "ReverseKernel",
    "ReverseResult",
    "CloneResult",
    "reverse",
    "sample",
    "clone",
    "time_grid",
    "prior_sample",
]


class _ScoreFunction(eqx.Module):
    """A plain score function held as a static field (so the model is a pytree of arrays
    and passes through ``jax.jit``)."""

    fn: Callable = eqx.field(static=True)

    def __call__(self, x, t):
        return self.fn(x, t)


def _as_score(score):
    if not callable(score):
        raise TypeError(f"score must be a callable score(x, t) -> array of the shape of x "
                        f"(a function or an equinox.Module), got {type(score).__name__}")
    if isinstance(score, eqx.Module):
        return score
    return _ScoreFunction(score)


def _check_score(score, d: int, dtype) -> None:
    """``score(x, t)`` on one sample of shape ``(d,)`` must return shape ``(d,)``."""
    x = jax.ShapeDtypeStruct((d,), dtype)
    t = jax.ShapeDtypeStruct((), dtype)
    try:
        out = eqx.filter_eval_shape(score, x, t)
    except Exception as e:  # noqa: BLE001 -- report any failure as a bad score
        raise TypeError(f"score must be callable as score(x, t) on one sample x of shape "
                        f"({d},) and a scalar t; calling it failed with "
                        f"{type(e).__name__}: {e}") from e
    shape = getattr(out, "shape", None)
    if shape != (d,):
        raise ValueError(f"score must return an array of shape ({d},) (the shape of one "
                         f"sample x), got {shape if shape is not None else type(out)}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"score must return a floating array, got dtype {out.dtype}")


class ReverseProcess(eqx.Module):
    """Model of :class:`ReverseKernel`: the schedule, the score and the decreasing time
    grid ``times`` (every number traceable)."""

    schedule: Schedule
    score: Callable
    times: Array


class ReverseState(NamedTuple):
    """State of :class:`ReverseKernel`: positions ``x`` of shape ``(n, d)`` (``n``
    trajectories) at time ``times[k]``."""

    x: Array
    k: Array


class ReverseKernel(Kernel):
    """One step of the reverse SDE or probability-flow ODE on the model's time grid (see
    the module docstring for the three schemes).

    Attributes:
        process: ``"sde"`` or ``"ode"`` (static).
        method: ``"euler_maruyama"``, ``"heun"`` or ``"exponential"`` (static).
    """

    process: Process = eqx.field(static=True, default="sde")
    method: Integrator = eqx.field(static=True, default="euler_maruyama")

    def __check_init__(self):
        check_choice(self.process, "process", Process)
        check_choice(self.method, "method", Integrator)

    def init(self, key: Key | None, model: ReverseProcess,
             x: Real[ArrayLike, " ..."]) -> ReverseState:
        del key, model
        return ReverseState(jnp.asarray(x), jnp.zeros((), jnp.int32))

    def _scores(self, model, x, t):
        if isinstance(model.score, Score):
            return model.score.batch(x, t)      # a batched formula where the score has one
        return jax.vmap(model.score, in_axes=(0, None))(x, t)

    def _drift(self, model, x, t, c):
        """:math:`D(x, t) = -f(x,t) + c g(t)^2 s(x,t)`, the drift in reverse time."""
        s = model.schedule
        return -s.drift(x, t) + c * s.diffusion(t) ** 2 * self._scores(model, x, t)

    def step(self, key: Key, model: ReverseProcess,
             state: ReverseState) -> tuple[ReverseState, Real[Array, ""]]:
        x, k = state
        sched = model.schedule
        t = model.times[k].astype(x.dtype)
        t_next = model.times[k + 1].astype(x.dtype)
        h = t - t_next
        sde = self.process == "sde"
        c = 1.0 if sde else 0.5
        xi = jax.random.normal(key, x.shape, x.dtype) if sde else None
        if self.method == "euler_maruyama":
            x_new = x + self._drift(model, x, t, c) * h
            if sde:
                x_new = x_new + sched.diffusion(t) * jnp.sqrt(h) * xi
        elif self.method == "heun":
            d0 = self._drift(model, x, t, c)
            if sde:
                noise = jnp.sqrt(0.5 * (sched.diffusion(t) ** 2
                                        + sched.diffusion(t_next) ** 2) * h) * xi
            else:
                noise = 0.0
            x_pred = x + d0 * h + noise
            d1 = self._drift(model, x_pred, t_next, c)
            x_new = x + 0.5 * (d0 + d1) * h + noise
        else:  # exponential (data prediction, exact linear part)
            a_t, a_n = sched.mean_scale(t), sched.mean_scale(t_next)
            v_t, v_n = sched.variance(t), sched.variance(t_next)
            x0_hat = (x + v_t * self._scores(model, x, t)) / a_t
            if sde:
                alpha = a_t / a_n
                gamma = jnp.maximum(v_t - alpha**2 * v_n, 0.0)
                x_new = (alpha * v_n / v_t) * x + (gamma * a_n / v_t) * x0_hat \
                    + jnp.sqrt(gamma * v_n / v_t) * xi
            else:
                x_new = a_n * x0_hat + jnp.sqrt(v_n / v_t) * (x - a_t * x0_hat)
        return ReverseState(x_new, k + 1), t_next

    def check(self, model: ReverseProcess,
              state: ReverseState) -> tuple[ReverseProcess, ReverseState]:
        if not isinstance(model, ReverseProcess):
            raise TypeError(f"model must be a ReverseProcess, got {type(model).__name__}")
        _check_schedule(model.schedule, "schedule")
        x = state.x
        if jnp.ndim(x) != 2:
            raise ValueError(f"x must have shape (n, d) (n trajectories), got "
                             f"{jnp.shape(x)}")
        _check_score(model.score, x.shape[1], x.dtype)
        times = _check_time_grid(model.times, model.schedule, "times")
        if not is_concrete(model.times):
            bad = ~jnp.all(jnp.diff(model.times) < 0) | ~(model.times[-1] > 0)
            times = eqx.error_if(model.times, bad,
                                 "times must be strictly decreasing within (0, T]")
        return eqx.tree_at(lambda m: m.times, model, times), state


class ReverseResult(NamedTuple):
    """Output of :func:`reverse`.

    Attributes:
        x: final positions, shape ``(n, d)`` (at ``times[-1]``).
        times: times of the records, shape ``(n_records,)``.
        records: ``observe(x, t)`` stacked over the records (default: ``x``, shape
            ``(n_records, n, d)``), or ``None`` when nothing was recorded.
    """

    x: Array
    times: Array
    records: Any


def time_grid(schedule: Schedule, n_steps: int, *, t_start: Scalar | None = None,
              t_end: Scalar = 1e-3, spacing: Spacing = "log_snr") -> Float[Array, " t"]:
    """A decreasing grid of ``n_steps + 1`` times from ``t_start`` (default ``T``) to
    ``t_end``, evenly spaced in

    * ``"log_snr"`` (default): the log noise-to-signal ratio :math:`\\log(\\Delta_t/a_t^2)`
      -- geometric in :math:`t` near 0, where the score's stiffness :math:`\\sim
      1/\\Delta_t` grows, and even in :math:`t` at large :math:`t` for OU/VP (even in
      :math:`\\log\\sigma` for VE);
    * ``"geometric"``: :math:`\\log t`;
    * ``"linear"``: :math:`t`.

    ``t_start`` may be traced (``t_end`` and the number of steps set the shape)."""
    _check_schedule(schedule)
    n_steps = check_positive_int(n_steps, "n_steps")
    check_choice(spacing, "spacing", Spacing)
    t_start = schedule.T if t_start is None else _check_time(t_start, schedule, "t_start")
    t_end = _check_time(t_end, schedule, "t_end")
    if is_concrete(t_start) and is_concrete(t_end) and not float(t_end) < float(t_start):
        raise ValueError(f"t_end must be < t_start, got t_end={float(t_end)!r}, "
                         f"t_start={float(t_start)!r}")
    u = jnp.linspace(0.0, 1.0, n_steps + 1)
    if spacing == "log_snr":
        r0 = jnp.log(schedule.noise_to_signal(t_start))
        r1 = jnp.log(schedule.noise_to_signal(t_end))
        grid = schedule.time_at_noise_to_signal(jnp.exp(r0 + u * (r1 - r0)))
        return grid.at[0].set(t_start).at[-1].set(t_end)   # exact end points
    if spacing == "geometric":
        return jnp.exp(jnp.log(t_start) + u * (jnp.log(t_end) - jnp.log(t_start)))
    return t_start + u * (t_end - t_start)


def prior_sample(key: Key, schedule: Schedule, n: int, d: int, *,
                 dtype: DTypeLike | None = None) -> Float[Array, "n d"]:
    """``n`` draws of the reference law :math:`\\mathcal N(0, (a_T^2 + \\Delta_T) I_d)` that
    the backward process starts from (:math:`p_T` for white data -- zero mean, unit
    covariance; :math:`\\mathcal N(0, I)` for OU and VP, whose :math:`a_T^2 + \\Delta_T = 1`)."""
    key = check_key(key, traced=True)
    _check_schedule(schedule)
    n = check_positive_int(n, "n")
    d = check_positive_int(d, "d")
    dtype = jnp.result_type(float) if dtype is None else dtype
    T = schedule.T
    scale = jnp.sqrt(schedule.mean_scale(T) ** 2 + schedule.variance(T)).astype(dtype)
    return scale * jax.random.normal(key, (n, d), dtype)


@dataclasses.dataclass(frozen=True)
class _Observe:
    """``observe(x, t)`` as a run-loop observer (hashable: one compilation per ``fn``)."""

    fn: Callable | None

    def __call__(self, model, state, info):
        t = model.times[state.k].astype(state.x.dtype)
        return state.x if self.fn is None else self.fn(state.x, t)


def _observe_nothing(model, state, info):
    return None


def _observer(observe):
    if observe is not None and not callable(observe):
        raise TypeError(f"observe must be a callable observe(x, t), got "
                        f"{type(observe).__name__}")
    return _Observe(observe)


def reverse(key: Key, schedule: Schedule, score: Callable[..., Any],
            x: Real[ArrayLike, "n d"], times: Real[ArrayLike, " t"] | Sequence[float],
            *, process: Process = "sde", method: Integrator = "euler_maruyama",
            record_steps: Indices | None = None,
            observe: Callable[..., Any] | None = None) -> ReverseResult:
    """Integrate the reverse SDE or the probability-flow ODE from ``times[0]`` down to
    ``times[-1]`` for the ``n`` trajectories of ``x`` (shape ``(n, d)``).

    Args:
        key: PRNG key (step ``k`` draws from ``fold_in(key, k)``).
        schedule: the forward schedule.
        score: ``score(x, t)`` on one sample (shape ``(d,)``) returning shape ``(d,)``.
        x: starting positions at ``times[0]``, shape ``(n, d)``.
        times: strictly decreasing grid in :math:`(0, T]` (e.g. :func:`time_grid`).
        process: ``"sde"`` (reverse SDE) or ``"ode"`` (probability flow).
        method: ``"euler_maruyama"``, ``"heun"`` or ``"exponential"``.
        record_steps: grid indices at which to record (0 = the start); default none.
        observe: ``observe(x, t) -> pytree`` recorded at those steps (default: ``x``).

    Returns:
        :class:`ReverseResult`.
    """
    key = check_key(key, traced=True)
    _check_schedule(schedule)
    kernel = ReverseKernel(process, method)
    score = _as_score(score)
    x = _check_data(x, "x", min_ndim=2)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, d) (n trajectories), got {x.shape}")
    times = _check_time_grid(times, schedule, "times")
    n_steps = times.shape[0] - 1
    model = ReverseProcess(schedule, score, times)
    state = kernel.init(key, model, x)
    if record_steps is None:
        res = run(kernel, key, model, state, n_steps, record_every=n_steps,
                  observe=_observe_nothing)
        return ReverseResult(res.state.x, times[-1:], None)
    steps = np.asarray(record_steps)
    if steps.ndim != 1 or steps.size == 0 or steps.max() > n_steps:
        raise ValueError(f"record_steps must be grid indices in [0, {n_steps}], got "
                         f"{steps!r}")
    kernel_observe = observe if isinstance(observe, _KernelObserver) else _observer(observe)
    res = run(kernel, key, model, state, n_steps, record_steps=steps,
              observe=kernel_observe)
    return ReverseResult(res.state.x, times[res.record_steps], res.records)


def sample(key: Key, schedule: Schedule, score: Callable[..., Any], n_samples: int, d: int,
           *, n_steps: int = 200, t_end: Scalar = 1e-3, process: Process = "sde",
           method: Integrator = "euler_maruyama",
           spacing: Spacing = "log_snr") -> Float[Array, "n_samples d"]:
    """Generate ``n_samples`` samples of dimension ``d``: :func:`prior_sample` at ``T``,
    then :func:`reverse` on ``time_grid(schedule, n_steps, t_end=t_end)``.  Returns the
    positions at ``t_end``, shape ``(n_samples, d)``."""
    key = check_key(key, traced=True)
    k0, k1 = jax.random.split(key)
    n_samples = check_positive_int(n_samples, "n_samples")
    grid = time_grid(schedule, n_steps, t_end=t_end, spacing=spacing)
    x = prior_sample(k0, schedule, n_samples, d)
    return reverse(k1, schedule, score, x, grid, process=process, method=method).x


class CloneResult(NamedTuple):
    """Output of :func:`clone` (a leading axis of the times when ``t`` is an array).

    Attributes:
        start: the noised samples :math:`x_t`, shape ``(m, d)``.
        endpoints: the regenerated samples at ``t_end``, shape ``(m, n_clones, d)``.
    """

    start: Array
    endpoints: Array


def clone(key: Key, schedule: Schedule, score: Callable[..., Any],
          x0: Real[ArrayLike, "m d"] | Real[ArrayLike, " d"],
          t: Scalar | Real[ArrayLike, " k"] | Sequence[float], n_clones: int = 2, *,
          n_steps: int = 100, t_end: Scalar = 1e-3, process: Process = "sde",
          method: Integrator = "euler_maruyama", spacing: Spacing = "log_snr") -> CloneResult:
    """The U-turn (cloning) protocol: noise each sample of ``x0`` to time ``t`` with the
    exact forward transition, then run ``n_clones`` independent backward trajectories from
    that common :math:`x_t` down to ``t_end``.

    Two clones of a sample share the class of their common ancestor when ``t`` is below
    the speciation time; above it their classes are independent (Biroli et al. 2024).

    Args:
        key: PRNG key.
        schedule, score: as for :func:`reverse`.
        x0: samples, shape ``(m, d)`` (or ``(d,)`` for one).
        t: U-turn time in :math:`(t_{\\rm end}, T]`; a scalar, or a concrete 1-D array of
            times (one run each; the result gets a leading axis).
        n_clones: independent regenerations per sample (>= 1).
        n_steps, t_end, spacing: the backward grid from ``t`` to ``t_end``
            (:func:`time_grid`).
        process, method: as for :func:`reverse`.

    Returns:
        :class:`CloneResult`.
    """
    key = check_key(key, traced=True)
    _check_schedule(schedule)
    n_clones = check_positive_int(n_clones, "n_clones")
    score = _as_score(score)
    x0 = _check_data(x0, "x0")
    single = x0.ndim == 1
    if single:
        x0 = x0[None]
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (m, d) or (d,), got {x0.shape}")
    t = _check_time(t, schedule, "t")
    t_end = _check_time(t_end, schedule, "t_end")
    if is_concrete(t) and is_concrete(t_end) and not np.all(np.asarray(t) > float(t_end)):
        raise ValueError(f"t must be > t_end = {float(t_end):g}, got min "
                         f"{float(np.min(np.asarray(t)))!r}")
    kernel = ReverseKernel(process, method)
    _check_score(score, x0.shape[1], x0.dtype)
    m, d = x0.shape

    def one(k, tt):
        k0, k1 = jax.random.split(k)
        xt = _noise(k0, schedule, x0, tt)
        grid = time_grid(schedule, n_steps, t_start=tt, t_end=t_end, spacing=spacing)
        start = jnp.repeat(xt, n_clones, axis=0)
        model = ReverseProcess(schedule, score, grid)
        res = run(kernel, k1, model, kernel.init(k1, model, start), n_steps,
                  record_every=n_steps, observe=_observe_nothing)
        ends = res.state.x.reshape(m, n_clones, d)
        return (xt[0], ends[0]) if single else (xt, ends)

    if jnp.ndim(t) == 0:
        return CloneResult(*one(key, t))
    if jnp.ndim(t) != 1:
        raise ValueError(f"t must be a scalar or a 1-D array of times, got shape "
                         f"{jnp.shape(t)}")
    outs = [one(jax.random.fold_in(key, i), t[i]) for i in range(t.shape[0])]
    return CloneResult(jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs]))
