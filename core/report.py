"""Analyses of a results store: tables, energies, clusters and figures from what a run holds.

Everything here reads the store (models, mask groups and their metadata) rather than
in-memory state, so the demo, the CLI's ``evaluate``/``energy``/``clusters``/``report``
commands and the app all compute the same things the same way, and a run can be analysed
again long after it was made.

Conventions read from mask-group metadata: ``model`` (the model's name in ``models/``),
``role`` (``dataset`` or ``stability`` for set masks) and ``inputs`` (``clean`` or
``adversarial`` for per-image groups). The *reference* model (default ``N``, the vanilla
one) is what others are compared with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import figures
from .checkpoints import load_model
from .clusters import ProbeResult, linear_probe, mask_features, mask_stability, umap_embedding
from .data import ImageSet, load_dataset
from .energy import (
    Partition,
    angular_partition,
    centred_difference,
    mask_energies,
    per_image_exceedance,
    radial_partition,
)
from .errors import ConfigError, OutputError
from .evaluation import DatasetMaskRow, correctly_classified, single_image_evaluation, table1, table2, table3
from .findings import findings_table
from .fourier import complement_mask, filter_images
from .models import Classifier
from .progress import CancelToken, ProgressCallback, ProgressReporter
from .store import ResultsStore
from .tables import Table

__all__ = [
    "RunContents",
    "ReportResult",
    "discover",
    "adversarial_images",
    "validation_set",
    "dataset_mask_table",
    "single_image_table",
    "probe_table",
    "stability_table",
    "energy_tables",
    "exceedance_tables",
    "cluster_table",
    "write_report",
]


@dataclass
class RunContents:
    """Which mask groups a run holds, by model."""

    models: list[str]
    dataset_masks: dict[str, str] = field(default_factory=dict)
    stability_masks: dict[str, list[str]] = field(default_factory=dict)
    class_masks: dict[str, str] = field(default_factory=dict)
    clean_image_masks: dict[str, str] = field(default_factory=dict)
    adversarial_image_masks: dict[str, str] = field(default_factory=dict)

    def image_groups(self) -> list[str]:
        return [*self.clean_image_masks.values(), *self.adversarial_image_masks.values()]


def discover(store: ResultsStore) -> RunContents:
    contents = RunContents(models=store.model_names())
    for group in store.mask_groups():
        meta = store.mask_meta(group)
        model, kind = meta.get("model"), meta.get("kind")
        if model is None or meta.get("role") in ("essential", "adversarial-map"):
            continue  # the adversarial-maps analysis has tables of its own
        if kind == "set" and meta.get("role", "dataset") == "dataset":
            contents.dataset_masks.setdefault(model, group)
        elif kind == "set":
            contents.stability_masks.setdefault(model, []).append(group)
        elif kind == "class":
            contents.class_masks.setdefault(model, group)
        elif kind == "image" and meta.get("inputs") == "adversarial":
            contents.adversarial_image_masks.setdefault(model, group)
        elif kind == "image":
            contents.clean_image_masks.setdefault(model, group)
    return contents


def validation_set(store: ResultsStore) -> ImageSet | None:
    """The run's validation set, rebuilt from the data recorded in ``run.json`` (if any)."""
    data = store.read_json("run.json").get("data")
    if not data:
        return None
    return load_dataset(
        data["spec"],
        size=data["size"],
        channels=data["channels"],
        seed=data.get("seed", 0),
        train_per_class=data.get("train_per_class", 400),
        val_per_class=data.get("val_per_class", 100),
    ).val


class _Models:
    """Loads the run's models on first use."""

    _cache: dict[str, Classifier]

    def __init__(self, store: ResultsStore, device) -> None:
        self.store, self.device, self._cache = store, device, {}

    def __getitem__(self, name: str) -> Classifier:
        if name not in self._cache:
            if not self.store.has_model(name):
                raise OutputError(f"the run has masks for model {name!r} but no models/{name}.pt")
            self._cache[name] = load_model(self.store.model_path(name), device=self.device)
        return self._cache[name]


def _ordered(names, reference: str) -> list[str]:
    return sorted(names, key=lambda n: (n != reference, n))


