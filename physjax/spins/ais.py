r"""Evaluating RBMs: annealed importance sampling (AIS) of :math:`\log Z`, log-likelihood,
pseudo-likelihood and reconstruction error.

AIS (Neal 2001; Salakhutdinov & Murray 2008) anneals from a base RBM A with no couplings
(visible biases :math:`b_A`, from data base rates or zero) to the target B through

.. math::
    p_\beta(v, h) \propto e^{(1-\beta)\,b_A^Tv}\; e^{-\beta E_{int}(v,h) - E_0(h)},\qquad
    \log p^*_\beta(v) = (1-\beta)\,b_A^Tv + \beta\,b^Tv + \sum_j \phi(\beta a_j),

:math:`a = c + W^Tv`, :math:`E_{int} = -v^TWh - b^Tv - c^Th`, :math:`E_0 = |h|^2/2` for
Gaussian hidden units and 0 otherwise, and :math:`\phi` the hidden-unit log-sum of
:mod:`physjax.spins.rbm`.  Every intermediate distribution is itself an RBM,
:math:`(\beta W,\ \beta b + (1-\beta) b_A,\ \beta c)` (:func:`annealed_rbm`), so the
annealing is one ``lax.scan`` over the schedule of :class:`~physjax.spins.RBMGibbs` kernel
steps, each on its intermediate RBM.  Each of ``n_chains`` chains starts from an exact
sample of A, and for :math:`k = 1..K` takes one kernel step that leaves
:math:`p_{\beta_k}` invariant and accumulates
:math:`\log w \mathrel{+}= \log p^*_{\beta_k}(v) - \log p^*_{\beta_{k-1}}(v)` of the
state v before that step (from the step's hidden field :math:`\beta_k a`).  With
:math:`r_i = w_i/\max w`,

.. math::
    \log\hat Z_B = \log Z_A + \log\max w + \log\bar r,\qquad
    \mathrm{se}(\log\hat Z_B) \approx \frac{\mathrm{std}(r)}{\sqrt{M}\,\bar r}
    \quad\text{(delta method)},

and the reported interval is :math:`\log Z_A + \log\max w + \log(\bar r \pm 3\,
\mathrm{std}(r)/\sqrt M)`.  :math:`\hat Z` is unbiased, so :math:`\log\hat Z` is biased low
(Jensen) by about :math:`\mathrm{se}^2/2`, negligible once the schedule is fine enough for
the error bar to be small.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physjax._array_types import Array, ArrayLike, Float, Key, Real, Scalar
from physjax._checks import check_finite, check_positive_int
from physjax.spins._rbm_units import log_sum_unit, sample_units, unit_mean, visible_free_energy
from physjax.spins.rbm import (
    RBM,
    RBMChains,
    RBMGibbs,
    base_rate_bias,
    check_rbm,
    check_visible_data,
)

__all__ = [
    "AISResult",
    "ais_log_partition",
    "log_likelihood",
    "pseudo_log_likelihood",
    "reconstruction_error",
]


class AISResult(NamedTuple):
    """An AIS estimate of :math:`\\log Z`.

    Attributes:
        log_partition: the estimate :math:`\\log\\hat Z`.
        stderr: its standard error (delta method).
        lower, upper: :math:`\\log` of (mean importance weight :math:`\\mp` 3 standard errors);
            ``lower`` is ``-inf`` when the interval reaches zero.
        log_weights: the per-chain :math:`\\log w` (n_chains,).
        effective_sample_size: :math:`(\\sum w)^2/\\sum w^2`.
        base_log_partition: :math:`\\log Z_A` of the independent-unit base model.
    """

    log_partition: Array
    stderr: Array
    lower: Array
    upper: Array
    log_weights: Array
    effective_sample_size: Array
    base_log_partition: Array


def _base_log_partition(rbm, b_A):
    hidden = {"binary": np.log(2.0), "spin": np.log(2.0),
              "gaussian": 0.5 * np.log(2 * np.pi)}[rbm.hidden]
    return jnp.sum(log_sum_unit(b_A, rbm.visible)) + rbm.n_hidden * hidden


def annealed_rbm(rbm: RBM, base_visible_bias, beta) -> RBM:
    r"""The AIS intermediate distribution
    :math:`p_\beta \propto e^{(1-\beta)b_A^Tv}\,e^{-\beta E_{int}(v,h) - E_0(h)}` as an
    RBM: weights :math:`\beta W`, visible bias :math:`\beta b + (1-\beta) b_A`, hidden
    bias :math:`\beta c` (``beta`` may be traced)."""
    return eqx.tree_at(lambda m: (m.weights, m.visible_bias, m.hidden_bias), rbm,
                       (beta * rbm.weights, beta * rbm.visible_bias + (1 - beta) *
                        base_visible_bias, beta * rbm.hidden_bias))


_GIBBS = RBMGibbs()


@jax.jit
def _ais(key, rbm, b_A, betas, v0):
    def log_p(v, a, beta):
        """log p*_beta(v) from the pre-activations a = c + W^T v."""
        return ((1 - beta) * (v @ b_A) + beta * (v @ rbm.visible_bias)
                + jnp.sum(log_sum_unit(beta * a, rbm.hidden), -1))

    def step(carry, xs):
        chains, log_w = carry
        k, b_prev, b = xs
        v = chains.visible
        chains, info = _GIBBS.step(k, annealed_rbm(rbm, b_A, b), chains)
        a = info.hidden_field / b            # the step's field is b * (c + W^T v); b > 0
        return (chains, log_w + log_p(v, a, b) - log_p(v, a, b_prev)), None

    M = v0.shape[0]
    chains = RBMChains(v0, jnp.zeros((M, rbm.n_hidden), v0.dtype), jnp.ones(M, v0.dtype))
    keys = jax.random.split(key, betas.shape[0] - 1)
    log_w0 = jnp.zeros(M, v0.dtype)
    (_, log_w), _ = jax.lax.scan(step, (chains, log_w0), (keys, betas[:-1], betas[1:]))
    return log_w


def ais_log_partition(key: Key, rbm: RBM, *, n_chains: int = 1000, n_betas: int = 10_000,
                      betas: Real[ArrayLike, " n_betas"] | Sequence[float | int] | None = None,
                      base_data: Real[ArrayLike, "m n_visible"] | None = None) -> AISResult:
    """Estimate :math:`\\log Z` of ``rbm`` by AIS with ``n_chains`` independent chains.

    The schedule is ``n_betas`` inverse temperatures evenly spaced on [0, 1], or the given
    increasing ``betas`` from 0 to 1.  The base model's visible biases are the base rates
    of ``base_data`` (a better-matched start, Salakhutdinov & Murray 2008) or zero.  Chains
    are a batch axis of one ``lax.scan`` over the schedule.
    """
    check_rbm(rbm)
    M = check_positive_int(n_chains, "n_chains")
    dt = rbm.weights.dtype
    if betas is None:
        betas = jnp.linspace(0.0, 1.0, check_positive_int(n_betas, "n_betas", minimum=2),
                             dtype=dt)
    else:
        b = np.asarray(check_finite(betas, "betas"), dtype=float)
        if b.ndim != 1 or b.size < 2 or b[0] != 0 or b[-1] != 1 or np.any(np.diff(b) <= 0):
            raise ValueError(f"betas must be an increasing 1-D schedule from 0 to 1 with at "
                             f"least 2 entries, got shape {b.shape}")
        betas = jnp.asarray(b, dtype=dt)
    if base_data is None:
        b_A = jnp.zeros(rbm.n_visible, dt)
    else:
        b_A = base_rate_bias(check_visible_data(rbm, base_data, "base_data"), rbm.visible)
    return _ais_estimate(key, rbm, b_A, betas, M)


@partial(jax.jit, static_argnums=4)
def _ais_estimate(key, rbm, b_A, betas, M):
    k0, k1 = jax.random.split(key)
    v0 = sample_units(k0, jnp.broadcast_to(b_A, (M, rbm.n_visible)), rbm.visible)
    log_w = _ais(k1, rbm, b_A, betas, v0)
    log_ZA = _base_log_partition(rbm, b_A)
    top = jnp.max(log_w)
    r = jnp.exp(log_w - top)
    mean = jnp.mean(r)
    se = jnp.std(r, ddof=1) / jnp.sqrt(M) if M > 1 else jnp.asarray(jnp.inf, log_w.dtype)
    base = log_ZA + top
    lower_r = mean - 3 * se
    return AISResult(
        log_partition=base + jnp.log(mean),
        stderr=se / mean,
        lower=jnp.where(lower_r > 0, base + jnp.log(jnp.maximum(lower_r, 1e-300)), -jnp.inf),
        upper=base + jnp.log(mean + 3 * se),
        log_weights=log_w,
        effective_sample_size=jnp.sum(r) ** 2 / jnp.sum(r * r),
        base_log_partition=log_ZA,
    )


# ------------------------------------------------------------------ data scores

def log_likelihood(rbm: RBM, data: Real[ArrayLike, "m n_visible"],
                   log_partition: Scalar | AISResult) -> Float[Array, ""]:
    """Mean log-likelihood per sample, :math:`\\frac1M\\sum_m[-F(v^m)] - \\log Z`, given
    :math:`\\log Z` (exact from :func:`~physjax.spins.rbm_log_partition` or an
    :class:`AISResult`'s ``log_partition``)."""
    check_rbm(rbm)
    data = check_visible_data(rbm, data)
    if isinstance(log_partition, AISResult):
        log_partition = log_partition.log_partition
    check_finite(log_partition, "log_partition")
    return _mean_log_marginal(rbm, data) - log_partition


@jax.jit
def _mean_log_marginal(rbm, data):
    return jnp.mean(-visible_free_energy(rbm, data))


def _pseudo_ll_one(rbm, v):
    a = v @ rbm.weights + rbm.hidden_bias
    dv = (1.0 - 2.0 * v) if rbm.visible == "binary" else -2.0 * v      # v_i' - v_i
    a_flip = a[None, :] + dv[:, None] * rbm.weights                    # (n_v, n_h)
    d = dv * rbm.visible_bias + jnp.sum(
        log_sum_unit(a_flip, rbm.hidden) - log_sum_unit(a, rbm.hidden)[None, :], -1)
    return -jnp.sum(jax.nn.softplus(d))          # sum_i log p(v_i | v_-i) = -softplus(dF_i)


@partial(jax.jit, static_argnums=2)
def _pseudo_ll(rbm, data, chunk):
    M = data.shape[0]
    pad = (-M) % chunk
    padded = jnp.concatenate([data, jnp.broadcast_to(data[:1], (pad, data.shape[1]))])
    per = jax.lax.map(jax.vmap(partial(_pseudo_ll_one, rbm)),
                      padded.reshape(-1, chunk, data.shape[1])).reshape(-1)
    return jnp.mean(per[:M])


def pseudo_log_likelihood(rbm: RBM, data: Real[ArrayLike, "m n_visible"]) -> Float[Array, ""]:
    r"""Mean over samples of the full pseudo-log-likelihood
    :math:`\sum_i \log p(v_i | v_{\setminus i}) = -\sum_i \log(1 + e^{F(v) - F(v^{(i)})})`,
    :math:`v^{(i)}` = v with unit i flipped (exact, all n_visible terms; scikit-learn's
    ``score_samples`` is a one-term stochastic estimate of the same sum)."""
    check_rbm(rbm)
    data = check_visible_data(rbm, data)
    chunk = int(max(1, min(data.shape[0], 2**22 // (rbm.n_visible * rbm.n_hidden))))
    return _pseudo_ll(rbm, data, chunk)


def reconstruction_error(rbm: RBM, data: Real[ArrayLike, "m n_visible"]) -> Float[Array, ""]:
    """Mean squared error per unit of the mean-field reconstruction
    :math:`E[v | h = E[h|v]]` of the data."""
    check_rbm(rbm)
    return _reconstruction_error(rbm, check_visible_data(rbm, data))


@jax.jit
def _reconstruction_error(rbm, data):
    h = unit_mean(data @ rbm.weights + rbm.hidden_bias, rbm.hidden)
    return jnp.mean((data - unit_mean(h @ rbm.weights.T + rbm.visible_bias, rbm.visible)) ** 2)
