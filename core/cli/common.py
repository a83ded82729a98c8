"""What the commands share: the device, the progress line, the run folder, the data and the
model the options name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ..data.datasets import DataRequest
from ..data.images import ImageSet
from ..devices import resolve_device
from ..errors import ConfigError
from ..files import name_from_file, store_name
from ..models import is_model_name, open_model
from ..models.checkpoints import inspect_checkpoint
from ..models.class_names import read_class_names
from ..models.classifier import Classifier, common_input
from ..preparation import Preparation
from ..progress import ProgressCallback
from ..runs.classes import evaluation_request, fit_classes, say_clean_accuracy
from ..runs.store import ResultsStore, model_file
from ..runs.tracking import fan_out, open_tracker
from ..runs.workflows import keep_model
from .checks import check_data_fits, check_model_shapes
from .options import normalization
from .printer import ProgressPrinter


def device(args) -> torch.device:
    return resolve_device(args.device)


def printer(args) -> ProgressCallback:
    """The command's progress callback: the progress line, and the trackers ``--log`` names
    (opened at the first call, shared by every later one, closed by :func:`tracking`)."""
    line = ProgressPrinter(quiet=getattr(args, "quiet", False))
    targets = getattr(args, "log", None)
    if not targets:
        return line
    if getattr(args, "trackers", None) is None:
        args.trackers = []
        for target in targets:
            args.trackers.append(open_tracker(target, command_options(args)))
    return fan_out([line, *args.trackers])


def command_options(args) -> dict[str, object]:
    """The options a command was given, as a tracker records them (its hyper-parameters)."""
    skip = {"module", "open_app", "trackers", "log", "model_file", "verbose"}
    return {key: value for key, value in vars(args).items() if key not in skip and not callable(value)}


@contextmanager
def tracking(args) -> Iterator[None]:
    """Close the command's trackers when it ends, saying how: finished, cancelled or failed."""
    outcome = "failed"
    try:
        yield
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "cancelled"
        raise
    finally:
        trackers, args.trackers = getattr(args, "trackers", None) or [], None
        for tracker in trackers:
            tracker.close(outcome)


def open_store(path: str, *, create: bool = True, overwrite: bool = False, write: bool | None = None) -> ResultsStore:
    """The run folder ``path``: made when missing (``create``), else it must be a run.

    A command that writes into it (``write``; by default the commands that may create it)
    holds the run's write lock from here to its end, so a second job writing into the same
    run is refused before it starts any work (:class:`~fourier_masks.core.errors.RunInUseError`
    naming the first). ``info`` opens for reading (``create=False``) and never locks."""
    return ResultsStore(path, create=create, overwrite=overwrite, lock=create if write is None else write)


def data_request(args, per_class: int = 0) -> DataRequest:
    """The data the ``--data`` options name (``per_class``: validation images per class, 0 = all)."""
    counts = {"train_per_class": args.train_per_class, "val_per_class": args.val_per_class}
    return DataRequest(
        spec=args.data,
        seed=args.seed,
        limit=args.limit,
        data_root=args.data_root,
        download=not args.no_download,
        per_class=per_class,
        **{key: value for key, value in counts.items() if value is not None},
    )


def resolve_model(args, run_dir: str | None, on: torch.device) -> tuple[Classifier, str]:
    """``--model`` as a file path, a model by name (``timm:…``, :func:`~fourier_masks.core.models.open_model`),
    a timm or transformers folder, or a name inside the run's ``models/`` folder, checked
    against every shape the user gave for it or its data; with the name it has in the run."""
    candidate = Path(args.model)
    if not candidate.exists() and run_dir is not None:
        in_run = model_file(Path(run_dir), args.model)
        if in_run.exists():
            candidate = in_run
    named = is_model_name(args.model) or candidate.is_dir()
    if named and args.arch:
        raise ConfigError(f"--arch applies to weights files; {args.model} says its own architecture, leave --arch out")
    args.model_file = None if named else candidate
    given = normalization(args.normalization, args.model_channels or args.channels)
    model = open_model(
        args.model if named else candidate,
        arch=args.arch,
        in_channels=args.model_channels or args.channels,
        num_classes=args.model_classes,
        image_size=args.model_size or args.size,
        mean=given[0] if given else None,
        std=given[1] if given else None,
        device=on,
    )
    if getattr(args, "class_names", None):
        # After loading, as our own checkpoints and graphs with metadata carry names of their own.
        model.info = model.info.replace(class_names=read_class_names(args.class_names, model.info.num_classes))
    if named:
        name = store_name(model.info.name)
    else:
        name = args.model if not Path(args.model).exists() else name_from_file(candidate)
    check_model_shapes(args, model, candidate)
    check_data_fits(args, model.info.image_size, model.info.in_channels, f"model {name}")
    return model, name


