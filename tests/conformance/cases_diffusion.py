"""The diffusion kernels (physjax.diffusion) in the conformance table.

* ``ForwardEulerMaruyama`` on the Ornstein--Uhlenbeck forward process dx = −x dt + √2 dW:
  the scheme x' = (1 − dt) x + √(2 dt) ξ is an AR(1) chain whose stationary law is exactly
  N(0, 2dt / (1 − (1 − dt)²)) = N(0, 1/(1 − dt/2)) (the law of the discrete scheme, not the
  continuous N(0, 1)); the OU drift and noise do not depend on t, so the chain's clock may
  run past the horizon T.
* ``ReverseKernel`` (reverse SDE / probability-flow ODE, the three integrators) with the
  exact score of Gaussian data is a time-inhomogeneous kernel on a fixed, decreasing grid:
  it has no stationary law (past the end of the grid its step is zero), so it is checked for
  jit/vmap, keys, dtypes and a traced hyperparameter only (exact=None), on a grid long
  enough (8 steps) for every run of the table.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physjax.diffusion as pdf
from tests.conformance._case import KernelCase

D = 2                       # dimension of the forward chain
N, DR = 3, 2                # trajectories and dimension of the reverse chains
VARIANCES = (0.5, 2.0)      # diagonal covariance of the Gaussian data (reverse cases)


# ------------------------------------------------------------------------ forward OU

def _forward(dtype):
    return pdf.ForwardSDE(pdf.OU(jnp.asarray(10.0, dtype)), jnp.asarray(0.1, dtype))


def _em_variance(model):
    dt = float(model.dt)
    return 2 * dt / (1 - (1 - dt) ** 2)


def _forward_init(key, kernel, model):
    dtype = model.dt.dtype
    x0 = jnp.sqrt(jnp.asarray(_em_variance(model), dtype)) * jax.random.normal(key, (D,), dtype)
    return kernel.init(key, model, x0)


def _forward_moments(model, state):
    return jnp.concatenate([state.x, state.x ** 2])


def _forward_exact(model):
    return np.concatenate([np.zeros(D), np.full(D, _em_variance(model))])


# ------------------------------------------------------------------------- reverse

def _reverse(dtype):
    schedule = pdf.OU(jnp.asarray(2.0, dtype))
    score = pdf.GaussianScore(schedule, jnp.asarray([0.5, -0.3], dtype),
                              jnp.asarray(VARIANCES, dtype))
    times = jnp.asarray(np.geomspace(2.0, 0.02, 9), dtype)     # 8 steps, decreasing
    return pdf.ReverseProcess(schedule, score, times)


def _reverse_init(key, kernel, model):
    dtype = model.times.dtype
    return kernel.init(key, model, jax.random.normal(key, (N, DR), dtype))


def _reverse_observable(model, state):
    return jnp.concatenate([jnp.mean(state.x, 0), jnp.mean(state.x ** 2, 0)])


def _set_data_scale(model, value):
    """Scale the data covariance (a traced number inside the score)."""
    return eqx.tree_at(lambda m: m.score.eigvals, model,
                       value * jnp.asarray(VARIANCES, model.times.dtype))


def _set_start_time(model, value):
    """Start the grid at ``value`` (traced times: the kernel's runtime grid check)."""
    u = jnp.asarray(np.geomspace(1.0, 0.01, 9), model.times.dtype)
    return eqx.tree_at(lambda m: m.times, model, value * u)


CASES = [
    KernelCase(
        name="diffusion-forward-euler-maruyama-ou",
        kernel=pdf.ForwardEulerMaruyama(),
        make_model=_forward,
        init=_forward_init,
        hyperparameter=(lambda m, v: eqx.tree_at(lambda m: m.dt, m, v), (0.05, 0.1, 0.2)),
        observable=_forward_moments,
        exact=_forward_exact,
        n_chains=64, n_burn=20, n_steps=400),
    KernelCase(
        name="diffusion-reverse-sde-euler-maruyama",
        kernel=pdf.ReverseKernel("sde", "euler_maruyama"),
        make_model=_reverse,
        init=_reverse_init,
        hyperparameter=(_set_data_scale, (0.5, 1.0, 2.0)),
        observable=_reverse_observable,
        exact=None),
    KernelCase(
        name="diffusion-reverse-sde-heun",
        kernel=pdf.ReverseKernel("sde", "heun"),
        make_model=_reverse,
        init=_reverse_init,
        hyperparameter=(_set_start_time, (1.0, 1.5, 2.0)),
        observable=_reverse_observable,
        exact=None),
    KernelCase(
        name="diffusion-reverse-ode-exponential",
        kernel=pdf.ReverseKernel("ode", "exponential"),
        make_model=_reverse,
        init=_reverse_init,
        hyperparameter=(_set_data_scale, (0.5, 1.0, 2.0)),
        observable=_reverse_observable,
        exact=None),
]
