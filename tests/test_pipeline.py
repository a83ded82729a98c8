"""The whole study on a tiny configuration: every output exists, is valid, and resumes."""

import csv
import xml.etree.ElementTree as ET

import pytest

from fourier_masks.core.attacks.adversarial import AttackConfig
from fourier_masks.core.errors import OutputError
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.config import StudyConfig
from fourier_masks.core.study.pipeline import run_study
from fourier_masks.core.training.train import TrainConfig


def tiny_study(**changes):
    """Models well above chance (N ≈ 50 % on 6 classes, a few seconds of training): Tables 2
    and 3 use only the images a model classifies correctly, and the probe needs two classes
    with two such images each."""
    return StudyConfig(
        **{
            **dict(
                image_size=16,
                train_per_class=40,
                val_per_class=6,
                train=TrainConfig(
                    epochs=6, batch_size=16, max_lr=5e-3, crop_scale=(1.0, 1.0), pgd=AttackConfig(steps=2)
                ),
                set_mask=SetMaskConfig(lr=1e-2, batch_size=12, max_epochs=2),
                image_mask=ImageMaskConfig(max_steps=20, check_every=10),
                images_per_class=3,
                stability_seeds=(1,),
                bands=8,
                examples=3,
            ),
            **changes,
        }
    )


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    events = []
    result = run_study(tiny_study(), ResultsStore(root), on_progress=events.append)
    return root, result, events


