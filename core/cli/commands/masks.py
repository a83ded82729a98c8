"""``fourier-masks masks set|class|image``: Fourier masks for a whole set, per class, or per
image (of files, or of a dataset's validation images, clean or attacked), kept in a run."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

import numpy as np

from ...attacks.adversarial import AttackConfig
from ...data.images import ImageSet, image_set_from_files
from ...errors import ConfigError
from ...masks.config import OBJECTIVES, SCHEDULES, ImageMaskConfig, SetMaskConfig
from ...runs.adversarial import adversarial_images_in_run
from ...runs.classes import evaluation_request
from ...runs.manifest import DataRecord
from ...runs.workflows import learn_class_masks_into_run, learn_image_masks_into_run, learn_set_mask_into_run
from ...spectra.fourier import COMPONENTS
from ..checks import checked_cluster
from ..common import data_request, labelled_images, model_and_run, printer
from ..config_files import SettingsFile, add_config, masks_file, typed
from ..json_output import absolute, add_json, emit, wants_json
from ..options import (
    add_cluster,
    add_data,
    add_device,
    add_model,
    epochs,
    given,
    images_per_class,
    learning_rate,
    mask_batch_size,
    name_in_run,
    sparsity,
    steps,
    unit_interval,
)


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("masks", help="learn Fourier masks for a whole set, per class, or per image")
    p.add_argument("kind", choices=("set", "class", "image"))
    add_model(p)
    add_data(p, required=False)
    p.add_argument(
        "--images",
        nargs="+",
        default=None,
        type=given("image files or folders"),
        help="image files or folders (per-image masks)",
    )
    p.add_argument(
        "--per-class",
        type=images_per_class,
        default=None,
        help="per-image masks for this many validation images of --data per class (0 = all)",
    )
    p.add_argument("--out", required=True, type=given("a run folder"), help="run folder to save the masks in")
    add_config(p, "mask settings from a TOML file: tables set_mask, image_mask and attack (the PGD of --adversarial)")
    p.add_argument(
        "--group",
        default=None,
        type=name_in_run("a mask group name"),
        help="name of the mask group (default set/M, class/M, image/M-clean)",
    )
    add_cluster(p)
    p.add_argument("--objective", choices=OBJECTIVES, default=None, help="per-image objective (default invariance)")
    p.add_argument(
        "--lam",
        type=sparsity,
        default=None,
        help="sparsity weight λ, in [0, 100] (default: 0.2 set/class, 0.07 image)",
    )
    p.add_argument("--lr", type=learning_rate, default=None, help="learning rate, in (0, 10] (default: published)")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="per-image learning-rate schedule (default: the objective's)",
    )
    p.add_argument(
        "--max-steps",
        type=steps,
        default=None,
        help="per-image step limit (default 20 000; 3 000 with --rule fast, 5 000 with --objective basile)",
    )
    p.add_argument(
        "--rule",
        choices=("published", "fast"),
        default=None,
        help="per-image stop rule: 'published' (the default, up to 20 000 steps) or 'fast': the published rule, "
        "but masks still learning at step 2 000 anneal (cosine) to a stop by step 3 000; what it changes in "
        "the masks is measured in docs/performance.md",
    )
    p.add_argument("--max-epochs", type=epochs, default=None, help="set/class epoch limit (default 100)")
    p.add_argument(
        "--batch-size",
        type=mask_batch_size,
        default=None,
        help="images per batch (default and 0: automatic for per-image masks; 128 for set masks, of which class "
        "masks take a share per class)",
    )
    p.add_argument(
        "--learn-on",
        choices=("half", "all"),
        default="half",
        help="set/class masks: learn on one half of the validation images (stratified by class; the default, so "
        "Table 1 measures the mask on the other half) or on all of them (no held-out figure)",
    )
    p.add_argument("--per-channel", action="store_true", help="one mask per colour channel")
    p.add_argument(
        "--component",
        choices=COMPONENTS,
        default=None,
        help="what the mask modulates: the magnitude (the published mask) or the phase",
    )
    p.add_argument("--adversarial", action="store_true", help="per-image masks of PGD adversarial images")
    p.add_argument(
        "--eps",
        type=unit_interval,
        default=None,
        help="PGD ε for --adversarial, in [0, 1] pixel units (default 0.01356)",
    )
    add_device(p)
    add_json(p)
    return [p]


def run(args) -> int:
    settings = masks_file(args)  # first: a file that is not valid TOML is told before the model loads
    on, model, name, store = model_and_run(args)
    if args.kind == "image":
        return _image_masks(args, model, name, store, on, settings)
    config = _set_mask_config(args, settings)
    info = model.info
    request = evaluation_request(data_request(args), {name: info})
    val = labelled_images(args, model, name)
    store.record_data(DataRecord.of(request, info.preparation, info.in_channels))
    group = args.group or f"{args.kind}/{name}"
    if store.has_masks(group):
        raise ConfigError(f"the run already holds masks {group!r} (masks are never overwritten); choose --group")
    learning = val.halves(seed=args.seed)[0] if args.learn_on == "half" else val
    if args.kind == "set":
        result = learn_set_mask_into_run(
            store, group, name, model, learning, config=config, device=on, on_progress=printer(args)
        )
        if result.cancelled:
            return 130
        print(
            f"{group}: kept {100 * result.kept_fraction:.2f} % of frequencies; accuracy "
            f"{100 * result.accuracy:.2f} % -> {100 * result.masked_accuracy:.2f} % with the mask "
            f"({result.epochs} epochs, {'converged' if result.converged else 'epoch limit'})"
        )
        summary: dict[str, Any] = _set_mask_summary(result)
    else:
        results = learn_class_masks_into_run(
            store, group, name, model, learning, config=config, device=on, on_progress=printer(args)
        )
        if any(r.cancelled for r in results.values()):
            return 130
        for k, r in results.items():
            print(
                f"class {val.class_names[k]}: kept {100 * r.kept_fraction:.2f} %, "
                f"masked accuracy {100 * r.masked_accuracy:.2f} %"
            )
        summary = {
            "classes": [{"class": val.class_names[k], "index": k, **_set_mask_summary(r)} for k, r in results.items()]
        }
    print(f"masks -> {store.path(f'masks/{group}')}")
    if wants_json(args):
        document = {**_header(args, store, name, group), "config": config.to_dict(), "learn_on": args.learn_on}
        emit("masks", {**document, **summary})
    return 0


def _header(args, store, name: str, group: str) -> dict[str, Any]:
    """What every ``masks --json`` document starts with."""
    return {
        "kind": args.kind,
        "run": absolute(store.root),
        "model": name,
        "group": group,
        "files": {"masks": absolute(store.path(f"masks/{group}"))},
    }


def _set_mask_summary(result) -> dict[str, Any]:
    """A set or class mask's numbers, as fractions in [0, 1]."""
    return {
        "images": result.num_images,
        "kept_fraction": result.kept_fraction,
        "accuracy": result.accuracy,
        "masked_accuracy": result.masked_accuracy,
        "epochs": result.epochs,
        "converged": result.converged,
        "accuracy_met": result.accuracy_met,
    }


