"""A run records the software and hardware of every job that wrote into it (run.json's
``provenance`` and ``later_provenance``), and a job resumed on another setup says so once."""

from __future__ import annotations

import json
import logging
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_info

from fourier_masks import __version__
from fourier_masks.core.cli import main
from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.errors import OutputError
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.runs import ResultsStore, plan_image_masks, run_mask_units
from fourier_masks.core.runs.manifest import LATER_PROVENANCE_KEPT
from fourier_masks.core.runs.provenance import describe_differences

OLD_RUN = Path(__file__).parent / "data" / "run-before-the-move"
CONFIG = ImageMaskConfig(max_steps=4, batch_size=3, check_every=2)
GROUP = "image/N-clean"


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_classifier(tiny_info()).eval()


@pytest.fixture
def images(model) -> ImageSet:
    return ImageSet(
        images=torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0)),
        labels=torch.tensor([0, 1, 2]),
        class_names=tuple(model.info.class_names),
        ids=tuple(f"img{k}" for k in range(3)),
        name="random",
    )


def learn(store: ResultsStore, model, images: ImageSet, part: slice) -> None:
    """Learn ``part`` of the masks the group still lacks."""
    units = plan_image_masks(store, GROUP, images, model_name="N", config=CONFIG, inputs="clean")
    run_mask_units(store, units[part], model, device="cpu")


def notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fourier_masks.notices"]


def test_a_new_run_records_the_job_that_made_it(tmp_path, model, images):
    store = ResultsStore(tmp_path / "run")
    with store.lock_for_writing("the Fourier Masks app (Masks of images…)"):
        learn(store, model, images, slice(None))
    raw = json.loads((store.root / "run.json").read_text())
    made = raw["provenance"]
    assert made["fourier_masks"] == __version__ and made["python"] == platform.python_version()
    assert made["torch"] == torch.__version__ and made["numpy"] == np.__version__
    assert made["device"] == "cpu" and made["gpu"] is None and made["cuda"] is None and made["cudnn"] is None
    assert made["command"] == "the Fourier Masks app (Masks of images…)"  # as the run's lock names the job
    assert made["platform"] == platform.platform() and made["machine"] == platform.machine()
    assert "later_provenance" not in raw  # one job so far
    assert store.manifest.provenance == made


