"""The app's long-running work, as plain functions over :mod:`core` (no Qt here).

Each job takes keyword-only ``on_progress`` and ``cancel`` (supplied by
:class:`app.workers.JobWorker`), writes what it produces into the session's
:class:`core.store.ResultsStore` as it goes, and returns a small summary. Views read results
back from the store, so a cancelled job keeps everything it finished and a run reopened
later shows the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fourier_masks.core.attacks import AttackConfig, attack_images
from fourier_masks.core.data import ImageSet, expand_image_paths, image_set_from_files, load_dataset
from fourier_masks.core.errors import BadDatasetError, ConfigError, FourierMasksError, MissingModelDetailsError
from fourier_masks.core.files import name_from_file
from fourier_masks.core.masks import ImageMaskConfig, SetMaskConfig, learn_set_mask
from fourier_masks.core.models import Classifier, check_compatible, load_model, save_checkpoint
from fourier_masks.core.progress import CancelToken, ProgressCallback, ProgressReporter
from fourier_masks.core.runs import ResultsStore, plan_image_masks, run_mask_units, save_set_mask_result
from fourier_masks.core.study import write_report
from fourier_masks.core.training import AUGMENTATION_CODES, TrainConfig, history_table, train_model

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "LoadedModels",
    "ImageJobResult",
    "split_dropped_paths",
    "load_checkpoints",
    "learn_dropped_image_masks",
    "attack_and_mask",
    "compare_models",
    "train_models",
    "write_run_report",
    "group_label",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pt2", ".ts", ".ckpt", ".tar", ".bin")


def group_label(group: str) -> str:
    """``image/N-drop1`` → ``N-drop1`` (used to name files that belong to a group)."""
    return group.split("/", 1)[-1]


def split_dropped_paths(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """Sort dropped paths into (checkpoints, images, run folders); folders of images expand."""
    checkpoints, images, runs = [], [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            if (path / "run.json").is_file():
                runs.append(path)
            else:
                try:
                    images.extend(expand_image_paths([path]))
                except BadDatasetError:
                    continue  # a folder without images: nothing to use in it
        elif path.suffix.lower() in CHECKPOINT_SUFFIXES:
            checkpoints.append(path)
        else:
            images.append(path)  # anything else is tried as an image; bad files are reported
    return checkpoints, images, runs


@dataclass
class LoadedModels:
    models: dict[str, Classifier] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    needs_details: dict[str, str] = field(default_factory=dict)  # path -> "arch" or "shapes"


def _unique_name(path: Path, taken: set[str]) -> str:
    base = name_from_file(path)
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}-{k}", k + 1
    return candidate


def load_checkpoints(
    paths: Sequence[str | Path],
    store: ResultsStore,
    taken: set[str],
    *,
    device: torch.device,
    details: dict | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LoadedModels:
    """Load model files and copy each into the run (so the run can be reopened on its own).
    A file that fails is reported, the others still load; files that need details the user
    must give (architecture, input shapes) are listed in ``needs_details``. ``details`` are
    keyword arguments of :func:`core.checkpoints.load_model` applied to every file."""
    result = LoadedModels()
    reporter = ProgressReporter("load", len(paths), on_progress, cancel)
    for k, path in enumerate(paths):
        if reporter.cancelled:
            break
        reporter.report(k, f"loading {Path(path).name}")
        try:
            model = load_model(path, device=device, **(details or {}))
        except MissingModelDetailsError as exc:
            result.needs_details[str(path)] = exc.needs
            continue
        except FourierMasksError as exc:
            result.problems.append(str(exc))
            continue
        name = _unique_name(Path(path), taken | set(result.models))
        save_checkpoint(model, store.model_path(name))
        result.models[name] = model
    reporter.report(len(paths), "loaded")
    return result


@dataclass
class ImageJobResult:
    group: str
    done: int
    total: int
    problems: list[str] = field(default_factory=list)


def learn_dropped_image_masks(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    paths: Sequence[str | Path],
    *,
    group: str,
    config: ImageMaskConfig,
    device: torch.device,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageJobResult:
    """Per-image masks for dropped image files, learned together in batches into ``group``."""
    info = model.info
    try:
        images, problems = image_set_from_files(
            paths, info.in_channels, info.image_size, info.labels(), "dropped files"
        )
    except BadDatasetError as exc:
        raise BadDatasetError(f"nothing to learn masks for: {exc}") from None
    units = plan_image_masks(
        store, group, images, model_name=model_name, config=config, inputs="clean", dataset=images.name
    )
    run_mask_units(store, units, model, device=device, on_progress=on_progress, cancel=cancel, cluster=cluster)
    return ImageJobResult(group=group, done=len(store.finished_ids(group)), total=len(images), problems=problems)


def attack_and_mask(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    clean_group: str,
    *,
    group: str,
    attack: AttackConfig,
    config: ImageMaskConfig,
    device: torch.device,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageJobResult:
    """PGD counterparts of a group's images, and their own masks (keeping the adversarial
    prediction) in ``group``. Labels are the true ones where known, else the clean prediction."""
    inputs = store.image_mask_inputs(clean_group)
    stored = store.load_image_masks(clean_group)
    position = {i: k for k, i in enumerate(inputs["ids"].tolist())}
    index = [position[i] for i in stored.ids]
    images = torch.from_numpy(inputs["images"][index])
    labels = torch.from_numpy(inputs["labels"][index]).long()
    targets = torch.from_numpy(stored.arrays["targets"]).long()
    labels = torch.where(labels >= 0, labels, targets)
    adversarial = attack_images(
        model, images, labels, config=attack, device=device, on_progress=on_progress, cancel=cancel
    )
    if cancel is not None and cancel.is_set():
        return ImageJobResult(group="", done=0, total=len(index))
    adversarial_set = ImageSet(
        images=adversarial, labels=labels, class_names=model.info.labels(), ids=tuple(stored.ids), name="adversarial"
    )
    units = plan_image_masks(
        store,
        group,
        adversarial_set,
        model_name=model_name,
        config=config,
        inputs="adversarial",
        pairs_with=clean_group,
        attack=attack.to_dict(),
    )
    run_mask_units(store, units, model, device=device, on_progress=on_progress, cancel=cancel, cluster=cluster)
    return ImageJobResult(group=group, done=len(store.finished_ids(group)), total=len(index))


def _dataset_for(model: Classifier, spec: str, val_per_class: int, seed: int = 0) -> ImageSet:
    data = load_dataset(
        spec,
        size=model.info.image_size,
        channels=model.info.in_channels,
        seed=seed,
        train_per_class=1,
        val_per_class=val_per_class,
    ).val
    check_compatible(model.info, data.channels, data.num_classes)
    return data


def compare_models(
    store: ResultsStore,
    models: dict[str, Classifier],
    *,
    data_spec: str,
    val_per_class: int,
    set_config: SetMaskConfig,
    images_per_class: int,
    image_config: ImageMaskConfig,
    device: torch.device,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
):
    """Dataset masks (and, optionally, single-image masks on the same validation images) for
    every model, then the comparison tables (Table 1–3, energies, per-image comparisons)."""
    if len(models) < 1:
        raise ConfigError("load at least one model to compare")
    first = next(iter(models.values())).info
    data = None
    for name, model in models.items():
        if (model.info.image_size, model.info.in_channels) != (first.image_size, first.in_channels):
            raise ConfigError(
                f"{name} takes {model.info.image_size}px {model.info.in_channels}-channel images, "
                f"unlike the others; compare models with the same input"
            )
        data = data or _dataset_for(model, data_spec, val_per_class)
        check_compatible(model.info, data.channels, data.num_classes)
    store.update_manifest(
        data={
            "spec": data_spec,
            "size": first.image_size,
            "channels": first.in_channels,
            "seed": 0,
            "train_per_class": 1,
            "val_per_class": val_per_class,
        }
    )
    for name, model in models.items():
        group = f"set/{name}"
        if not store.has_masks(group):
            result = learn_set_mask(
                model,
                data.images,
                data.labels,
                config=set_config,
                device=device,
                on_progress=on_progress,
                cancel=cancel,
                stage=f"set-mask {name}",
            )
            if result.cancelled:
                return None
            save_set_mask_result(store, group, result, model_name=name, class_names=data.class_names)
    if images_per_class > 0:
        subset = data.balanced_subset(images_per_class)
        for name, model in models.items():
            group = f"image/{name}-clean"
            units = plan_image_masks(
                store, group, subset, model_name=name, config=image_config, inputs="clean", dataset=data.name
            )
            result = run_mask_units(
                store, units, model, device=device, on_progress=on_progress, cancel=cancel, cluster=cluster
            )
            if result is not None and result.cancelled:
                return None
    return write_report(
        store,
        val=data,
        make_figures=False,
        reference=next(iter(models)),
        device=device,
        on_progress=on_progress,
        cancel=cancel,
    )


def train_models(
    store: ResultsStore,
    *,
    data_spec: str,
    size: int,
    channels: int,
    train_per_class: int,
    val_per_class: int,
    configs: Sequence[TrainConfig],
    device: torch.device,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Classifier]:
    """Train each configuration; every finished model is saved before the next starts."""
    data = load_dataset(
        data_spec, size=size, channels=channels, train_per_class=train_per_class, val_per_class=val_per_class
    )
    trained: dict[str, Classifier] = {}
    for config in configs:
        name = AUGMENTATION_CODES[config.augmentation]
        k = 2
        while store.has_model(name):
            name, k = f"{AUGMENTATION_CODES[config.augmentation]}{k}", k + 1
        result = train_model(
            data.train, data.val, config=config, name=name, device=device, on_progress=on_progress, cancel=cancel
        )
        if result.cancelled:
            break
        save_checkpoint(result.model, store.model_path(name))
        store.save_table(history_table(name, config.augmentation, result.history))
        trained[name] = result.model
    return trained


def write_run_report(
    store: ResultsStore,
    *,
    make_figures: bool,
    device: torch.device,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
):
    return write_report(store, make_figures=make_figures, device=device, on_progress=on_progress, cancel=cancel)


def _analysis_images(model: Classifier, data_spec: str, val_per_class: int, per_class: int) -> ImageSet:
    data = _dataset_for(model, data_spec, val_per_class)
    return data.balanced_subset(per_class) if per_class else data


def adversarial_maps_job(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    *,
    data_spec: str,
    val_per_class: int,
    per_class: int,
    **options,
):
    """Essential vs adversarial frequency maps of the model (:mod:`core.advmaps`); ``options``
    are :func:`core.analyses.run_adversarial_maps`'s (config, device, cluster, progress, cancel)."""
    from fourier_masks.core.beyond import run_adversarial_maps

    images = _analysis_images(model, data_spec, val_per_class, per_class)
    return run_adversarial_maps(store, model_name, model, images, **options)


def heat_map_job(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    *,
    data_spec: str,
    val_per_class: int,
    per_class: int,
    eps: float,
    on_progress=None,
    cancel=None,
):
    """The model's Fourier heat map: :func:`core.analyses.run_heat_map`'s
    :class:`~core.robustness.HeatMapResult`, saved into the run unless cancelled."""
    from fourier_masks.core.beyond import run_heat_map

    images = _analysis_images(model, data_spec, val_per_class, per_class)
    return run_heat_map(
        store, model_name, model, images.images, images.labels, eps=eps, on_progress=on_progress, cancel=cancel
    )


def robustness_job(
    store: ResultsStore,
    models: dict[str, Classifier],
    *,
    data_spec: str,
    val_per_class: int,
    per_class: int,
    on_progress=None,
    cancel=None,
):
    """Noise and PGD robustness of every model (the JaFR evaluation):
    :func:`core.analyses.run_robustness`'s :class:`~core.robustness.RobustnessResult`,
    saved into the run unless cancelled."""
    from fourier_masks.core.beyond import run_robustness

    first = next(iter(models.values()))
    images = _analysis_images(first, data_spec, val_per_class, per_class)
    return run_robustness(store, models, images.images, images.labels, on_progress=on_progress, cancel=cancel)
