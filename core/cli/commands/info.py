"""``fourier-masks info FILE_OR_RUN``: what a checkpoint or a run folder holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...errors import MissingModelDetailsError
from ...models import MODEL_NAME_EXAMPLES, ModelInfo, folder_library, is_model_name, open_model
from ...models.checkpoints import GRAPH_FORMATS, TRUSTED_ONLY, inspect_checkpoint
from ..common import open_store
from ..json_output import absolute, add_json, emit, wants_json
from ..options import given


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser(
        "info", help="describe a checkpoint file, a model by name (timm:…, torchvision:…, hf:…) or a run folder"
    )
    p.add_argument(
        "path",
        metavar="FILE_OR_RUN",
        type=given("a run folder, a model file or a model name"),
        help="a run folder, a model file or folder, or a model name such as " + MODEL_NAME_EXAMPLES[0],
    )
    add_json(p)
    return [p]


def _describe(info: ModelInfo) -> None:
    details = json.loads(info.to_json())
    details["class_names"] = f"{len(info.class_names)} names" if info.class_names else []
    if "config" in details["build"]:
        details["build"]["config"] = f"{details['build']['config'].get('model_type')} configuration"
    print(json.dumps(details, indent=2))
    print(
        f"  preprocessing: {info.preparation.describe()}, normalised with mean "
        f"{', '.join(f'{m:g}' for m in info.mean)} and std {', '.join(f'{s:g}' for s in info.std)}"
    )
    labels = info.labels()
    print(f"  classes: {info.num_classes} ({', '.join(labels[:3])}{', …' if len(labels) > 3 else ''})")


def _model_document(info: ModelInfo) -> dict:
    """A model's metadata as ``info --json`` gives it: all of it, with how it prepares images."""
    return {
        **json.loads(info.to_json()),
        "preprocessing": info.preparation.describe(),
        "labels": info.labels(),
    }


def run(args) -> int:
    path = Path(args.path)
    if is_model_name(args.path) or (path.is_dir() and folder_library(path)):
        model = open_model(args.path)
        print(f"{args.path}: {model.info.source}")
        _describe(model.info)
        if wants_json(args):
            emit("info", {"kind": "model", "path": args.path, "model": _model_document(model.info)})
        return 0
    if path.is_dir():
        store = open_store(str(path), create=False)
        print(f"run {store.root} ({store.manifest.status or 'in progress'})")
        print(f"  models: {', '.join(store.model_names()) or '-'}")
        for group in store.mask_groups(notice=False):  # the damaged ones are listed below
            meta = store.mask_meta(group)
            done = (
                f", {len(store.finished_ids(group))}/{len(meta.get('ids', []))} done" if meta["kind"] == "image" else ""
            )
            print(f"  masks {group}: {meta['kind']} masks of model {meta.get('model')}{done}")
        print(f"  tables: {', '.join(store.table_names()) or '-'}")
        _print_provenance(store.manifest)
        for damage in store.damage():
            print(f"  damaged: {damage}")
        if wants_json(args):
            _emit_run(store)
        return 0
    summary = inspect_checkpoint(path)
    print(f"{path.name}: {summary.format}")
    if summary.format in GRAPH_FORMATS:
        print(f"  {path.name} {TRUSTED_ONLY}")
    info = summary.info
    if info is not None:
        _describe(info)
    elif summary.format in GRAPH_FORMATS:
        print("  no Fourier Masks metadata (give its channels, classes and image size when loading)")
    else:
        try:  # weights alone: described by their file name (torchvision's), a JSON beside them, or their keys
            info = open_model(path).info
            _describe(info)
        except MissingModelDetailsError:
            print("  weights of an unknown architecture (give it with --arch when loading)")
    if wants_json(args):
        document = {
            "kind": "checkpoint",
            "path": absolute(path),
            "format": summary.format,
            "trusted_sources_only": summary.format in GRAPH_FORMATS,
            "model": None if info is None else _model_document(info),
        }
        emit("info", document)
    return 0


def _print_provenance(manifest) -> None:
    """Who computed into the run: the first job, and the last one where later jobs exist."""
    jobs = [("made by", manifest.provenance)] if manifest.provenance else []
    if manifest.later_provenance:
        jobs.append((f"last of {len(manifest.later_provenance)} later job(s)", manifest.later_provenance[-1]))
    for label, job in jobs:
        gpu = f" ({job.get('gpu')})" if job.get("gpu") else ""
        print(
            f"  {label}: {job.get('command')} on {job.get('device')}{gpu}, since {job.get('started')}; "
            f"fourier-masks {job.get('fourier_masks')}, torch {job.get('torch')}, numpy {job.get('numpy')}, "
            f"Python {job.get('python')}, {job.get('platform')}"
        )


def _emit_run(store) -> None:
    """``info --json`` of a run folder: its status, models, mask groups, tables and damage."""
    groups = []
    for group in store.mask_groups(notice=False):
        meta = store.mask_meta(group)
        image = meta["kind"] == "image"
        groups.append(
            {
                "name": group,
                "kind": meta["kind"],
                "model": meta.get("model"),
                "done": len(store.finished_ids(group)) if image else None,
                "total": len(meta.get("ids", [])) if image else None,
                "path": absolute(store.path(f"masks/{group}")),
            }
        )
    document = {
        "kind": "run",
        "run": absolute(store.root),
        "status": store.manifest.status or None,
        "models": store.model_names(),
        "mask_groups": groups,
        "tables": store.table_names(),
        "damaged": [str(damage) for damage in store.damage()],
        "provenance": store.manifest.provenance,
        "later_provenance": list(store.manifest.later_provenance or ()),
    }
    emit("info", document)
