"""``--json``: each command writes exactly one JSON document on standard output, holding the
numbers its text shows, and everything else on standard error (docs/json-output.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from fourier_masks.core.cli import main
from fourier_masks.core.cli.json_output import JSON_SCHEMA, emit, jsonable
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.tables import Table

DATA = ["--data", "builtin", "--size", "16", "--train-per-class", "4", "--val-per-class", "2"]


@pytest.fixture
def checkpoint(tmp_path, trained_shapes_model):
    return save_checkpoint(trained_shapes_model, tmp_path / "shapes16.pt")


@pytest.fixture
def untrained_checkpoint(tmp_path, tiny_model):
    """A small CNN's file, for what needs a model but not a trained one (``info``)."""
    return save_checkpoint(tiny_model, tmp_path / "tiny.pt")


def _document(capsys, argv: list[str], status: int = 0) -> tuple[dict, str]:
    """The one JSON document ``argv --json`` prints, and its standard error."""
    assert main([*argv, "--json"]) == status
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # the whole of stdout: one document, nothing else
    assert document["command"] == argv[0] and document["schema"] == JSON_SCHEMA
    assert isinstance(document["seconds"], float) and document["seconds"] >= 0
    return document, captured.err


# --- the machinery ------------------------------------------------------------------------------


def test_non_finite_numbers_become_null_and_numpy_values_plain_json(tmp_path):
    table = Table.build("t", "T", [("a", "%")])
    table.add_row(float("nan"))
    value = {
        "nan": math.nan,
        "inf": -math.inf,
        "array": np.array([1.5, np.nan]),
        "int": np.int64(3),
        "path": tmp_path,
        "table": table,
        1: (True, None),
    }
    assert jsonable(value) == {
        "nan": None,
        "inf": None,
        "array": [1.5, None],
        "int": 3,
        "path": str(tmp_path),
        "table": {"name": "t", "title": "T", "columns": [{"name": "a", "unit": "%"}], "rows": [[None]], "notes": ""},
        "1": [True, None],
    }
    with pytest.raises(TypeError, match="no JSON form for object"):
        jsonable(object())


def test_emit_writes_one_strict_document(capsys):
    emit("attack", {"success_rate": math.nan})
    text = capsys.readouterr().out
    assert "NaN" not in text
    assert json.loads(text) == {
        "command": "attack",
        "schema": JSON_SCHEMA,
        "cancelled": False,
        "seconds": None,
        "success_rate": None,
    }


