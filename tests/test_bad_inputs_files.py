"""Hostile and odd input files: images, image folders, checkpoints and class-name files.

The companion of ``tests/test_bad_inputs.py`` for files built to hurt (a 140 KB PNG claiming
144 megapixels, a checkpoint whose deflated zeros inflate to gigabytes, metadata claiming a
60 000-px input, a class-names "file" that is a pipe or ``/dev/zero``) and files that are
merely odd (the same image twice, a name that is not UTF-8, an empty class folder, a float
TIFF holding NaN, a model returning a tuple, a file the user may not read, a link loop). Each
case either gets one line naming the file, what is wrong and what to do, or is handled
correctly; bounds are lowered through their environment variables so the cases stay small.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from test_bad_inputs import bomb_png, case, cli_error, expect, png, run_cli

from fourier_masks.core import errors
from fourier_masks.core.data.datasets import load_dataset, load_image_folder
from fourier_masks.core.data.images import image_set_from_files, load_image
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.models.checkpoints import load_model, output_width, save_checkpoint
from fourier_masks.core.models.class_names import class_index_map, read_class_names
from fourier_masks.core.models.zoo import open_model
from fourier_masks.core.runs.store import ResultsStore

ENGINE: dict[str, Callable] = {}
CLI: dict[str, Callable] = {}


@pytest.fixture
def ctx(tmp_path, trained_shapes_model, monkeypatch):
    """A tmp folder, a checkpoint of the 16-px, 6-class grayscale model, and monkeypatch."""
    return {
        "dir": tmp_path,
        "model": trained_shapes_model,
        "ckpt": save_checkpoint(trained_shapes_model, tmp_path / "good.safetensors"),
        "mp": monkeypatch,
    }


def image_folder(root: Path, classes=("cat", "dog"), per_class: int = 3) -> Path:
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            png(root / name / f"{i}.png", size=(20, 20))
    return root


def nan_tiff(path: Path) -> Path:
    """A 32-bit float TIFF (Pillow mode "F") with one NaN pixel: a format our loader accepts
    that can carry NaN."""
    pixels = np.random.default_rng(0).random((20, 20)).astype(np.float32)
    pixels[3, 4] = np.nan
    Image.fromarray(pixels, mode="F").save(path)
    return path


def torch_zip_bomb(path: Path, inflated: int) -> Path:
    """A real ``torch.save`` archive plus one deflated record of ``inflated`` zero bytes."""
    torch.save({"w": torch.zeros(4)}, path.with_suffix(".plain"))
    with zipfile.ZipFile(path.with_suffix(".plain")) as source, zipfile.ZipFile(path, "w") as bomb:
        for record in source.infolist():
            bomb.writestr(record, source.read(record))
        folder = source.namelist()[0].split("/")[0]
        bomb.writestr(f"{folder}/data/1", bytes(inflated), compress_type=zipfile.ZIP_DEFLATED)
    return path


def with_metadata(c, **changes) -> Path:
    """The good checkpoint with its metadata's fields changed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(c["ckpt"]), "pt") as handle:
        metadata, weights = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}
    info = {**json.loads(metadata["info"]), **changes}
    path = c["dir"] / "claims.safetensors"
    save_file(weights, str(path), metadata={**metadata, "info": json.dumps(info)})
    return path


class Tuple(torch.nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :6], x


class Dict(torch.nn.Module):
    def forward(self, x):
        return {"logits": x.flatten(1)[:, :6]}


class Rank4(torch.nn.Module):
    def forward(self, x):
        return x


def scripted(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), path)
    return path


def graph(path: Path):
    return load_model(path, in_channels=1, num_classes=6, image_size=16)


def denied(c, target: Path) -> None:
    """Opening ``target`` fails as for a user without read permission (we run as root, where
    chmod stops nothing)."""
    original = Path.open

    def open_unless_denied(self, *args, **kwargs):
        if Path(os.path.abspath(self)) == Path(os.path.abspath(target)):
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    c["mp"].setattr(Path, "open", open_unless_denied)


