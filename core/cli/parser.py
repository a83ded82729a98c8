"""The ``fourier-masks`` argument parser, built from each command's own options."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .commands import COMMANDS


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get the one ``error:`` line (exit status 2) every other fixable problem gets."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Every command's parser; ``args.command`` names the command and ``args.module`` is the
    module that runs it (looked up when it runs, so a test can stand in for one)."""
    parser = _Parser(
        prog="fourier-masks",
        description="Learn Fourier masks that reveal which input frequencies a trained classifier needs. "
        "Without a command, opens the desktop app.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="show debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for module in COMMANDS:
        for command in module.add_parsers(sub):
            command.set_defaults(module=module)
    return parser
