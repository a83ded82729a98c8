"""The workflows the command line, the study and the app all run: each turns an engine call
into what a run keeps, through the one writer of each stored thing, so every front end makes
the same files the same way (and a workflow's drift cannot hide in one of them).

Each takes the run's store, what to work on and a config, and keyword-only ``device``,
``on_progress`` and ``cancel``; a cancelled workflow keeps what it finished and returns a
result marked cancelled (or None where it says so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..attacks.adversarial import AttackConfig, attack_images
from ..data.datasets import DataRequest
from ..data.images import ImageSet, expand_image_paths, image_set_from_files
from ..errors import BadDatasetError, ConfigError, FourierMasksError, MissingModelDetailsError
from ..files import name_from_file, store_name
from ..masks.config import ImageMaskConfig, SetMaskConfig
from ..masks.results import ImageMaskResult, SetMaskResult
from ..masks.set_masks import learn_class_masks, learn_set_mask
from ..models import folder_library, is_model_name, open_model
from ..models.checkpoints import inspect_checkpoint, save_checkpoint
from ..models.classifier import Classifier, model_device
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..training.train import AUGMENTATION_CODES, TrainConfig, TrainResult, history_table, train_model
from .executors import run_mask_units
from .groups import plan_image_masks, save_class_mask_results, save_set_mask_result
from .manifest import DataRecord
from .store import ResultsStore

# The file names taken for model files when paths arrive unsorted (a drop on the app).
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".pt2", ".ts", ".ckpt", ".tar", ".bin", ".onnx")


def sort_dropped_paths(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """Sort paths given together into (models, images, run folders): model files and timm or
    transformers model folders are models; folders of images expand; anything not a model or a
    run is tried as an image (bad files are reported when loaded)."""
    checkpoints, images, runs = [], [], []
    given = {Path(raw) for raw in paths}
    for raw in paths:
        path = Path(raw)
        if path.suffix.lower() == ".json" and path.with_suffix(".safetensors") in given:
            continue  # the description of a weights file dropped with it (safetensors_sidecar)
        if path.is_dir():
            if (path / "run.json").is_file():
                runs.append(path)
            elif folder_library(path):
                checkpoints.append(path)
            else:
                try:
                    images.extend(expand_image_paths([path]))
                except BadDatasetError:
                    continue  # a folder without images: nothing to use in it
        elif path.suffix.lower() in CHECKPOINT_SUFFIXES:
            checkpoints.append(path)
        else:
            images.append(path)
    return checkpoints, images, runs


# --- models ---------------------------------------------------------------------------------


def keep_model(store: ResultsStore, name: str, model: Classifier, source: Path | None = None) -> None:
    """Copy a model into the run as ``models/<name>.safetensors``, so the run can be analysed on its
    own later. A different model already saved under the name is an error, never overwritten;
    the run's own file given back (``source``) is rewritten only when its metadata changed
    (class names given for it)."""
    target = store.model_path(name)
    if not target.exists():
        store.check_writable()
        save_checkpoint(model, target)
        return
    if source is not None and target.resolve() == source.resolve():
        if inspect_checkpoint(target).info != model.info:
            store.check_writable()
            save_checkpoint(model, target)
        return
    same_file = source is not None and _digest(target) == _digest(source)
    if not same_file and inspect_checkpoint(target).info != model.info:
        raise ConfigError(
            f"the run already holds a different model named {name!r}; rename "
            f"{source.name if source else 'the model'} or use --model {name} to mean the run's own"
        )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unused_model_name(stem: str, taken: Iterable[str]) -> str:
    """``stem`` or, when taken, ``stem-2``, ``stem-3``, ...: a name for a new model of a run
    (the dash keeps ``resnet18-2`` from reading as a model called ``resnet182``)."""
    taken = set(taken)
    name, k = stem, 2
    while name in taken:
        name, k = f"{stem}-{k}", k + 1
    return name


@dataclass
class LoadedModels:
    """What :func:`load_models_into_run` made of the files: the models loaded (by the name
    each has in the run), a message per file that failed, and the files that need details
    only the user can give (path → ``"arch"`` or ``"shapes"``)."""

    models: dict[str, Classifier] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    needs_details: dict[str, str] = field(default_factory=dict)


def load_models_into_run(
    paths: Sequence[str | Path],
    store: ResultsStore,
    taken: set[str],
    *,
    device: torch.device | str,
    details: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LoadedModels:
    """Load models (files, timm or transformers folders, or names such as ``timm:resnet50.a1_in1k``:
    :func:`~fourier_masks.core.models.open_model`) and keep each in the run under a name not in
    ``taken``. One that fails is reported and the others still load. ``details`` are keyword
    arguments of :func:`~fourier_masks.core.models.load_model` applied to every file."""
    result = LoadedModels()
    reporter = ProgressReporter("load", len(paths), on_progress, cancel)
    for k, path in enumerate(paths):
        if reporter.cancelled:
            break
        named = is_model_name(path) or Path(path).is_dir()
        reporter.report(k, f"loading {path if named else Path(path).name}")
        try:
            model = open_model(path, device=device, **(details or {}))
        except MissingModelDetailsError as exc:
            result.needs_details[str(path)] = exc.needs
            continue
        except FourierMasksError as exc:
            result.problems.append(str(exc))
            continue
        stem = store_name(model.info.name) if named else name_from_file(path)
        name = unused_model_name(stem, taken | set(result.models) | set(store.model_names()))
        keep_model(store, name, model)
        result.models[name] = model
    reporter.report(len(paths), "loaded")
    return result


def train_into_run(
    store: ResultsStore,
    name: str,
    train: ImageSet,
    val: ImageSet,
    *,
    config: TrainConfig,
    device: torch.device | str,
    data: DataRecord | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainResult:
    """Train a model variant and keep it in the run with its per-epoch table and the data it
    was trained on, as one step (:meth:`~.store.ResultsStore.step`): ``tables/training-<name>``,
    ``run.json``'s data record (``data``, unless the run records data already) and, last and
    the step's commit, ``models/<name>.safetensors``. A kill leaves the run's earlier model,
    table and record, or all three new ones; a cancelled training keeps nothing."""
    store.record_provenance(device)
    result = train_model(train, val, config=config, name=name, device=device, on_progress=on_progress, cancel=cancel)
    if not result.cancelled:
        with store.step() as step:
            store.save_table(history_table(name, config.augmentation, result.history), step=step)
            if data is not None:
                store.record_data(data, step=step)
            save_checkpoint(result.model, step.path(store.model_path(name).relative_to(store.root).as_posix()))
    return result


def train_variants_into_run(
    store: ResultsStore,
    data: DataRequest,
    *,
    size: int,
    channels: int,
    configs: Sequence[TrainConfig],
    device: torch.device | str,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Classifier]:
    """Train each configuration on ``data`` at ``size`` px and ``channels`` channels, keeping
    every finished model in the run before the next starts (with the data record, when the
    run has none yet: :func:`train_into_run`), named by its variant's code (N, A, S, T or R;
    numbered when the run has one already). Returns the models trained."""
    splits = data.load(size, channels)
    record = DataRecord.of(data, size, channels)
    trained: dict[str, Classifier] = {}
    for config in configs:
        name = unused_model_name(AUGMENTATION_CODES[config.augmentation], store.model_names())
        result = train_into_run(
            store,
            name,
            splits.train,
            splits.val,
            config=config,
            device=device,
            data=record,
            on_progress=on_progress,
            cancel=cancel,
        )
        if result.cancelled:
            break
        trained[name] = result.model
    return trained


# --- masks ----------------------------------------------------------------------------------


def learn_set_mask_into_run(
    store: ResultsStore,
    group: str,
    model_name: str,
    model: Classifier,
    images: ImageSet,
    *,
    config: SetMaskConfig,
    role: str = "dataset",
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SetMaskResult:
    """Learn a set mask of ``images`` (true labels) and keep it in ``group`` with how it was
    learned; ``role``: ``dataset``, or ``stability`` for a dataset mask learned again with
    another data-order seed. A cancelled mask is not kept."""
    store.record_provenance(device if device is not None else model_device(model))
    result = learn_set_mask(
        model,
        images.images,
        images.labels,
        config=config,
        device=device,
        on_progress=on_progress,
        cancel=cancel,
        stage=f"set-mask {model_name}",
    )
    if not result.cancelled:
        save_set_mask_result(
            store,
            group,
            result,
            model_name=model_name,
            class_names=images.class_names,
            learned_on=images.ids,
            role=role,
        )
    return result


def learn_class_masks_into_run(
    store: ResultsStore,
    group: str,
    model_name: str,
    model: Classifier,
    images: ImageSet,
    *,
    config: SetMaskConfig,
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[int, SetMaskResult]:
    """Learn a mask per class of ``images`` (``config`` is the dataset mask's; see
    :func:`~fourier_masks.core.masks.learn_class_masks`) and keep them in ``group``, unless
    cancelled."""
    store.record_provenance(device if device is not None else model_device(model))
    results = learn_class_masks(
        model, images.images, images.labels, config=config, device=device, on_progress=on_progress, cancel=cancel
    )
    if results and not any(r.cancelled for r in results.values()):
        save_class_mask_results(store, group, results, model_name=model_name, class_names=images.class_names)
    return results


def learn_image_masks_into_run(
    store: ResultsStore,
    group: str,
    model_name: str,
    model: Classifier,
    images: ImageSet,
    *,
    config: ImageMaskConfig,
    inputs: str = "clean",
    device: torch.device | str | None = None,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    **meta: Any,
) -> ImageMaskResult | None:
    """Declare ``group`` with ``images`` (``inputs``: ``clean`` or ``adversarial``; ``meta``
    more of what the group's metadata says) and learn the masks it still lacks, here or on
    ``cluster``. None when every mask was there already."""
    units = plan_image_masks(
        store, group, images, model_name=model_name, config=config, inputs=inputs, dataset=images.name, **meta
    )
    return run_mask_units(store, units, model, device=device, on_progress=on_progress, cancel=cancel, cluster=cluster)


@dataclass
class ImageMaskJob:
    """What a per-image mask job did: its group, how many of its masks are in the run out of
    how many images it has, and the files it skipped with why."""

    group: str
    done: int
    total: int
    problems: list[str] = field(default_factory=list)
    cancelled: bool = False


def learn_file_masks_into_run(
    store: ResultsStore,
    group: str,
    model_name: str,
    model: Classifier,
    paths: Sequence[str | Path],
    *,
    config: ImageMaskConfig,
    device: torch.device | str | None = None,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageMaskJob:
    """Per-image masks of image files and folders, loaded at the model's size and channels
    (unreadable files are skipped and listed); their labels are unknown."""
    info = model.info
    try:
        images, problems = image_set_from_files(paths, info.in_channels, info.preparation, info.labels(), "files")
    except BadDatasetError as exc:
        raise BadDatasetError(f"nothing to learn masks for: {exc}") from None
    result = learn_image_masks_into_run(
        store,
        group,
        model_name,
        model,
        images,
        config=config,
        device=device,
        cluster=cluster,
        on_progress=on_progress,
        cancel=cancel,
    )
    return ImageMaskJob(
        group=group,
        done=len(store.finished_ids(group)),
        total=len(images),
        problems=problems,
        cancelled=result is not None and result.cancelled,
    )


def attack_group_into_run(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    clean_group: str,
    *,
    group: str,
    attack: AttackConfig,
    config: ImageMaskConfig,
    device: torch.device | str | None = None,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageMaskJob:
    """Adversarial counterparts of the finished images of ``clean_group`` and their own masks
    (keeping the adversarial prediction) in ``group``, paired with the clean group. Labels are
    the true ones where known, else the clean prediction."""
    inputs = store.image_mask_inputs(clean_group)
    stored = store.load_image_masks(clean_group)
    position = {i: k for k, i in enumerate(inputs["ids"].tolist())}
    index = [position[i] for i in stored.ids]
    labels = torch.from_numpy(inputs["labels"][index]).long()
    labels = torch.where(labels >= 0, labels, torch.from_numpy(stored.arrays["targets"]).long())
    clean = ImageSet(
        images=torch.from_numpy(inputs["images"][index]),
        labels=labels,
        class_names=model.info.labels(),
        ids=tuple(stored.ids),
        name="adversarial",
    )
    adversarial = attack_images(
        model, clean.images, clean.labels, config=attack, device=device, on_progress=on_progress, cancel=cancel
    )
    if cancel is not None and cancel.is_set():
        return ImageMaskJob(group=group, done=0, total=len(index), cancelled=True)
    result = learn_image_masks_into_run(
        store,
        group,
        model_name,
        model,
        ImageSet(images=adversarial, labels=labels, class_names=clean.class_names, ids=clean.ids, name="adversarial"),
        config=config,
        inputs="adversarial",
        device=device,
        cluster=cluster,
        on_progress=on_progress,
        cancel=cancel,
        pairs_with=clean_group,
        attack=attack.to_dict(),
    )
    return ImageMaskJob(
        group=group,
        done=len(store.finished_ids(group)),
        total=len(index),
        cancelled=result is not None and result.cancelled,
    )
