"""Damaged run folders, thrown at the command line (and the engine where the command line
cannot reach): a junk ``meta.json``, truncated or bit-flipped group files, ``run.json`` fields
of the wrong type, a damaged shard, a training that diverges.

Each case gets one ``error:`` line naming the file (and the field) and what to do, exit status
2, never "unexpected failure"; a damaged shard is said once (``note:``) and its masks are
learned again; the run's other groups keep working. Cases in the style of
``tests/test_bad_inputs.py`` (and counted apart from its forty).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import case, cli_error, expect, png, run_cli, truncated

from fourier_masks.core import errors
from fourier_masks.core.cli import main as cli_main
from fourier_masks.core.data.datasets import load_builtin
from fourier_masks.core.data.images import image_set_from_files
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.runs import ResultsStore, keep_model, plan_image_masks, run_mask_units, train_into_run
from fourier_masks.core.training.train import TrainConfig, train_model

GROUP = "image/N-clean"
CONFIG = ImageMaskConfig(max_steps=30)  # what `masks image --max-steps 30` declares

CASES: dict[str, Callable] = {}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, trained_shapes_model) -> tuple[Path, list[Path]]:
    """A run with model N and a per-image group of three image files in two shards (a, b and
    c), learned as ``masks image --model N --images a.png b.png c.png --max-steps 30`` would."""
    folder = tmp_path_factory.mktemp("damaged-runs")
    paths = [png(folder / f"{name}.png", (16, 16)) for name in "abc"]
    store = ResultsStore(folder / "base")
    model = trained_shapes_model
    keep_model(store, "N", model)
    info = model.info
    images, _ = image_set_from_files(paths, info.in_channels, info.preparation, info.labels(), "files")
    units = plan_image_masks(store, GROUP, images, model_name="N", config=CONFIG, inputs="clean", dataset="files")
    run_mask_units(store, units[:2], model)
    run_mask_units(store, units[2:], model)
    return folder / "base", paths


@pytest.fixture
def c(base_run, tmp_path) -> dict:
    """A fresh copy of the base run (files writable, so a case can damage them)."""
    base, paths = base_run
    run = Path(shutil.copytree(base, tmp_path / "run"))
    for path in run.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    group = run / "masks" / GROUP
    return {"dir": tmp_path, "run": run, "paths": paths, "group": group, "shards": sorted(group.glob("shards/*.npz"))}


def resume(c) -> list:
    """The command that resumes the group."""
    return [
        "masks",
        "image",
        "--model",
        "N",
        "--images",
        *c["paths"],
        "--out",
        c["run"],
        "--max-steps",
        "30",
        "--quiet",
    ]


def flip_byte(path: Path, offset: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    return path


def set_json(path: Path, change: Callable[[dict], object]) -> None:
    raw = json.loads(path.read_text())
    result = change(raw)
    path.write_text(json.dumps(raw if result is None else result))


def other_groups_work(c, capsys) -> None:
    """The run's other groups: a new one is learned, and info lists the run (naming the damage)."""
    code, err = run_cli(capsys, [*resume(c), "--group", "image/other"])
    assert code == 0, err
    assert ResultsStore.open(c["run"]).finished_ids("image/other") == {"a.png", "b.png", "c.png"}
    code, err = run_cli(capsys, ["info", c["run"]])
    assert code == 0 and "error:" not in err, err
    assert cli_main(["info", str(c["run"])]) == 0
    assert "  damaged: " in capsys.readouterr().out


# --- a group's meta.json -------------------------------------------------------------------------


@case(CASES, "meta.json that is not JSON")
def _(c, capsys):
    (c["group"] / "meta.json").write_text("{ not json")
    _, err = run_cli(capsys, resume(c))
    assert err.count("is damaged") == 1, err  # said once, before any work, not as a note and again as the error
    assert re.search(
        r"^error: .*masks/image/N-clean/meta.json is damaged \(not JSON: .*\); delete that group folder to relearn "
        "it, or restore it from a backup$",
        err,
        re.M,
    ), err
    other_groups_work(c, capsys)


@case(CASES, "meta.json holding a list")
def _(c, capsys):
    (c["group"] / "meta.json").write_text("[1, 2]")
    cli_error(capsys, resume(c), r"meta.json is damaged \(it holds a JSON list, not an object\); delete that group")


@case(CASES, "meta.json with a field of the wrong type")
def _(c, capsys):
    set_json(c["group"] / "meta.json", lambda meta: meta.update(ids="a.png b.png c.png"))
    cli_error(capsys, resume(c), r"meta.json is damaged \(ids should be list, not str \('a.png b.png c.png'\)\)")


@case(CASES, "meta.json with a config of the wrong type")
def _(c, capsys):
    set_json(c["group"] / "meta.json", lambda meta: meta["config"].update(max_steps="30"))
    cli_error(capsys, resume(c), r"meta.json is damaged \(config.max_steps should be int, not str")


