"""The ``fourier-masks`` argument parser, built from each command's own options."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .commands import COMMANDS


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get the one ``error:`` line (exit status 2) every other fixable problem
    gets, naming the option as the user typed it (argparse's ``argument --size: …`` reads
    ``--size: …``), on one line whatever the values it quotes hold."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, one_line(f"error: {message.removeprefix('argument ')} (see {self.prog} --help)") + "\n")

    def parse_known_args(self, args=None, namespace=None):
        """As argparse's, and for a command that reads a ``--config`` file, ``typed``: the
        options the user typed (their ``dest``), which override the file's settings where an
        option left at its default must not (``--steps 10`` typed beats the file's 20;
        ``--steps`` not typed keeps it). Found by parsing with the defaults suppressed."""
        if not any(action.dest == "config" for action in self._actions):
            return super().parse_known_args(args, namespace)
        defaults = {
            action: action.default
            for action in self._actions
            if action.dest != argparse.SUPPRESS and action.default != argparse.SUPPRESS
        }
        for action in defaults:
            action.default = argparse.SUPPRESS
        try:
            parsed, extras = super().parse_known_args(args, namespace)
        finally:
            for action, default in defaults.items():
                action.default = default
        typed = {action.dest for action in defaults if hasattr(parsed, action.dest)}
        for action, default in defaults.items():
            if not hasattr(parsed, action.dest):  # as argparse sets a default (a text one through `type`)
                setattr(parsed, action.dest, self._get_value(action, default) if isinstance(default, str) else default)
        parsed.typed = frozenset(typed)
        return parsed, extras


def one_line(text: str) -> str:
    """``text`` on one line: a line break or other control character (in a value the message
    quotes) written as its escape, ``\\n``."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
