"""Typed public signatures (issue 16): every public function annotates its parameters and
result with jaxtyping types (physjax/_array_types.py), and the suite runs under the runtime
type checker of tests/typecheck.py, whose policy is tested here on planted functions."""

import importlib
import inspect
import os
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, ArrayLike, Float, TypeCheckError, jaxtyped

import physjax
from physjax._array_types import Scalar
from tests.helpers import public_functions
from tests.typecheck import physjax_checker

ALL = public_functions()
checked = jaxtyped(typechecker=physjax_checker)


def _unannotated(fn):
    sig = inspect.signature(fn)
    missing = [p.name for p in sig.parameters.values()
               if p.annotation is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if sig.return_annotation is sig.empty:
        missing.append("return")
    return missing


def test_every_public_function_annotates_its_parameters_and_result():
    gaps = {name: m for name, fn in ALL.items() if (m := _unannotated(fn))}
    assert not gaps, f"{len(gaps)} public functions lack annotations: {gaps}"


def test_no_public_parameter_is_a_bare_float():
    """Numeric hyperparameters may be traced (a 0-d array under vmap): annotate them
    ``Scalar``, not ``float``, or the type checker rejects every traced call."""
    bare = {name: [p.name for p in inspect.signature(fn).parameters.values()
                   if p.annotation in (float, "float")]
            for name, fn in ALL.items()}
    bare = {k: v for k, v in bare.items() if v}
    assert not bare, bare


@pytest.mark.skipif(os.environ.get("PHYSJAX_TEST_TYPECHECK", "1") == "0",
                    reason="the suite runs without the type checker")
def test_the_suite_runs_physjax_under_the_type_checker():
    wrapped = [name for name, fn in ALL.items() if hasattr(fn, "__wrapped__")]
    assert len(wrapped) > 0.9 * len(ALL), "jaxtyping's import hook is not installed"


# ------------------------------------------------- the checker's policy, on planted code


@checked
def centred(x: Float[ArrayLike, " n"], scale: Scalar) -> Float[Array, " n"]:
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be a vector, got shape {x.shape}")
    return scale * (x - x.mean())


@checked
def lying_result(x: Float[ArrayLike, " n"]) -> Float[Array, " n"]:
    return jnp.concatenate([jnp.asarray(x), jnp.zeros(1)])


@checked
def too_narrow(x: Float[ArrayLike, "n n"]) -> Float[Array, ""]:
    return jnp.sum(jnp.asarray(x))     # accepts any shape although the annotation says n x n


@checked
def _private_helper(x: Float[ArrayLike, "n n"]) -> Float[Array, "n n"]:
    return jnp.sum(jnp.asarray(x))


def test_valid_calls_pass_eagerly_traced_and_vmapped():
    x = np.arange(4.0)
    np.testing.assert_allclose(centred(x, 2.0), 2 * (x - 1.5))
    np.testing.assert_allclose(jax.jit(centred)(x, 2.0), 2 * (x - 1.5))
    out = jax.vmap(centred, in_axes=(None, 0))(x, jnp.array([1.0, 2.0]))
    assert out.shape == (2, 4)


def test_a_wrong_result_shape_fails_the_call():
    with pytest.raises(TypeCheckError, match="return value"):
        lying_result(np.ones(3))


def test_bad_input_still_gets_the_functions_own_error():
    with pytest.raises(ValueError, match="x must be a vector"):
        centred(np.ones((2, 2)), 1.0)


def test_an_annotation_narrower_than_the_function_fails():
    assert float(too_narrow(np.ones((2, 2)))) == 4.0
    with pytest.raises(TypeCheckError):
        too_narrow(np.ones(3))            # accepted by the body, rejected by the annotation


def test_private_functions_are_not_checked():
    assert float(_private_helper(np.ones(3))) == 3.0


def test_option_aliases_are_exported_and_validate():
    """docs/ARCHITECTURE.md (Types): every rule-name alias of ``physjax/_options.py`` is
    public through a family's ``__all__`` and is what the validation checks against
    (``check_choice``, or ``get_args`` in a message): the names are written once."""
    import pkgutil
    import typing

    from physjax import _options

    public = set()
    for info in pkgutil.walk_packages(physjax.__path__, "physjax."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        public.update(getattr(importlib.import_module(info.name), "__all__", ()))
    sources = "\n".join(p.read_text() for p in Path(physjax.__file__).parent.rglob("*.py"))
    for name in _options.__all__:
        alias = getattr(_options, name)
        assert typing.get_origin(alias) is typing.Literal and typing.get_args(alias), name
        if name != "GraphKind":          # an experiment's option (experiments/networks.py)
            assert name in public, f"{name} is not exported by any public module"
        assert re.search(rf"check_choice\([^)]*\b{name}\)|get_args\({name}\)", sources), \
            f"nothing validates against {name}"
