"""A package that is light to depend on (issue 17).

The core (``pip install physjax``) installs jax, jaxlib, equinox, optax, lineax, optimistix,
jaxtyping, numpy, scipy and tqdm; matplotlib, scikit-learn, networkx and mpmath come with
the extras ``plot``, ``data``, ``graphs`` and ``exact`` and are imported inside the
functions that need them.  Installing the core into a fresh venv is too slow for the
suite, so these tests check the same thing through ``sys.modules`` in a subprocess: no
import of physjax or of a subpackage loads an optional package, and a missing one gives an
``ImportError`` that names the extra.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import physjax
from physjax._optional import EXTRAS, require

PACKAGE = Path(physjax.__file__).resolve().parent
OPTIONAL = ("matplotlib", "sklearn", "networkx", "mpmath")


def _run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (cwd: the package's parent); return the JSON it
    prints on its last line."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=300, cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_optional_table_matches_pyproject_extras():
    assert {m: e for m, (_, e) in EXTRAS.items()} == {
        "matplotlib": "plot", "sklearn": "data", "networkx": "graphs", "mpmath": "exact"}
    assert set(EXTRAS) == set(OPTIONAL)
    pyproject = (PACKAGE.parent / "pyproject.toml")
    if pyproject.exists():  # a source checkout
        import tomllib

        project = tomllib.loads(pyproject.read_text())["project"]
        core = " ".join(project["dependencies"])
        extras = project["optional-dependencies"]
        for dist, extra in EXTRAS.values():
            assert dist not in core, f"{dist} is a core dependency"
            assert any(r.startswith(dist) for r in extras[extra]), (dist, extra)
        assert extras["all"] == ["physjax[plot,data,exact,graphs]"]
        assert "physjax[all]" in extras["dev"]  # make test / make demo install .[dev]


def test_importing_physjax_and_its_subpackages_imports_no_optional_package():
    got = _run(f"""
        import importlib, json, sys
        import physjax
        lazy = sorted(m for m in sys.modules if m.startswith("physjax."))
        for name in physjax.__all__:
            if name != "__version__":
                importlib.import_module("physjax." + name)
                assert getattr(physjax, name).__name__ == "physjax." + name
        import physjax.experiments
        registered = len(physjax.experiments.names())   # imports every experiment module
        loaded = [m for m in {OPTIONAL!r} if m in sys.modules]
        print(json.dumps({{"lazy": lazy, "registered": registered, "loaded": loaded}}))
    """)
    assert got["loaded"] == [], f"imported optional packages: {got['loaded']}"
    assert got["registered"] > 0
    # `import physjax` alone loads no subpackage (they load on first use)
    assert got["lazy"] == []


def test_a_missing_optional_package_raises_an_error_naming_the_extra():
    # A None entry in sys.modules makes `import NAME` raise ImportError: the package is
    # "missing" for this interpreter only.
    got = _run(f"""
        import importlib, json, sys
        for name in {OPTIONAL!r}:
            sys.modules[name] = None
        import jax
        import physjax.datasets as pdata
        import physjax.graphs as pg
        import physjax.spins as ps

        calls = {{
            "exact": lambda: ps.onsager_energy_per_spin(2.0),
            "exact-kaufman": lambda: ps.exact_finite_lattice(4, 2.0),
            "data": lambda: pdata.binarized_digits(),
            "data-task": lambda: pdata.digits_task(jax.random.key(0)),
            "data-cnn": lambda: pdata.digits_data(jax.random.key(0)),
            "graphs": lambda: pg.random_regular(jax.random.key(0), 10, 3),
            "plot": lambda: importlib.import_module("physjax.plotting"),
        }}
        errors = {{}}
        for label, call in calls.items():
            try:
                call()
                errors[label] = None
            except ImportError as err:
                errors[label] = str(err)
        print(json.dumps(errors))
    """)
    expected = {"exact": ("mpmath", "exact"), "exact-kaufman": ("mpmath", "exact"),
                "data": ("scikit-learn", "data"), "data-task": ("scikit-learn", "data"),
                "data-cnn": ("scikit-learn", "data"),
                "graphs": ("networkx", "graphs"), "plot": ("matplotlib", "plot")}
    for label, (dist, extra) in expected.items():
        message = got[label]
        assert message is not None, f"{label}: no ImportError"
        assert f"needs {dist}" in message and f"pip install 'physjax[{extra}]'" in message, (
            label, message)
    assert got["plot"].startswith("physjax.plotting needs matplotlib")
    assert got["data-task"].startswith("physjax.datasets.digits_task needs scikit-learn")


def test_require_returns_the_module_and_names_the_extra():
    import json as json_module

    assert require("json", by="test") is json_module
    with pytest.raises(ImportError, match=r"physjax\.test needs no-such-pkg: pip install "
                                          r"'physjax\[all\]'"):
        require("no-such-pkg.sub", by="physjax.test")


def test_no_module_shadows_the_standard_library():
    # physjax/_random.py shadowed the C module `_random` that `random` imports when Python
    # ran from inside the package folder; it is now physjax/_counter_rng.py.
    # curvature/trace.py keeps its public name: the standard `trace` module is imported
    # neither at start-up nor by numpy or jax.
    allowed = {"curvature/trace.py"}
    clashes = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.stem in sys.stdlib_module_names]
    assert set(clashes) <= allowed, clashes
    assert not (PACKAGE / "_random.py").exists()
