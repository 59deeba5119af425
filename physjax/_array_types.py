"""Array types for physjax's public signatures (jaxtyping), shared by every family.

The convention (docs/ARCHITECTURE.md, "Types"):

* **Inputs** are annotated with what the function accepts -- ``Float[ArrayLike, "n"]``: a
  JAX or NumPy array (a Python or NumPy scalar for shape ``""``); add ``| Sequence[...]``
  where the function converts lists.  **Results** with what it returns --
  ``Float[Array, "n"]``.  Dimension names are shared across one call's parameters and
  result, so ``(J: Float[ArrayLike, "n n"], s: Float[ArrayLike, "*batch n"]) ->
  Float[Array, "*batch"]`` states the whole shape contract.
* Dimension names say the physics: ``n`` nodes or spins, ``e`` edges (bonds), ``d`` space
  dimension or data dimension, ``k`` targets/patterns, ``r`` replicas or chains, ``t`` recorded
  times, ``p`` flat parameters, ``*batch`` leading vmapped axes.
* Numeric hyperparameters that may be traced (temperature, coupling, learning rate, time
  step, ...) are :data:`Scalar`, never ``float``: under ``jax.vmap``/``jax.jit`` they arrive
  as 0-d arrays.  Sizes and step counts stay ``int``; rule names are the ``typing.Literal``
  aliases of ``physjax/_options.py`` (``UpdateRule``, ``LearningRule``, ...; static).
* Keys are :data:`Key` (new-style typed keys or legacy ``uint32[2]`` keys).
* Pytrees (model parameters, states) are :data:`PyTree`; Equinox modules and NamedTuples
  are annotated with their class.

The test suite runs every public function under jaxtyping's import hook with beartype
(``tests/typecheck.py``), so an annotation that disagrees with the code fails a test.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import (  # noqa: F401  (re-exported for the families)
    Array,
    ArrayLike,
    Bool,
    Float,
    Int,
    Integer,
    Num,
    PRNGKeyArray,
    Real,
    Shaped,
)

#: A real number that may be traced: Python/NumPy scalar or 0-d array.
Scalar = Real[ArrayLike, ""]
#: A PRNG key: ``jax.random.key`` (typed) or ``jax.random.PRNGKey`` (uint32[2]).
Key = PRNGKeyArray
#: Any pytree of arrays (parameters, states).
PyTree = Any
#: A static size or count: a Python int, or a NumPy integer (both pass ``operator.index``).
Size = int | np.integer
#: Node or bond indices: an integer array or a Python sequence of ints.
Indices = Int[ArrayLike, "_k"] | Sequence[int]

__all__ = ["Array", "ArrayLike", "Bool", "Float", "Indices", "Int", "Integer", "Key", "Num",
           "PRNGKeyArray", "PyTree", "Real", "Scalar", "Shaped", "Size"]
