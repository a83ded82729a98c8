"""The command line: real subcommands on tiny inputs, and one-line errors for bad input."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from fourier_masks.core.cli import ProgressPrinter, main
from fourier_masks.core.models.checkpoints import inspect_checkpoint, save_checkpoint
from fourier_masks.core.preparation import Preparation
from fourier_masks.core.progress import Progress
from fourier_masks.core.runs.store import ResultsStore


@pytest.fixture
def checkpoint(tmp_path, trained_shapes_model):
    return save_checkpoint(trained_shapes_model, tmp_path / "shapes16.pt")


def _error(capsys):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, captured.err
    return lines[0]


DATA = ["--data", "builtin", "--size", "16", "--train-per-class", "4", "--val-per-class", "2"]


def test_train_then_masks_then_evaluate(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", *DATA, "--epochs", "1", "--augment", "none", "scale", "--out", run, "--quiet"]) == 0
    assert "N: best epoch 1" in capsys.readouterr().out
    assert main(["masks", "set", "--model", "N", *DATA, "--max-epochs", "1", "--out", run, "--quiet"]) == 0
    assert re.search(r"model N: clean accuracy \d+\.\d % on 12 labelled images", capsys.readouterr().err)
    assert main(["masks", "set", "--model", "S", *DATA, "--max-epochs", "1", "--out", run, "--quiet"]) == 0
    assert main(["masks", "image", "--model", "N", *DATA, "--max-steps", "5", "--out", run, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "image/N-clean: 12 masks" in out
    assert main(["masks", "image", "--model", "N", *DATA, "--max-steps", "5", "--out", run, "--quiet"]) == 0
    assert "already in the run" in capsys.readouterr().out
    assert main(["evaluate", "--run", run, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Table 1." in out and "Table 2." in out and "Table 3." in out
    assert main(["energy", "--run", run, "--bands", "4", "--quiet"]) == 2  # would replace the 32-band tables
    assert main(["energy", "--run", run, "--bands", "4", "--force", "--quiet"]) == 0
    assert "S - N [1]" in capsys.readouterr().out
    assert main(["info", run]) == 0
    assert "image/N-clean: image masks of model N, 12/12 done" in capsys.readouterr().out


def test_masks_for_dropped_image_files_skip_bad_ones(tmp_path, checkpoint, capsys):
    good = tmp_path / "photo one.png"
    Image.fromarray((np.random.default_rng(0).random((40, 30)) * 255).astype(np.uint8)).save(good)
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    code = main(
        [
            "masks",
            "image",
            "--model",
            str(checkpoint),
            "--images",
            str(good),
            str(bad),
            "--max-steps",
            "5",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "skipped: broken.png" in captured.err
    assert "1 masks" in captured.out


def test_fast_rule_is_recorded_with_the_masks(tmp_path, checkpoint, capsys):
    from fourier_masks.core.runs.store import ResultsStore

    run = tmp_path / "run"
    assert (
        main(
            [
                "masks",
                "image",
                "--model",
                str(checkpoint),
                *DATA,
                "--rule",
                "fast",
                "--max-steps",
                "5",
                "--group",
                "fast",
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    config = ResultsStore.open(run).mask_meta("fast")["config"]
    assert (config["schedule"], config["settle_after"], config["max_steps"]) == ("published", 3, 5)
    assert (
        main(
            [
                "masks",
                "image",
                "--model",
                str(checkpoint),
                *DATA,
                "--rule",
                "fast",
                "--objective",
                "basile",
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 2
    )
    assert "invariance objective only" in _error(capsys)


def test_attack_reports_success_rate_and_saves_images(tmp_path, checkpoint, capsys):
    code = main(
        ["attack", "--model", str(checkpoint), *DATA, "--eps", "0.05", "--out", str(tmp_path / "run"), "--quiet"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "success rate" in out and "pixel units" in out
    assert (tmp_path / "run" / "data" / "adversarial-shapes16.npz").is_file()


def test_info_on_a_checkpoint(checkpoint, capsys):
    assert main(["info", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(": fourier-masks") and '"arch": "small_cnn"' in out and "trust" not in out


def test_a_program_file_is_said_to_be_for_trusted_sources(checkpoint, tmp_path, capsys):
    from fourier_masks.core.models import export_program, load_model

    program = export_program(load_model(checkpoint), tmp_path / "graph.pt2")
    assert main(["info", str(program)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph.pt2: torch-export") and "only from sources you trust" in out


@pytest.mark.parametrize(
    "make_args,expected",
    [
        (lambda t, c: ["info", str(_write(t / "page.pt", b"<html><body>404</body></html>"))], "HTML"),
        (
            lambda t, c: [
                "masks",
                "set",
                "--model",
                str(c),
                "--data",
                "builtin:planted",
                "--size",
                "16",
                "--out",
                str(t / "r"),
            ],
            "that the model (6 classes) does not have by name",
        ),
        (
            lambda t, c: [
                "masks",
                "image",
                "--model",
                str(c),
                "--images",
                str(_write(t / "x.png", b"junk")),
                "--out",
                str(t / "r"),
            ],
            "none of the 1 file",
        ),
        (
            lambda t, c: ["masks", "image", "--model", str(c), "--images", str(t / "empty_dir"), "--out", str(t / "r")],
            "contains no image files",
        ),
        (
            lambda t, c: ["masks", "image", "--model", str(c), *DATA, "--out", str(_write(t / "f", b"x") / "run")],
            "part of that path is a file",
        ),
        (lambda t, c: ["train", *DATA, "--epochs", "1", "--device", "cuda:7", "--out", str(t / "r")], "CUDA"),
        (lambda t, c: ["evaluate", "--run", str(t)], "not a Fourier Masks run"),
        (lambda t, c: ["train", "--data", str(t / "nowhere"), "--out", str(t / "r")], "no such folder"),
        (
            lambda t, c: [
                "train",
                "--data",
                "torchvision:MNIST",
                "--no-download",
                "--data-root",
                str(t / "tv"),
                "--out",
                str(t / "r"),
            ],
            "MNIST is unavailable",
        ),
        (lambda t, c: ["app"], "desktop app"),
    ],
)
def test_bad_input_gets_one_clear_error_line(tmp_path, checkpoint, capsys, make_args, expected):
    (tmp_path / "empty_dir").mkdir()
    code = main(make_args(tmp_path, checkpoint))
    assert code == 2
    assert expected in _error(capsys)


def test_nan_checkpoint_is_an_error_not_a_crash(tmp_path, trained_shapes_model, capsys):
    import copy

    broken = copy.deepcopy(trained_shapes_model)
    with torch.no_grad():
        broken.net.classifier.bias.fill_(float("inf"))
    path = save_checkpoint(broken, tmp_path / "inf.pt")
    assert main(["masks", "image", "--model", str(path), *DATA, "--out", str(tmp_path / "r")]) == 2
    assert "NaN or Inf" in _error(capsys)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_progress_printer_writes_lines_when_not_a_terminal():
    import io

    stream = io.StringIO()
    printer = ProgressPrinter(stream)
    printer(Progress("study", 0, 3, "train models"))
    printer(Progress("train", 5, 10, "N epoch 1/2", elapsed_s=5.0))
    printer(Progress("train", 10, 10, "N epoch 2/2", elapsed_s=10.0))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/3] train models"
    assert "50.0%" in lines[1] and "eta 5s" in lines[1]
    assert "100.0%" in lines[2]


def _image_masks_argv(model, image, run) -> list[str]:
    """``masks image`` of one image file, 5 steps, into ``run``."""
    return ["masks", "image", "--model", str(model), "--images", str(image), "--max-steps", "5", "--out", str(run)]


def test_a_model_given_as_a_file_is_kept_in_the_run(tmp_path, checkpoint, capsys):
    run = tmp_path / "run"
    image = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(1).random((16, 16)) * 255).astype(np.uint8)).save(image)
    args = [*_image_masks_argv(checkpoint, image, run), "--quiet"]
    assert main(args) == 0
    assert (run / "models" / "shapes16.safetensors").is_file()
    assert main(["report", "--run", str(run), "--quiet"]) == 0  # the run is self-contained
    assert main(args) == 0  # the same model again is fine
    other = tmp_path / "elsewhere"
    other.mkdir()
    import shutil

    from fourier_masks.core.models.checkpoints import load_model

    different = load_model(checkpoint)
    different.info = different.info.replace(name="another")
    save_checkpoint(different, other / "shapes16.pt")
    assert (
        main(["masks", "image", "--model", str(other / "shapes16.pt"), "--images", str(image), "--out", str(run)]) == 2
    )
    assert "different model named 'shapes16'" in _error(capsys)
    shutil.rmtree(other)


@pytest.mark.slow
def test_reports_never_replace_different_content_without_force(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", *DATA, "--epochs", "1", "--out", run, "--quiet"]) == 0
    assert main(["masks", "image", "--model", "N", *DATA, "--max-steps", "5", "--out", run, "--quiet"]) == 0
    assert main(["report", "--run", run, "--quiet"]) == 0
    assert main(["report", "--run", run, "--quiet"]) == 0  # the same content again: nothing to replace
    assert (tmp_path / "run" / "report.html").is_file()  # the whole report on one page
    table = tmp_path / "run" / "tables" / "table2.csv"
    table.write_text("edited by hand\n")
    capsys.readouterr()
    assert main(["report", "--run", run, "--quiet"]) == 2
    assert "already exists with other content; pass --force" in _error(capsys)
    assert table.read_text() == "edited by hand\n"
    assert main(["report", "--run", run, "--quiet", "--force"]) == 0
    assert table.read_text().startswith("model,images [count]")


def test_a_mask_group_is_never_mixed_with_other_settings(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", *DATA, "--epochs", "1", "--out", run, "--quiet"]) == 0
    assert main(["masks", "image", "--model", "N", *DATA, "--max-steps", "5", "--out", run, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["masks", "image", "--model", "N", *DATA, "--max-steps", "5", "--lam", "0.5", "--out", run]) == 2
    assert "other settings; choose another group name (--group)" in _error(capsys)
    assert (
        main(
            [
                "masks",
                "image",
                "--model",
                "N",
                *DATA,
                "--max-steps",
                "5",
                "--lam",
                "0.5",
                "--group",
                "image/N-lam05",
                "--out",
                run,
                "--quiet",
            ]
        )
        == 0
    )


def test_errors_and_bugs_go_to_the_log_file(tmp_path, monkeypatch, capsys):
    from fourier_masks.core.cli.commands import info

    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    import logging

    for handler in [h for h in logging.getLogger().handlers if getattr(h, "_fourier_masks", False)]:
        logging.getLogger().removeHandler(handler)
    assert main(["evaluate", "--run", str(tmp_path)]) == 2
    log = tmp_path / "home" / "logs" / "fourier-masks.log"

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(info, "run", broken)
    assert main(["info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unexpected failure (KeyError" in err and str(log) in err and "Traceback" not in err
    text = log.read_text()
    assert "not a Fourier Masks run" in text and "Traceback" in text and "a bug" in text
    for handler in [h for h in logging.getLogger().handlers if getattr(h, "_fourier_masks", False)]:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_the_log_file_keeps_our_info_and_everyones_warnings_not_library_chatter(tmp_path, monkeypatch):
    """An export once wrote ~2 200 fontTools INFO lines into the log the app calls its
    warnings and errors."""
    import logging

    from fourier_masks.core.logs import setup_file_logging

    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_fourier_masks", False)]:
        root.removeHandler(handler)
    path = setup_file_logging()
    try:
        logging.getLogger("fontTools.subset").info("glyph names kept")
        logging.getLogger("fontTools.ttLib").warning("a broken font table")
        logging.getLogger("fourier_masks.core.study").info("study step finished")
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_fourier_masks", False)]:
            root.removeHandler(handler)
            handler.close()
    text = path.read_text()
    assert "a broken font table" in text and "study step finished" in text
    assert "glyph names kept" not in text


SMALL = "--data builtin --size 16 --train-per-class 4 --val-per-class 2"
MASKS = "masks image --model {ckpt} " + SMALL + " --max-steps 5 --out {run}"


@pytest.mark.parametrize(
    "command,expected",
    [
        # options that set and class masks would ignore, and those per-image masks would
        (
            "masks set --model {ckpt} " + SMALL + " --objective basile --out {run}",
            "--objective applies to per-image masks only",
        ),
        (
            "masks class --model {ckpt} " + SMALL + " --schedule nominal --out {run}",
            "--schedule applies to per-image masks only",
        ),
        ("masks set --model {ckpt} " + SMALL + " --rule fast --out {run}", "--rule applies to per-image masks only"),
        (
            "masks set --model {ckpt} " + SMALL + " --max-steps 5 --out {run}",
            "--max-steps applies to per-image masks only",
        ),
        (
            "masks set --model {ckpt} " + SMALL + " --adversarial --out {run}",
            "--adversarial applies to per-image masks only",
        ),
        ("masks class --model {ckpt} " + SMALL + " --eps 0.01 --out {run}", "--eps applies to per-image masks only"),
        (
            "masks set --model {ckpt} " + SMALL + " --per-class 2 --out {run}",
            "--per-class applies to per-image masks only",
        ),
        ("masks set --model {ckpt} --images {png} --out {run}", "--images applies to per-image masks only"),
        ("masks class --model {ckpt} --out {run}", "class masks need labelled images: give --data"),
        (MASKS + " --max-epochs 3", "--max-epochs applies to set and class masks only"),
        (MASKS + " --images {png}", "give --images FILE... or --data SPEC, not both"),
        (
            "masks image --model {ckpt} --images {png} --per-class 2 --out {run}",
            "with --images every file given is used",
        ),
        (MASKS + " --eps 0.01", "--eps is the PGD ε of --adversarial"),
        (
            "masks image --model {ckpt} --images {png} --adversarial --out {run}",
            "--adversarial needs labelled images: use --data",
        ),
        ("attack --model {ckpt} " + SMALL + " --force", "--force replaces adversarial images saved in a run"),
        ("masks image --model {ckpt} --out {run}", "give --images FILE... or --data SPEC"),
        ("train " + SMALL + " --epochs 1 --name X --augment none scale --out {run}", "--name names one model"),
        (
            "train " + SMALL + " --epochs 1 --limit 3 --out {run}",
            "--limit applies to folders and torchvision data only",
        ),
        (
            "train --data {tmp}/folder --train-per-class 3 --out {run}",
            "--train-per-class applies to built-in data only",
        ),
        (
            "train " + SMALL + " --epochs 1 --data-root {tmp} --out {run}",
            "--data-root applies to torchvision:<Name> data only",
        ),
        ("report --run {run} --size 16", "--size applies to the images of --data only"),
        # numbers out of range
        ("train " + SMALL + " --epochs 1 --size 0 --out {run}", "--size: must be ≥ 8, got 0"),
        ("train " + SMALL + " --epochs 0 --out {run}", "--epochs: must be ≥ 1"),
        ("train " + SMALL + " --epochs 1 --batch-size 0 --out {run}", "--batch-size: must be ≥ 1"),
        ("train " + SMALL + " --epochs 1 --lr 0 --out {run}", "--lr: must be > 0"),
        ("train " + SMALL + " --epochs 1 --lr nan --out {run}", "--lr: must be > 0"),
        ("train " + SMALL + " --epochs 1 --crop-scale 0 1 --out {run}", "--crop-scale: must be in (0, 1]"),
        (
            "train " + SMALL + " --epochs 1 --crop-scale 0.9 0.2 --out {run}",
            "--crop-scale 0.9 0.2: LO must not exceed HI",
        ),
        ("train " + SMALL + " --epochs 1 --jafr inf --out {run}", "--jafr: must be a finite number"),
        ("train " + SMALL + " --epochs 1 --seed -1 --out {run}", "--seed: must be ≥ 0"),
        ("train " + SMALL + " --epochs 1 --train-per-class 0 --out {run}", "--train-per-class: must be ≥ 1"),
        ("train " + SMALL + " --epochs 1 --val-per-class -1 --out {run}", "--val-per-class: must be ≥ 1"),
        ("train " + SMALL + " --epochs 1 --size x --out {run}", "--size: expected a whole number ≥ 8, got 'x'"),
        ("train --data {tmp}/folder --limit 0 --out {run}", "--limit: must be ≥ 1"),
        (MASKS + " --per-class -3", "--per-class: must be ≥ 0"),
        (MASKS + " --lam -1", "--lam: must be ≥ 0"),
        (MASKS + " --lr 0", "--lr: must be > 0"),
        (MASKS + " --max-steps 0", "--max-steps: must be ≥ 1"),
        (MASKS + " --batch-size -2", "--batch-size: must be ≥ 0"),
        (MASKS + " --adversarial --eps 2", "--eps: must be in [0, 1]"),
        ("masks set --model {ckpt} " + SMALL + " --max-epochs 0 --out {run}", "--max-epochs: must be ≥ 1"),
        (MASKS + " --model-classes 1", "--model-classes: must be ≥ 2"),
        (MASKS + " --model-channels 2", "--model-channels: invalid choice"),
        (MASKS + " --model-size 4", "--model-size: must be ≥ 8"),
        ("attack --model {ckpt} " + SMALL + " --eps 2", "--eps: must be in [0, 1]"),
        ("attack --model {ckpt} " + SMALL + " --eps-normalised -1", "--eps-normalised: must be ≥ 0"),
        ("attack --model {ckpt} " + SMALL + " --steps 0", "--steps: must be ≥ 1"),
        ("attack --model {ckpt} " + SMALL + " --alpha -0.1", "--alpha: must be ≥ 0"),
        ("report --run {run} --bands 0", "--bands: must be ≥ 1"),
        ("adversarial-maps --model {ckpt} " + SMALL + " --out {run} --permutations -1", "--permutations: must be ≥ 0"),
        ("adversarial-maps --model {ckpt} " + SMALL + " --out {run} --max-steps 0", "--max-steps: must be ≥ 1"),
        ("heat-map --model {ckpt} " + SMALL + " --out {run} --eps -1", "--eps: must be ≥ 0"),
        ("heat-map --model {ckpt} " + SMALL + " --out {run} --per-class -1", "--per-class: must be ≥ 0"),
        ("robustness --models {ckpt} " + SMALL + " --out {run} --noise-std -0.1", "--noise-std: must be ≥ 0"),
        ("robustness --models {ckpt} " + SMALL + " --out {run} --cutoff 1", "--cutoff: must be in (0, 1)"),
        ("blue-shift --out {run} --cycles 256", "--cycles: must be in [1, 255]"),
        ("blue-shift --out {run} --amplitude 0", "--amplitude: must be > 0"),
        ("demo --out {run} --quick --seed -1", "--seed: must be ≥ 0"),
        # shapes given that the model does not have
        (MASKS + " --model-classes 10", "--model-classes 10 disagrees with shapes16.pt, which has 6 classes"),
        (MASKS + " --model-size 32", "--model-size 32 disagrees with shapes16.pt, which takes 16-px images"),
        (MASKS + " --size 32", "--size 32 disagrees with model shapes16 (16-px images)"),
        ("attack --model {ckpt} " + SMALL + " --channels 3", "--channels 3 disagrees with model shapes16"),
        ("robustness --models {ckpt} " + SMALL + " --out {run} --size 32", "--size 32 disagrees with model shapes16"),
        (MASKS + " --normalization imagenet", "--normalization imagenet disagrees with shapes16.pt, which normalises"),
        (MASKS + " --normalization 0.5", "--normalization '0.5' is not a known name"),
        (MASKS + " --normalization 0.5 0", "every standard deviation above 0"),
        (MASKS + " --normalization 0.5,0.5 0.2", "as many means as standard deviations"),
    ],
)
def test_options_that_would_be_ignored_or_misread_are_refused(tmp_path, checkpoint, capsys, command, expected):
    """Each refused at once: exit status 2, one ``error:`` line naming the option, nothing written."""
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(image)
    argv = command.format(ckpt=checkpoint, png=image, tmp=tmp_path, run=tmp_path / "run").split()
    before = sorted(tmp_path.rglob("*"))
    assert main(argv) == 2
    assert expected in _error(capsys)
    assert sorted(tmp_path.rglob("*")) == before


def _torchscript_with_outputs(path, outputs: int):
    """A TorchScript classifier of 16-px grayscale images without our metadata."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, outputs)
    ).eval()
    torch.jit.save(torch.jit.trace(net, torch.rand(2, 1, 16, 16)), str(path))
    return path