def labelled_images(args, model: Classifier, name: str, per_class: int = 0) -> ImageSet:
    """The validation images of ``--data`` (``per_class`` of each class; 0 = all), prepared as
    the model takes them and labelled as its outputs (a few of a large model's classes are
    mapped onto them: :func:`~fourier_masks.core.runs.classes.fit_classes`), after one line
    with the model's clean accuracy on them."""
    info = model.info
    request = evaluation_request(data_request(args, per_class), {name: info})
    images = fit_classes(request.validation(info.preparation, info.in_channels), {name: info})
    say_clean_accuracy(model, name, images)
    return images


def named_models(args, on: torch.device) -> tuple[dict[str, Classifier], dict[str, Path | None]]:
    """The models of a repeated ``--model [NAME=]SPEC`` (``args.models``), each resolved as
    ``--model`` is and named NAME (default: the name the spec gives it), with the files they
    came from; two models of one name are an error."""
    models: dict[str, Classifier] = {}
    files: dict[str, Path | None] = {}
    for spec in args.models:
        given_name, args.model = _named(spec)
        model, name = resolve_model(args, args.out, on)
        name = given_name or name
        if name in models:
            raise ConfigError(f"--model {spec}: a second model named {name}; name each one as NAME=SPEC")
        models[name], files[name] = model, args.model_file
    return models, files


def named_models_and_run(args) -> tuple[torch.device, dict[str, Classifier], ResultsStore]:
    """The device, the ``--model [NAME=]SPEC`` models (one input shape for all, each kept in
    the run) and the ``--out`` run of a command that compares models."""
    on = device(args)
    models, files = named_models(args, on)
    common_input({name: model.info for name, model in models.items()})
    store = open_store(args.out, overwrite=getattr(args, "force", False))
    for name, model in models.items():
        keep_model(store, name, model, files[name])
    return on, models, store


def _named(spec: str) -> tuple[str | None, str]:
    """``NAME=SPEC`` → (NAME, SPEC); a plain SPEC, or one whose ``=`` lies in a path or a
    ``source:`` name, → (None, SPEC)."""
    name, sep, rest = spec.partition("=")
    if sep and name and rest and "/" not in name and ":" not in name:
        return name, rest
    return None, spec


def model_and_run(args) -> tuple[torch.device, Classifier, str, ResultsStore]:
    """The device, ``--model`` (kept in the run) and the ``--out`` run of a command."""
    on = device(args)
    model, name = resolve_model(args, args.out, on)
    store = open_store(args.out, overwrite=getattr(args, "force", False))
    keep_model(store, name, model, args.model_file)
    return on, model, name, store


def run_image_shape(args, store: ResultsStore) -> tuple[Preparation | None, int | None]:
    """How the run's models take images, and their channels: data given for a run is loaded so."""
    infos = {name: inspect_checkpoint(store.model_path(name)).info for name in store.model_names()}
    known = {name: info for name, info in infos.items() if info is not None}
    if not known:
        return None, None
    preparation, channels = common_input(known)
    check_data_fits(args, preparation.size, channels, "the run's models")
    return preparation, channels


def print_tables(tables) -> None:
    for table in tables:
        print(table.to_text())
        print()
