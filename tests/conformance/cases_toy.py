"""The run loop's own toy kernel (Gaussian AR(1)), so the table runs before any family joins."""

import jax.numpy as jnp

from tests.conformance._case import KernelCase
from tests.test_kernels import AR1, ARKernel


def _model(dtype):
    return AR1(jnp.asarray(0.5, dtype), jnp.asarray(1.5, dtype))


def _init(key, kernel, model):
    return kernel.init(key, model, jnp.zeros((), model.a.dtype))


CASES = [
    KernelCase(
        name="ar1-gaussian",
        kernel=ARKernel(),
        make_model=_model,
        init=_init,
        hyperparameter=(lambda m, v: AR1(m.a, v), (0.5, 1.0, 2.0)),
        observable=lambda m, s: jnp.stack([s.x, s.x ** 2]),
        exact=lambda m: [0.0, float(m.scale) ** 2],
        n_chains=64, n_burn=20, n_steps=200),
]
