r"""Training RBMs: contrastive divergence (CD-k), persistent CD and parallel-tempering PCD.

All three estimate the log-likelihood gradient (seed 001, Eqs. 17–18)

.. math::
    \partial_W \langle\log p(v)\rangle_{data} = \langle v\,E[h|v]^T\rangle_{data}
      - \langle v\,E[h|v]^T\rangle_{model}

(and the bias terms :math:`\langle v\rangle`, :math:`\langle E[h|v]\rangle`), with the
hidden units Rao-Blackwellized on both sides; they differ in where the negative-phase
visible states come from:

* ``"cd"`` (CD-k, Hinton 2002): k block-Gibbs steps started at the mini-batch;
* ``"pcd"`` (persistent CD, Tieleman 2008): k steps of ``n_chains`` persistent chains that
  carry over from one mini-batch to the next;
* ``"pt"`` (parallel-tempering PCD, Desjardins et al. 2010): persistent chains at inverse
  temperatures :math:`1 = \beta_0 > \beta_1 > \dots`, each sampling
  :math:`p_\beta(v,h)\propto e^{-\beta E_{int}(v,h) - E_0(h)}` (all weights and biases scaled
  by :math:`\beta`; the Gaussian :math:`|h|^2/2` is not), with replica exchanges between
  neighbours (even pairs, then odd pairs) after every k steps, accepted with probability
  :math:`\min\{1, e^{-F_i(v_{i+1}) - F_{i+1}(v_i) + F_i(v_i) + F_{i+1}(v_{i+1})}\}` using the
  tempered free energies; the :math:`\beta = 1` chains give the negative phase.

All three negative phases are steps of the :class:`~physjax.spins.RBMGibbs` kernel (PT: its
chains carry the ladder's inverse temperatures in ``beta``).  The parameters are updated by an
Optax ``GradientTransformation`` applied to minus the gradient; the default, SGD at
``learning_rate``, keeps the rate as an array in the optimizer state
(``optax.inject_hyperparams``), so it may be traced (``jax.vmap`` over rates) and every rate
runs the same compiled program.  An epoch shuffles the data, cuts it into
``len(data) // batch_size`` mini-batches (the remainder is dropped) and runs them in one
``lax.scan``; epochs are an outer ``lax.scan``, all compiled once.  The reconstruction error
recorded per epoch is the mean over units and samples of :math:`(v - E[v|h])^2` with
:math:`h\sim p(h|v)`, the quantity CD reports at no extra cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from physjax import _counter_rng
from physjax._array_types import Array, ArrayLike, Float, Key, Real, Scalar
from physjax._checks import (
    check_choice,
    check_finite,
    check_key,
    check_positive_int,
)
from physjax._options import TrainingMethod
from physjax.spins._rbm_units import log_sum_unit, sample_units, unit_mean
from physjax.spins.boltzmann import (
    check_optimizer,
    check_rate,
    sgd_optimizer,
    with_learning_rate,
)
from physjax.spins.rbm import (
    RBM,
    RBMChains,
    RBMGibbs,
    check_rbm,
    check_visible_data,
    random_visible,
)

__all__ = [
    "TrainingMethod",
    "RBMTrainState",
    "TrainHistory",
    "cd_gradient",
    "pcd_gradient",
    "init_training",
    "train_epochs",
    "train_rbm",
]


class RBMTrainState(eqx.Module):
    """Everything a training run carries between mini-batches.

    Attributes:
        rbm: the current parameters.
        opt_state: the Optax optimizer state.
        chains: persistent visible states: ``(n_chains, n_visible)`` for PCD,
            ``(n_temperatures, n_chains, n_visible)`` for PT, ``(0, n_visible)`` for CD.
        betas: the PT ladder of inverse temperatures (first entry 1); empty otherwise.
        step: number of parameter updates so far.
        method: ``"cd"``, ``"pcd"`` or ``"pt"`` (static).
    """

    rbm: RBM
    opt_state: Any
    chains: Array
    betas: Array
    step: Array
    method: TrainingMethod = eqx.field(static=True)


class TrainHistory(NamedTuple):
    """Per epoch: mean reconstruction error and, for PT, the mean swap acceptance of each
    neighbouring pair of temperatures (shape (n_epochs, n_temperatures - 1); (n_epochs, 0)
    otherwise)."""

    reconstruction_error: Array
    swap_acceptance: Array


# -------------------------------------------------------------- gradient estimators

def _positive(rbm, v0):
    a0 = v0 @ rbm.weights + rbm.hidden_bias
    return a0, unit_mean(a0, rbm.hidden)


_GIBBS = RBMGibbs()


def _as_chains(rbm, v, beta=None):
    """Visible states as :class:`RBMChains` (at beta = 1 unless given).  A kernel step reads
    only the visible layer, so the hidden layer here is a placeholder."""
    batch = v.shape[:-1]
    beta = jnp.ones(batch, v.dtype) if beta is None else jnp.broadcast_to(beta, batch)
    return RBMChains(v, jnp.zeros(batch + (rbm.n_hidden,), v.dtype), beta)


def _gibbs_steps(key, rbm, chains, n):
    """``n`` steps of the block-Gibbs kernel (step i keyed by ``fold_in(key, i)``)."""
    return jax.lax.fori_loop(
        0, n, lambda i, ch: _GIBBS.step(jax.random.fold_in(key, i), rbm, ch)[0], chains)


def _gradient(rbm, v0, ph0, vk):
    """Positive minus negative moments as an RBM; one matrix product for both W terms."""
    phk = unit_mean(vk @ rbm.weights + rbm.hidden_bias, rbm.hidden)
    B, R = v0.shape[0], vk.shape[0]
    dW = jnp.concatenate([v0 / B, -vk / R]).T @ jnp.concatenate([ph0, phk])
    return eqx.tree_at(lambda m: (m.weights, m.visible_bias, m.hidden_bias), rbm,
                       (dW, jnp.mean(v0, 0) - jnp.mean(vk, 0), jnp.mean(ph0, 0) - jnp.mean(phk, 0)))


def _recon_error(key, rbm, v0, a0):
    h0 = sample_units(key, a0, rbm.hidden)
    return jnp.mean((v0 - unit_mean(h0 @ rbm.weights.T + rbm.visible_bias, rbm.visible)) ** 2)


def _cd(key, rbm, v0, k):
    """CD-k.  The first kernel step starts at the data: its hidden field gives the positive
    phase and its visible field the reconstruction error."""
    k1, k2 = jax.random.split(key)
    chains, info = _GIBBS.step(k1, rbm, _as_chains(rbm, v0))
    ph0 = unit_mean(info.hidden_field, rbm.hidden)
    recon = jnp.mean((v0 - unit_mean(info.visible_field, rbm.visible)) ** 2)
    chains = _gibbs_steps(k2, rbm, chains, k - 1)
    return _gradient(rbm, v0, ph0, chains.visible), recon


def cd_gradient(key: Key, rbm: RBM, batch: Real[ArrayLike, "b n_visible"], k: int = 1) -> RBM:
    """CD-k estimate of the log-likelihood gradient (ascent direction) on a mini-batch
    (B, n_visible), as an RBM-shaped pytree.  For k -> infinity its expectation is the exact
    gradient (:func:`~physjax.spins.rbm_exact_gradient`)."""
    check_rbm(rbm)
    k = check_positive_int(k, "k")
    batch = check_visible_data(rbm, batch, "batch")
    return jax.jit(_cd, static_argnums=3)(key, rbm, batch, k)[0]


def _pcd(key, rbm, v0, chains, k):
    """PCD-k.  The data and the chains take the first kernel step together (stacked, one
    matrix product per layer): the data's half gives the positive phase and the
    reconstruction error, the chains' half their first step."""
    k1, k2 = jax.random.split(key)
    B = v0.shape[0]
    both, info = _GIBBS.step(k1, rbm, _as_chains(rbm, jnp.concatenate([v0, chains])))
    ph0 = unit_mean(info.hidden_field[:B], rbm.hidden)
    recon = jnp.mean((v0 - unit_mean(info.visible_field[:B], rbm.visible)) ** 2)
    chains = _gibbs_steps(k2, rbm, _as_chains(rbm, both.visible[B:]), k - 1).visible
    return _gradient(rbm, v0, ph0, chains), chains, recon


