"""Bad input, thrown at the engine, the CLI and the app.

Every case either gets a specific error naming the problem and what to do, or (for unusual
but valid input: 1×1, 16-bit, palette, alpha, CMYK images, non-ASCII names) is handled
correctly. Nothing crashes, and the results store stays readable. The count of cases is
checked at the end (``test_the_suite_covers_at_least_forty_inputs``).
"""

from __future__ import annotations

import copy
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from restricted import run_unable_to_write, scratch_folder

from fourier_masks.core import errors
from fourier_masks.core.attacks.adversarial import AttackConfig
from fourier_masks.core.cli import main as cli_main
from fourier_masks.core.data.datasets import load_dataset, load_image_folder, load_torchvision_dataset
from fourier_masks.core.data.images import load_image
from fourier_masks.core.files import atomic_write_text
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.models.checkpoints import export_program, load_model, save_checkpoint
from fourier_masks.core.runs.classes import fit_classes
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.training.train import TrainConfig, train_model

ENGINE: dict[str, Callable] = {}
CLI: dict[str, Callable] = {}
APP: dict[str, Callable] = {}
SLOW: set[str] = set()  # cases marked slow (a subprocess, say)


def case(table: dict, name: str):
    def register(function):
        table[name] = function
        return function

    return register


def expect(error: type[Exception], pattern: str, action: Callable) -> str:
    """Run ``action``; it must raise ``error`` with a message matching ``pattern``."""
    with pytest.raises(error, match=pattern) as info:
        action()
    return str(info.value)


# --- files to throw ------------------------------------------------------------------------------


def noise_image(size=(40, 40), mode="L", seed=0) -> Image.Image:
    shape = size[::-1] if mode == "L" else (*size[::-1], len(mode))
    return Image.fromarray((np.random.default_rng(seed).random(shape) * 255).astype(np.uint8))


def png(path: Path, size=(40, 40), mode="L") -> Path:
    noise_image(size, mode).save(path)
    return path


def truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def bomb_png(path: Path, side: int = 60_000) -> Path:
    """A tiny file whose header claims a 60 000 × 60 000 image (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    return path


class Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def ctx(tmp_path, trained_shapes_model):
    """A tmp folder, a good checkpoint of a 16-px, 6-class grayscale model, and the model."""
    model = copy.deepcopy(trained_shapes_model)
    return {"dir": tmp_path, "model": model, "ckpt": save_checkpoint(model, tmp_path / "good.pt")}


def failing_torchscript(path: Path) -> Path:
    class Picky(torch.nn.Module):
        def forward(self, x):
            if x.shape[-1] != 999:
                raise RuntimeError("this graph only takes 999-pixel images")
            return x.flatten(1)[:, :6]

    torch.jit.save(torch.jit.script(Picky()), path)
    return path


def tiny_images(model) -> torch.Tensor:
    return torch.rand(2, model.info.in_channels, model.info.image_size, model.info.image_size)


# --- the engine ----------------------------------------------------------------------------------


@case(ENGINE, "truncated PNG")
def _(c):
    expect(errors.BadImageError, "corrupt or truncated.*again", lambda: load_image(truncated(png(c["dir"] / "a.png"))))


@case(ENGINE, "truncated JPEG")
def _(c):
    path = c["dir"] / "a.jpg"
    Image.fromarray((np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)).save(path, quality=95)
    expect(errors.BadImageError, "corrupt or truncated.*again", lambda: load_image(truncated(path)))


@case(ENGINE, "text file named .png")
def _(c):
    path = c["dir"] / "notes.png"
    path.write_text("meeting notes, not a picture")
    expect(errors.BadImageError, "not an image.*save it again", lambda: load_image(path))


@case(ENGINE, "zero-byte image")
def _(c):
    path = c["dir"] / "empty.jpg"
    path.write_bytes(b"")
    expect(errors.BadImageError, "empty.*again", lambda: load_image(path))


@case(ENGINE, "huge image (decompression bomb)")
def _(c):
    expect(errors.BadImageError, "too large.*downscale", lambda: load_image(bomb_png(c["dir"] / "huge.png")))


@case(ENGINE, "1×1 image")
def _(c):
    Image.fromarray(np.array([[200]], np.uint8)).save(c["dir"] / "dot.png")
    assert load_image(c["dir"] / "dot.png", channels=1, size=16).shape == (1, 16, 16)


@case(ENGINE, "16-bit image")
def _(c):
    Image.fromarray((np.arange(400).reshape(20, 20) * 160).astype(np.uint16)).save(c["dir"] / "deep.png")
    image = load_image(c["dir"] / "deep.png", channels=1)
    assert 0.95 < float(image.max()) <= 1.0


@case(ENGINE, "palette image with transparency")
def _(c):
    noise_image((20, 20), "RGB", seed=2).convert("P").save(c["dir"] / "pal.png", transparency=0)
    assert load_image(c["dir"] / "pal.png", channels=3).shape == (3, 20, 20)


@case(ENGINE, "image with alpha")
def _(c):
    assert load_image(png(c["dir"] / "rgba.png", mode="RGBA"), channels=1, size=16).shape == (1, 16, 16)


@case(ENGINE, "CMYK JPEG")
def _(c):
    noise_image((20, 20), "RGB", seed=3).convert("CMYK").save(c["dir"] / "print.jpg")
    assert load_image(c["dir"] / "print.jpg", channels=3).shape == (3, 20, 20)


@case(ENGINE, "colour image for a grayscale model")
def _(c):
    assert load_image(png(c["dir"] / "rgb.png", mode="RGB"), channels=1, size=16).shape == (1, 16, 16)


@case(ENGINE, "wrong channel count")
def _(c):
    expect(errors.ConfigError, "1-channel.*channels=1", lambda: learn_image_masks(c["model"], torch.rand(2, 3, 16, 16)))


@case(ENGINE, "folder with no images")
def _(c):
    (c["dir"] / "data" / "cats").mkdir(parents=True)
    (c["dir"] / "data" / "cats" / "readme.txt").write_text("x")
    expect(errors.BadDatasetError, "no readable images.*supported", lambda: load_image_folder(c["dir"] / "data"))


@case(ENGINE, "folder with mixed junk")
def _(c):
    folder = c["dir"] / "data" / "cats"
    folder.mkdir(parents=True)
    png(folder / "good.png")
    (folder / "bad.png").write_text("junk")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04junk")
    data = load_image_folder(c["dir"] / "data", size=16)
    assert len(data) == 1 and "bad.png" in data.skipped[0]


@case(ENGINE, "empty folder")
def _(c):
    (c["dir"] / "data").mkdir()
    expect(errors.BadDatasetError, "no class sub-folders", lambda: load_image_folder(c["dir"] / "data"))


@case(ENGINE, "a file where a folder is expected")
def _(c):
    expect(errors.BadDatasetError, "is a file", lambda: load_image_folder(png(c["dir"] / "a.png")))


@case(ENGINE, "checkpoint truncated mid-write")
def _(c):
    expect(errors.CheckpointError, "truncated.*again", lambda: load_model(truncated(c["ckpt"])))


@case(ENGINE, "checkpoint for another architecture")
def _(c):
    expect(
        errors.ModelMismatchError,
        "architecture they were trained with",
        lambda: load_model(_plain_state_dict(c), arch="resnet18"),
    )


def _plain_state_dict(c) -> Path:
    path = c["dir"] / "weights.pth"
    torch.save(c["model"].net.state_dict(), path)
    return path


@case(ENGINE, "checkpoint for another class count")
def _(c):
    data = load_dataset("builtin:planted", size=16, train_per_class=1, val_per_class=2).val
    expect(
        errors.ModelMismatchError,
        r"that the model \(6 classes\) does not have by name",
        lambda: fit_classes(data, {"m": c["model"].info}),
    )


@case(ENGINE, "pickle that runs code on load")
def _(c):
    marker, path = c["dir"] / "pwned", c["dir"] / "evil.pt"
    torch.save({"state_dict": {}, "x": Exploit(marker)}, path)
    expect(errors.UnsafeCheckpointError, "run code", lambda: load_model(path))
    assert not marker.exists()


@case(ENGINE, "legacy pickle that runs code")
def _(c):
    marker, path = c["dir"] / "pwned", c["dir"] / "legacy.pt"
    path.write_bytes(pickle.dumps(Exploit(marker), protocol=2))
    expect(errors.CheckpointError, "refused|corrupt", lambda: load_model(path))
    assert not marker.exists()


@case(ENGINE, "torch.export archive carrying pickles")
def _(c):
    good = export_program(c["model"], c["dir"] / "good.pt2")
    evil = c["dir"] / "evil.pt2"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data.replace(b'"use_pickle": false', b'"use_pickle": true'))
    expect(errors.UnsafeCheckpointError, "refused", lambda: load_model(evil))


@case(ENGINE, "TorchScript that fails when run")
def _(c):
    model = load_model(failing_torchscript(c["dir"] / "picky.ts"), in_channels=1, num_classes=6, image_size=16)
    expect(
        errors.ModelRunError,
        "failed when run.*999-pixel.*size",
        lambda: learn_image_masks(model, torch.rand(2, 1, 16, 16)),
    )


@case(ENGINE, "TorchScript file truncated")
def _(c):
    expect(
        errors.CheckpointError, "truncated", lambda: load_model(truncated(failing_torchscript(c["dir"] / "picky.ts")))
    )


@case(ENGINE, "HTML page saved as a checkpoint")
def _(c):
    path = c["dir"] / "model.pt"
    path.write_text("<!doctype html><html><body>Please log in</body></html>")
    expect(errors.CheckpointError, "HTML.*download the file itself", lambda: load_model(path))


@case(ENGINE, "NaN weights")
def _(c):
    with torch.no_grad():
        c["model"].net.classifier.weight[0, 0] = float("nan")
    expect(
        errors.NonFiniteError,
        "NaN or Inf.*weights",
        lambda: load_model(save_checkpoint(c["model"], c["dir"] / "nan.pt")),
    )


@case(ENGINE, "Inf outputs")
def _(c):
    with torch.no_grad():
        c["model"].net.classifier.bias.fill_(float("inf"))
    expect(
        errors.NonFiniteError,
        "NaN or Inf outputs.*check the checkpoint",
        lambda: learn_image_masks(c["model"], tiny_images(c["model"])),
    )


@case(ENGINE, "NaN pixels")
def _(c):
    images = tiny_images(c["model"])
    images[0, 0, 0, 0] = float("nan")
    expect(errors.NonFiniteError, "NaN or Inf", lambda: learn_image_masks(c["model"], images))


@case(ENGINE, "λ < 0")
def _(c):
    expect(errors.ConfigError, "λ.*≥ 0", lambda: ImageMaskConfig(lam=-0.1))


@case(ENGINE, "learning rate 0")
def _(c):
    expect(errors.ConfigError, "learning rate must be > 0", lambda: SetMaskConfig(lr=0.0))


@case(ENGINE, "zero steps")
def _(c):
    expect(errors.ConfigError, "max_steps must be ≥ 1", lambda: ImageMaskConfig(max_steps=0))


@case(ENGINE, "batch size 0")
def _(c):
    expect(errors.ConfigError, "batch size must be ≥ 1", lambda: TrainConfig(batch_size=0))


@case(ENGINE, "learning rate that is not a number")
def _(c):
    expect(errors.ConfigError, "learning rate must be > 0", lambda: TrainConfig(max_lr=float("nan")))


@case(ENGINE, "NaN pixels in training data")
def _(c):
    from fourier_masks.core.data.datasets import load_builtin

    data = load_builtin("shapes", 4, 2, size=16)
    data.train.images[0, 0, 0, 0] = float("nan")
    expect(
        errors.NonFiniteError,
        "training images contain NaN",
        lambda: train_model(data.train, data.val, config=TrainConfig(epochs=1)),
    )


@case(ENGINE, "PGD ε outside [0, 1]")
def _(c):
    expect(errors.ConfigError, "ε must lie in \\[0, 1\\]", lambda: AttackConfig(eps=2.0))


@case(ENGINE, "unwritable output folder")
def _(c):
    blocker = c["dir"] / "file"
    blocker.write_text("x")
    expect(errors.OutputError, "part of that path is a file", lambda: ResultsStore(blocker / "run"))


_CREATE_A_RUN = """
import sys
from pathlib import Path
from fourier_masks.core.errors import OutputError
from fourier_masks.core.runs.store import ResultsStore

