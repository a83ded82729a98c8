"""Training the models to compare (METHOD.md §4).

Adam with a one-cycle schedule (max lr 1e-3, 10 % warm-up, down to ~0), batch 128, up to
50 epochs, keeping the weights with the lowest validation loss. Every variant uses the base
transform (random resized crop + horizontal flip); the variants add adversarial examples
(PGD), random scale, translation or rotation.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..attacks.adversarial import AttackConfig, make_attack
from ..data.images import ImageSet
from ..data.pixels import Pixels
from ..errors import ConfigError, NonFiniteError
from ..models.architectures import build_classifier
from ..models.classifier import Classifier, ModelInfo, frozen
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..tables import Table
from .augment import AUGMENTATIONS, AugmentConfig, augment_batch
from .jafr import frequency_bias

# The paper's one-letter names of the model variants.
AUGMENTATION_CODES = {"none": "N", "adversarial": "A", "scale": "S", "translation": "T", "rotation": "R"}


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model; defaults are the published ones.

    ``mean``/``std`` empty: computed per channel from the training images (as the paper
    normalised with its training set's statistics). ``pgd`` ε is in [0, 1] pixel units.
    ``crop_scale`` is torchvision's ``RandomResizedCrop`` default. ``jafr_lambda`` ≠ 0 adds
    Jacobian frequency regularisation (:mod:`.jafr`; published 0.001 on CIFAR).
    """

    arch: str = "small_cnn"
    augmentation: str = "none"
    epochs: int = 50
    batch_size: int = 128
    max_lr: float = 1e-3
    pct_start: float = 0.1
    weight_decay: float = 0.0
    crop_scale: tuple[float, float] = (0.08, 1.0)
    hflip: bool = True
    scale_range: tuple[float, float] = (0.5, 1.5)
    translate: float = 0.4
    rotate_deg: float = 180.0
    pgd: AttackConfig = AttackConfig()
    jafr_lambda: float = 0.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        check(
            self.augmentation in AUGMENTATIONS,
            f"augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}",
        )
        check(self.epochs >= 1, f"epochs must be ≥ 1, got {self.epochs}")
        check(self.batch_size >= 1, f"batch size must be ≥ 1, got {self.batch_size}")
        check(np.isfinite(self.max_lr) and self.max_lr > 0, f"learning rate must be > 0, got {self.max_lr}")
        check(0 < self.pct_start < 1, f"pct_start must lie in (0, 1), got {self.pct_start}")
        check(self.weight_decay >= 0, f"weight decay must be ≥ 0, got {self.weight_decay}")
        check(
            0 < self.crop_scale[0] <= self.crop_scale[1] <= 1,
            f"crop_scale must satisfy 0 < lo ≤ hi ≤ 1, got {self.crop_scale}",
        )
        check(0 < self.scale_range[0] <= self.scale_range[1], f"scale range must be positive, got {self.scale_range}")
        check(0 <= self.translate <= 1, f"translate must lie in [0, 1], got {self.translate}")
        check(0 <= self.rotate_deg <= 180, f"rotate_deg must lie in [0, 180], got {self.rotate_deg}")
        check(len(self.mean) == len(self.std), "mean and std need the same number of values")
        check(np.isfinite(self.jafr_lambda), f"λ_freq must be a finite number, got {self.jafr_lambda}")

    @property
    def code(self) -> str:
        return AUGMENTATION_CODES[self.augmentation]

    def augment_config(self) -> AugmentConfig:
        return AugmentConfig(
            variant=self.augmentation,
            crop_scale=self.crop_scale,
            hflip=self.hflip,
            scale_range=self.scale_range,
            translate=self.translate,
            rotate_deg=self.rotate_deg,
        )

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """The best-validation-loss model and the per-epoch metrics of the run."""

    model: Classifier
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    cancelled: bool = False


