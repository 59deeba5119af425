r"""Test losses for loss-landscape geometry (seed 001, "Loss landscapes").

Saddle losses with a known Hessian
----------------------------------
For :math:`\theta\in\mathbb{R}^{N}`, :math:`N = 2n+1`, and :math:`0\le\tilde n\le 2n`,

.. math::

    L(\theta) = \tfrac12\,\theta_{2n+1}\Big(\sum_{i=1}^{\tilde n}\theta_i^2
                 - \sum_{i=\tilde n+1}^{2n}\theta_i^2\Big).

:math:`\tilde n = n` is the seed's eq. (40) (as many positive as negative curvature
directions); :math:`n < \tilde n \le 2n` is its eq. (45).  With signs
:math:`s_i = +1` for :math:`i\le\tilde n` and :math:`-1` for :math:`\tilde n < i \le 2n`,
the exact Hessian at any :math:`\theta` is

.. math::

    H_{ij} = s_i\,\theta_{2n+1}\,\delta_{ij}\ (i,j\le 2n),\qquad
    H_{i,2n+1} = H_{2n+1,i} = s_i\,\theta_i,\qquad H_{2n+1,2n+1} = 0,

so at the critical point :math:`\theta^* = (0,\dots,0,1)` (eq. 41) it is
:math:`\mathrm{diag}(1\times\tilde n, -1\times(2n-\tilde n), 0)` (eqs. 42, 46) with
:math:`\mathrm{tr}\,H = 2(\tilde n - n)`: 0 for eq. (40), 600 for :math:`n=500`,
:math:`\tilde n = 800`.

Neural-network tasks
--------------------
* Function approximation (seed eq. 48, our reading of Fig. 12):
  :math:`f(x) = \log(\sin 10x + 2) + \sin x` sampled at 50 points of :math:`[-1, 1)`,
  fitted by fully connected ReLU networks of 2 or 10 hidden layers × 100 units with a
  mean-squared-error loss.
* Image classification: a small CNN on scikit-learn's bundled 8×8 digits (1797 images,
  no download), cross-entropy loss.

The data of both tasks (:func:`~physjax.datasets.function_approximation_data`,
:func:`~physjax.datasets.digits_data`) are built by :mod:`physjax.datasets` as a
:class:`Dataset`.

Models are Equinox modules.  :func:`loss_of_parameters` exposes any ``loss(model, *batch)``
as a pure function of the parameter pytree (``eqx.partition`` / ``eqx.combine``), which
is what the curvature tools take.  :func:`train` fits a model full-batch with an Optax
optimizer (Adam by default) inside one ``lax.scan``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import DTypeLike

from physjax._array_types import (
    Array,
    ArrayLike,
    Float,
    Int,
    Key,
    PyTree,
    Real,
    Scalar,
    Size,
)
from physjax._checks import as_float_array, check_finite, check_positive_int

__all__ = [
    "Dataset",
    "DigitsCNN",
    "ParameterLoss",
    "accuracy",
    "cross_entropy_loss",
    "fcnn",
    "loss_of_parameters",
    "mse_loss",
    "saddle_critical_point",
    "saddle_hessian",
    "saddle_hessian_diagonal",
    "saddle_hessian_trace",
    "saddle_loss",
    "train",
]


# ----------------------------------------------------------------------------------------
# Saddle losses, eqs. (40) and (45)
# ----------------------------------------------------------------------------------------


def _saddle_sizes(theta, n_positive, name: str = "theta") -> tuple[int, int]:
    shape = getattr(theta, "shape", None)
    if shape is None:
        theta = np.asarray(theta)
        shape = theta.shape
    if len(shape) != 1 or shape[0] < 3 or shape[0] % 2 == 0:
        raise ValueError(
            f"{name} must be a 1-D array of odd length N = 2n + 1 >= 3 "
            f"(the last entry is theta_(2n+1)), got shape {tuple(shape)}"
        )
    n = (shape[0] - 1) // 2
    return n, _check_n_positive(n, n_positive)


def _check_n_positive(n: int, n_positive) -> int:
    if n_positive is None:
        return n
    if isinstance(n_positive, bool) or not isinstance(n_positive, numbers.Integral):
        raise TypeError(
            f"n_positive must be an integer (n_tilde of eq. 45) or None (eq. 40), "
            f"got {n_positive!r}"
        )
    if not 0 <= n_positive <= 2 * n:
        raise ValueError(
            f"n_positive must lie in [0, 2n] = [0, {2 * n}] (eq. 40: n_positive = n; "
            f"eq. 45: n < n_positive <= 2n), got {n_positive}"
        )
    return int(n_positive)


def _signs(n: int, n_positive: int, dtype) -> jax.Array:
    """s_i = +1 for i < n_positive, -1 for n_positive <= i < 2n (0-based), length 2n."""
    return jnp.where(jnp.arange(2 * n) < n_positive, 1.0, -1.0).astype(dtype)


def _saddle_input(theta, n_positive):
    """``(theta, n, n_positive)``: the parameters checked (length 2n + 1, finite) and cast
    to a floating array, with the sizes of :func:`_saddle_sizes`."""
    n, n_pos = _saddle_sizes(theta, n_positive)
    check_finite(theta, "theta")
    return as_float_array(theta), n, n_pos


def saddle_loss(theta: Real[ArrayLike, " p"] | Sequence[Scalar],
                n_positive: Size | None = None) -> Float[Array, ""]:
    r"""Seed 001's saddle loss, eq. (40) (``n_positive=None``) or eq. (45).

    .. math::

        L(\theta) = \tfrac12\,\theta_{2n+1}\Big(\sum_{i\le\tilde n}\theta_i^2
                    - \sum_{\tilde n < i\le 2n}\theta_i^2\Big),\qquad N = 2n+1,

    with :math:`\tilde n` = ``n_positive`` (default :math:`n`, which is eq. 40).

    Args:
        theta: parameters, shape ``(2n + 1,)``; :math:`n` is read from the length.
        n_positive: :math:`\tilde n`, the number of positive-curvature directions at
            :math:`\theta^*`; must be a Python int in ``[0, 2n]`` (static under ``jit``).
            The seed's eq. (45) uses :math:`n < \tilde n \le 2n`.

    Returns:
        The scalar loss.
    """
    return _saddle_loss(*_saddle_input(theta, n_positive))


@partial(jax.jit, static_argnums=(1, 2))
def _saddle_loss(theta, n, n_pos):
    s = _signs(n, n_pos, theta.dtype)
    return 0.5 * theta[-1] * jnp.sum(s * theta[:-1] ** 2)


def saddle_critical_point(n: int, *, dtype: DTypeLike | None = None) -> Float[Array, " p"]:
    r"""The critical point :math:`\theta^* = (0,\dots,0,1)\in\mathbb{R}^{2n+1}` (eq. 41).

    At :math:`\theta^*` the gradient of :func:`saddle_loss` vanishes for every
    :math:`\tilde n` and the loss is 0.  ``dtype`` defaults to JAX's default float.
    """
    n = check_positive_int(n, "n")
    dtype = jnp.result_type(float) if dtype is None else dtype
    return jnp.zeros(2 * n + 1, dtype).at[-1].set(1)


def saddle_hessian(theta: Real[ArrayLike, " p"] | Sequence[Scalar],
                   n_positive: Size | None = None) -> Float[Array, "p p"]:
    r"""Exact Hessian of :func:`saddle_loss` at ``theta``, shape ``(N, N)``.

    .. math::

        H_{ij} = s_i\theta_{2n+1}\delta_{ij}\ (i,j\le 2n),\quad
        H_{i,2n+1} = H_{2n+1,i} = s_i\theta_i,\quad H_{2n+1,2n+1} = 0,

    :math:`s_i = +1` for :math:`i\le\tilde n`, :math:`-1` otherwise.  At
    :math:`\theta^*` this is :math:`\mathrm{diag}(1\times\tilde n,-1\times(2n-\tilde n),0)`,
    the seed's eqs. (42) and (46).
    """
    return _saddle_hessian(*_saddle_input(theta, n_positive))


@partial(jax.jit, static_argnums=(1, 2))
def _saddle_hessian(theta, n, n_pos):
    s = _signs(n, n_pos, theta.dtype)
    top = jnp.diag(s * theta[-1])
    column = (s * theta[:-1])[:, None]
    return jnp.block([[top, column], [column.T, jnp.zeros((1, 1), theta.dtype)]])


def saddle_hessian_diagonal(theta: Real[ArrayLike, " p"] | Sequence[Scalar],
                            n_positive: Size | None = None) -> Float[Array, " p"]:
    r"""Diagonal of :func:`saddle_hessian`.

    :math:`(s_1\theta_{2n+1},\dots,s_{2n}\theta_{2n+1},0)`.
    """
    theta, n, n_pos = _saddle_input(theta, n_positive)
    s = _signs(n, n_pos, theta.dtype)
    return jnp.concatenate([s * theta[-1], jnp.zeros(1, theta.dtype)])


def saddle_hessian_trace(n: int, n_positive: Size | None = None,
                         theta_last: Scalar = 1.0) -> float:
    r"""Exact :math:`\mathrm{tr}\,H = 2(\tilde n - n)\,\theta_{2n+1}`.

    At :math:`\theta^*` (``theta_last = 1``) this is 0 for eq. (40) and
    :math:`2(\tilde n - n)` for eq. (45), e.g. 600 for :math:`n = 500,\ \tilde n = 800`.
    """
    n = check_positive_int(n, "n")
    n_pos = _check_n_positive(n, n_positive)
    return float(2 * (n_pos - n) * theta_last)


# ----------------------------------------------------------------------------------------
# Parameters of Equinox models, training
# ----------------------------------------------------------------------------------------


class ParameterLoss(eqx.Module):
    """``params -> loss(eqx.combine(params, static), *batch)``, returned by
    :func:`loss_of_parameters`.

    A pytree (an Equinox module): the data ``batch`` are array leaves, so jitted callers
    (``eqx.filter_jit``, every physjax.curvature routine) trace them instead of baking them
    in as constants, and the training and test losses of one model share compiled code.
    """

    loss: Callable[..., Float[Array, ""]]
    static: PyTree
    batch: tuple[Any, ...]

    def __call__(self, params: PyTree) -> Float[Array, ""]:
        return self.loss(eqx.combine(params, self.static), *self.batch)


def loss_of_parameters(
    loss: Callable[..., Float[Array, ""]], model: PyTree, *batch: Any
) -> tuple[ParameterLoss, PyTree]:
    r"""Expose ``loss(model, *batch)`` as a pure function of the model's parameters.

    The model is split with ``eqx.partition(model, eqx.is_inexact_array)`` into
    ``params`` (the floating-point arrays, a pytree with ``None`` elsewhere) and the static
    rest; the returned ``f(params) = loss(eqx.combine(params, static), *batch)`` is what
    :mod:`physjax.curvature` differentiates.

    Returns:
        ``(f, params)``; ``f`` is a :class:`ParameterLoss`.  ``params`` are the model's own
        (immutable) arrays, not copies.
    """
    params, static = eqx.partition(model, eqx.is_inexact_array)
    return ParameterLoss(loss, static, tuple(batch)), params


def train(
    model: PyTree,
    loss: Callable[..., Float[Array, ""]],
    batch: tuple[Any, ...],
    *,
    n_steps: int,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: Scalar = 1e-3,
) -> tuple[PyTree, Float[Array, " t"]]:
    r"""Full-batch training :math:`\theta_{t+1} = \theta_t + \mathrm{opt}(\nabla L(\theta_t))`.

    Runs ``n_steps`` steps of ``optimizer`` (default ``optax.adam(learning_rate)``) on
    :math:`L(\theta) =` ``loss(model(θ), *batch)`` inside one ``jax.lax.scan``; only the
    model's floating-point arrays are trained.

    Args:
        model: an Equinox module (or any pytree ``loss`` accepts).
        loss: ``loss(model, *batch) -> scalar``, e.g. :func:`mse_loss`.
        batch: tuple of arrays passed to ``loss`` after the model.
        n_steps: number of optimizer steps (>= 1).
        optimizer: an Optax ``GradientTransformation``.
        learning_rate: Adam's step size when ``optimizer`` is ``None``.

    Returns:
        ``(trained_model, losses)``; ``losses[t]`` is the loss *before* step ``t``.
        The input model is not modified.
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    if not isinstance(batch, tuple):
        raise TypeError(f"batch must be a tuple of arrays passed to loss, got {type(batch)}")
    for i, leaf in enumerate(jax.tree_util.tree_leaves(batch)):
        check_finite(leaf, f"batch[{i}]")
    params, static = eqx.partition(model, eqx.is_inexact_array)
    for leaf in jax.tree_util.tree_leaves(params):
        check_finite(leaf, "model")
    if optimizer is None:
        check_finite(learning_rate, "learning_rate")
    opt = optax.adam(learning_rate) if optimizer is None else optimizer
    return _train(params, static, batch, opt, loss, n_steps)