def pcd_gradient(key: Key, rbm: RBM, batch: Real[ArrayLike, "b n_visible"],
                 chains: Real[ArrayLike, "r n_visible"], k: int = 1
                 ) -> tuple[RBM, Float[Array, "r n_visible"]]:
    """Persistent-CD gradient estimate: the ``chains`` (R, n_visible) take k block-Gibbs
    steps and give the negative phase.  Returns (gradient, new chains)."""
    key = check_key(key, traced=True)
    check_rbm(rbm)
    k = check_positive_int(k, "k")
    batch = check_visible_data(rbm, batch, "batch")
    chains = check_visible_data(rbm, chains, "chains")
    g, ch, _ = jax.jit(_pcd, static_argnums=4)(key, rbm, batch, chains, k)
    return g, ch


def _tempered_log_marginal(rbm, v, a, beta):
    """:math:`-F_\\beta(v)` from the pre-activations :math:`a = c + W^Tv`."""
    return beta * (v @ rbm.visible_bias) + jnp.sum(log_sum_unit(beta * a, rbm.hidden), -1)


def _exchange(key, rbm, chains, betas):
    """Replica exchange between neighbouring slots, even pairs (0,1), (2,3), ... then odd
    pairs, independently for every chain.  Returns the chains and the mean acceptance
    probability of each pair (n_temperatures - 1,)."""
    T, R = chains.shape[:2]
    a = chains @ rbm.weights + rbm.hidden_bias                       # (T, R, n_h)
    # lnp[s, t, r] = -F_{beta_s}(v_{t, r})
    lnp = jax.vmap(lambda b: _tempered_log_marginal(rbm, chains, a, b))(betas)
    log_u = jnp.log(jax.random.uniform(key, (2, max(T - 1, 1), R), chains.dtype))
    rates = jnp.zeros((T - 1,), chains.dtype)
    for parity in (0, 1):
        j = np.arange(parity, T - 1, 2)                               # lower slot of a pair
        if j.size == 0:
            continue
        log_acc = lnp[j, j + 1] + lnp[j + 1, j] - lnp[j, j] - lnp[j + 1, j + 1]  # (P, R)
        accept = log_u[parity, j] < log_acc
        idx = jnp.broadcast_to(jnp.arange(T)[:, None], (T, R))
        idx = idx.at[j].set(jnp.where(accept, j[:, None] + 1, j[:, None]))
        idx = idx.at[j + 1].set(jnp.where(accept, j[:, None], j[:, None] + 1))
        chains = jnp.take_along_axis(chains, idx[..., None], axis=0)
        lnp = jnp.take_along_axis(lnp, idx[None], axis=1)
        rates = rates.at[j].set(jnp.mean(jnp.minimum(1.0, jnp.exp(log_acc)), -1))
    return chains, rates


