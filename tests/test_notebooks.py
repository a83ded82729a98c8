"""The example notebooks in docs/notebooks run top to bottom on tiny data, use only the public API,
and are committed without outputs.

Each notebook's sizes live in its first code cell, tagged ``parameters``; the test inserts a cell
after it with tiny values (as papermill injects parameters) and runs the notebook with nbclient in
a kernel of this interpreter: ipykernel's own ``python3`` kernel spec, whose ``python`` jupyter_client
runs as ``sys.executable``, so no kernel needs installing. The first injected line checks that the
kernel runs in this environment."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "docs" / "notebooks"

TINY = {
    "01-model-to-masks.ipynb": "SIZE = 16; TRAIN_PER_CLASS = 10; EPOCHS = 1; IMAGES_PER_CLASS = 1; MAX_STEPS = 20",
    "02-compare-two-models.ipynb": (
        "SIZE = 16; TRAIN_PER_CLASS = 10; EPOCHS = 1; IMAGES_PER_CLASS = 1; MAX_STEPS = 20; BANDS = 4"
    ),
    "03-heat-map-and-cutoff-sweep.ipynb": (
        "SIZE = 16; TRAIN_PER_CLASS = 10; EPOCHS = 1; IMAGES = 12; HEAT_MAP_EPS = 2.0; RADII = 3; SWEEP_EPS = (0.0, 0.01)"
    ),
}

# What the last cell of each notebook must show (its HTML table).
LAST_OUTPUT = {
    "01-model-to-masks.ipynb": ("Masked accuracy of the single-image masks", "M(X) [%]", "<td>N</td>"),
    "02-compare-two-models.ipynb": ("low-frequency energy [%]", "<td>N</td>", "<td>A</td>"),
    "03-heat-map-and-cutoff-sweep.ipynb": ("halving radius [Nyquist]", "<td>low-pass</td>", "<td>high-pass</td>"),
}


def _read(name: str):
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def test_every_notebook_is_covered():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_is_committed_clean_with_one_parameters_cell(name):
    notebook = _read(name)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "clear the outputs"
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0]
    for assignment in TINY[name].split(";"):  # the test overrides names the notebook defines
        assert f"\n{assignment.split('=')[0].strip()} = " in f"\n{tagged[0].source}"


@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_imports_only_public_names(name):
    for cell in _read(name).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fourier_masks"):
                module = importlib.import_module(node.module)
                public = getattr(module, "__all__", None)
                assert public is not None, f"{node.module} is not a public face"
                missing = [alias.name for alias in node.names if alias.name not in public]
                assert not missing, f"{name}: {missing} not in {node.module}.__all__"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(TINY))
def test_notebook_runs_on_tiny_data(name, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("pandas")
    notebook = _read(name)
    index = next(k for k, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    check = f"import sys; assert sys.prefix == {sys.prefix!r}, sys.prefix\n"
    injected = nbformat.v4.new_code_cell(check + TINY[name], metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, injected)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    last = notebook.cells[-1]
    html = "".join(output.get("data", {}).get("text/html", "") for output in last.outputs)
    for text in LAST_OUTPUT[name]:
        assert text in html, f"{name}: the last cell shows no {text!r}"
