"""Tests of physjax.curvature.losses: seed 001's saddle losses and the network tasks (their
data from physjax.datasets).

The saddle losses have exact Hessians (seed eqs. 42, 46); they are compared with
``jax.hessian`` in float64, where both are exact up to rounding (entries are products of
two numbers, so the tolerance is a few ulps).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.curvature.losses import (
    DigitsCNN,
    accuracy,
    cross_entropy_loss,
    fcnn,
    loss_of_parameters,
    mse_loss,
    saddle_critical_point,
    saddle_hessian,
    saddle_hessian_diagonal,
    saddle_hessian_trace,
    saddle_loss,
    train,
)
from physjax.datasets import (
    digits_data,
    function_approximation_data,
    function_approximation_target,
)

_autodiff_hessian = jax.jit(jax.hessian(saddle_loss), static_argnums=1)


@pytest.mark.parametrize("n_positive, trace", [(None, 0.0), (800, 600.0)])
def test_saddle_hessian_at_critical_point_matches_autodiff(n_positive, trace):
    """n = 500: eq. (40) (n_positive = n) and eq. (45) with n_tilde = 800."""
    with jax.enable_x64(True):
        theta = saddle_critical_point(500)
        assert theta.shape == (1001,) and theta.dtype == jnp.float64
        np.testing.assert_array_equal(theta[:-1], 0.0)
        assert theta[-1] == 1.0
        h_auto = _autodiff_hessian(theta, n_positive)
        h = saddle_hessian(theta, n_positive)
        np.testing.assert_allclose(h, h_auto, rtol=0, atol=1e-14)
        n_pos = 500 if n_positive is None else n_positive
        expected = np.diag(np.r_[np.ones(n_pos), -np.ones(1000 - n_pos), 0.0])
        np.testing.assert_array_equal(np.asarray(h), expected)  # eqs. (42), (46)
        np.testing.assert_array_equal(saddle_hessian_diagonal(theta, n_positive), np.diag(expected))
        assert saddle_hessian_trace(500, n_positive) == trace == float(np.trace(h_auto))
        # theta* is a critical point with L = 0
        assert float(saddle_loss(theta, n_positive)) == 0.0
        np.testing.assert_array_equal(jax.grad(saddle_loss)(theta, n_positive), 0.0)


def test_saddle_hessian_away_from_critical_point():
    with jax.enable_x64(True):
        theta = jax.random.normal(jax.random.key(0), (2 * 7 + 1,))
        for n_positive in (None, 0, 10, 14):
            h_auto = _autodiff_hessian(theta, n_positive)
            np.testing.assert_allclose(saddle_hessian(theta, n_positive), h_auto, atol=1e-14)
            np.testing.assert_allclose(
                saddle_hessian_diagonal(theta, n_positive), jnp.diag(h_auto), atol=1e-14
            )
            n_pos = 7 if n_positive is None else n_positive
            np.testing.assert_allclose(
                saddle_hessian_trace(7, n_positive, float(theta[-1])),
                2 * (n_pos - 7) * theta[-1],
                rtol=1e-14,
            )
        # the explicit formula of eq. (45)
        s = np.r_[np.ones(10), -np.ones(4)]
        np.testing.assert_allclose(
            saddle_loss(theta, 10), 0.5 * theta[-1] * np.sum(s * np.asarray(theta[:-1]) ** 2)
        )


def test_saddle_loss_bad_input():
    with pytest.raises(ValueError, match="theta"):
        saddle_loss(jnp.zeros(4))  # even length
    with pytest.raises(ValueError, match="theta"):
        saddle_loss(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="theta"):
        saddle_loss(jnp.array([0.0, jnp.nan, 1.0]))
    with pytest.raises(ValueError, match="n_positive"):
        saddle_loss(jnp.zeros(7), 7)  # n = 3, n_positive must be <= 6
    with pytest.raises(TypeError, match="n_positive"):
        saddle_hessian(jnp.zeros(7), 2.5)
    with pytest.raises(ValueError, match="n"):
        saddle_critical_point(0)
    with pytest.raises(ValueError, match="n_positive"):
        saddle_hessian_trace(3, -1)


def test_function_approximation_data():
    with jax.enable_x64(True):
        data = function_approximation_data()
        x = np.asarray(data.x_train)[:, 0]
        assert data.x_train.shape == data.y_train.shape == (50, 1)
        assert data.x_test.shape == data.y_test.shape == (50, 1)
        assert x.min() == -1.0 and x.max() < 1.0
        np.testing.assert_allclose(np.diff(x), 2 / 50)
        # test inputs are the midpoints of the training grid
        np.testing.assert_allclose(np.asarray(data.x_test)[:, 0], x + 1 / 50)
        np.testing.assert_allclose(function_approximation_target(0.0), np.log(2.0))
        xs = np.linspace(-1, 1, 7)
        np.testing.assert_allclose(
            function_approximation_target(xs), np.log(np.sin(10 * xs) + 2) + np.sin(xs)
        )


def _best_linear_mse(x, y):
    """MSE of the least-squares straight line through (x, y)."""
    x, y = np.asarray(x)[:, 0], np.asarray(y)[:, 0]
    coef = np.polyfit(x, y, 1)
    return float(np.mean((np.polyval(coef, x) - y) ** 2))


@pytest.mark.compute_bound
@pytest.mark.parametrize("depth", [2, 10])
def test_fcnn_learns_the_target(depth):
    """The networks must learn the oscillation sin(10x), not just the trend.

    The best straight line leaves an MSE of ~0.37 on the training points (the log(sin 10x + 2)
    wiggle); 500 full-batch Adam steps must beat it by a factor 10 on the training set and
    by 5 on the held-out midpoints -- a fit that misses the oscillation cannot.  (Training
    runs in float32, the default; the float64 checks are the Hessian tests.)
    """
    data = function_approximation_data()
    model = fcnn(jax.random.key(depth), depth)
    n_hidden = sum(1 for layer in model.layers[:-1])
    assert n_hidden == depth and model.layers[0].weight.shape == (100, 1)
    trained, losses = train(model, mse_loss, (data.x_train, data.y_train), n_steps=500)
    assert losses.shape == (500,)
    assert float(losses[0]) == pytest.approx(float(mse_loss(model, data.x_train, data.y_train)))
    train_mse = float(mse_loss(trained, data.x_train, data.y_train))
    test_mse = float(mse_loss(trained, data.x_test, data.y_test))
    assert train_mse < _best_linear_mse(data.x_train, data.y_train) / 10
    assert test_mse < _best_linear_mse(data.x_test, data.y_test) / 5
    # the input model is untouched
    assert float(mse_loss(model, data.x_train, data.y_train)) == pytest.approx(float(losses[0]))


def test_digits_cnn_forward_matches_equinox_layers_and_trains():
    """float32 (the default): a training check, not a Hessian test."""
    data = digits_data(jax.random.key(0))
    assert data.x_train.shape == (1500, 1, 8, 8) and data.x_test.shape == (297, 1, 8, 8)
    assert data.y_train.dtype == jnp.int32 and float(data.x_train.max()) <= 1.0
    model = eqx.filter_jit(DigitsCNN)(jax.random.key(1))  # one compile, not one per op
    params = eqx.filter(model, eqx.is_inexact_array)
    assert sum(x.size for x in jax.tree.leaves(params)) == 1898

    # the patches-times-weights convolution equals eqx.nn.Conv2d
    pool = eqx.nn.AvgPool2d(kernel_size=2, stride=2)

    def reference(x):
        h = pool(jax.nn.relu(model.conv1(x)))
        h = pool(jax.nn.relu(model.conv2(h)))
        return model.head(h.reshape(-1))

    x = data.x_train[:5]
    np.testing.assert_allclose(jax.vmap(model)(x), jax.jit(jax.vmap(reference))(x), atol=1e-5)

    # 60 Adam steps on 200 images: from ln 10 = 2.30 to < 0.6, held-out accuracy > 0.6
    # (chance is 0.1; this setting reaches ~0.85)
    batch = (data.x_train[:200], data.y_train[:200])
    trained, losses = train(model, cross_entropy_loss, batch, n_steps=60, learning_rate=1e-2)
    assert float(losses[0]) == pytest.approx(np.log(10), abs=0.2)
    assert float(cross_entropy_loss(trained, *batch)) < 0.6
    assert float(accuracy(trained, data.x_test, data.y_test)) > 0.6


def test_loss_of_parameters_is_a_pure_function_of_the_arrays():
    with jax.enable_x64(True):
        data = function_approximation_data(n_train=8, n_test=4)
        model = fcnn(jax.random.key(0), 2, width=4)
        f, params = loss_of_parameters(mse_loss, model, data.x_train, data.y_train)
        assert float(f(params)) == float(mse_loss(model, data.x_train, data.y_train))
        assert all(eqx.is_inexact_array(x) for x in jax.tree.leaves(params))
        shifted = jax.tree.map(lambda x: x + 0.1, params)
        moved = eqx.combine(shifted, eqx.filter(model, eqx.is_inexact_array, inverse=True))
        assert float(f(shifted)) == float(mse_loss(moved, data.x_train, data.y_train))
        g = jax.grad(f)(params)
        assert jax.tree.structure(g) == jax.tree.structure(params)


def test_training_bad_input():
    data = function_approximation_data(n_train=4, n_test=4)
    model = fcnn(jax.random.key(0), 1, width=3)
    with pytest.raises(ValueError, match="n_steps"):
        train(model, mse_loss, (data.x_train, data.y_train), n_steps=0)
    with pytest.raises(TypeError, match="batch"):
        train(model, mse_loss, [data.x_train, data.y_train], n_steps=1)
    with pytest.raises(ValueError, match="batch"):
        train(model, mse_loss, (data.x_train * jnp.nan, data.y_train), n_steps=1)
    with pytest.raises(ValueError, match="depth"):
        fcnn(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="n_test"):
        digits_data(jax.random.key(0), n_test=5000)