def _pt(key, rbm, v0, chains, betas, k):
    """PT-PCD: k kernel steps of all (n_temperatures, n_chains) chains, each slot at its
    inverse temperature, then one exchange sweep; the beta = 1 slot is the negative phase."""
    k1, k2, k3 = jax.random.split(key, 3)
    a0, ph0 = _positive(rbm, v0)
    chains = _gibbs_steps(k1, rbm, _as_chains(rbm, chains, betas[:, None]), k).visible
    chains, rate = _exchange(k2, rbm, chains, betas)
    return _gradient(rbm, v0, ph0, chains[0]), chains, _recon_error(k3, rbm, v0, a0), rate


# ------------------------------------------------------------------ training loop

def _ladder(n_temperatures, betas):
    if betas is None:
        return jnp.linspace(1.0, 0.0, check_positive_int(n_temperatures, "n_temperatures",
                                                          minimum=2))
    b = np.asarray(check_finite(betas, "betas"), dtype=float)
    if b.ndim != 1 or b.size < 2 or b[0] != 1 or np.any(np.diff(b) >= 0) or b[-1] < 0:
        raise ValueError(f"betas must be a decreasing 1-D ladder of >= 2 inverse temperatures "
                         f"starting at 1 and ending >= 0, got {b}")
    return jnp.asarray(b, dtype=float)


def init_training(key: Key, rbm: RBM, optimizer: optax.GradientTransformation, *,
                  method: TrainingMethod = "cd", n_chains: int = 100, n_temperatures: int = 10,
                  betas: Real[ArrayLike, " n_temperatures"] | Sequence[float | int] | None = None,
                  ) -> RBMTrainState:
    """The training state: optimizer state and, for PCD/PT, ``n_chains`` persistent chains
    from random visible states (PT: at each of ``n_temperatures`` inverse temperatures
    evenly spaced from 1 to 0, or the given decreasing ladder ``betas``)."""
    check_rbm(rbm)
    check_optimizer(optimizer)
    check_choice(method, "method", TrainingMethod)
    R = check_positive_int(n_chains, "n_chains")
    dt = rbm.weights.dtype
    if method == "cd":
        chains, ladder = jnp.zeros((0, rbm.n_visible), dt), jnp.zeros((0,), dt)
    elif method == "pcd":
        chains, ladder = random_visible(key, rbm, (R,)), jnp.zeros((0,), dt)
    else:
        ladder = _ladder(n_temperatures, betas).astype(dt)
        chains = random_visible(key, rbm, (ladder.shape[0], R))
    return RBMTrainState(rbm, optimizer.init(rbm), chains, ladder, jnp.zeros((), jnp.int32),
                         method)


