"""Models by name and from library folders, loaded offline from each library's own on-disk
layout (torchvision's hub cache file name, the Hugging Face hub cache, timm's and transformers'
folders), with their authors' preprocessing; and data sets of a few of a model's classes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fourier_masks.core.cli import main
from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.errors import CheckpointError, ConfigError, ModelMismatchError, ModelUnavailableError
from fourier_masks.core.models import (
    class_index_map,
    imagenet_categories,
    imagenet_wnids,
    is_model_name,
    load_model,
    open_model,
    save_checkpoint,
)
from fourier_masks.core.preparation import Preparation
from fourier_masks.core.runs.classes import fit_classes
from fourier_masks.core.runs.store import ResultsStore

IMAGENETTE = ("n01440764", "n02102040", "n02979186", "n03000684", "n03028079")  # tench, springer, ...


def test_names_are_told_from_files():
    assert is_model_name("timm:resnet50.a1_in1k") and is_model_name("torchvision:resnet18")
    assert not is_model_name("model.pt") and not is_model_name("C:/models/x.pt") and not is_model_name("timm:")


def test_a_torchvision_name_loads_the_cached_weights_with_their_preprocessing(torch_home, network_off):
    model = open_model("torchvision:squeezenet1_1")
    assert model.info.preparation == Preparation(224, 256, "bilinear")
    assert model.info.mean == pytest.approx((0.485, 0.456, 0.406))
    assert model.info.labels()[0] == "tench" and model.info.num_classes == 1000
    state = torch.load(torch_home, weights_only=True)
    assert torch.equal(model.net.state_dict()["features.0.weight"], state["features.0.weight"])
    by_path = open_model(torch_home)  # the cached file itself is recognised by its name
    assert by_path.info.preparation == model.info.preparation and by_path.info.class_names == model.info.class_names


def test_a_name_that_needs_the_network_fails_at_once_with_the_cache_and_the_remedy(tmp_path, monkeypatch, network_off):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as caught:
        open_model("torchvision:squeezenet1_1:IMAGENET1K_V1")
    assert time.perf_counter() - started < 10
    message = str(caught.value)
    assert "squeezenet1_1-b8a52dc0.pth" in message and str(tmp_path / "empty") in message
    assert "get_model('squeezenet1_1', weights='IMAGENET1K_V1')" in message


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="choose one of IMAGENET1K_V1"):
        open_model("torchvision:squeezenet1_1:IMAGENET1K_V9")
    with pytest.raises(ConfigError, match="no classification model"):
        open_model("torchvision:not_a_net")
    with pytest.raises(ConfigError, match="robustbench:<dataset>/<threat>/<name>"):
        open_model("robustbench:Salman2020Do_R50")


def test_a_timm_name_loads_from_the_hugging_face_cache(hf_cache, network_off):
    model = open_model("timm:test_resnet.r160_in1k")
    assert model.info.preparation == Preparation(160, 168, "bilinear")  # crop_pct 0.95
    assert model.info.mean == pytest.approx((0.5, 0.5, 0.5))
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        assert torch.allclose(model(x), hf_cache.eval()((x - 0.5) / 0.5), atol=1e-5)


def test_a_timm_name_not_cached_fails_at_once_offline(tmp_path, monkeypatch, network_off):
    pytest.importorskip("timm")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="hf download timm/test_resnet.r160_in1k"):
        open_model("timm:test_resnet.r160_in1k")
    assert time.perf_counter() - started < 10


def test_library_folders_load_and_survive_a_round_trip_through_our_checkpoint(timm_folder, hf_folder, tmp_path):
    for folder, preparation, size in (
        (timm_folder, Preparation(160, 168, "bilinear"), 160),
        (hf_folder, Preparation(64, 73, "bicubic"), 64),
    ):
        model = open_model(folder)
        assert model.info.preparation == preparation
        kept = load_model(save_checkpoint(model, tmp_path / f"{folder.name}.safetensors"))
        assert kept.info == model.info
        x = torch.rand(2, 3, size, size)
        with torch.no_grad():
            assert torch.allclose(model(x), kept(x), atol=1e-5)
    assert open_model(hf_folder).info.labels()[217] == "English springer"


def test_a_hugging_face_name_offline_fails_at_once(network_off):
    pytest.importorskip("transformers")
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="hf download someone/tiny-model"):
        open_model("hf:someone/tiny-model")
    assert time.perf_counter() - started < 10


def test_preparation_resizes_then_crops_like_torchvision():
    from torchvision.transforms import v2

    from fourier_masks.core.data.images import resize_crop

    image = torch.rand(3, 300, 400)
    ours = resize_crop(image, Preparation(224, 256, "bicubic"))
    theirs = v2.Compose(
        [v2.Resize(256, interpolation=v2.InterpolationMode.BICUBIC, antialias=True), v2.CenterCrop(224)]
    )(image)
    assert ours.shape == (3, 224, 224)
    assert torch.allclose(ours, theirs.clamp(0, 1), atol=1e-6)
    assert not torch.allclose(ours, resize_crop(image, 224), atol=1e-2)  # the crop matters


# --- a few of a large model's classes --------------------------------------------------------


def test_wordnet_ids_and_names_map_onto_imagenet_outputs():
    labels = imagenet_categories()
    assert imagenet_wnids()[217] == "n02102040" and len(imagenet_wnids()) == 1000
    assert class_index_map(IMAGENETTE, labels, "data") == (0, 217, 482, 491, 497)
    assert class_index_map(["English_springer", "tench"], labels, "data") == (217, 0)
    with pytest.raises(ModelMismatchError, match="n99999999"):
        class_index_map(["n99999999", "tench"], labels, "data")
    with pytest.raises(ModelMismatchError, match="same class"):
        class_index_map(["tench", "n01440764"], labels, "data")
    assert class_index_map(["a", "b"], ["class 0", "class 1"], "data") == (0, 1)  # same count: by position


def test_fitted_labels_index_the_model_outputs(hf_folder):
    info = open_model(hf_folder).info
    images = ImageSet(
        images=torch.rand(4, 3, 64, 64),
        labels=torch.tensor([0, 1, -1, 1]),
        class_names=("n01440764", "n02102040"),
        ids=("a", "b", "c", "d"),
    )
    fitted = fit_classes(images, {"m": info})
    assert fitted.labels.tolist() == [0, 217, -1, 217]
    assert fitted.class_names[217] == "English springer" and fitted.present_classes == [0, 217]
    gray = ImageSet(images.images[:, :1], images.labels, images.class_names, images.ids)
    with pytest.raises(ModelMismatchError, match="3-channel"):
        fit_classes(gray, {"m": info})


def _imagenette_folder(root, per_class=2, size=80):
    rng = np.random.default_rng(0)
    for wnid in IMAGENETTE:
        (root / wnid).mkdir(parents=True)
        for k in range(per_class):
            pixels = (rng.random((size, size + 20, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / wnid / f"{wnid}_{k}.JPEG")
    return root


def test_info_and_image_masks_work_on_every_kind_of_model(
    tmp_path, torch_home, timm_folder, hf_folder, network_off, capsys
):
    image = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(1).random((90, 120, 3)) * 255).astype(np.uint8)).save(image)
    import torchvision
    from safetensors.torch import save_file

    plain = tmp_path / "resnet18-plain.safetensors"
    save_file(torchvision.models.resnet18(num_classes=10).state_dict(), plain)
    plain.with_suffix(".json").write_text('{"arch": "resnet18", "image_size": 32}')
    for spec, shown in (
        ("torchvision:squeezenet1_1", "shorter side to 256 px (bilinear), centre crop 224×224"),
        (str(timm_folder), "shorter side to 168 px (bilinear), centre crop 160×160"),
        (str(hf_folder), "shorter side to 73 px (bicubic), centre crop 64×64"),
        (str(plain), "shorter side to 32 px (bilinear), centre 32×32"),
    ):
        assert main(["info", spec]) == 0
        assert f"preprocessing: {shown}" in capsys.readouterr().out
        run = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        argv = ["masks", "image", "--model", spec, "--images", str(image), "--max-steps", "3", "--out", str(run)]
        assert main([*argv, "--quiet"]) == 0, spec
        assert len(list((run / "models").iterdir())) == 1


def test_data_of_a_few_imagenet_classes_is_scored_against_all_outputs(tmp_path, hf_folder, capsys):
    data = _imagenette_folder(tmp_path / "imagenette")  # evaluation only: no train/, all 10 images scored
    argv = ["masks", "set", "--model", str(hf_folder), "--data", str(data), "--max-epochs", "1", "--out"]
    assert main([*argv, str(tmp_path / "run"), "--quiet"]) == 0
    assert "clean accuracy 0.0 % on 10 labelled images" in capsys.readouterr().err  # random weights
    (data / "not-a-class").mkdir()
    Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(data / "not-a-class" / "x.png")
    assert main([*argv, str(tmp_path / "run2"), "--quiet"]) == 2
    assert "not-a-class" in capsys.readouterr().err


# --- the study of given models ---------------------------------------------------------------


def _as_imagenet_model(model, name):
    """A 5-class model as a 1000-class ImageNet one: its outputs become those of the five
    Imagenette classes; the other 995 are never chosen (weights 0, bias −30)."""
    from torch import nn

    from fourier_masks.core.models import Classifier

    old = model.net.classifier
    wide = nn.Linear(old.in_features, 1000)
    with torch.no_grad():
        wide.weight.zero_()
        wide.bias.fill_(-30.0)
        for k, index in enumerate(class_index_map(IMAGENETTE, imagenet_categories(), "test")):
            wide.weight[index] = old.weight[k]
            wide.bias[index] = old.bias[k]
    model.net.classifier = wide
    info = model.info.replace(num_classes=1000, class_names=imagenet_categories(), name=name)
    return Classifier(model.net, info)


@pytest.fixture(scope="module")
def imagenette_study_inputs(tmp_path_factory):
    """An Imagenette-style folder (five WordNet-id classes, no train/: evaluation only) of the
    built-in shapes, and two 1000-class models trained on the same shapes, one plainly, one
    adversarially. The data were built for these models: the study's numbers test the
    plumbing, not a finding."""
    from fourier_masks.core.data.datasets import load_builtin
    from fourier_masks.core.training.train import TrainConfig, train_model

    root = tmp_path_factory.mktemp("imagenette")
    shapes = load_builtin("shapes", train_per_class=60, val_per_class=8, size=16)
    keep = [k for k in range(len(shapes.train)) if shapes.train.labels[k] < 5]
    train = shapes.train.subset(keep)
    train = ImageSet(train.images, train.labels, shapes.train.class_names[:5], train.ids, "shapes5")
    models = {}
    for code, augmentation in (("N", "none"), ("A", "adversarial")):
        config = TrainConfig(epochs=8, batch_size=32, max_lr=5e-3, crop_scale=(1.0, 1.0), augmentation=augmentation)
        trained = train_model(train, train, config=config, name=code).model
        path = root / f"{code}.safetensors"
        save_checkpoint(_as_imagenet_model(trained, f"shapes-{code}"), path)
        models[code] = path
    data = root / "val"
    for k, wnid in enumerate(IMAGENETTE):
        (data / wnid).mkdir(parents=True)
        for i in torch.nonzero(shapes.val.labels == k).flatten().tolist():
            pixels = (shapes.val.images[i, 0].numpy() * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(data / wnid / f"{wnid}_{i}.png")
    return data, models


@pytest.mark.slow
def test_a_study_of_given_1000_class_models_on_five_imagenet_classes(
    imagenette_study_inputs, tmp_path, capsys, monkeypatch
):
    import dataclasses

    from fourier_masks.core.cli.commands import study as study_command
    from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig

    preset = study_command.study_config

    def test_sized(*args, **kwargs):  # the quick preset with masks cut to test size
        return dataclasses.replace(
            preset(*args, **kwargs),
            set_mask=SetMaskConfig(lr=1e-2, batch_size=12, max_epochs=2),
            image_mask=ImageMaskConfig(max_steps=20, check_every=10),
            bands=8,
            examples=3,
        )

    monkeypatch.setattr(study_command, "study_config", test_sized)
    data, models = imagenette_study_inputs
    run = tmp_path / "run"
    argv = ["study", "--data", str(data), "--model", f"N={models['N']}", "--model", f"A={models['A']}"]
    assert main([*argv, "--preset", "quick", "--per-class", "3", "--out", str(run), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "model N: clean accuracy" in err and "on 40 labelled images" in err  # the whole folder
    assert (run / "tables" / "findings.csv").is_file() and "finding" in out
    assert not (run / "tables" / "training-N.csv").exists()  # nothing was trained
    assert sorted(p.name for p in (run / "models").iterdir()) == ["A.safetensors", "N.safetensors"]
    meta = ResultsStore.open(run).mask_meta("class/N")
    assert sorted(meta["classes"]) == sorted(class_index_map(IMAGENETTE, imagenet_categories(), "t"))


def test_a_study_of_given_models_refuses_training_options(capsys):
    assert main(["study", "--data", "x", "--model", "N=a.pt", "--epochs", "3", "--out", "r"]) == 2
    assert "--epochs applies to models the study trains" in capsys.readouterr().err
    assert main(["study", "--data", "x", "--model", "A=a.pt", "--out", "r"]) == 2
    assert "give N=MODEL" in capsys.readouterr().err
    assert main(["study", "--data", "x", "--model", "N", "--out", "r"]) == 2
    assert "CODE=MODEL" in capsys.readouterr().err


# --- RobustBench -----------------------------------------------------------------------------


@pytest.fixture
def robustbench_stand_in(tmp_path, monkeypatch):
    """RobustBench's model-zoo API (``model_dicts[BenchmarkDataset][ThreatModel][name]["model"]``,
    ``load_model(name, model_dir, dataset, threat_model)`` reading ``<dir>/<dataset>/<threat>/<name>.pt``)
    as a stand-in module: the real package pins timm==1.0.9, so it is not in the test environment.
    This checks our side of the contract, not RobustBench."""
    import enum
    import sys
    import types

    from torch import nn

    class BenchmarkDataset(enum.Enum):
        cifar_10 = "cifar10"
        imagenet = "imagenet"

    class ThreatModel(enum.Enum):
        Linf = "Linf"

    def tiny():
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

    zoo = {BenchmarkDataset.cifar_10: {ThreatModel.Linf: {"Tiny2024": {"model": tiny, "gdrive_id": "x"}}}}

    def load_model(model_name, model_dir="./models", dataset="cifar10", threat_model="Linf"):
        path = Path(model_dir) / dataset / threat_model / f"{model_name}.pt"
        if not path.is_file():
            raise ConnectionError("cannot reach Google Drive")
        model = zoo[BenchmarkDataset(dataset)][ThreatModel(threat_model)][model_name]["model"]()
        model.load_state_dict(torch.load(path, weights_only=False)["state_dict"])  # a library that opts out
        return model.eval()

    package = types.ModuleType("robustbench")
    package.load_model = load_model
    model_zoo = types.ModuleType("robustbench.model_zoo")
    model_zoo.model_dicts = zoo
    enums = types.ModuleType("robustbench.model_zoo.enums")
    enums.BenchmarkDataset, enums.ThreatModel = BenchmarkDataset, ThreatModel
    for name, module in (
        ("robustbench", package),
        ("robustbench.model_zoo", model_zoo),
        ("robustbench.model_zoo.enums", enums),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("ROBUSTBENCH_MODELS", str(tmp_path / "models"))
    weights = tmp_path / "models" / "cifar10" / "Linf" / "Tiny2024.pt"
    weights.parent.mkdir(parents=True)
    torch.save({"state_dict": tiny().state_dict()}, weights)
    return weights


def test_a_robustbench_name_loads_its_weights_with_its_preprocessing(robustbench_stand_in, tmp_path, network_off):
    model = open_model("robustbench:cifar10/Linf/Tiny2024")
    assert model.info.preparation == Preparation(32) and model.info.mean == (0.0, 0.0, 0.0)  # [0, 1] pixels
    assert model.info.labels()[3] == "cat"
    saved = torch.load(robustbench_stand_in, weights_only=True)["state_dict"]
    assert torch.equal(model.net.state_dict()["0.weight"], saved["0.weight"])
    kept = load_model(save_checkpoint(model, tmp_path / "kept.safetensors"))  # rebuilt from the zoo's entry
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(kept(x), model(x))
    with pytest.raises(ConfigError, match="no cifar10/Linf model 'Nobody'"):
        open_model("robustbench:cifar10/Linf/Nobody")


def test_a_robustbench_checkpoint_carrying_code_is_refused(robustbench_stand_in):
    import argparse

    weights = torch.load(robustbench_stand_in, weights_only=True)["state_dict"]
    torch.save({"state_dict": weights, "args": argparse.Namespace(lr=0.1)}, robustbench_stand_in)  # loading runs code
    with pytest.raises(CheckpointError, match="RobustBench could not load .*Unpickling"):
        open_model("robustbench:cifar10/Linf/Tiny2024")


def test_a_robustbench_name_not_downloaded_fails_at_once_offline(robustbench_stand_in, network_off):
    robustbench_stand_in.unlink()
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="robustbench.load_model\\('Tiny2024'"):
        open_model("robustbench:cifar10/Linf/Tiny2024")
    assert time.perf_counter() - started < 10
