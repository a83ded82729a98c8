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
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .devices import tune_cpu_allocator
from .errors import ConfigError, FourierMasksError
from .logs import print_notices, setup_file_logging
from .progress import Progress, format_duration

__all__ = ["main", "ProgressPrinter"]

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


# --- shared argument groups ---------------------------------------------------------------------


def _add_labelled_images(p, per_class: int) -> None:
    """``--data``, ``--out`` and ``--per-class``: the analyses that run on labelled validation images."""
    _add_data(p)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--per-class", type=int, default=per_class, help="validation images per class (0 = all)")


def _add_force_and_device(p) -> None:
    """``--force`` and ``--device`` for commands that write tables and figures into a run."""
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    _add_device(p)


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
    group.add_argument("--size", type=int, default=None, help="image size in pixels (default: the model's, or 32)")
    group.add_argument(
        "--channels", type=int, choices=(1, 3), default=None, help="1 = grayscale, 3 = RGB (default: the model's, or 1)"
    )
    group.add_argument("--train-per-class", type=int, default=1000, help="built-in data: training images per class")
    group.add_argument("--val-per-class", type=int, default=200, help="built-in data: validation images per class")
    group.add_argument("--limit", type=int, default=None, help="use at most this many images (per class for folders)")
    group.add_argument("--data-root", default=None, help="where torchvision datasets live (default: the user cache)")
    group.add_argument("--no-download", action="store_true", help="never download datasets")
    group.add_argument("--seed", type=int, default=0)


def _add_model(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", required=required, help="a checkpoint file, or a model name in --run/--out's models folder"
    )
    group.add_argument("--arch", default=None, help="architecture of a plain state_dict (e.g. resnet18)")
    group.add_argument(
        "--model-classes", type=int, default=None, help="classes of a TorchScript/export file without metadata"
    )
    group.add_argument("--model-channels", type=int, default=None, help="input channels of such a file")
    group.add_argument("--model-size", type=int, default=None, help="input size of such a file")


# --- helpers ----------------------------------------------------------------------------------------


def _device(args):
    from .devices import resolve_device

    return resolve_device(args.device)


def _printer(args) -> ProgressPrinter:
    return ProgressPrinter(quiet=getattr(args, "quiet", False))


def _store(path: str, create: bool = True, overwrite: bool = False):
    from .store import ResultsStore

    return ResultsStore(path, overwrite=overwrite) if create else ResultsStore.open(path, overwrite=overwrite)


def _load_data(args, size: int | None = None, channels: int | None = None):
    from .data import load_dataset

    return load_dataset(
        args.data,
        size=size or args.size or 32,
        channels=channels or args.channels or 1,
        seed=args.seed,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        data_root=args.data_root,
        download=not args.no_download,
        limit=args.limit,
    )


def _resolve_model(args, run_dir: str | None, device):
    """``--model`` as a file path, or as a name inside the run's ``models/`` folder."""
    from .checkpoints import load_model
    from .store import name_from_file

    candidate = Path(args.model)
    if not candidate.exists() and run_dir is not None:
        in_run = Path(run_dir) / "models" / f"{args.model}.pt"
        if in_run.exists():
            candidate = in_run
    args.model_file = candidate
    model = load_model(
        candidate,
        arch=args.arch,
        in_channels=args.model_channels,
        num_classes=args.model_classes,
        image_size=args.model_size,
        device=device,
    )
    name = args.model if not Path(args.model).exists() else name_from_file(candidate)
    return model, name


def _keep_model_in_run(store, model, name: str, source: Path) -> None:
    """Copy a model given as a file into the run, so the run can be analysed on its own later.
    A different model already saved under the same name is an error, not overwritten."""
    import hashlib

    from .checkpoints import save_checkpoint

    target = store.model_path(name)
    if not target.exists():
        save_checkpoint(model, target)
        return
    if target.resolve() == source.resolve():
        return
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    if digest(target) != digest(source):
        from .checkpoints import inspect_checkpoint

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
                "train_per_class": args.train_per_class,
                "val_per_class": args.val_per_class,
            }
        )