def test_model_classes_must_match_what_the_model_outputs(tmp_path, capsys):
    model = _torchscript_with_outputs(tmp_path / "wide.pt", outputs=10)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(image)
    args = ["masks", "image", "--model", str(model), "--model-channels", "1", "--model-size", "16"]
    files = ["--images", str(image), "--max-steps", "5", "--out", str(tmp_path / "run"), "--quiet"]
    assert main([*args, "--model-classes", "6", *files]) == 2
    assert "wide.pt outputs 10 scores per image, not the 6 classes --model-classes gave" in _error(capsys)
    assert not (tmp_path / "run").exists()
    assert main([*args, "--model-classes", "10", *files]) == 0


@pytest.mark.slow
def test_data_for_a_run_is_loaded_at_its_models_size(tmp_path, capsys, monkeypatch):
    import fourier_masks.core.data.datasets as datasets_module

    run = str(tmp_path / "run")
    data = ["--data", "builtin", "--train-per-class", "4", "--val-per-class", "2"]
    assert main(["train", *data, "--size", "24", "--channels", "3", "--epochs", "1", "--out", run, "--quiet"]) == 0
    assert main(["masks", "set", "--model", "N", *data, "--max-epochs", "1", "--out", run, "--quiet"]) == 0
    loaded = []
    load_dataset = datasets_module.load_dataset

    def recording(*args, **kwargs):
        loaded.append((kwargs["size"], kwargs["channels"]))
        return load_dataset(*args, **kwargs)

    monkeypatch.setattr(datasets_module, "load_dataset", recording)
    assert main(["report", "--run", run, *data, "--quiet"]) == 0
    assert loaded == [(Preparation(24), 3)]
    capsys.readouterr()
    assert main(["report", "--run", run, *data, "--size", "32", "--quiet"]) == 2
    assert "--size 32 disagrees with the run's models (24-px images)" in _error(capsys)


