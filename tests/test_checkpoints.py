"""Loading models from anywhere, safely."""

import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from fourier_masks.core.errors import CheckpointError, ModelMismatchError, NonFiniteError, UnsafeCheckpointError
from fourier_masks.core.models.architectures import build_classifier, build_network
from fourier_masks.core.models.checkpoints import (
    TRUSTED_ONLY,
    export_program,
    export_torchscript,
    inspect_checkpoint,
    load_model,
    model_file_kind,
    safetensors_sidecar,
    save_checkpoint,
)
from fourier_masks.core.models.classifier import ModelInfo


@pytest.fixture
def images():
    return torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def _same_outputs(a, b, images):
    """Equal up to float32 rounding: a reloaded or exported graph may run other (fused)
    kernels than the eager network, so agreement is relative to the logits' size."""
    with torch.no_grad():
        return torch.allclose(a(images), b(images), rtol=1e-4, atol=1e-5)


def test_our_checkpoint_round_trips_with_metadata(tiny_model, images, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "model.pt")
    loaded = load_model(path)
    assert loaded.info == tiny_model.info
    assert _same_outputs(tiny_model, loaded, images)
    assert inspect_checkpoint(path).format == "fourier-masks"


def test_our_checkpoints_are_safetensors_and_old_pickled_ones_still_load(tiny_model, images, tmp_path):
    """What the product writes holds tensors only (safetensors, the details as its metadata);
    a checkpoint pickled by earlier versions loads with weights_only=True."""
    from safetensors import safe_open

    path = save_checkpoint(tiny_model, tmp_path / "model.safetensors")
    assert model_file_kind(path) == "safetensors"
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata()["format"] == "fourier-masks/checkpoint"
    old = tmp_path / "old.pt"
    torch.save(
        {
            "format": "fourier-masks/checkpoint",
            "format_version": 1,
            "info": tiny_model.info.to_json(),
            "state_dict": tiny_model.net.state_dict(),
        },
        old,
    )
    assert model_file_kind(old) == "pickle" and load_model(old).info == tiny_model.info
    assert _same_outputs(tiny_model, load_model(old), images)


def test_a_plain_safetensors_file_loads_with_its_description_beside_it(tiny_model, images, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_model.net.state_dict().items()}, path)
    assert inspect_checkpoint(path).format == "safetensors" and inspect_checkpoint(path).info is None
    plain = load_model(path, mean=(0.5,), std=(0.25,), image_size=16)  # small_cnn is recognised
    assert plain.info.source == "safetensors" and _same_outputs(tiny_model, plain, images)
    names = [f"shape {k}" for k in range(6)]
    safetensors_sidecar(path).write_text(
        json.dumps({"arch": "small_cnn", "image_size": 16, "mean": [0.5], "std": [0.25], "class_names": names})
    )
    described = load_model(path)
    assert (described.info.image_size, described.info.mean, described.info.class_names) == (16, (0.5,), tuple(names))
    assert load_model(path, image_size=24).info.image_size == 24  # arguments win over the file
    safetensors_sidecar(path).write_text(json.dumps({"image_size": "big"}))
    with pytest.raises(CheckpointError, match="weights.json .*'image_size'"):
        load_model(path)


def test_safetensors_whose_length_looks_like_a_legacy_pickle(tiny_model, tmp_path):
    """A header of 0x80 + 256·k bytes starts with the byte that marks a legacy pickle: it is
    still read as safetensors, and a truncated one is called truncated."""
    from safetensors.torch import save as safetensors_bytes

    weights = {k: v.contiguous() for k, v in tiny_model.net.state_dict().items()}
    for pad in range(300):
        data = safetensors_bytes(weights, metadata={"note": "x" * pad})
        if data[0] == 0x80:
            break
    assert data[0] == 0x80
    path = tmp_path / "unlucky.safetensors"
    path.write_bytes(data)
    assert model_file_kind(path) == "safetensors" and load_model(path, mean=(0.5,), std=(0.25,))
    path.write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(path)
    path.write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(path)