def _print_tables(tables) -> None:
    for table in tables:
        print(table.to_text())
        print()


# --- commands ---------------------------------------------------------------------------------------


def cmd_demo(args) -> int:
    from .pipeline import StudyConfig, run_study

    config = StudyConfig.quick(seed=args.seed) if args.quick else StudyConfig.full(seed=args.seed)
    store = _store(args.out)
    print(f"Fourier Masks demo ({'quick' if args.quick else 'full'}) -> {store.root}", file=sys.stderr)
    result = run_study(config, store, device=_device(args), on_progress=_printer(args))
    for name in ("table1", "table2", "table3"):
        if name in result.tables:
            print(result.tables[name].to_text())
            print()
    print(
        f"Finished in {format_duration(result.seconds, compact=True)}. Tables: {store.root / 'tables'}  Figures: {store.root / 'figures'}"
    )
    return 0


def cmd_train(args) -> int:
    from .checkpoints import save_checkpoint
    from .training import AUGMENTATION_CODES, TrainConfig, history_table, train_model

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

    from .attacks import AttackConfig, attack_images, attack_success, pixel_eps

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
    import torch

    from .data import IMAGE_EXTENSIONS, ImageSet, load_images

    if args.images:
        paths: list[Path] = []
        for item in args.images:
            path = Path(item)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
                if not found:
                    raise ConfigError(f"{path} contains no image files")
                paths.extend(found)
            else:
                paths.append(path)
        images, loaded, problems = load_images(paths, model.info.in_channels, model.info.image_size, skip_bad=True)
        for problem in problems:
            print(f"skipped: {problem}", file=sys.stderr)
        names_unique = len({Path(p).name for p in loaded}) == len(loaded)
        ids = [Path(p).name if names_unique else str(p) for p in loaded]
        return ImageSet(
            images=images,
            labels=torch.full((len(ids),), -1),
            class_names=model.info.labels(),
            ids=tuple(ids),
            name="files",
        )
    if not args.data:
        raise ConfigError("give --images FILE... or --data SPEC")
    data = _load_data(args, model.info.image_size, model.info.in_channels).val
    return data.balanced_subset(args.per_class, seed=args.seed) if args.per_class else data


def cmd_masks(args) -> int:
    from .checkpoints import check_compatible
    from .masks import SetMaskConfig, learn_class_masks, learn_set_mask

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
            max_epochs=args.max_epochs,
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
            store.save_set_mask(
                group,
                result.mask,
                {
                    "model": name,
                    "role": "dataset",
                    "config": config.to_dict(),
                    "images": result.num_images,
                    "accuracy": result.accuracy,
                    "masked_accuracy": result.masked_accuracy,
                    "kept_fraction": result.kept_fraction,
                    "epochs": result.epochs,
                    "converged": result.converged,
                    "accuracy_met": result.accuracy_met,
                    "history": result.history,
                    "class_names": list(val.class_names),
                },
            )
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
    import dataclasses

    import numpy as np

    from .attacks import AttackConfig, attack_images
    from .units import plan_image_masks, run_mask_units

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
        if (images.labels < 0).any():
            raise ConfigError("--adversarial needs labelled images (use --data)")
        attack = AttackConfig(eps=args.eps, steps=10)
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
    result = run_mask_units(store, units, model, config=config, device=device, on_progress=printer)
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
    from .masks import ImageMaskConfig

    if args.objective == "basile":
        if args.rule == "fast":
            raise ConfigError(
                "--rule fast is measured for the invariance objective only; leave it out with --objective basile"
            )
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
    from .advmaps import AdversarialMapsConfig
    from .analyses import run_adversarial_maps
    from .attacks import AttackConfig
    from .masks import ImageMaskConfig

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
    result = run_adversarial_maps(store, name, model, images, config=config, device=device, on_progress=_printer(args))
    if result.cancelled:
        return 130
    print(result.table().to_text())
    print(f"tables and figures -> {store.root}")
    return 0


