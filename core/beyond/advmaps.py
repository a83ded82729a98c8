"""Adversarial frequency maps and their correlation with essential maps (Basile et al., seed ``002``).

For images a model classifies correctly, the *essential* map keeps the clean prediction.
For those an attack flips, the *adversarial* map of ``x_A`` keeps the adversarial (wrong)
prediction. Pairs where both masks keep their prediction are compared: per-image cosine
similarity of the flattened maps, IdCor between the two sets with a permutation p-value
(:mod:`.idcor`), and the mean difference map. By default the maps use Basile et al.'s
objective (:meth:`~fourier_masks.core.masks.ImageMaskConfig.basile`).

Everything is stored as it is made (groups ``image/<model>-essential`` and
``image/<model>-advmap-<attack>``), so the analysis resumes like any other per-image job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..attacks.adversarial import ATTACKS, MAX_SEED, AttackConfig, attack_images
from ..data.images import ImageSet
from ..errors import ConfigError
from ..masks.config import ImageMaskConfig
from ..models.classifier import Classifier, predict
from ..progress import CancelToken, ProgressCallback
from ..runs.executors import run_mask_units
from ..runs.groups import plan_image_masks
from ..runs.store import ResultsStore
from ..tables import Table
from .idcor import IdCorResult, idcor

# Below this many pairs the TwoNN dimensions behind IdCor are not estimable (it is reported as missing).
MIN_IDCOR_PAIRS = 20


MAX_PERMUTATIONS = 10_000_000  # of IdCor's p-value; each one re-estimates an intrinsic dimension


@dataclass(frozen=True)
class AdversarialMapsConfig:
    """``attacks``: the attacks to compare (PGD and one other, as in the paper);
    ``masks`` None: Basile et al.'s objective at the images' size."""

    attacks: tuple[str, ...] = ("pgd", "fgsm")
    attack: AttackConfig = AttackConfig()
    masks: ImageMaskConfig | None = None
    permutations: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [a for a in self.attacks if a not in ATTACKS]
        if unknown or not self.attacks:
            raise ConfigError(f"attacks must name one or more of {', '.join(ATTACKS)}, got {list(self.attacks)}")
        if not 0 <= self.permutations <= MAX_PERMUTATIONS:
            raise ConfigError(
                f"permutations must be in [0, {MAX_PERMUTATIONS}], got {self.permutations}; the default 100 resolves "
                "p-values down to 0.01"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cosine_similarity(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two stacks of masks."""
    a = first.reshape(len(first), -1).astype(np.float64)
    b = second.reshape(len(second), -1).astype(np.float64)
    denominator = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide((a * b).sum(axis=1), denominator, out=np.zeros(len(a)), where=denominator > 0)


@dataclass
class AttackComparison:
    attack: str
    flipped: int
    ids: list[str]
    essential: np.ndarray
    adversarial: np.ndarray
    cosine: np.ndarray
    idcor: IdCorResult | None
    labels: np.ndarray
    clean_predictions: np.ndarray
    adversarial_predictions: np.ndarray

    @property
    def mean_difference(self) -> np.ndarray:
        """Mean adversarial map minus mean essential map, ``(Cm, H, W)`` stored layout."""
        return self.adversarial.mean(axis=0) - self.essential.mean(axis=0)


@dataclass
class AdversarialMapsResult:
    model: str
    essential_group: str
    comparisons: dict[str, AttackComparison] = field(default_factory=dict)
    cancelled: bool = False

    def table(self) -> Table:
        table = Table.build(
            f"adversarial-maps-{self.model}",
            f"Essential vs adversarial frequency maps of model {self.model}",
            [
                ("attack", ""),
                ("images flipped", "count"),
                ("pairs compared", "count"),
                ("mean cosine", "1"),
                ("cosine std", "1"),
                ("IdCor", "1"),
                ("IdCor p-value", "1"),
                ("ID essential", "1"),
                ("ID adversarial", "1"),
                ("ID joint", "1"),
            ],
            notes="Pairs: images the model classifies correctly, the attack flips, and whose two maps both keep "
            "their prediction. IdCor p-value from shuffling one set's rows; IdCor needs hundreds of pairs "
            f"(with few, intrinsic dimensions are underestimated and the p-value is uninformative; below "
            f"{MIN_IDCOR_PAIRS} it is not computed).",
        )
        for name, c in self.comparisons.items():
            r = c.idcor
            nan = float("nan")
            table.add_row(
                name,
                c.flipped,
                len(c.ids),
                float(c.cosine.mean()) if len(c.ids) else nan,
                float(c.cosine.std()) if len(c.ids) else nan,
                r.correlation if r else nan,
                r.p_value if r else nan,
                r.dimension_1 if r else nan,
                r.dimension_2 if r else nan,
                r.dimension_joint if r else nan,
            )
        return table

    def pair_table(self, attack: str, class_names) -> Table:
        c = self.comparisons[attack]
        table = Table.build(
            f"adversarial-maps-{self.model}-{attack}",
            f"Per-image map similarity ({attack})",
            [
                ("image", ""),
                ("label", ""),
                ("clean prediction", ""),
                ("adversarial prediction", ""),
                ("cosine similarity", "1"),
            ],
        )
        for k, image_id in enumerate(c.ids):
            table.add_row(
                image_id,
                class_names[c.labels[k]],
                class_names[c.clean_predictions[k]],
                class_names[c.adversarial_predictions[k]],
                float(c.cosine[k]),
            )
        return table