def test_study_options_become_the_study_settings(tmp_path):
    """`study` maps its options onto the preset: the settings stored with the run are what was asked."""
    from fourier_masks.core.cli import build_parser
    from fourier_masks.core.cli.commands.study import study_settings

    args = build_parser().parse_args(
        ["study", "--data", "some/folder", "--out", str(tmp_path), "--models", "N", "A", "--arch", "resnet18"]
        + ["--size", "48", "--channels", "3", "--epochs", "7", "--per-class", "5", "--preset", "quick"]
    )
    config = study_settings(args)
    assert (config.dataset, config.arch, config.image_size, config.channels) == ("some/folder", "resnet18", 48, 3)
    assert config.augmentations == ("none", "adversarial") and config.train.epochs == 7
    assert config.images_per_class == 5
    paper = study_settings(build_parser().parse_args(["study", "--data", "d", "--out", "o", "--preset", "paper"]))
    assert (paper.image_size, paper.channels, paper.arch, paper.train.epochs) == (128, 1, "vgg11_bn", 50)
    assert (paper.train.mean, paper.train.std, paper.images_per_class) == ((0.449,), (0.226,), 0)


def test_presets_are_what_their_names_say():
    """`paper` is METHOD.md's published settings; `standard` (the default) differs from them in
    exactly what its docstring lists; there is no preset called `full` any more."""
    from fourier_masks.core.attacks.adversarial import AttackConfig
    from fourier_masks.core.cli import build_parser
    from fourier_masks.core.cli.commands.study import study_settings
    from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
    from fourier_masks.core.study import STUDY_PRESETS, StudyConfig, study_config
    from fourier_masks.core.training.train import TrainConfig

    assert STUDY_PRESETS == ("standard", "quick", "paper")
    paper = study_config("paper")
    published_training = TrainConfig(epochs=50, mean=(0.449,), std=(0.226,))
    assert (paper.image_size, paper.channels, paper.arch, paper.images_per_class) == (128, 1, "vgg11_bn", 0)
    assert paper.train == published_training and (paper.train.max_lr, paper.train.batch_size) == (1e-3, 128)
    assert paper.set_mask == SetMaskConfig() and paper.image_mask == ImageMaskConfig()
    assert paper.attack == AttackConfig() and paper.train.pgd == AttackConfig()

    standard = study_config()
    assert standard == study_settings(build_parser().parse_args(["study", "--data", "builtin:shapes", "--out", "o"]))
    assert standard == study_settings(build_parser().parse_args(["demo", "--out", "o"])) == StudyConfig.standard()
    assert (standard.image_size, standard.arch, standard.images_per_class) == (32, "small_cnn", 30)
    assert standard.train == TrainConfig(epochs=20, max_lr=3e-3, crop_scale=(0.8, 1.0))
    assert standard.set_mask == SetMaskConfig() and standard.image_mask == ImageMaskConfig(max_steps=6000)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["study", "--data", "d", "--out", "o", "--preset", "full"])