def finishes(action: Callable, seconds: float = 10.0):
    """``action()`` run in a thread: its value, or its exception raised here; a failure if it
    still runs after ``seconds`` (a read of a pipe that nothing writes to waits forever)."""
    outcome: list = []

    def run():
        try:
            outcome.append((action(), None))
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            outcome.append((None, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still running after {seconds} s"
    value, error = outcome[0]
    if error is not None:
        raise error
    return value


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# --- 1. the same image twice, and two images of one name ---------------------------------


@case(ENGINE, "the same image twice, two images of one name")
def _(c):
    a = png(c["dir"] / "a.png")
    (c["dir"] / "x").mkdir()
    (c["dir"] / "y").mkdir()
    os.symlink(a, c["dir"] / "link.png")
    images, problems = image_set_from_files([a, a, c["dir"] / "link.png"], 1, 16, ())
    assert len(images) == 1 and images.ids == ("a.png",) and not problems
    b, xa, ya = png(c["dir"] / "b.png"), png(c["dir"] / "x" / "a.png"), png(c["dir"] / "y" / "a.png")
    images, _ = image_set_from_files([b, xa, ya], 1, 16, ())
    assert images.ids == (str(b), str(xa), str(ya))  # names clash: the paths


@case(CLI, "the same image twice")
def _(c, capsys):
    a, run = png(c["dir"] / "twice.png"), c["dir"] / "run"
    args = ["masks", "image", "--model", c["ckpt"], "--images", a, a, "--max-steps", "2", "--out", run, "--quiet"]
    code, err = run_cli(capsys, args)
    assert code == 0 and "twice.png was given more than once; it is used once" in err, err
    assert ResultsStore.open(run).finished_ids("image/good-clean") == {"twice.png"}


# --- 2. an image claiming far more pixels than it holds ------------------------------------


@case(ENGINE, "a small PNG claiming a huge image")
def _(c):
    c["mp"].setenv("FOURIER_MASKS_MAX_IMAGE_PIXELS", "100000")
    big = png(c["dir"] / "big.png", size=(400, 400))  # 160 000 px: between the bound and twice it
    decoded = []
    c["mp"].setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    with warnings.catch_warnings(record=True) as caught:
        expect(
            errors.BadImageError,
            r"big.png is too large.*400 × 400 = 160,000 pixels.*100,000.*FOURIER_MASKS_MAX_IMAGE_PIXELS",
            lambda: load_image(big),
        )
    assert not decoded, "refused only after decoding"
    assert not [w for w in caught if "decompression bomb" in str(w.message)], "Pillow's warning got out"
    # far over: Pillow refuses it first, in our words
    huge = bomb_png(c["dir"] / "huge.png", 12_000)
    expect(
        errors.BadImageError, r"huge.png is too large.*144,000,000 pixels.*MAX_IMAGE_PIXELS", lambda: load_image(huge)
    )
    c["mp"].undo()  # the folder below: images decode again, at the default bound
    # inside an image folder: skipped, named, like a corrupt image
    folder = image_folder(c["dir"] / "data")
    bomb_png(folder / "cat" / "z.png", 12_000)
    data = load_image_folder(folder, size=16)
    assert len(data) == 6 and "z.png is too large" in data.skipped[0]


@case(CLI, "a small PNG claiming a huge image")
def _(c, capsys):
    huge = bomb_png(c["dir"] / "huge.png", 12_000)
    cli_error(
        capsys,
        ["masks", "image", "--model", c["ckpt"], "--images", huge, "--out", c["dir"] / "run"],
        r"huge.png is too large to open safely \(144,000,000 pixels.*FOURIER_MASKS_MAX_IMAGE_PIXELS",
    )


# --- 3. names that are not UTF-8 ----------------------------------------------------------


@case(ENGINE, "file names that are not UTF-8")
def _(c):
    folder = image_folder(c["dir"] / "data", per_class=5)
    png(Path(os.fsdecode(os.path.join(os.fsencode(folder / "cat"), b"bad\xff.png"))))
    splits = load_dataset(str(folder), size=16)  # the 80/20 split hashes the ids
    ids = splits.train.ids + splits.val.ids
    assert "cat/bad\\xff.png" in ids and len(ids) == 11
    odd_model = Path(os.fsdecode(os.path.join(os.fsencode(c["dir"]), b"mod\xe8le.safetensors")))
    odd_model.write_bytes(c["ckpt"].read_bytes())
    assert load_model(odd_model).info.num_classes == 6  # safetensors takes only UTF-8 paths


@case(CLI, "an image folder with a name that is not UTF-8")
def _(c, capsys):
    folder = c["dir"] / "pictures"
    folder.mkdir()
    png(Path(os.fsdecode(os.path.join(os.fsencode(folder), b"caf\xe9.png"))))
    run = c["dir"] / "run"
    code, err = run_cli(
        capsys,
        ["masks", "image", "--model", c["ckpt"], "--images", folder, "--max-steps", "2", "--out", run, "--quiet"],
    )
    assert code == 0, err
    assert ResultsStore.open(run).finished_ids("image/good-clean") == {"caf\\xe9.png"}


# --- 4. empty class folders, classes named alike --------------------------------------------


@case(ENGINE, "an empty class folder, classes named alike")
def _(c):
    folder = image_folder(c["dir"] / "data")
    (folder / "bird").mkdir()
    (folder / "bird" / "notes.txt").write_text("no pictures yet")
    expect(
        errors.BadDatasetError,
        r"data/bird holds no image files, so class bird would have no images; add some .* or remove the folder",
        lambda: load_image_folder(folder, size=16),
    )
    # two folders differing by case are two classes; a model made from them fits them again
    alike = image_folder(c["dir"] / "alike", classes=("Cat", "cat"))
    data = load_image_folder(alike, size=16)
    assert data.class_names == ("Cat", "cat") and class_index_map(data.class_names, data.class_names, "x") == (0, 1)
    expect(
        errors.ModelMismatchError,
        "classes Cat and cat are the same class of the model, cat.*merge",
        lambda: class_index_map(data.class_names, ["dog", "cat"], "alike"),
    )
    # a names file may repeat a name (as ImageNet's widely copied list does); data of that name
    # cannot be matched to one class
    names = c["dir"] / "names.txt"
    names.write_text("crane\nheron\ncrane\n")
    assert read_class_names(names, 3) == ("crane", "heron", "crane")
    expect(
        errors.ModelMismatchError,
        r"class crane names 2 classes of the model \(outputs 0, 2\)",
        lambda: class_index_map(["crane", "heron"], ["crane", "heron", "crane"], "data"),
    )


@case(CLI, "an empty class folder")
def _(c, capsys):
    folder = image_folder(c["dir"] / "data")
    (folder / "bird").mkdir()
    cli_error(
        capsys,
        ["train", "--data", folder, "--size", "16", "--epochs", "1", "--out", c["dir"] / "run"],
        "bird holds no image files.*remove the folder",
    )


# --- 5. NaN pixels -----------------------------------------------------------------------------


@case(ENGINE, "a float TIFF holding NaN")
def _(c):
    bad = nan_tiff(c["dir"] / "nan.tif")
    expect(errors.BadImageError, "nan.tif has NaN or infinite pixel values.*save it again", lambda: load_image(bad))
    images, problems = image_set_from_files([bad, png(c["dir"] / "good.png")], 1, 16, ())
    assert images.ids == ("good.png",) and "nan.tif has NaN" in problems[0]
    folder = image_folder(c["dir"] / "data")
    nan_tiff(folder / "dog" / "nan.tif")
    assert "nan.tif has NaN" in load_image_folder(folder, size=16).skipped[0]


@case(CLI, "a float TIFF holding NaN")
def _(c, capsys):
    bad, good, run = nan_tiff(c["dir"] / "nan.tif"), png(c["dir"] / "good.png"), c["dir"] / "run"
    cli_error(capsys, ["masks", "image", "--model", c["ckpt"], "--images", bad, "--out", run], "nan.tif has NaN")
    assert not (run / "masks").exists()  # refused before any group was made
    code, err = run_cli(
        capsys, ["masks", "image", "--model", c["ckpt"], "--images", bad, good, "--max-steps", "2", "--out", run]
    )
    assert code == 0 and "skipped: nan.tif has NaN" in err, err


# --- 6. checkpoints that inflate ------------------------------------------------------------


@case(ENGINE, "a checkpoint zip bomb")
def _(c):
    c["mp"].setenv("FOURIER_MASKS_MAX_CHECKPOINT_BYTES", "1000000")
    bomb = torch_zip_bomb(c["dir"] / "bomb.pt", 8 << 20)
    assert bomb.stat().st_size < 100_000
    c["mp"].setattr(torch, "load", lambda *a, **k: pytest.fail("a record was read"))
    expect(
        errors.CheckpointError,
        r"bomb.pt would unpack to 8.0 MiB, over the bound of 976.6 KiB .*zip bomb.*FOURIER_MASKS_MAX_CHECKPOINT_BYTES",
        lambda: load_model(bomb),
    )
    # files that are not compressed are bounded by their size
    (c["dir"] / "legacy.pt").write_bytes(b"\x80\x02" + bytes(2_000_000))
    expect(
        errors.CheckpointError,
        "legacy.pt is 1.9 MiB, over.*FOURIER_MASKS_MAX_CHECKPOINT_BYTES",
        lambda: load_model(c["dir"] / "legacy.pt"),
    )
    c["mp"].setenv("FOURIER_MASKS_MAX_CHECKPOINT_BYTES", "1000")
    expect(
        errors.CheckpointError,
        "good.safetensors is .*over.*FOURIER_MASKS_MAX_CHECKPOINT_BYTES",
        lambda: load_model(c["ckpt"]),
    )


@case(CLI, "a checkpoint zip bomb")
def _(c, capsys):
    c["mp"].setenv("FOURIER_MASKS_MAX_CHECKPOINT_BYTES", "1000000")
    cli_error(capsys, ["info", torch_zip_bomb(c["dir"] / "bomb.pt", 8 << 20)], "would unpack to 8.0 MiB.*zip bomb")


# --- 7. metadata claiming absurd sizes ------------------------------------------------------


@case(ENGINE, "metadata claiming absurd sizes")
def _(c):
    for field, value, variable in (
        ("image_size", 60_000, "FOURIER_MASKS_MAX_IMAGE_SIDE"),
        ("num_classes", 10**9, "FOURIER_MASKS_MAX_CLASSES"),
        ("in_channels", 10**6, "FOURIER_MASKS_MAX_CHANNELS"),
    ):
        path = with_metadata(c, **{field: value})
        pattern = f"claims.safetensors: metadata {field} {value} is over.*{variable}"
        expect(errors.CheckpointError, pattern, lambda path=path: load_model(path))
    path = with_metadata(c, image_size="big")
    expect(errors.CheckpointError, "metadata image_size 'big' is not a whole number.*again", lambda: load_model(path))
    timm_folder = c["dir"] / "timm-model"
    timm_folder.mkdir()
    (timm_folder / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 10**9}))
    expect(errors.CheckpointError, "config.json: num_classes 1000000000 is over", lambda: open_model(timm_folder))


