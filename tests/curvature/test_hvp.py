"""Hessian-vector products, GGN products and dense Hessians against jax.hessian / jax.jacobian."""

import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import physjax.curvature as pc


def make_mlp(sizes, n_data, seed, *, scale=1.5):
    """A tanh MLP with dict parameters and a squared-error loss (non-trivial Hessian).

    Data and weights come from numpy (no per-shape PRNG compilations in the tests).
    """
    rng = np.random.default_rng(seed)
    params = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        params[f"W{i}"] = jnp.asarray(scale * rng.standard_normal((a, b)) / np.sqrt(a))
        params[f"b{i}"] = jnp.asarray(0.1 * rng.standard_normal(b))
    x = rng.standard_normal((n_data, sizes[0]))
    y = np.sin(2 * x[:, :1]) + 0.3 * x[:, 1:2] ** 2 + 0.1 * rng.standard_normal((n_data, 1))
    x, y = jnp.asarray(x), jnp.asarray(y)
    n_layers = len(sizes) - 1

    def model(p):
        h = x
        for i in range(n_layers - 1):
            h = jnp.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
        return h @ p[f"W{n_layers - 1}"] + p[f"b{n_layers - 1}"]

    def loss(p):
        return jnp.mean((model(p) - y) ** 2)

    return params, loss, model


@pytest.fixture(scope="module")
def mlp():
    """~2000-parameter MLP and its dense Hessian from jax.hessian (float64)."""
    with jax.enable_x64(True):
        params, loss, _ = make_mlp([8, 48, 32, 1], 24, 0)
        flat, unravel = ravel_pytree(params)
        H = jax.jit(jax.hessian(lambda z: loss(unravel(z))))(flat)
        yield params, loss, np.asarray(H)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_mlp_size_and_nontrivial_hessian(mlp):
    params, _, H = mlp
    assert 1900 <= H.shape[0] <= 2100
    assert np.abs(H - H.T).max() < 1e-12 * np.abs(H).max()
    ev = np.linalg.eigvalsh(H[:200, :200])
    assert ev.min() < 0 < ev.max()  # indefinite: the residual term of the tanh net matters


@pytest.mark.parametrize("mode", typing.get_args(pc.HVPMode))
def test_hvp_modes_match_dense_hessian(mlp, mode):
    params, loss, H = mlp
    flat, unravel = ravel_pytree(params)
    for seed in (1, 2):
        v = jnp.asarray(np.random.default_rng(seed).standard_normal(flat.shape))
        hv = pc.hvp(loss, params, unravel(v), mode=mode)
        assert jax.tree.structure(hv) == jax.tree.structure(params)
        assert _rel(np.asarray(ravel_pytree(hv)[0]), H @ np.asarray(v)) < 1e-10


def test_hvp_fn_tree_and_flat_closures(mlp):
    params, loss, H = mlp
    flat, unravel = ravel_pytree(params)
    v = jnp.asarray(np.random.default_rng(3).standard_normal(flat.shape))
    tree_mv = pc.hvp_fn(loss, params)
    flat_mv = pc.hvp_fn(loss, params, mode="rev-rev", flat=True)
    assert _rel(np.asarray(ravel_pytree(tree_mv(unravel(v)))[0]), H @ np.asarray(v)) < 1e-10
    assert _rel(np.asarray(flat_mv(v)), H @ np.asarray(v)) < 1e-10
    # params were not modified
    assert np.array_equal(ravel_pytree(params)[0], flat)


def test_full_hessian_flat_and_pytree_forms():
    params, loss, _ = make_mlp([3, 5, 2], 7, 4)
    flat, unravel = ravel_pytree(params)
    H_ref = np.asarray(jax.jit(jax.hessian(lambda z: loss(unravel(z))))(flat))
    H = pc.full_hessian(loss, params)
    assert H.shape == (flat.size, flat.size)
    np.testing.assert_allclose(H, H_ref, rtol=1e-12, atol=1e-14)
    tree = pc.full_hessian(loss, params, flat=False)
    # block [W0][W1] of the pytree form is the matching slice of the flat matrix
    names = sorted(params)  # ravel_pytree order of a dict: sorted keys
    sizes = {k: np.size(params[k]) for k in names}
    offsets = dict(zip(names, np.cumsum([0, *sizes.values()])[:-1], strict=True))
    i0, j0 = offsets["W0"], offsets["W1"]
    block = np.asarray(tree["W0"]["W1"]).reshape(sizes["W0"], sizes["W1"])
    np.testing.assert_allclose(block, H_ref[i0:i0 + sizes["W0"], j0:j0 + sizes["W1"]],
                               rtol=1e-12, atol=1e-14)


def test_ggn_product_matches_dense_jt_h_j():
    params, _, model = make_mlp([5, 16, 3], 10, 5)
    labels = jnp.arange(10) % 3

    def xent(z):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), labels[:, None], 1))

    flat, unravel = ravel_pytree(params)
    z = model(params)
    J = np.asarray(jax.jit(jax.jacobian(lambda p: model(unravel(p)).ravel()))(flat))
    Hl = np.asarray(jax.jit(jax.hessian(lambda zz: xent(zz.reshape(z.shape))))(z.ravel()))
    G = J.T @ Hl @ J
    for seed in (6, 7):
        v = jnp.asarray(np.random.default_rng(seed).standard_normal(flat.shape))
        gv = pc.ggn_vp(model, xent, params, unravel(v))
        assert _rel(np.asarray(ravel_pytree(gv)[0]), G @ np.asarray(v)) < 1e-10
    assert np.linalg.eigvalsh(G).min() > -1e-12  # convex loss of outputs: G is PSD


def test_flatten_unflatten_roundtrip():
    tree = {"a": jnp.arange(6.0).reshape(2, 3), "b": (jnp.ones(2), jnp.zeros((1, 1)))}
    vec, unravel = pc.flatten(tree)
    assert vec.shape == (9,)
    back = pc.unflatten(tree, vec * 2)
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.all(2 * x == y)), tree, back))
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), tree, unravel(vec)))
