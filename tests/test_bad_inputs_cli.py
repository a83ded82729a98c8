"""Bad input thrown at the command line's options, its cluster option, its log and its terminal.

Each case gets one ``error:`` line naming the option (exit status 2) before any work starts,
or, for a terminal that takes no output, one line (a full disk) or a quiet exit (a closed
pipe). Nothing prints a traceback or an "unexpected failure". In the style of
``tests/test_bad_inputs.py``, whose helpers it uses; the random counterpart is
``tests/test_fuzz_cli.py``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from test_bad_inputs import cli_error, png, run_cli

from fourier_masks.core.cli import main as cli_main
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.runs.store import ResultsStore

CASES: dict[str, Callable] = {}
SLOW: set[str] = set()  # cases that start a Python process


def case(name: str, slow: bool = False):
    def register(function):
        CASES[name] = function
        if slow:
            SLOW.add(name)
        return function

    return register


DATA = ["--data", "builtin", "--size", "16", "--train-per-class", "2", "--val-per-class", "1"]


@pytest.fixture
def c(tmp_path, tiny_model, monkeypatch):
    """A tmp folder (also the current one: nothing may be written there), a checkpoint of a
    16-px, 6-class grayscale model, a run holding it as N, and a PNG."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    store = ResultsStore(tmp_path / "run")
    store.model_path("N").parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(tiny_model, store.model_path("N"))
    return {
        "dir": tmp_path,
        "cwd": work,
        "ckpt": save_checkpoint(tiny_model, tmp_path / "good.pt"),
        "run": store.root,
        "png": png(tmp_path / "a.png", size=(16, 16)),
    }


def _written(c) -> list[Path]:
    """What a refused command left in the current folder (must be nothing)."""
    return sorted(c["cwd"].rglob("*"))


# --- 1. counts -----------------------------------------------------------------------------------


@case("a seed beyond 64 bits, and every count beyond its bound")
def _(c, capsys):
    out = c["dir"] / "new"
    cli_error(capsys, ["train", *DATA, "--seed", 2**64 + 5, "--out", out], r"--seed: must be in \[0, 4294967295\]")
    masks = ["masks", "image", "--model", c["ckpt"], *DATA, "--out", out]
    for argv, pattern in [
        (["train", *DATA, "--epochs", 10**30, "--out", out], r"--epochs: must be in \[1, 100000\]"),
        (["train", *DATA, "--batch-size", 2**40, "--out", out], r"--batch-size: must be in \[1, 65536\]"),
        (["train", *DATA, "--train-per-class", 10**9, "--out", out], r"--train-per-class: must be in \[1, 100000\]"),
        ([*masks, "--max-steps", 2**63], r"--max-steps: must be in \[1, 10000000\]"),
        ([*masks, "--per-class", 10**12], r"--per-class: must be in \[0, 1000000000\]"),
        ([*masks, "--model-classes", 10**10], r"--model-classes: must be in \[2, 1000000\]"),
        ([*masks, "--seed", "9" * 5000], r"--seed: must be in \[0, 4294967295\], got 9{40}… \(5000 characters\)"),
    ]:
        cli_error(capsys, argv, pattern)
    assert not out.exists()


# --- 2. real numbers -----------------------------------------------------------------------------