def _batch_step(optimizer, k, state, key, batch):
    rbm = state.rbm
    rate = jnp.zeros((0,), rbm.weights.dtype)
    chains = state.chains
    if state.method == "cd":
        grad, recon = _cd(key, rbm, batch, k)
    elif state.method == "pcd":
        grad, chains, recon = _pcd(key, rbm, batch, chains, k)
    else:
        grad, chains, recon, rate = _pt(key, rbm, batch, chains, state.betas, k)
    updates, opt_state = optimizer.update(jax.tree.map(jnp.negative, grad), state.opt_state,
                                          rbm)
    rbm = optax.apply_updates(rbm, updates)
    new = RBMTrainState(rbm, opt_state, chains, state.betas, state.step + 1, state.method)
    return new, (recon, rate)


@eqx.filter_jit  # optimizer, n_epochs, batch_size, k: static (not arrays)
def _train(key, state, data, optimizer, n_epochs, batch_size, k):
    n_batches = data.shape[0] // batch_size

    def epoch(state, key):
        k_perm, k_steps = jax.random.split(key)
        perm = _counter_rng.permutation(k_perm, data.shape[0])[: n_batches * batch_size]
        batches = data[perm].reshape(n_batches, batch_size, data.shape[1])
        state, (recon, rate) = jax.lax.scan(
            lambda st, xs: _batch_step(optimizer, k, st, *xs), state,
            (jax.random.split(k_steps, n_batches), batches))
        return state, TrainHistory(jnp.mean(recon), jnp.mean(rate, axis=0))

    return jax.lax.scan(epoch, state, jax.random.split(key, n_epochs))


def train_epochs(key: Key, state: RBMTrainState, data: Real[ArrayLike, "m n_visible"],
                 optimizer: optax.GradientTransformation, *,
                 n_epochs: int = 1, batch_size: int = 100, k: int = 1,
                 ) -> tuple[RBMTrainState, TrainHistory]:
    """Continue training for ``n_epochs`` epochs of mini-batches (one compiled program;
    calling it again with the same shapes reuses it).  Returns (state, history)."""
    if not isinstance(state, RBMTrainState):
        raise TypeError(f"state must be an RBMTrainState from init_training, got "
                        f"{type(state).__name__}")
    check_rbm(state.rbm, "state.rbm")
    check_optimizer(optimizer)
    data = check_visible_data(state.rbm, data)
    n_epochs = check_positive_int(n_epochs, "n_epochs")
    B = check_positive_int(batch_size, "batch_size")
    k = check_positive_int(k, "k")
    if B > data.shape[0]:
        raise ValueError(f"batch_size ({B}) must be <= the number of samples in data "
                         f"({data.shape[0]})")
    return _train(key, state, data, optimizer, n_epochs, B, k)


def train_rbm(key: Key, rbm: RBM, data: Real[ArrayLike, "m n_visible"], *, n_epochs: int = 10,
              batch_size: int = 100, learning_rate: Scalar = 0.01,
              optimizer: optax.GradientTransformation | None = None, method: TrainingMethod = "cd",
              k: int = 1, n_chains: int | None = None, n_temperatures: int = 10,
              betas: Real[ArrayLike, " n_temperatures"] | Sequence[float | int] | None = None,
              ) -> tuple[RBM, TrainHistory]:
    """Train ``rbm`` on ``data`` (n_samples, n_visible) by CD-k, PCD or PT-PCD.

    ``optimizer`` defaults to SGD at ``learning_rate``, the plain update
    :math:`\\Delta W = \\epsilon(\\langle vh^T\\rangle_{data} - \\langle vh^T\\rangle_{model})`
    of seed 001, with the rate an array in the optimizer state (it may be traced:
    ``jax.vmap`` over rates; every rate runs one compiled program); any Optax
    transformation (momentum, Adam, weight decay via ``optax.chain``) works.  PCD/PT keep
    ``n_chains`` persistent chains (default: ``batch_size``).  Returns (trained RBM,
    :class:`TrainHistory`).
    """
    check_rbm(rbm)
    check_choice(method, "method", TrainingMethod)
    learning_rate = check_rate(learning_rate, "learning_rate")
    k = check_positive_int(k, "k")
    B = check_positive_int(batch_size, "batch_size")
    n_chains = B if n_chains is None else n_chains
    default = optimizer is None
    if default:
        optimizer = sgd_optimizer()
    k_init, k_train = jax.random.split(key)
    state = init_training(k_init, rbm, optimizer, method=method, n_chains=n_chains,
                          n_temperatures=n_temperatures, betas=betas)
    if default:
        state = eqx.tree_at(lambda s: s.opt_state, state,
                            with_learning_rate(state.opt_state, learning_rate,
                                               rbm.weights.dtype))
    state, history = train_epochs(k_train, state, data, optimizer, n_epochs=n_epochs,
                                  batch_size=B, k=k)
    return state.rbm, history
