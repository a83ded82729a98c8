"""``fourier-masks info FILE_OR_RUN``: what a checkpoint or a run folder holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...models.checkpoints import GRAPH_FORMATS, TRUSTED_ONLY, inspect_checkpoint
from ...study.contents import discover
from ..common import open_store


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("info", help="describe a checkpoint file or a run folder")
    p.add_argument("path")
    return [p]


def run(args) -> int:
    path = Path(args.path)
    if path.is_dir():
        store = open_store(str(path), create=False)
        contents = discover(store)
        print(f"run {store.root} ({store.manifest.status or 'in progress'})")
        print(f"  models: {', '.join(contents.models) or '-'}")
        for group in store.mask_groups():
            meta = store.mask_meta(group)
            done = (
                f", {len(store.finished_ids(group))}/{len(meta.get('ids', []))} done" if meta["kind"] == "image" else ""
            )
            print(f"  masks {group}: {meta['kind']} masks of model {meta.get('model')}{done}")
        print(f"  tables: {', '.join(store.table_names()) or '-'}")
        return 0
    summary = inspect_checkpoint(path)
    print(f"{path.name}: {summary.format}")
    if summary.format in GRAPH_FORMATS:
        print(f"  {path.name} {TRUSTED_ONLY}")
    if summary.info is not None:
        print(json.dumps(json.loads(summary.info.to_json()), indent=2))
    else:
        print("  no Fourier Masks metadata (give the architecture and shapes when loading)")
    return 0
