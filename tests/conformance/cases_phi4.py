"""The φ⁴ lattice field kernels (physjax.spins.phi4) in the conformance table.

At λ = 0 the action is the Gaussian free field S = φᵀKφ/2 with
K = 2·1 − 2κ Σ_μ (T_μ + T_μ⁻¹) (T_μ the periodic shift along μ; on a side of length 2
T_μ = T_μ⁻¹, so that pair counts twice, as in the action's ``roll`` convention), whose law
is N(0, K⁻¹).  K is built here from shift matrices, independently of the library.

* MALA (adjusted Langevin), checkerboard Metropolis and HMC are exact: the stationary law is
  N(0, K⁻¹) at any step size.
* Unadjusted Euler–Maruyama Langevin, φ' = (1 − εK)φ + √(2ε)ξ, is an AR(1) chain whose
  stationary covariance solves C = (1 − εK)C(1 − εK) + 2ε, i.e. C = K⁻¹(1 − εK/2)⁻¹ (the
  exact law of the discrete scheme, not the continuous one).

Lattice 2 × 4 (8 sites, even sides for the checkerboard), κ = 0.1 (2dκ = 0.4 < 1).
Statistics: the magnetization per site m, the site average of φ², m² and the neighbour
product φ₀₀φ₀₁, whose exact means are 0, tr(C)/V, 1ᵀC1/V² and C[00, 01].
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import physjax.spins as ps
from tests.conformance._case import KernelCase

SHAPE = (2, 4)
V = 8
KAPPA = 0.1


def _K(kappa, xp=np):
    """The quadratic form of the λ = 0 action on the 2 × 4 periodic lattice."""
    idx = np.arange(V).reshape(SHAPE)
    hop = np.zeros((V, V))
    for axis in range(2):
        for s in (1, -1):
            nb = np.roll(idx, s, axis).ravel()       # the neighbour of site x along ±μ
            hop[idx.ravel(), nb] += 1.0
    return 2.0 * xp.eye(V) - 2.0 * kappa * xp.asarray(hop)


def _model(step_size, trajectory_length=1.0):
    def make(dtype):
        action = ps.Phi4(SHAPE, jnp.asarray(KAPPA, dtype), jnp.asarray(0.0, dtype))
        return ps.Phi4Steps(action, jnp.asarray(step_size, dtype),
                            jnp.asarray(trajectory_length, dtype))
    return make


def _covariance(model, adjusted=True):
    K = _K(float(model.action.kappa))
    C = np.linalg.inv(K)
    if not adjusted:                                 # Euler--Maruyama bias, exact
        eps = float(model.step_size)
        C = C @ np.linalg.inv(np.eye(V) - 0.5 * eps * K)
    return C


def _init(key, kernel, model):
    """A draw from N(0, K⁻¹) (the exact law), so little burn-in is needed."""
    kappa = model.action.kappa
    L = jnp.linalg.cholesky(jnp.linalg.inv(_K(kappa, jnp).astype(kappa.dtype)))
    phi = L @ jax.random.normal(key, (V,), kappa.dtype)
    return kernel.init(key, model, field=phi.reshape(SHAPE))


def _statistics(model, state):
    phi = state.field
    m = jnp.mean(phi)
    return jnp.stack([m, jnp.mean(phi * phi), m * m, phi[0, 0] * phi[0, 1]])


def _exact(adjusted=True):
    def exact(model):
        C = _covariance(model, adjusted)
        return np.array([0.0, np.trace(C) / V, C.sum() / V**2, C[0, 1]])
    return exact


def _set(*path):
    def set_value(model, value):
        def where(m):
            for p in path:
                m = getattr(m, p)
            return m
        return eqx.tree_at(where, model, value)
    return set_value


CASES = [
    KernelCase(
        name="phi4-mala-free-field",
        kernel=ps.Phi4Langevin(),
        make_model=_model(0.3),
        init=_init,
        hyperparameter=(_set("step_size"), (0.1, 0.3, 0.5)),
        observable=_statistics,
        exact=_exact(),
        n_chains=64, n_burn=20, n_steps=300),
    KernelCase(
        name="phi4-langevin-unadjusted-free-field",
        kernel=ps.Phi4Langevin(adjusted=False),
        make_model=_model(0.2),
        init=_init,
        hyperparameter=(_set("action", "kappa"), (0.05, 0.1, 0.15)),
        observable=_statistics,
        exact=_exact(adjusted=False),
        n_chains=64, n_burn=40, n_steps=300),
    KernelCase(
        name="phi4-metropolis-free-field",
        kernel=ps.Phi4Metropolis(),
        make_model=_model(1.5),
        init=_init,
        hyperparameter=(_set("action", "kappa"), (0.05, 0.1, 0.15)),
        observable=_statistics,
        exact=_exact(),
        n_chains=64, n_burn=20, n_steps=300),
    KernelCase(
        name="phi4-hmc-free-field",
        kernel=ps.Phi4HMC(),
        make_model=_model(0.25, 1.0),
        init=_init,
        # the step sets the traced number of leapfrog steps round(τ/ε) = 5, 4, 2
        hyperparameter=(_set("step_size"), (0.2, 0.25, 0.5)),
        observable=_statistics,
        exact=_exact(),
        n_chains=64, n_burn=20, n_steps=300),
]
