"""The command line: real subcommands on tiny inputs, and one-line errors for bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoints import save_checkpoint
from core.cli import ProgressPrinter, main
from core.progress import Progress


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
    from core.store import ResultsStore

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
    assert '"arch": "small_cnn"' in capsys.readouterr().out


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
            "6 classes but the dataset has 5",
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
        (lambda t, c: ["masks", "image", "--model", str(c), *DATA, "--lam", "-1", "--out", str(t / "r")], "λ"),
        (
            lambda t, c: ["masks", "image", "--model", str(c), *DATA, "--max-steps", "0", "--out", str(t / "r")],
            "max_steps",
        ),
        (
            lambda t, c: ["masks", "image", "--model", str(c), *DATA, "--batch-size", "-2", "--out", str(t / "r")],
            "batch size",
        ),
        (lambda t, c: ["train", *DATA, "--lr", "0", "--out", str(t / "r")], "learning rate"),
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


def test_a_model_given_as_a_file_is_kept_in_the_run(tmp_path, checkpoint, capsys):
    run = tmp_path / "run"
    image = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(1).random((16, 16)) * 255).astype(np.uint8)).save(image)
    args = [
        "masks",
        "image",
        "--model",
        str(checkpoint),
        "--images",
        str(image),
        "--max-steps",
        "5",
        "--out",
        str(run),
        "--quiet",
    ]
    assert main(args) == 0
    assert (run / "models" / "shapes16.pt").is_file()
    assert main(["report", "--run", str(run), "--quiet"]) == 0  # the run is self-contained
    assert main(args) == 0  # the same model again is fine
    other = tmp_path / "elsewhere"
    other.mkdir()
    import shutil

    from core.checkpoints import load_model

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
    import core.cli as cli_module

    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    import logging

    for handler in [h for h in logging.getLogger().handlers if getattr(h, "_fourier_masks", False)]:
        logging.getLogger().removeHandler(handler)
    assert main(["evaluate", "--run", str(tmp_path)]) == 2
    log = tmp_path / "home" / "logs" / "fourier-masks.log"

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli_module, "cmd_info", broken)
    assert main(["info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unexpected failure (KeyError" in err and str(log) in err and "Traceback" not in err
    text = log.read_text()
    assert "not a Fourier Masks run" in text and "Traceback" in text and "a bug" in text
    for handler in [h for h in logging.getLogger().handlers if getattr(h, "_fourier_masks", False)]:
        logging.getLogger().removeHandler(handler)
        handler.close()
