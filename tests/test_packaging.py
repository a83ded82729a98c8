"""One distinctive import namespace: nothing installed under a generic top-level name, and a
research folder with its own ``core/`` and ``app/`` packages cannot shadow the engine."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_the_distribution_installs_one_top_level_package():
    provided = {name for name, dists in importlib.metadata.packages_distributions().items() if "fourier-masks" in dists}
    assert provided == {"fourier_masks"}


def test_pyproject_lists_every_sub_package():
    """setuptools installs only the packages listed under the mapped root: a sub-package added
    to the tree but not to ``pyproject.toml`` would work in an editable install and be missing
    from the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"fourier_masks"} | {
        "fourier_masks." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("core", "app", "resources")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert listed == found


@pytest.fixture
def research_folder(tmp_path: Path) -> Path:
    """A folder holding its own ``core`` and ``app`` packages, as research repositories do."""
    for name in ("core", "app", "resources"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"DECOY = {name!r}\n")
    return tmp_path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_folder_with_its_own_core_and_app_imports_ours(research_folder):
    code = (
        "import core, app\n"
        "assert core.DECOY == 'core' and app.DECOY == 'app'\n"  # the control: the folder's own packages win
        "import fourier_masks.core as engine, fourier_masks.app.launch, fourier_masks.resources as res\n"
        "from fourier_masks.core import learn_image_masks, ImageMaskConfig\n"
        "assert res.resource_path('icon.svg').is_file()\n"
        "print(engine.__file__)\n"
    )
    result = _run([sys.executable, "-c", code], research_folder)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(ROOT)


@pytest.mark.slow
def test_the_command_runs_from_a_folder_with_its_own_core_and_app(research_folder, tmp_path):
    """The console script and ``python -m fourier_masks`` both start the engine there (a
    ``blue-shift`` run: the quickest command that writes a run folder)."""
    script = Path(sys.executable).with_name("fourier-masks")
    out = tmp_path / "run"
    result = _run([str(script), "blue-shift", "--out", str(out)], research_folder)
    assert result.returncode == 0, result.stderr
    assert (out / "tables" / "blue-shift.csv").is_file()
    result = _run([sys.executable, "-m", "fourier_masks", "info", str(out)], research_folder)
    assert result.returncode == 0, result.stderr
    assert "run " in result.stdout