@case("a learning rate of 1e308, and every real number out of its range")
def _(c, capsys):
    out = c["dir"] / "new"
    masks = ["masks", "image", "--model", c["ckpt"], *DATA, "--out", out]
    labelled = ["--model", c["ckpt"], *DATA, "--out", out]
    for argv, pattern in [
        (["train", *DATA, "--lr", "1e308", "--out", out], r"--lr: must be in \(0, 10\], got 1e308"),
        ([*masks, "--lr", "1e308"], r"--lr: must be in \(0, 10\], got 1e308"),
        ([*masks, "--lr", "inf"], r"--lr: must be in \(0, 10\], got inf"),
        ([*masks, "--lam", "1e308"], r"--lam: must be in \[0, 100\]"),
        (["train", *DATA, "--jafr", "1e308", "--out", out], r"--jafr: must be in \[-10, 10\]"),
        (["train", *DATA, "--jafr", "nan", "--out", out], r"--jafr: must be a finite number"),
        (["heat-map", *labelled, "--eps", "1e308"], r"--eps: must be in \[0, 1000\]"),
        (["robustness", "--models", c["ckpt"], *DATA, "--out", out, "--noise-std", "1e9"], r"--noise-std: .*\[0, 10\]"),
        (["attack", *labelled[:-2], "--alpha", "2"], r"--alpha: must be in \[0, 1\]"),
        (["attack", *labelled[:-2], "--eps-normalised", "1e308"], r"--eps-normalised: must be in \[0, 1000\]"),
        (["blue-shift", "--out", out, "--amplitude", "1e308"], r"--amplitude: must be in \(0, 100\]"),
        ([*masks, "--normalization", "0.5", "1e-300"], r"standard deviations in \[1e-06, 1000\]"),
    ]:
        cli_error(capsys, argv, pattern)
    # An ε in normalised units that is more than the whole pixel range for this model (std 0.25).
    cli_error(
        capsys,
        ["attack", *labelled[:-2], "--eps-normalised", "8"],
        r"--eps-normalised 8 is 2 in pixel units for good .*give at most 4",
    )
    assert not out.exists()


# --- 3. sizes and bands, bounded by the limits in force ------------------------------------------


@case("an image side or a band count beyond the limits")
def _(c, capsys, monkeypatch):
    cli_error(
        capsys,
        ["train", "--data", "builtin", "--size", "5000", "--out", c["dir"] / "new"],
        r"--size: must be in \[8, 4096\], got 5000; set FOURIER_MASKS_MAX_IMAGE_SIDE to allow larger images",
    )
    cli_error(
        capsys,
        ["masks", "image", "--model", c["ckpt"], "--images", c["png"], "--model-size", "99999", "--out", c["dir"]],
        r"--model-size: must be in \[8, 4096\].*FOURIER_MASKS_MAX_IMAGE_SIDE",
    )
    cli_error(
        capsys,
        ["energy", "--run", c["run"], "--bands", "1000000"],
        r"--bands: must be in \[1, 1024\], got 1000000; set FOURIER_MASKS_MAX_BANDS to allow more bands",
    )
    assert not (c["run"] / "tables").exists()
    # The limits are read as the options are parsed: raised, the same size passes the parser.
    monkeypatch.setenv("FOURIER_MASKS_MAX_IMAGE_SIDE", "8192")
    cli_error(
        capsys, ["train", "--data", "builtin", "--size", "5000", "--out", c["dir"] / "new"], r"^(?!.*--size: must)"
    )
    monkeypatch.setenv("FOURIER_MASKS_MAX_IMAGE_SIDE", "lots")
    cli_error(capsys, ["train", *DATA, "--out", c["dir"] / "new"], r"FOURIER_MASKS_MAX_IMAGE_SIDE='lots'")


# --- 4. empty names and paths --------------------------------------------------------------------


