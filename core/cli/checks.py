"""Checks before any work starts: options the command would otherwise ignore, and shapes the
user gave that disagree with the model or its data. Each failure is one ``error:`` line."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ModelMismatchError
from ..models.checkpoints import output_width
from ..runs.executors import check_cluster, reach_cluster
from .options import normalization


def check_model_shapes(args, model, path: Path) -> None:
    """``--model-classes/-channels/-size`` must be what the model is. A TorchScript or exported
    graph is run once: neither its metadata nor the shapes typed for it bind what it outputs."""
    info = model.info
    for option, given, actual, what in (
        ("--model-classes", args.model_classes, info.num_classes, "has {} classes"),
        ("--model-channels", args.model_channels, info.in_channels, "takes {}-channel images"),
        ("--model-size", args.model_size, info.image_size, "takes {}-px images"),
    ):
        if given is not None and given != actual:
            raise ModelMismatchError(
                f"{option} {given} disagrees with {path.name}, which {what.format(actual)}; leave {option} out"
            )
    given = normalization(args.normalization, info.in_channels)
    if given is not None and (tuple(info.mean), tuple(info.std)) != given:
        raise ModelMismatchError(
            f"--normalization {' '.join(args.normalization)} disagrees with {path.name}, which normalises with "
            f"mean {', '.join(f'{m:g}' for m in info.mean)} and std {', '.join(f'{s:g}' for s in info.std)}; "
            "leave --normalization out"
        )
    if info.source in ("torchscript", "torch-export"):
        width = output_width(model)
        if width < 2:
            raise ModelMismatchError(
                f"{path.name} outputs {width} score{'' if width == 1 else 's'} per image, but a classifier needs at "
                "least 2 classes (one score each); give a model that scores 2 or more classes"
            )
        if width != info.num_classes:
            fix = (
                f"give --model-classes {width}"
                if args.model_classes
                else "its metadata is wrong: re-export it with the right class count"
            )
            raise ModelMismatchError(
                f"{path.name} outputs {width} scores per image, not the {info.num_classes} classes "
                f"{'--model-classes gave' if args.model_classes else 'its metadata says'}; {fix}"
            )


def check_data_fits(args, size: int, channels: int, whose: str) -> None:
    """A ``--size``/``--channels`` the user gave must be the models' own: data at another size
    would be misread by them (or fail deep inside)."""
    if args.size is not None and args.size != size:
        raise ConfigError(
            f"--size {args.size} disagrees with {whose} ({size}-px images); leave --size out to load the data at that size"
        )
    if args.channels is not None and args.channels != channels:
        raise ConfigError(
            f"--channels {args.channels} disagrees with {whose} ({channels}-channel images); leave --channels out"
        )


# Options of ``masks`` that only per-image masks use, and what set and class masks use instead.
PER_IMAGE_ONLY = {
    "objective": ("--objective", "set and class masks have their own published objective"),
    "schedule": ("--schedule", "set and class masks follow a one-cycle schedule over --max-epochs"),
    "rule": ("--rule", "set and class masks stop when accuracy holds and the mask settles, or at --max-epochs"),
    "max_steps": ("--max-steps", "set and class masks are limited by --max-epochs"),
    "cluster": ("--cluster", "a set or class mask is one optimisation, learned on this machine"),
    "adversarial": ("--adversarial", "set and class masks are learned on clean images"),
    "eps": ("--eps", "it is the PGD ε of --adversarial"),
    "images": ("--images", "set and class masks need labelled images: use --data"),
    "per_class": (
        "--per-class",
        "set and class masks use the whole validation split (limit it with --val-per-class for built-in "
        "data, --limit otherwise)",
    ),
}


def refuse_what_does_not_apply(args) -> None:
    """Refuse, before anything starts, options the command would otherwise silently ignore."""
    if args.command == "masks":
        refuse_mask_options(args)
    if args.command == "train":
        if args.name and len(args.augment) > 1:
            raise ConfigError(
                "--name names one model; with several --augment values each model is named by its "
                "augmentation (N, A, S, T, R): train them one at a time to name them"
            )
        low, high = args.crop_scale
        if low > high:
            raise ConfigError(f"--crop-scale {low:g} {high:g}: LO must not exceed HI")
    if args.command == "attack" and args.force and not args.out:
        raise ConfigError("--force replaces adversarial images saved in a run; it needs --out RUN")
    if hasattr(args, "data") and args.command != "study":  # the study's data options are its own
        refuse_data_options(args)
    if getattr(args, "cluster", None) is not None:
        reach_cluster(args.cluster)  # a cluster we cannot use is refused before any work starts


def refuse_mask_options(args) -> None:
    if args.kind in ("set", "class"):
        for key, (option, instead) in PER_IMAGE_ONLY.items():
            if getattr(args, key) not in (None, False):
                raise ConfigError(f"{option} applies to per-image masks only ({instead}); leave it out")
        if not args.data:
            raise ConfigError(f"{args.kind} masks need labelled images: give --data SPEC")
        return
    if args.max_epochs is not None:
        raise ConfigError("--max-epochs applies to set and class masks only; per-image masks stop by --max-steps")
    if args.images and args.data:
        raise ConfigError("give --images FILE... or --data SPEC, not both")
    if not args.images and not args.data:
        raise ConfigError("give --images FILE... or --data SPEC")
    if args.images and args.adversarial:
        raise ConfigError("--adversarial needs labelled images: use --data instead of --images")
    if args.images and args.per_class is not None:
        raise ConfigError("--per-class picks validation images of --data; with --images every file given is used")
    if args.eps is not None and not args.adversarial:
        raise ConfigError("--eps is the PGD ε of --adversarial; add --adversarial or leave --eps out")
    if args.objective == "basile" and args.rule == "fast":
        raise ConfigError(
            "--rule fast is measured for the invariance objective only; leave it out with --objective basile"
        )


def refuse_data_options(args) -> None:
    """Data options that the data given (or its absence) would never use."""
    spec = args.data or ""
    builtin = spec == "builtin" or spec.startswith("builtin:")
    has_images = bool(spec) or bool(getattr(args, "images", None))
    per_class_hint = "for other data use --limit" if spec else "leave it out or give --data builtin"
    for option, given, applies, where, hint in (
        ("--size", args.size, has_images, "the images of --data", "leave it out or give --data"),
        ("--channels", args.channels, has_images, "the images of --data", "leave it out or give --data"),
        ("--train-per-class", args.train_per_class, builtin, "built-in data", per_class_hint),
        ("--val-per-class", args.val_per_class, builtin, "built-in data", per_class_hint),
        (
            "--limit",
            args.limit,
            bool(spec) and not builtin,
            "folders and torchvision data",
            "for built-in data use --train-per-class and --val-per-class",
        ),
        (
            "--data-root",
            args.data_root,
            spec.startswith(("torchvision:", "tv:")),
            "torchvision:<Name> data",
            "leave it out",
        ),
    ):
        if given is not None and not applies:
            raise ConfigError(f"{option} applies to {where} only; {hint}")


def checked_cluster(args) -> str | None:
    """``--cluster``, checked (None: learn on this machine)."""
    return None if getattr(args, "cluster", None) is None else check_cluster(args.cluster)