@eqx.filter_jit
def _train(params, static, batch, opt, loss, n_steps):
    def objective(p):
        return loss(eqx.combine(p, static), *batch)

    def step(carry, _):
        p, state = carry
        value, grads = jax.value_and_grad(objective)(p)
        updates, state = opt.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), value

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=n_steps)
    return eqx.combine(params, static), losses


# ----------------------------------------------------------------------------------------
# Function approximation (seed eq. 48, Fig. 12); its data: physjax.datasets
# ----------------------------------------------------------------------------------------


class Dataset(NamedTuple):
    """Train and test arrays of a supervised task."""

    x_train: Float[Array, "m_train ..."]
    y_train: Real[Array, "m_train ..."]
    x_test: Float[Array, "m_test ..."]
    y_test: Real[Array, "m_test ..."]


def fcnn(key: Key, depth: int, width: int = 100) -> eqx.nn.MLP:
    r"""Fully connected ReLU network :math:`\mathbb{R}\to\mathbb{R}` with ``depth`` hidden layers.

    :math:`h_0 = x,\ h_{l} = \mathrm{ReLU}(W_l h_{l-1} + b_l)\ (l = 1..\text{depth}),\
    y = W_{\text{depth}+1} h_\text{depth} + b_{\text{depth}+1}`, each hidden layer
    ``width`` units, Equinox's default (LeCun-uniform) initialization.  The seed's FCNN 1
    and FCNN 2 are ``depth = 2`` and ``depth = 10`` with ``width = 100``.
    The model maps a single input of shape ``(1,)``; use ``jax.vmap`` over a batch.
    """
    depth = check_positive_int(depth, "depth")
    width = check_positive_int(width, "width")
    return eqx.nn.MLP(
        in_size=1, out_size=1, width_size=width, depth=depth, activation=jax.nn.relu, key=key
    )