@case(CLI, "metadata claiming a 60 000-px input")
def _(c, capsys):
    cli_error(
        capsys, ["info", with_metadata(c, image_size=60_000)], "metadata image_size 60000 is over the bound of 4096 px"
    )


# --- 8. models that do not return one tensor of scores --------------------------------------


@case(ENGINE, "TorchScript returning a tuple, a dict, a 4-D tensor")
def _(c):
    for module, pattern in (
        (Tuple(), r"returns a tuple of 2, not one tensor of class scores; wrap it.*model\(x\)\[0\]"),
        (Dict(), r"returns a dict \(keys 'logits'\).*wrap it.*model\(x\)\['logits'\]"),
        (Rank4(), r"outputs a \(1, 1, 16, 16\) tensor for 1 image\(s\), not one score per class.*wrap it"),
    ):
        model = graph(scripted(module, c["dir"] / f"{type(module).__name__}.pt"))
        expect(errors.ModelMismatchError, pattern, lambda model=model: output_width(model))
        expect(
            errors.ModelMismatchError, "wrap it", lambda model=model: learn_image_masks(model, torch.rand(2, 1, 16, 16))
        )


@case(CLI, "TorchScript returning a tuple")
def _(c, capsys):
    path = scripted(Tuple(), c["dir"] / "pair.pt")
    shapes = ["--model-classes", "6", "--model-channels", "1", "--model-size", "16"]
    cli_error(
        capsys,
        ["masks", "image", "--model", path, *shapes, "--images", png(c["dir"] / "a.png"), "--out", c["dir"] / "run"],
        "model pair returns a tuple of 2, not one tensor of class scores",
    )