@case(CASES, "meta.json missing its keys")
def _(c, capsys):
    (c["group"] / "meta.json").write_text('{"kind": "image"}')
    cli_error(capsys, resume(c), r"meta.json is damaged \(no model, ids\)")


# --- a group's arrays ------------------------------------------------------------------------------


@case(CASES, "truncated inputs.npz")
def _(c, capsys):
    truncated(c["group"] / "inputs.npz")
    cli_error(capsys, resume(c), r"inputs.npz is damaged \(File is not a zip file\); delete that group folder")
    other_groups_work(c, capsys)


@case(CASES, "bit-flipped inputs.npz")
def _(c, capsys):
    inputs = c["group"] / "inputs.npz"
    flip_byte(inputs, inputs.stat().st_size // 3)  # in the images' data: their checksum fails
    c["shards"][1].unlink()  # so that the resume reads the images
    cli_error(capsys, resume(c), r"inputs.npz is damaged \(.*CRC.*\); delete that group folder to relearn it")


@case(CASES, "damaged mask shard, reported and learned again")
def _(c, capsys):
    damaged, kept = c["shards"]
    kept_bytes = kept.read_bytes()
    truncated(damaged)
    code, err = run_cli(capsys, resume(c))
    notes = [line for line in err.splitlines() if line.startswith("note:") and "mask shard" in line]
    assert code == 0 and len(notes) == 1, err
    assert f"{damaged} is damaged (File is not a zip file); moved aside to {damaged.name}.damaged" in notes[0]
    assert not damaged.exists() and damaged.with_name(damaged.name + ".damaged").exists()
    store = ResultsStore.open(c["run"])
    assert store.finished_ids(GROUP) == {"a.png", "b.png", "c.png"} and kept.read_bytes() == kept_bytes
    assert len(store.load_image_masks(GROUP)) == 3 and store.damage() == []


@case(CASES, "damaged mask shard, read by info")
def _(c, capsys):
    flip_byte(c["shards"][0], c["shards"][0].read_bytes().index(b"\x93NUMPY") + 1)  # the first array's header
    code, err = run_cli(capsys, ["info", c["run"]])
    assert code == 0 and f"note: mask shard {c['shards'][0]} is damaged" in err, err
    assert "learned again when the group is resumed" in err and c["shards"][0].exists()  # a reader moves nothing


# --- run.json ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["data"].update(size="16"), r"run.json: data.size should be int, not str \('16'\)"),
        (lambda raw: raw["data"].update(whole=1), "run.json: data.whole should be bool, not int"),
        (lambda raw: raw["data"].update(channels=2), "run.json: data.channels should be 1 or 3, not 2"),
        (lambda raw: raw["data"].update(interpolation="sinc"), "run.json: data: interpolation 'sinc'"),
        (lambda raw: raw.update(classes=[1, 2]), "run.json: classes should be a list of names"),
        (lambda raw: raw.update(version="1"), "run.json: version should be int, not str"),
        (lambda raw: raw.update(study=[]), "run.json: study should be dict, not list"),
        (lambda raw: raw.update(data="builtin"), "run.json: data should be dict, not str"),
    ],
)
def test_run_json_fields_of_the_wrong_type_or_value(c, capsys, change, message):
    set_json(c["run"] / "run.json", lambda raw: raw.update(data={"spec": "builtin", "size": 16, "channels": 1, "seed": 0, "train_per_class": 3, "val_per_class": 2}))  # fmt: skip
    set_json(c["run"] / "run.json", change)
    cli_error(capsys, ["info", c["run"]], message + ".*; restore the file from a backup, or start a new run folder")


# --- training -----------------------------------------------------------------------------------------


def test_a_diverging_training_blames_the_learning_rate_and_keeps_nothing(tmp_path):
    """--lr 1e308 (the command line bounds --lr; the engine must still say it from Python or
    the app): the validation loss is NaN from the first epoch, no epoch can be the best."""
    data = load_builtin("shapes", train_per_class=5, val_per_class=2, size=16)
    config = TrainConfig(epochs=1, batch_size=32, max_lr=1e308)
    expect(
        errors.NonFiniteError,
        r"^training diverged \(validation loss nan in epoch 1 at --lr 1e\+308\); lower --lr$",
        lambda: train_model(data.train, data.val, config=config),
    )
    store = ResultsStore(tmp_path / "run")
    jafr = config.replace(jafr_lambda=1.0)
    expect(
        errors.NonFiniteError,
        r"at --lr 1e\+308 or --jafr 1\); lower --lr or --jafr$",
        lambda: train_into_run(store, "N", data.train, data.val, config=jafr, device="cpu"),
    )
    assert store.model_names() == [] and store.table_names() == []


@pytest.mark.parametrize("name", list(CASES))
def test_damaged_run(name, c, capsys):
    CASES[name](c, capsys)
    assert np.all([p.suffix != ".tmp" for p in c["run"].rglob("*")])  # nothing half-written left
