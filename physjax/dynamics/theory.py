r"""Closed forms for the spiked models of :mod:`physjax.dynamics.models` at large N: the
equilibrium overlap of the spherical spiked Wigner model (the BBP transition at
:math:`\lambda = 1`, Baik, Ben Arous and Péché 2005, at temperature T) and of the matrix
channel of the spiked matrix--tensor model (Mannelli, Krzakala, Urbani and Zdeborová 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from physjax._array_types import ArrayLike, Float, Real, Scalar

__all__ = ["wigner_equilibrium_overlap", "matrix_channel_overlap"]


def wigner_equilibrium_overlap(snr: Real[ArrayLike, "*#batch"] | Sequence[Scalar],
                               temperature: Real[ArrayLike, "*#batch"] | Sequence[Scalar]
                               ) -> Float[np.ndarray, "*batch"]:
    r"""Squared overlap :math:`m^2` of the spherical spiked Wigner model in equilibrium at
    temperature :math:`T` (:math:`N\to\infty`): :math:`(1 - T/\lambda)(1 - 1/\lambda^2)` for
    :math:`\lambda > 1` and :math:`T < \lambda`, else 0 (gradient flow: :math:`T = 0`)."""
    lam = np.asarray(snr, np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError(f"snr must be finite and > 0, got {snr}")
    if not np.all(np.isfinite(temperature)) or np.any(np.asarray(temperature) < 0):
        raise ValueError(f"temperature must be finite and >= 0, got {temperature}")
    with np.errstate(divide="ignore", invalid="ignore"):
        m2 = (1.0 - temperature / lam) * (1.0 - 1.0 / lam**2)
    return np.where((lam > 1.0) & (temperature < lam), m2, 0.0)


def matrix_channel_overlap(delta2: Real[ArrayLike, "*#batch"] | Sequence[Scalar],
                           temperature: Real[ArrayLike, "*#batch"] | Sequence[Scalar]
                           ) -> Float[np.ndarray, "*batch"]:
    r"""Squared overlap of the matrix channel of the spiked matrix--tensor model alone, in
    equilibrium at temperature :math:`T`: its Hessian is :math:`s\,Y_\lambda` with
    :math:`s = \lambda = \Delta_2^{-1/2}` (a spiked Wigner matrix), so
    :math:`m^2 = (1 - T\Delta_2)(1 - \Delta_2)` for :math:`\Delta_2 < 1`,
    :math:`T\Delta_2 < 1` (T = 0: gradient flow; T = 1: the Bayes posterior, where
    :math:`|m| = 1 - \Delta_2` is the Bayes-optimal overlap), else 0."""
    d2 = np.asarray(delta2, np.float64)
    if not np.all(np.isfinite(d2)) or np.any(d2 <= 0):
        raise ValueError(f"delta2 must be finite and > 0, got {delta2}")
    if not np.all(np.isfinite(temperature)) or np.any(np.asarray(temperature) < 0):
        raise ValueError(f"temperature must be finite and >= 0, got {temperature}")
    return wigner_equilibrium_overlap(1.0 / np.sqrt(d2), temperature * np.sqrt(d2))
