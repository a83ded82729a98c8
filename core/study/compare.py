"""The study's comparison of models it did not train: the user's own checkpoints, compared on
one validation set (Table 1, energies, differences and, with single-image masks, Tables 2–3
and the per-image comparisons)."""

from __future__ import annotations

import torch

from ..data.datasets import DataRequest
from ..errors import ConfigError
from ..masks.config import ImageMaskConfig, SetMaskConfig
from ..models.classifier import Classifier, common_input
from ..progress import CancelToken, ProgressCallback
from ..runs.classes import evaluation_request, fit_classes
from ..runs.manifest import DataRecord
from ..runs.store import ResultsStore
from ..runs.workflows import learn_image_masks_into_run, learn_set_mask_into_run
from .report import ReportResult, write_report


def compare_models(
    store: ResultsStore,
    models: dict[str, Classifier],
    *,
    data: DataRequest,
    set_config: SetMaskConfig,
    images_per_class: int,
    image_config: ImageMaskConfig,
    device: torch.device | str,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ReportResult | None:
    """Dataset masks of every model learned on one half of ``data``'s validation images
    (:meth:`~fourier_masks.core.data.ImageSet.halves`; Table 1 measures them on the other), and, when
    ``images_per_class`` > 0, single-image masks of that many images per class), then the
    comparison tables. The first model is the reference. Masks already in the run are kept;
    the run records ``data`` as its data. None when cancelled (what finished is kept)."""
    if not models:
        raise ConfigError("load at least one model to compare")
    infos = {name: model.info for name, model in models.items()}
    preparation, channels = common_input(infos)
    data = evaluation_request(data, infos)
    val = fit_classes(data.validation(preparation, channels), infos)
    store.record_data(DataRecord.of(data, preparation, channels), replace=True)
    learning_half, _ = val.halves()
    for name, model in models.items():
        if store.has_masks(f"set/{name}"):
            continue
        result = learn_set_mask_into_run(
            store,
            f"set/{name}",
            name,
            model,
            learning_half,
            config=set_config,
            device=device,
            on_progress=on_progress,
            cancel=cancel,
        )
        if result.cancelled:
            return None
    if images_per_class > 0:
        subset = val.balanced_subset(images_per_class)
        for name, model in models.items():
            masks = learn_image_masks_into_run(
                store,
                f"image/{name}-clean",
                name,
                model,
                subset,
                config=image_config,
                device=device,
                cluster=cluster,
                on_progress=on_progress,
                cancel=cancel,
            )
            if masks is not None and masks.cancelled:
                return None
    return write_report(
        store,
        val=val,
        make_figures=False,
        reference=next(iter(models)),
        device=device,
        on_progress=on_progress,
        cancel=cancel,
    )
