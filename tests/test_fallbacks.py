"""No silent fallbacks: an unfused network is announced, a run.json lacking a key is refused or
read with its assumption logged, and the Images view marks filtering done without the model."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fourier_masks.core.errors import OutputError
from fourier_masks.core.models.architectures import SmallCNN, fused_for_inference
from fourier_masks.core.runs.manifest import read_manifest

OLD_RUN = Path(__file__).parent / "data" / "run-before-the-move"


class BranchingNet(nn.Module):
    """Control flow on the input's values: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y if x.sum() > 0 else -y


def test_a_network_fx_cannot_trace_runs_unfused_and_the_user_is_told_once(caplog):
    net = BranchingNet()
    with caplog.at_level(logging.WARNING):
        assert fused_for_inference(net) is net
        assert fused_for_inference(net) is net  # a run builds many copies: one notice is enough
    notices = [r for r in caplog.records if r.name == "fourier_masks.notices"]
    assert [r.getMessage() for r in notices] == [
        "torch.fx cannot trace the network BranchingNet, so mask learning runs it unfused (slower, same results)"
    ]


def test_a_network_fx_can_trace_is_fused_without_a_word(caplog):
    with caplog.at_level(logging.WARNING):
        assert fused_for_inference(SmallCNN(1, 3).eval()) is not None
    assert not caplog.records


def _manifest(tmp_path: Path, drop: str) -> Path:
    """The old run's run.json without ``drop`` (``data.limit`` style for a data field)."""
    raw = json.loads((OLD_RUN / "run.json").read_text(encoding="utf-8"))
    head, _, key = drop.rpartition(".")
    (raw[head] if head else raw).pop(key)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def test_a_manifest_without_its_version_is_refused(tmp_path):
    path = _manifest(tmp_path, "version")
    with pytest.raises(OutputError) as caught:
        read_manifest(path)
    assert str(caught.value) == (
        f'{path} lacks its format version ("version"); restore the file from a backup, or start a new run folder'
    )


def test_a_manifest_without_its_creation_time_is_not_given_one(tmp_path):
    manifest = read_manifest(_manifest(tmp_path, "created"))
    assert manifest.created is None
    assert "created" not in json.loads(manifest.updated_with(status="complete").to_json())


def test_a_data_record_without_a_limit_reads_as_none_and_says_so(tmp_path, caplog):
    """Runs made before the move did not record --limit (the committed old run among them)."""
    path = tmp_path / "run.json"
    shutil.copy(OLD_RUN / "run.json", path)
    with caplog.at_level(logging.INFO, logger="fourier_masks.core.runs.manifest"):
        manifest = read_manifest(path)
    assert manifest.data is not None and manifest.data.limit is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: data.limit is not recorded (runs made before the move into fourier_masks did not record "
        "--limit); its data is reloaded without a limit"
    ]


def test_a_missing_data_field_is_still_refused(tmp_path):
    path = _manifest(tmp_path, "data.seed")
    with pytest.raises(OutputError, match="data lacks seed; the run cannot reload its data"):
        read_manifest(path)


def test_the_images_view_marks_filtering_without_the_model(qtbot, tmp_path, monkeypatch, screenshots):
    """Without the model, M(x) and the other filtered views are masks applied to the raw pixels:
    their titles, a note and the exported figure say so, until the model is back."""
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    from fourier_masks.app.main import create_window

    window = create_window()
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    window.open_run(shutil.copytree(OLD_RUN, tmp_path / "run"))
    panel = window.panels["images"]
    group = "image/N-clean"
    image_id = window.workbench.group_masks(group).ids[0]

    def titles() -> list[str]:
        return [panel.views[name].plot.titleLabel.text for name in ("x", "M(x)", "Mc(x)")]

    models = dict(window.workbench.models)
    window.workbench.models.clear()
    window.workbench.select_image(group, image_id)
    assert panel.pixel_note.isVisibleTo(panel)
    assert panel.pixel_note.text() == (
        "Model N is not loaded: views marked “(pixels)” apply the mask to the raw pixels, not to the "
        "normalised image it was learned on, so their brightness can differ. Load the model to see them as it does."
    )
    assert titles() == ["x", "M(x) (pixels)", "Mc(x) (pixels)"]
    figure = panel.figure()
    assert [ax.get_title() for ax in figure.axes] == ["x", "log |F(x)|", "M", "M(x) (pixels)", "Mc(x) (pixels)"]
    panel.grab().save(str(screenshots / "images-without-the-model.png"))
    in_pixels = panel.shown["M(x)"]

    window.workbench.models.update(models)
    window.workbench.select_image(group, image_id)
    assert not panel.pixel_note.isVisibleTo(panel)
    assert titles() == ["x", "M(x)", "Mc(x)"]
    assert not np.allclose(panel.shown["M(x)"], in_pixels, atol=1e-3)  # why the mark is there
    window.runner.shutdown()