# --- 9. files the user may not read ----------------------------------------------------------


@case(ENGINE, "files and folders the user may not read")
def _(c):
    denied(c, c["ckpt"])
    expect(
        errors.CheckpointError,
        r"cannot read .*good.safetensors: permission denied; give yourself",
        lambda: load_model(c["ckpt"]),
    )
    image = png(c["dir"] / "secret.png")
    denied(c, image)
    expect(errors.BadImageError, "cannot read .*secret.png: permission denied", lambda: load_image(image))
    names = c["dir"] / "names.txt"
    names.write_text("a\nb\n")
    denied(c, names)
    expect(
        errors.ConfigError,
        "cannot read class names from .*names.txt: permission denied",
        lambda: read_class_names(names, 2),
    )
    folder = image_folder(c["dir"] / "data")
    listing = os.scandir

    def scandir(path="."):
        if Path(path).name == "dog":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return listing(path)

    c["mp"].setattr(os, "scandir", scandir)
    expect(
        errors.BadDatasetError, "cannot read .*data/dog: permission denied", lambda: load_image_folder(folder, size=16)
    )


@case(CLI, "a model file the user may not read")
def _(c, capsys):
    denied(c, c["ckpt"])
    cli_error(capsys, ["info", c["ckpt"]], "cannot read .*good.safetensors: permission denied")


# --- 10. class-name files ---------------------------------------------------------------------