@eqx.filter_jit
def mse_loss(model: Callable[..., Any], x: Real[ArrayLike, "m ..."],
             y: Real[ArrayLike, "m ..."]) -> Float[Array, ""]:
    r"""Mean squared error :math:`\frac1m\sum_k \lVert \text{model}(x_k) - y_k\rVert^2 / d`.

    ``x`` has shape ``(m, d_in)``, ``y`` shape ``(m, d_out)``; the model maps one input.
    """
    pred = jax.vmap(model)(x)
    return jnp.mean((pred - y) ** 2)


# ----------------------------------------------------------------------------------------
# Image classification: small CNN on the 8x8 digits
# ----------------------------------------------------------------------------------------


def _conv_same(layer: eqx.nn.Conv2d, x: jax.Array) -> jax.Array:
    r"""``layer(x)`` for a stride-1 'same'-padded ``eqx.nn.Conv2d``, computed as patches × weights.

    :math:`y_{o,h,w} = b_o + \sum_{c,i,j} W_{o,c,i,j}\,x^\mathrm{pad}_{c,h+i,w+j}`.  Same
    numbers as ``layer(x)``; written out because XLA:CPU runs convolutions inside a
    ``lax.scan`` body about 5× slower than this einsum (measured on the digits CNN).
    """
    c, height, width = x.shape
    kh, kw = layer.weight.shape[-2:]
    ph, pw = kh // 2, kw // 2
    xp = jnp.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw)))
    patches = jnp.stack(
        [
            jnp.stack([xp[:, i : i + height, j : j + width] for j in range(kw)], axis=1)
            for i in range(kh)
        ],
        axis=1,
    )  # (c, kh, kw, height, width)
    y = jnp.einsum("ocij,cijhw->ohw", layer.weight, patches)
    return y if layer.bias is None else y + layer.bias


