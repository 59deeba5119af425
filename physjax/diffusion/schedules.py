r"""Noise schedules of the forward (noising) process.

Every schedule is a linear SDE in :math:`x\in\mathbb R^d`,

.. math::  dx = f(x, t)\,dt + g(t)\,dW,\qquad f(x, t) = -\lambda(t)\,x,

run from the data at :math:`t = 0` to the horizon :math:`T`.  Its transition kernel is
Gaussian and known in closed form,

.. math::  x_t \mid x_0 \sim \mathcal N\big(a_t\,x_0,\ \Delta_t\,I\big),\qquad
           a_t = e^{-\int_0^t\lambda},\qquad
           \Delta_t = a_t^2\int_0^t \frac{g(u)^2}{a_u^2}\,du ,

with ``mean_scale(t)`` :math:`= a_t` and ``variance(t)`` :math:`= \Delta_t`.  The three
schedules:

* :class:`OU` -- the Ornstein--Uhlenbeck process of Biroli, Bonnaire, de Bortoli and Mézard
  ("Dynamical regimes of diffusion models", 2024), :math:`dx = -x\,dt + \sqrt2\,dW`:
  :math:`a_t = e^{-t}`, :math:`\Delta_t = 1 - e^{-2t}`.
* :class:`VP` -- variance preserving (Ho et al. 2020; Song et al. 2021),
  :math:`dx = -\tfrac12\beta(t)x\,dt + \sqrt{\beta(t)}\,dW` with the linear
  :math:`\beta(t) = \beta_{\min} + (\beta_{\max}-\beta_{\min})\,t/T`:
  :math:`a_t = e^{-B(t)/2}`, :math:`B(t) = \int_0^t\beta = \beta_{\min}t +
  (\beta_{\max}-\beta_{\min})t^2/(2T)`, :math:`\Delta_t = 1 - a_t^2`.  ``OU`` is ``VP`` with
  :math:`\beta \equiv 2`.
* :class:`VE` -- variance exploding (Song et al. 2021), :math:`dx = g(t)\,dW` with the
  geometric :math:`\sigma(t) = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^{t/T}` and
  :math:`g(t)^2 = d\sigma^2/dt = 2\sigma(t)^2\log(\sigma_{\max}/\sigma_{\min})/T`:
  :math:`a_t = 1`, :math:`\Delta_t = \sigma(t)^2 - \sigma_{\min}^2` (the exact variance of
  the SDE started at :math:`t = 0`).

Besides the common interface (``T``, ``mean_scale``, ``variance``, ``drift``, ``diffusion``)
each schedule provides the closed forms the samplers and the transition-time formulas use:
``noise_to_signal(t)`` :math:`= \Delta_t/a_t^2` (increasing in :math:`t`; the physics of the
noised data depends on :math:`t` only through it), and its inverse
``time_at_noise_to_signal(r)``.

Every number is a scalar array field, so schedules may be traced and vmapped; each is
validated where it is built (finite, positive, increasing), errors naming the argument.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from physjax._checks import check_positive, is_concrete

__all__ = ["Schedule", "OU", "VP", "VE"]


def _scalar(value, name: str) -> Array:
    """A positive finite scalar hyperparameter as a floating array (tracers pass)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise TypeError(f"{name} must be a positive real number, got {value!r}")
    check_positive(value, name)
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
    a = value if isinstance(value, jax.Array) else jnp.asarray(value)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(float))
    return a


def _check_order(low, high, low_name: str, high_name: str):
    if is_concrete(low) and is_concrete(high) and not float(low) < float(high):
        raise ValueError(f"{high_name} must be > {low_name} (an increasing schedule), got "
                         f"{low_name}={float(low)!r}, {high_name}={float(high)!r}")


