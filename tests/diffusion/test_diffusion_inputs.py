"""Bad input: every error names the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.diffusion import (
    OU,
    VE,
    VP,
    CurieWeissScore,
    EmpiricalScore,
    GaussianMixtureScore,
    GaussianScore,
    ReverseKernel,
    clone,
    collapse_time_from_spectrum,
    collapsed_fraction,
    noise,
    reverse,
    same_class_probability,
    sample,
    simulate_forward,
    time_grid,
)

KEY = jax.random.key(0)


def _score(x, t):
    return -x


@pytest.mark.parametrize("build,arg", [
    (lambda: OU(T=0.0), "T"),
    (lambda: OU(T=-1.0), "T"),
    (lambda: OU(T=np.nan), "T"),
    (lambda: VP(beta_min=-0.1), "beta_min"),
    (lambda: VP(beta_min=2.0, beta_max=1.0), "beta_max"),
    (lambda: VP(beta_min=2.0, beta_max=2.0), "beta_max"),
    (lambda: VE(sigma_min=1.0, sigma_max=0.5), "sigma_max"),
    (lambda: VE(sigma_min=0.0), "sigma_min"),
])
def test_bad_schedules(build, arg):
    with pytest.raises(ValueError, match=arg):
        build()


def test_times_outside_the_horizon():
    s = OU(T=2.0)
    with pytest.raises(ValueError, match="t"):
        noise(KEY, s, jnp.zeros(3), -0.1)
    with pytest.raises(ValueError, match="t"):
        noise(KEY, s, jnp.zeros(3), 2.5)
    with pytest.raises(ValueError, match="n_steps"):
        simulate_forward(KEY, s, jnp.zeros(3), 100, 0.05)
    with pytest.raises(ValueError, match="t_end"):
        time_grid(s, 10, t_end=0.0)
    with pytest.raises(ValueError, match="t_start"):
        time_grid(s, 10, t_start=3.0)
    with pytest.raises(ValueError, match="spacing"):
        time_grid(s, 10, spacing="cubic")


@pytest.mark.parametrize("times", [
    [1.0, 1.0, 0.5],        # not strictly decreasing
    [0.5, 1.0, 1.5],        # increasing
    [1.0, 0.5, 0.0],        # reaches 0
    [3.0, 1.0, 0.1],        # beyond T
    [1.0],                  # too short
])
def test_bad_time_grid(times):
    with pytest.raises(ValueError, match="times"):
        reverse(KEY, OU(T=2.0), _score, jnp.zeros((4, 3)), jnp.asarray(times))


def test_bad_score():
    s = OU(T=2.0)
    grid = time_grid(s, 5)
    with pytest.raises(ValueError, match="score"):
        reverse(KEY, s, lambda x, t: jnp.zeros(x.shape[0] + 1), jnp.zeros((4, 3)), grid)
    with pytest.raises(ValueError, match="score"):
        reverse(KEY, s, lambda x, t: jnp.sum(x), jnp.zeros((4, 3)), grid)
    with pytest.raises(TypeError, match="score"):
        reverse(KEY, s, "not a function", jnp.zeros((4, 3)), grid)
    with pytest.raises(TypeError, match="score"):
        reverse(KEY, s, lambda x: x, jnp.zeros((4, 3)), grid)
    with pytest.raises(TypeError, match="score"):      # a score built for d = 5
        sample(KEY, s, GaussianScore(s, jnp.zeros(5), 1.0), 4, 3, n_steps=5)
    with pytest.raises(ValueError, match="score"):
        clone(KEY, s, lambda x, t: x[:2], jnp.zeros((4, 3)), 1.0)


def test_bad_backward_options():
    s = OU(T=2.0)
    with pytest.raises(ValueError, match="process"):
        ReverseKernel(process="forward")
    with pytest.raises(ValueError, match="method"):
        ReverseKernel(method="rk4")
    with pytest.raises(ValueError, match="x"):
        reverse(KEY, s, _score, jnp.zeros(3), time_grid(s, 5))
    with pytest.raises(ValueError, match="n_clones"):
        clone(KEY, s, _score, jnp.zeros((4, 3)), 1.0, n_clones=0)
    with pytest.raises(ValueError, match="t"):
        clone(KEY, s, _score, jnp.zeros((4, 3)), 1e-4, t_end=1e-3)
    with pytest.raises(ValueError, match="t"):
        clone(KEY, s, _score, jnp.zeros((4, 3)), 5.0)


def test_bad_scores():
    s = OU()
    with pytest.raises(ValueError, match="data"):
        EmpiricalScore(s, jnp.zeros((0, 3)))
    with pytest.raises(ValueError, match="data"):
        EmpiricalScore(s, jnp.zeros(3))
    with pytest.raises(ValueError, match="data"):
        EmpiricalScore(s, jnp.array([[0.0, np.nan]]))
    with pytest.raises(TypeError, match="schedule"):
        EmpiricalScore("OU", jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="weights"):
        GaussianMixtureScore(s, [0.5, -0.5], jnp.zeros((2, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match="weights"):
        GaussianMixtureScore(s, [1.0], jnp.zeros((2, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match="means"):
        GaussianMixtureScore(s, [1.0], jnp.zeros(3), jnp.ones(1))
    with pytest.raises(ValueError, match="covariances"):
        GaussianMixtureScore(s, [1.0], jnp.zeros((1, 3)), jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="covariance"):
        GaussianScore(s, jnp.zeros(2), jnp.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="covariance"):
        GaussianScore(s, jnp.zeros(2), jnp.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="n_spins"):
        CurieWeissScore(s, 0, 1.0)
    with pytest.raises(ValueError, match="beta"):
        CurieWeissScore(s, 4, -1.0)


def test_bad_regime_inputs():
    with pytest.raises(ValueError, match="n"):
        collapse_time_from_spectrum(jnp.ones(4), 0)
    with pytest.raises(ValueError, match="eigenvalues"):
        collapse_time_from_spectrum(jnp.ones((2, 2)), 5)
    with pytest.raises(ValueError, match="training"):
        collapsed_fraction(jnp.zeros((3, 2)), jnp.zeros((0, 2)))
    with pytest.raises(ValueError, match="ratio"):
        collapsed_fraction(jnp.zeros((3, 2)), jnp.zeros((4, 2)), ratio=2.0)
    with pytest.raises(ValueError, match="labels"):
        same_class_probability(jnp.zeros((5, 1)))