def _images(args, model, name) -> tuple[ImageSet, list[str]]:
    """The images of ``masks image``: files and folders given with --images, or the validation
    images of --data (--per-class of each class); with the files skipped, and why."""
    info = model.info
    if args.images:
        images, problems = image_set_from_files(args.images, info.in_channels, info.preparation, info.labels())
        for problem in problems:
            print(f"skipped: {problem}", file=sys.stderr)
        return images, [str(problem) for problem in problems]
    return labelled_images(args, model, name, args.per_class or 0), []


def _set_mask_config(args, settings: SettingsFile | None) -> SetMaskConfig:
    """The published set-mask settings, the ``--config`` file's ``set_mask`` over them, and the
    options typed over both. The data are drawn with the settings' seed (``--seed``, or the file's)."""
    defaults = settings.config("set_mask", SetMaskConfig, SetMaskConfig()) if settings else SetMaskConfig()
    config = defaults.replace(
        lam=defaults.lam if args.lam is None else args.lam,
        lr=defaults.lr if args.lr is None else args.lr,
        max_epochs=args.max_epochs or defaults.max_epochs,
        batch_size=args.batch_size or defaults.batch_size,
        per_channel=args.per_channel or defaults.per_channel,
        seed=args.seed if typed(args, "seed") else defaults.seed,
        component=args.component or defaults.component,
    )
    args.seed = config.seed
    return config