def test_study_without_the_vanilla_model_is_refused(tmp_path, capsys):
    assert main(["study", "--data", "builtin", "--models", "A", "S", "--out", str(tmp_path / "run")]) == 2
    assert "none" in capsys.readouterr().err


@pytest.mark.slow
def test_study_runs_end_to_end_and_writes_the_findings(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--size", "16", "--train-per-class", "20", "--val-per-class", "8", "--per-class", "3", "--epochs", "1"]
    assert (
        main(
            [
                "study",
                "--data",
                "builtin",
                "--models",
                "N",
                "A",
                "--preset",
                "quick",
                *tiny,
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    assert (run / "tables" / "findings.csv").is_file() and (run / "tables" / "table2.csv").is_file()
    assert "Findings" in capsys.readouterr().out


def test_cluster_option_without_ray_says_how_to_install_it(tmp_path, checkpoint, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if the [cluster] extra were absent
    arguments = ["masks", "image", "--model", str(checkpoint), *DATA, "--out", str(tmp_path / "run")]
    assert main([*arguments, "--cluster", "ray", "--quiet"]) == 2
    assert 'pip install -e ".[cluster]"' in _error(capsys)
    assert main([*arguments, "--cluster", "somewhere", "--quiet"]) == 2
    assert "--cluster must be ray, auto or ray://HOST:PORT" in _error(capsys)
    assert main(["masks", "set", "--model", str(checkpoint), *DATA, "--cluster", "ray", "--out", "x"]) == 2
    assert "--cluster applies to per-image masks only" in _error(capsys)


def test_normalization_of_a_file_that_carries_none(tmp_path, trained_shapes_model, capsys):
    """A plain state_dict takes --normalization; without it, the grayscale default (the paper's)."""
    weights = tmp_path / "weights.pth"
    torch.save(trained_shapes_model.net.state_dict(), weights)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(image)
    for option, expected in ((["--normalization", "0.5", "0.25"], ((0.5,), (0.25,))), ([], ((0.449,), (0.226,)))):
        run = tmp_path / f"run{len(option)}"
        argv = [*_image_masks_argv(weights, image, run), "--model-size", "16", *option, "--quiet"]
        assert main(argv) == 0, capsys.readouterr().err
        info = inspect_checkpoint(ResultsStore(run).model_path("weights")).info
        assert (info.mean, info.std) == expected
