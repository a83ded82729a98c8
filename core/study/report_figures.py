"""The standard figures of a run, drawn from what its store holds."""

from __future__ import annotations

import numpy as np
import torch

from .. import figures
from ..models.classifier import Classifier
from ..runs.groups import group_label
from ..runs.store import ResultsStore
from ..spectra.energy import (
    centred_difference,
    mask_energies,
)
from ..spectra.fourier import complement_mask, filter_images
from .contents import (
    RunContents,
    RunModels,
    adversarial_images,
    aligned_image_masks,
    partitions,
    reference_first,
)


def write_figures(
    store: ResultsStore,
    contents: RunContents,
    models: RunModels,
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

    set_models = reference_first(contents.dataset_masks, reference)
    set_masks = {m: store.load_set_mask(contents.dataset_masks[m]) for m in set_models}
    if set_masks:
        save(figures.masks_figure(set_masks, "Dataset masks"), "set-masks")
        radial, angular = partitions(store, contents, bands)
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
        radial, _ = partitions(store, contents, bands)
        for name, radial_pct, angular_pct, description in exceedance:
            save(
                figures.exceedance_figure(
                    radial_pct, angular_pct, radial.edges, f"Images with more band energy: {description}"
                ),
                name,
            )
    for model in reference_first(contents.clean_image_masks, reference):
        group = contents.clean_image_masks[model]
        masks, inputs, meta = aligned_image_masks(store, group)
        save(
            _examples_figure(store, contents, models[model], model, masks, inputs, meta, examples),
            f"single-image-examples-{model}",
        )
        if model in contents.class_masks:
            save(
                _class_figure(store.load_class_masks(contents.class_masks[model]), masks, inputs, meta, model),
                f"class-and-image-masks-{model}",
            )
        arrays_name = f"umap-{group_label(group)}"
        if store.path(f"data/{arrays_name}.npz").exists():
            arrays = store.load_arrays(arrays_name)
            names = meta.get("class_names") or [str(k) for k in range(int(arrays["labels"].max()) + 1)]
            save(
                figures.embedding_figure(
                    arrays["probe_xy"], arrays["labels"], names, f"UMAP of out-of-fold linear-probe outputs ({model})"
                ),
                f"umap-probe-{model}",
            )
            if "shuffled_xy" in arrays:
                save(
                    figures.embedding_figure(
                        arrays["shuffled_xy"],
                        arrays["labels"],
                        names,
                        f"The same for permuted labels: the control ({model})",
                    ),
                    f"umap-probe-permuted-{model}",
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