def cmd_heat_map(args) -> int:
    from .analyses import run_heat_map

    _, model, name, store = _model_and_run(args)
    images = _labelled_images(args, model)
    heat = run_heat_map(
        store, name, model, images.images, images.labels, eps=args.eps, seed=args.seed, on_progress=_printer(args)
    )
    if np.isnan(heat).any():
        return 130
    from .fourier import centred

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
    from .analyses import run_robustness
    from .attacks import AttackConfig

    device = _device(args)
    store = _store(args.out, overwrite=args.force)
    models = {}
    for reference in args.models:
        args.model = reference
        model, name = _resolve_model(args, args.out, device)
        _keep_model_in_run(store, model, name, args.model_file)
        models[name] = model
    first = next(iter(models.values()))
    images = _labelled_images(args, first)
    table = run_robustness(
        store,
        models,
        images.images,
        images.labels,
        noise_std=args.noise_std,
        cutoff=args.cutoff,
        attack=AttackConfig(eps=args.eps, steps=args.steps),
        on_progress=_printer(args),
    )
    print(table.to_text())
    return 0


def cmd_blue_shift(args) -> int:
    from .analyses import run_blue_shift

    store = _store(args.out, overwrite=args.force)
    shift = run_blue_shift(store, cycles=args.cycles, amplitude=args.amplitude)
    for name in shift.spectra:
        print(f"{name:12s} energy above the fundamental: {100 * shift.harmonic_share(name, args.cycles):5.2f} %")
    print(f"table and figure -> {store.root}")
    return 0


def _pick(value, default):
    return default if value is None else value


