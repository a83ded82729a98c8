"""The frequency-robustness commands end to end on the tiny trained model: what each prints and
keeps in the run (tables, arrays, figures), and their bad options."""

from __future__ import annotations

import numpy as np
import pytest
from test_bad_inputs import run_cli

from fourier_masks.core.cli import main as cli_main
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.runs.store import ResultsStore

DATA = ["--data", "builtin", "--size", "16", "--per-class", "3"]


@pytest.fixture
def run(tmp_path, trained_shapes_model):
    store = ResultsStore(tmp_path / "run")
    save_checkpoint(trained_shapes_model, store.model_path("N"))
    save_checkpoint(trained_shapes_model, tmp_path / "other.safetensors")
    store.release()
    return tmp_path / "run"


def _out(capsys, argv) -> str:
    code = cli_main([str(a) for a in [*argv, "--quiet"]])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.slow
def test_corruptions_command(run, capsys):
    other = run.parent / "other.safetensors"
    argv = ["corruptions", "--model", "N", "--model", f"B={other}", *DATA, "--out", run]
    out = _out(capsys, [*argv, "--corruptions", "gaussian_noise", "pixelate", "--severities", "1", "5"])
    assert "mCE" in out and "centroid" in out
    store = ResultsStore.open(run)
    assert {"corruptions", "corruption-errors", "corruption-summary", "corruption-spectra"} <= set(store.table_names())
    assert (store.figures_dir / "corruptions.png").is_file()
    assert len(store.load_table("corruptions").rows) == 2 * 2 * 2  # models × corruptions × severities


@pytest.mark.slow
def test_cutoff_sweep_command(run, capsys):
    argv = ["cutoff-sweep", "--model", "N", *DATA, "--out", run, "--radii", "0.25", "0.5", "1.4142", "--eps", "0"]
    out = _out(capsys, argv)
    assert "halving" in out.lower()
    store = ResultsStore.open(run)
    arrays = store.load_arrays("cutoff-sweep-N")
    assert arrays["low"].shape == arrays["high"].shape == (1, 3)
    assert np.isclose(arrays["low"][0, -1], arrays["unfiltered"][0])  # √2 low-pass keeps everything
    assert (store.figures_dir / "cutoff-sweep.png").is_file()


@pytest.mark.slow
def test_sensitivity_command_with_layers(run, capsys):
    out = _out(capsys, ["sensitivity", "--model", "N", *DATA, "--out", run, "--layers"])
    assert "of the input gradients' energy lies above 0.5 × Nyquist" in out
    store = ResultsStore.open(run)
    arrays = store.load_arrays("sensitivity-N")
    assert arrays["mean"].shape == (1, 16, 16) and arrays["profile"].shape[0] == 1
    assert {"sensitivity-N", "layer-spectra-N"} <= set(store.table_names())
    assert (store.figures_dir / "layer-spectra-N.png").is_file()


def test_bad_options(run, capsys):
    code, err = run_cli(capsys, ["cutoff-sweep", "--model", "N", *DATA, "--out", run, "--radii", "2"])
    assert code == 2 and "--radii" in err
    code, err = run_cli(capsys, ["corruptions", "--model", "N", *DATA, "--out", run, "--corruptions", "fog"])
    assert code == 2 and "fog" in err
    code, err = run_cli(capsys, ["corruptions", "--model", "N", "--model", "N", *DATA, "--out", run])
    assert code == 2 and "a second model named N; name each one as NAME=SPEC" in err