@case("empty, blank, NUL-holding, undecodable and overlong paths and names")
def _(c, capsys):
    ckpt, run, out = c["ckpt"], c["run"], c["dir"] / "new"
    masks = ["masks", "image", "--model", ckpt, "--out", out]
    for argv, option, what in [
        (["train", "--data", "", "--out", out], "--data", "builtin, torchvision:<Name> or an image folder"),
        (["train", "--data", "builtin", "--out", ""], "--out", "a run folder"),
        (["train", *DATA, "--out", out, "--name", " "], "--name", "a model name"),
        (["train", *DATA, "--out", out, "--arch", ""], "--arch", "an architecture"),
        (["train", *DATA, "--out", out, "--data-root", ""], "--data-root", "a folder"),
        (["train", *DATA, "--out", out, "--device", ""], "--device", "cpu, cuda"),
        (["energy", "--run", ""], "--run", "a run folder"),
        (["energy", "--run", run, "--reference", ""], "--reference", "one of the run's models"),
        (["masks", "image", "--model", "", "--images", c["png"], "--out", out], "--model", "a model file or name"),
        ([*masks, "--images", "\t"], "--images", "image files or folders"),
        ([*masks, "--images", c["png"], "--class-names", ""], "--class-names", "a file of class names"),
        ([*masks, "--images", c["png"], "--group", ""], "--group", "a mask group name"),
        (["robustness", "--models", "", *DATA, "--out", out], "--models", "model files or names"),
        (["info", ""], "FILE_OR_RUN", "a run folder, a model file or a model name"),
        (["app", " "], "RUN", "a run folder"),
    ]:
        cli_error(capsys, argv, f"^error: {option}: must not be empty; give {what}")
    for value, pattern in [
        ("a\x00b", r"holds a NUL character"),
        ("caf\udce9", r"holds bytes that are not UTF-8 text"),
        ("x" * 300, r"is longer than this system takes"),
    ]:
        cli_error(capsys, ["train", *DATA, "--out", value], f"^error: --out: .*{pattern}")
        cli_error(capsys, ["info", value], f"^error: FILE_OR_RUN: .*{pattern}")
    cli_error(
        capsys,
        ["train", *DATA, "--out", out, "--name", "n" * 101],
        r"^error: --name: 'n{40}… \(101 characters\)' is longer than a name may be \(100 characters\)",
    )
    cli_error(capsys, ["study", "--data", "builtin", "--out", out, "--model", "N= "], r"--model: expected CODE=MODEL")
    assert _written(c) == [] and not out.exists()


# --- 5. a reference model the run does not hold -------------------------------------------------


@case("--reference naming no model of the run")
def _(c, capsys):
    cli_error(
        capsys,
        ["energy", "--run", c["run"], "--reference", "NoSuchModel"],
        r"--reference NoSuchModel: the run has no such model \(it has N\); give one of them",
    )
    assert not (c["run"] / "tables").exists()
    code, err = run_cli(capsys, ["evaluate", "--run", c["run"], "--reference", "N", "--quiet"])
    assert code == 0, err


# --- 6. the cluster -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@case("--cluster with nothing running, nothing listening, a silent listener or a bad port")
def _(c, capsys, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("FOURIER_MASKS_CLUSTER_TIMEOUT", "1")
    masks = ["masks", "image", "--model", c["ckpt"], "--images", c["png"], "--max-steps", "2", "--quiet"]
    for address in ("ray://localhost:99999", "ray://localhost:0", "ray://localhost", "ray://localhost:x"):
        cli_error(
            capsys, [*masks, "--out", c["dir"] / "r0", "--cluster", address], r"the port must be a number in 1–65535"
        )
    cli_error(capsys, [*masks, "--out", c["dir"] / "r0", "--cluster", "ray://"], r"is not an address; give ray://HOST")
    assert not (c["dir"] / "r0").exists()

    port = _free_port()  # nothing listens there: refused before any work, within the timeout
    start = time.monotonic()
    cli_error(
        capsys,
        [*masks, "--out", c["dir"] / "r1", "--cluster", f"ray://127.0.0.1:{port}"],
        rf"^error: --cluster ray://127.0.0.1:{port}: no Ray cluster answered within 1 s; start one with "
        r"`ray start --head` or check the address$",
    )
    assert time.monotonic() - start < 10 and not (c["dir"] / "r1").exists()

    # Something listens but is no Ray Client server: Ray's own handshake is bounded by the
    # timeout too, and its warning goes to the log, not the terminal.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"ray://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        cli_error(capsys, [*masks, "--out", c["dir"] / "r3", "--cluster", address], "no Ray cluster accepted")
    assert time.monotonic() - start < 15
    assert "Ray Client" not in capsys.readouterr().err

    monkeypatch.setenv("FOURIER_MASKS_CLUSTER_TIMEOUT", "soon")
    cli_error(capsys, [*masks, "--out", c["dir"] / "r4", "--cluster", "auto"], "FOURIER_MASKS_CLUSTER_TIMEOUT='soon'")
    monkeypatch.setenv("FOURIER_MASKS_CLUSTER_TIMEOUT", "1")

    from ray._private.services import canonicalize_bootstrap_address_or_die

    with contextlib.suppress(ConnectionError):
        canonicalize_bootstrap_address_or_die("auto")
        pytest.skip("a Ray cluster is running on this machine")
    cli_error(
        capsys,
        [*masks, "--out", c["dir"] / "r2", "--cluster", "auto"],
        r"--cluster auto: no Ray cluster is running on this machine; start one with `ray start --head`",
    )


@case("Ray's own warnings while connecting go to the log")
def _(c, capsys, monkeypatch):
    pytest.importorskip("ray")
    from fourier_masks.core.errors import ConfigError
    from fourier_masks.core.runs import executors

    monkeypatch.setenv("FOURIER_MASKS_CLUSTER_TIMEOUT", "1")
    monkeypatch.setattr("ray.util.debug._logged", set())  # Ray warns once a process: this time too
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"ray://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ConfigError, match="no Ray cluster accepted"), _logged("fourier_masks") as records:
            with executors.connected(address):
                pass
    err = capsys.readouterr().err
    assert "warnings.warn" not in err and "Ray Client" not in err, err
    assert any("Ray UserWarning: Ray Client connection timed out" in r.getMessage() for r in records)


@case("a local Ray cluster started for the job says nothing on the terminal", slow=True)
def _(c, capsys):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is already connected in this process")
    argv = ["masks", "image", "--model", c["ckpt"], "--images", c["png"], "--max-steps", "2", "--quiet"]
    code, err = run_cli(capsys, [*argv, "--out", c["dir"] / "new", "--cluster", "ray"])
    assert code == 0 and not ray.is_initialized(), err
    assert err.splitlines() == ["image/good-clean: 1 images (0 masks already in the run), invariance objective"], err


@contextlib.contextmanager
def _logged(name: str):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- 7. a terminal that takes no output ----------------------------------------------------------


class _Refusing(io.StringIO):
    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


@case("standard output on a full disk, or into a closed pipe")
def _(c, capsys, monkeypatch):
    for error, status, expected in [
        (
            OSError(errno.ENOSPC, "No space left on device"),
            2,
            ["error: cannot write to standard output (No space left on device); free space or redirect it elsewhere"],
        ),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), 141, []),
    ]:
        for argv in (["info", str(c["ckpt"])], ["--help"]):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sys, "stdout", _Refusing(error))
                code = cli_main(argv)
            err = capsys.readouterr().err
            assert code == status and [line for line in err.splitlines() if line.startswith("error")] == expected, err
            assert "Traceback" not in err


