"""Property-based fuzzing of the command line's options (Hypothesis).

For every subcommand, argv lists mixing its real option names with hostile values (whole
numbers of any size, floats including NaN, ±inf and 1e308, empty and blank strings, NUL
characters, undecodable bytes, very long strings, stray tokens) go through
:func:`fourier_masks.core.cli.main`. Whatever they hold, the command line must end with
status 0 or 2, print exactly one ``error:`` line with status 2 (none with 0), never a
traceback, never status 1 (an unexpected failure) and never hang (pytest-timeout).

Two sets of examples: every command with its work stubbed out (its module's ``run`` returns 0,
so what runs is the parsing and the checks made before any work:
``refuse_what_does_not_apply``), and ``info`` run for real on a tiny checkpoint and run folder.

The default suite runs a bounded number of examples (well under 30 s on 2 cores). For a long
hunt, set ``FUZZ_EXAMPLES``::

    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz_cli.py -q -p no:cacheprovider
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fourier_masks.core.cli import build_parser, main
from fourier_masks.core.cli.commands import COMMANDS
from fourier_masks.core.models.checkpoints import save_checkpoint

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def fuzz_settings(default: int):
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        derandomize=not EXAMPLES,  # the default suite sees the same examples every run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        database=None,
    )


# --- the parser, read from itself ---------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the parser has no subcommands")


PARSER = build_parser()
COMMAND_PARSERS = _subparsers(PARSER)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings]


# --- values --------------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\udcff\udcfe",  # bytes that are not UTF-8, as Python decodes them from argv
    "x" * 5000,
    "a/" * 3000,
    "-1",
    "-",
    "--",
    "0",
    "nan",
    "-inf",
    "inf",
    "1e308",
    "-1e308",
    "1e-320",
    "9" * 5000,
    "0x10",
    "1_000",
    "٣",  # an Arabic-Indic digit, which int() reads
    "../../..",
    "/",
    ".",
    "~",
    "none",
    "builtin",
    "builtin:planted",
    "torchvision:",
    "tv:NoSuchSet",
    "timm:",
    "hf:",
    "cuda:abc",
    "cuda:99999999999999999999",
    "ray",
    "auto",
    "ray://",
    "ray://127.0.0.1:0",
    "ray://127.0.0.1:99999",
    "ray://[::1",
    "ray://127.0.0.1:1",  # nothing listens on port 1
    "N=",
    "=x",
    "N=\x00",
    "0.5,0.5 0.2",
    "0,0,0",
    "1e-300",
]

numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e308", "-1e308", "nan", "inf", "-inf", "1e-308", "5e-324", "2**63", "18446744073709551616"]),
)
texts = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=10),
    st.binary(min_size=1, max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
tokens = st.sampled_from(["--", "-", "-x", "--no-such-option", "--verbose", "-h", "--help", "--quiet", "--force"])


def _numeric(action: argparse.Action) -> bool:
    try:
        return isinstance(action.type("1"), (int, float)) if callable(action.type) else False
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return True  # refuses 1: a number with a higher minimum


# Values of the right form for options whose form is not a number, a choice or a path.
FORMS = {
    "cluster": ["ray", "auto", "ray://127.0.0.1:1", "ray://[::1", "ray://[::1]:1", "ray://localhost:99999", "ray://"],
    "device": ["cpu", "auto", "cuda", "cuda:abc", "cuda:99999999999999999999", "mps", "tpu", "CPU "],
    "normalization": ["imagenet", "paper", "none", "0.5", "0.25", "0.5,0.5,0.5", "1e-7", "nan", "1e308"],
    "given": ["N=builtin", "A=timm:", "N=N", "X=y", "n= x"],
}


def plausible(action: argparse.Action, real: list[str]) -> st.SearchStrategy[str]:
    """A value of the right kind (so that parsing goes on to the next option and the checks)."""
    if action.dest in FORMS:
        return st.sampled_from(FORMS[action.dest])
    if action.choices is not None:
        return st.sampled_from([str(c) for c in action.choices])
    if _numeric(action):
        return st.one_of(
            st.integers(-2, 100).map(str),
            st.floats(-1, 20, allow_nan=False).map(repr),
            st.sampled_from(["0", "1", "2", "0.5", "1e-3", "32", "4096", "4097"]),
        )
    return st.sampled_from(real)


def values_for(action: argparse.Action, real: list[str]) -> st.SearchStrategy[list[str]]:
    """The values to put after ``action``'s option: two times in three of the right kind."""
    if action.nargs == 0:
        return st.just([])
    good = plausible(action, real)
    one = st.one_of(good, good, st.one_of(numbers, texts))
    if action.nargs in ("+", "*"):
        return st.lists(one, min_size=1, max_size=3)
    if isinstance(action.nargs, int):
        return st.lists(one, min_size=action.nargs, max_size=action.nargs)
    if action.nargs == "?":
        return st.lists(one, max_size=1)
    return st.lists(one, min_size=1, max_size=1)


