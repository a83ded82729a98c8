"""The ``fourier-masks`` command.

With no arguments it opens the desktop app; subcommands run the engine headless::

    fourier-masks demo --out DIR [--quick]        the whole study on the built-in data
    fourier-masks train --data SPEC --out RUN     train model variants
    fourier-masks attack --model M --data SPEC    PGD success rate (and adversarial images)
    fourier-masks masks set|class|image ...       learn Fourier masks
    fourier-masks evaluate|energy|clusters|report --run RUN
    fourier-masks info FILE_OR_RUN                what a checkpoint or run folder holds

Problems the user can fix print one ``error:`` line (exit status 2); Ctrl-C stops at once
(exit status 130) and everything already finished stays saved.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from ..devices import tune_cpu_allocator
from ..errors import ConfigError, FourierMasksError, ModelMismatchError
from ..logs import print_notices, setup_file_logging
from ..progress import Progress, format_duration

log = logging.getLogger("fourier_masks")


class ProgressPrinter:
    """Progress on stderr: one redrawn line on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 0.1 if self.tty else 5.0
        self._last = 0.0
        self._stage = ""
        self._open_line = False

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if progress.stage in ("study", "report"):
            # Steps of a multi-step job: one line each; a nested report's steps are indented.
            if progress.done >= progress.total:
                return
            self._end_line()
            step = f"[{int(progress.done) + 1}/{int(progress.total)}]"
            indent = "    " if progress.stage == "report" else ""
            print(f"{indent}{step} {progress.message}", file=self.stream, flush=True)
            return
        finished = progress.done >= progress.total
        if progress.stage == self._stage and now - self._last < self.interval and not finished:
            return
        self._stage, self._last = progress.stage, now
        line = self._format(progress)
        if self.tty:
            print("\r" + line.ljust(100)[:150], end="", file=self.stream, flush=True)
            self._open_line = True
            if finished:
                self._end_line()
        else:
            print(line, file=self.stream, flush=True)

    def _end_line(self) -> None:
        if self._open_line:
            print(file=self.stream, flush=True)
            self._open_line = False

    @staticmethod
    def _format(progress: Progress) -> str:
        width = 24
        filled = int(round(width * progress.fraction))
        bar = "█" * filled + "·" * (width - filled)
        eta = progress.eta_s
        eta_text = f" eta {format_duration(eta, compact=True)}" if eta is not None and progress.fraction < 1 else ""
        return f"  {progress.stage:<18} {bar} {100 * progress.fraction:5.1f}%{eta_text}  {progress.message}"


# --- numbers ----------------------------------------------------------------------------------------