def test_a_safetensors_file_never_runs_code(tmp_path):
    """Its metadata and tensors are data: a pickle payload smuggled into the metadata stays a
    string."""
    from safetensors.torch import save_file

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    payload = pickle.dumps(_Exploit(marker)).hex()
    save_file({"w": torch.zeros(2, 2)}, path, metadata={"format": "fourier-masks/checkpoint", "info": payload})
    with pytest.raises(CheckpointError, match="damaged metadata"):
        load_model(path)
    assert not marker.exists()


def test_lightning_and_onnx_are_named_with_the_way_to_convert(tiny_model, tmp_path):
    marker = tmp_path / "pwned"
    lightning = tmp_path / "epoch=3.ckpt"
    torch.save(
        {
            "pytorch-lightning_version": "2.5.0",
            "state_dict": {f"model.{k}": v for k, v in tiny_model.net.state_dict().items()},
            "hyper_parameters": {"loss": _Exploit(marker)},
        },
        lightning,
    )
    with pytest.raises(UnsafeCheckpointError, match="PyTorch Lightning checkpoint.*state_dict"):
        load_model(lightning)
    assert not marker.exists()
    plain = tmp_path / "plain.ckpt"  # a Lightning checkpoint of tensors only loads as it is
    torch.save({"pytorch-lightning_version": "2.5.0", "state_dict": lightning_weights(tiny_model)}, plain)
    assert load_model(plain, mean=(0.5,), std=(0.25,)).info.arch == "small_cnn"
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x08\x12\x07pytorch\x1a\x052.5.0:\x00onnx" + bytes(64))
    with pytest.raises(CheckpointError, match="ONNX model.*onnx2torch"):
        load_model(onnx)


def lightning_weights(model):
    return {f"model.{k}": v for k, v in model.net.state_dict().items()}


def test_plain_state_dict_of_our_architecture_is_recognised(tiny_model, images, tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in tiny_model.net.state_dict().items()}}, path)
    loaded = load_model(path, mean=(0.5,), std=(0.25,))
    assert loaded.info.arch == "small_cnn" and loaded.info.num_classes == 6 and loaded.info.in_channels == 1
    assert _same_outputs(tiny_model, loaded, images)


def test_torchvision_state_dict_with_architecture_name(tmp_path):
    net = build_network("resnet18", 1, 3)
    path = tmp_path / "resnet.pt"
    torch.save({"model": {f"model.{k}": v for k, v in net.state_dict().items()}}, path)
    loaded = load_model(path, arch="resnet18", image_size=32)
    assert loaded.info.num_classes == 3 and loaded.info.in_channels == 1
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.net.eval()(x), net.eval()(x), atol=1e-5)


def test_plain_state_dicts_of_known_architectures_are_recognised(tmp_path):
    path = tmp_path / "r18.pt"
    torch.save(build_network("resnet18", 3, 4).state_dict(), path)
    loaded = load_model(path)
    assert loaded.info.arch == "resnet18" and loaded.info.in_channels == 3 and loaded.info.num_classes == 4


def test_unknown_plain_state_dict_asks_for_the_architecture(tmp_path):
    path = tmp_path / "r34.pt"
    torch.save(build_network("resnet34", 1, 3).state_dict(), path)
    with pytest.raises(CheckpointError, match="--arch"):
        load_model(path)
    assert load_model(path, arch="resnet34", image_size=32).info.arch == "resnet34"


def test_checkpoint_for_another_architecture(tmp_path, tiny_model):
    path = tmp_path / "small.pt"
    torch.save(tiny_model.net.state_dict(), path)
    with pytest.raises(ModelMismatchError, match="resnet18"):
        load_model(path, arch="resnet18")
    ours = save_checkpoint(tiny_model, tmp_path / "ours.pt")
    with pytest.raises(ModelMismatchError, match="small_cnn"):
        load_model(ours, arch="vgg11_bn")


def test_checkpoint_for_another_class_count_is_named(tiny_model):
    from fourier_masks.core.data.images import ImageSet
    from fourier_masks.core.runs.classes import fit_classes

    def images(channels, classes):
        names = tuple(f"k{k}" for k in range(classes))
        return ImageSet(torch.rand(classes, channels, 16, 16), torch.arange(classes), names, names, "data")

    with pytest.raises(ModelMismatchError, match="data has 10 classes but model m has 6"):
        fit_classes(images(1, 10), {"m": tiny_model.info})
    with pytest.raises(ModelMismatchError, match="1-channel"):
        fit_classes(images(3, 6), {"m": tiny_model.info})


