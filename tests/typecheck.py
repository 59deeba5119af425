"""The runtime type checker the test suite runs physjax under.

``tests/conftest.py`` installs jaxtyping's import hook over the ``physjax`` package with
:func:`physjax_checker` (beartype underneath) before any test imports physjax, so every
public function's jaxtyping annotations (``Float[Array, "n n"]`` and friends, see
``physjax/_array_types.py``) are checked on every call the suite makes; ``PHYSJAX_TEST_TYPECHECK=0``
turns it off.  The policy (docs/ARCHITECTURE.md, "Types"):

* **Public functions and methods only** -- no leading underscore in the name, not nested in
  another function, and (for module-level functions) not in a shared ``_``-module.  Private
  helpers keep their annotations as documentation.
* **Results are checked strictly**: a result whose type, dtype kind or shape disagrees with
  the return annotation (or with the shapes the parameters bound) fails the call.
* **Parameters defer to physjax's own validation.**  A call whose arguments break the
  annotation is handed to the function first, so bad input still raises physjax's
  ``ValueError``/``TypeError`` naming the argument (the message users see without the
  hook).  If the function instead *accepts* the call, the result check -- which re-checks
  the parameters -- fails it: the annotation claimed a narrower domain than the function
  has, and is wrong.  Every public function therefore annotates its result (a test in
  ``tests/test_typing.py`` holds that).
"""

from __future__ import annotations

import inspect
from typing import Any

from beartype import beartype
from beartype.roar import BeartypeCallHintViolation


def _is_public(fn) -> bool:
    """A public function or method: no part of its qualified name starts with ``_``, and a
    module-level function does not live in a shared ``_``-module (``physjax._checks``
    helpers are internal; methods of the public classes defined in ``_spring_core`` are not)."""
    qualname = getattr(fn, "__qualname__", "_")
    module = getattr(fn, "__module__", None) or "_"
    if "<locals>" in qualname or any(part.startswith("_") for part in qualname.split(".")):
        return False
    return "." in qualname or not any(part.startswith("_") for part in module.split("."))


def physjax_checker(fn):
    """The ``typechecker`` jaxtyping applies to each function it wraps.

    jaxtyping calls it on two stand-ins of each function: one taking only the parameters,
    and one that also takes the result as a last keyword-only argument (``ret``, typed
    ``Any``) and returns it (jaxtyping 0.3, ``_make_fn_with_signature``).
    """
    if not _is_public(fn):
        return fn
    checked = beartype(fn)
    parameters = list(inspect.signature(fn).parameters.values())
    if parameters and parameters[-1].kind is inspect.Parameter.KEYWORD_ONLY \
            and parameters[-1].name.startswith("ret") and parameters[-1].annotation is Any:
        return checked                                  # parameters and result: strict

    def parameters_defer_to_physjax(*args, **kwargs):
        try:
            checked(*args, **kwargs)
        except BeartypeCallHintViolation:
            pass     # the function's own checks speak first; the result check catches the rest

    return parameters_defer_to_physjax