@case(ENGINE, "class names from a pipe, a device, a huge, binary, empty or short file")
def _(c):
    pipe = fifo(c["dir"] / "pipe")
    expect(
        errors.ConfigError,
        "cannot read class names from .*pipe: it is a named pipe, not a text file of class names",
        lambda: finishes(lambda: read_class_names(pipe, 3)),
    )
    expect(errors.ConfigError, "/dev/zero: it is a device", lambda: finishes(lambda: read_class_names("/dev/zero", 3)))
    c["mp"].setenv("FOURIER_MASKS_MAX_CLASS_NAMES_BYTES", "1000")
    (c["dir"] / "long.txt").write_text("name\n" * 1000)
    expect(
        errors.ConfigError,
        "long.txt: it is over 1000 bytes.*FOURIER_MASKS_MAX_CLASS_NAMES_BYTES",
        lambda: read_class_names(c["dir"] / "long.txt", 3),
    )
    for content, pattern in (
        (b"caf\xe9\nb\nc\n", "not UTF-8 text.*save it as UTF-8"),
        (b"", "names.txt holds 0 class names; give one name per line"),
        (b"a\nb\n", "names.txt holds 2 class names, but the model has 3 classes"),
    ):
        (c["dir"] / "names.txt").write_bytes(content)
        expect(errors.ConfigError, pattern, lambda: read_class_names(c["dir"] / "names.txt", 3))  # noqa: B023


@case(CLI, "class names from a pipe")
def _(c, capsys):
    pipe = fifo(c["dir"] / "pipe")
    args = ["heat-map", "--model", c["ckpt"], "--data", "builtin", "--size", "16", "--val-per-class", "1"]
    finishes(lambda: cli_error(capsys, [*args, "--class-names", pipe, "--out", c["dir"] / "run"], "is a named pipe"))


# --- 11. odd files -----------------------------------------------------------------------------


@case(ENGINE, "links, folders, devices, vector and array files given as images")
def _(c):
    d = c["dir"]
    os.symlink(d / "loop.png", d / "loop.png")
    os.symlink(d / "nowhere.png", d / "dangling.png")
    (d / "folder.png").mkdir()
    (d / "vector.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')
    np.save(d / "array.npy", np.zeros((8, 8)))
    for path, pattern in (
        (d / "loop.png", "loop.png: it is a loop of symbolic links"),
        (d / "dangling.png", "dangling.png: it is a link to .*nowhere.png, which does not exist"),
        (d / "folder.png", "folder.png: it is a folder, not an image file"),
        (Path("/dev/zero"), "/dev/zero: it is a device, not an image file"),
        (fifo(d / "pipe.png"), "pipe.png: it is a named pipe, not an image file"),
        (d / "vector.svg", "vector.svg is not an image that can be read.*SVG.*save it again as PNG"),
        (d / "array.npy", "array.npy is not an image that can be read"),
    ):
        expect(errors.BadImageError, pattern, lambda path=path: finishes(lambda: load_image(path)))
    frames = [Image.fromarray(np.full((8, 8), 40 * k, np.uint8)) for k in range(5)]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    assert torch.allclose(load_image(d / "anim.gif", channels=1), torch.full((1, 8, 8), 0.0))  # the first frame


@case(CLI, "a link loop given as an image")
def _(c, capsys):
    os.symlink(c["dir"] / "loop.png", c["dir"] / "loop.png")
    cli_error(
        capsys,
        ["masks", "image", "--model", c["ckpt"], "--images", c["dir"] / "loop.png", "--out", c["dir"] / "run"],
        "loop.png: it is a loop of symbolic links",
    )


@case(ENGINE, "an architecture too deep for the image size")
def _(c):
    from fourier_masks.core.models.architectures import build_classifier
    from fourier_masks.core.models.classifier import ModelInfo

    info = ModelInfo(arch="vgg11_bn", in_channels=1, num_classes=2, image_size=16, mean=(0.5,), std=(0.25,))
    expect(errors.ConfigError, "vgg11_bn cannot take 16-px images.*small_cnn", lambda: build_classifier(info))


@case(CLI, "a file the system lists but cannot read")
def _(c, capsys):
    if not Path("/proc/self/mem").exists():
        pytest.skip("no /proc on this system")
    cli_error(capsys, ["info", "/proc/self/mem"], "cannot read /proc/self/mem: Input/output error")


# --- running the tables -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENGINE))
def test_engine(name, ctx):
    ENGINE[name](ctx)


@pytest.mark.parametrize("name", list(CLI))
def test_cli(name, ctx, capsys):
    CLI[name](ctx, capsys)


def test_every_problem_has_an_engine_and_a_cli_case():
    assert len(ENGINE) == len(CLI) == 12