@st.composite
def argvs(draw, real: list[str], commands: list[str], only: tuple[str, ...] | None = None) -> list[str]:
    """A command, its positionals, its required options and up to 6 more (from ``only``
    when given), and now and then a stray token."""
    command = draw(st.sampled_from(commands))
    parser = COMMAND_PARSERS[command]
    argv = [command]
    for positional in _positionals(parser):
        if positional.nargs != "?" or draw(st.booleans()):
            argv.append(draw(st.one_of(plausible(positional, real), plausible(positional, real), texts)))
    options = [a for a in _options(parser) if only is None or set(a.option_strings) & set(only)]
    chosen = [a for a in options if a.required]
    chosen += [draw(st.sampled_from(options)) for _ in range(draw(st.integers(0, 6)))] if options else []
    for action in draw(st.permutations(chosen)):
        if draw(st.integers(0, 9)) == 0:
            argv.append(draw(tokens))
        argv.append(draw(st.sampled_from(action.option_strings)))
        argv.extend(draw(values_for(action, real)))
    return argv


# --- running ------------------------------------------------------------------------------------


def invoke(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check_outcome(argv: list[str], code: int, err: str) -> None:
    where = f"argv={argv!r}\nstatus {code}, stderr:\n{err}"
    assert "Traceback" not in err, where
    assert "unexpected failure" not in err, where
    assert code in (0, 2), where
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == (1 if code == 2 else 0), where


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny (untrained) checkpoint, a run folder holding it, a PNG and a file that is no model."""
    from conftest import tiny_info
    from PIL import Image

    from fourier_masks.core.models.architectures import build_classifier
    from fourier_masks.core.runs.store import ResultsStore

    model = build_classifier(tiny_info()).eval()
    root = tmp_path_factory.mktemp("fuzz")
    checkpoint = save_checkpoint(model, root / "tiny.pt")
    store = ResultsStore(root / "run")
    store.model_path("N").parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, store.model_path("N"))
    Image.new("L", (16, 16)).save(root / "a.png")
    (root / "junk.pt").write_bytes(b"\x00" * 64)
    return {"root": root, "checkpoint": checkpoint, "run": store.root}


def _real(files, tmp: Path) -> list[str]:
    return [
        str(files["checkpoint"]),
        str(files["run"]),
        str(files["root"] / "a.png"),
        str(files["root"] / "junk.pt"),
        str(tmp / "new-run"),
        "N",
        "builtin",
        "cpu",
    ]


@pytest.fixture
def quiet_cluster(monkeypatch):
    """A probed cluster address gives up within a second (nothing listens where it looks)."""
    monkeypatch.setenv("FOURIER_MASKS_CLUSTER_TIMEOUT", "1")


@pytest.mark.timeout(240)
def test_every_commands_options_end_in_one_error_line_or_success(files, tmp_path, quiet_cluster):
    """The checks made before any work, for every command: the work itself is stubbed out."""
    real = _real(files, tmp_path)

    @fuzz_settings(default=250)
    @given(argv=argvs(real, sorted(COMMAND_PARSERS)))
    @example(
        argv=["masks", "image", "--model", real[0], "--images", real[2], "--out", real[4], "--cluster", "ray://[::1"]
    )
    @example(argv=["study", "--data", "builtin", "--out", real[4], "--cluster", "ray://127.0.0.1:1"])
    @example(argv=["train", "--data", "builtin", "--size", "9" * 5000, "--out", real[4]])
    @example(argv=["info", real[0], "two\nlines"])
    def check(argv):
        code, _, err = invoke(argv)
        check_outcome(argv, code, err)

    with pytest.MonkeyPatch.context() as patch:
        for module in COMMANDS:
            patch.setattr(module, "run", lambda args: 0)
        check()


# What the reports below may be given when they really run: no data, whose loading is slow.
REPORT_OPTIONS = ("--run", "--bands", "--reference", "--force", "--quiet", "--device", "--seed")


@pytest.mark.timeout(240)
def test_info_and_reports_really_run_end_in_one_error_line_or_success(files, tmp_path):
    """``info`` on whatever path or name it is given, and ``energy`` and ``evaluate`` with
    whatever bands and reference, really run on a tiny checkpoint and run folder."""
    real = _real(files, tmp_path)

    @fuzz_settings(default=60)
    @given(argv=st.one_of(argvs(real, ["info"]), argvs(real, ["energy", "evaluate"], only=REPORT_OPTIONS)))
    @example(argv=["info", "a\x00b"])
    @example(argv=["info", "x" * 300])
    @example(argv=["info", "caf\udce9"])
    @example(argv=["energy", "--run", real[1], "--reference", "NoSuchModel"])
    @example(argv=["evaluate", "--run", real[1], "--bands", "1000000"])
    def check(argv):
        code, _, err = invoke(argv)
        check_outcome(argv, code, err)

    check()