def dataset_mask_table(
    store: ResultsStore, contents: RunContents, models: _Models, val: ImageSet, reference: str = "N"
) -> Table:
    """Table 1 over every model with a dataset mask, with how each mask's learning ended."""
    rows = []
    for model in _ordered(contents.dataset_masks, reference):
        group = contents.dataset_masks[model]
        meta = store.mask_meta(group)
        rows.append(
            DatasetMaskRow(
                name=model,
                model=models[model],
                mask=store.load_set_mask(group),
                component=_component(store, group),
                stop_rule_met=bool(meta["converged"]),
                epoch_kept=_epoch_kept(meta),
                epochs=int(meta["epochs"]),
            )
        )
    return table1(rows, val.images, val.labels)


def _epoch_kept(meta: dict[str, Any]) -> int:
    """The epoch whose mask a set-mask group holds: recorded as ``epoch_kept``; for masks saved
    without it (earlier runs, other writers), recovered from the per-epoch history by the rule
    :func:`core.masks.learn_set_mask` applies (the last epoch, unless the stop rule was never
    met and an earlier epoch was the last to reach the accuracy bar)."""
    if "epoch_kept" in meta:
        return int(meta["epoch_kept"])
    bar = meta["config"]["accuracy_ratio"] * meta["accuracy"]
    accurate = [e for e, value in enumerate(meta["history"]["masked_accuracy"], 1) if value >= bar]
    return int(meta["epochs"]) if meta["converged"] or not accurate else accurate[-1]


def _component(store: ResultsStore, group: str) -> str:
    """What a group's masks modulate (older runs: the magnitude)."""
    return (store.mask_meta(group).get("config") or {}).get("component", "magnitude")


def _image_masks(store: ResultsStore, group: str) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Inputs and finished masks of a group, aligned (only finished images)."""
    stored = store.load_image_masks(group)
    inputs = store.image_mask_inputs(group)
    position = {i: k for k, i in enumerate(inputs["ids"].tolist())}
    index = np.array([position[i] for i in stored.ids], dtype=np.int64)
    aligned = {k: v[index] for k, v in inputs.items()}
    aligned.update({f"mask_{k}": v for k, v in stored.arrays.items()})
    return stored.masks, aligned, stored.meta


def adversarial_images(store: ResultsStore, contents: RunContents, model: str, ids) -> torch.Tensor | None:
    """Adversarial versions of images ``ids`` against ``model``: from ``data/adversarial-<model>``
    or the inputs of the model's adversarial mask group; None when not all are there."""
    sources = []
    if store.path(f"data/adversarial-{model}.npz").exists():
        sources.append(store.load_arrays(f"adversarial-{model}"))
    if model in contents.adversarial_image_masks:
        sources.append(store.image_mask_inputs(contents.adversarial_image_masks[model]))
    ids = list(ids)
    for source in sources:
        position = {i: k for k, i in enumerate(source["ids"].tolist())}
        if all(i in position for i in ids):
            return torch.from_numpy(source["images"][[position[i] for i in ids]])
    return None


def single_image_table(store: ResultsStore, contents: RunContents, models: _Models, reference: str = "N") -> Table:
    """Table 2 for every model with clean single-image masks, over the images it classifies
    correctly (X_A columns when the run holds adversarial images of the same images for that
    model)."""
    evaluations = []
    for model in _ordered(contents.clean_image_masks, reference):
        group = contents.clean_image_masks[model]
        masks, inputs, _ = _image_masks(store, group)
        adversarial = adversarial_images(store, contents, model, inputs["ids"].tolist())
        evaluations.append(
            single_image_evaluation(
                model,
                models[model],
                torch.from_numpy(inputs["images"]),
                torch.from_numpy(inputs["labels"]),
                masks,
                adversarial,
                component=_component(store, group),
            )
        )
    return table2(evaluations)


def _group_label(group: str) -> str:
    return group.split("/", 1)[-1]


def _correct_rows(
    store: ResultsStore, contents: RunContents, models: _Models, inputs: dict[str, np.ndarray], meta: dict[str, Any]
) -> np.ndarray | str:
    """Rows of a per-image group (as :func:`_image_masks` aligns them) whose clean image the
    group's model classifies correctly, or why that cannot be told. An adversarial group is
    judged by its clean counterparts (the paper attacks correctly classified images), taken
    from the clean group it pairs with."""
    model, source = meta["model"], inputs
    if meta.get("inputs") == "adversarial":
        clean_group = meta.get("pairs_with") or contents.clean_image_masks.get(model)
        if clean_group is None:
            return f"no clean images of model {model} to tell which it classifies correctly"
        source = store.image_mask_inputs(clean_group)
    if (source["labels"] < 0).all():
        return "unlabelled images: which are classified correctly is unknown"
    position = {i: k for k, i in enumerate(source["ids"].tolist())}
    ids = inputs["ids"].tolist()
    rows = np.array([r for r, i in enumerate(ids) if i in position], dtype=np.int64)
    take = [position[ids[r]] for r in rows]
    correct = correctly_classified(
        models[model], torch.from_numpy(source["images"][take]), torch.from_numpy(source["labels"][take])
    )
    return rows[correct]


