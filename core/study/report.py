"""The report of a run: Tables 1–3, seed stability, energies, per-image comparisons, clusters,
the findings and (:mod:`.report_figures`) the figures, from what the run's store holds.

Everything here reads the store (models, mask groups and their metadata) rather than
in-memory state, so the study, the command line's ``evaluate``/``energy``/``clusters``/
``report`` and the app compute the same things the same way, and a run can be analysed again
long after it was made. The *reference* model (default ``N``, the vanilla one) is what others
are compared with.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.images import ImageSet
from ..errors import ConfigError
from ..masks.config import SetMaskConfig
from ..masks.inference import correctly_classified
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..runs.groups import group_label
from ..runs.store import ResultsStore
from ..spectra.energy import (
    mask_energies,
    per_image_exceedance,
)
from ..tables import Table
from .contents import (
    RunContents,
    RunModels,
    adversarial_images,
    aligned_image_masks,
    discover,
    mask_component,
    partitions,
    reference_first,
    validation_set,
)
from .controls import control_evaluation, controls_table
from .findings import ImageMaskOutcomes, findings_table
from .paper_tables import DatasetMaskRow, single_image_evaluation, table1, table2, table3
from .probe import ProbeResult, linear_probe, mask_features, mask_stability, umap_embedding
from .report_figures import write_figures
from .report_html import write_report_page


def dataset_mask_table(
    store: ResultsStore, contents: RunContents, models: RunModels, val: ImageSet, reference: str = "N"
) -> Table:
    """Table 1 over every model with a dataset mask, with how each mask's learning ended."""
    rows = []
    for model in reference_first(contents.dataset_masks, reference):
        group = contents.dataset_masks[model]
        meta = store.mask_meta(group)
        rows.append(
            DatasetMaskRow(
                name=model,
                model=models[model],
                mask=store.load_set_mask(group),
                component=mask_component(store, group),
                stop_rule_met=meta.get("converged"),
                epoch_kept=_epoch_kept(meta),
                epochs=meta.get("epochs"),
                learned_on=frozenset(meta["learned_on"]) if "learned_on" in meta else None,
            )
        )
    return table1(rows, val)


def _epoch_kept(meta: dict[str, Any]) -> int | None:
    """The epoch whose mask a set-mask group holds: recorded as ``epoch_kept``; for masks saved
    without it (earlier runs), recovered from the per-epoch history by the rule
    :func:`~fourier_masks.core.masks.learn_set_mask` applies (the last epoch, unless the stop rule was never
    met and an earlier epoch was the last to reach the accuracy bar); None for masks saved with
    no record of their learning (the store takes a set mask with only its model named)."""
    if "epoch_kept" in meta:
        return int(meta["epoch_kept"])
    curve = meta.get("history", {}).get("masked_accuracy")
    if curve is None or not all(key in meta for key in ("accuracy", "epochs", "converged")):
        return None
    bar = meta.get("config", {}).get("accuracy_ratio", SetMaskConfig().accuracy_ratio) * meta["accuracy"]
    accurate = [e for e, value in enumerate(curve, 1) if value >= bar]
    return int(meta["epochs"]) if meta["converged"] or not accurate else accurate[-1]


def controls_for_images(
    store: ResultsStore, contents: RunContents, models: RunModels, reference: str = "N", seed: int = 0
) -> Table:
    """The single-image quantities with each image's own mask beside the controls
    (:mod:`.controls`), for every model with clean single-image masks."""
    rows = []
    for model in reference_first(contents.clean_image_masks, reference):
        group = contents.clean_image_masks[model]
        masks, inputs, _ = aligned_image_masks(store, group)
        rows += control_evaluation(
            model,
            models[model],
            torch.from_numpy(inputs["images"]),
            torch.from_numpy(inputs["labels"]),
            masks,
            adversarial_images(store, contents, model, inputs["ids"].tolist()),
            component=mask_component(store, group),
            seed=seed,
        )
    return controls_table(rows)


def single_image_table(store: ResultsStore, contents: RunContents, models: RunModels, reference: str = "N") -> Table:
    """Table 2 for every model with clean single-image masks, over the images it classifies
    correctly (X_A columns when the run holds adversarial images of the same images for that
    model)."""
    evaluations = []
    for model in reference_first(contents.clean_image_masks, reference):
        group = contents.clean_image_masks[model]
        masks, inputs, _ = aligned_image_masks(store, group)
        adversarial = adversarial_images(store, contents, model, inputs["ids"].tolist())
        evaluations.append(
            single_image_evaluation(
                model,
                models[model],
                torch.from_numpy(inputs["images"]),
                torch.from_numpy(inputs["labels"]),
                masks,
                adversarial,
                component=mask_component(store, group),
            )
        )
    return table2(evaluations)


