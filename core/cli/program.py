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
(exit status 130) and everything already finished stays saved.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from ..devices import tune_cpu_allocator
from ..errors import FourierMasksError
from ..logs import print_notices, setup_file_logging
from .checks import refuse_what_does_not_apply
from .commands import app
from .parser import build_parser

log = logging.getLogger("fourier_masks")


def main(argv: Sequence[str] | None = None, *, open_app: Callable[[str | None, bool], int] | None = None) -> int:
    """Run the command line; ``open_app`` opens the desktop app (the engine cannot import it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage mistake already reported on one error: line
        return exc.code if isinstance(exc.code, int) else 2
    args.open_app = open_app
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    log_path = setup_file_logging()
    print_notices()
    tune_cpu_allocator()
    if args.command is None:
        args.module = app
    try:
        refuse_what_does_not_apply(args)
        return args.module.run(args)
    except FourierMasksError as exc:
        log.warning("%s: %s", args.command or "app", exc)
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncancelled; everything already finished is saved", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in the log
        log.exception("unexpected error in %s", args.command)
        if args.verbose:
            raise
        where = f"; the details are in {log_path}" if log_path else ""
        print(f"error: unexpected failure ({type(exc).__name__}: {exc}){where}. Please report it.", file=sys.stderr)
        return 1
