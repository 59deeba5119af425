"""Forward process: schedules and the exact OU transition (physics test 1 of issue 19)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.diffusion import OU, VE, VP, noise, simulate_forward
from physjax.diffusion.forward import ForwardEulerMaruyama, ForwardSDE
from physjax.kernels import run


def _closed_form(schedule, t):
    """Transition moments written out independently of the package."""
    if isinstance(schedule, OU):
        return np.exp(-t), 1 - np.exp(-2 * t)
    if isinstance(schedule, VP):
        b0, b1, T = float(schedule.beta_min), float(schedule.beta_max), float(schedule.T)
        B = b0 * t + (b1 - b0) * t**2 / (2 * T)
        return np.exp(-B / 2), 1 - np.exp(-B)
    s0, s1, T = float(schedule.sigma_min), float(schedule.sigma_max), float(schedule.T)
    return np.ones_like(t), (s0 * (s1 / s0) ** (t / T)) ** 2 - s0**2


@pytest.mark.parametrize("schedule", [OU(T=2.0), VP(0.1, 20.0, 1.0), VE(0.01, 5.0, 1.0)],
                         ids=["OU", "VP", "VE"])
def test_simulated_forward_sde_matches_closed_form(schedule):
    """Euler-Maruyama forward SDE vs x_t ~ N(a_t x0, Delta_t) at three times (4 sigma)."""
    n, x0 = 20_000, 1.5
    T = float(schedule.T)
    n_steps, every = 900, 300
    dt = 0.75 * T / n_steps
    res = simulate_forward(jax.random.key(0), schedule, jnp.full((n,), x0), n_steps, dt,
                           record_every=every)
    times = np.asarray(res.times)
    np.testing.assert_allclose(times, dt * every * np.arange(1, 4), rtol=1e-4)
    a, var = _closed_form(schedule, times)
    x = np.asarray(res.x, np.float64)
    mean_err = np.abs(x.mean(1) - a * x0) / np.sqrt(var / n)
    var_err = np.abs(x.var(1, ddof=1) - var) / (var * np.sqrt(2 / (n - 1)))
    assert np.all(mean_err < 4), mean_err
    assert np.all(var_err < 4), var_err


@pytest.mark.parametrize("schedule", [OU(T=3.0), VP(0.1, 20.0, 1.0), VE(0.01, 5.0, 1.0)],
                         ids=["OU", "VP", "VE"])
def test_exact_transition_sampler(schedule):
    t = 0.4 * float(schedule.T)
    n = 100_000
    x = np.asarray(noise(jax.random.key(1), schedule, jnp.full((n,), -0.7), t), np.float64)
    a, var = _closed_form(schedule, np.float64(t))
    assert abs(x.mean() - a * (-0.7)) < 4 * np.sqrt(var / n)
    assert abs(x.var() - var) < 4 * var * np.sqrt(2 / n)


@pytest.mark.parametrize("schedule", [OU(T=3.0), VP(0.1, 20.0, 1.0), VE(0.01, 5.0, 1.0)],
                         ids=["OU", "VP", "VE"])
def test_schedule_is_consistent_with_its_sde(schedule):
    """a_t and Delta_t solve the moment equations of dx = -lambda x dt + g dW:
    da/dt = -lambda a, dDelta/dt = -2 lambda Delta + g^2 (central finite differences), and
    they match the closed forms; noise_to_signal inverts."""
    jax.config.update("jax_enable_x64", True)
    try:
        T = float(schedule.T)
        s = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), schedule)
        h = 1e-6 * T
        for t in np.array([0.1, 0.35, 0.8]) * T:
            a, var = _closed_form(schedule, t)
            np.testing.assert_allclose(float(s.mean_scale(t)), a, rtol=1e-10)
            np.testing.assert_allclose(float(s.variance(t)), var, rtol=1e-10)
            da = (float(s.mean_scale(t + h)) - float(s.mean_scale(t - h))) / (2 * h)
            dv = (float(s.variance(t + h)) - float(s.variance(t - h))) / (2 * h)
            lam = -float(s.drift(jnp.ones(()), t))
            g2 = float(s.diffusion(t)) ** 2
            np.testing.assert_allclose(da, -lam * a, rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(dv, -2 * lam * var + g2, rtol=1e-6)
            r = float(s.noise_to_signal(t))
            np.testing.assert_allclose(r, var / a**2, rtol=1e-10)
            np.testing.assert_allclose(float(s.time_at_noise_to_signal(r)), t, rtol=1e-9)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_vp_with_constant_beta_is_ou():
    vp = VP(2.0 - 1e-6, 2.0 + 1e-6, 5.0)
    t = jnp.linspace(0.1, 4.0, 7)
    np.testing.assert_allclose(vp.mean_scale(t), OU(5.0).mean_scale(t), rtol=1e-5)
    np.testing.assert_allclose(vp.variance(t), OU(5.0).variance(t), rtol=1e-5)


def test_schedules_trace_and_vmap():
    """Hyperparameters are arrays: a vmap over horizons and a jitted transition."""
    Ts = jnp.array([1.0, 2.0, 4.0])
    a = jax.vmap(lambda T: OU(T).mean_scale(0.5 * T))(Ts)
    np.testing.assert_allclose(a, np.exp(-0.5 * np.asarray(Ts)), rtol=1e-6)
    f = jax.jit(lambda bmax: VP(0.1, bmax, 1.0).variance(0.5))
    np.testing.assert_allclose(f(20.0), 1 - np.exp(-(0.05 + 19.9 / 8)), rtol=1e-5)


def test_forward_kernel_on_the_run_loop_with_traced_step():
    kernel = ForwardEulerMaruyama()

    @jax.jit
    def final_var(dt):
        model = ForwardSDE(OU(2.0), dt)
        st = kernel.init(None, model, jnp.zeros(4000))
        return jnp.var(run(kernel, jax.random.key(2), model, st, 200,
                           record_every=200).state.x)

    v = float(final_var(jnp.asarray(0.005)))       # t = 1
    assert abs(v - (1 - np.exp(-2))) < 4 * (1 - np.exp(-2)) * np.sqrt(2 / 4000)
