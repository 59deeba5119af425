"""Bad input to physjax.curvature: errors that name the argument, flags that are not hidden."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.curvature as pc
from tests.helpers import functions_taking_a_key

KEY = jax.random.key(0)
PARAMS = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}  # 8 parameters


def loss(p):
    return jnp.sum(p["w"] ** 2) + jnp.sum(jnp.tanh(p["b"]) * p["w"][0])


def vector_loss(p):
    return p["w"].ravel()


def int_loss(p):
    return jnp.sum(p["w"]).astype(jnp.int32)


def ones_like(p):
    return jax.tree.map(jnp.ones_like, p)


CALLS = {
    "hvp": lambda f, p: pc.hvp(f, p, ones_like(p)),
    "hvp_fn": lambda f, p: pc.hvp_fn(f, p),
    "full_hessian": lambda f, p: pc.full_hessian(f, p),
    "hessian_eigenpairs": lambda f, p: pc.hessian_eigenpairs(KEY, f, p, k=2),
    "extreme_curvature_directions": lambda f, p: pc.extreme_curvature_directions(KEY, f, p),
    "power_iteration": lambda f, p: pc.power_iteration(KEY, f, p),
    "hutchinson_trace": lambda f, p: pc.hutchinson_trace(KEY, f, p, 4),
    "hutch_plus_plus": lambda f, p: pc.hutch_plus_plus(KEY, f, p, 6),
    "curvature_trace_estimate": lambda f, p: pc.curvature_trace_estimate(KEY, f, p, 3),
    "spectral_density": lambda f, p: pc.spectral_density(KEY, f, p, n_steps=4),
}


@pytest.mark.parametrize("name", CALLS)
def test_f_must_return_a_floating_scalar(name):
    with pytest.raises(ValueError, match="f must return a scalar"):
        CALLS[name](vector_loss, PARAMS)
    with pytest.raises(TypeError, match="f must return a real floating-point scalar"):
        CALLS[name](int_loss, PARAMS)
    with pytest.raises(TypeError, match="f must be a callable"):
        CALLS[name](3.0, PARAMS)


@pytest.mark.parametrize("name", CALLS)
def test_params_must_be_finite_floating_and_non_empty(name):
    bad = {"w": PARAMS["w"].at[1, 1].set(jnp.nan), "b": PARAMS["b"]}
    with pytest.raises(ValueError, match="params must be finite"):
        CALLS[name](loss, bad)
    with pytest.raises(TypeError, match="params must contain only floating-point"):
        CALLS[name](loss, {"w": jnp.ones((3, 2), jnp.int32), "b": PARAMS["b"]})
    with pytest.raises(ValueError, match="params must be a pytree with at least one"):
        CALLS[name](loss, {})


def test_traced_non_finite_params_raise_at_run_time():
    bad = {"w": PARAMS["w"].at[0, 0].set(jnp.inf), "b": PARAMS["b"]}
    run = jax.jit(lambda p: pc.hutchinson_trace(KEY, loss, p, 4).estimate)
    assert np.isfinite(run(PARAMS))
    with pytest.raises(Exception, match="params must be finite"):
        run(bad)
    with pytest.raises(Exception, match="params must be finite"):
        jax.jit(lambda p: pc.hvp(loss, p, ones_like(p)))(bad)


def test_k_out_of_range():
    with pytest.raises(ValueError, match="k must be at most the dimension 8"):
        pc.hessian_eigenpairs(KEY, loss, PARAMS, k=9)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        pc.lanczos_eigenpairs(KEY, lambda x: x, 8, k=0)
    with pytest.raises(TypeError, match="k must be an integer"):
        pc.lanczos_eigenpairs(KEY, lambda x: x, 8, k=2.0)
    with pytest.raises(ValueError, match="k must be at most the dimension 4"):
        pc.power_iteration_matvec(KEY, lambda x: x, 4, k=5)
    with pytest.raises(ValueError, match="n_steps must exceed k"):
        pc.lanczos_eigenpairs(KEY, lambda x: x, 50, k=5, n_steps=5)


def test_lanczos_start_vector_and_steps():
    matvec = lambda x: 2 * x  # noqa: E731
    with pytest.raises(ValueError, match="v0 must be non-zero"):
        pc.lanczos(matvec, jnp.zeros(5), 3)
    with pytest.raises(ValueError, match="v0 must be finite"):
        pc.lanczos(matvec, jnp.array([1.0, jnp.nan, 0, 0, 0]), 3)
    with pytest.raises(ValueError, match="v0 must be a 1-D vector"):
        pc.lanczos(matvec, jnp.ones((2, 3)), 3)
    with pytest.raises(TypeError, match="v0 must be a floating-point"):
        pc.lanczos(matvec, jnp.ones(5, jnp.int32), 3)
    with pytest.raises(ValueError, match="n_steps must be at most the dimension 5"):
        pc.lanczos(matvec, jnp.ones(5), 6)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        pc.lanczos(matvec, jnp.ones(5), 0)
    with pytest.raises(ValueError, match="matvec must map a vector of shape"):
        pc.lanczos(lambda x: x[:3], jnp.ones(5), 2)
    with pytest.raises(ValueError, match="v0 must have length dim=6"):
        pc.lanczos_eigenpairs(KEY, matvec, 6, k=1, v0=jnp.ones(5))
    # traced zero start vector: a run-time error, not NaN
    with pytest.raises(Exception, match="v0 must be finite and non-zero"):
        jax.jit(lambda v: pc.lanczos(matvec, v, 2).alphas)(jnp.zeros(5))


def test_bad_directions_vectors_and_alphas():
    with pytest.raises(ValueError, match="v must have the pytree structure"):
        pc.hvp(loss, PARAMS, {"w": jnp.ones((3, 2))})
    with pytest.raises(ValueError, match="v must have the leaf shapes"):
        pc.hvp(loss, PARAMS, {"w": jnp.ones((2, 3)), "b": jnp.ones(2)})
    with pytest.raises(ValueError, match="v must be finite"):
        pc.hvp(loss, PARAMS, {"w": jnp.full((3, 2), jnp.nan), "b": jnp.ones(2)})
    dirs = {"w": jnp.ones((3, 3, 2)), "b": jnp.ones((3, 2))}
    zero = {"w": dirs["w"].at[1].set(0.0), "b": dirs["b"].at[1].set(0.0)}
    with pytest.raises(ValueError, match="directions must be non-zero"):
        pc.curvature_trace_estimate(KEY, loss, PARAMS, 3, directions=zero)
    with pytest.raises(ValueError, match="directions must be finite"):
        pc.curvature_trace_estimate(KEY, loss, PARAMS, 3,
                                    directions={"w": dirs["w"].at[0, 0, 0].set(jnp.inf),
                                                "b": dirs["b"]})
    with pytest.raises(ValueError, match="directions leaves must have shape"):
        pc.curvature_trace_estimate(KEY, loss, PARAMS, 4, directions=dirs)
    for alphas in ([0.0, 0.1], [[0.0, 0.1, 0.2]], [0.0, np.nan, 0.1], [0.1, 0.1, 0.0, 0.0]):
        with pytest.raises(ValueError, match="alphas must"):
            pc.curvature_trace_estimate(KEY, loss, PARAMS, 3, alphas=np.asarray(alphas))


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="mode must be one of"):
        pc.hvp(loss, PARAMS, ones_like(PARAMS), mode="fwd-fwd")
    with pytest.raises(ValueError, match="which must be one of"):
        pc.hessian_eigenpairs(KEY, loss, PARAMS, k=1, which="largest")
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        pc.hessian_eigenpairs(KEY, loss, PARAMS, k=1, tol=0.0)
    with pytest.raises(ValueError, match="probe must be one of"):
        pc.hutchinson_trace(KEY, loss, PARAMS, 4, probe="sphere")
    with pytest.raises(ValueError, match="n_probes must be an integer >= 2"):
        pc.hutchinson_trace_matvec(KEY, lambda x: x, 5, 1)
    with pytest.raises(ValueError, match="n_matvecs must be an integer >= 4"):
        pc.hutch_plus_plus_matvec(KEY, lambda x: x, 5, 3)
    with pytest.raises(ValueError, match="sigma must be a finite scalar > 0"):
        pc.spectral_density_matvec(KEY, lambda x: x, 5, sigma=0.0)
    with pytest.raises(ValueError, match="grid must be a 1-D array"):
        pc.spectral_density_matvec(KEY, lambda x: x, 5, grid=np.ones((3, 3)))
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        pc.ggn_vp(lambda p: p["w"], lambda z: z, PARAMS, ones_like(PARAMS))


def test_unconverged_lanczos_is_flagged_not_hidden():
    """A dense bulk (2000 eigenvalues evenly in [0, 1]) cannot be resolved by 10 Krylov
    vectors and no restarts: the pairs come back with converged=False and their true
    residuals, which exceed the tolerance."""
    d = jnp.linspace(0.0, 1.0, 2000)

    def matvec(x):
        return d * x

    res = pc.lanczos_eigenpairs(KEY, matvec, 2000, k=3, n_steps=10, max_restarts=0)
    assert not np.any(res.converged)
    assert int(res.n_matvecs) == 10 + 3
    V = np.asarray(res.eigenvectors)
    true = np.linalg.norm(V * np.asarray(d) - np.asarray(res.eigenvalues)[:, None] * V, axis=1)
    np.testing.assert_allclose(res.residuals, true, rtol=1e-4)
    assert np.all(true > 1e-6 * np.abs(np.asarray(res.eigenvalues)))
    out = pc.extreme_curvature_directions_matvec(KEY, matvec, 2000, n_steps=10,
                                                 max_restarts=0)
    assert not np.any(out.converged)


STOCHASTIC = {
    "hessian_eigenpairs", "lanczos_eigenpairs", "extreme_curvature_directions",
    "extreme_curvature_directions_matvec", "power_iteration", "power_iteration_matvec",
    "hutchinson_trace", "hutchinson_trace_matvec", "hutch_plus_plus", "hutch_plus_plus_matvec",
    "curvature_trace_estimate", "spectral_density", "spectral_density_matvec",
    "random_direction", "random_projection_curvatures", "hessian_directions", "fcnn",
}


def test_key_is_the_first_argument_of_every_stochastic_function():
    """docs/ARCHITECTURE.md (Conventions): a jax.random key is always the first argument of
    anything stochastic."""
    assert functions_taking_a_key(pc) == STOCHASTIC
