r"""Thermal fluctuations of spring networks: strain statistics from the normal modes, the
crossover temperature :math:`T^*`, and a Langevin check.

Displacements about the reference state are expanded in the normal modes (unit masses),
:math:`u = \sum_j a_j e_j` over the non-rigid modes (seed 000: "exclude these soft modes").
At temperature T, equipartition makes the :math:`a_j` independent Gaussians of mean 0 and
variance :math:`T/\omega_j^2`, so the pair strains :math:`\varepsilon = Pu` (linear
response, :mod:`physjax.networks.strain`) are Gaussian with covariance :math:`T\,C`,

.. math::  C = P G P^\top = \sum_j \frac{(Pe_j)(Pe_j)^\top}{\omega_j^2},

and mean :math:`\varepsilon^0 = P y_0` (0 unless rest lengths were trained).

* **Without input strain**: :math:`\langle\varepsilon_T\rangle = \varepsilon^0_T`,
  :math:`\sigma^0_{\varepsilon_T} = \sqrt{T C_{TT}}`.
* **With input strain** (sources held at :math:`\varepsilon_S`, mask W): the conditional
  Gaussian, :math:`\langle\varepsilon\rangle = \varepsilon^0 + C W(WCW + I - W)^{-1}
  W(\varepsilon_S - \varepsilon^0)` (= the linear-response free state) and covariance
  :math:`T[C - CW(WCW + I - W)^{-1}WC]`.

**Crossover temperature** (criterion, after seed 000's plot of :math:`\langle\varepsilon_T
\rangle` with bands :math:`\sigma_{\varepsilon_T} + \sigma^0_{\varepsilon_T}`): :math:`T^*`
is the temperature at which the learned response -- the shift of the mean target strain
caused by the input, :math:`\delta = \langle\varepsilon_T\rangle - \langle\varepsilon_T
\rangle_0` -- equals the sum of the thermal spreads with and without the input,
:math:`|\delta| = \sigma_{\varepsilon_T}(T^*) + \sigma^0_{\varepsilon_T}(T^*)`.  Above
:math:`T^*` the two target-strain distributions overlap within one standard deviation each,
so the input can no longer be read from the target.  Both spreads grow as :math:`\sqrt T`,
hence :math:`T^* = \delta^2/(s + s_0)^2` with :math:`s, s_0` the spreads at T = 1 (units
of :math:`k\ell^2`; :math:`\propto\varepsilon_S^2`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Int, Key, Real, Scalar
from physjax._checks import check_nonnegative, check_positive, check_positive_int
from physjax.networks import _spring_core as _spc
from physjax.networks import _strain_core as _stc
from physjax.networks import spring as _sp
from physjax.networks import strain as _st

__all__ = [
    "LangevinStrains",
    "StrainStatistics",
    "crossover_temperature",
    "langevin_strain_samples",
    "mode_compliance",
    "strain_statistics",
]


class StrainStatistics(NamedTuple):
    """Gaussian statistics of the task's pair strains at temperature T.

    Attributes:
        mean, std: with the input strain imposed, shape ``(n_examples, n_pairs)`` (std 0 at
            the imposed pairs).
        mean_rest, std_rest: without input strain, shape ``(n_pairs,)``.
        temperature: T.
    """

    mean: jax.Array
    std: jax.Array
    mean_rest: jax.Array
    std_rest: jax.Array
    temperature: jax.Array


def mode_compliance(modes: _sp.NormalModes,
                    strain_matrix: Real[ArrayLike, "pairs dof"]) -> Float[Array, "pairs pairs"]:
    r""":math:`C = \sum_j (Pe_j)(Pe_j)^\top/\omega_j^2` for a strain matrix P
    (``(n_pairs, N d)``)."""
    p = jnp.asarray(strain_matrix)
    if p.ndim != 2 or p.shape[1] != modes.vectors.shape[0]:
        raise ValueError(f"strain_matrix must have shape (n_pairs, {modes.vectors.shape[0]}), "
                         f"got {p.shape}")
    a = p @ modes.vectors
    return (a / modes.eigenvalues) @ a.T


def _modes_and_offset(network, k, pairs, rest_lengths, modes):
    pm = _stc.pair_strain_matrix_at(network, pairs, network.positions)
    comp = mode_compliance(modes, pm)
    l0 = _spc.checked_rest_lengths(network, rest_lengths)
    s = _sp.bond_lengths(network) - l0
    f = _spc.rigidity_matrix_at(network, network.positions).T @ (jnp.asarray(k) * s)  # RᵀKs
    y0 = -modes.vectors @ ((modes.vectors.T @ f) / modes.eigenvalues)
    return comp, pm @ y0


def strain_statistics(network: _sp.SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                      task: _st.StrainTask, temperature: Scalar, *,
                      rest_lengths: Real[ArrayLike, " e"] | None = None,
                      modes: _sp.NormalModes | None = None) -> StrainStatistics:
    r"""Mean and standard deviation of every task pair's strain at ``temperature``, with and
    without the input strain, from the normal modes (module docs).  ``modes`` defaults to
    :func:`spring.normal_modes` of the free network (dense; rigid-body modes excluded)."""
    check_nonnegative(temperature, "temperature")
    _stc.check_task(network, stiffnesses, task, True, rest_lengths)
    if modes is None:
        modes = _sp.normal_modes(network, stiffnesses, check=False)
    k = jnp.asarray(stiffnesses)
    return _statistics(network, k, task, jnp.asarray(temperature, modes.vectors.dtype),
                       rest_lengths, modes)


@eqx.filter_jit
def _statistics(network, stiffnesses, task, temperature, rest_lengths, modes):
    comp, eps0 = _modes_and_offset(network, stiffnesses, task.pairs, rest_lengths, modes)
    t = jnp.asarray(temperature, comp.dtype)
    w = task.sources
    n_p = comp.shape[0]
    a = w[:, :, None] * comp * w[:, None, :] + jnp.eye(n_p) * (1.0 - w[:, None, :])
    gain = jnp.linalg.solve(a, jnp.broadcast_to(jnp.diag(jnp.ones(n_p)), a.shape)) * w[:, None, :]
    cw = comp @ (w[:, :, None] * gain)                # C W A^{-1} W, per example
    mean = eps0 + jnp.einsum("epq,eq->ep", cw, task.inputs - eps0)
    cov = comp - jnp.einsum("epq,qr->epr", cw, comp)
    var = jnp.clip(jnp.diagonal(cov, axis1=-2, axis2=-1), 0.0)
    return StrainStatistics(mean, jnp.sqrt(t * var), eps0,
                            jnp.sqrt(t * jnp.diagonal(comp)), t)


def crossover_temperature(network: _sp.SpringNetwork, stiffnesses: Real[ArrayLike, " e"],
                          task: _st.StrainTask, *,
                          rest_lengths: Real[ArrayLike, " e"] | None = None,
                          modes: _sp.NormalModes | None = None) -> Float[Array, "ex pairs"]:
    r""":math:`T^* = \delta^2/(s + s_0)^2` for every (example, pair) of the task: the
    temperature where the response :math:`\delta` equals :math:`\sigma_{\varepsilon_T} +
    \sigma^0_{\varepsilon_T}` (criterion in the module docs).  Shape ``(n_examples,
    n_pairs)``; meaningful at the targets (``task.targets``), NaN elsewhere."""
    st = strain_statistics(network, stiffnesses, task, 1.0, rest_lengths=rest_lengths,
                           modes=modes)
    delta = st.mean - st.mean_rest
    t_star = delta**2 / (st.std + st.std_rest) ** 2
    return jnp.where(task.targets > 0, t_star, jnp.nan)


# --------------------------------------------------------------------------- Langevin

class _SpringEnergy(eqx.Module):
    network: _sp.SpringNetwork
    stiffnesses: jax.Array
    pairs: jax.Array

    def __call__(self, x):
        return _sp.elastic_energy(self.network, self.stiffnesses, x)

    def strains(self, x):
        return _st.pair_strains(self.network, self.pairs, x - self.network.positions,
                                linear=False)


class LangevinStrains(NamedTuple):
    """Samples from :func:`langevin_strain_samples`: ``strains`` (replicas, samples,
    n_pairs) (exact pair strains), ``energy`` (replicas, samples) (potential energy) and
    ``diverged`` (any replica stopped on a non-finite value)."""

    strains: jax.Array
    energy: jax.Array
    diverged: jax.Array


def langevin_strain_samples(key: Key, network: _sp.SpringNetwork,
                            stiffnesses: Real[ArrayLike, " e"],
                            pairs: Int[ArrayLike, "pairs 2"] | Sequence[Sequence[int]],
                            temperature: Scalar, *, n_replicas: int = 256,
                            n_samples: int = 100, sample_every: int = 200,
                            burn_in: int = 2000, dt: Scalar | None = None,
                            friction: Scalar | None = None) -> LangevinStrains:
    r"""Sample the *nonlinear* network at ``temperature`` with underdamped Langevin dynamics
    (BAOAB, :class:`physjax.dynamics.UnderdampedLangevin`, unit masses), no input strain.

    Replicas start at the reference positions with Maxwell momenta; after ``burn_in`` steps,
    ``n_samples`` records ``sample_every`` steps apart.  Defaults: :math:`dt =
    0.2/\omega_{max}` and friction :math:`\gamma = \omega_{min}` (the slowest non-rigid mode
    then decorrelates in a few :math:`1/\omega_{min}`).  At small T the strain variances
    approach :func:`strain_statistics` and the mean energy :math:`(N_{dof} - N_0)T/2`.
    """
    from physjax import dynamics as _dyn
    check_positive(temperature, "temperature")
    for v, name in ((n_replicas, "n_replicas"), (n_samples, "n_samples"),
                    (sample_every, "sample_every")):
        check_positive_int(v, name)
    k = _sp.check_stiffnesses(network, stiffnesses)
    p = _stc.check_pairs(network, pairs)
    if dt is None or friction is None:
        w2 = _sp.normal_modes(network, k, check=False).eigenvalues
        dt = 0.2 / float(jnp.sqrt(w2[-1])) if dt is None else dt
        friction = float(jnp.sqrt(jnp.maximum(w2[0], 1e-12))) if friction is None else friction
    energy = _SpringEnergy(network, k, p)
    dyn = _dyn.UnderdampedLangevin(energy, dt, temperature, friction=friction)
    x0 = jnp.broadcast_to(network.positions, (n_replicas,) + network.positions.shape)
    states = _dyn.init_replicas(key, dyn, x0)
    steps = burn_in + sample_every * np.arange(1, n_samples + 1)
    final, rec = _dyn.run_replicas(jax.random.fold_in(key, 1), dyn, states, steps,
                                   observe=energy.strains)
    return LangevinStrains(rec.observables, rec.energy, jnp.any(final.diverged_at >= 0))