def correct_rows(
    store: ResultsStore, contents: RunContents, models: RunModels, inputs: dict[str, np.ndarray], meta: dict[str, Any]
) -> np.ndarray | str:
    """Rows of a per-image group (as :func:`aligned_image_masks` aligns them) whose clean image the
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
        return (
            "unlabelled images: which are classified correctly is unknown (the probe needs labelled images, "
            "e.g. a folder with one sub-folder per class)"
        )
    position = {i: k for k, i in enumerate(source["ids"].tolist())}
    ids = inputs["ids"].tolist()
    rows = np.array([r for r, i in enumerate(ids) if i in position], dtype=np.int64)
    take = [position[ids[r]] for r in rows]
    correct = correctly_classified(
        models[model], torch.from_numpy(source["images"][take]), torch.from_numpy(source["labels"][take])
    )
    return rows[correct]


def probe_table(
    store: ResultsStore, contents: RunContents, models: RunModels, seed: int = 0
) -> tuple[Table, dict[str, ProbeResult]]:
    """Table 3: the linear probe (labels = predicted classes) for every per-image group, on the
    masks of the images its model classifies correctly. A probe's ``index`` points at rows of
    the whole group (as :func:`aligned_image_masks` reads it).

    A group with too few such masks (fewer than two classes with two masks each) gets a row
    saying so instead of numbers."""
    probes: dict[str, ProbeResult] = {}
    rows: list[tuple[str, int | str, ProbeResult | str]] = []
    for group in contents.image_groups():
        label = group_label(group)
        masks, inputs, meta = aligned_image_masks(store, group)
        correct = correct_rows(store, contents, models, inputs, meta)
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


def energy_tables(store: ResultsStore, contents: RunContents, bands: int = 32, reference: str = "N") -> list[Table]:
    """Per-band radial and angular energy of every dataset mask, and differences from the reference."""
    models = reference_first(contents.dataset_masks, reference)
    if not models:
        return []
    masks = {m: store.load_set_mask(contents.dataset_masks[m]) for m in models}
    others = [m for m in models if m != reference] if reference in masks else []
    tables = []
    for partition in partitions(store, contents, bands):
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


def energy_shift_table(
    store: ResultsStore, contents: RunContents, bands: int = 32, reference: str = "N"
) -> Table | None:
    """Σ of the radial energy difference below and above half the axis Nyquist frequency, for
    every model's dataset mask against the reference's, and for the reference's masks learned
    with other data-order seeds against each other: the seed-to-seed spread is the noise floor
    a model's shift is judged against (:mod:`.findings`)."""
    if reference not in contents.dataset_masks:
        return None
    radial, _ = partitions(store, contents, bands)
    # Bands run from the centre to the corner, at √2 times the Nyquist frequency along an axis.
    cut = float(radial.edges[-1]) / math.sqrt(2) / 2
    low = np.asarray(radial.edges[1:]) <= cut + 1e-9
    table = Table.build(
        "energy-shift",
        f"Dataset-mask energy moved below / above {cut:.1f} cycles/image, against model {reference}",
        [("comparison", ""), ("kind", ""), ("below", "1"), ("above", "1"), ("cut", "cycles/image")],
        notes=(
            "Σ over radial bands of (energy of the first mask − energy of the second), below and above half the "
            "Nyquist frequency along an axis. kind 'augmentation': a model against the reference; 'seed': the "
            "reference model's dataset masks learned with different data-order seeds (the noise floor)."
        ),
    )

    def sums(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
        delta = mask_energies(first, radial) - mask_energies(second, radial)
        return float(delta[low].sum()), float(delta[~low].sum())

    base = store.load_set_mask(contents.dataset_masks[reference])
    for model in reference_first(contents.dataset_masks, reference)[1:]:
        table.add_row(
            f"{model} - {reference}",
            "augmentation",
            *sums(store.load_set_mask(contents.dataset_masks[model]), base),
            cut,
        )
    seeded = [contents.dataset_masks[reference], *sorted(contents.stability_masks.get(reference, []))]
    seeds = [store.mask_meta(g)["config"]["seed"] for g in seeded]
    for i in range(len(seeded)):
        for j in range(i + 1, len(seeded)):
            first, second = store.load_set_mask(seeded[j]), store.load_set_mask(seeded[i])
            table.add_row(f"{reference} seed {seeds[j]} - seed {seeds[i]}", "seed", *sums(first, second), cut)
    return table


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
    radial, angular = partitions(store, contents, bands)
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
    """UMAP of the probe's out-of-fold outputs (the paper's Figure 8), of the same for permuted
    labels (its control: no class structure should survive) and of the masks themselves."""
    masks, inputs, meta = aligned_image_masks(store, group)
    score_xy = umap_embedding(probe.scores, seed=seed)
    shuffled_xy = umap_embedding(probe.shuffled_scores, seed=seed)
    mask_xy = umap_embedding(mask_features(masks[probe.index]), seed=seed)
    ids = inputs["ids"][probe.index]
    names = meta.get("class_names") or [str(k) for k in range(int(probe.labels.max()) + 1)]
    label = group_label(group)
    table = Table.build(
        f"umap-{label}",
        f"UMAP of the single-image masks of {label}",
        [
            ("image", ""),
            ("predicted class", ""),
            ("probe umap x", "1"),
            ("probe umap y", "1"),
            ("shuffled-label umap x", "1"),
            ("shuffled-label umap y", "1"),
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
            float(shuffled_xy[k, 0]),
            float(shuffled_xy[k, 1]),
            float(mask_xy[k, 0]),
            float(mask_xy[k, 1]),
        )
    arrays = {
        "ids": ids,
        "labels": probe.labels,
        "probe_scores": probe.scores,
        "probe_xy": score_xy,
        "shuffled_scores": probe.shuffled_scores,
        "shuffled_xy": shuffled_xy,
        "mask_xy": mask_xy,
    }
    store.save_arrays(f"umap-{label}", **arrays)
    return table, arrays


# The share of the report's time each step takes, in seconds of the quick demo on a 2-core
# CPU (the linear probe's 200 permutations, UMAP and the figures dominate): the report's
# progress counts these, so its ETA is not fooled by six quick tables before a slow one.
STEP_COST = {
    "Table 1": 1.0,
    "Table 2 and its controls": 1.0,
    "Table 3": 32.0,
    "stability and energies": 0.5,
    "per-image comparisons": 0.5,
    "clusters": 16.0,
    "findings": 0.2,
    "figures": 29.0,
    "report page": 0.3,
}


@dataclass
class ReportResult:
    tables: dict[str, Table] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    page: Path | None = None  # report.html, written with the figures
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
    """Every table, energy, cluster and figure the run's contents allow, saved into the store;
    with the figures (``make_figures``), the whole report as one page, ``report.html``.

    Progress: a ``report`` event as each step starts (the tables, …, the figures), its work
    counted in :data:`STEP_COST`."""
    contents = discover(store)
    models = RunModels(store, torch.device(device))
    result = ReportResult()
    val = val if val is not None else (validation_set(store) if contents.dataset_masks else None)

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
            "Table 2 and its controls",
            lambda: (
                [
                    keep(single_image_table(store, contents, models, reference)),
                    keep(controls_for_images(store, contents, models, reference, seed)),
                ]
                if contents.clean_image_masks
                else None
            ),
        ),
        ("Table 3", lambda: _probe_step(store, contents, models, seed, probes, keep)),
        (
            "stability and energies",
            lambda: (
                [keep(stability_table(store, contents)), keep(energy_shift_table(store, contents, bands, reference))]
                + [keep(t) for t in energy_tables(store, contents, bands, reference)]
            ),
        ),
        ("per-image comparisons", lambda: _exceedance_step(store, contents, bands, reference, exceedance, keep)),
        (
            "clusters",
            lambda: [
                keep(cluster_table(store, group, probes[group_label(group)], seed)[0])
                for group in contents.clean_image_masks.values()
                if group_label(group) in probes
            ],
        ),
        (
            "findings",
            lambda: keep(
                findings_table(
                    result.tables, _image_masks(store, contents), reference=reference, data=_data_spec(store)
                )
            ),
        ),
    ]
    if make_figures:

        def figures() -> None:
            result.figures = write_figures(
                store, contents, models, bands=bands, reference=reference, exceedance=exceedance, examples=examples
            )

        steps.append(("figures", figures))
        # The whole report on one page that opens offline (:mod:`.report_html`).

        def page() -> None:
            result.page = write_report_page(store, result.tables, result.figures)

        steps.append(("report page", page))
    reporter = ProgressReporter("report", len(steps), on_progress, cancel)
    costs = [STEP_COST.get(name, 1.0) for name, _ in steps]
    for k, (name, step) in enumerate(steps):
        if reporter.cancelled:
            result.cancelled = True
            return result
        reporter.report(k, name, work_done=sum(costs[:k]), work_left=sum(costs[k:]))
        step()
    reporter.report(len(steps), "done", work_done=sum(costs), work_left=0.0)
    return result


def _image_masks(store: ResultsStore, contents: RunContents) -> dict[str, ImageMaskOutcomes]:
    """Each model's single-image kept fractions on clean images (every stored mask) and whether
    each mask kept the prediction, as the engine recorded them with the masks."""
    outcomes = {}
    for model, group in contents.clean_image_masks.items():
        arrays = store.load_image_masks(group).arrays
        kept = arrays.get("prediction_kept")
        outcomes[model] = ImageMaskOutcomes(arrays["kept_fraction"], None if kept is None else kept.astype(bool))
    return outcomes


def _data_spec(store: ResultsStore) -> str | None:
    record = store.manifest.data
    return None if record is None else record.spec


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