@pytest.mark.slow
def test_study_writes_every_table(study_run):
    root, result, _ = study_run
    assert not result.cancelled
    for name in (
        "table1",
        "table2",
        "table3",
        "stability",
        "controls",
        "energy-shift",
        "energy-radial",
        "energy-angular",
        "exceedance-A-vs-N",
        "exceedance-adversarial-vs-clean-N",
        "umap-N-clean",
        "training-N",
        "training-A",
        "training-S",
        "training-T",
        "training-R",
    ):
        assert (root / "tables" / f"{name}.csv").is_file(), name
    with open(root / "tables" / "table1.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "model",
        "held-out images [count]",
        "accuracy [%]",
        "masked accuracy [%]",
        "masked / unmasked [%]",
        "learning images [count]",
        "masked / unmasked (learning images) [%]",
        "kept fraction [%]",
        "stop rule met",
        "epoch kept [epoch]",
        "epochs run [epoch]",
    ]
    assert [r[0] for r in rows[1:]] == ["N", "A", "R", "S", "T"]
    # Two epochs cannot hold the stop rule (7 calm epochs): each row says so, and which
    # epoch's mask it kept, as the mask's stored metadata records.
    store = ResultsStore.open(root)
    val = store.manifest.data.request().load(store.manifest.data.size, store.manifest.data.channels).val
    for row in rows[1:]:
        meta = store.mask_meta(f"set/{row[0]}")
        assert meta["converged"] is False and meta["epochs"] == 2 and meta["epoch_kept"] in (1, 2)
        assert row[8:] == ["no", str(meta["epoch_kept"]), "2"]
        # Learned on one half of the validation set, measured on the other.
        learned_on = set(meta["learned_on"])
        assert learned_on < set(val.ids)
        assert int(row[1]) == len(val) - len(learned_on) and int(row[5]) == len(learned_on)
    with open(root / "tables" / "table2.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[1:3] == ["images [count]", "images (correct) [count]"]
    assert header[3:10] == [
        "X [%]",
        "M(X) [%]",
        "Mc(X) [%]",
        "X_A [%]",
        "flipped by attack [count]",
        "M(X_A) [%]",
        "mean kept fraction [%]",
    ]
    with open(root / "tables" / "controls.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert [r[1] for r in rows[1:5]] == ["own", "same class", "other class", "low-pass disk"]
    with open(root / "tables" / "energy-shift.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert [r[1] for r in rows[1:]] == ["augmentation"] * 4 + ["seed"]  # N and one other seed
    with open(root / "tables" / "energy-radial.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 1 + 8 and "A - N [1]" in rows[0]


@pytest.mark.slow
def test_study_figures_are_valid_files(study_run):
    root, result, _ = study_run
    assert {
        "set-masks",
        "set-mask-differences",
        "energy-differences",
        "partitions",
        "single-image-examples-N",
        "class-and-image-masks-N",
        "umap-probe-N",
        "umap-masks-N",
    } <= set(result.figures)
    for name in result.figures:
        assert (root / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (root / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        assert ET.parse(root / "figures" / f"{name}.svg").getroot().tag.endswith("svg")


@pytest.mark.slow
def test_study_report_page_holds_every_table_and_figure(study_run):
    """report.html (:mod:`fourier_masks.core.study.report_html`): the study's report writes it,
    with every table and figure it made, embedded."""
    from test_report_html import parse

    root, result, _ = study_run
    page = root / "report.html"
    parser = parse(page.read_text(encoding="utf-8"))
    text = "".join(parser.text)
    for table in result.tables.values():
        assert table.title in text, table.name
    assert len(parser.all("img")) == len(result.figures) > 5
    assert all((attrs["src"] or "").startswith("data:image/") for attrs in parser.all("img"))
    assert page.stat().st_size < 8 * 2**20


@pytest.mark.slow
def test_study_reports_progress_by_step(study_run):
    _, _, events = study_run
    steps = [e.message for e in events if e.stage == "study"]
    assert steps[0] == "load data" and steps[-1] == "done"
    assert {"train", "image-masks", "attack"} <= {e.stage for e in events}


@pytest.mark.slow
def test_masks_are_stored_in_the_documented_layout(study_run):
    root, _, _ = study_run
    store = ResultsStore.open(root)
    assert set(store.mask_groups()) == {
        "set/N",
        "set/A",
        "set/S",
        "set/T",
        "set/R",
        "set/N-seed1",
        "class/N",
        "image/N-clean",
        "image/N-adversarial",
        "image/A-clean",
    }
    for group in store.mask_groups():
        assert store.mask_meta(group)["layout"] == "unshifted-dft"
    stored = store.load_image_masks("image/N-clean")
    assert len(stored) == 18 and stored.masks.shape == (18, 1, 16, 16)


@pytest.mark.slow
def test_rerun_resumes_without_recomputing(study_run):
    root, first, _ = study_run
    before = {p: p.stat().st_mtime_ns for p in (root / "models").iterdir()}
    before.update({p: p.stat().st_mtime_ns for p in (root / "masks").rglob("*.np*")})
    events = []
    second = run_study(tiny_study(), ResultsStore(root), on_progress=events.append)
    assert not {"train", "image-masks", "attack"} & {e.stage for e in events}
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before
    assert second.tables["table1"].rows == first.tables["table1"].rows
    assert second.tables["table2"].rows == first.tables["table2"].rows


@pytest.mark.slow
def test_a_different_study_in_the_same_folder_is_refused(study_run):
    root, _, _ = study_run
    with pytest.raises(OutputError, match="other settings"):
        run_study(tiny_study(seed=9), ResultsStore(root))


def test_cancelled_study_keeps_finished_work(tmp_path):
    import threading

    cancel = threading.Event()

    def on_progress(event):
        if event.stage == "study" and event.message == "dataset masks of the other models":
            cancel.set()

    result = run_study(
        tiny_study(augmentations=("none", "scale")), ResultsStore(tmp_path), on_progress=on_progress, cancel=cancel
    )
    assert result.cancelled
    store = ResultsStore.open(tmp_path)
    assert store.model_names() == ["N", "S"]
    # N's masks came first, its clean and adversarial images in one queue
    assert store.mask_groups() == ["image/N-adversarial", "image/N-clean", "set/N"]
    assert store.read_json("run.json")["status"] == "cancelled"
