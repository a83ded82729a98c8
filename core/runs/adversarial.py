"""Adversarial images kept in a run: ``data/adversarial-<model>.npz``, one writer and one reader.

The file holds the images attacked (their ids and true labels) and the attacked images, with
the attack that made them, so Table 2's ``X_A`` columns, the figures and a resumed study read
the very images the masks were learned from. Files written before the attack was recorded
(``eps_pixel`` only) still read; a file missing what every version wrote is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..attacks.adversarial import AttackConfig, attack_images
from ..data.images import ImageSet
from ..errors import ConfigError, OutputError
from ..models.classifier import Classifier
from ..progress import CancelToken, ProgressCallback
from .store import ResultsStore


@dataclass
class AdversarialImages:
    """Attacked images of ``model``, row for row with ``ids``. ``labels`` are the true labels
    (None in files of older studies); ``attack`` is what made them (None in older files, which
    recorded ``eps`` only)."""

    model: str
    ids: list[str]
    images: np.ndarray
    labels: np.ndarray | None
    eps: float
    attack: AttackConfig | None

    def rows(self, ids: list[str]) -> np.ndarray | None:
        """The images of ``ids`` in that order, or None when any is missing."""
        position = {image_id: k for k, image_id in enumerate(self.ids)}
        if not all(i in position for i in ids):
            return None
        return self.images[[position[i] for i in ids]]


def _name(model: str) -> str:
    return f"adversarial-{model}"


def save_adversarial_images(
    store: ResultsStore, model: str, clean: ImageSet, adversarial: torch.Tensor, attack: AttackConfig
) -> Path:
    """Keep ``adversarial`` (the attacked ``clean`` images, row for row) in the run."""
    if adversarial.shape != clean.images.shape:
        raise ValueError(f"adversarial images {tuple(adversarial.shape)} for images {tuple(clean.images.shape)}")
    return store.save_arrays(
        _name(model),
        images=adversarial.numpy().astype(np.float32),
        ids=np.array(clean.ids, dtype=str),
        labels=clean.labels.numpy(),
        eps_pixel=np.float64(attack.eps),
        attack=np.array(json.dumps(attack.to_dict())),
    )


def load_adversarial_images(store: ResultsStore, model: str) -> AdversarialImages | None:
    """The adversarial images of ``model`` kept in the run, or None when it keeps none."""
    path = store.path(f"data/{_name(model)}.npz")
    if not path.exists():
        return None
    try:
        arrays = store.load_arrays(_name(model))
        images, ids = arrays["images"], arrays["ids"].tolist()
        labels = arrays.get("labels")
        attack = AttackConfig(**json.loads(str(arrays["attack"]))) if "attack" in arrays else None
        eps = float(arrays["eps_pixel"])
    except (KeyError, ValueError, TypeError, OSError, ConfigError) as exc:
        raise OutputError(f"{path} is damaged or incomplete ({exc}); delete it to attack the images again") from None
    if images.ndim != 4 or len(images) != len(ids) or (labels is not None and len(labels) != len(ids)):
        raise OutputError(f"{path} holds {len(images)} images for {len(ids)} ids; delete it to attack them again")
    return AdversarialImages(model=model, ids=ids, images=images, labels=labels, eps=eps, attack=attack)


def adversarial_images_in_run(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    clean: ImageSet,
    *,
    attack: AttackConfig,
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> torch.Tensor | None:
    """The adversarial counterparts of ``clean`` under ``attack``: those the run keeps when
    they were made by this attack from these images, else attacked now and kept. None when
    cancelled (nothing is kept)."""
    kept = load_adversarial_images(store, model_name)
    if kept is not None and kept.ids == list(clean.ids):
        same_attack = kept.attack == attack if kept.attack is not None else bool(np.isclose(kept.eps, attack.eps))
        if same_attack:
            return torch.from_numpy(kept.images)
    adversarial = attack_images(
        model, clean.images, clean.labels, config=attack, device=device, on_progress=on_progress, cancel=cancel
    )
    if cancel is not None and cancel.is_set():
        return None
    save_adversarial_images(store, model_name, clean, adversarial, attack)
    return adversarial