def test_state_dict_with_wrong_shapes_reports_the_mismatch(tmp_path):
    net = build_network("resnet18", 1, 3)
    state = net.state_dict()
    state["fc.weight"] = torch.zeros(3, 256)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(ModelMismatchError, match="size mismatch for fc.weight"):
        load_model(path, arch="resnet18")


def test_torchscript_round_trip(tiny_model, images, tmp_path):
    path = export_torchscript(tiny_model, tmp_path / "model.ts")
    loaded = load_model(path)
    assert loaded.info.source == "torchscript" and loaded.info.num_classes == 6
    assert _same_outputs(tiny_model, loaded, images)


def test_torchscript_without_metadata_needs_shapes(tiny_model, tmp_path):
    path = tmp_path / "foreign.pt"
    torch.jit.save(torch.jit.trace(tiny_model.net.eval(), torch.rand(1, 1, 16, 16)), path)
    with pytest.raises(CheckpointError, match="channels, number of classes and image size"):
        load_model(path)
    loaded = load_model(path, in_channels=1, num_classes=6, image_size=16)
    assert loaded.info.mean == (0.0,) and loaded.info.std == (1.0,)


def test_torch_export_round_trip(tiny_model, images, tmp_path):
    path = export_program(tiny_model, tmp_path / "model.pt2")
    loaded = load_model(path)
    assert loaded.info.source == "torch-export"
    assert _same_outputs(tiny_model, loaded, images)
    loaded.eval()  # exported graphs refuse eval(); the wrapper must not


def test_torch_export_with_fixed_batch_is_fed_in_chunks(tiny_model, images, tmp_path):
    program = torch.export.export(tiny_model.net.eval(), (torch.rand(2, 1, 16, 16),))
    path = tmp_path / "fixed.pt2"
    torch.export.save(program, path)
    loaded = load_model(path, in_channels=1, num_classes=6, image_size=16, mean=(0.5,), std=(0.25,))
    assert _same_outputs(tiny_model, loaded, images)  # 5 images through a batch-2 graph


def test_exported_masks_learn_through_the_graph(tiny_model, tmp_path):
    from fourier_masks.core.masks.config import ImageMaskConfig
    from fourier_masks.core.masks.engine import learn_image_masks

    loaded = load_model(export_program(tiny_model, tmp_path / "m.pt2"))
    result = learn_image_masks(loaded, torch.rand(2, 1, 16, 16), config=ImageMaskConfig(max_steps=10))
    assert result.masks.shape == (2, 1, 16, 16)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Exploit(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="run code"):
        load_model(path)
    with pytest.raises(UnsafeCheckpointError):
        inspect_checkpoint(path)
    assert not marker.exists()


def test_legacy_pickle_exploit_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "legacy.pt"
    with open(path, "wb") as handle:
        pickle.dump(_Exploit(marker), handle, protocol=2)
    with pytest.raises(CheckpointError):
        load_model(path)
    assert not marker.exists()


def test_export_archive_with_pickled_payload_is_refused(tiny_model, tmp_path):
    good = export_program(tiny_model, tmp_path / "good.pt2")
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("model_weights_config.json"):
                data = data.replace(b'"use_pickle": false', b'"use_pickle": true')
            dst.writestr(item, data)
    with pytest.raises(UnsafeCheckpointError):
        load_model(evil)


def test_html_page_saved_as_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    path.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>")
    with pytest.raises(CheckpointError, match="HTML"):
        load_model(path)


def test_truncated_download(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "model.pt")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(truncated)


@pytest.mark.parametrize(
    "content,match", [(b"", "empty"), (b"hello world\n", "text"), (b"\x00\x01\x02garbage", "not a PyTorch")]
)
def test_files_that_are_not_checkpoints(tmp_path, content, match):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_model(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="folder"):
        load_model(tmp_path)


