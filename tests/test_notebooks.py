"""Execute every notebook in ``notebooks/`` at quick size (``PHYSJAX_NOTEBOOK_QUICK=1``).

The kernel is a temporary kernelspec whose ``argv`` is this interpreter (``sys.executable``),
so the notebooks import the physjax under test, whatever ``python`` is on ``PATH``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNEL_NAME = "physjax-test"
TIMEOUT_S = 240  # per cell; the quick notebooks take well under a minute in all


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernelspec running ``sys.executable -m ipykernel_launcher``, found first on
    ``JUPYTER_PATH``; plus the environment the notebooks read."""
    prefix = tmp_path / "jupyter"
    kernelspec.install(kernel_name=KERNEL_NAME, prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("PHYSJAX_NOTEBOOK_QUICK", "1")
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    return KERNEL_NAME


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: store notebooks without outputs "
                "(jupyter nbconvert --clear-output --inplace)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, kernel_name):
    nb = nbformat.read(path, as_version=4)
    # A last cell reports which interpreter ran the notebook and whether it saw QUICK.
    check = nbformat.v4.new_code_cell(
        "import os, sys; print(sys.executable); print(os.environ['PHYSJAX_NOTEBOOK_QUICK'])")
    nb.cells.append(check)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors
    text = "".join(out.get("text", "") for out in check.outputs).split()
    assert Path(text[0]).resolve() == Path(sys.executable).resolve()
    assert text[1] == "1"