@pytest.mark.slow
def test_a_command_line_job_records_its_command_as_typed(tmp_path, model, monkeypatch, capsys):
    checkpoint = tmp_path / "N.safetensors"
    from fourier_masks.core.models.checkpoints import save_checkpoint

    save_checkpoint(model, checkpoint)
    image = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((16, 16)) * 255).astype(np.uint8)).save(image)
    argv = ["masks", "image", "--model", str(checkpoint), "--images", str(image), "--out", str(tmp_path / "run")]
    argv += ["--max-steps", "5", "--device", "cpu", "--quiet"]
    monkeypatch.setattr(sys, "argv", ["/usr/bin/fourier-masks", *argv])
    assert main(argv) == 0
    made = ResultsStore.open(tmp_path / "run").manifest.provenance
    assert made is not None and made["command"].startswith("fourier-masks masks image --model ")
    assert made["device"] == "cpu"
    capsys.readouterr()
    # A later job on another PyTorch: one note: line on the terminal, the first group untouched.
    monkeypatch.setattr(torch, "__version__", "9.9.9+faked")
    argv += ["--group", "image/N-later"]
    monkeypatch.setattr(sys, "argv", ["/usr/bin/fourier-masks", *argv])
    assert main(argv) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "torch" in notes[0] and "9.9.9+faked" in notes[0], notes
    store = ResultsStore.open(tmp_path / "run")
    assert store.manifest.later_provenance[-1]["command"].endswith("--group image/N-later")
    assert len(store.load_image_masks("image/N-clean")) == 1
    # info shows both jobs, and --json carries them.
    assert main(["info", str(tmp_path / "run")]) == 0
    shown = capsys.readouterr().out
    assert "made by: fourier-masks masks image" in shown and "last of 1 later job(s)" in shown
    assert "torch 9.9.9+faked" in shown
    assert main(["info", str(tmp_path / "run"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["provenance"]["device"] == "cpu" and document["later_provenance"][0]["torch"] == "9.9.9+faked"


def test_resuming_with_another_torch_warns_once_and_keeps_the_masks(tmp_path, model, images, caplog, monkeypatch):
    first = ResultsStore(tmp_path / "run", lock=True)
    learn(first, model, images, slice(0, 1))
    first.release()
    before = ResultsStore.open(first.root).load_image_masks(GROUP)

    monkeypatch.setattr(torch, "__version__", "9.9.9+faked")
    with caplog.at_level(logging.WARNING, logger="fourier_masks.notices"):
        store = ResultsStore.open(first.root, lock=True)
        learn(store, model, images, slice(0, 1))
        learn(store, model, images, slice(None))  # the same job again: no second note
        again = ResultsStore.open(first.root, lock=True)  # another job of this process, same setup
        again.record_provenance("cpu")
    said = notices(caplog)
    assert len(said) == 1, said
    assert "torch" in said[0] and "9.9.9+faked" in said[0] and "the masks already stored are kept" in said[0]
    after = store.load_image_masks(GROUP)
    assert len(after) == 3
    np.testing.assert_array_equal(after.select(before.ids).masks, before.masks)
    manifest = store.manifest
    assert manifest.provenance["torch"] != "9.9.9+faked"  # the job that made the run
    assert [entry["torch"] for entry in manifest.later_provenance] == ["9.9.9+faked", "9.9.9+faked"]


def test_resuming_on_another_device_warns_once(tmp_path, model, images, caplog):
    store = ResultsStore(tmp_path / "run")
    learn(store, model, images, slice(0, 2))
    gpu = {**store.manifest.provenance, "device": "cuda:0", "gpu": "NVIDIA H200", "cuda": "12.4", "cudnn": "90100"}
    store.update_manifest(provenance=gpu)  # as if the run had been begun on a GPU
    with caplog.at_level(logging.WARNING, logger="fourier_masks.notices"):
        resumed = ResultsStore.open(store.root, lock=True)
        learn(resumed, model, images, slice(None))
    said = notices(caplog)
    assert len(said) == 1 and "device cuda:0 (NVIDIA H200) → cpu" in said[0] and "CUDA 12.4 → none" in said[0]
    assert len(resumed.load_image_masks(GROUP)) == 3


def test_an_old_run_without_provenance_opens_and_resumes_silently(tmp_path, caplog):
    run = Path(shutil.copytree(OLD_RUN, tmp_path / "run"))
    assert "provenance" not in json.loads((run / "run.json").read_text())
    with caplog.at_level(logging.WARNING, logger="fourier_masks.notices"):
        store = ResultsStore.open(run, lock=True)
        assert store.manifest.provenance is None and store.manifest.later_provenance is None
        store.record_provenance("cpu")
    assert notices(caplog) == []
    assert store.manifest.provenance["device"] == "cpu" and store.manifest.study is not None  # the rest is kept


def test_later_jobs_are_kept_up_to_a_bound(tmp_path):
    store = ResultsStore(tmp_path / "run")
    for _ in range(LATER_PROVENANCE_KEPT + 3):
        store.lock_for_writing("a job").release()  # each lock is another job
        store.record_provenance("cpu")
    manifest = store.manifest
    assert manifest.provenance is not None and len(manifest.later_provenance) == LATER_PROVENANCE_KEPT


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("provenance", [1], "provenance should be dict"),
        ("provenance", {"torch": 2}, "provenance.torch should be str"),
        ("later_provenance", [3], r"later_provenance\[0\] should be dict"),
        ("later_provenance", [{"device": None}], r"later_provenance\[0\].device should be str"),
    ],
)
def test_a_damaged_provenance_is_named(tmp_path, field, value, expected):
    store = ResultsStore(tmp_path / "run")
    raw = json.loads((store.root / "run.json").read_text())
    (store.root / "run.json").write_text(json.dumps({**raw, field: value}))
    with pytest.raises(OutputError, match=expected):
        ResultsStore.open(store.root)


def test_differences_name_only_what_results_depend_on():
    earlier = {"fourier_masks": "0.1.0", "torch": "2.4.0", "numpy": "2.0.0", "device": "cpu", "command": "a"}
    now = {**earlier, "command": "b", "python": "3.13.0"}
    assert describe_differences(earlier, now) == []
    assert describe_differences(earlier, {**now, "numpy": "2.1.0"}) == ["numpy 2.0.0 → 2.1.0"]
    assert describe_differences({"device": "cpu"}, {"device": "cpu", "cuda": "12.4"}) == []  # not recorded then
