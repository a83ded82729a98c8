"""One table for a zoo of models: each model's frequency-robustness profile, side by side.

For every model, on the same labelled images: clean and PGD accuracy, mean accuracy over the
common corruptions and their mCE against a reference model (:mod:`.corruptions`), the kept
fraction and radial energy centroid of its dataset mask (METHOD.md §2), the mean error of its
Fourier heat map (:func:`.robustness.fourier_heat_map`, as published), the share of its input
gradients' energy above half Nyquist (:func:`.sensitivity.fourier_sensitivity`) and the radii
at which low- and high-pass filtering halve its accuracy (:func:`.sweeps.cutoff_sweep`).

Across models, each metric is set against robust (PGD) and corrupted accuracy by Spearman's
rank correlation with a permutation p-value (:func:`rank_correlations`): with a handful of
models most correlations are chance, and the p-value says how often shuffled models would
correlate as strongly.

Resumable like the study: each model's metrics are kept in the run (``profile/<model>.json``,
with the settings and the images they were measured with) as soon as they are done, and a
rerun measures only the models not yet kept. With a Ray cluster the models are measured on
its workers, one task each, and only the driver writes into the run.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..attacks.adversarial import MAX_SEED, AttackConfig, attack_images
from ..data.images import ImageSet
from ..errors import ConfigError, OutputError
from ..masks.config import SetMaskConfig
from ..masks.inference import masked_predictions
from ..masks.set_masks import learn_set_mask
from ..models.classifier import Classifier
from ..progress import CancelToken, Progress, ProgressCallback, ProgressReporter
from ..runs.store import ResultsStore
from ..tables import Table
from .corruptions import CORRUPTIONS, SEVERITIES, corruption_accuracy, error_ratio
from .robustness import MAX_HEAT_MAP_EPS, fourier_heat_map
from .sensitivity import fourier_sensitivity
from .sweeps import DEFAULT_RADII, cutoff_sweep

# The profile's columns after the model's name: (name, unit). Accuracies and shares in %,
# radii in Nyquist units (1 = the Nyquist frequency along an axis, √2 the spectrum's corner).
METRICS: tuple[tuple[str, str], ...] = (
    ("clean accuracy", "%"),
    ("PGD accuracy", "%"),
    ("corruption accuracy", "%"),
    ("mCE", "%"),
    ("dataset-mask kept fraction", "%"),
    ("dataset-mask radial centroid", "Nyquist"),
    ("heat-map mean error", "%"),
    ("gradient high-frequency share", "%"),
    ("low-pass halving radius", "Nyquist"),
    ("high-pass halving radius", "Nyquist"),
)

# What each metric is set against across models.
AGAINST = ("PGD accuracy", "corruption accuracy")

# The parts of one model's profile, in the order they are measured (for progress).
PARTS = ("accuracy and PGD", "corruptions", "dataset mask", "heat map", "gradient spectrum", "cutoff sweep")

# Permutations for a rank correlation's p-value beyond the models whose every order is tried.
PERMUTATIONS = 10_000
EXACT_UP_TO = 8  # 8! = 40 320 orders


@dataclass(frozen=True)
class ProfileConfig:
    """The settings of every measure of a profile, with the published defaults of each: the
    dataset mask's (METHOD.md §2), PGD's (ε = 8/255-equivalent, 10 steps), the heat map's
    ε = 4 (Yin et al., 32×32 images; stride 0 picks one for large images), Hendrycks and
    Dietterich's corruptions at all five severities, and the cutoff sweep's 16 radii."""

    set_mask: SetMaskConfig = SetMaskConfig()
    attack: AttackConfig = AttackConfig()
    heat_map_eps: float = 4.0
    heat_map_stride: int = 0
    corruptions: tuple[str, ...] = tuple(CORRUPTIONS)
    severities: tuple[int, ...] = SEVERITIES
    radii: tuple[float, ...] = DEFAULT_RADII
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [c for c in self.corruptions if c not in CORRUPTIONS]
        if unknown or not self.corruptions:
            raise ConfigError(
                f"corruptions must be some of {', '.join(CORRUPTIONS)}, got {', '.join(unknown) or 'none'}"
            )
        if not self.severities or any(s not in SEVERITIES for s in self.severities):
            raise ConfigError(f"severities must be some of 1–5, got {list(self.severities)}")
        if not (math.isfinite(self.heat_map_eps) and 0 <= self.heat_map_eps <= MAX_HEAT_MAP_EPS):
            raise ConfigError(
                f"heat-map ε must be in [0, {MAX_HEAT_MAP_EPS:g}] (pixel units), got {self.heat_map_eps:g}; "
                "Yin et al. use 4 for 32×32 images"
            )
        if not self.radii or any(not (0 < r <= math.sqrt(2)) for r in self.radii):
            raise ConfigError(f"cutoff radii must lie in (0, √2] × Nyquist, got {list(self.radii)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "set_mask": self.set_mask.to_dict(),
            "attack": self.attack.to_dict(),
            "heat_map_eps": self.heat_map_eps,
            "heat_map_stride": self.heat_map_stride,
            "corruptions": list(self.corruptions),
            "severities": list(self.severities),
            "radii": [float(r) for r in self.radii],
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ModelProfile:
    """One model's metrics (:data:`METRICS`, NaN where undefined, e.g. a halving radius never
    reached) and its error rates per corruption and severity, which mCE needs against the
    reference chosen when the table is made."""

    metrics: dict[str, float]
    corruption_errors: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": _plain(self.metrics), "corruption_errors": _plain(self.corruption_errors)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelProfile:
        metrics = {name: _number(raw["metrics"].get(name)) for name, _ in METRICS if name != "mCE"}
        errors = {str(k): [_number(v) for v in values] for k, values in raw["corruption_errors"].items()}
        return cls(metrics=metrics, corruption_errors=errors)


@dataclass(frozen=True)
class ProfileResult:
    """The zoo table (one row per model, in the order given), the rank correlations of each
    metric against robust and corrupted accuracy, and the models measured now (the others
    were kept in the run from before). When cancelled, the table holds the models finished."""

    table: Table
    correlations: Table
    profiles: dict[str, ModelProfile]
    measured: list[str]
    reference: str | None
    cancelled: bool = False
    figures: list[str] = field(default_factory=list)


def profile_model(
    model: Classifier,
    images: ImageSet,
    *,
    config: ProfileConfig = ProfileConfig(),
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ModelProfile | None:
    """Every metric of one model on ``images`` (labelled in the model's classes); None when
    cancelled. Progress: stage ``profile-model``, one unit per part (:data:`PARTS`), each part's
    own progress as a fraction of its unit."""
    x, y = images.images, images.labels
    reporter = ProgressReporter("profile-model", len(PARTS), on_progress, cancel)

    def part(k: int) -> ProgressCallback:
        def forward(event: Progress) -> None:
            reporter.report(k + event.fraction, f"{PARTS[k]}: {event.message}".rstrip(": "))

        reporter.report(k, PARTS[k])
        return forward

    metrics: dict[str, float] = {}
    forward = part(0)
    predictions = masked_predictions(model, x)
    metrics["clean accuracy"] = 100 * float((predictions == y).float().mean())
    adversarial = attack_images(model, x, y, config=config.attack, on_progress=forward, cancel=cancel)
    if reporter.cancelled:
        return None
    metrics["PGD accuracy"] = 100 * float((masked_predictions(model, adversarial) == y).float().mean())

    corruptions = corruption_accuracy(
        {"model": model},
        x,
        y,
        corruptions=config.corruptions,
        severities=config.severities,
        seed=config.seed,
        on_progress=part(1),
        cancel=cancel,
    )
    if corruptions.cancelled:
        return None
    errors = {c: [1 - corruptions.accuracy[("model", c, s)] for s in config.severities] for c in config.corruptions}
    metrics["corruption accuracy"] = 100 * float(np.mean([1 - e for values in errors.values() for e in values]))

    mask = learn_set_mask(model, x, y, config=config.set_mask, on_progress=part(2), cancel=cancel)
    if mask.cancelled:
        return None
    metrics["dataset-mask kept fraction"] = 100 * float(np.mean(mask.mask))
    metrics["dataset-mask radial centroid"] = radial_centroid(mask.mask)

    heat = fourier_heat_map(
        model,
        x,
        y,
        eps=config.heat_map_eps,
        stride=config.heat_map_stride,
        seed=config.seed,
        on_progress=part(3),
        cancel=cancel,
    )
    if heat.cancelled:
        return None
    metrics["heat-map mean error"] = 100 * heat.mean_error()

    sensitivity = fourier_sensitivity(model, x, y, on_progress=part(4), cancel=cancel)
    if sensitivity.cancelled:
        return None
    metrics["gradient high-frequency share"] = 100 * sensitivity.high_frequency_share

    sweep = cutoff_sweep(model, x, y, radii=config.radii, on_progress=part(5), cancel=cancel)
    if sweep.cancelled:
        return None
    metrics["low-pass halving radius"] = float(sweep.halving["low"][0])
    metrics["high-pass halving radius"] = float(sweep.halving["high"][0])
    reporter.report(len(PARTS), "done")
    return ModelProfile(metrics=metrics, corruption_errors=errors)


def radial_centroid(mask: np.ndarray) -> float:
    """The radius (Nyquist units) around which a stored-layout mask's energy lies: the mean
    frequency radius weighted by the mask's squared values (channels pooled)."""
    mask = np.asarray(mask, dtype=np.float64)
    h, w = mask.shape[-2:]
    fy = np.fft.fftfreq(h).reshape(-1, 1)
    fx = np.fft.fftfreq(w).reshape(1, -1)
    radius = np.sqrt(fy**2 + fx**2) / 0.5
    energy = (mask**2).reshape(-1, h, w).sum(axis=0)
    total = energy.sum()
    return float((radius * energy).sum() / total) if total > 0 else math.nan


def mean_corruption_error(errors: Mapping[str, Sequence[float]], reference: Mapping[str, Sequence[float]]) -> float:
    """mCE (%) as Hendrycks and Dietterich define it: per corruption, the model's errors summed
    over severities over the reference's, then the mean over corruptions (NaN where the
    reference never errs on a corruption)."""
    ratios = [error_ratio(values, float(np.sum(reference[corruption]))) for corruption, values in errors.items()]
    return 100 * float(np.mean(ratios))


def rank_correlation(x: Sequence[float], y: Sequence[float], seed: int = 0) -> tuple[float, float, int]:
    """Spearman's ρ between ``x`` and ``y`` over the pairs where both are finite, its two-sided
    permutation p-value (every order of up to 8 models; else 10 000 seeded shuffles) and the
    pairs used; ρ and p are NaN for fewer than 3 pairs or a constant side."""
    pairs = [(a, b) for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)]
    n = len(pairs)
    if n < 3:
        return math.nan, math.nan, n
    rx, ry = (_ranks(np.array(side, dtype=float)) for side in zip(*pairs))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan, math.nan, n
    rho = float(np.corrcoef(rx, ry)[0, 1])
    if n <= EXACT_UP_TO:
        orders = (np.array(p) for p in itertools.permutations(range(n)))
        total = math.factorial(n)
    else:
        generator = np.random.default_rng(seed)
        orders = (generator.permutation(n) for _ in range(PERMUTATIONS))
        total = PERMUTATIONS
    as_strong = sum(abs(np.corrcoef(rx, ry[order])[0, 1]) >= abs(rho) - 1e-12 for order in orders)
    return rho, as_strong / total, n


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank (as Spearman's ρ takes them)."""
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def profile_table(
    profiles: Mapping[str, ModelProfile], reference: str | None, config: ProfileConfig, images: int
) -> Table:
    """One row per model: :data:`METRICS`, mCE against ``reference``'s corruption errors."""
    table = Table.build(
        "profile",
        "Frequency-robustness profile of each model",
        [("model", ""), *METRICS],
        notes=(
            f"Measured on the same {images} labelled images for every model. PGD: ε = {config.attack.eps:.5f} "
            f"(pixel units), {config.attack.steps} steps. Corruptions: {', '.join(config.corruptions)} at "
            f"severities {', '.join(map(str, config.severities))}; corruption accuracy is their mean; mCE is "
            f"Hendrycks and Dietterich's, against model {reference or '(none: left empty)'} (100 % = as robust as "
            "it). Dataset mask: learned on these images (METHOD.md §2); kept fraction = its mean, radial "
            "centroid = the mean frequency radius weighted by its squared values. Heat map: mean top-1 error "
            f"under ±{config.heat_map_eps:g}·U (one random sign per channel). Gradient share: input-gradient "
            "energy above half Nyquist. Halving radii: where low-/high-pass filtering first halves the "
            "accuracy (empty when it never does within the grid). Radii in Nyquist units."
        ),
    )
    base = profiles[reference].corruption_errors if reference is not None and reference in profiles else None
    for name, profile in profiles.items():
        mce = mean_corruption_error(profile.corruption_errors, base) if base is not None else math.nan
        values = {**profile.metrics, "mCE": mce}
        table.add_row(name, *(_cell(values[metric]) for metric, _ in METRICS))
    return table


def correlation_table(profiles: Mapping[str, ModelProfile], reference: str | None, seed: int = 0) -> Table:
    """Spearman's ρ of each metric against robust and corrupted accuracy across the models."""
    table = Table.build(
        "profile-correlations",
        "Rank correlation of each metric with robust and corrupted accuracy across models",
        [("metric", ""), ("against", ""), ("Spearman ρ", "1"), ("permutation p", "1"), ("models", "count")],
        notes=(
            "Spearman's rank correlation across the profiled models, with a two-sided permutation p-value "
            f"(every order of up to {EXACT_UP_TO} models, else {PERMUTATIONS} seeded shuffles): the share of "
            "orderings of the models that correlate at least as strongly by chance. With few models, only "
            "a ρ of ±1 can reach p < 0.05 (5 models: p = 2/120 for ρ = ±1), and none can with 4 or fewer. "
            "Empty where fewer than 3 models have both values."
        ),
    )
    base = profiles[reference].corruption_errors if reference is not None and reference in profiles else None
    columns = {
        name: {
            **p.metrics,
            "mCE": mean_corruption_error(p.corruption_errors, base) if base is not None else math.nan,
        }
        for name, p in profiles.items()
    }
    for against in AGAINST:
        for metric, _ in METRICS:
            if metric == against:
                continue
            x = [columns[m][metric] for m in columns]
            y = [columns[m][against] for m in columns]
            rho, p, n = rank_correlation(x, y, seed)
            table.add_row(metric, against, _cell(rho), _cell(p), n)
    return table


def profile_models(
    store: ResultsStore,
    models: Mapping[str, Classifier],
    images: ImageSet,
    *,
    config: ProfileConfig = ProfileConfig(),
    reference: str | None = None,
    cluster: str | None = None,
    make_figures: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ProfileResult:
    """Profile each model on ``images`` (already labelled in the models' shared classes and
    at their shared input) into ``store``: ``profile/<model>.json`` per model as it finishes,
    then the tables ``profile`` and ``profile-correlations`` and, with ``make_figures``, the
    figure ``profile`` (each metric against PGD and corruption accuracy).

    ``reference``: the model mCE is measured against (default: the first model). A model kept
    in the run from an earlier profile with the same settings and images is not measured
    again; one kept with other settings is an :class:`OutputError` unless the store may
    overwrite (``--force``). ``cluster``: measure the models on a Ray cluster (one task per
    model; only this process writes). Progress: stage ``profile``, one unit per model; the
    ETA counts whole models (none until the first is done)."""
    if not models:
        raise ConfigError("no models to profile")
    if reference is not None and reference not in models:
        raise ConfigError(f"--reference {reference}: not one of the profiled models ({', '.join(models)})")
    reference = reference if reference is not None else next(iter(models))
    stamp = {"config": config.to_dict(), "images": _images_digest(images)}
    kept: dict[str, ModelProfile] = {}
    for name in models:
        record = _kept_record(store, name)
        if record is None:
            continue
        if record.get("stamp") != stamp:
            if store.overwrite:
                continue
            raise OutputError(
                f"{store.path(_record_name(name))} was measured with other settings or images; pass --force to "
                "measure it again, or profile into another run folder"
            )
        kept[name] = ModelProfile.from_dict(record)
    todo = [name for name in models if name not in kept]
    reporter = ProgressReporter("profile", len(models), on_progress, cancel)
    done = len(kept)
    reporter.report(done, f"{done} of {len(models)} models kept from before" if done else "starting")

    def keep(name: str, profile: ModelProfile) -> None:
        nonlocal done
        record = {"model": name, "stamp": stamp, **profile.to_dict()}
        text = json.dumps(record, indent=2, sort_keys=True, allow_nan=True) + "\n"
        store.write_derived(store.path(_record_name(name)), text.encode("utf-8"))
        kept[name] = profile
        done += 1
        measured = done - (len(models) - len(todo))
        reporter.report(done, f"{name} done", work_done=measured, work_left=len(models) - done)

    if cluster is not None and todo:
        _profile_on_cluster(cluster, {n: models[n] for n in todo}, images, config, keep, reporter)
    else:
        for name in todo:
            if reporter.cancelled:
                break

            def inner(event: Progress, name: str = name) -> None:
                reporter.report(
                    done + event.fraction,
                    f"{name}: {event.message}",
                    work_done=done - (len(models) - len(todo)),
                    work_left=len(models) - done,
                )

            profile = profile_model(models[name], images, config=config, on_progress=inner, cancel=cancel)
            if profile is None:
                break
            keep(name, profile)
    profiles = {name: kept[name] for name in models if name in kept}
    ordered_reference = reference if reference in profiles else None
    table = profile_table(profiles, ordered_reference, config, len(images))
    correlations = correlation_table(profiles, ordered_reference, config.seed)
    cancelled = len(profiles) < len(models)
    result = ProfileResult(
        table=table,
        correlations=correlations,
        profiles=profiles,
        measured=[n for n in todo if n in profiles],
        reference=ordered_reference,
        cancelled=cancelled,
    )
    if cancelled:
        return result
    store.save_table(table)
    store.save_table(correlations)
    if make_figures:
        from .. import figures

        figures.save_figure(
            figures.profile_figure(table, correlations), store.figures_dir, "profile", write=store.write_derived
        )
        result.figures.append("profile")
    return result


def _profile_on_cluster(cluster, models, images, config, keep, reporter) -> None:
    """One Ray task per model; each finished profile is kept (by this process) as it arrives."""
    from ..runs.executors import MAX_RETRIES, WAIT_S, connected

    with connected(cluster) as ray:
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=MAX_RETRIES)(_profile_task)
        images_ref = ray.put(images)
        running = {task.remote(copy.deepcopy(model).cpu(), images_ref, config): name for name, model in models.items()}
        while running and not reporter.cancelled:
            finished, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
            for ref in finished:
                keep(running.pop(ref), ModelProfile.from_dict(ray.get(ref)))
        for ref in running:
            ray.cancel(ref, force=True)


def _profile_task(model: Classifier, images: ImageSet, config: ProfileConfig) -> dict[str, Any]:
    """A Ray worker's share: one model's profile, on its GPU when it has one."""
    if torch.cuda.is_available():
        model = model.to("cuda")
    profile = profile_model(model, images, config=config)
    assert profile is not None  # nothing cancels a task but Ray itself
    return profile.to_dict()


def _record_name(model: str) -> str:
    return f"profile/{model}.json"


def _kept_record(store: ResultsStore, name: str) -> dict[str, Any] | None:
    """The run's record of ``name``'s profile, or None; a damaged one is named."""
    if not store.exists(_record_name(name)):
        return None
    record = store.read_json(_record_name(name))
    try:
        ModelProfile.from_dict(record)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OutputError(
            f"{store.path(_record_name(name))} is damaged ({type(exc).__name__}: {exc}); delete it to measure "
            "the model again"
        ) from None
    return record


def _images_digest(images: ImageSet) -> str:
    """What identifies the images a profile was measured on: their ids, labels and pixels."""
    digest = hashlib.sha256()
    digest.update("\n".join(images.ids).encode("utf-8"))
    digest.update(images.labels.numpy().astype(np.int64).tobytes())
    digest.update(images.images.float().numpy().tobytes())
    return digest.hexdigest()


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _plain(value: Any) -> Any:
    """JSON-ready: floats as floats (NaN as null), containers recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    value = float(value)
    return None if not math.isfinite(value) else value


def _cell(value: float) -> float | str:
    """A table cell: the number, or empty where it is undefined."""
    return value if math.isfinite(value) else ""


__all__ = [
    "METRICS",
    "ModelProfile",
    "ProfileConfig",
    "ProfileResult",
    "correlation_table",
    "mean_corruption_error",
    "profile_model",
    "profile_models",
    "profile_table",
    "radial_centroid",
    "rank_correlation",
]
