"""Set masks: one mask for a whole set of images (the dataset mask) or for each class
(METHOD.md §1), learned with true labels."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.pixels import take_rows
from ..errors import ConfigError
from ..models.architectures import fused_for_inference
from ..models.classifier import Classifier, frozen, model_device, run_checked
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..spectra.fourier import apply_mask_to_spectrum
from .config import SetMaskConfig, adam_safe, check_images, diverged
from .results import SetMaskResult, quantised


def learn_set_mask(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: SetMaskConfig = SetMaskConfig(),
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    stage: str = "set-mask",
) -> SetMaskResult:
    """Learn one mask for a whole set (the validation set, or one class) with true labels.

    Progress counts batches out of ``max_epochs``' worth; the stop rule may end the mask
    sooner, so the work left (and the ETA) is an upper bound. Every event names the ``model``
    (so a tracker tells the set masks of a study's models apart)."""
    check_images(images, model)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if labels.shape != (images.shape[0],):
        raise ConfigError(f"expected {images.shape[0]} labels, got shape {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= model.info.num_classes:
        raise ConfigError(
            f"labels must lie in [0, {model.info.num_classes - 1}] for this model; "
            "does the dataset match the model's classes?"
        )
    device = torch.device(device) if device is not None else model_device(model)
    n, c, h, w = images.shape
    batch = min(config.batch_size, n)
    batches_per_epoch = -(-n // batch)
    reporter = ProgressReporter(stage, config.max_epochs * batches_per_epoch, on_progress, cancel)
    generator = torch.Generator().manual_seed(config.seed)
    history: dict[str, list[float]] = {"loss": [], "invariance": [], "kept_fraction": [], "masked_accuracy": []}
    snapshots: list[np.ndarray] = []

    with frozen(model):
        model.to(device)
        net = fused_for_inference(model.net)
        normalization = model.normalization
        clean_loss, accuracy = _clean_loss_and_accuracy(net, normalization, images, labels, batch, device)
        mask = torch.ones((1, c if config.per_channel else 1, h, w), device=device, requires_grad=True)
        optimizer = torch.optim.Adam([mask], lr=config.lr)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=max(2, config.max_epochs * batches_per_epoch),
            pct_start=config.pct_start,
        )
        calm_epochs = 0
        prev_kept = float("inf")
        masked_accuracy = float("nan")
        converged = cancelled = False
        epoch = 0
        accurate_mask: tuple[torch.Tensor, float, int] | None = None  # mask, masked accuracy, epoch
        for epoch in range(1, config.max_epochs + 1):
            order = torch.randperm(n, generator=generator)
            loss_sum = invariance_sum = 0.0
            for b, start in enumerate(range(0, n, batch)):
                index = order[start : start + batch]
                x = normalization(images[index].to(device))
                y = labels[index].to(device)
                logits = net(apply_mask_to_spectrum(torch.fft.fft2(x), mask, config.component))
                ce = F.cross_entropy(logits, y, reduction="none")
                invariance = torch.exp((ce - clean_loss[index.to(device)]) ** 2).mean()
                loss = invariance + config.lam * mask.mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                assert mask.grad is not None  # backward() has just set it
                if not (torch.isfinite(loss) & adam_safe(mask.grad)).all():
                    what = (
                        f"the loss became {loss.item():g}"
                        if not torch.isfinite(loss)
                        else "the loss's gradient overflowed"
                    )
                    raise diverged(config, f"{what} in epoch {epoch}, batch {b + 1}")
                optimizer.step()
                scheduler.step()
                with torch.no_grad():
                    mask.clamp_(0.0, 1.0)
                loss_sum += loss.item() * len(index)
                invariance_sum += invariance.item() * len(index)
                if reporter.wants_payload:
                    reporter.report(
                        (epoch - 1) * batches_per_epoch + b + 1,
                        f"epoch {epoch}/{config.max_epochs}",
                        left_is_bound=True,
                        model=model.info.name,
                        mask=mask.detach()[0].cpu().numpy().copy(),
                        epoch=epoch,
                        loss=loss.item(),
                        invariance=invariance.item(),
                        kept_fraction=mask.detach().mean().item(),
                    )
                if reporter.cancelled:
                    cancelled = True
                    break
            kept = mask.detach().mean().item()
            masked_accuracy = _masked_accuracy(
                net, normalization, images, labels, mask.detach(), batch, device, config.component
            )
            history["loss"].append(loss_sum / n)
            history["invariance"].append(invariance_sum / n)
            history["kept_fraction"].append(kept)
            history["masked_accuracy"].append(masked_accuracy)
            snapshots.append(quantised(mask.detach()[0]))
            if cancelled:
                break
            accurate = masked_accuracy >= config.accuracy_ratio * accuracy
            if accurate:
                accurate_mask = (mask.detach().clone(), masked_accuracy, epoch)
            calm_epochs = calm_epochs + 1 if accurate and abs(kept - prev_kept) <= config.kept_tol else 0
            prev_kept = kept
            if reporter.wants_payload:
                reporter.report(
                    epoch * batches_per_epoch,
                    f"epoch {epoch}: masked accuracy {masked_accuracy:.1%}, kept {kept:.3f}",
                    left_is_bound=True,
                    model=model.info.name,
                    mask=mask.detach()[0].cpu().numpy().copy(),
                    epoch=epoch,
                    masked_accuracy=masked_accuracy,
                    accuracy=accuracy,
                    kept_fraction=kept,
                )
            if calm_epochs >= config.patience:
                converged = True
                break
    final, epoch_kept = mask.detach(), epoch
    if not converged and not cancelled and accurate_mask is not None:
        final, masked_accuracy, epoch_kept = accurate_mask
    final_mask = final[0].cpu().numpy()
    return SetMaskResult(
        mask=final_mask,
        accuracy=accuracy,
        masked_accuracy=masked_accuracy,
        kept_fraction=float(final_mask.mean()),
        epochs=epoch,
        converged=converged,
        epoch_kept=epoch_kept,
        config=config,
        history=history,
        num_images=n,
        accuracy_met=accurate_mask is not None,
        cancelled=cancelled,
        snapshots=np.stack(snapshots) if snapshots else None,
    )


@torch.no_grad()
def _clean_loss_and_accuracy(net, normalization, images, labels, batch, device) -> tuple[torch.Tensor, float]:
    losses, correct = [], 0
    for start in range(0, images.shape[0], batch):
        x = normalization(images[start : start + batch].to(device))
        y = labels[start : start + batch].to(device)
        logits = run_checked(net, x, "on the clean images")
        losses.append(F.cross_entropy(logits, y, reduction="none"))
        correct += (logits.argmax(1) == y).sum().item()
    return torch.cat(losses), correct / images.shape[0]


@torch.no_grad()
def _masked_accuracy(net, normalization, images, labels, mask, batch, device, component) -> float:
    correct = 0
    for start in range(0, images.shape[0], batch):
        x = normalization(images[start : start + batch].to(device))
        logits = net(apply_mask_to_spectrum(torch.fft.fft2(x), mask, component))
        correct += (logits.argmax(1) == labels[start : start + batch].to(device)).sum().item()
    return correct / images.shape[0]


def learn_class_masks(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: SetMaskConfig = SetMaskConfig(),
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[int, SetMaskResult]:
    """One set mask per class present in ``labels``, each learned on that class's images.

    ``config`` is the dataset mask's: each class holds 1/K of the set, so a class mask's batch
    is ``batch_size // K`` (at least 8), which gives it as many optimiser steps per epoch as
    the dataset mask gets; each result's ``config`` records the batch used."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    results: dict[int, SetMaskResult] = {}
    names = model.info.labels()
    classes = sorted(set(labels.tolist()))
    config = config.replace(batch_size=max(8, config.batch_size // max(1, len(classes))))
    for k in classes:
        select = labels == k
        results[k] = learn_set_mask(
            model,
            take_rows(images, select),
            labels[select],
            config=config,
            device=device,
            on_progress=on_progress,
            cancel=cancel,
            stage=f"class-mask {names[k] if k < len(names) else k}",
        )
        if results[k].cancelled:
            break
    return results
