"""The ``fourier-masks`` command line.

With no arguments it opens the desktop app; subcommands run the engine headless::

    fourier-masks demo --out DIR [--quick]        the whole study on the built-in data
    fourier-masks study --data SPEC --out DIR     the whole study on your data
    fourier-masks train --data SPEC --out RUN     train model variants
    fourier-masks attack --model M --data SPEC    PGD success rate (and adversarial images)
    fourier-masks masks set|class|image ...       learn Fourier masks
    fourier-masks evaluate|energy|clusters|report --run RUN
    fourier-masks info FILE_OR_RUN                what a checkpoint or run folder holds

Problems the user can fix print one ``error:`` line (exit status 2); Ctrl-C stops at once
(exit status 130) and everything already finished stays saved. Standard output that cannot
be written is one ``error:`` line too (a full disk), or a quiet exit with status 141 as Unix
tools make when the reader of their pipe has gone (``| head``).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ..devices import tune_cpu_allocator
from ..errors import FourierMasksError
from ..logs import print_notices, setup_file_logging
from .checks import refuse_what_does_not_apply
from .commands import app
from .common import tracking
from .json_output import human_output_on_stderr
from .parser import build_parser, one_line

log = logging.getLogger("fourier_masks")

EXIT_PIPE_CLOSED = 128 + 13  # what a shell reports for a process ended by SIGPIPE


class StandardOutputError(FourierMasksError):
    """Standard output took no more text: ``closed`` when its reader has gone (a pipe into
    ``head``), else the device is full or failing."""

    def __init__(self, reason: OSError) -> None:
        self.closed = isinstance(reason, BrokenPipeError) or reason.errno == errno.EPIPE
        what = reason.strerror or type(reason).__name__
        fix = "free space or redirect it elsewhere" if reason.errno == errno.ENOSPC else "redirect it elsewhere"
        super().__init__(f"cannot write to standard output ({what}); {fix}")


class _GuardedOutput:
    """``sys.stdout`` while a command runs: a write or flush that fails raises
    :class:`StandardOutputError`, telling it apart from a failure to write a run (the same
    ``OSError`` from another file), and every write after the first failure is dropped, so the
    error is told once."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.failure: StandardOutputError | None = None

    def write(self, text: str) -> int:
        if self.failure is None:
            try:
                return self.stream.write(text)
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.failure = StandardOutputError(exc)
        raise self.failure from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def main(argv: Sequence[str] | None = None, *, open_app: Callable[[str | None, bool], int] | None = None) -> int:
    """Run the command line; ``open_app`` opens the desktop app (the engine cannot import it)."""
    stdout = sys.stdout
    if stdout is None:  # started with standard output closed (>&-): print() writes nothing
        return _main(argv, open_app)
    guarded = _GuardedOutput(stdout)
    sys.stdout = guarded
    try:
        status = _main(argv, open_app)
        guarded.flush()  # here, not at interpreter exit where a failure is a stray message
        if guarded.failure is not None and status == 0:  # a failed write that some code swallowed
            status = _told(guarded.failure)
    except StandardOutputError as exc:
        status = _told(exc)
    finally:
        sys.stdout = stdout
    if guarded.failure is not None:
        _discard(stdout)
    return status


def _main(argv: Sequence[str] | None, open_app: Callable[[str | None, bool], int] | None) -> int:
    print_notices()  # first: setting up the log may have a note to print
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage mistake already reported on one error: line
        return exc.code if isinstance(exc.code, int) else 2
    except StandardOutputError as exc:  # --help into a closed pipe or a full disk
        return _told(exc)
    except FourierMasksError as exc:  # a bound's environment variable, read as an option is parsed
        _say(f"error: {exc}")
        return 2
    args.open_app = open_app
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    log_path = setup_file_logging()
    tune_cpu_allocator()
    if args.command is None:
        args.module = app
    try:
        refuse_what_does_not_apply(args)
        with human_output_on_stderr(args), tracking(args):  # --json: stdout keeps the one document;
            return args.module.run(args)  # the --log trackers closed at the end, also on an error or Ctrl-C
    except StandardOutputError as exc:
        return _told(exc)
    except FourierMasksError as exc:
        log.warning("%s: %s", args.command or "app", exc)
        if args.verbose:
            raise
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("")  # after the progress line
        _say("cancelled; everything already finished is saved")
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in the log
        log.exception("unexpected error in %s", args.command)
        if args.verbose:
            raise
        where = f"; the details are in {log_path}" if log_path else ""
        _say(f"error: unexpected failure ({type(exc).__name__}: {exc}){where}. Please report it.")
        return 1


def _told(exc: StandardOutputError) -> int:
    """Nothing to say when the pipe's reader has gone; one line when the output failed."""
    if exc.closed:
        return EXIT_PIPE_CLOSED
    _say(f"error: {exc}")
    return 2


def _say(line: str) -> None:
    """One line on standard error (a value it quotes cannot break it), unless that cannot be
    written either."""
    try:
        print(one_line(line), file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):  # closed, full, or None (started with 2>&-)
        pass


def _discard(stream: TextIO) -> None:
    """Point ``stream``'s file at the null device, as Python's documentation advises after
    SIGPIPE: the text still buffered in it would otherwise fail again when the interpreter
    flushes it at exit, as an "Exception ignored" message."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