def adversarial_maps(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    images: ImageSet,
    *,
    config: AdversarialMapsConfig = AdversarialMapsConfig(),
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    cluster: str | None = None,
) -> AdversarialMapsResult:
    """Learn essential and adversarial maps of ``images`` and compare them (see module doc)."""
    if (images.labels < 0).any():
        raise ConfigError("adversarial maps need labelled images (to know which attacks succeed)")
    masks = config.masks or ImageMaskConfig.basile(images.image_size)
    clean_prediction = predict(model, images.images)[1]
    correct = torch.nonzero(clean_prediction == images.labels).flatten()
    if len(correct) < 4:
        raise ConfigError(
            f"the model classifies only {len(correct)} of the images correctly; adversarial maps need more"
        )
    clean = images.subset(correct)
    result = AdversarialMapsResult(model=model_name, essential_group=f"image/{model_name}-essential")
    units = plan_image_masks(
        store,
        result.essential_group,
        clean,
        model_name=model_name,
        config=masks,
        inputs="clean",
        role="essential",
        dataset=images.name,
    )
    # Every attack first, so the essential and adversarial masks share one queue.
    attacked: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for method in config.attacks:
        attack = dataclasses.replace(config.attack, method=method)
        adversarial = attack_images(
            model, clean.images, clean.labels, config=attack, device=device, on_progress=on_progress, cancel=cancel
        )
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            return result
        adversarial_prediction = predict(model, adversarial)[1]
        flipped = torch.nonzero(adversarial_prediction != clean.labels).flatten()
        attacked[method] = adversarial_prediction, flipped
        if len(flipped):
            flipped_set = dataclasses.replace(clean.subset(flipped), images=adversarial[flipped])
            units += plan_image_masks(
                store,
                _adversarial_group(model_name, method),
                flipped_set,
                model_name=model_name,
                config=masks,
                inputs="adversarial",
                role="adversarial-map",
                pairs_with=result.essential_group,
                attack=attack.to_dict(),
            )
    run = run_mask_units(store, units, model, device=device, on_progress=on_progress, cancel=cancel, cluster=cluster)
    if run is not None and run.cancelled:
        result.cancelled = True
        return result
    essential = store.load_image_masks(result.essential_group)
    for method, (adversarial_prediction, flipped) in attacked.items():
        result.comparisons[method] = _compare(
            store,
            _adversarial_group(model_name, method),
            essential,
            clean,
            clean_prediction[correct],
            adversarial_prediction,
            flipped,
            method,
            config,
        )
    return result


def _adversarial_group(model_name: str, method: str) -> str:
    return f"image/{model_name}-advmap-{method}"


def _compare(
    store,
    group,
    essential,
    clean: ImageSet,
    clean_prediction,
    adversarial_prediction,
    flipped,
    method: str,
    config: AdversarialMapsConfig,
) -> AttackComparison:
    empty = np.zeros((0, *essential.masks.shape[1:]), np.float32)
    no_pairs = AttackComparison(
        method, len(flipped), [], empty, empty, np.zeros(0), None, np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
    )
    if not len(flipped) or not store.finished_ids(group):
        return no_pairs
    adversarial = store.load_image_masks(group)
    kept_essential = {i for i, kept in zip(essential.ids, essential.arrays["prediction_kept"]) if kept}
    ids = [i for i, kept in zip(adversarial.ids, adversarial.arrays["prediction_kept"]) if kept and i in kept_essential]
    if not ids:
        return no_pairs
    first, second = essential.select(ids).masks, adversarial.select(ids).masks
    position = {image_id: k for k, image_id in enumerate(clean.ids)}
    rows = [position[i] for i in ids]
    result = (
        idcor(
            first.reshape(len(ids), -1),
            second.reshape(len(ids), -1),
            permutations=config.permutations,
            seed=config.seed,
        )
        if len(ids) >= MIN_IDCOR_PAIRS
        else None
    )
    return AttackComparison(
        attack=method,
        flipped=len(flipped),
        ids=ids,
        essential=first,
        adversarial=second,
        cosine=cosine_similarity(first, second),
        idcor=result,
        labels=clean.labels[rows].numpy(),
        clean_predictions=clean_prediction[rows].numpy(),
        adversarial_predictions=adversarial_prediction[rows].numpy(),
    )