def probe_table(
    store: ResultsStore, contents: RunContents, models: _Models, seed: int = 0
) -> tuple[Table, dict[str, ProbeResult]]:
    """Table 3: the linear probe (labels = predicted classes) for every per-image group, on the
    masks of the images its model classifies correctly. A probe's ``index`` points at rows of
    the whole group (as :func:`_image_masks` reads it).

    A group with too few such masks (fewer than two classes with two masks each) gets a row
    saying so instead of numbers."""
    probes: dict[str, ProbeResult] = {}
    rows: list[tuple[str, int | str, ProbeResult | str]] = []
    for group in contents.image_groups():
        label = _group_label(group)
        masks, inputs, meta = _image_masks(store, group)
        correct = _correct_rows(store, contents, models, inputs, meta)
        if isinstance(correct, str):
            rows.append((label, "", correct))  # how many are correct is unknown
            continue
        try:
            probe = linear_probe(masks[correct], inputs["mask_targets"][correct], seed=seed)
        except ConfigError as exc:
            rows.append((label, len(correct), f"too few correctly classified images: {exc}"))
            continue
        probes[label] = dataclasses.replace(probe, index=correct[probe.index])
        rows.append((label, len(correct), probes[label]))
    return table3(rows), probes


def stability_table(store: ResultsStore, contents: RunContents) -> Table | None:
    table = Table.build(
        "stability",
        "Seed stability of dataset masks",
        [("model", ""), ("seed a", ""), ("seed b", ""), ("pearson r", "1")],
        notes="Dataset masks of the same model learned with different data-order seeds.",
    )
    for model, groups in sorted(contents.stability_masks.items()):
        if model not in contents.dataset_masks:
            continue
        members = [contents.dataset_masks[model], *sorted(groups)]
        seeds = [store.mask_meta(g)["config"]["seed"] for g in members]
        r = mask_stability([store.load_set_mask(g) for g in members])
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                table.add_row(model, seeds[i], seeds[j], float(r[i, j]))
    return table if table.rows else None


def _partitions(store: ResultsStore, contents: RunContents, bands: int) -> tuple[Partition, Partition]:
    some = next(iter(contents.dataset_masks.values()), None) or next(iter(contents.image_groups()), None)
    if some is None:
        raise OutputError("the run has no masks yet")
    meta = store.mask_meta(some)
    shape = tuple(meta["shape"][-2:]) if "shape" in meta else store.load_image_masks(some).masks.shape[-2:]
    return radial_partition(shape, bands), angular_partition(shape, bands)


def energy_tables(store: ResultsStore, contents: RunContents, bands: int = 32, reference: str = "N") -> list[Table]:
    """Per-band radial and angular energy of every dataset mask, and differences from the reference."""
    models = _ordered(contents.dataset_masks, reference)
    if not models:
        return []
    masks = {m: store.load_set_mask(contents.dataset_masks[m]) for m in models}
    others = [m for m in models if m != reference] if reference in masks else []
    tables = []
    for partition in _partitions(store, contents, bands):
        unit = "cycles/image" if partition.kind == "radial" else "degrees"
        columns = [("band", "index"), ("from", unit), ("to", unit)]
        columns += [(m, "1") for m in models] + [(f"{m} - {reference}", "1") for m in others]
        table = Table.build(
            f"energy-{partition.kind}",
            f"Per-band {partition.kind} energy of the dataset masks",
            columns,
            notes="Energy of band b: ||M * band_b||_2 with M scaled to unit L2 norm; differences are model minus reference.",
        )
        energy = {m: mask_energies(masks[m], partition) for m in models}
        for b in range(partition.count):
            row = [b, float(partition.edges[b]), float(partition.edges[b + 1])]
            row += [float(energy[m][b]) for m in models]
            row += [float(energy[m][b] - energy[reference][b]) for m in others]
            table.add_row(*row)
        tables.append(table)
    return tables