folder = Path(sys.argv[1])
try:
    ResultsStore(folder / "run")
except OutputError as exc:
    print("OutputError:", exc)
else:
    print("created")
print("left behind:", sorted(p.name for p in folder.iterdir()))
"""


@case(ENGINE, "output folder without write permission")
def _(c):
    """Inside a folder the user may not write (as root: run as nobody, or on a read-only
    mount, see ``tests/restricted.py``): refused with a message, nothing left behind."""
    with scratch_folder() as scratch:
        locked = scratch / "locked"
        locked.mkdir()
        printed = run_unable_to_write(_CREATE_A_RUN, locked)
    assert "OutputError:" in printed and "cannot be created" in printed, printed
    assert "left behind: []" in printed


SLOW.add("output folder without write permission")


@case(ENGINE, "full disk")
def _(c):
    import fourier_masks.core.files as files_module

    target = c["dir"] / "table.json"
    original = files_module.os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    files_module.os.fsync = full
    try:
        expect(errors.OutputError, "disk full.*free some space", lambda: atomic_write_text(target, "{}"))
    finally:
        files_module.os.fsync = original
    assert not target.exists() and not list(c["dir"].glob(".table.json*"))


@case(ENGINE, "name that climbs out of the run folder")
def _(c):
    store = ResultsStore(c["dir"] / "run")
    expect(
        errors.ConfigError, "invalid result name", lambda: store.save_set_mask("../../escape", np.ones((1, 4, 4)), {})
    )
    assert not (c["dir"] / "escape").exists()


@case(ENGINE, "damaged mask shard")
def _(c):
    store = ResultsStore(c["dir"] / "run")
    store.begin_image_masks(
        "image/N-clean", {"model": "N"}, images=np.zeros((2, 1, 4, 4)), labels=np.zeros(2), ids=["a", "b"]
    )
    store.append_image_masks("image/N-clean", ["a"], np.ones((1, 1, 4, 4)))
    (c["dir"] / "run" / "masks" / "image" / "N-clean" / "shards" / "part-x-000001.npz").write_bytes(
        b"PK\x03\x04 damaged"
    )
    assert store.finished_ids("image/N-clean") == {"a"}
    assert store.load_image_masks("image/N-clean").ids == ["a"]


@case(ENGINE, "damaged run.json")
def _(c):
    ResultsStore(c["dir"] / "run")
    (c["dir"] / "run" / "run.json").write_text("{not json")
    expect(errors.OutputError, "damaged", lambda: ResultsStore.open(c["dir"] / "run").read_json("run.json"))


@case(ENGINE, "dataset that cannot be downloaded")
def _(c):
    expect(
        errors.DatasetUnavailableError,
        "unavailable.*Download it",
        lambda: load_torchvision_dataset("FashionMNIST", True, root=c["dir"], download=False),
    )


@case(ENGINE, "unknown dataset")
def _(c):
    expect(errors.ConfigError, "unknown built-in dataset.*choose", lambda: load_dataset("builtin:cats"))


@case(ENGINE, "GPU asked for on a machine without one")
def _(c):
    from fourier_masks.core.devices import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    expect(errors.DeviceError, "no CUDA GPU.*--device cpu", lambda: resolve_device("cuda"))


# --- the command line ----------------------------------------------------------------------------


def run_cli(capsys, argv) -> tuple[int, str]:
    code = cli_main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def cli_error(capsys, argv, pattern: str) -> None:
    code, err = run_cli(capsys, argv)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1, err
    assert __import__("re").search(pattern, lines[0]), lines[0]


DATA = ["--data", "builtin", "--size", "16", "--train-per-class", "3", "--val-per-class", "2"]


@case(CLI, "only a corrupt image given")
def _(c, capsys):
    cli_error(
        capsys,
        [
            "masks",
            "image",
            "--model",
            c["ckpt"],
            "--images",
            truncated(png(c["dir"] / "a.png")),
            "--out",
            c["dir"] / "run",
        ],
        "none of the 1 file.*corrupt or truncated",
    )


@case(CLI, "truncated checkpoint")
def _(c, capsys):
    cli_error(capsys, ["info", truncated(c["ckpt"])], "truncated.*again")


@case(CLI, "model and dataset disagree on classes")
def _(c, capsys):
    cli_error(
        capsys,
        ["masks", "set", "--model", c["ckpt"], "--data", "builtin:planted", "--size", "16", "--out", c["dir"] / "run"],
        r"that the model \(6 classes\) does not have by name",
    )


@case(CLI, "zero epochs")
def _(c, capsys):
    cli_error(capsys, ["train", *DATA, "--epochs", "0", "--out", c["dir"] / "run"], "--epochs: must be ≥ 1")


@case(CLI, "negative λ")
def _(c, capsys):
    cli_error(
        capsys,
        ["masks", "image", "--model", c["ckpt"], *DATA, "--lam", "-1", "--out", c["dir"] / "run"],
        "--lam: must be ≥ 0",
    )


@case(CLI, "output folder inside a file")
def _(c, capsys):
    blocker = c["dir"] / "blocker"
    blocker.write_text("x")
    cli_error(
        capsys, ["masks", "image", "--model", c["ckpt"], *DATA, "--out", blocker / "run"], "part of that path is a file"
    )


@case(CLI, "ε of 2 in pixel units")
def _(c, capsys):
    cli_error(capsys, ["attack", "--model", c["ckpt"], *DATA, "--eps", "2"], r"--eps: must be in \[0, 1\]")


@case(CLI, "a folder that is not a run")
def _(c, capsys):
    cli_error(capsys, ["evaluate", "--run", c["dir"]], "not a Fourier Masks run")


@case(CLI, "TorchScript model that fails")
def _(c, capsys):
    failing_torchscript(c["dir"] / "picky.ts")
    cli_error(
        capsys,
        [
            "masks",
            "image",
            "--model",
            c["dir"] / "picky.ts",
            "--model-classes",
            "6",
            "--model-channels",
            "1",
            "--model-size",
            "16",
            *DATA,
            "--out",
            c["dir"] / "run",
        ],
        "failed when run",
    )


@case(CLI, "malicious checkpoint")
def _(c, capsys):
    marker, path = c["dir"] / "pwned", c["dir"] / "evil.pt"
    torch.save({"x": Exploit(marker)}, path)
    cli_error(capsys, ["masks", "image", "--model", path, *DATA, "--out", c["dir"] / "run"], "run code")
    assert not marker.exists()


@case(CLI, "Ctrl-C in the middle of a job")
def _(c, capsys):
    from fourier_masks.core.cli.commands import masks

    def interrupted(args):
        raise KeyboardInterrupt

    original, masks.run = masks.run, interrupted  # the command's module is looked up when it runs
    try:
        code, err = run_cli(capsys, ["masks", "image", "--model", c["ckpt"], *DATA, "--out", c["dir"] / "run"])
    finally:
        masks.run = original
    assert code == 130 and "cancelled; everything already finished is saved" in err


@case(CLI, "names with spaces and non-ASCII characters")
def _(c, capsys):
    model = c["dir"] / "modèle final.pt"
    c["ckpt"].rename(model)
    image = png(c["dir"] / "fötö 1 (copy).png")
    run = c["dir"] / "résultats 2026"
    code, err = run_cli(
        capsys, ["masks", "image", "--model", model, "--images", image, "--max-steps", "5", "--out", run, "--quiet"]
    )
    assert code == 0, err
    store = ResultsStore.open(run)
    assert store.mask_groups() == ["image/mod-le-final-clean"]
    assert store.load_image_masks("image/mod-le-final-clean").ids == ["fötö 1 (copy).png"]


# --- the app -------------------------------------------------------------------------------------


@case(APP, "a text file named .png")
def _(c, window, qtbot):
    _load(window, qtbot, c["ckpt"])
    path = c["dir"] / "notes.png"
    path.write_text("not a picture")
    _failed(window, qtbot, lambda: window.handle_paths([path]), "notes.png")


@case(APP, "corrupt images among good ones")
def _(c, window, qtbot):
    _load(window, qtbot, c["ckpt"])
    good, bad = png(c["dir"] / "good.png"), truncated(png(c["dir"] / "bad.png"))
    window.controller.image_config = ImageMaskConfig(max_steps=5)
    with qtbot.waitSignal(window.runner.finished, timeout=120_000):
        window.handle_paths([good, bad])
    assert window.message_bar.level == "warning" and "bad.png" in window.message_bar.text


@case(APP, "a truncated checkpoint")
def _(c, window, qtbot):
    with qtbot.waitSignal(window.runner.finished, timeout=120_000):
        window.handle_paths([truncated(c["ckpt"])])
    assert window.message_bar.level == "error" and "truncated" in window.message_bar.text


@case(APP, "a malicious checkpoint")
def _(c, window, qtbot):
    marker, path = c["dir"] / "pwned", c["dir"] / "evil.pt"
    torch.save({"x": Exploit(marker)}, path)
    with qtbot.waitSignal(window.runner.finished, timeout=120_000):
        window.handle_paths([path])
    assert window.message_bar.level == "error" and "run code" in window.message_bar.text
    assert not marker.exists()


@case(APP, "a damaged run folder")
def _(c, window, qtbot):
    (c["dir"] / "run").mkdir()
    (c["dir"] / "run" / "run.json").write_text("{broken")
    window.handle_paths([c["dir"] / "run"])
    assert window.message_bar.level == "error" and "damaged" in window.message_bar.text


@case(APP, "a model that fails when run")
def _(c, window, qtbot, monkeypatch):
    import fourier_masks.app.window as window_module

    class Details:
        def __init__(self, *args, **kwargs):
            from fourier_masks.app.requests import ModelDetails

            self.answer = ModelDetails(in_channels=1, num_classes=6, image_size=16)

        def exec(self):
            return 1

    monkeypatch.setattr(window_module, "ModelDetailsDialog", Details)
    monkeypatch.setattr(window, "confirm_trusted", lambda path, text: True)  # the user trusts it
    with qtbot.waitSignals([window.runner.finished, window.runner.finished], timeout=120_000):
        window.handle_paths([failing_torchscript(c["dir"] / "picky.ts")])
    _failed(window, qtbot, lambda: window.handle_paths([png(c["dir"] / "a.png")]), "failed when run")


@case(APP, "an export into a file's place")
def _(c, window, qtbot):
    blocker = c["dir"] / "file"
    blocker.write_text("x")
    window.panels["spectrum"]._report(lambda: window.panels["spectrum"].save_table_to(blocker / "x.csv"))
    assert window.message_bar.level == "error"


@case(APP, "a folder with nothing usable")
def _(c, window, qtbot):
    (c["dir"] / "empty").mkdir()
    window.handle_paths([c["dir"] / "empty"])
    assert window.message_bar.level == "warning" and "nothing usable" in window.message_bar.text


def _load(window, qtbot, checkpoint) -> None:
    with qtbot.waitSignal(window.runner.finished, timeout=120_000):
        window.handle_paths([checkpoint])
    assert window.workbench.models


def _failed(window, qtbot, action, text: str) -> None:
    with qtbot.waitSignal(window.runner.failed, timeout=120_000):
        action()
    assert window.message_bar.level == "error" and text in window.message_bar.text


# --- running the tables -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in ENGINE])
def test_engine(name, ctx):
    ENGINE[name](ctx)


@pytest.mark.parametrize("name", list(CLI))
def test_cli(name, ctx, capsys):
    CLI[name](ctx, capsys)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    from fourier_masks.app.main import create_window

    win = create_window()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.runner.shutdown()


@pytest.mark.parametrize("name", list(APP))
def test_app(name, ctx, window, qtbot, monkeypatch):
    function = APP[name]
    if "monkeypatch" in function.__code__.co_varnames[: function.__code__.co_argcount]:
        function(ctx, window, qtbot, monkeypatch)
    else:
        function(ctx, window, qtbot)
    assert window.isVisible()  # the app stayed up
    store = window.workbench.store
    if store is not None:  # and its run is still readable
        for group in store.mask_groups():
            store.mask_meta(group)
            if store.mask_meta(group)["kind"] == "image" and store.finished_ids(group):
                store.load_image_masks(group)


def test_the_suite_covers_at_least_forty_inputs():
    total = len(ENGINE) + len(CLI) + len(APP)
    print(f"\nbad inputs: {len(ENGINE)} engine + {len(CLI)} CLI + {len(APP)} app = {total}")
    assert total >= 40