def _image_mask_config(args, model, settings: SettingsFile | None = None) -> ImageMaskConfig:
    """The per-image preset that ``--objective`` and ``--rule`` name, the ``--config`` file's
    ``image_mask`` over it, and single overrides typed over both."""
    given = {
        "lam": args.lam,
        "lr": args.lr,
        "max_steps": args.max_steps,
        "schedule": args.schedule,
        "batch_size": args.batch_size,
        "per_channel": args.per_channel or None,
        "component": args.component,
    }
    changes = {key: value for key, value in given.items() if value is not None}
    if args.objective == "basile":
        preset = ImageMaskConfig.basile(model.info.image_size)
        if args.max_steps is not None:  # Basile's rule runs at least 500 steps: no more than --max-steps
            changes["min_steps"] = min(preset.min_steps, args.max_steps)
    elif args.rule == "fast":
        preset = ImageMaskConfig.fast()
        if args.max_steps is not None:  # the fast rule settles from 2/3 of its steps
            changes["settle_after"] = ImageMaskConfig.fast(max_steps=args.max_steps).settle_after
    else:
        preset = ImageMaskConfig()
    base = settings.config("image_mask", ImageMaskConfig, preset) if settings else preset
    return base.replace(**changes)


def _image_masks(args, model, name, store, on, settings: SettingsFile | None = None) -> int:
    images, skipped = _images(args, model, name)
    config = _image_mask_config(args, model, settings)
    inputs = "adversarial" if args.adversarial else "clean"
    group = args.group or f"image/{name}-{inputs}"
    done = len(store.finished_ids(group)) if store.holds_group(group) else 0  # a damaged group says so now
    extra: dict[str, Any] = {}
    if args.adversarial:
        attack = settings.config("attack", AttackConfig, AttackConfig()) if settings else AttackConfig()
        attack = dataclasses.replace(attack, eps=attack.eps if args.eps is None else args.eps)
        adversarial = adversarial_images_in_run(
            store, name, model, images, attack=attack, device=on, on_progress=printer(args)
        )
        assert adversarial is not None  # nothing cancels a command but Ctrl-C
        images = dataclasses.replace(images, images=adversarial)
        extra = {"attack": attack.to_dict()}
    print(
        f"{group}: {len(images)} images ({done} masks already in the run), {config.objective} objective",
        file=sys.stderr,
    )
    result = learn_image_masks_into_run(
        store,
        group,
        name,
        model,
        images,
        config=config,
        inputs=inputs,
        device=on,
        cluster=checked_cluster(args),
        on_progress=printer(args),
        **extra,
    )
    if result is None:
        print(f"{group}: all {len(images)} masks are already in the run")
    elif result.cancelled:
        print(f"cancelled: {len(result)} masks saved", file=sys.stderr)
    else:
        print(
            f"{group}: {len(result)} masks, median kept fraction {100 * float(np.median(result.kept_fraction)):.2f} %, "
            f"median {int(np.median(result.steps))} steps, {100 * result.converged.mean():.0f} % converged, "
            f"prediction kept for {100 * result.prediction_kept.mean():.0f} % -> {store.path(f'masks/{group}')}"
        )
    if wants_json(args):
        emit(
            "masks",
            {
                **_header(args, store, name, group),
                "config": config.to_dict(),
                "inputs": inputs,
                "images": len(images),
                "already_done": done,
                **_image_mask_summary(result),
                "skipped": skipped,
            },
            cancelled=result is not None and result.cancelled,
        )
    return 130 if result is not None and result.cancelled else 0


# The numbers of ``masks image --json`` over the masks the command learned: null when it learned none.
IMAGE_MASK_NUMBERS = ("median_kept_fraction", "median_steps", "converged_fraction", "prediction_kept_fraction")


def _image_mask_summary(result) -> dict[str, Any]:
    """The per-image masks this command learned (None: all were in the run already): how many,
    and their medians and shares as fractions in [0, 1] (null when it learned none)."""
    if result is None or len(result) == 0:
        return {key: None for key in IMAGE_MASK_NUMBERS} | {"learned": 0}
    return {
        "learned": len(result),
        "median_kept_fraction": float(np.median(result.kept_fraction)),
        "median_steps": float(np.median(result.steps)),
        "converged_fraction": float(result.converged.mean()),
        "prediction_kept_fraction": float(result.prediction_kept.mean()),
    }
