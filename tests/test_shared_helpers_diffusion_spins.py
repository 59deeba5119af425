"""The small input helpers shared by physjax.diffusion and physjax.spins."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax._checks import as_float_array, check_sample_matrix
from physjax.diffusion._common import check_real


def test_as_float_array_casts_only_non_floating_input():
    ints = as_float_array(np.arange(3))
    assert jnp.issubdtype(ints.dtype, jnp.floating)
    np.testing.assert_array_equal(ints, [0.0, 1.0, 2.0])
    f16 = jnp.ones(2, jnp.float16)
    assert as_float_array(f16).dtype == jnp.float16        # floating dtype kept
    assert as_float_array(True).dtype == jnp.result_type(float)
    out = jax.jit(as_float_array)(jnp.arange(2))           # traced input passes
    assert jnp.issubdtype(out.dtype, jnp.floating)


@pytest.mark.parametrize("bad", [True, None, "1.0"])
def test_check_real_rejects_non_numbers_naming_the_argument(bad):
    with pytest.raises(TypeError, match=r"^x must be a real thing, got "):
        check_real(bad, "x", "a real thing")


def test_check_real_dtype_and_tracers():
    with pytest.raises(TypeError, match="x must be a real thing, got dtype complex"):
        check_real(np.ones(2, complex), "x", "a real thing")
    np.testing.assert_array_equal(check_real([1, 2], "x", "a real thing"), [1, 2])
    seen = []
    jax.jit(lambda v: seen.append(check_real(v, "x", "a real thing")) or v)(jnp.ones(2))
    assert seen == [None]


@pytest.mark.parametrize("bad, error, message", [
    (np.ones((2, 3), complex), TypeError, r"^data must be a real numeric array, got dtype complex"),
    (np.array([["a", "b"]]), TypeError, r"^data must be a real numeric array, got dtype <U1"),
    (np.ones(3), ValueError, r"^data must have shape \(n_samples, dim=3\), got shape \(3,\)"),
    (np.ones((0, 3)), ValueError, r"^data holds n = 0 samples"),
])
def test_check_sample_matrix_names_the_argument(bad, error, message):
    with pytest.raises(error, match=message):
        check_sample_matrix(bad, "data", columns="dim=3")


def test_check_sample_matrix_passes_good_data_and_tracers():
    good = [[0, 1, 1], [1, 0, 1]]                          # lists, ints and bools pass
    assert check_sample_matrix(good, "data").shape == (2, 3)
    assert check_sample_matrix(np.ones((1, 2), bool), "data").dtype == np.bool_
    out = jax.jit(lambda v: check_sample_matrix(v, "data") * 2)(jnp.ones((2, 3)))
    np.testing.assert_array_equal(out, 2 * np.ones((2, 3)))