_CHILD = "import sys; from fourier_masks.core.cli import main; sys.exit(main(sys.argv[1:]))"


@case("a real full disk and a real closed pipe as standard output", slow=True)
def _(c, capsys):
    """What the interpreter does at exit counts here: buffered output flushed into a closed
    pipe is an "Exception ignored" message unless the command line dealt with it."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    argv = [sys.executable, "-c", _CHILD, "info", str(c["run"])]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output buffered, as usual
    with open("/dev/full", "w") as full:
        done = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: cannot write to standard output (No space left on device); free space or redirect it elsewhere"
    )
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    read, write = os.pipe()
    os.close(read)  # as `| head -0` does
    try:
        done = subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr


# --- 8. a home where no log can be kept ----------------------------------------------------------


@contextlib.contextmanager
def _fresh_logging():
    """The root logger as a fresh process has it, no handler at all (pytest's own would catch
    what logging's last resort prints on the terminal), and as it was after."""
    root = logging.getLogger()
    before = list(root.handlers)
    root.handlers.clear()
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = before


@case("FOURIER_MASKS_HOME is a file, or empty")
def _(c, capsys, monkeypatch):
    from fourier_masks.core import logs
    from fourier_masks.core.cli.commands import info

    blocker = c["dir"] / "home-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(blocker))
    monkeypatch.setattr(logs, "_noticed", set())
    with _fresh_logging():
        code, err = run_cli(capsys, ["info", c["dir"] / "nothing-here"])
        assert code == 2 and len(err.splitlines()) == 2, err
        note, error = err.splitlines()
        assert note.startswith(f"note: no log is kept: cannot write {blocker / 'logs'} (")
        assert note.endswith("set FOURIER_MASKS_HOME to a folder you can write to keep one")
        assert error.startswith("error: ") and "nothing-here" in error

        def bug(args):
            raise KeyError("a bug")

        with pytest.MonkeyPatch.context() as patch:  # an unexpected failure: one line, no raw traceback
            patch.setattr(info, "run", bug)
            code, err = run_cli(capsys, ["info", c["dir"]])
        assert code == 1 and err.splitlines() == ["error: unexpected failure (KeyError: 'a bug'). Please report it."]
    monkeypatch.setenv("FOURIER_MASKS_HOME", "")  # empty: the platform's log folder
    monkeypatch.setattr("platformdirs.user_log_dir", lambda name: str(c["dir"] / "platform-logs"))
    with _fresh_logging():
        code, err = run_cli(capsys, ["info", c["dir"] / "nothing-here"])
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "nothing-here" in (c["dir"] / "platform-logs" / "fourier-masks.log").read_text()


_READ_ONLY_HOME = """
import contextlib, io, os, sys
os.environ["FOURIER_MASKS_HOME"] = sys.argv[1]
from fourier_masks.core.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(["info", os.path.join(sys.argv[1], "nothing-here")])
print(code)
print(err.getvalue(), end="")
"""


@case("a read-only FOURIER_MASKS_HOME", slow=True)
def _(c, capsys):
    from restricted import run_unable_to_write, scratch_folder

    with scratch_folder() as scratch:
        home = scratch / "home"
        home.mkdir()
        printed = run_unable_to_write(_READ_ONLY_HOME, home)
    code, *lines = printed.splitlines()
    assert code == "2" and len(lines) == 2, printed
    assert lines[0].startswith(f"note: no log is kept: cannot write {home / 'logs'} ("), printed
    assert lines[1].startswith("error: ") and "nothing-here" in lines[1]


# --- 9. a model that scores fewer than 2 classes -------------------------------------------------


@case("a TorchScript model that outputs 0 or 1 score per image")
def _(c, capsys):
    class Scores(torch.nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width

        def forward(self, x):
            return x.flatten(1)[:, : self.width]

    for width, scores in ((0, "0 scores"), (1, "1 score")):
        path = c["dir"] / f"width{width}.ts"
        torch.jit.save(torch.jit.trace(Scores(width), torch.rand(2, 1, 16, 16)), str(path))
        cli_error(
            capsys,
            [
                "masks",
                "image",
                "--model",
                path,
                *("--model-channels", "1", "--model-size", "16", "--model-classes", "2"),
                *("--images", c["png"], "--out", c["dir"] / "new"),
            ],
            rf"^error: width{width}.ts outputs {scores} per image, but a classifier needs at least 2 classes "
            r"\(one score each\); give a model that scores 2 or more classes$",
        )
    assert not (c["dir"] / "new").exists()


# --- 10. more absurd values ----------------------------------------------------------------------


@case("--max-steps below the 500 steps Basile's stop rule waits for")
def _(c, capsys):
    argv = ["masks", "image", "--model", c["ckpt"], "--images", c["png"], "--objective", "basile", "--max-steps", "3"]
    code, err = run_cli(capsys, [*argv, "--out", c["dir"] / "new", "--quiet"])
    assert code == 0, err
    assert ResultsStore.open(c["dir"] / "new").mask_meta("image/good-clean")["config"]["max_steps"] == 3


@case("a device name torch cannot read, and a value with a line break")
def _(c, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for device in ("cuda:abc", "cuda:-1", "cudax"):
        cli_error(
            capsys,
            ["attack", "--model", c["ckpt"], *DATA, "--device", device],
            rf"Unknown device '{device}'; give cuda or cuda:N",
        )
    cli_error(capsys, ["attack", "--model", c["ckpt"], *DATA, "--device", "cuda:7"], "only 1 CUDA device")
    code, err = run_cli(capsys, ["info", c["ckpt"], "two\nlines"])
    assert code == 2 and err == "error: unrecognized arguments: two\\nlines (see fourier-masks --help)\n"


# --- running the table ---------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CASES])
def test_cli(name, c, capsys, monkeypatch):
    function = CASES[name]
    wants = function.__code__.co_varnames[: function.__code__.co_argcount]
    function(c, capsys, *([monkeypatch] if "monkeypatch" in wants else []))
