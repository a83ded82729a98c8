"""The ``fourier-masks`` command line (headless)."""

from .program import ProgressPrinter, build_parser, main

__all__ = ["ProgressPrinter", "build_parser", "main"]