def _report(args, make_figures: bool, which: Sequence[str] | None):
    from .report import write_report

    store = _store(args.run, create=False, overwrite=args.force)
    val = None
    if getattr(args, "data", None):
        val = _load_data(args).val
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

    from .checkpoints import inspect_checkpoint
    from .report import discover

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
    parser = argparse.ArgumentParser(
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
    p.add_argument("--seed", type=int, default=0)
    _add_device(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train model variants (none, adversarial, scale, translation, rotation)")
    _add_data(p)
    p.add_argument("--out", required=True, help="run folder to save the models in")
    p.add_argument(
        "--arch", default="small_cnn", help="small_cnn, vgg11_bn, resnet18 or another torchvision classifier"
    )
    p.add_argument(
        "--augment", nargs="+", default=["none"], choices=("none", "adversarial", "scale", "translation", "rotation")
    )
    p.add_argument("--name", default=None, help="model name (default: N, A, S, T or R)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="maximum learning rate of the one-cycle schedule")
    p.add_argument("--crop-scale", type=float, nargs=2, default=(0.08, 1.0), metavar=("LO", "HI"))
    p.add_argument(
        "--jafr",
        type=float,
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
    eps.add_argument("--eps", type=float, default=0.06 * 0.226, help="ε in [0, 1] pixel units (default 0.01356)")
    eps.add_argument("--eps-normalised", type=float, default=None, help="ε in normalised units (the paper's 0.06)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--alpha", type=float, default=0.0, help="step size in pixel units (default ε/8)")
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
        "--per-class", type=int, default=None, help="per-image masks for this many validation images per class"
    )
    p.add_argument("--out", required=True, help="run folder to save the masks in")
    p.add_argument("--group", default=None, help="name of the mask group (default set/M, class/M, image/M-clean)")
    p.add_argument("--objective", choices=("invariance", "basile"), default="invariance")
    p.add_argument("--lam", type=float, default=None, help="sparsity weight λ (default: 0.2 set/class, 0.07 image)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: published)")
    p.add_argument("--schedule", choices=("published", "nominal", "constant"), default=None)
    p.add_argument("--max-steps", type=int, default=None, help="per-image step limit (default 20000)")
    p.add_argument(
        "--rule",
        choices=("published", "fast"),
        default="published",
        help="per-image schedule and stop rule: the published one (up to 20 000 steps) or 'fast', "
        "one annealed cycle of 2 000 steps (same outcome, ~15x fewer steps: see README, Performance)",
    )
    p.add_argument("--max-epochs", type=int, default=100, help="set/class epoch limit")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--per-channel", action="store_true", help="one mask per colour channel")
    p.add_argument(
        "--component",
        choices=("magnitude", "phase"),
        default=None,
        help="what the mask modulates: the magnitude (the published mask) or the phase",
    )
    p.add_argument("--adversarial", action="store_true", help="per-image masks of PGD adversarial images")
    p.add_argument("--eps", type=float, default=0.06 * 0.226, help="PGD ε for --adversarial, pixel units")
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
        p.add_argument("--bands", type=int, default=32, help="radial and angular bands")
        p.add_argument("--reference", default="N", help="model the others are compared with")
        _add_force_and_device(p)
        p.set_defaults(func=func)

    p = sub.add_parser("adversarial-maps", help="essential vs adversarial frequency maps: cosine similarity and IdCor")
    _add_model(p)
    _add_labelled_images(p, per_class=10)
    p.add_argument("--attacks", nargs="+", default=["pgd", "fgsm"], choices=("pgd", "fgsm", "deepfool"))
    p.add_argument("--eps", type=float, default=0.06 * 0.226, help="attack ε in pixel units")
    p.add_argument("--steps", type=int, default=10, help="PGD / DeepFool iterations")
    p.add_argument("--objective", choices=("basile", "invariance"), default="basile")
    p.add_argument("--max-steps", type=int, default=None, help="mask step limit")
    p.add_argument("--permutations", type=int, default=100, help="IdCor permutations for the p-value")
    _add_force_and_device(p)
    p.set_defaults(func=cmd_adversarial_maps)

    p = sub.add_parser("heat-map", help="Fourier heat map: error rate under each Fourier basis perturbation")
    _add_model(p)
    _add_labelled_images(p, per_class=20)
    p.add_argument("--eps", type=float, default=4.0, help="L2 norm of the perturbation, pixel units (4 for 32×32)")
    _add_force_and_device(p)
    p.set_defaults(func=cmd_heat_map)

    p = sub.add_parser("robustness", help="accuracy under low- and high-pass noise and PGD (the JaFR evaluation)")
    p.add_argument("--models", nargs="+", required=True, help="checkpoint files or model names in --out")
    p.add_argument("--arch", default=None)
    p.add_argument("--model-classes", type=int, default=None)
    p.add_argument("--model-channels", type=int, default=None)
    p.add_argument("--model-size", type=int, default=None)
    _add_labelled_images(p, per_class=0)
    p.add_argument("--noise-std", type=float, default=0.1, help="per-pixel std of the band-limited noise")
    p.add_argument("--cutoff", type=float, default=0.5, help="low/high-pass boundary as a fraction of Nyquist")
    p.add_argument("--eps", type=float, default=0.06 * 0.226, help="PGD ε in pixel units")
    p.add_argument("--steps", type=int, default=10)
    _add_force_and_device(p)
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("blue-shift", help="the blue-shift illustration: a sinusoid through non-linearities")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--cycles", type=int, default=4, help="periods of the sinusoid in the window")
    p.add_argument("--amplitude", type=float, default=3.0)
    p.add_argument("--force", action="store_true", help="replace a table or figure whose content would change")
    p.set_defaults(func=cmd_blue_shift)

    p = sub.add_parser("info", help="describe a checkpoint file or a run folder")
    p.add_argument("path")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None, *, open_app: Callable[[str | None, bool], int] | None = None) -> int:
    """Run the command line; ``open_app`` opens the desktop app (the engine cannot import it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.open_app = open_app
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    log_path = setup_file_logging()
    print_notices()
    tune_cpu_allocator()
    if args.command is None:
        args.func = cmd_app
    try:
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