class Schedule(eqx.Module):
    """Base class of the forward-process schedules (see the module docstring)."""

    T: eqx.AbstractVar[Array]

    def mean_scale(self, t) -> Array:
        """:math:`a_t`, the factor multiplying the data in :math:`x_t = a_t x_0 +
        \\sqrt{\\Delta_t}\\,z`."""
        raise NotImplementedError

    def variance(self, t) -> Array:
        """:math:`\\Delta_t`, the variance of the noise added by time :math:`t`."""
        raise NotImplementedError

    def rate(self, t) -> Array:
        """:math:`\\lambda(t)` in the drift :math:`f(x, t) = -\\lambda(t)\\,x`."""
        raise NotImplementedError

    def drift(self, x, t) -> Array:
        """:math:`f(x, t) = -\\lambda(t)\\,x`."""
        return -self.rate(t) * x

    def diffusion(self, t) -> Array:
        """:math:`g(t)` in :math:`dx = f\\,dt + g\\,dW`."""
        raise NotImplementedError

    def noise_to_signal(self, t) -> Array:
        """:math:`r_t = \\Delta_t/a_t^2`, increasing from 0 at :math:`t = 0`."""
        return self.variance(t) / self.mean_scale(t) ** 2

    def time_at_noise_to_signal(self, r) -> Array:
        """The time :math:`t` at which ``noise_to_signal(t) == r`` (:math:`r \\ge 0`);
        may exceed :math:`T`."""
        raise NotImplementedError


class OU(Schedule):
    """Ornstein--Uhlenbeck forward process :math:`dx = -x\\,dt + \\sqrt2\\,dW` on
    :math:`[0, T]`: :math:`a_t = e^{-t}`, :math:`\\Delta_t = 1 - e^{-2t}`, stationary law
    :math:`\\mathcal N(0, I)` (Biroli, Bonnaire, de Bortoli and Mézard 2024).

    Args:
        T: horizon, > 0 (default 10).
    """

    T: Array

    def __init__(self, T=10.0):
        self.T = _scalar(T, "T")

    def mean_scale(self, t):
        return jnp.exp(-t)

    def variance(self, t):
        return -jnp.expm1(-2.0 * t)

    def rate(self, t):
        return jnp.ones_like(jnp.asarray(t, jnp.result_type(float)))

    def diffusion(self, t):
        return jnp.sqrt(2.0) * jnp.ones_like(jnp.asarray(t, jnp.result_type(float)))

    def noise_to_signal(self, t):
        return jnp.expm1(2.0 * t)

    def time_at_noise_to_signal(self, r):
        return 0.5 * jnp.log1p(r)



