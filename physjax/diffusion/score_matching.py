r"""Learned scores: denoising score matching with an Equinox MLP, trained by Optax.

**The network.**  For the forward process :math:`x_t = a_t x_0 + \sqrt{\Delta_t}\,z`,
:math:`z\sim N(0, I)` (OU: :math:`a_t = e^{-t}`, :math:`\Delta_t = 1 - e^{-2t}`; any schedule
of :mod:`physjax.diffusion.schedules` with ``mean_scale(t)`` = :math:`a_t` and
``variance(t)`` = :math:`\Delta_t`), the score of the noised data is

.. math::
    \nabla_x\log p_t(x) = -\frac{E[z\,|\,x_t = x]}{\sqrt{\Delta_t}} ,

so :class:`ScoreMLP` predicts the noise, :math:`\hat\varepsilon_\theta(x, t)\approx
E[z|x_t = x]` (a quantity of order one at every t), and returns the score as
:math:`s_\theta(x, t) = -\hat\varepsilon_\theta(x, t)/\sqrt{\Delta_t}`.  The MLP sees the
input rescaled to unit variance, :math:`c_t x` with :math:`c_t = (a_t^2 s^2 +
\Delta_t)^{-1/2}` (:math:`s` the data's scale per coordinate), and the noise level through
Fourier features of the log noise-to-signal ratio :math:`u_t = \log(\Delta_t/a_t^2)`:
:math:`(\cos\omega_k u_t, \sin\omega_k u_t)_{k}` with fixed geometric frequencies
:math:`\omega_k`.  Only the MLP's weights are trained; the schedule, the frequencies and
the scale are fixed.

**The loss** (Vincent 2011; Song et al. 2021, weight :math:`\lambda(t) = \Delta_t`):

.. math::
    \mathcal L(\theta) = \frac1d\,E_{t}\,E_{x_0\sim\text{data}}\,E_{z}\;
        \Delta_t\,\Big|s_\theta(x_t, t) + \frac{z}{\sqrt{\Delta_t}}\Big|^2
      = \frac1d\,E\,\big|\hat\varepsilon_\theta(x_t, t) - z\big|^2 ,

with :math:`t` drawn in :math:`(t_\min, T]`, uniformly (``time_sampling="uniform"``) or
uniformly in :math:`\log t` (``"log"``, which spends more of the training on the small times
where the data's fine structure is resolved).  Its minimum over all functions is reached at
:math:`\hat\varepsilon = E[z|x_t]`, i.e. at the exact score of the noised training
distribution; the minimum value is the mean posterior variance of the noise, not zero.

**Training.**  :func:`train_score` runs ``n_steps`` Optax steps on mini-batches of
``batch_size`` rows drawn with replacement, one fresh :math:`(t, z)` per row and step, inside
one ``lax.scan`` compiled once per static configuration (network architecture, shapes,
``n_steps``, ``batch_size``, ``time_sampling``, optimizer object).  The default optimizer is
Adam with its learning rate held as an array in the optimizer state
(``optax.inject_hyperparams``), so ``learning_rate`` (and ``t_min``) may be traced: a new
rate reruns the same compiled program.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import DTypeLike

from physjax._array_types import Array, ArrayLike, Bool, Float, Key, Real, Scalar
from physjax._checks import (
    check_choice,
    check_finite,
    check_key,
    check_positive,
    check_positive_int,
    check_sample_matrix,
    check_shape,
    is_concrete,
)
from physjax._options import Decay, TimeSampling
from physjax.diffusion._common import check_schedule as _check_schedule
from physjax.diffusion.schedules import Schedule
from physjax.diffusion.scores import Score

__all__ = [
    "Decay",
    "TimeSampling",
    "AbstractScoreNetwork",
    "ScoreMLP",
    "ScoreConvNet",
    "denoising_score_loss",
    "train_score",
]


# ------------------------------------------------------------------------- networks

class AbstractScoreNetwork(Score):
    r"""A learned score :math:`s_\theta(x, t) = -\hat\varepsilon_\theta(x, t)/\sqrt{\Delta_t}`.

    Subclasses hold a ``schedule`` and implement :meth:`noise_prediction`
    :math:`\hat\varepsilon_\theta(x, t)` for one sample ``x`` of shape ``(dim,)`` and a scalar
    ``t``; :attr:`frozen` names the fields that training leaves alone (the schedule is always
    frozen).  Calling the network gives the score, shape ``(dim,)``, so it plugs into every
    backward integrator of :mod:`physjax.diffusion`.
    """

    schedule: eqx.AbstractVar[Any]
    dim: eqx.AbstractVar[int]

    @abc.abstractmethod
    def noise_prediction(self, x: Real[ArrayLike, " d"], t: Scalar) -> Float[Array, " d"]:
        r""":math:`\hat\varepsilon_\theta(x, t)\approx E[z\,|\,x_t = x]`, shape ``(dim,)``."""

    @property
    def frozen(self) -> tuple[str, ...]:
        """Fields not trained (besides ``schedule``)."""
        return ()

    def __call__(self, x: Real[ArrayLike, " d"], t: Scalar) -> Float[Array, " d"]:
        r"""The score :math:`-\hat\varepsilon_\theta(x, t)/\sqrt{\Delta_t}` of one sample."""
        t = jnp.asarray(t, x.dtype)
        return -self.noise_prediction(x, t) / jnp.sqrt(self.schedule.variance(t))

    def denoise(self, x: Real[ArrayLike, " d"], t: Scalar) -> Float[Array, " d"]:
        r"""Tweedie's estimate :math:`E[x_0|x_t = x] = (x - \sqrt{\Delta_t}\,
        \hat\varepsilon_\theta)/a_t` of one sample."""
        t = jnp.asarray(t, x.dtype)
        eps = self.noise_prediction(x, t)
        return (x - jnp.sqrt(self.schedule.variance(t)) * eps) / self.schedule.mean_scale(t)


class ScoreMLP(AbstractScoreNetwork):
    r"""Score network: an MLP on :math:`(c_t x,\ \cos\omega u_t,\ \sin\omega u_t)` predicting
    the noise (see the module docstring for the parametrization).

    Args:
        key: initialization key.
        dim: data dimension d.
        schedule: the forward process (``OU()``, ``VP(...)``, ``VE(...)``).
        width: hidden units per layer.
        depth: number of hidden layers.
        n_frequencies: Fourier frequencies of the time embedding (2 features each),
            geometric from :math:`1/16` to 4.
        data_scale: typical size s of one coordinate of the data (its standard deviation
            around 0, e.g. 1 for ±1 spins); sets the input scaling :math:`c_t`.
        activation: the hidden layers' nonlinearity (default SiLU).

    Attributes:
        mlp: the ``equinox.nn.MLP`` (the trained part).
        frequencies: :math:`\omega_k` (fixed).
        data_scale: :math:`s` (fixed).
        schedule: the forward process (fixed).
        dim: d (static).
    """

    mlp: eqx.nn.MLP
    frequencies: Array
    data_scale: Array
    schedule: Any
    dim: int = eqx.field(static=True)

    def __init__(self, key: Key, dim: int, schedule: Schedule, *, width: int = 256,
                 depth: int = 3, n_frequencies: int = 16, data_scale: Scalar = 1.0,
                 activation: Callable[..., Any] = jax.nn.silu,
                 dtype: DTypeLike | None = None) -> None:
        key = check_key(key, traced=True)
        self.dim = check_positive_int(dim, "dim")
        width = check_positive_int(width, "width")
        depth = check_positive_int(depth, "depth")
        self.schedule, self.frequencies, self.data_scale, dtype = _fixed_parts(
            schedule, n_frequencies, data_scale, dtype)
        n_frequencies = self.frequencies.shape[0]
        self.mlp = eqx.nn.MLP(self.dim + 2 * n_frequencies, self.dim, width, depth,
                              activation=activation, key=key, dtype=dtype)

    @property
    def frozen(self) -> tuple[str, ...]:
        return ("frequencies", "data_scale")

    def noise_prediction(self, x: Real[ArrayLike, " d"], t: Scalar) -> Float[Array, " d"]:
        scaled_x, emb = _network_inputs(self, x, t, "one sample")
        return self.mlp(jnp.concatenate([scaled_x, emb]).astype(x.dtype))


def _fixed_parts(schedule, n_frequencies, data_scale, dtype):
    """The checked fields that training leaves alone, shared by the score networks:
    ``(schedule, frequencies, data_scale, dtype)``, with ``n_frequencies`` geometric Fourier
    frequencies from 1/16 to 4 (just 1 when there is one) and ``dtype`` the parameters'
    dtype (default: the default float)."""
    n_frequencies = check_positive_int(n_frequencies, "n_frequencies")
    check_positive(data_scale, "data_scale")
    schedule = _check_schedule(schedule)
    dtype = jnp.result_type(float) if dtype is None else dtype
    frequencies = jnp.asarray(
        np.geomspace(1 / 16, 4.0, n_frequencies) if n_frequencies > 1 else [1.0], dtype)
    return schedule, frequencies, jnp.asarray(data_scale, dtype), dtype


def _network_inputs(net, x: Array, t: Array, what: str) -> tuple[Array, Array]:
    r"""The preconditioned input :math:`c_{in}(t)\,x` (unit variance at every t for data of
    scale ``net.data_scale``) and the Fourier embedding of the log noise-to-signal ratio,
    shared by the score networks; ``x`` is one sample (``what`` names it in the error)."""
    if x.shape != (net.dim,):
        raise ValueError(f"x must be {what} of shape ({net.dim},), got {x.shape} "
                         f"(vmap over samples)")
    t = jnp.asarray(t, x.dtype)
    a, var = net.schedule.mean_scale(t), net.schedule.variance(t)
    c_in = jax.lax.rsqrt(a**2 * net.data_scale**2 + var)
    w = jax.lax.stop_gradient(net.frequencies) * (jnp.log(var) - 2 * jnp.log(a))
    return c_in * x, jnp.concatenate([jnp.cos(w), jnp.sin(w)]).astype(x.dtype)


def _shells(h: Array) -> list[Array]:
    r"""Sums of ``h`` (*shape, channels) over the shells of the periodic 3^D stencil: shell k
    holds the offsets with k non-zero coordinates (k = 0: the site; 1: its 2D nearest
    neighbours; 2: the diagonal ones, ...).  With :math:`S_a h = h(r + e_a) + h(r - e_a)`,
    shell k is the k-th elementary symmetric polynomial of the commuting :math:`S_a`."""
    ndim = h.ndim - 1
    shells = [h] + [jnp.zeros_like(h)] * ndim
    for axis in range(ndim):
        shift = lambda g, axis=axis: jnp.roll(g, 1, axis) + jnp.roll(g, -1, axis)
        shells = [shells[0]] + [shells[k] + shift(shells[k - 1]) for k in range(1, ndim + 1)]
    return shells


def _lattice_conv(weight: Array, bias: Array, h: Array) -> Array:
    r"""Lattice-symmetric periodic 3^D convolution of one field ``h`` (*shape, c_in),
    ``weight`` of shape (D + 1, c_in, c_out): :math:`y_r = b + \sum_k \big(\sum_{\delta
    \in\text{shell }k} h_{r+\delta}\big) W_k` (indices mod L): a 3 x 3 (x 3) convolution
    whose kernel is invariant under the lattice's rotations and reflections."""
    return sum(g @ w for g, w in zip(_shells(h), weight, strict=True)) + bias


class ScoreConvNet(AbstractScoreNetwork):
    r"""Score network for fields on a periodic lattice (2-D or 3-D, e.g. Ising
    configurations): a translation-equivariant stack of periodic 3 x 3 (x 3) convolutions.

    Layer k maps :math:`h\mapsto \mathrm{SiLU}\big((1 + \gamma_k(u_t))\odot(W_k * h + b_k
    + w_k\bar h) + \beta_k(u_t)\big)`, with :math:`\bar h` the lattice average of
    :math:`h` per channel (a global, mean-field channel mixing) and
    :math:`(\gamma_k, \beta_k)` linear in the Fourier features of
    :math:`u_t = \log(\Delta_t/a_t^2)` (FiLM time conditioning); the input is
    :math:`c_t x` on one channel, the output one channel, :math:`\hat\varepsilon_\theta`.
    A sample is the flattened lattice, shape ``(prod(shape),)``.

    Args:
        key: initialization key.
        shape: the lattice, e.g. ``(8, 8)``.
        schedule: the forward process.
        channels: channels of the hidden layers.
        depth: hidden convolutional layers (receptive field ``2 * depth + 3`` sites).
        n_frequencies, data_scale: as in :class:`ScoreMLP`.
    """

    convs: list
    mixes: list
    films: list
    frequencies: Array
    data_scale: Array
    schedule: Any
    shape: tuple[int, ...] = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def __init__(self, key: Key, shape: Sequence[int], schedule: Schedule, *,
                 channels: int = 16, depth: int = 3, n_frequencies: int = 16,
                 data_scale: Scalar = 1.0, dtype: DTypeLike | None = None) -> None:
        key = check_key(key, traced=True)
        self.shape = check_shape(shape, "shape", minimum=3)
        self.dim = int(np.prod(self.shape))
        channels = check_positive_int(channels, "channels")
        depth = check_positive_int(depth, "depth")
        self.schedule, self.frequencies, self.data_scale, dtype = _fixed_parts(
            schedule, n_frequencies, data_scale, dtype)
        n_frequencies = self.frequencies.shape[0]
        k = 3 ** len(self.shape)
        sizes = [1] + [channels] * depth + [1]
        keys = jax.random.split(key, 3 * (depth + 1))
        self.convs, self.mixes, self.films = [], [], []
        for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            last = i == depth
            scale = (0.1 if last else 1.0) / math.sqrt(c_in * k)
            w = scale * jax.random.normal(keys[3 * i], (len(self.shape) + 1, c_in, c_out),
                                          dtype)
            self.convs.append((w, jnp.zeros((c_out,), dtype)))
            self.mixes.append(jnp.zeros((c_in, c_out), dtype))
            if not last:
                self.films.append(eqx.nn.Linear(2 * n_frequencies, 2 * c_out,
                                                key=keys[3 * i + 1], dtype=dtype))

    @property
    def frozen(self) -> tuple[str, ...]:
        return ("frequencies", "data_scale")

    def noise_prediction(self, x: Real[ArrayLike, " d"], t: Scalar) -> Float[Array, " d"]:
        scaled_x, emb = _network_inputs(self, x, t, "one flattened lattice")
        h = scaled_x.reshape(self.shape + (1,))                 # (*shape, channels)
        axes = tuple(range(len(self.shape)))
        for i, ((weight, bias), mix) in enumerate(zip(self.convs, self.mixes, strict=True)):
            y = _lattice_conv(weight, bias, h) + jnp.mean(h, axis=axes) @ mix
            if i < len(self.films):
                gamma, beta = jnp.split(self.films[i](emb), 2)
                h = jax.nn.silu((1 + gamma) * y + beta)
            else:
                h = y
        return h.reshape(self.dim)


def _trainable(net: AbstractScoreNetwork):
    """Filter spec: True for the inexact arrays that training updates."""
    spec = jax.tree.map(eqx.is_inexact_array, net)
    spec = eqx.tree_at(lambda n: n.schedule, spec,
                       jax.tree.map(lambda _: False, spec.schedule))
    for name in net.frozen:
        spec = eqx.tree_at(lambda n, name=name: getattr(n, name), spec,
                           jax.tree.map(lambda _: False, getattr(spec, name)))
    return spec


# ----------------------------------------------------------------------------- loss

def _check_net(net, name: str = "net") -> AbstractScoreNetwork:
    if not isinstance(net, AbstractScoreNetwork):
        raise TypeError(f"{name} must be a physjax.diffusion score network (e.g. ScoreMLP), "
                        f"got {type(net).__name__}")
    return net


def _check_data(data, dim: int, name: str = "data") -> Array:
    data = check_sample_matrix(data, name, columns=f"dim={dim}")
    if data.shape[1] != dim:
        raise ValueError(f"{name} has {data.shape[1]} columns but the network's dim is {dim}")
    check_finite(data, name)
    return jnp.asarray(data, jnp.result_type(float))


def _check_t_min(t_min, T, name: str = "t_min"):
    if is_concrete(t_min) and is_concrete(T):
        a = np.asarray(t_min)
        if a.shape != ():
            raise ValueError(f"{name} must be a scalar, got shape {a.shape}")
        if not (np.isfinite(a) and 0 < a < np.asarray(T)):
            raise ValueError(f"{name} must lie in (0, T) = (0, {float(np.asarray(T)):g}), "
                             f"got {float(a)!r}")
        return t_min
    t_min = jnp.asarray(t_min)
    return eqx.error_if(t_min, ~((t_min > 0) & (t_min < T)), f"{name} must lie in (0, T)")


def _sample_times(key, n, t_min, T, sampling, dtype):
    u = jax.random.uniform(key, (n,), dtype)             # [0, 1): t in (t_min, T]
    if sampling == "uniform":
        return T - (T - t_min) * u
    return jnp.exp(jnp.log(T) - (jnp.log(T) - jnp.log(t_min)) * u)


def _loss(net, key, x0, t_min, sampling):
    sched = net.schedule
    k_t, k_z = jax.random.split(key)
    T = jnp.asarray(sched.T, x0.dtype)
    t = _sample_times(k_t, x0.shape[0], jnp.asarray(t_min, x0.dtype), T, sampling, x0.dtype)
    z = jax.random.normal(k_z, x0.shape, x0.dtype)
    a = jax.vmap(sched.mean_scale)(t)[:, None]
    std = jnp.sqrt(jax.vmap(sched.variance)(t))[:, None]
    eps = jax.vmap(net.noise_prediction)(a * x0 + std * z, t)
    return jnp.mean((eps - z) ** 2)


def denoising_score_loss(key: Key, net: AbstractScoreNetwork,
                         data: Real[ArrayLike, "n d"] | Bool[ArrayLike, "n d"]
                         | Sequence[Sequence[float]], *,
                         t_min: Scalar = 1e-3,
                         time_sampling: TimeSampling = "uniform") -> Float[Array, ""]:
    r"""One Monte Carlo estimate of the denoising score-matching loss
    :math:`\frac1d E|\hat\varepsilon_\theta(x_t, t) - z|^2` (module docstring) on the rows of
    ``data`` (n, d): one time :math:`t\in(t_\min, T]` and one noise :math:`z` per row."""
    key = check_key(key, traced=True)
    _check_net(net)
    data = _check_data(data, net.dim)
    check_choice(time_sampling, "time_sampling", TimeSampling)
    t_min = _check_t_min(t_min, net.schedule.T)
    return _loss(net, key, data, t_min, time_sampling)


# ------------------------------------------------------------------------- training

_ADAM = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)


def _decay_factor(decay: Decay, k, n_steps: int):
    """Factor multiplying the base learning rate at step ``k`` of ``n_steps``."""
    frac = k.astype(jnp.float32) / n_steps
    if decay == "cosine":
        return 0.5 * (1 + jnp.cos(jnp.pi * frac))
    if decay == "linear":
        return 1 - frac
    return jnp.ones_like(frac)


@eqx.filter_jit
def _train(key, params, static, opt_state, data, t_min, learning_rate, optimizer, n_steps,
           batch_size, sampling, decay):
    n = data.shape[0]
    default = learning_rate is not None

    def objective(p, k, batch):
        return _loss(eqx.combine(p, static), k, batch, t_min, sampling)

    def step(carry, xs):
        p, state = carry
        k, i = xs
        if default:                     # the rate lives in the optimizer state
            rate = (learning_rate * _decay_factor(decay, i, n_steps)).astype(data.dtype)
            state = state._replace(hyperparams={**state.hyperparams, "learning_rate": rate})
        k_idx, k_loss = jax.random.split(k)
        batch = data[jax.random.randint(k_idx, (batch_size,), 0, n)]
        value, grads = jax.value_and_grad(objective)(p, k_loss, batch)
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), value

    steps = jnp.arange(n_steps, dtype=jnp.int32)
    (params, _), losses = jax.lax.scan(step, (params, opt_state),
                                       (jax.random.split(key, n_steps), steps))
    return eqx.combine(params, static), losses


def train_score(key: Key, net: AbstractScoreNetwork,
                data: Real[ArrayLike, "n d"] | Bool[ArrayLike, "n d"] | Sequence[Sequence[float]],
                schedule: Schedule | None = None, *, n_steps: int,
                batch_size: int = 256, optimizer: optax.GradientTransformation | None = None,
                learning_rate: Scalar = 1e-3, decay: Decay = "cosine", t_min: Scalar = 1e-3,
                time_sampling: TimeSampling = "uniform"
                ) -> tuple[AbstractScoreNetwork, Float[Array, " n_steps"]]:
    r"""Train ``net`` on ``data`` by denoising score matching (module docstring).

    Args:
        key: PRNG key (mini-batches, times and noises).
        net: a score network, e.g. :class:`ScoreMLP` or :class:`ScoreConvNet`.
        data: training points, shape ``(n, dim)``, n >= 1.
        schedule: the forward process to train for; ``None`` keeps ``net.schedule`` (a
            given schedule replaces it, and the returned network carries it).
        n_steps: optimizer steps (static).
        batch_size: rows per step, drawn with replacement (static).
        optimizer: any Optax ``GradientTransformation`` (used as given: ``learning_rate``
            and ``decay`` are then ignored); default Adam at ``learning_rate`` with the
            rate in the optimizer state (``optax.inject_hyperparams``, so it may be traced).
        learning_rate: Adam's base step size when ``optimizer`` is ``None`` (may be traced).
        decay: the default optimizer's rate over the run: ``"cosine"`` (from
            ``learning_rate`` to 0 as :math:`\tfrac12(1 + \cos\pi k/n)`), ``"linear"``
            (to 0) or ``"constant"`` (static).
        t_min: smallest training time, in (0, T) (may be traced).
        time_sampling: ``"uniform"`` in t or ``"log"`` (uniform in log t) (static).

    Returns:
        ``(trained_net, losses)``; ``losses[k]`` is the mini-batch loss before step k.
    """
    key = check_key(key, traced=True)
    _check_net(net)
    if schedule is not None:
        net = eqx.tree_at(lambda m: m.schedule, net, _check_schedule(schedule))
    _check_schedule(net.schedule, "net.schedule")
    data = _check_data(data, net.dim)
    n_steps = check_positive_int(n_steps, "n_steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_choice(time_sampling, "time_sampling", TimeSampling)
    check_choice(decay, "decay", Decay)
    t_min = _check_t_min(t_min, net.schedule.T)
    for leaf in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_inexact_array)):
        check_finite(leaf, "net")
    params, static = eqx.partition(net, _trainable(net))
    if optimizer is None:
        learning_rate = _check_rate(learning_rate)
        optimizer = _ADAM
        opt_state = optimizer.init(params)
        learning_rate = jnp.asarray(learning_rate, data.dtype)
    else:
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(f"optimizer must be an optax.GradientTransformation (e.g. "
                            f"optax.adam(1e-3)), got {type(optimizer).__name__}")
        opt_state = optimizer.init(params)
        learning_rate = None
    t_min = jnp.asarray(t_min, data.dtype)
    return _train(key, params, static, opt_state, data, t_min, learning_rate, optimizer,
                  n_steps, batch_size, time_sampling, decay)


def _check_rate(value, name: str = "learning_rate"):
    """A finite rate > 0: checked on concrete values, ``equinox.error_if`` when traced."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise TypeError(f"{name} must be a positive real number, got {value!r}")
    if is_concrete(value):
        check_positive(value, name)
        if np.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
        return value
    value = jnp.asarray(value)
    return eqx.error_if(value, ~(jnp.isfinite(value) & (value > 0)),
                        f"{name} must be finite and > 0")
