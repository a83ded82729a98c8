"""``--json``: one JSON document on standard output for a script, everything else on standard
error.

A command given ``--json`` runs as it always does, but what it prints for people (its tables,
its summary lines, ``note:`` lines, the progress) goes to standard error; when it finishes it
writes one JSON document to standard output (:func:`emit`), so
``fourier-masks attack … --json | python -c "import json, sys; json.load(sys.stdin)"`` holds.
The document's shape is described in ``docs/json-output.md``: every document has ``command``,
``schema`` (:data:`JSON_SCHEMA`), ``cancelled`` and ``seconds``; rates and fractions are in
[0, 1] (tables keep their own units); paths are absolute; a number that is not finite (NaN, ±inf:
a top-5 error a model of 5 classes has not, an accuracy of no images) is ``null``, as JSON has
no such numbers.

Errors are unchanged: one ``error:`` line on standard error, exit status 2, and nothing on
standard output, so a script tells success by the exit status and reads the document only then.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..figures import FIGURE_FORMATS
from ..tables import Table

# The documents' ``schema``: raised when a key is renamed or removed or changes meaning; new keys keep it.
JSON_SCHEMA = 1

# While a command runs with --json: the standard output the document goes to, and when it started.
_TARGET: ContextVar[tuple[TextIO, float] | None] = ContextVar("fourier_masks_json_target", default=None)


def add_json(parser: argparse.ArgumentParser) -> None:
    """``--json`` on a command whose run() ends with :func:`emit`."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on standard output when done (what it prints for people, and the progress, "
        "go to standard error; errors stay one error: line with exit status 2); see docs/json-output.md",
    )


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


@contextlib.contextmanager
def human_output_on_stderr(args: argparse.Namespace) -> Iterator[None]:
    """With ``--json``, while a command runs: its ``print()`` goes to standard error, so that
    standard output holds the one document :func:`emit` writes. Without ``--json``: nothing."""
    if not wants_json(args):
        yield
        return
    stdout = sys.stdout
    token = _TARGET.set((stdout, time.perf_counter()))
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = stdout
        _TARGET.reset(token)


def emit(command: str, document: Mapping[str, Any], *, cancelled: bool = False) -> None:
    """Write ``document`` as the command's one JSON document, after the keys every document
    has (``command``, ``schema``, ``cancelled``, ``seconds``: since the command started), to
    the standard output :func:`human_output_on_stderr` kept (or the current one outside it)."""
    target = _TARGET.get()
    stream, started = target if target is not None else (sys.stdout, None)
    header = {
        "command": command,
        "schema": JSON_SCHEMA,
        "cancelled": cancelled,
        "seconds": None if started is None else round(time.perf_counter() - started, 3),
    }
    clash = header.keys() & document.keys()
    if clash:  # a bug: a command's key would hide one every document has
        raise ValueError(f"the {command} document may not set {', '.join(sorted(clash))}")
    text = json.dumps(jsonable({**header, **document}), allow_nan=False, indent=2)
    stream.write(text + "\n")
    stream.flush()


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON values: NumPy numbers and arrays as numbers and lists, paths as
    strings, tables as :meth:`Table.to_dict`, dataclasses as dicts, and a float that is not
    finite as None (JSON has no NaN or infinity)."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Table):
        return jsonable(value.to_dict())
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    raise TypeError(f"no JSON form for {type(value).__name__}")  # a bug: a command put it in its document


def tables(chosen: Iterable[Table]) -> dict[str, dict[str, Any]]:
    """Tables as a document holds them: ``{name: table.to_dict()}``."""
    return {table.name: table.to_dict() for table in chosen}


def absolute(path: str | Path | None) -> str | None:
    """A path as a document gives it: absolute, so a script may run from anywhere."""
    return None if path is None else str(Path(path).absolute())


def figure_files(folder: Path, names: Iterable[str]) -> list[str]:
    """The files of the figures ``names`` in ``folder`` (each is written in every format), absolute."""
    return [str((folder / f"{name}.{fmt}").absolute()) for name in names for fmt in FIGURE_FORMATS]