class VP(Schedule):
    """Variance-preserving schedule :math:`dx = -\\tfrac12\\beta(t)x\\,dt +
    \\sqrt{\\beta(t)}\\,dW`, :math:`\\beta(t) = \\beta_{\\min} + (\\beta_{\\max} -
    \\beta_{\\min})t/T` (Song et al. 2021): :math:`a_t = e^{-B(t)/2}`, :math:`\\Delta_t = 1 -
    a_t^2`, :math:`B(t) = \\beta_{\\min}t + (\\beta_{\\max}-\\beta_{\\min})t^2/(2T)`.

    Args:
        beta_min: :math:`\\beta(0) > 0` (default 0.1).
        beta_max: :math:`\\beta(T) > \\beta_{\\min}` (default 20).
        T: horizon, > 0 (default 1).
    """

    beta_min: Array
    beta_max: Array
    T: Array

    def __init__(self, beta_min=0.1, beta_max=20.0, T=1.0):
        self.beta_min = _scalar(beta_min, "beta_min")
        self.beta_max = _scalar(beta_max, "beta_max")
        self.T = _scalar(T, "T")
        _check_order(self.beta_min, self.beta_max, "beta_min", "beta_max")

    def beta(self, t):
        """:math:`\\beta(t)`."""
        return self.beta_min + (self.beta_max - self.beta_min) * t / self.T

    def integrated_beta(self, t):
        """:math:`B(t) = \\int_0^t \\beta(u)\\,du`."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2 / self.T

    def mean_scale(self, t):
        return jnp.exp(-0.5 * self.integrated_beta(t))

    def variance(self, t):
        return -jnp.expm1(-self.integrated_beta(t))

    def rate(self, t):
        return 0.5 * self.beta(t)

    def diffusion(self, t):
        return jnp.sqrt(self.beta(t))

    def noise_to_signal(self, t):
        return jnp.expm1(self.integrated_beta(t))

    def time_at_noise_to_signal(self, r):
        # solve beta_min t + k t^2 / 2 = log(1 + r), k = (beta_max - beta_min) / T > 0
        c = jnp.log1p(r)
        k = (self.beta_max - self.beta_min) / self.T
        return 2.0 * c / (self.beta_min + jnp.sqrt(self.beta_min**2 + 2.0 * k * c))



class VE(Schedule):
    """Variance-exploding schedule :math:`dx = g(t)\\,dW`, :math:`g(t)^2 = d\\sigma^2/dt`,
    :math:`\\sigma(t) = \\sigma_{\\min}(\\sigma_{\\max}/\\sigma_{\\min})^{t/T}` (Song et al.
    2021): :math:`a_t = 1`, :math:`\\Delta_t = \\sigma(t)^2 - \\sigma_{\\min}^2`.

    Args:
        sigma_min: :math:`\\sigma(0) > 0` (default 0.01).
        sigma_max: :math:`\\sigma(T) > \\sigma_{\\min}` (default 50).
        T: horizon, > 0 (default 1).
    """

    sigma_min: Array
    sigma_max: Array
    T: Array

    def __init__(self, sigma_min=0.01, sigma_max=50.0, T=1.0):
        self.sigma_min = _scalar(sigma_min, "sigma_min")
        self.sigma_max = _scalar(sigma_max, "sigma_max")
        self.T = _scalar(T, "T")
        _check_order(self.sigma_min, self.sigma_max, "sigma_min", "sigma_max")

    def _log_ratio(self):
        return jnp.log(self.sigma_max / self.sigma_min)

    def sigma(self, t):
        """:math:`\\sigma(t)`."""
        return self.sigma_min * jnp.exp(self._log_ratio() * t / self.T)

    def mean_scale(self, t):
        return jnp.ones_like(jnp.asarray(t, jnp.result_type(float)))

    def variance(self, t):
        return self.sigma_min**2 * jnp.expm1(2.0 * self._log_ratio() * t / self.T)

    def rate(self, t):
        return jnp.zeros_like(jnp.asarray(t, jnp.result_type(float)))

    def diffusion(self, t):
        return self.sigma(t) * jnp.sqrt(2.0 * self._log_ratio() / self.T)

    def noise_to_signal(self, t):
        return self.variance(t)

    def time_at_noise_to_signal(self, r):
        return 0.5 * self.T * jnp.log1p(r / self.sigma_min**2) / self._log_ratio()



# ------------------------------------------------------------- validation shared by the package

def _check_schedule(schedule, name: str = "schedule") -> Schedule:
    if not isinstance(schedule, Schedule):
        raise TypeError(f"{name} must be a physjax.diffusion schedule (OU, VP or VE), got "
                        f"{type(schedule).__name__}")
    return schedule


def _check_time(t, schedule: Schedule, name: str = "t", *, allow_zero: bool = False):
    """A time (scalar or array) in (0, T] (``[0, T]`` with ``allow_zero``), checked when
    concrete; returned as a floating array."""
    if isinstance(t, bool) or t is None or isinstance(t, str):
        raise TypeError(f"{name} must be a real time in (0, T], got {t!r}")
    if is_concrete(t):
        a = np.asarray(t)
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise TypeError(f"{name} must be a real time in (0, T], got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite, got {a!r}")
        T = float(schedule.T) if is_concrete(schedule.T) else np.inf
        low_ok = np.all(a >= 0) if allow_zero else np.all(a > 0)
        if not low_ok or np.any(a > T * (1 + 1e-6)):
            interval = "[0, T]" if allow_zero else "(0, T]"
            raise ValueError(f"{name} must lie in {interval} = {interval[0]}0, {T:g}], got "
                             f"min {a.min()!r}, max {a.max()!r}")
    a = jnp.asarray(t)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(float))
    return a


def _check_time_grid(times, schedule: Schedule, name: str = "times") -> Array:
    """A concrete 1-D grid of at least two times, strictly decreasing, in (0, T]."""
    if not is_concrete(times):
        if jnp.ndim(times) != 1 or times.shape[0] < 2:
            raise ValueError(f"{name} must be a 1-D grid of at least 2 times, got shape "
                             f"{jnp.shape(times)}")
        return times
    a = np.asarray(times)
    if a.ndim != 1 or a.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D grid of at least 2 times (from the start "
                         f"time down to the end time), got shape {a.shape}")
    if not np.all(np.diff(a) < 0):
        raise ValueError(f"{name} must be strictly decreasing (the backward process runs "
                         f"from T towards 0), got {a[:6].tolist()}...")
    _check_time(a, schedule, name)
    return jnp.asarray(a, dtype=jnp.result_type(float))