def test_a_tensor_instead_of_a_state_dict(tmp_path):
    path = tmp_path / "t.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="state_dict"):
        load_model(path)


def test_nan_weights_are_refused(tiny_model, tmp_path):
    with torch.no_grad():
        next(tiny_model.parameters()).view(-1)[0] = float("nan")
    path = save_checkpoint(tiny_model, tmp_path / "nan.pt")
    with pytest.raises(NonFiniteError, match="NaN"):
        load_model(path)


def test_model_info_validation():
    from fourier_masks.core.errors import ConfigError

    with pytest.raises(ConfigError):
        ModelInfo(arch="small_cnn", in_channels=1, num_classes=1, image_size=16, mean=(0.5,), std=(0.2,))
    with pytest.raises(ConfigError):
        ModelInfo(arch="small_cnn", in_channels=3, num_classes=4, image_size=16, mean=(0.5,), std=(0.2,))
    with pytest.raises(ConfigError):
        build_classifier(
            ModelInfo(arch="no_such_net", in_channels=1, num_classes=4, image_size=16, mean=(0.5,), std=(0.2,))
        )


def test_graph_models_are_saved_back_with_metadata(tiny_model, images, tmp_path):
    foreign = tmp_path / "foreign.ts"
    torch.jit.save(torch.jit.trace(tiny_model.net.eval(), torch.rand(1, 1, 16, 16)), foreign)
    loaded = load_model(foreign, in_channels=1, num_classes=6, image_size=16, mean=(0.5,), std=(0.25,))
    copy = load_model(save_checkpoint(loaded, tmp_path / "copy.pt"))  # no shapes needed now
    assert copy.info.num_classes == 6 and copy.info.mean == (0.5,)
    assert _same_outputs(tiny_model, copy, images)
    exported = load_model(export_program(tiny_model, tmp_path / "m.pt2"))
    again = load_model(save_checkpoint(exported, tmp_path / "again.pt"))
    assert inspect_checkpoint(tmp_path / "again.pt").format == "torch-export"
    assert _same_outputs(tiny_model, again, images)


def _deprecated_upstream(path) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.jit.load(str(path))
    return any("deprecated" in str(w.message) for w in caught)


@pytest.mark.slow
def test_info_on_a_torchscript_file_prints_no_raw_python_warnings(tmp_path, tiny_model):
    """Run as a user would, with Python's default warning filters."""
    path = export_torchscript(tiny_model, tmp_path / "scripted.pt")
    env = {**os.environ, "FOURIER_MASKS_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "default"}
    result = subprocess.run(
        [sys.executable, "-m", "fourier_masks.core", "info", str(path)],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "warnings.warn" not in result.stderr, result.stderr


def test_torchscript_deprecation_is_one_notice_in_our_words(tmp_path, tiny_model, caplog, monkeypatch):
    """torch ≥ 2.10 deprecates torch.jit.load/save with FutureWarnings: loading and saving
    TorchScript raise none of them; the user gets one notice per process instead."""
    import fourier_masks.core.logs as logs_module

    monkeypatch.setattr(logs_module, "_noticed", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_torchscript(tiny_model, tmp_path / "scripted.pt")
        load_model(path)
        load_model(path)
    assert [str(w.message) for w in caught] == []
    notices = [r.getMessage() for r in caplog.records if r.name == "fourier_masks.notices"]
    trusted = [n for n in notices if "trust" in n]
    assert trusted == [f"scripted.pt {TRUSTED_ONLY}"]  # a program: said once per file
    notices = [n for n in notices if n not in trusted]
    if _deprecated_upstream(path):
        assert len(notices) == 1 and notices[0].startswith("TorchScript is deprecated in PyTorch")
    else:
        assert notices == []


def test_a_dropped_weights_file_keeps_its_description_out_of_the_images(tmp_path):
    from fourier_masks.core.runs.workflows import sort_dropped_paths

    weights, description, other = tmp_path / "w.safetensors", tmp_path / "w.json", tmp_path / "notes.json"
    checkpoints, images, runs = sort_dropped_paths([weights, description, other, tmp_path / "a.png"])
    assert checkpoints == [weights] and images == [other, tmp_path / "a.png"] and runs == []