def _exceedance_pairs(contents: RunContents, reference: str) -> list[tuple[str, str, str, str]]:
    """(name, first group, second group, description) for the per-image comparisons."""
    pairs = []
    if reference in contents.clean_image_masks:
        for model in sorted(contents.clean_image_masks):
            if model != reference:
                pairs.append(
                    (
                        f"{model}-vs-{reference}",
                        contents.clean_image_masks[reference],
                        contents.clean_image_masks[model],
                        f"model {model}'s masks vs model {reference}'s (clean images)",
                    )
                )
    for model in sorted(contents.adversarial_image_masks):
        if model in contents.clean_image_masks:
            pairs.append(
                (
                    f"adversarial-vs-clean-{model}",
                    contents.clean_image_masks[model],
                    contents.adversarial_image_masks[model],
                    f"x_A's mask vs x's (model {model})",
                )
            )
    return pairs


def exceedance_tables(
    store: ResultsStore, contents: RunContents, bands: int = 32, reference: str = "N"
) -> list[tuple[Table, np.ndarray, np.ndarray, str]]:
    """The paper's Figure 7 data: per band, the % of images whose second mask has more energy."""
    radial, angular = _partitions(store, contents, bands)
    results = []
    for name, first, second, description in _exceedance_pairs(contents, reference):
        a, b = store.load_image_masks(first), store.load_image_masks(second)
        common = [i for i in a.ids if i in set(b.ids)]
        if not common:
            continue
        masks_1, masks_2 = a.select(common).masks, b.select(common).masks
        radial_pct = per_image_exceedance(masks_1, masks_2, radial)
        angular_pct = per_image_exceedance(masks_1, masks_2, angular)
        table = Table.build(
            f"exceedance-{name}",
            f"Images whose band energy is higher for {description}",
            [
                ("band", "index"),
                ("radial from", "cycles/image"),
                ("radial", "%"),
                ("angular from", "degrees"),
                ("angular", "%"),
            ],
            notes=f"{len(common)} images.",
        )
        for k in range(bands):
            table.add_row(
                k, float(radial.edges[k]), float(radial_pct[k]), float(angular.edges[k]), float(angular_pct[k])
            )
        results.append((table, radial_pct, angular_pct, description))
    return results


def cluster_table(
    store: ResultsStore, group: str, probe: ProbeResult, seed: int = 0
) -> tuple[Table, dict[str, np.ndarray]]:
    """UMAP of the probe's outputs (the paper's Figure 8) and of the masks themselves."""
    masks, inputs, meta = _image_masks(store, group)
    score_xy = umap_embedding(probe.scores, seed=seed)
    mask_xy = umap_embedding(mask_features(masks[probe.index]), seed=seed)
    ids = inputs["ids"][probe.index]
    names = meta.get("class_names") or [str(k) for k in range(int(probe.labels.max()) + 1)]
    label = _group_label(group)
    table = Table.build(
        f"umap-{label}",
        f"UMAP of the single-image masks of {label}",
        [
            ("image", ""),
            ("predicted class", ""),
            ("probe umap x", "1"),
            ("probe umap y", "1"),
            ("mask umap x", "1"),
            ("mask umap y", "1"),
        ],
    )
    for k, image_id in enumerate(ids.tolist()):
        table.add_row(
            image_id,
            names[int(probe.labels[k])],
            float(score_xy[k, 0]),
            float(score_xy[k, 1]),
            float(mask_xy[k, 0]),
            float(mask_xy[k, 1]),
        )
    arrays = {
        "ids": ids,
        "labels": probe.labels,
        "probe_scores": probe.scores,
        "probe_xy": score_xy,
        "mask_xy": mask_xy,
    }
    store.save_arrays(f"umap-{label}", **arrays)
    return table, arrays


@dataclass
class ReportResult:
    tables: dict[str, Table] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    cancelled: bool = False


