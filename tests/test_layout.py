"""Layout rules of the package (docs/ARCHITECTURE.md, "Conventions" and "Layers"): shared
helpers live in ``_``-modules, so no physjax module reaches into another module's private
names; imports only run downwards, so no family imports ``datasets``, ``experiments``,
``plotting`` or ``cli``."""

import ast
from pathlib import Path

import physjax

ROOT = Path(physjax.__file__).parent


def _module_name(path: Path) -> str:
    parts = ("physjax", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _shared(module: str) -> bool:
    """A module that exists to be shared: its own name starts with ``_``."""
    return module.rsplit(".", 1)[-1].startswith("_")


def private_reaches() -> list[str]:
    """Every ``from m import _x`` and ``m._x`` in physjax where ``m`` is another physjax
    module whose name does not start with ``_``."""
    files = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p) for p in files}
    found = []
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        aliases = {}                       # local name -> physjax module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(path, node)
                if not target.startswith("physjax"):
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    if full in modules:
                        aliases[alias.asname or alias.name] = full
                    elif _is_private(alias.name) and not _shared(target):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {full}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("physjax") and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _is_private(node.attr)
                    and not _shared(aliases[node.value.id])):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses "
                             f"{aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_reaches_into_another_modules_private_names():
    assert private_reaches() == []


def _plant(tmp_path, monkeypatch, files: dict[str, str]) -> None:
    """A fake ``physjax`` package (with a ``fam`` subpackage) holding ``files``, scanned in
    place of the real one."""
    package = tmp_path / "physjax"
    (package / "fam").mkdir(parents=True)
    for name, text in {"__init__.py": "", "fam/__init__.py": "", **files}.items():
        (package / name).write_text(text)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", package)


def test_the_scan_sees_a_private_reach(tmp_path, monkeypatch):
    """The scanner itself: a planted violation (both forms) is found, a shared one is not."""
    _plant(tmp_path, monkeypatch, {
        "fam/a.py": "def _helper():\n    pass\n",
        "fam/_shared.py": "def _ok():\n    pass\n",
        "fam/b.py": "from physjax.fam.a import _helper\nfrom physjax.fam import a\n"
                    "from ._shared import _ok\nx = a._helper\n"})
    found = private_reaches()
    assert len(found) == 2, found
    assert all("physjax.fam.a._helper" in f for f in found)


# docs/ARCHITECTURE.md ("Layers"): imports only run downwards.  Above the families sit
# datasets.py (which builds the families' task types), experiments/, plotting.py and cli.py.
ABOVE_FAMILIES = ("physjax.datasets", "physjax.experiments", "physjax.plotting", "physjax.cli")
TOP_LEVEL = {"physjax", "physjax.__main__"}     # the package itself and `python -m physjax`


def _imported(path: Path) -> set[str]:
    """Every physjax module ``path`` imports (``import m``, ``from m import x``, also inside
    functions), with ``from m import x`` counted as both ``m`` and ``m.x``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(path, node)
            out |= {target} | {f"{target}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
    return {m for m in out if m == "physjax" or m.startswith("physjax.")}


def upward_imports() -> list[str]:
    """Every import of a module above the families by a family or the shared base."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        name = _module_name(path)
        if name in TOP_LEVEL or any(name == top or name.startswith(top + ".")
                                    for top in ABOVE_FAMILIES):
            continue
        for module in sorted(_imported(path)):
            if any(module == top or module.startswith(top + ".") for top in ABOVE_FAMILIES):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


def test_no_family_imports_a_layer_above_it():
    assert upward_imports() == []


def test_the_layer_scan_sees_an_upward_import(tmp_path, monkeypatch):
    _plant(tmp_path, monkeypatch, {
        "datasets.py": "from physjax.fam import a\n",                 # downwards: fine
        "fam/a.py": "def f():\n    from physjax import datasets\n",
        "fam/b.py": "from ..datasets import split_data\n"})
    assert upward_imports() == ["fam/a.py imports physjax.datasets",
                                "fam/b.py imports physjax.datasets",
                                "fam/b.py imports physjax.datasets.split_data"]