def test_an_error_with_json_is_one_error_line_on_stderr_and_nothing_on_stdout(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.pt"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [line for line in captured.err.splitlines() if line.startswith("error:")] != []
    assert "Traceback" not in captured.err


# --- each command -------------------------------------------------------------------------------


def test_info_of_a_checkpoint(untrained_checkpoint, capsys):
    document, err = _document(capsys, ["info", str(untrained_checkpoint)])
    assert document["kind"] == "checkpoint" and document["format"] == "fourier-masks"
    assert document["path"] == str(untrained_checkpoint.absolute())
    assert document["model"]["labels"] == [f"c{k}" for k in range(6)]
    assert document["model"]["arch"] == "small_cnn" and document["model"]["in_channels"] == 1
    assert len(document["model"]["labels"]) == document["model"]["num_classes"]
    assert document["trusted_sources_only"] is False
    assert ": fourier-masks" in err  # the human text went to stderr


@pytest.mark.slow
def test_info_json_pipes_into_a_json_reader(untrained_checkpoint):
    """The acceptance line: ``fourier-masks info MODEL --json | python -c "json.load(sys.stdin)"``."""
    reader = "import json, sys; d = json.load(sys.stdin); print(d['command'], d['model']['arch'])"
    producer = subprocess.Popen(
        [sys.executable, "-m", "fourier_masks", "info", str(untrained_checkpoint), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    consumer = subprocess.run(
        [sys.executable, "-c", reader], stdin=producer.stdout, capture_output=True, text=True, timeout=120
    )
    assert producer.stdout is not None
    producer.stdout.close()
    _, err = producer.communicate(timeout=120)
    assert producer.returncode == 0, err
    assert consumer.returncode == 0, consumer.stderr
    assert consumer.stdout.split() == ["info", "small_cnn"]


@pytest.mark.slow
def test_attack(tmp_path, checkpoint, capsys):
    run = tmp_path / "run"
    argv = ["attack", "--model", str(checkpoint), *DATA, "--eps", "0.05", "--steps", "2", "--out", str(run)]
    document, err = _document(capsys, argv)
    assert document["run"] == str(run.absolute()) and document["model"] == "shapes16"
    assert document["attack"]["eps"] == 0.05 and document["attack"]["steps"] == 2
    assert document["images"] == 12 and document["cancelled"] is False
    assert 0 <= document["success_rate"] <= 1 and 0 <= document["clean_accuracy"] <= 1
    # The numbers are the ones the text (on stderr) shows.
    assert f"success rate {100 * document['success_rate']:.2f} %" in err
    assert f"clean accuracy {100 * document['clean_accuracy']:.2f} %" in err
    assert document["files"]["adversarial_images"] == str((run / "data" / "adversarial-shapes16.npz").absolute())
    assert (run / "data" / "adversarial-shapes16.npz").is_file()


@pytest.mark.slow
def test_attack_without_a_run(checkpoint, capsys):
    document, _ = _document(capsys, ["attack", "--model", str(checkpoint), *DATA, "--steps", "1", "--quiet"])
    assert document["run"] is None and document["files"]["adversarial_images"] is None


@pytest.mark.slow
def test_masks_set_and_class(tmp_path, checkpoint, capsys):
    run = tmp_path / "run"
    common = ["--model", str(checkpoint), *DATA, "--max-epochs", "1", "--out", str(run)]
    document, err = _document(capsys, ["masks", "set", *common])
    assert document["kind"] == "set" and document["group"] == "set/shapes16"
    assert document["run"] == str(run.absolute())
    assert f"kept {100 * document['kept_fraction']:.2f} % of frequencies" in err
    assert f"-> {100 * document['masked_accuracy']:.2f} % with the mask" in err
    assert document["epochs"] == 1 and document["config"]["max_epochs"] == 1
    assert document["files"]["masks"] == str((run / "masks" / "set" / "shapes16").absolute())
    assert "%" in err and "clean accuracy" in err  # the progress and notes stayed on stderr

    document, err = _document(capsys, ["masks", "class", *common, "--quiet"])
    classes = document["classes"]
    assert len(classes) == 6 and [c["index"] for c in classes] == list(range(6))
    first = classes[0]
    assert f"class {first['class']}: kept {100 * first['kept_fraction']:.2f} %" in err


@pytest.mark.slow
def test_masks_image(tmp_path, checkpoint, capsys):
    run = tmp_path / "run"
    argv = ["masks", "image", "--model", str(checkpoint), *DATA, "--per-class", "1", "--max-steps", "3"]
    document, err = _document(capsys, [*argv, "--out", str(run), "--quiet"])
    assert document["kind"] == "image" and document["group"] == "image/shapes16-clean"
    assert document["images"] == 6 and document["learned"] == 6 and document["already_done"] == 0
    assert document["median_steps"] <= 3 and 0 <= document["median_kept_fraction"] <= 1
    assert f"median kept fraction {100 * document['median_kept_fraction']:.2f} %" in err
    assert document["skipped"] == []
    # Again: every mask is there already; nothing learned, the numbers are null.
    document, _ = _document(capsys, [*argv, "--out", str(run), "--quiet"])
    assert document["learned"] == 0 and document["already_done"] == 6 and document["median_kept_fraction"] is None


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run with two trained models, their set masks and per-image masks (tiny)."""
    run = str(tmp_path_factory.mktemp("json") / "run")
    assert main(["train", *DATA, "--epochs", "1", "--augment", "none", "scale", "--out", run, "--quiet"]) == 0
    for model in ("N", "S"):
        assert main(["masks", "set", "--model", model, *DATA, "--max-epochs", "1", "--out", run, "--quiet"]) == 0
    assert main(["masks", "image", "--model", "N", *DATA, "--max-steps", "3", "--out", run, "--quiet"]) == 0
    return run


@pytest.mark.slow
@pytest.mark.parametrize("command", ["evaluate", "energy", "clusters", "report"])
def test_run_reports(trained_run, command, capsys):
    document, err = _document(capsys, [command, "--run", trained_run, "--bands", "4", "--force", "--quiet"])
    store = ResultsStore(trained_run, create=False, lock=False)
    assert document["run"] == str(store.root.absolute()) and document["reference"] == "N"
    assert document["tables"], document
    for name, table in document["tables"].items():
        assert table == json.loads(json.dumps(jsonable(store.load_table(name).to_dict())))
        assert table["title"] in err  # printed for people, on stderr
    if command == "evaluate":
        assert {"table1", "table2"} <= set(document["tables"])
    if command == "report":
        assert document["figures"] and all(path.startswith(str(store.root.absolute())) for path in document["figures"])
        assert any(path.endswith(".png") for path in document["figures"])
        assert document["page"] == str((store.root / "report.html").absolute())
    else:
        assert document["figures"] == [] and document["page"] is None


@pytest.mark.slow
def test_info_of_a_run(trained_run, capsys):
    document, _ = _document(capsys, ["info", trained_run])
    assert document["kind"] == "run" and set(document["models"]) == {"N", "S"}
    groups = {group["name"]: group for group in document["mask_groups"]}
    assert groups["image/N-clean"]["done"] == groups["image/N-clean"]["total"] == 12
    assert groups["set/N"]["kind"] == "set" and groups["set/N"]["done"] is None
    assert document["damaged"] == []


@pytest.mark.slow
def test_heat_map(tmp_path, checkpoint, capsys):
    run = tmp_path / "run"
    argv = ["heat-map", "--model", str(checkpoint), *DATA, "--per-class", "1", "--stride", "4", "--eps", "1"]
    document, err = _document(capsys, [*argv, "--out", str(run), "--quiet"])
    assert document["model"] == "shapes16" and document["stride"] == 4 and document["images"] == 6
    assert f"mean top-1 error {100 * document['mean_top1_error']:.1f} %" in err
    assert document["mean_top5_error"] is not None or "no top-5" in err  # null, not NaN, when there is none
    table = document["tables"]["heat-map-shapes16"]
    assert len(table["rows"]) == document["frequencies_total"] * 2 or table["rows"]
    assert max(row[2] for row in table["rows"]) == pytest.approx(100 * document["highest_top1_error"]["error"])
    assert all(path.startswith(str(run.absolute())) for path in document["figures"])
    assert document["files"]["arrays"].endswith("heat-map-shapes16.npz")


@pytest.mark.slow
def test_robustness(tmp_path, checkpoint, capsys):
    run = tmp_path / "run"
    argv = ["robustness", "--models", str(checkpoint), *DATA, "--steps", "1", "--out", str(run), "--quiet"]
    document, err = _document(capsys, argv)
    table = document["tables"]["robustness"]
    row = table["rows"][0]
    assert document["models"]["shapes16"]["clean_accuracy"] == pytest.approx(row[2] / 100)
    assert document["models"]["shapes16"]["pgd_accuracy"] == pytest.approx(row[5] / 100)
    assert "Robustness to band-limited noise and PGD" in err


@pytest.mark.slow
def test_study(tmp_path, capsys, monkeypatch):
    """A tiny study: one model, and its masks cut short (the quick preset's 2 000 steps per
    image would take minutes); the command line and the study are otherwise the real ones."""
    from fourier_masks.core.cli.commands import study

    settings = study.study_settings

    def tiny(args):
        config = settings(args)
        return dataclasses.replace(
            config,
            image_mask=config.image_mask.replace(max_steps=5, min_steps=0),
            set_mask=dataclasses.replace(config.set_mask, max_epochs=1),
            stability_seeds=(),
        )

    monkeypatch.setattr(study, "study_settings", tiny)
    run = tmp_path / "run"
    small = ["--size", "16", "--train-per-class", "6", "--val-per-class", "4", "--per-class", "2", "--epochs", "1"]
    argv = ["study", "--data", "builtin", "--models", "N", "--preset", "quick", *small, "--out", str(run)]
    document, err = _document(capsys, [*argv, "--quiet"])
    assert document["run"] == str(run.absolute()) and document["cancelled"] is False
    assert {"findings", "table1"} <= set(document["tables"])
    assert document["config"]["train"]["epochs"] == 1 and document["study_seconds"] > 0
    assert document["label"] == "study of builtin"
    assert all(path.startswith(str(run.absolute())) for path in document["figures"])
    assert "Finished in" in err and "Findings" in err  # the text for people, on stderr


def test_demo_takes_json():
    from fourier_masks.core.cli import build_parser

    assert build_parser().parse_args(["demo", "--out", "run", "--quick", "--json"]).json is True
