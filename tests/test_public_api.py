"""docs/ARCHITECTURE.md (Tests): everything in ``__all__`` is covered by tests.  Each public
name of every physjax subpackage must be used in at least one test module (a textual check:
a name that no test mentions is certainly untested)."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

import physjax

TESTS = Path(__file__).resolve().parent
SOURCES = "\n".join(p.read_text() for p in TESTS.rglob("*.py"))
PACKAGES = [name for name in physjax.__all__ if name != "__version__"]


def _resolve(module, dotted):
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_used_by_a_test(package):
    module = importlib.import_module(f"physjax.{package}")
    names = getattr(module, "__all__", [])
    assert names, f"physjax.{package} has no __all__"
    # submodules re-exported in __all__ are checked through their own __all__
    for sub in [n for n in names if inspect.ismodule(getattr(module, n))]:
        names = names + [f"{sub}.{n}" for n in getattr(module, sub).__all__]
    # functions only: result types and constants are exercised through the functions
    names = [n.rsplit(".", 1)[-1] for n in names
             if inspect.isfunction(_resolve(module, n))]
    untested = [n for n in names if not re.search(rf"\b{re.escape(n)}\b", SOURCES)]
    assert not untested, f"physjax.{package}: no test uses {untested}"
