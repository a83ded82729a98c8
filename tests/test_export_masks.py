"""``export-masks``: one mask group of a run in one file (.safetensors or .npz) that reads back
as the store holds it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_info

from fourier_masks.core.cli import main
from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.errors import ConfigError, OutputError
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.results import SetMaskResult, quantised
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.runs import (
    ResultsStore,
    export_mask_group,
    plan_image_masks,
    read_exported_masks,
    run_mask_units,
    save_set_mask_result,
)
from fourier_masks.core.runs.groups import save_class_mask_results

GROUP = "image/N-clean"


def _set_result(mask: np.ndarray, kept: float) -> SetMaskResult:
    return SetMaskResult(
        mask=mask,
        accuracy=1.0,
        masked_accuracy=0.75,
        kept_fraction=kept,
        epochs=2,
        converged=True,
        epoch_kept=2,
        config=SetMaskConfig(),
        history={"invariance": [0.5, 0.4], "kept_fraction": [0.9, kept], "masked_accuracy": [1.0, 0.75]},
        num_images=3,
        snapshots=quantised(np.stack([mask, mask])),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> ResultsStore:
    """A run with per-image masks learned for three images (a few steps), a set mask and two
    class masks, all written by the product's own writers."""
    torch.manual_seed(0)
    model = build_classifier(tiny_info()).eval()
    names = tuple(model.info.class_names)
    images = ImageSet(
        images=torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0)),
        labels=torch.tensor([0, 1, 2]),
        class_names=names,
        ids=("a", "b", "c"),
        name="random",
    )
    store = ResultsStore(tmp_path_factory.mktemp("export") / "run")
    config = ImageMaskConfig(max_steps=4, batch_size=3, check_every=2)
    units = plan_image_masks(store, GROUP, images, model_name="N", config=config, inputs="clean")
    run_mask_units(store, units, model, device="cpu")
    masks = np.random.default_rng(0).random((3, 1, 16, 16)).astype(np.float32)
    save_set_mask_result(
        store, "set/N", _set_result(masks[0], 0.5), model_name="N", class_names=names, learned_on=["a"]
    )
    results = {0: _set_result(masks[1], 0.25), 2: _set_result(masks[2], 0.125)}
    save_class_mask_results(store, "class/N", results, model_name="N", class_names=names)
    return store


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_image_masks_round_trip(run, tmp_path, suffix):
    path = tmp_path / f"masks{suffix}"
    written = export_mask_group(run, GROUP, path)
    back = read_exported_masks(path)
    stored = run.load_image_masks(GROUP)
    assert back.group == GROUP and back.kind == "image" and back.ids == stored.ids == ["a", "b", "c"]
    np.testing.assert_array_equal(back.masks, stored.masks)
    assert back.masks.dtype == np.float32 and back.layout == "unshifted-dft"
    for name, values in stored.arrays.items():  # kept fraction, steps, predictions, probabilities, ...
        np.testing.assert_array_equal(back.statistics[name], values)
        assert back.statistics[name].dtype == values.dtype, name
    assert {"kept_fraction", "steps", "converged", "targets", "probabilities_masked"} <= set(back.statistics)
    np.testing.assert_array_equal(back.statistics["labels"], run.image_mask_inputs(GROUP)["labels"])
    meta = back.metadata
    assert meta["model"] == "N" and meta["config"] == run.mask_meta(GROUP)["config"]
    assert meta["provenance"] == run.manifest.provenance and meta["provenance"]["torch"] == torch.__version__
    assert meta["format"] == "fourier-masks/mask-group" and meta["class_names"] == list(tiny_info().class_names)
    assert sorted(written.statistics) == sorted(back.statistics)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_set_and_class_masks_round_trip(run, tmp_path, suffix):
    export_mask_group(run, "set/N", tmp_path / f"set{suffix}")
    set_back = read_exported_masks(tmp_path / f"set{suffix}")
    np.testing.assert_array_equal(set_back.masks[0], run.load_set_mask("set/N"))
    assert set_back.ids == ["all"] and set_back.statistics["kept_fraction"].tolist() == [0.5]
    assert set_back.metadata["learned_on"] == ["a"]
    export_mask_group(run, "class/N", tmp_path / f"class{suffix}")
    class_back = read_exported_masks(tmp_path / f"class{suffix}")
    stored = run.load_class_masks("class/N")
    assert class_back.ids == ["c0", "c2"] and class_back.statistics["classes"].tolist() == [0, 2]
    np.testing.assert_array_equal(class_back.masks, np.stack([stored[0], stored[2]]))
    assert class_back.statistics["kept_fraction"].tolist() == [0.25, 0.125]


def test_the_safetensors_file_is_plain_safetensors_with_json_metadata(run, tmp_path):
    from safetensors import safe_open

    path = tmp_path / "m.safetensors"
    export_mask_group(run, GROUP, path)
    with safe_open(str(path), framework="numpy") as handle:
        document = json.loads(handle.metadata()["fourier_masks"])
        assert handle.get_tensor("masks").shape == (3, 1, 16, 16)
    assert document["layout"] == "unshifted-dft" and document["ids"] == ["a", "b", "c"]
    export_mask_group(run, GROUP, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert json.loads(str(data["fourier_masks"]))["group"] == GROUP  # no pickle needed


def test_bad_extension_and_unknown_group_are_one_clear_line(run, tmp_path):
    with pytest.raises(ConfigError, match=r"\.pt; name the file \.safetensors or \.npz"):
        export_mask_group(run, GROUP, tmp_path / "masks.pt")
    with pytest.raises(OutputError, match=r"no mask group 'image/M'; its mask groups: class/N, image/N-clean, set/N"):
        export_mask_group(run, "image/M", tmp_path / "masks.npz")
    assert not (tmp_path / "masks.npz").exists()


def _cli(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command(run, tmp_path, capsys):
    target = tmp_path / "shared.npz"
    code, out, _ = _cli(["export-masks", str(run.root), GROUP, str(target)], capsys)
    assert code == 0 and f"wrote 3 per-image masks of {GROUP}" in out
    assert read_exported_masks(target).ids == ["a", "b", "c"]
    code, _, err = _cli(["export-masks", str(run.root), GROUP, str(target)], capsys)
    assert code == 2 and "already exists; pass --force" in err
    assert _cli(["export-masks", str(run.root), GROUP, str(target), "--force"], capsys)[0] == 0
    code, _, err = _cli(["export-masks", str(run.root), GROUP, str(tmp_path / "x.csv")], capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "name the file .safetensors or .npz" in errors[0]
    code, _, err = _cli(["export-masks", str(run.root), "set/M", str(tmp_path / "x.npz")], capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "its mask groups: class/N, image/N-clean, set/N" in errors[0]


def test_a_file_that_is_not_an_export_is_named(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, masks=np.zeros((1, 1, 2, 2)))
    with pytest.raises(OutputError, match="is not a Fourier Masks mask group"):
        read_exported_masks(other)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a tensor file")
    with pytest.raises(OutputError, match="junk.safetensors is not a readable exported mask group"):
        read_exported_masks(junk)
    with pytest.raises(OutputError, match="does not exist"):
        read_exported_masks(Path(tmp_path / "missing.npz"))