def write_report(
    store: ResultsStore,
    *,
    val: ImageSet | None = None,
    bands: int = 32,
    reference: str = "N",
    seed: int = 0,
    make_figures: bool = True,
    examples: int = 6,
    device: torch.device | str = "cpu",
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ReportResult:
    """Every table, energy, cluster and figure the run's contents allow, saved into the store."""
    contents = discover(store)
    models = _Models(store, torch.device(device))
    result = ReportResult()
    val = val if val is not None else (validation_set(store) if contents.dataset_masks else None)
    reporter = ProgressReporter("report", 7, on_progress, cancel)

    def keep(table: Table | None) -> Table | None:
        if table is not None:
            store.save_table(table)
            result.tables[table.name] = table
        return table  # so that the steps below can call keep() inside expressions

    probes: dict[str, ProbeResult] = {}
    exceedance: list[tuple[str, np.ndarray, np.ndarray, str]] = []
    steps = [
        (
            "Table 1",
            lambda: (
                keep(dataset_mask_table(store, contents, models, val, reference))
                if val is not None and contents.dataset_masks
                else None
            ),
        ),
        (
            "Table 2",
            lambda: (
                keep(single_image_table(store, contents, models, reference)) if contents.clean_image_masks else None
            ),
        ),
        ("Table 3", lambda: _probe_step(store, contents, models, seed, probes, keep)),
        (
            "stability and energies",
            lambda: (
                [keep(stability_table(store, contents))]
                + [keep(t) for t in energy_tables(store, contents, bands, reference)]
            ),
        ),
        ("per-image comparisons", lambda: _exceedance_step(store, contents, bands, reference, exceedance, keep)),
        (
            "clusters",
            lambda: [
                keep(cluster_table(store, group, probes[_group_label(group)], seed)[0])
                for group in contents.clean_image_masks.values()
                if _group_label(group) in probes
            ],
        ),
        (
            "findings",
            lambda: keep(findings_table(result.tables, _kept_fractions(store, contents), reference=reference)),
        ),
    ]
    for k, (name, step) in enumerate(steps):
        if reporter.cancelled:
            result.cancelled = True
            return result
        reporter.report(k, name)
        step()
    if make_figures:
        result.figures = write_figures(
            store, contents, models, bands=bands, reference=reference, exceedance=exceedance, examples=examples
        )
    reporter.report(len(steps), "done")
    return result


def _kept_fractions(store: ResultsStore, contents: RunContents) -> dict[str, np.ndarray]:
    """Each model's single-image kept fractions on clean images (every stored mask), as the
    engine recorded them with the masks."""
    return {
        model: store.load_image_masks(group).arrays["kept_fraction"]
        for model, group in contents.clean_image_masks.items()
    }


def _probe_step(store, contents, models, seed, probes, keep) -> None:
    if contents.image_groups():
        table, found = probe_table(store, contents, models, seed)
        probes.update(found)
        keep(table)


def _exceedance_step(store, contents, bands, reference, exceedance, keep) -> None:
    if not (contents.dataset_masks or contents.image_groups()):
        return
    for table, radial_pct, angular_pct, description in exceedance_tables(store, contents, bands, reference):
        keep(table)
        exceedance.append((table.name, radial_pct, angular_pct, description))


def write_figures(
    store: ResultsStore,
    contents: RunContents,
    models: _Models,
    *,
    bands: int = 32,
    reference: str = "N",
    exceedance=(),
    examples: int = 6,
) -> list[str]:
    """The standard figures for whatever the run holds; returns their names."""
    made: list[str] = []
    folder = store.figures_dir

    def save(fig, name: str) -> None:
        figures.save_figure(fig, folder, name, write=store.write_derived)
        made.append(name)

    set_models = _ordered(contents.dataset_masks, reference)
    set_masks = {m: store.load_set_mask(contents.dataset_masks[m]) for m in set_models}
    if set_masks:
        save(figures.masks_figure(set_masks, "Dataset masks"), "set-masks")
        radial, angular = _partitions(store, contents, bands)
        first = set_masks.get(reference, next(iter(set_masks.values())))
        save(figures.partitions_figure(first.shape[-2:], bands, first), "partitions")
        others = [m for m in set_models if m != reference] if reference in set_masks else []
        if others:
            save(
                figures.differences_figure(
                    {f"{m} − {reference}": centred_difference(set_masks[m], set_masks[reference]) for m in others},
                    "Dataset mask differences (centred)",
                ),
                "set-mask-differences",
            )
            save(
                figures.energy_figure(
                    {
                        f"{m} − {reference}": mask_energies(set_masks[m], radial)
                        - mask_energies(set_masks[reference], radial)
                        for m in others
                    },
                    {
                        f"{m} − {reference}": mask_energies(set_masks[m], angular)
                        - mask_energies(set_masks[reference], angular)
                        for m in others
                    },
                    radial.edges,
                    "Energy differences per band",
                ),
                "energy-differences",
            )
        history = store.mask_meta(contents.dataset_masks[set_models[0]]).get("history") or {}
        if history.get("kept_fraction"):
            save(
                figures.curves_figure(
                    {
                        "invariance": history["invariance"],
                        "kept fraction": history["kept_fraction"],
                        "masked accuracy": history["masked_accuracy"],
                    },
                    title=f"Dataset mask convergence (model {set_models[0]})",
                ),
                f"set-mask-convergence-{set_models[0]}",
            )
    if exceedance:
        radial, _ = _partitions(store, contents, bands)
        for name, radial_pct, angular_pct, description in exceedance:
            save(
                figures.exceedance_figure(
                    radial_pct, angular_pct, radial.edges, f"Images with more band energy: {description}"
                ),
                name,
            )
    for model in _ordered(contents.clean_image_masks, reference):
        group = contents.clean_image_masks[model]
        masks, inputs, meta = _image_masks(store, group)
        save(
            _examples_figure(store, contents, models[model], model, masks, inputs, meta, examples),
            f"single-image-examples-{model}",
        )
        if model in contents.class_masks:
            save(
                _class_figure(store.load_class_masks(contents.class_masks[model]), masks, inputs, meta, model),
                f"class-and-image-masks-{model}",
            )
        arrays_name = f"umap-{_group_label(group)}"
        if store.path(f"data/{arrays_name}.npz").exists():
            arrays = store.load_arrays(arrays_name)
            names = meta.get("class_names") or [str(k) for k in range(int(arrays["labels"].max()) + 1)]
            save(
                figures.embedding_figure(
                    arrays["probe_xy"], arrays["labels"], names, f"UMAP of linear-probe outputs ({model})"
                ),
                f"umap-probe-{model}",
            )
            save(
                figures.embedding_figure(
                    arrays["mask_xy"], arrays["labels"], names, f"UMAP of single-image masks ({model})"
                ),
                f"umap-masks-{model}",
            )
    return made


def _examples_figure(store, contents, model: Classifier, name: str, masks, inputs, meta, examples: int):
    """Rows of x, its spectrum, M, M(x), Mᶜ(x) and, when available, x_A and M(x_A)."""
    count = min(examples, len(masks))
    index = np.linspace(0, len(masks) - 1, count).round().astype(int)
    x = torch.from_numpy(inputs["images"][index])
    m = torch.from_numpy(masks[index])
    component = (meta.get("config") or {}).get("component", "magnitude")
    filtered = filter_images(x, m, model.normalization, component)
    complement = filter_images(x, complement_mask(m), model.normalization, component)
    adversarial = adversarial_images(store, contents, name, inputs["ids"][index].tolist())
    rows = []
    for k in range(count):
        row = {
            "x": x[k].numpy(),
            "log |F(x)|": x[k].numpy(),
            "M": m[k].numpy(),
            "M(x)": filtered[k].numpy(),
            "Mc(x)": complement[k].numpy(),
        }
        if adversarial is not None:
            row["x_A"] = adversarial[k].numpy()
            row["M(x_A)"] = filter_images(adversarial[k : k + 1], m[k : k + 1], model.normalization, component)[
                0
            ].numpy()
        rows.append(row)
    names = meta.get("class_names") or []
    labels = [names[int(inputs["labels"][i])] if names else str(int(inputs["labels"][i])) for i in index]
    return figures.filtered_examples_figure(rows, labels)


def _class_figure(class_masks: dict[int, np.ndarray], masks, inputs, meta, model: str, per_class: int = 3):
    """The paper's Figure 5 (top): each class mask next to single-image masks of that class."""
    names = meta.get("class_names") or [str(k) for k in sorted(class_masks)]
    grid = {}
    for k in sorted(class_masks):
        grid[f"{names[k]} (class)"] = class_masks[k]
        rows = np.flatnonzero(inputs["mask_targets"] == k)[:per_class]
        grid.update({f"{names[k]} #{j + 1}": masks[r] for j, r in enumerate(rows)})
    return figures.masks_figure(grid, f"Class masks and single-image masks (model {model})", columns=per_class + 1)