def _int_from(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for whole numbers in a range, so a count or size out of range is
    refused before anything starts instead of being misread (0 as "default", -3 as a slice)."""
    span = f"≥ {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    return parse


def _float_in(
    low: float = -math.inf, high: float = math.inf, *, open_low: bool = False, open_high: bool = False
) -> Callable[[str], float]:
    """An argparse ``type`` for finite numbers in a range (NaN and ±inf are refused too)."""
    if math.isfinite(low) and math.isfinite(high):
        span = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    elif math.isfinite(low):
        span = f"{'>' if open_low else '≥'} {low:g}"
    else:
        span = "a finite number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {span}, got {text!r}") from None
        above = low < value if open_low else low <= value
        below = value < high if open_high else value <= high
        if not (math.isfinite(value) and above and below):
            raise argparse.ArgumentTypeError(f"must be {span}, got {text}")
        return value

    return parse


positive_int = _int_from(1)
non_negative_int = _int_from(0)
image_size = _int_from(8)  # the smallest input a model takes (ModelInfo)
class_count = _int_from(2)
non_negative = _float_in(0)
positive = _float_in(0, open_low=True)
finite = _float_in()
pixel_eps = _float_in(0, 1)
BLUE_SHIFT_MAX_CYCLES = 255  # below the Nyquist limit of run_blue_shift's 512 samples
blue_shift_cycles = _int_from(1, BLUE_SHIFT_MAX_CYCLES)

DEFAULT_EPS = 0.06 * 0.226  # the paper's 0.06 in normalised units, as [0, 1] pixel units
TRAIN_PER_CLASS, VAL_PER_CLASS = 1000, 200


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get the one ``error:`` line (exit status 2) every other fixable problem gets."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


# --- shared argument groups ---------------------------------------------------------------------


def _add_labelled_images(p, per_class: int) -> None:
    """``--data``, ``--out`` and ``--per-class``: the analyses that run on labelled validation images."""
    _add_data(p)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--per-class", type=non_negative_int, default=per_class, help="validation images per class (0 = all)"
    )


def _add_force_and_device(p) -> None:
    """``--force`` and ``--device`` for commands that write tables and figures into a run."""
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    _add_device(p)


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="ray|auto|ray://HOST:PORT",
        help="learn the per-image masks on Ray workers: 'ray' starts a local Ray cluster for the job, 'auto' "
        "attaches to the running one (ray start), ray://HOST:PORT to a remote one; needs the [cluster] extra",
    )


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _add_data(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        required=required,
        help="builtin, builtin:shapes, builtin:planted, torchvision:<Name> (CIFAR10, MNIST, ...) or an ImageFolder path",
    )
    group.add_argument(
        "--size", type=image_size, default=None, help="image size in pixels, ≥ 8 (default: the model's, or 32)"
    )
    group.add_argument(
        "--channels", type=int, choices=(1, 3), default=None, help="1 = grayscale, 3 = RGB (default: the model's, or 1)"
    )
    group.add_argument(
        "--train-per-class",
        type=positive_int,
        default=None,
        help=f"built-in data: training images per class (default {TRAIN_PER_CLASS})",
    )
    group.add_argument(
        "--val-per-class",
        type=positive_int,
        default=None,
        help=f"built-in data: validation images per class (default {VAL_PER_CLASS})",
    )
    group.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="folders and torchvision data: use at most this many images (per class for folders)",
    )
    group.add_argument("--data-root", default=None, help="where torchvision datasets live (default: the user cache)")
    group.add_argument("--no-download", action="store_true", help="never download datasets")
    group.add_argument("--seed", type=non_negative_int, default=0)


def _add_model(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", required=required, help="a checkpoint file, or a model name in --run/--out's models folder"
    )
    group.add_argument("--arch", default=None, help="architecture of a plain state_dict (e.g. resnet18)")
    group.add_argument(
        "--class-names",
        default=None,
        metavar="FILE",
        help="the model's class names: one per line (# comments allowed) or a JSON list; kept with the model in "
        "the run (1000-class models without names get the ImageNet categories)",
    )
    _add_model_shapes(group)


def _add_model_shapes(group) -> None:
    """What a model file without our metadata cannot say itself; checked against the model."""
    group.add_argument(
        "--model-classes",
        type=class_count,
        default=None,
        help="classes of a TorchScript/export file without metadata (checked against what the model outputs)",
    )
    group.add_argument("--model-channels", type=int, choices=(1, 3), default=None, help="input channels of such a file")
    group.add_argument("--model-size", type=image_size, default=None, help="input size of such a file (≥ 8)")


# --- helpers ----------------------------------------------------------------------------------------


def _device(args):
    from ..devices import resolve_device

    return resolve_device(args.device)


def _cluster(args) -> str | None:
    """The checked ``--cluster`` (None: learn on this machine)."""
    if getattr(args, "cluster", None) is None:
        return None
    from ..runs.executors import check_cluster

    return check_cluster(args.cluster)


def _printer(args) -> ProgressPrinter:
    return ProgressPrinter(quiet=getattr(args, "quiet", False))


def _store(path: str, create: bool = True, overwrite: bool = False):
    from ..runs.store import ResultsStore

    return ResultsStore(path, overwrite=overwrite) if create else ResultsStore.open(path, overwrite=overwrite)


def _load_data(args, size: int | None = None, channels: int | None = None):
    from ..data.datasets import load_dataset

    return load_dataset(
        args.data,
        size=size or args.size or 32,
        channels=channels or args.channels or 1,
        seed=args.seed,
        train_per_class=_pick(args.train_per_class, TRAIN_PER_CLASS),
        val_per_class=_pick(args.val_per_class, VAL_PER_CLASS),
        data_root=args.data_root,
        download=not args.no_download,
        limit=args.limit,
    )


def _resolve_model(args, run_dir: str | None, device):
    """``--model`` as a file path, or as a name inside the run's ``models/`` folder, checked
    against every shape the user gave for it or its data."""
    from ..files import name_from_file
    from ..models.checkpoints import load_model
    from ..models.class_names import read_class_names

    candidate = Path(args.model)
    if not candidate.exists() and run_dir is not None:
        in_run = Path(run_dir) / "models" / f"{args.model}.pt"
        if in_run.exists():
            candidate = in_run
    args.model_file = candidate
    model = load_model(
        candidate,
        arch=args.arch,
        in_channels=args.model_channels or args.channels,
        num_classes=args.model_classes,
        image_size=args.model_size or args.size,
        device=device,
    )
    if getattr(args, "class_names", None):
        # After loading, as our own checkpoints and graphs with metadata carry names of their own.
        model.info = model.info.replace(class_names=read_class_names(args.class_names, model.info.num_classes))
    name = args.model if not Path(args.model).exists() else name_from_file(candidate)
    _check_model_shapes(args, model, candidate)
    _check_data_fits(args, model.info.image_size, model.info.in_channels, f"model {name}")
    return model, name


def _check_model_shapes(args, model, path: Path) -> None:
    """``--model-classes/-channels/-size`` must be what the model is. A TorchScript or exported
    graph is run once: neither its metadata nor the shapes typed for it bind what it outputs."""
    from ..models.checkpoints import output_width

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
    if info.source in ("torchscript", "torch-export"):
        width = output_width(model)
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


def _check_data_fits(args, size: int, channels: int, whose: str) -> None:
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


def _keep_model_in_run(store, model, name: str, source: Path) -> None:
    """Copy a model given as a file into the run, so the run can be analysed on its own later.
    A different model already saved under the same name is an error, not overwritten."""
    import hashlib

    from ..models.checkpoints import save_checkpoint

    target = store.model_path(name)
    if not target.exists():
        save_checkpoint(model, target)
        return
    if target.resolve() == source.resolve():
        from ..models.checkpoints import inspect_checkpoint

        if inspect_checkpoint(target).info != model.info:  # --class-names named the run's own model's classes
            save_checkpoint(model, target)
        return
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    if digest(target) != digest(source):
        from ..models.checkpoints import inspect_checkpoint

        if inspect_checkpoint(target).info != model.info:
            raise ConfigError(
                f"the run already holds a different model named {name!r}; rename {source.name} or "
                f"use --model {name} to mean the run's own"
            )


def _record_data(store, args, size: int, channels: int) -> None:
    manifest = store.read_json("run.json")
    if "data" not in manifest:
        store.update_manifest(
            data={
                "spec": args.data,
                "size": size,
                "channels": channels,
                "seed": args.seed,
                "train_per_class": _pick(args.train_per_class, TRAIN_PER_CLASS),
                "val_per_class": _pick(args.val_per_class, VAL_PER_CLASS),
            }
        )


def _print_tables(tables) -> None:
    for table in tables:
        print(table.to_text())
        print()


# --- options that would be ignored -------------------------------------------------------------------

# Options of ``masks`` that only per-image masks use, and what set and class masks use instead.
_PER_IMAGE_ONLY = {
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


def _refuse_what_does_not_apply(args) -> None:
    """Refuse, before anything starts, options the command would otherwise silently ignore."""
    if args.command == "masks":
        _refuse_mask_options(args)
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
        _refuse_data_options(args)
    _cluster(args)  # a cluster we cannot use is refused before any work starts


def _refuse_mask_options(args) -> None:
    if args.kind in ("set", "class"):
        for key, (option, instead) in _PER_IMAGE_ONLY.items():
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


def _refuse_data_options(args) -> None:
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


# --- commands ---------------------------------------------------------------------------------------


def cmd_demo(args) -> int:
    from ..study.config import StudyConfig

    config = StudyConfig.quick(seed=args.seed) if args.quick else StudyConfig.full(seed=args.seed)
    return _run_study(config, args, f"demo ({'quick' if args.quick else 'full'})")


def _study_config(args):
    """The study's settings: the preset, then whatever the user gave on the command line."""
    from ..study.config import MODEL_CODES, study_config

    return study_config(
        args.preset,
        epochs=args.epochs,
        dataset=args.data,
        seed=args.seed,
        image_size=args.size,
        channels=args.channels,
        arch=args.arch,
        images_per_class=args.per_class,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        augmentations=tuple(MODEL_CODES[code] for code in dict.fromkeys(args.models)) if args.models else None,
    )


def cmd_study(args) -> int:
    if not (args.data == "builtin" or args.data.startswith("builtin:")) and (
        args.train_per_class or args.val_per_class
    ):
        raise ConfigError(
            "--train-per-class and --val-per-class apply to the built-in data; folders use all their images"
        )
    return _run_study(_study_config(args), args, f"study of {args.data}")


def _run_study(config, args, label: str) -> int:
    from ..study.pipeline import run_study

    store = _store(args.out)
    print(f"Fourier Masks {label} -> {store.root}", file=sys.stderr)
    result = run_study(config, store, device=_device(args), on_progress=_printer(args), cluster=_cluster(args))
    for name in ("findings", "table1", "table2", "table3"):
        if name in result.tables:
            print(result.tables[name].to_text())
            print()
    print(
        f"Finished in {format_duration(result.seconds, compact=True)}. Tables: {store.root / 'tables'}  Figures: {store.root / 'figures'}"
    )
    return 0


def cmd_train(args) -> int:
    from ..models.checkpoints import save_checkpoint
    from ..training.train import AUGMENTATION_CODES, TrainConfig, history_table, train_model

    device = _device(args)
    size, channels = args.size or 32, args.channels or 1
    data = _load_data(args, size, channels)
    store = _store(args.out)
    _record_data(store, args, size, channels)
    for augmentation in args.augment:
        name = args.name if args.name and len(args.augment) == 1 else AUGMENTATION_CODES[augmentation]
        if store.has_model(name) and not args.force:
            raise ConfigError(f"{store.model_path(name)} exists; use another --name or --force to retrain")
        config = TrainConfig(
            arch=args.arch,
            augmentation=augmentation,
            epochs=args.epochs,
            batch_size=args.batch_size,
            max_lr=args.lr,
            crop_scale=tuple(args.crop_scale),
            seed=args.seed,
            jafr_lambda=args.jafr,
        )
        result = train_model(data.train, data.val, config=config, name=name, device=device, on_progress=_printer(args))
        if result.cancelled:
            return 130
        save_checkpoint(result.model, store.model_path(name))
        table = history_table(name, augmentation, result.history)
        store.save_table(table)
        metrics = result.model.info.metrics
        print(
            f"{name}: best epoch {metrics['best_epoch']}, validation accuracy {100 * metrics['val_accuracy']:.2f} % "
            f"-> {store.model_path(name)}"
        )
    return 0


def cmd_attack(args) -> int:
    import numpy as np

    from ..attacks.adversarial import AttackConfig, attack_images, attack_success, pixel_eps

    device = _device(args)
    model, name = _resolve_model(args, args.out, device)
    data = _load_data(args, model.info.image_size, model.info.in_channels).val
    eps = pixel_eps(args.eps_normalised, model.info.std[0]) if args.eps_normalised is not None else args.eps
    config = AttackConfig(eps=eps, steps=args.steps, alpha=args.alpha)
    adversarial = attack_images(
        model, data.images, data.labels, config=config, device=device, on_progress=_printer(args)
    )
    result = attack_success(model, data.images, adversarial, data.labels)
    print(f"PGD ε = {eps:.5f} (pixel units, [0, 1]), {config.steps} steps of {config.step_size:.5f}")
    print(
        f"clean accuracy {100 * result.clean_accuracy:.2f} %, adversarial accuracy {100 * result.adversarial_accuracy:.2f} %, "
        f"success rate {100 * result.success_rate:.2f} % of {result.attacked} correctly classified images"
    )
    if args.out:
        store = _store(args.out, overwrite=args.force)
        _keep_model_in_run(store, model, name, args.model_file)
        store.save_arrays(
            f"adversarial-{name}",
            images=adversarial.numpy(),
            ids=np.array(data.ids, dtype=str),
            labels=data.labels.numpy(),
            eps_pixel=np.float64(eps),
        )
        print(f"adversarial images -> {store.path(f'data/adversarial-{name}.npz')}")
    return 0


def _mask_images(args, model):
    """The images of ``masks image``: files/folders given with --images, or the dataset's val split."""
    from ..data.images import image_set_from_files

    if args.images:
        info = model.info
        images, problems = image_set_from_files(args.images, info.in_channels, info.image_size, info.labels())
        for problem in problems:
            print(f"skipped: {problem}", file=sys.stderr)
        return images
    data = _load_data(args, model.info.image_size, model.info.in_channels).val
    return data.balanced_subset(args.per_class, seed=args.seed) if args.per_class else data


def cmd_masks(args) -> int:
    from ..masks.config import SetMaskConfig
    from ..masks.set_masks import learn_class_masks, learn_set_mask
    from ..models.checkpoints import check_compatible
    from ..runs.groups import save_set_mask_result

    device, model, name, store = _model_and_run(args)
    printer = _printer(args)
    if args.kind in ("set", "class"):
        data = _load_data(args, model.info.image_size, model.info.in_channels)
        _record_data(store, args, model.info.image_size, model.info.in_channels)
        val = data.val
        check_compatible(model.info, val.channels, val.num_classes)
        config = SetMaskConfig(
            lam=_pick(args.lam, 0.2),
            lr=_pick(args.lr, 1e-3),
            max_epochs=_pick(args.max_epochs, 100),
            batch_size=args.batch_size or 128,
            per_channel=args.per_channel,
            seed=args.seed,
            component=args.component or "magnitude",
        )
        group = args.group or f"{args.kind}/{name}"
        if store.has_masks(group):
            raise ConfigError(f"the run already holds masks {group!r} (masks are never overwritten); choose --group")
        if args.kind == "set":
            result = learn_set_mask(model, val.images, val.labels, config=config, device=device, on_progress=printer)
            if result.cancelled:
                return 130
            save_set_mask_result(store, group, result, model_name=name, class_names=val.class_names)
            print(
                f"{group}: kept {100 * result.kept_fraction:.2f} % of frequencies; accuracy "
                f"{100 * result.accuracy:.2f} % -> {100 * result.masked_accuracy:.2f} % with the mask "
                f"({result.epochs} epochs, {'converged' if result.converged else 'epoch limit'})"
            )
        else:
            results = learn_class_masks(
                model, val.images, val.labels, config=config, device=device, on_progress=printer
            )
            if any(r.cancelled for r in results.values()):
                return 130
            store.save_class_masks(
                group,
                {k: r.mask for k, r in results.items()},
                {
                    "model": name,
                    "config": config.to_dict(),
                    "class_names": list(val.class_names),
                    "masked_accuracy": {k: r.masked_accuracy for k, r in results.items()},
                    "kept_fraction": {k: r.kept_fraction for k, r in results.items()},
                },
            )
            for k, r in results.items():
                print(
                    f"class {val.class_names[k]}: kept {100 * r.kept_fraction:.2f} %, masked accuracy {100 * r.masked_accuracy:.2f} %"
                )
        print(f"masks -> {store.path(f'masks/{group}')}")
        return 0
    return _cmd_image_masks(args, model, name, store, device, printer)


def _cmd_image_masks(args, model, name, store, device, printer) -> int:
    import numpy as np

    from ..attacks.adversarial import AttackConfig, attack_images
    from ..runs.executors import run_mask_units
    from ..runs.groups import plan_image_masks

    images = _mask_images(args, model)
    changes = {
        k: v
        for k, v in {
            "lam": args.lam,
            "lr": args.lr,
            "max_steps": args.max_steps,
            "schedule": args.schedule,
            "batch_size": args.batch_size,
            "per_channel": args.per_channel or None,
            "component": args.component,
        }.items()
        if v is not None
    }
    config = _image_mask_config(args, model, changes)
    inputs = "clean"
    extra: dict[str, Any] = {}
    if args.adversarial:
        attack = AttackConfig(eps=_pick(args.eps, DEFAULT_EPS), steps=10)
        adversarial = attack_images(
            model, images.images, images.labels, config=attack, device=device, on_progress=printer
        )
        store.save_arrays(
            f"adversarial-{name}",
            images=adversarial.numpy(),
            ids=np.array(images.ids, dtype=str),
            labels=images.labels.numpy(),
            eps_pixel=np.float64(attack.eps),
        )
        images = dataclasses.replace(images, images=adversarial)
        inputs, extra = "adversarial", {"attack": attack.to_dict()}
    group = args.group or f"image/{name}-{inputs}"
    units = plan_image_masks(
        store, group, images, model_name=name, config=config, inputs=inputs, dataset=images.name, **extra
    )
    if not units:
        print(f"{group}: all {len(images)} masks are already in the run")
        return 0
    print(
        f"{group}: learning {len(units)} masks ({len(images) - len(units)} already done) with {config.objective} objective",
        file=sys.stderr,
    )
    result = run_mask_units(store, units, model, device=device, on_progress=printer, cluster=_cluster(args))
    assert result is not None  # None only for no units, returned above
    if result.cancelled:
        print(f"cancelled: {len(result)} masks saved", file=sys.stderr)
        return 130
    print(
        f"{group}: {len(result)} masks, median kept fraction {100 * float(np.median(result.kept_fraction)):.2f} %, "
        f"median {int(np.median(result.steps))} steps, {100 * result.converged.mean():.0f} % converged, "
        f"prediction kept for {100 * result.prediction_kept.mean():.0f} % -> {store.path(f'masks/{group}')}"
    )
    return 0


def _image_mask_config(args, model, changes: dict):
    """The per-image preset that ``--objective`` and ``--rule`` name, with single overrides."""
    from ..masks.config import ImageMaskConfig

    if args.objective == "basile":
        return ImageMaskConfig.basile(model.info.image_size, **changes)
    return ImageMaskConfig.fast(**changes) if args.rule == "fast" else ImageMaskConfig(**changes)


def _model_and_run(args):
    """The device, ``--model`` (kept in the run) and the ``--out`` run of a command."""
    device = _device(args)
    model, name = _resolve_model(args, args.out, device)
    store = _store(args.out, overwrite=getattr(args, "force", False))
    _keep_model_in_run(store, model, name, args.model_file)
    return device, model, name, store


def _labelled_images(args, model):
    data = _load_data(args, model.info.image_size, model.info.in_channels).val
    return data.balanced_subset(args.per_class, seed=args.seed) if args.per_class else data


def cmd_adversarial_maps(args) -> int:
    from ..attacks.adversarial import AttackConfig
    from ..beyond.advmaps import AdversarialMapsConfig
    from ..beyond.analyses import run_adversarial_maps
    from ..masks.config import ImageMaskConfig

    device, model, name, store = _model_and_run(args)
    images = _labelled_images(args, model)
    masks = ImageMaskConfig.basile(model.info.image_size) if args.objective == "basile" else ImageMaskConfig()
    if args.max_steps:
        masks = masks.replace(max_steps=args.max_steps, min_steps=min(masks.min_steps, args.max_steps))
    config = AdversarialMapsConfig(
        attacks=tuple(args.attacks),
        attack=AttackConfig(eps=args.eps, steps=args.steps),
        masks=masks,
        permutations=args.permutations,
        seed=args.seed,
    )
    result = run_adversarial_maps(
        store, name, model, images, config=config, device=device, on_progress=_printer(args), cluster=_cluster(args)
    )
    if result.cancelled:
        return 130
    print(result.table().to_text())
    print(f"tables and figures -> {store.root}")
    return 0


def cmd_heat_map(args) -> int:
    from ..beyond.analyses import run_heat_map

    _, model, name, store = _model_and_run(args)
    images = _labelled_images(args, model)
    result = run_heat_map(
        store, name, model, images.images, images.labels, eps=args.eps, seed=args.seed, on_progress=_printer(args)
    )
    if result.cancelled:
        return 130
    from ..spectra.fourier import centred

    heat = result.errors
    shifted = centred(heat)
    peak = np.unravel_index(np.argmax(shifted), shifted.shape)
    h, w = heat.shape
    print(
        f"Fourier heat map of {name} over {len(images)} images, ε = {args.eps:g}: mean error {100 * heat.mean():.1f} %, "
        f"highest {100 * heat.max():.1f} % at k = ({h // 2 - peak[0]}, {peak[1] - w // 2})"
    )
    print(f"table and figure -> {store.root}")
    return 0


def cmd_robustness(args) -> int:
    from ..attacks.adversarial import AttackConfig
    from ..beyond.analyses import run_robustness

    device = _device(args)
    models, files = {}, {}
    for reference in args.models:
        args.model = reference
        model, name = _resolve_model(args, args.out, device)
        models[name], files[name] = model, args.model_file
    _common_image_shape({name: model.info for name, model in models.items()})
    store = _store(args.out, overwrite=args.force)
    for name, model in models.items():
        _keep_model_in_run(store, model, name, files[name])
    images = _labelled_images(args, next(iter(models.values())))
    result = run_robustness(
        store,
        models,
        images.images,
        images.labels,
        noise_std=args.noise_std,
        cutoff=args.cutoff,
        attack=AttackConfig(eps=args.eps, steps=args.steps),
        on_progress=_printer(args),
    )
    if result.cancelled:
        return 130
    print(result.table.to_text())
    return 0


def cmd_blue_shift(args) -> int:
    from ..beyond.analyses import run_blue_shift

    store = _store(args.out, overwrite=args.force)
    shift = run_blue_shift(store, cycles=args.cycles, amplitude=args.amplitude)
    for name in shift.spectra:
        print(f"{name:12s} energy above the fundamental: {100 * shift.harmonic_share(name, args.cycles):5.2f} %")
    print(f"table and figure -> {store.root}")
    return 0


def _common_image_shape(infos: dict[str, Any]) -> tuple[int, int]:
    """The image size and channel count of several models, which one data set must have."""
    shapes = {name: (info.image_size, info.in_channels) for name, info in infos.items()}
    if len(set(shapes.values())) > 1:
        listed = "; ".join(f"{name}: {size} px, {channels} channel(s)" for name, (size, channels) in shapes.items())
        raise ConfigError(f"the models take different images ({listed}), so no one data set fits them all")
    return next(iter(shapes.values()))


def _run_image_shape(args, store) -> tuple[int | None, int | None]:
    """The size and channels of the run's models: data given for a run is loaded as they take it."""
    from ..models.checkpoints import inspect_checkpoint

    infos = {name: inspect_checkpoint(store.model_path(name)).info for name in store.model_names()}
    known = {name: info for name, info in infos.items() if info is not None}
    if not known:
        return None, None
    size, channels = _common_image_shape(known)
    _check_data_fits(args, size, channels, "the run's models")
    return size, channels


def _pick(value, default):
    return default if value is None else value


def _report(args, make_figures: bool, which: Sequence[str] | None):
    from ..study.report import write_report

    store = _store(args.run, create=False, overwrite=args.force)
    val = None
    if getattr(args, "data", None):
        val = _load_data(args, *_run_image_shape(args, store)).val
    result = write_report(
        store,
        val=val,
        bands=args.bands,
        reference=args.reference,
        seed=args.seed,
        make_figures=make_figures,
        device=_device(args),
        on_progress=_printer(args),
    )
    tables = [t for name, t in result.tables.items() if which is None or any(name.startswith(w) for w in which)]
    _print_tables(tables)
    if result.figures:
        print(f"{len(result.figures)} figures -> {store.figures_dir}")
    print(f"tables -> {store.root / 'tables'}")
    return 0


def cmd_evaluate(args) -> int:
    return _report(args, False, ("table", "stability"))


def cmd_energy(args) -> int:
    return _report(args, False, ("energy", "exceedance"))


def cmd_clusters(args) -> int:
    return _report(args, False, ("table3", "umap"))


def cmd_report(args) -> int:
    return _report(args, True, None)


def cmd_info(args) -> int:
    import json

    from ..models.checkpoints import inspect_checkpoint
    from ..study.contents import discover

    path = Path(args.path)
    if path.is_dir():
        store = _store(str(path), create=False)
        contents = discover(store)
        manifest = store.read_json("run.json")
        print(f"run {store.root} ({manifest.get('status', 'in progress')})")
        print(f"  models: {', '.join(contents.models) or '-'}")
        for group in store.mask_groups():
            meta = store.mask_meta(group)
            extra = (
                f", {len(store.finished_ids(group))}/{len(meta.get('ids', []))} done" if meta["kind"] == "image" else ""
            )
            print(f"  masks {group}: {meta['kind']} masks of model {meta.get('model')}{extra}")
        print(f"  tables: {', '.join(store.table_names()) or '-'}")
        return 0
    summary = inspect_checkpoint(path)
    print(f"{path.name}: {summary.format}")
    if summary.info is not None:
        print(json.dumps(json.loads(summary.info.to_json()), indent=2))
    else:
        print("  no Fourier Masks metadata (give the architecture and shapes when loading)")
    return 0


def cmd_app(args) -> int:
    if args.open_app is None:
        raise FourierMasksError(
            "the desktop app is not part of the headless engine; start it with the fourier-masks "
            "command, or use a subcommand (fourier-masks --help)"
        )
    return args.open_app(getattr(args, "run", None), getattr(args, "demo", False))


# --- parser ------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fourier-masks",
        description="Learn Fourier masks that reveal which input frequencies a trained classifier needs. "
        "Without a command, opens the desktop app.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="show debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("app", help="open the desktop app (the default)")
    p.add_argument("run", nargs="?", help="a run folder to open")
    p.add_argument("--demo", action="store_true", help="start the quick demo study in the app at once")
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("demo", help="run the whole study on the built-in dataset")
    p.add_argument("--out", required=True, help="output folder (reused to resume an interrupted run)")
    p.add_argument("--quick", action="store_true", help="a reduced study that finishes in a few minutes on a CPU")
    p.add_argument("--seed", type=non_negative_int, default=0)
    _add_device(p)
    _add_cluster(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "study",
        help="the paper's whole study on your data: train the variants, learn every mask, write Tables 1-3, "
        "findings and figures (resumable)",
    )
    p.add_argument(
        "--data",
        required=True,
        help="an ImageFolder path (train/ and val/ or test/ inside), torchvision:<Name>, or builtin[:planted]",
    )
    p.add_argument("--out", required=True, help="run folder (reused to resume an interrupted study)")
    p.add_argument(
        "--preset",
        choices=("full", "quick", "paper"),  # core.pipeline.STUDY_PRESETS
        default="full",
        help="full: published optimisation settings, 32 px, small CNN, masks capped at 6 000 steps (default); "
        "quick: a few minutes on a CPU; paper: 128 px grayscale VGG11-bn, 50 epochs, every validation image",
    )
    p.add_argument("--arch", default=None, help="small_cnn, vgg11_bn, resnet18 or another torchvision classifier")
    p.add_argument("--size", type=image_size, default=None, help="image size in pixels (default: the preset's)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None, help="1 = grayscale, 3 = RGB")
    p.add_argument(
        "--models",
        nargs="+",
        choices=("N", "A", "S", "T", "R"),  # core.pipeline.MODEL_CODES
        default=None,
        help="which variants to train and compare (N is always needed; default: N A S T R)",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs (default: the preset's)")
    _add_cluster(p)
    p.add_argument(
        "--per-class",
        type=non_negative_int,
        default=None,
        help="validation images per class that get single-image masks (0 = all; default: the preset's)",
    )
    p.add_argument(
        "--train-per-class", type=positive_int, default=None, help="built-in data: training images per class"
    )
    p.add_argument(
        "--val-per-class", type=positive_int, default=None, help="built-in data: validation images per class"
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    _add_device(p)
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("train", help="train model variants (none, adversarial, scale, translation, rotation)")
    _add_data(p)
    p.add_argument("--out", required=True, help="run folder to save the models in")
    p.add_argument(
        "--arch", default="small_cnn", help="small_cnn, vgg11_bn, resnet18 or another torchvision classifier"
    )
    p.add_argument(
        "--augment", nargs="+", default=["none"], choices=("none", "adversarial", "scale", "translation", "rotation")
    )
    p.add_argument("--name", default=None, help="model name, with one --augment (default: N, A, S, T or R)")
    p.add_argument("--epochs", type=positive_int, default=50)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=positive, default=1e-3, help="maximum learning rate of the one-cycle schedule")
    p.add_argument(
        "--crop-scale",
        type=_float_in(0, 1, open_low=True),
        nargs=2,
        default=(0.08, 1.0),
        metavar=("LO", "HI"),
        help="random-crop area range, 0 < LO ≤ HI ≤ 1",
    )
    p.add_argument(
        "--jafr",
        type=finite,
        default=0.0,
        metavar="LAMBDA",
        help="Jacobian frequency regularisation λ_freq (> 0 favours low frequencies; published 0.001)",
    )
    p.add_argument("--force", action="store_true", help="replace a model of the same name")
    _add_device(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("attack", help="PGD attack: success rate, and adversarial images saved with --out")
    _add_model(p)
    _add_data(p)
    eps = p.add_mutually_exclusive_group()
    eps.add_argument("--eps", type=pixel_eps, default=DEFAULT_EPS, help="ε in [0, 1] pixel units (default 0.01356)")
    eps.add_argument(
        "--eps-normalised", type=non_negative, default=None, help="ε in normalised units (the paper's 0.06)"
    )
    p.add_argument("--steps", type=positive_int, default=10)
    p.add_argument("--alpha", type=non_negative, default=0.0, help="step size in pixel units (default 0 = ε/8)")
    p.add_argument("--out", default=None, help="run folder to save the adversarial images in")
    p.add_argument(
        "--force", action="store_true", help="replace adversarial images already saved under this model's name"
    )
    _add_device(p)
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("masks", help="learn Fourier masks for a whole set, per class, or per image")
    p.add_argument("kind", choices=("set", "class", "image"))
    _add_model(p)
    _add_data(p, required=False)
    p.add_argument("--images", nargs="+", default=None, help="image files or folders (per-image masks)")
    p.add_argument(
        "--per-class",
        type=non_negative_int,
        default=None,
        help="per-image masks for this many validation images of --data per class (0 = all)",
    )
    p.add_argument("--out", required=True, help="run folder to save the masks in")
    p.add_argument("--group", default=None, help="name of the mask group (default set/M, class/M, image/M-clean)")
    _add_cluster(p)
    p.add_argument(
        "--objective", choices=("invariance", "basile"), default=None, help="per-image objective (default invariance)"
    )
    p.add_argument(
        "--lam", type=non_negative, default=None, help="sparsity weight λ (default: 0.2 set/class, 0.07 image)"
    )
    p.add_argument("--lr", type=positive, default=None, help="learning rate (default: published)")
    p.add_argument(
        "--schedule",
        choices=("published", "nominal", "constant"),
        default=None,
        help="per-image learning-rate schedule (default: the objective's)",
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        default=None,
        help="per-image step limit (default 20 000; 3 000 with --rule fast, 5 000 with --objective basile)",
    )
    p.add_argument(
        "--rule",
        choices=("published", "fast"),
        default=None,
        help="per-image stop rule: 'published' (the default, up to 20 000 steps) or 'fast': the published rule, "
        "but masks still learning at step 2 000 anneal (cosine) to a stop by step 3 000; what it changes in "
        "the masks is measured in the README (Performance)",
    )
    p.add_argument("--max-epochs", type=positive_int, default=None, help="set/class epoch limit (default 100)")
    p.add_argument(
        "--batch-size",
        type=non_negative_int,
        default=None,
        help="images per batch (default and 0: automatic for per-image masks, 128 for set/class)",
    )
    p.add_argument("--per-channel", action="store_true", help="one mask per colour channel")
    p.add_argument(
        "--component",
        choices=("magnitude", "phase"),
        default=None,
        help="what the mask modulates: the magnitude (the published mask) or the phase",
    )
    p.add_argument("--adversarial", action="store_true", help="per-image masks of PGD adversarial images")
    p.add_argument(
        "--eps", type=pixel_eps, default=None, help="PGD ε for --adversarial, in [0, 1] pixel units (default 0.01356)"
    )
    _add_device(p)
    p.set_defaults(func=cmd_masks)

    for name, func, text in (
        ("evaluate", cmd_evaluate, "Tables 1–3 (and seed stability) from a run"),
        ("energy", cmd_energy, "per-band energies, differences and per-image comparisons"),
        ("clusters", cmd_clusters, "linear probe and UMAP of single-image masks"),
        ("report", cmd_report, "all tables and figures of a run"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--run", required=True, help="run folder")
        _add_data(p, required=False)
        p.add_argument("--bands", type=positive_int, default=32, help="radial and angular bands")
        p.add_argument("--reference", default="N", help="model the others are compared with")
        _add_force_and_device(p)
        p.set_defaults(func=func)

    p = sub.add_parser("adversarial-maps", help="essential vs adversarial frequency maps: cosine similarity and IdCor")
    _add_model(p)
    _add_labelled_images(p, per_class=10)
    p.add_argument("--attacks", nargs="+", default=["pgd", "fgsm"], choices=("pgd", "fgsm", "deepfool"))
    p.add_argument("--eps", type=pixel_eps, default=DEFAULT_EPS, help="attack ε in [0, 1] pixel units")
    p.add_argument("--steps", type=positive_int, default=10, help="PGD / DeepFool iterations")
    p.add_argument("--objective", choices=("basile", "invariance"), default="basile")
    p.add_argument("--max-steps", type=positive_int, default=None, help="mask step limit")
    p.add_argument(
        "--permutations", type=non_negative_int, default=100, help="IdCor permutations for the p-value (0 = none)"
    )
    _add_cluster(p)
    _add_force_and_device(p)
    p.set_defaults(func=cmd_adversarial_maps)

    p = sub.add_parser("heat-map", help="Fourier heat map: error rate under each Fourier basis perturbation")
    _add_model(p)
    _add_labelled_images(p, per_class=20)
    p.add_argument(
        "--eps", type=non_negative, default=4.0, help="L2 norm of the perturbation, pixel units (4 for 32×32)"
    )
    _add_force_and_device(p)
    p.set_defaults(func=cmd_heat_map)

    p = sub.add_parser("robustness", help="accuracy under low- and high-pass noise and PGD (the JaFR evaluation)")
    p.add_argument("--models", nargs="+", required=True, help="checkpoint files or model names in --out")
    p.add_argument("--arch", default=None, help="architecture of plain state_dicts (e.g. resnet18)")
    _add_model_shapes(p)
    _add_labelled_images(p, per_class=0)
    p.add_argument("--noise-std", type=non_negative, default=0.1, help="per-pixel std of the band-limited noise")
    p.add_argument(
        "--cutoff",
        type=_float_in(0, 1, open_low=True, open_high=True),
        default=0.5,
        help="low/high-pass boundary as a fraction of Nyquist, in (0, 1)",
    )
    p.add_argument("--eps", type=pixel_eps, default=DEFAULT_EPS, help="PGD ε in [0, 1] pixel units")
    p.add_argument("--steps", type=positive_int, default=10)
    _add_force_and_device(p)
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("blue-shift", help="the blue-shift illustration: a sinusoid through non-linearities")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--cycles",
        type=blue_shift_cycles,
        default=4,
        help=f"periods of the sinusoid in the window, 1 to {BLUE_SHIFT_MAX_CYCLES}",
    )
    p.add_argument("--amplitude", type=positive, default=3.0)
    p.add_argument("--force", action="store_true", help="replace a table or figure whose content would change")
    p.set_defaults(func=cmd_blue_shift)

    p = sub.add_parser("info", help="describe a checkpoint file or a run folder")
    p.add_argument("path")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None, *, open_app: Callable[[str | None, bool], int] | None = None) -> int:
    """Run the command line; ``open_app`` opens the desktop app (the engine cannot import it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage mistake already reported on one error: line
        return exc.code if isinstance(exc.code, int) else 2
    args.open_app = open_app
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    log_path = setup_file_logging()
    print_notices()
    tune_cpu_allocator()
    if args.command is None:
        args.func = cmd_app
    try:
        _refuse_what_does_not_apply(args)
        return args.func(args)
    except FourierMasksError as exc:
        log.warning("%s: %s", args.command or "app", exc)
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncancelled; everything already finished is saved", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in the log
        log.exception("unexpected error in %s", args.command)
        if args.verbose:
            raise
        where = f"; the details are in {log_path}" if log_path else ""
        print(f"error: unexpected failure ({type(exc).__name__}: {exc}){where}. Please report it.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
