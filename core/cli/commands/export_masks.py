"""``fourier-masks export-masks RUN GROUP FILE``: one mask group in one file, to share."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import OutputError
from ...runs.export import EXPORT_SUFFIXES, export_mask_group, export_suffix
from ..common import open_store
from ..options import given


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser(
        "export-masks",
        help="write one mask group (masks, ids, statistics, settings) to a .safetensors or .npz file",
        description=(
            "Write one mask group of a run to one file: its masks (unshifted DFT layout, as the run "
            "stores them), what each is of (image ids, class names), their statistics and the settings, "
            "model, data and provenance they were made with. The format follows FILE's extension "
            f"({' or '.join(EXPORT_SUFFIXES)}); docs/results-store.md describes it."
        ),
    )
    p.add_argument("run", metavar="RUN", type=given("a run folder"), help="the run folder")
    p.add_argument(
        "group", metavar="GROUP", type=given("a mask group, such as image/N-clean"), help="e.g. image/N-clean, set/N"
    )
    p.add_argument("file", metavar="FILE", type=given("a .safetensors or .npz file"), help="the file to write")
    p.add_argument("--force", action="store_true", help="replace FILE when it exists")
    return [p]


def run(args) -> int:
    target = Path(args.file)
    export_suffix(target)  # a wrong extension is refused before the run is opened
    if target.exists() and not args.force:
        raise OutputError(f"{target} already exists; pass --force to replace it")
    store = open_store(args.run, create=False, write=False)
    exported = export_mask_group(store, args.group, target)
    what = {"image": "per-image masks", "class": "class masks", "set": "set mask"}.get(exported.kind, "masks")
    print(
        f"wrote {len(exported)} {what} of {args.group} ({', '.join(exported.statistics) or 'no statistics'}) to {target}"
    )
    return 0
