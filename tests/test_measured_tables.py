"""Tables 1–3 report measured figures: final per-image masks that may lose the prediction,
only correctly classified images in Tables 2 and 3, and how each dataset mask's learning ended."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fourier_masks.core.attacks.adversarial import AttackConfig, attack_images
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.masks.set_masks import learn_set_mask
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.runs.adversarial import save_adversarial_images
from fourier_masks.core.runs.executors import run_mask_units
from fourier_masks.core.runs.groups import plan_image_masks
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.contents import discover
from fourier_masks.core.study.report import probe_table, single_image_table, write_report

# A sparsity weight far above the published 0.07 with a large constant step: within a few
# steps each mask keeps almost nothing, so only images whose prediction survives a nearly
# blank input keep it. The published code returns such final masks as they are.
HARSH = ImageMaskConfig(lam=5.0, lr=0.2, schedule="constant", max_steps=10, check_every=5)


def _store_with_masks(tmp_path, model, images, config=HARSH, name="N", adversarial=None, attack=None):
    store = ResultsStore(tmp_path / "run")
    save_checkpoint(model, store.model_path(name))
    units = plan_image_masks(store, f"image/{name}-clean", images, model_name=name, config=config, inputs="clean")
    run_mask_units(store, units, model)
    if adversarial is not None:
        save_adversarial_images(store, name, images, adversarial, attack)
    return store


def _row(table, first):
    names = [c.name for c in table.columns]
    return next(dict(zip(names, row)) for row in table.rows if row[0] == first)


def _correct(model, images) -> np.ndarray:
    with torch.no_grad():
        return (model(images.images).argmax(1) == images.labels).numpy()


@pytest.mark.slow
def test_table2_measures_masks_that_lost_the_prediction(tmp_path, trained_shapes_model, tiny_shapes):
    val = tiny_shapes.val
    correct = _correct(trained_shapes_model, val)
    store = _store_with_masks(tmp_path, trained_shapes_model, val)
    stored = store.load_image_masks("image/N-clean")
    kept = stored.arrays["prediction_kept"]
    assert not kept[correct].all(), "the harsh settings should make some correct images' masks lose the prediction"

    row = _row(single_image_table(store, discover(store), {"N": trained_shapes_model}), "N")
    assert row["X"] == 100.0
    assert row["M(X)"] < row["X"]
    # M(X) is the stored flag, measured again by the evaluation (one image of slack for rounding).
    assert abs(row["M(X)"] - 100 * kept[correct].mean()) <= 100 / correct.sum() + 1e-9


def test_fallback_to_last_kept_is_an_explicit_option(trained_shapes_model, tiny_shapes):
    """The opt-in swap (not the published behaviour) replaces exactly the final masks that
    lost the prediction, by earlier ones that kept it."""
    images = tiny_shapes.val.images
    final = learn_image_masks(trained_shapes_model, images, config=HARSH)
    swapped = learn_image_masks(trained_shapes_model, images, config=HARSH.replace(fallback_to_last_kept=True))
    assert ImageMaskConfig().fallback_to_last_kept is False
    lost = ~final.prediction_kept
    assert lost.any() and swapped.prediction_kept.all()
    np.testing.assert_array_equal(swapped.masks[~lost], final.masks[~lost])
    assert (swapped.kept_fraction[lost] > final.kept_fraction[lost]).all()


@pytest.mark.slow
def test_tables_2_and_3_count_only_correctly_classified_images(tmp_path, trained_shapes_model, tiny_shapes):
    model, val = trained_shapes_model, tiny_shapes.val
    correct = _correct(model, val)
    assert 4 <= correct.sum() < len(val), "the fixture model should misclassify some images, not all"
    attack = AttackConfig(steps=3)
    adversarial = attack_images(model, val.images, val.labels, config=attack)
    config = ImageMaskConfig(max_steps=5, check_every=5)
    store = _store_with_masks(tmp_path, model, val, config=config, adversarial=adversarial, attack=attack)
    # Model S (the same network) masks images of which it classifies one correctly: too few to probe.
    few = val.subset(np.concatenate([np.flatnonzero(correct)[:1], np.flatnonzero(~correct)[:7]]))
    save_checkpoint(model, store.model_path("S"))
    run_mask_units(store, plan_image_masks(store, "image/S-clean", few, model_name="S", config=config), model)
    contents = discover(store)
    models = {"N": model, "S": model}

    table2 = single_image_table(store, contents, models)
    row = _row(table2, "N")
    assert row["images"] == len(val) and row["images (correct)"] == correct.sum()
    with torch.no_grad():
        flipped = (model(adversarial).argmax(1) != val.labels).numpy() & correct
    assert row["flipped by attack"] == flipped.sum()
    assert _row(table2, "S")["images (correct)"] == 1

    table3, probes = probe_table(store, contents, models)
    row = _row(table3, "N-clean")
    assert row["images (correct)"] == correct.sum() and row["note"] == ""
    assert set(probes["N-clean"].index) <= set(np.flatnonzero(correct))
    assert row["masks used"] == len(probes["N-clean"].index)
    row = _row(table3, "S-clean")
    assert row["images (correct)"] == 1 and "too few correctly classified images" in row["note"]
    assert row["test accuracy"] == "" and "S-clean" not in probes


def test_set_mask_stop_information_is_stored_and_shown_in_table1(tmp_path, trained_shapes_model, tiny_shapes):
    """Settings under which the mask drops below the accuracy bar after its first epoch and the
    stop rule (7 calm epochs) cannot hold in 4: the mask kept is epoch 1's, and Table 1 says so."""
    val = tiny_shapes.val
    config = SetMaskConfig(lam=20.0, lr=5e-2, batch_size=12, max_epochs=4)
    result = learn_set_mask(trained_shapes_model, val.images, val.labels, config=config)
    bar = config.accuracy_ratio * result.accuracy
    accurate = [e for e, value in enumerate(result.history["masked_accuracy"], 1) if value >= bar]
    assert not result.converged and result.epochs == 4
    assert accurate and result.epoch_kept == accurate[-1] < result.epochs
    assert result.masked_accuracy == result.history["masked_accuracy"][result.epoch_kept - 1]

    store = ResultsStore(tmp_path / "run")
    save_checkpoint(trained_shapes_model, store.model_path("N"))
    save_checkpoint(trained_shapes_model, store.model_path("S"))
    store.save_set_mask("set/N", result.mask, {"model": "N", "config": config.to_dict(), **result.summary()})
    meta = store.mask_meta("set/N")
    assert meta["converged"] is False and meta["epoch_kept"] == result.epoch_kept and meta["epochs"] == 4
    # A mask saved without ``epoch_kept`` (an earlier run) shows the same, recovered from its history.
    older = {k: v for k, v in result.summary().items() if k != "epoch_kept"}
    store.save_set_mask("set/S", result.mask, {"model": "S", "config": config.to_dict(), **older})
    # A mask saved with only its model named (the store takes one): its learning is not recorded.
    save_checkpoint(trained_shapes_model, store.model_path("U"))
    store.save_set_mask("set/U", result.mask, {"model": "U"})

    table = write_report(store, val=val, make_figures=False).tables["table1"]
    for model in ("N", "S"):
        row = _row(table, model)
        assert row["stop rule met"] == "no"
        assert row["epoch kept"] == result.epoch_kept and row["epochs run"] == 4
    row = _row(table, "U")
    assert row["stop rule met"] == row["epoch kept"] == row["epochs run"] == "not recorded"
    assert row["masked / unmasked (learning images)"] == _row(table, "N")["masked / unmasked (learning images)"]
