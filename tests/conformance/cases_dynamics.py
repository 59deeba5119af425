"""The continuous dynamics of physjax.dynamics in the conformance table.

Stationary laws, exact for the discrete schemes (so no step-size bias enters the 4-sigma
check), on the 2-D harmonic well H(x) = sum_i k_i x_i^2 / 2 - h_i x_i:

* Euler--Maruyama (overdamped Langevin): x' = x - dt (k x - h) + sqrt(2 T dt) xi is an AR(1)
  chain with mean h/k and variance 2 T dt / (1 - (1 - k dt)^2) = T / (k (1 - k dt / 2)).
* BAOAB: the configurational law is exactly N(h/k, T/k) at any stable dt (Leimkuhler &
  Matthews 2013); the momentum after the closing half kick has variance
  m T (1 - k dt^2 / (4 m)) (the stationary solution of the scheme's discrete Lyapunov
  equation; m T at the middle of the step).

Gradient flow and minibatch SGD have no stationary law to check (exact=None).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physjax.dynamics as dyn
from tests.conformance._case import KernelCase

STIFFNESS = (1.0, 2.5)
FIELD = (0.5, -0.3)


class Harmonic(eqx.Module):
    """H(x) = sum_i k_i x_i^2 / 2 - h.x."""

    stiffness: jax.Array
    field: jax.Array

    def __call__(self, x):
        return 0.5 * jnp.sum(self.stiffness * x ** 2) - jnp.dot(self.field, x)


def _harmonic(dtype):
    return Harmonic(jnp.asarray(STIFFNESS, dtype), jnp.asarray(FIELD, dtype))


def _set(name):
    return lambda model, value: eqx.tree_at(lambda m: getattr(m, name), model, value)


def _moments(model, state):
    x = state.position
    return jnp.concatenate([x, x ** 2])


# ------------------------------------------------------------------- Euler--Maruyama

def _overdamped(dtype):
    return dyn.OverdampedLangevin(_harmonic(dtype), jnp.asarray(0.1, dtype),
                                  jnp.asarray(0.7, dtype))


def _em_law(model):
    k, h = np.asarray(model.energy.stiffness, float), np.asarray(model.energy.field, float)
    dt, t = float(model.dt), float(model.temperature)
    return h / k, t / (k * (1 - k * dt / 2))


def _overdamped_init(key, kernel, model):
    mean, var = _em_law(model)
    dtype = model.energy.stiffness.dtype
    x0 = mean + np.sqrt(var) * jax.random.normal(key, (2,), dtype)
    return kernel.init(key, model, x0.astype(dtype))


def _overdamped_exact(model):
    mean, var = _em_law(model)
    return np.concatenate([mean, mean ** 2 + var])


# ----------------------------------------------------------------------------- BAOAB

def _underdamped(dtype):
    return dyn.UnderdampedLangevin(_harmonic(dtype), jnp.asarray(0.2, dtype),
                                   jnp.asarray(0.7, dtype), friction=jnp.asarray(1.0, dtype),
                                   mass=jnp.asarray(1.5, dtype))


def _baoab_law(model):
    k, h = np.asarray(model.energy.stiffness, float), np.asarray(model.energy.field, float)
    dt, t, m = float(model.dt), float(model.temperature), float(model.mass)
    return h / k, t / k, m * t * (1 - k * dt ** 2 / (4 * m))


def _underdamped_init(key, kernel, model):
    mean, var, _ = _baoab_law(model)
    dtype = model.energy.stiffness.dtype
    k_x, k_p = jax.random.split(key)
    x0 = mean + np.sqrt(var) * jax.random.normal(k_x, (2,), dtype)
    return kernel.init(k_p, model, x0.astype(dtype))          # momentum ~ N(0, m T)


def _baoab_moments(model, state):
    x, p = state.position, state.momentum
    return jnp.concatenate([x, x ** 2, p ** 2])


def _baoab_exact(model):
    mean, var, p_var = _baoab_law(model)
    return np.concatenate([mean, mean ** 2 + var, p_var])


# --------------------------------------------------------------------- gradient flow

def _gradient_flow(dtype):
    return dyn.GradientFlow(_harmonic(dtype), jnp.asarray(0.1, dtype))


def _random_start(key, kernel, model):
    dtype = jax.tree.leaves(model.energy)[0].dtype
    n = jax.tree.leaves(model.energy)[0].shape[0]
    return kernel.init(key, model, jax.random.normal(key, (n,), dtype) + 1.0)


class Tilt(eqx.Module):
    """H(x) = -h.x (on the sphere: descends to x = sqrt(N) h/|h|)."""

    field: jax.Array

    def __call__(self, x):
        return -jnp.dot(self.field, x)


def _sphere_flow(dtype):
    return dyn.GradientFlow(Tilt(jnp.asarray([0.3, -0.4, 1.2], dtype)),
                            jnp.asarray(0.05, dtype), method="heun", spherical=True)


def _alignment(model, state):
    return jnp.stack([jnp.dot(model.energy.field, state.position), state.mu])


# ----------------------------------------------------------------------------- SGD

def _sgd(dtype):
    rng = np.random.default_rng(0)                  # a linear teacher with noise, MSE
    x = rng.normal(size=(24, 3))
    y = x @ np.array([[0.5], [-1.0], [0.3]]) + 0.1 * rng.normal(size=(24, 1))
    x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
    task = dyn.SupervisedTask(x[:16], y[:16], x[16:], y[16:], "mse")
    return dyn.MinibatchSGD(task, jnp.asarray(0.1, dtype), 4,
                            momentum=jnp.asarray(0.5, dtype))


def _sgd_init(key, kernel, model):
    net = dyn.masked_mlp(jax.random.key(1), 3, 1, 4, 3, dtype=model.task.x_train.dtype)
    return kernel.init(key, model, net)


def _sgd_observable(model, state):
    return jnp.stack([state.loss, jnp.sum(state.network.flat_parameters() ** 2)])


CASES = [
    KernelCase(
        name="overdamped-langevin-harmonic",
        kernel=dyn.OverdampedLangevinKernel(),
        make_model=_overdamped,
        init=_overdamped_init,
        hyperparameter=(_set("temperature"), (0.3, 0.7, 1.5)),
        observable=_moments,
        exact=_overdamped_exact,
        n_chains=64, n_burn=20, n_steps=400),
    KernelCase(
        name="baoab-harmonic",
        kernel=dyn.UnderdampedLangevinKernel(),
        make_model=_underdamped,
        init=_underdamped_init,
        hyperparameter=(_set("dt"), (0.05, 0.1, 0.2)),
        observable=_baoab_moments,
        exact=_baoab_exact,
        n_chains=64, n_burn=40, n_steps=400),
    KernelCase(
        name="gradient-flow-euler",
        kernel=dyn.GradientFlowKernel(),
        make_model=_gradient_flow,
        init=_random_start,
        hyperparameter=(_set("dt"), (0.05, 0.1, 0.2)),
        observable=lambda m, s: s.position,
        exact=None),
    KernelCase(
        name="gradient-flow-sphere-heun",
        kernel=dyn.GradientFlowKernel(),
        make_model=_sphere_flow,
        init=_random_start,
        hyperparameter=(_set("dt"), (0.02, 0.05, 0.1)),
        observable=_alignment,
        exact=None),
    KernelCase(
        name="minibatch-sgd",
        kernel=dyn.MinibatchSGDKernel(),
        make_model=_sgd,
        init=_sgd_init,
        hyperparameter=(_set("learning_rate"), (0.05, 0.1, 0.2)),
        observable=_sgd_observable,
        exact=None),
]
