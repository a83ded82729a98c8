"""The ``fourier-masks`` command line (headless): one module per command, sharing the
engine's workflows with the app (:mod:`fourier_masks.core.runs.workflows`)."""

from .parser import build_parser
from .printer import ProgressPrinter
from .program import main

__all__ = ["ProgressPrinter", "build_parser", "main"]
