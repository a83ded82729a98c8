"""Networks from the optional model libraries (timm, transformers, RobustBench), built from a
description (:attr:`ModelInfo.build`) with freshly initialised weights: how a zoo model kept
in a run is rebuilt before its saved weights go in. Nothing here downloads or reads weights
(:mod:`.zoo` does).

Each library is an optional extra: ``pip install 'fourier-masks[zoo]'`` for timm and
transformers, ``'fourier-masks[robustbench]'`` for RobustBench (kept apart: RobustBench 1.1.1
pins ``timm==1.0.9``).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ModelUnavailableError

EXTRAS = {"timm": "zoo", "transformers": "zoo", "robustbench": "robustbench"}


def require(library: str, what: str) -> ModuleType:
    """The library's module, or :class:`ModelUnavailableError` saying which extra installs it."""
    try:
        return importlib.import_module(library)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"{what} needs {library}, which is not installed ({exc}); install it with: "
            f"pip install 'fourier-masks[{EXTRAS[library]}]'"
        ) from None


class LogitsOf(nn.Module):
    """A transformers image classifier as a plain ``images → logits`` network."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).logits


def timm_network(name: str, num_classes: int, model_args: dict[str, Any] | None = None) -> nn.Module:
    timm = require("timm", f"timm model {name!r}")
    try:
        return timm.create_model(name, pretrained=False, **{**(model_args or {}), "num_classes": num_classes})
    except RuntimeError as exc:  # timm's "Unknown model"
        raise ConfigError(f"timm has no model {name!r} ({exc})") from None


def transformers_network(config: dict[str, Any]) -> nn.Module:
    transformers = require("transformers", "a Hugging Face model")
    settings = dict(config)
    model_type = settings.pop("model_type", None)
    if not model_type:
        raise ConfigError("a Hugging Face model description lacks its model_type")
    hf_config = transformers.AutoConfig.for_model(model_type, **settings)
    return LogitsOf(transformers.AutoModelForImageClassification.from_config(hf_config))


def robustbench_network(dataset: str, threat: str, name: str) -> nn.Module:
    """The architecture of a RobustBench entry, from its model zoo table (no weights)."""
    return robustbench_entry(dataset, threat, name)["model"]()


def robustbench_entry(dataset: str, threat: str, name: str) -> dict[str, Any]:
    """RobustBench's model zoo entry (its ``model`` builder, ``gdrive_id``, ...)."""
    require("robustbench", f"RobustBench model {name!r}")
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    try:
        entries = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat)]
    except (ValueError, KeyError):
        raise ConfigError(
            f"RobustBench has no {dataset}/{threat} models; datasets are cifar10, cifar100, imagenet and "
            "threats Linf, L2, corruptions"
        ) from None
    if name not in entries:
        near = ", ".join(sorted(entries)[:6])
        raise ConfigError(f"RobustBench has no {dataset}/{threat} model {name!r} (e.g. {near})")
    return entries[name]


def network_from_build(build: dict[str, Any]) -> nn.Module:
    """A network as :attr:`ModelInfo.build` describes it, freshly initialised."""
    library = build.get("library")
    if library == "timm":
        return timm_network(build["name"], int(build["num_classes"]), build.get("model_args"))
    if library == "transformers":
        return transformers_network(build["config"])
    if library == "robustbench":
        return robustbench_network(build["dataset"], build["threat"], build["name"])
    raise ConfigError(f"unknown model library {library!r} in the model's details")