def _avg_pool2(h: jax.Array) -> jax.Array:
    c, height, width = h.shape
    return h.reshape(c, height // 2, 2, width // 2, 2).mean(axis=(2, 4))


class DigitsCNN(eqx.Module):
    r"""A small CNN for 8×8 one-channel images, 10 classes (1,898 parameters by default).

    ``conv3x3(1→8) → ReLU → avgpool 2 → conv3x3(8→16) → ReLU → avgpool 2 → flatten(64) →
    linear(64→10)``, convolutions stride 1 with 'same' zero padding; returns the 10 logits
    of one image of shape ``(1, 8, 8)``.  The layers are ``eqx.nn.Conv2d`` /
    ``eqx.nn.Linear`` (weights ``(out, in, ...)``, so filter normalization acts on axis 0).
    """

    conv1: eqx.nn.Conv2d
    conv2: eqx.nn.Conv2d
    head: eqx.nn.Linear

    def __init__(self, key: Key, channels: tuple[int, int] = (8, 16)):
        k1, k2, k3 = jax.random.split(key, 3)
        c1, c2 = channels
        self.conv1 = eqx.nn.Conv2d(1, c1, kernel_size=3, padding=1, key=k1)
        self.conv2 = eqx.nn.Conv2d(c1, c2, kernel_size=3, padding=1, key=k2)
        self.head = eqx.nn.Linear(c2 * 4, 10, key=k3)

    def __call__(self, x: Float[Array, "1 8 8"]) -> Float[Array, " 10"]:
        h = _avg_pool2(jax.nn.relu(_conv_same(self.conv1, x)))
        h = _avg_pool2(jax.nn.relu(_conv_same(self.conv2, h)))
        return self.head(h.reshape(-1))


@eqx.filter_jit
def cross_entropy_loss(model: Callable[..., Any], x: Real[ArrayLike, "m ..."],
                       y: Int[ArrayLike, " m"]) -> Float[Array, ""]:
    r"""Mean softmax cross-entropy :math:`-\frac1m\sum_k \log\mathrm{softmax}(z_k)_{y_k}`."""
    logits = jax.vmap(model)(x)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


@eqx.filter_jit
def accuracy(model: Callable[..., Any], x: Real[ArrayLike, "m ..."],
             y: Int[ArrayLike, " m"]) -> Float[Array, ""]:
    """Fraction of inputs whose largest logit is the label."""
    return jnp.mean(jnp.argmax(jax.vmap(model)(x), axis=-1) == y)
