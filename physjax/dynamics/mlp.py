"""Multilayer perceptrons whose hidden width is a traced value, for width sweeps of the
SGD dynamics (:mod:`physjax.dynamics.sgd`) that compile once.

A width sweep must compile once, so every width
shares the shapes of one network of ``max_width`` hidden units per layer.  Hidden units
:math:`j \\ge` ``width`` are switched off: their incoming weights, biases and outgoing
weights are zero, their activations are multiplied by the 0/1 ``hidden_mask``, and the
gradients are multiplied by :meth:`MaskedMLP.parameter_mask` before the optimizer sees
them, so the switched-off entries stay exactly zero for any optimizer.  The network of
width ``w`` computes the same function as an unmasked ``eqx.nn.MLP`` of width ``w`` with
the same active weights (:meth:`MaskedMLP.to_mlp`, :func:`embed_mlp`; equal to rounding,
a few ulp: the matrix products sum over the padded length, in another order), and
:func:`masked_mlp` draws its active weights from Equinox's default (LeCun-uniform,
:math:`U(\\pm 1/\\sqrt{\\text{fan-in}})` with fan-in = ``width``) initialization of a width-``w``
network, with ``width`` a traced value.  The flattened parameter vector has the
``max_width`` length with zeros in the switched-off entries: divide squared distances by the
number of *active* parameters (:func:`mlp_parameter_count`;
:meth:`WidthSweep.mean_square_displacement` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import DTypeLike

from physjax._array_types import Array, ArrayLike, Float, Int, Key, Real, Scalar
from physjax._checks import check_positive_int, is_concrete
from physjax.dynamics._common import check_activation

__all__ = ["MaskedMLP", "masked_mlp", "embed_mlp", "mlp_parameter_count"]


class MaskedMLP(eqx.Module):
    """A ReLU/tanh/... MLP with ``max_width`` units per hidden layer of which only the first
    ``width`` are active (the same ``width`` in every hidden layer).

    :math:`h_0 = x`, :math:`h_l = m\\odot\\sigma(W_l h_{l-1} + b_l)` for the hidden layers,
    :math:`f(x) = W_{L+1}h_L + b_{L+1}`, with the 0/1 mask :math:`m_j = [j < \\text{width}]`.

    Attributes:
        layers: the ``eqx.nn.Linear`` layers (the trainable parameters).
        hidden_mask: :math:`m`, shape ``(max_width,)`` (not trained).
        activation: :math:`\\sigma` (static).
    """

    layers: tuple[eqx.nn.Linear, ...]
    hidden_mask: Array
    activation: Callable = eqx.field(static=True)

    def __call__(self, x: Array) -> Array:
        """Output for one input ``x`` of shape ``(in_size,)`` (``jax.vmap`` over a batch)."""
        h = x
        for layer in self.layers[:-1]:
            h = self.activation(layer(h)) * self.hidden_mask
        return self.layers[-1](h)

    @property
    def max_width(self) -> int:
        return self.hidden_mask.shape[-1]

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.layers) - 1

    def parameter_mask(self) -> tuple[eqx.nn.Linear, ...]:
        """0/1 masks shaped like ``layers``: 1 on the weights and biases of the active
        units (rows into, columns out of active hidden units)."""
        m = self.hidden_mask
        masks = []
        for i, layer in enumerate(self.layers):
            rows = m if i < self.depth else jnp.ones(layer.weight.shape[0], m.dtype)
            cols = m if i > 0 else jnp.ones(layer.weight.shape[1], m.dtype)
            w = (rows[:, None] * cols[None, :]).astype(layer.weight.dtype)
            masks.append(eqx.tree_at(lambda lin: (lin.weight, lin.bias), layer,
                                     (w, rows.astype(layer.bias.dtype))))
        return tuple(masks)

    def flat_parameters(self) -> Float[Array, " p"]:
        """All weights and biases as one vector (``ravel_pytree(layers)``, length fixed by
        ``max_width``; switched-off entries are 0)."""
        return ravel_pytree(self.layers)[0]

    def to_mlp(self, width: int) -> eqx.nn.MLP:
        """The active sub-network as an unmasked ``eqx.nn.MLP`` of hidden width ``width``
        (concrete; must equal the mask's width).  Same outputs as ``self``."""
        width = check_positive_int(width, "width")
        if is_concrete(self.hidden_mask):
            active = int(np.sum(np.asarray(self.hidden_mask)))
            if active != width:
                raise ValueError(f"width must be the number of active hidden units "
                                 f"({active}), got {width}")
        first, last = self.layers[0], self.layers[-1]
        mlp = eqx.filter_eval_shape(eqx.nn.MLP, first.in_features, last.out_features, width,
                                    self.depth, activation=self.activation,
                                    dtype=first.weight.dtype, key=jax.random.key(0))
        new = []
        for i, layer in enumerate(self.layers):
            rows = slice(0, width) if i < self.depth else slice(None)
            cols = slice(0, width) if i > 0 else slice(None)
            new.append((layer.weight[rows, cols], layer.bias[rows]))
        return eqx.tree_at(lambda m: [x for lin in m.layers for x in (lin.weight, lin.bias)],
                           mlp, [x for pair in new for x in pair])


def _check_width(width, max_width):
    if is_concrete(width):
        w = np.asarray(width)
        if w.ndim != 0 or (not np.issubdtype(w.dtype, np.integer) and w != np.round(w)):
            raise TypeError(f"width must be an integer, got {width!r}")
        if not 1 <= int(w) <= max_width:
            raise ValueError(f"width must be in [1, max_width = {max_width}], got {int(w)}")


def _hidden_mask(width, max_width, dtype):
    width = eqx.error_if(width, (width < 1) | (width > max_width),
                         "width must be in [1, max_width]")
    return (jnp.arange(max_width) < width).astype(dtype)


def _linear(weight, bias):
    """An ``eqx.nn.Linear`` holding the given arrays (no random initialization)."""
    shape = eqx.filter_eval_shape(eqx.nn.Linear, weight.shape[1], weight.shape[0],
                                  dtype=weight.dtype, key=jax.random.key(0))
    return eqx.tree_at(lambda n: (n.weight, n.bias), shape, (weight, bias))


def masked_mlp(key: Key, in_size: int, out_size: int, max_width: int, width: Scalar, *,
               depth: int = 1, activation: Callable[..., Any] = jax.nn.relu,
               dtype: DTypeLike | None = None) -> MaskedMLP:
    """A :class:`MaskedMLP` whose active weights and biases follow Equinox's default
    initialization of a width-``width`` network (:math:`U(\\pm1/\\sqrt{\\text{fan-in}})`,
    fan-in = ``in_size`` for the first layer, ``width`` after it); ``width`` may be traced
    (a sweep over widths), ``1 <= width <= max_width``."""
    in_size = check_positive_int(in_size, "in_size")
    out_size = check_positive_int(out_size, "out_size")
    max_width = check_positive_int(max_width, "max_width")
    depth = check_positive_int(depth, "depth")
    check_activation(activation)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    _check_width(width, max_width)
    return _build_masked_mlp(key, width, in_size, out_size, max_width, depth, activation,
                             dtype)


@eqx.filter_jit
def _build_masked_mlp(key, width, in_size, out_size, max_width, depth, activation, dtype):
    mask = _hidden_mask(width, max_width, dtype)
    keys = jax.random.split(key, depth + 1)
    sizes = [in_size] + [max_width] * depth + [out_size]
    # Linear(max_width -> .) draws U(+-1/sqrt(max_width)); rescale to fan-in = width
    rescale = jnp.sqrt(max_width / jnp.sum(mask)).astype(dtype)
    layers = []
    for i in range(depth + 1):
        layer = eqx.nn.Linear(sizes[i], sizes[i + 1], dtype=dtype, key=keys[i])
        if i > 0:
            layer = eqx.tree_at(lambda lin: (lin.weight, lin.bias), layer,
                                (layer.weight * rescale, layer.bias * rescale))
        layers.append(layer)
    net = MaskedMLP(layers=tuple(layers), hidden_mask=mask, activation=activation)
    return _apply_mask(net)


def _apply_mask(net: MaskedMLP) -> MaskedMLP:
    layers = jax.tree.map(lambda x, m: x * m, net.layers, net.parameter_mask())
    return eqx.tree_at(lambda n: n.layers, net, layers)


def embed_mlp(mlp: eqx.nn.MLP, max_width: int, *,
              activation: Callable[..., Any] | None = None) -> MaskedMLP:
    """Embed an ``eqx.nn.MLP`` of hidden width ``w <= max_width`` (with biases) into a
    :class:`MaskedMLP` of ``max_width`` units, zero-padded; same outputs.  ``activation``:
    the elementwise activation the MLP was built with (default ``jax.nn.relu``, Equinox's
    default; ``eqx.nn.MLP`` stores it per neuron, so it is not read back)."""
    if not isinstance(mlp, eqx.nn.MLP):
        raise TypeError(f"mlp must be an eqx.nn.MLP, got {type(mlp).__name__}")
    if mlp.depth < 1 or not mlp.use_bias or not mlp.use_final_bias or mlp.scan:
        raise ValueError("mlp must have depth >= 1, biases and scan=False")
    max_width = check_positive_int(max_width, "max_width")
    width = mlp.width_size
    if width > max_width:
        raise ValueError(f"max_width must be >= the MLP's width {width}, got {max_width}")
    activation = check_activation(jax.nn.relu if activation is None else activation)
    layers = []
    for i, lin in enumerate(mlp.layers):
        out_pad = max_width - width if i < mlp.depth else 0
        in_pad = max_width - width if i > 0 else 0
        layers.append(_linear(jnp.pad(lin.weight, ((0, out_pad), (0, in_pad))),
                              jnp.pad(lin.bias, (0, out_pad))))
    mask = (jnp.arange(max_width) < width).astype(mlp.layers[0].weight.dtype)
    return MaskedMLP(tuple(layers), mask, activation)


def mlp_parameter_count(in_size: int, out_size: int,
                        width: Real[ArrayLike, "*g"] | Sequence[Scalar], *,
                        depth: int = 1) -> Int[np.ndarray, "*g"] | np.integer:
    """Number of weights and biases of an MLP of hidden width ``width`` (an int or an
    array of widths): :math:`(d_{in}+1)w + (depth-1)(w+1)w + (w+1)d_{out}`."""
    in_size = check_positive_int(in_size, "in_size")
    out_size = check_positive_int(out_size, "out_size")
    depth = check_positive_int(depth, "depth")
    w = np.asarray(width)
    if not (np.issubdtype(w.dtype, np.integer) or np.all(w == np.round(w))):
        raise TypeError(f"width must hold integers (numbers of hidden units), got {width}")
    w = w.astype(np.int64)
    if np.any(w < 1):
        raise ValueError(f"width must be >= 1, got {width}")
    return (in_size + 1) * w + (depth - 1) * (w + 1) * w + (w + 1) * out_size
