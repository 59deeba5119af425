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
import jax.numpy as jnp

from physjax._array_types import Array, ArrayLike, Float, Real, Scalar
from physjax._checks import is_concrete
from physjax.diffusion._common import check_schedule as _check_schedule  # noqa: F401
from physjax.diffusion._common import positive_scalar as _scalar

__all__ = ["Schedule", "OU", "VP", "VE"]


def _increasing_range(low, high, T, low_name: str, high_name: str
                      ) -> tuple[Array, Array, Array]:
    """The checked scalars ``(low, high, T)`` of a schedule running from ``low`` at
    :math:`t = 0` up to ``high`` at :math:`T` (each positive, ``high > low``)."""
    low, high = _scalar(low, low_name), _scalar(high, high_name)
    T = _scalar(T, "T")
    if is_concrete(low) and is_concrete(high) and not float(low) < float(high):
        raise ValueError(f"{high_name} must be > {low_name} (an increasing schedule), got "
                         f"{low_name}={float(low)!r}, {high_name}={float(high)!r}")
    return low, high, T


class Schedule(eqx.Module):
    """Base class of the forward-process schedules (see the module docstring)."""

    T: eqx.AbstractVar[Array]

    def mean_scale(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`a_t`, the factor multiplying the data in :math:`x_t = a_t x_0 +
        \\sqrt{\\Delta_t}\\,z`."""
        raise NotImplementedError

    def variance(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`\\Delta_t`, the variance of the noise added by time :math:`t`."""
        raise NotImplementedError

    def rate(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`\\lambda(t)` in the drift :math:`f(x, t) = -\\lambda(t)\\,x`."""
        raise NotImplementedError

    def drift(self, x: Real[ArrayLike, " ..."], t: Real[ArrayLike, " ..."]
              ) -> Float[Array, " ..."]:
        """:math:`f(x, t) = -\\lambda(t)\\,x`."""
        return -self.rate(t) * x

    def diffusion(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`g(t)` in :math:`dx = f\\,dt + g\\,dW`."""
        raise NotImplementedError

    def noise_to_signal(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`r_t = \\Delta_t/a_t^2`, increasing from 0 at :math:`t = 0`."""
        return self.variance(t) / self.mean_scale(t) ** 2

    def time_at_noise_to_signal(self, r: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
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

    def __init__(self, T: Scalar = 10.0) -> None:
        self.T = _scalar(T, "T")

    def mean_scale(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.exp(-t)

    def variance(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return -jnp.expm1(-2.0 * t)

    def rate(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.ones_like(jnp.asarray(t, jnp.result_type(float)))

    def diffusion(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.sqrt(2.0) * jnp.ones_like(jnp.asarray(t, jnp.result_type(float)))

    def noise_to_signal(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.expm1(2.0 * t)

    def time_at_noise_to_signal(self, r: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
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

    def __init__(self, beta_min: Scalar = 0.1, beta_max: Scalar = 20.0,
                 T: Scalar = 1.0) -> None:
        self.beta_min, self.beta_max, self.T = _increasing_range(beta_min, beta_max, T,
                                                                 "beta_min", "beta_max")

    def beta(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`\\beta(t)`."""
        return self.beta_min + (self.beta_max - self.beta_min) * t / self.T

    def integrated_beta(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`B(t) = \\int_0^t \\beta(u)\\,du`."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2 / self.T

    def mean_scale(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.exp(-0.5 * self.integrated_beta(t))

    def variance(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return -jnp.expm1(-self.integrated_beta(t))

    def rate(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return 0.5 * self.beta(t)

    def diffusion(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.sqrt(self.beta(t))

    def noise_to_signal(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.expm1(self.integrated_beta(t))

    def time_at_noise_to_signal(self, r: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
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

    def __init__(self, sigma_min: Scalar = 0.01, sigma_max: Scalar = 50.0,
                 T: Scalar = 1.0) -> None:
        self.sigma_min, self.sigma_max, self.T = _increasing_range(sigma_min, sigma_max, T,
                                                                   "sigma_min", "sigma_max")

    def _log_ratio(self) -> Array:
        return jnp.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        """:math:`\\sigma(t)`."""
        return self.sigma_min * jnp.exp(self._log_ratio() * t / self.T)

    def mean_scale(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.ones_like(jnp.asarray(t, jnp.result_type(float)))

    def variance(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return self.sigma_min**2 * jnp.expm1(2.0 * self._log_ratio() * t / self.T)

    def rate(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return jnp.zeros_like(jnp.asarray(t, jnp.result_type(float)))

    def diffusion(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return self.sigma(t) * jnp.sqrt(2.0 * self._log_ratio() / self.T)

    def noise_to_signal(self, t: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return self.variance(t)

    def time_at_noise_to_signal(self, r: Real[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
        return 0.5 * self.T * jnp.log1p(r / self.sigma_min**2) / self._log_ratio()