@torch.no_grad()
def evaluate_loss(model: Classifier, data: ImageSet, batch_size: int, device: torch.device) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``data``."""
    loss_sum, correct = 0.0, 0
    with frozen(model):
        for start in range(0, len(data), batch_size):
            x = data.images[start : start + batch_size].to(device)
            y = data.labels[start : start + batch_size].to(device)
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    return loss_sum / len(data), correct / len(data)


def _channel_stats(images: torch.Tensor, batch: int = 1024) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation, a batch at a time (streamed sets stay streamed)."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, images.shape[0], batch):
        x = images[start : start + batch].double()
        total += x.sum(dim=(0, 2, 3))
        squares += (x * x).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = ((squares - count * mean**2) / max(1, count - 1)).clamp_min(0).sqrt().clamp_min(1e-3)
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def _check_data(train: ImageSet, val: ImageSet) -> None:
    if len(train) == 0 or len(val) == 0:
        raise ConfigError("training and validation sets must both hold images")
    if train.class_names != val.class_names:
        raise ConfigError("training and validation sets have different classes")
    if train.images.shape[1:] != val.images.shape[1:]:
        raise ConfigError(
            f"training images are {tuple(train.images.shape[1:])} but validation images are "
            f"{tuple(val.images.shape[1:])}"
        )
    if (train.labels < 0).any() or (val.labels < 0).any():
        raise ConfigError("training needs a label for every image")
    for name, data in (("training", train), ("validation", val)):
        if not isinstance(data.images, Pixels) and not torch.isfinite(data.images).all():
            raise NonFiniteError(f"the {name} images contain NaN or Inf values; check how they were made or loaded")


def train_model(
    train: ImageSet,
    val: ImageSet,
    *,
    config: TrainConfig = TrainConfig(),
    name: str = "",
    device: torch.device | str = "cpu",
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainResult:
    """Train ``config.arch`` on ``train``, keeping the weights with the lowest loss on ``val``.

    Cancelling stops after the current batch and returns the best model so far (or the
    current weights if no epoch finished), marked ``cancelled``.

    Progress counts batches; its payload holds plain floats for live curves: after each batch
    its ``batch_loss`` and ``batch_accuracy`` and the epoch's running ``train_loss`` and
    ``train_accuracy``, at ``epochs_done`` (a fractional epoch); at each epoch's end the epoch's
    row (``val_loss``, ``val_accuracy``, ``train_loss``, ``train_accuracy``, ``lr``, ``seconds``);
    every event names the ``model`` (so a tracker tells the models of one job apart).
    """
    _check_data(train, val)
    device = torch.device(device)
    if config.mean:
        mean, std = config.mean, config.std
        if len(mean) != train.channels:
            raise ConfigError(f"{len(mean)} normalisation values given for {train.channels}-channel images")
    else:
        mean, std = _channel_stats(train.images)
    info = ModelInfo(
        arch=config.arch,
        in_channels=train.channels,
        num_classes=train.num_classes,
        image_size=train.image_size,
        mean=mean,
        std=std,
        class_names=train.class_names,
        name=name or f"{config.arch}-{config.code}",
        training={**config.to_dict(), "dataset": train.name, "train_images": len(train)},
    )
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        model = build_classifier(info).to(device)
        attack = make_attack(model, config.pgd) if config.augmentation == "adversarial" else None
        optimizer = torch.optim.Adam(model.parameters(), lr=config.max_lr, weight_decay=config.weight_decay)
        batches = -(-len(train) // config.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.max_lr, total_steps=max(2, config.epochs * batches), pct_start=config.pct_start
        )
        reporter = ProgressReporter("train", config.epochs * batches, on_progress, cancel)
        augment = config.augment_config()
        history: list[dict[str, float]] = []
        best_state, best_loss, best_epoch = None, float("inf"), 0
        cancelled = False
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            model.train()
            order = torch.randperm(len(train), generator=generator)
            loss_sum, correct, seen, bias_sum = 0.0, 0, 0, 0.0
            for b, start in enumerate(range(0, len(train), config.batch_size)):
                index = order[start : start + config.batch_size]
                x = augment_batch(train.images[index], augment, generator).to(device)
                y = train.labels[index].to(device)
                if attack is not None:
                    x = attack(x, y)  # the attack evaluates in eval mode and restores train mode
                if config.jafr_lambda:
                    x = x.detach().requires_grad_(True)
                logits = model(x)
                cross_entropy = F.cross_entropy(logits, y)
                loss = cross_entropy
                if config.jafr_lambda:
                    (gradient,) = torch.autograd.grad(cross_entropy, x, create_graph=True)
                    bias = frequency_bias(gradient)
                    bias_sum += bias.item() * len(index)
                    loss = cross_entropy - config.jafr_lambda * bias
                if not torch.isfinite(loss):
                    raise _diverged(config, "loss", loss.item(), epoch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                batch_loss, hits = cross_entropy.item(), (logits.argmax(1) == y).sum().item()
                loss_sum += batch_loss * len(index)
                correct += hits
                seen += len(index)
                reporter.report(
                    (epoch - 1) * batches + b + 1,
                    f"{info.name} epoch {epoch}/{config.epochs}",
                    model=info.name,
                    epoch=epoch,
                    epochs_done=epoch - 1 + (b + 1) / batches,
                    train_loss=loss_sum / seen,
                    train_accuracy=correct / seen,
                    batch_loss=batch_loss,
                    batch_accuracy=hits / len(index),
                )
                if reporter.cancelled:
                    cancelled = True
                    break
            if cancelled:
                break
            val_loss, val_accuracy = evaluate_loss(model, val, 256, device)
            if not np.isfinite(val_loss):  # no epoch could be the best one: there is no model to keep
                raise _diverged(config, "validation loss", val_loss, epoch)
            row: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": loss_sum / seen,
                "train_accuracy": correct / seen,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "lr": float(scheduler.get_last_lr()[0]),  # a float: Adam got a float lr
                "seconds": time.perf_counter() - started,
            }
            if config.jafr_lambda:
                row["frequency_bias"] = bias_sum / seen
            history.append(row)
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            reporter.report(
                epoch * batches,
                f"{info.name} epoch {epoch}: val acc {val_accuracy:.1%}",
                model=info.name,
                epochs_done=float(epoch),
                **row,
            )
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    best = history[best_epoch - 1] if best_epoch else {}
    model.info = info.replace(
        metrics={
            "best_epoch": best_epoch,
            "val_loss": best.get("val_loss"),
            "val_accuracy": best.get("val_accuracy"),
            "epochs_run": len(history),
            "cancelled": cancelled,
        }
    )
    return TrainResult(model=model, history=history, best_epoch=best_epoch, cancelled=cancelled)


def _diverged(config: TrainConfig, what: str, value: float, epoch: int) -> NonFiniteError:
    """Training that went to NaN or Inf: too large a learning rate (or frequency weight) made
    the weights blow up, the only cause left once the data was checked finite."""
    culprit = f"--lr {config.max_lr:g}" + (f" or --jafr {config.jafr_lambda:g}" if config.jafr_lambda else "")
    return NonFiniteError(
        f"training diverged ({what} {value} in epoch {epoch} at {culprit}); "
        f"lower {'--lr' if not config.jafr_lambda else '--lr or --jafr'}"
    )


def history_table(name: str, augmentation: str, history: list[dict[str, float]]) -> Table:
    """Per-epoch training metrics as a table (``training-<name>``), with the JaFR bias value
    per epoch when the model was trained with it."""
    jafr = any("frequency_bias" in row for row in history)
    columns = [
        ("epoch", "count"),
        ("train loss", "nats"),
        ("train accuracy", "%"),
        ("val loss", "nats"),
        ("val accuracy", "%"),
        ("learning rate", "1"),
        ("time", "s"),
    ]
    table = Table.build(
        f"training-{name}",
        f"Training of model {name} ({augmentation})",
        columns + ([("JaFR bias v", "1")] if jafr else []),
    )
    for row in history:
        values = [
            row["epoch"],
            row["train_loss"],
            100 * row["train_accuracy"],
            row["val_loss"],
            100 * row["val_accuracy"],
            row["lr"],
            row["seconds"],
        ]
        table.add_row(*values, *([row["frequency_bias"]] if jafr else []))
    return table
