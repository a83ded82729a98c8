"""``fourier-masks [app] [RUN] [--demo]``: the desktop app, the command with no subcommand."""

from __future__ import annotations

import argparse

from ...errors import FourierMasksError
from ..options import given


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("app", help="open the desktop app (the default)")
    p.add_argument("run", nargs="?", metavar="RUN", type=given("a run folder"), help="a run folder to open")
    p.add_argument("--demo", action="store_true", help="start the quick demo study in the app at once")
    return [p]


def run(args) -> int:
    if args.open_app is None:
        raise FourierMasksError(
            "the desktop app is not part of the headless engine; start it with the fourier-masks "
            "command, or use a subcommand (fourier-masks --help)"
        )
    return args.open_app(getattr(args, "run", None), getattr(args, "demo", False))
