"""Models by name, from the libraries researchers take them from, with the preprocessing their
authors evaluate them with (:attr:`ModelInfo.preparation`) and their class names.

======================================  ====================================================
``torchvision:<arch>[:<WEIGHTS>]``      torchvision's weights (``DEFAULT`` when not named);
                                        cached in ``torch.hub.get_dir()/checkpoints``
``timm:<name>[.<tag>]``                 timm's pretrained weights from the Hugging Face hub
``hf:<repo-or-folder>``                 a transformers image classifier (hub or folder)
``robustbench:<dataset>/<threat>/<n>``  RobustBench's zoo (``robustbench:imagenet/Linf/Salman2020Do_R50``)
a folder                                timm's (``config.json`` with ``architecture``, and
                                        ``model.safetensors``) or transformers' layout
======================================  ====================================================

Downloads go to each library's own cache, so a model fetched once (here or by the library
itself) is found again offline; a name neither cached nor downloadable fails within seconds
with one line naming the cache and how to fill it. Weights are read as tensors only:
safetensors, or pickles with ``weights_only`` (also inside the libraries' own loaders), and
remote code is never trusted. A torchvision weights file opened by path (``resnet50-11ad3fa6.pth``)
is recognised by its name and gets its model's preprocessing and classes too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import socket
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError, ModelMismatchError, ModelUnavailableError
from ..limits import open_input, shown
from ..logs import notice_once
from ..preparation import INTERPOLATIONS
from .checkpoints import load_model, read_state_dict, weights_only_everywhere
from .classifier import Classifier, ModelInfo, size_problem
from .libraries import LogitsOf, require, robustbench_entry, timm_network

ZOOS = ("torchvision", "timm", "hf", "robustbench")
EXAMPLES = (
    "torchvision:resnet50:IMAGENET1K_V2",
    "timm:resnet50.a1_in1k",
    "hf:microsoft/resnet-50",
    "robustbench:imagenet/Linf/Salman2020Do_R50",
)
NETWORK_TIMEOUT = 15  # seconds a download may wait for the network before it counts as offline


def is_model_name(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` names a model in a zoo (``timm:…``) rather than a file."""
    prefix, colon, rest = str(spec).partition(":")
    return bool(colon) and prefix in ZOOS and bool(rest)


def folder_library(path: Path) -> str | None:
    """``"timm"`` or ``"transformers"`` for a folder in that library's layout, else None."""
    if not (path / "config.json").is_file():
        return None
    try:
        return _library_of(_folder_config(path))
    except CheckpointError:
        return None


_CONFIG_LIMIT = 1 << 20  # bytes; a model's config.json takes a few KB


def _folder_config(path: Path) -> Any:
    """A model folder's ``config.json``, parsed; :class:`CheckpointError` saying why not."""
    config = path / "config.json"
    handle, size = open_input(config, CheckpointError, "a model's config.json")
    with handle:
        if size > _CONFIG_LIMIT:
            raise CheckpointError(f"{shown(config)} is over 1 MiB; a model's config.json takes a few KB")
        text = handle.read(_CONFIG_LIMIT + 1)
    try:
        return json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(
            f"{shown(config)} is not valid JSON ({exc}); fix it or download the model again"
        ) from None


def _library_of(config: Any) -> str | None:
    if isinstance(config, dict) and "architecture" in config:
        return "timm"
    if isinstance(config, dict) and "model_type" in config:
        return "transformers"
    return None


def _check_config_sizes(path: Path, config: dict[str, Any], library: str) -> None:
    """A model folder's sizes, held to :func:`~fourier_masks.core.limits.limits` before its
    library builds a network of them (10⁹ classes would be terabytes of weights). Only the
    bounds are checked here: a malformed or absent size is the library's to report."""

    def mapping(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    def listed(value: Any) -> list[Any]:
        return list(value) if isinstance(value, (list, tuple)) else [value]

    if library == "timm":
        pretrained, model_args = mapping(config.get("pretrained_cfg")), mapping(config.get("model_args"))
        input_size = listed(pretrained.get("input_size"))
        claims = {
            "num_classes": [config.get("num_classes"), pretrained.get("num_classes")],
            "in_channels": [model_args.get("in_chans"), *input_size[:1]],
            "image_size": [*listed(model_args.get("img_size")), *input_size[1:]],
        }
    else:
        claims = {
            "num_classes": [config.get("num_labels"), len(mapping(config.get("id2label"))) or None],
            "in_channels": [config.get("num_channels")],
            "image_size": listed(config.get("image_size")),
        }
    for field, values in claims.items():
        for value in values:  # a malformed or absent value is the library's to report
            problem = size_problem(field, value) if type(value) is int and value > 0 else None
            if problem:
                raise CheckpointError(f"{shown(path / 'config.json')}: {problem}")


def open_model(spec: str | os.PathLike, *, device: torch.device | str = "cpu", **file_options: Any) -> Classifier:
    """A model by name (:data:`ZOOS`), from a timm or transformers folder, or from a file
    (:func:`~.checkpoints.load_model`, which takes ``file_options``), in evaluation mode."""
    text = str(spec)
    if is_model_name(text):
        zoo, _, rest = text.partition(":")
        model = {"torchvision": _torchvision, "timm": _timm, "hf": _transformers, "robustbench": _robustbench}[zoo](
            rest, text
        )
        return model.to(device).eval()
    path = Path(text).expanduser()
    if path.is_dir():
        config = _folder_config(path) if (path / "config.json").exists() else None
        library = _library_of(config)
        if library and isinstance(config, dict):
            _check_config_sizes(path, config, library)
        if library == "timm":
            return _timm_folder(path).to(device).eval()
        if library == "transformers":
            return _transformers(str(path), text).to(device).eval()
        raise CheckpointError(
            f"{path} is a folder but not a timm or Hugging Face model (no config.json naming an architecture "
            "or model_type); give a model file, or a name such as " + " or ".join(EXAMPLES[:2])
        )
    known = torchvision_weights_file(path.name)
    if known is not None and not file_options.get("arch"):
        return _torchvision_model(known[0], known[1], path, f"{path.name} (torchvision {known[0]})").to(device).eval()
    return load_model(path, device=device, **file_options)


# --- the network -----------------------------------------------------------------------------


@contextlib.contextmanager
def _network_timeout(seconds: float = NETWORK_TIMEOUT) -> Iterator[None]:
    """Sockets opened inside give up after ``seconds`` (urllib's own default is to wait forever)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _unreachable(url: str) -> str | None:
    """Why ``url``'s host cannot be reached now (None when it can): a few seconds at most, so an
    offline machine is told at once rather than after a library's retries."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 443), timeout=5):
            return None
    except OSError as exc:
        return _reason(exc)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


# --- torchvision -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _torchvision_files() -> dict[str, tuple[str, str]]:
    """torchvision's weights file names (``resnet50-11ad3fa6.pth``) → (arch, weights name)."""
    import torchvision

    files: dict[str, tuple[str, str]] = {}
    for arch in torchvision.models.list_models(module=torchvision.models):
        try:
            weights = torchvision.models.get_model_weights(arch)
        except (ValueError, KeyError):
            continue
        for member in weights:
            files.setdefault(Path(member.url).name, (arch, member.name))
    return files


def torchvision_weights_file(name: str) -> tuple[str, str] | None:
    """(arch, weights name) of a torchvision ImageNet weights file, from its file name."""
    return _torchvision_files().get(name)


def _torchvision(rest: str, spec: str) -> Classifier:
    import torchvision

    arch, _, name = rest.partition(":")
    try:
        weights_enum = torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        raise ConfigError(
            f"{spec}: torchvision has no classification model {arch!r} with weights (e.g. torchvision:resnet50, "
            "torchvision:vit_b_16:IMAGENET1K_SWAG_E2E_V1)"
        ) from None
    try:
        weights = weights_enum[name or "DEFAULT"]
    except KeyError:
        choices = ", ".join(member.name for member in weights_enum)
        raise ConfigError(f"{spec}: {arch} has no weights {name!r}; choose one of {choices} (or DEFAULT)") from None
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    path = hub / Path(weights.url).name
    if not path.is_file():
        _download(weights.url, path, spec, _torchvision_prefetch(arch, weights.name, hub))
    return _torchvision_model(arch, weights.name, path, spec)


def _torchvision_prefetch(arch: str, weights: str, hub: Path) -> str:
    return (
        f'where online, run python -c "import torchvision; torchvision.models.get_model({arch!r}, '
        f'weights={weights!r})" and copy {hub} here (or point TORCH_HOME at a copy)'
    )


def _download(url: str, path: Path, spec: str, prefetch: str) -> None:
    """``url`` into ``path`` (checked against the hash in torchvision's file names)."""
    match = torch.hub.HASH_REGEX.search(path.name)
    why = _unreachable(url)
    if why is not None:
        raise ModelUnavailableError(
            f"{spec}: its weights ({path.name}) are not in the cache {path.parent} and could not be downloaded "
            f"({why}); {prefetch}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _network_timeout():
            torch.hub.download_url_to_file(url, str(path), hash_prefix=match.group(1) if match else None)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise ModelUnavailableError(
            f"{spec}: its weights ({path.name}) are not in the cache {path.parent} and could not be downloaded "
            f"({_reason(exc)}); {prefetch}"
        ) from None


def _torchvision_model(arch: str, weights_name: str, path: Path, spec: str) -> Classifier:
    import torchvision

    weights = torchvision.models.get_model_weights(arch)[weights_name]
    transform = weights.transforms()
    categories = tuple(weights.meta.get("categories") or ())
    if not hasattr(transform, "crop_size") or not categories:
        raise ConfigError(f"{spec}: {arch} is not an image classifier (its weights have no crop or categories)")
    net = torchvision.models.get_model(arch, weights=None, num_classes=len(categories))
    state_dict = read_state_dict(path)
    try:
        net.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise ModelMismatchError(
            f"{path.name} does not hold the weights of torchvision's {arch} ({_reason(exc)})"
        ) from None
    info = ModelInfo(
        arch=arch,
        in_channels=3,
        num_classes=len(categories),
        image_size=int(transform.crop_size[0]),
        mean=tuple(float(v) for v in transform.mean),
        std=tuple(float(v) for v in transform.std),
        class_names=categories,
        name=f"{arch}.{weights_name}",
        source=f"torchvision:{arch}:{weights_name}",
        resize_size=int(transform.resize_size[0]),
        interpolation=transform.interpolation.value,
    )
    return Classifier(net, info)


# --- timm ----------------------------------------------------------------------------------------


def _hub_file(repo: str, filename: str, spec: str, revision: str | None = None) -> Path:
    """A file of a Hugging Face hub repository from its cache, else downloaded into it."""
    huggingface_hub = require("huggingface_hub", spec)
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(huggingface_hub.hf_hub_download(repo, filename, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    why = _hub_offline()
    if why is None:
        try:
            with _network_timeout():
                return Path(huggingface_hub.hf_hub_download(repo, filename, revision=revision))
        except Exception as exc:  # noqa: BLE001 - the hub raises many types for "not reachable" and "not there"
            why = f"{type(exc).__name__}: {_reason(exc)}"
    raise ModelUnavailableError(
        f"{spec}: {filename} of {repo} is not in the Hugging Face cache {huggingface_hub.constants.HF_HUB_CACHE} "
        f"and could not be downloaded ({why}); where online, run: hf download {repo} {filename}, and copy that "
        "cache here (or point HF_HOME at a copy)"
    )


def _hub_offline() -> str | None:
    """Why the Hugging Face hub cannot be used now (None when it can)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    return _unreachable(constants.ENDPOINT)


def _timm(rest: str, spec: str) -> Classifier:
    timm = require("timm", spec)
    cfg = timm.models.get_pretrained_cfg(rest)
    if cfg is None:
        raise ConfigError(
            f"{spec}: timm has no pretrained weights named {rest!r} (list them with timm.list_pretrained('{rest.split('.')[0]}*'))"
        )
    if cfg.hf_hub_id:
        path = _hub_file(cfg.hf_hub_id, cfg.hf_hub_filename or "model.safetensors", spec)
    elif cfg.url:
        hub = Path(torch.hub.get_dir()) / "checkpoints"
        path = hub / Path(cfg.url).name
        if not path.is_file():
            _download(
                cfg.url,
                path,
                spec,
                f'where online, run python -c "import timm; timm.create_model({rest!r}, pretrained=True)" and copy {hub} here',
            )
    else:
        raise ModelUnavailableError(f"{spec}: timm says nowhere where its weights are")
    with weights_only_everywhere():
        net = timm.create_model(rest, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    build = {"library": "timm", "name": rest, "num_classes": int(net.num_classes)}
    return _timm_classifier(net, build, rest, spec)


def _timm_folder(path: Path) -> Classifier:
    """A folder timm's ``save_for_hf`` / ``push_to_hf_hub`` wrote: config.json, model.safetensors."""
    require("timm", str(path))
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    weights = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{path} has a timm config.json but no model.safetensors beside it")
    arch = str(config["architecture"])
    pretrained_cfg = dict(config.get("pretrained_cfg") or {})
    num_classes = int(config.get("num_classes") or pretrained_cfg.get("num_classes") or 1000)
    model_args = dict(config.get("model_args") or {})
    net = timm_network(arch, num_classes, model_args)
    state_dict = read_state_dict(weights)
    try:
        net.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise ModelMismatchError(f"{weights} does not fit timm's {arch} ({_reason(exc)})") from None
    # what timm's data config reads; an attribute timm's models carry, not a submodule
    net.pretrained_cfg = {**getattr(net, "pretrained_cfg", {}), **pretrained_cfg}  # type: ignore[assignment]
    names = config.get("label_names") or pretrained_cfg.get("label_names")
    build = {"library": "timm", "name": arch, "num_classes": num_classes, "model_args": model_args}
    model = _timm_classifier(net, build, path.name, str(path), names)
    return model


def _timm_classifier(net: nn.Module, build: dict, name: str, spec: str, names: Any = None) -> Classifier:
    timm = require("timm", spec)
    data = timm.data.resolve_data_config({}, model=net)
    channels, size = int(data["input_size"][0]), int(data["input_size"][-1])
    crop_pct = float(data.get("crop_pct") or 1.0)
    interpolation = data.get("interpolation", "bicubic")
    if interpolation not in INTERPOLATIONS:
        interpolation = "bicubic"
    if data.get("crop_mode", "center") != "center":
        notice_once(
            f"crop mode {spec}",
            f"{spec} is evaluated with timm's {data['crop_mode']!r} crop; images are prepared with a centre crop instead",
        )
    num_classes = int(build["num_classes"])
    label_names = tuple(str(n) for n in names) if names and len(names) == num_classes else ()
    info = ModelInfo(
        arch=f"timm:{build['name']}",
        in_channels=channels,
        num_classes=num_classes,
        image_size=size,
        mean=tuple(float(v) for v in data["mean"]),
        std=tuple(float(v) for v in data["std"]),
        class_names=label_names,
        name=name,
        source=spec if spec.startswith("timm:") else "timm folder",
        resize_size=math.floor(size / crop_pct),
        interpolation=interpolation,
        build=build,
    )
    return Classifier(net, info)


# --- transformers -------------------------------------------------------------------------------


def _transformers(rest: str, spec: str) -> Classifier:
    transformers = require("transformers", spec)
    transformers.utils.logging.disable_progress_bar()  # a bar per weights file read from disk
    local = Path(rest).expanduser().is_dir()
    where = str(Path(rest).expanduser()) if local else rest

    def load(local_only: bool) -> tuple[Any, Any]:
        options = {"local_files_only": local_only, "trust_remote_code": False}
        with weights_only_everywhere():
            model = transformers.AutoModelForImageClassification.from_pretrained(where, **options)
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(where, **options)
        except (OSError, ValueError):
            processor = None
        return model, processor

    try:
        model, processor = load(local_only=True)
    except (OSError, ValueError) as exc:
        if local:
            raise CheckpointError(f"{where} is not a Hugging Face image classifier ({_reason(exc)})") from None
        why = _hub_offline()
        if why is None:
            try:
                with _network_timeout():
                    model, processor = load(local_only=False)
            except (OSError, ValueError) as online:
                why = _reason(online)
        if why is not None:
            from huggingface_hub import constants

            raise ModelUnavailableError(
                f"{spec}: {rest} is not in the Hugging Face cache {constants.HF_HUB_CACHE} and could not be "
                f"downloaded ({why}); where online, run: hf download {rest}, and copy that cache here "
                "(or give the model's folder)"
            ) from None
    config = model.config
    size, resize, interpolation = _processor_preparation(processor, spec)
    id2label = getattr(config, "id2label", None) or {}
    labels = tuple(str(id2label[k]) for k in sorted(id2label)) if id2label else ()
    if labels and all(label == f"LABEL_{k}" for k, label in enumerate(labels)):
        labels = ()
    mean = tuple(float(v) for v in getattr(processor, "image_mean", None) or (0.5, 0.5, 0.5))
    std = tuple(float(v) for v in getattr(processor, "image_std", None) or (0.5, 0.5, 0.5))
    if processor is not None and getattr(processor, "do_normalize", True) is False:
        mean, std = (0.0,) * len(mean), (1.0,) * len(std)
    settings = json.loads(config.to_json_string(use_diff=False))  # as the run's metadata will hold it
    settings.pop("_name_or_path", None)
    info = ModelInfo(
        arch=f"hf:{config.model_type}",
        in_channels=int(getattr(config, "num_channels", 3)),
        num_classes=int(config.num_labels),
        image_size=size,
        mean=mean,
        std=std,
        class_names=labels,
        name=Path(rest).name if local else rest.replace("/", "-"),
        source="transformers folder" if local else spec,
        resize_size=resize,
        interpolation=interpolation,
        build={"library": "transformers", "config": settings},
    )
    return Classifier(LogitsOf(model), info)


_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _processor_preparation(processor: Any, spec: str) -> tuple[int, int, str]:
    """(crop, resize, interpolation) from a transformers image processor."""
    if processor is None:
        notice_once(f"no processor {spec}", f"{spec} has no image processor; it is given 224-px images, no crop")
        return 224, 0, "bilinear"
    size = dict(getattr(processor, "size", None) or {})
    crop = dict(getattr(processor, "crop_size", None) or {})
    interpolation = _PIL_RESAMPLE.get(int(getattr(processor, "resample", 2) or 2), "bilinear")
    if "shortest_edge" in size:
        edge = int(size["shortest_edge"])
        crop_pct = getattr(processor, "crop_pct", None)
        if crop_pct and edge < 384:  # ConvNeXt's processor: resize edge/crop_pct, crop edge
            return edge, math.floor(edge / float(crop_pct)), interpolation
        if getattr(processor, "do_center_crop", False) and crop:
            return int(crop["height"]), edge, interpolation
        return edge, 0, interpolation
    height = int(size.get("height") or crop.get("height") or 224)
    if size.get("width") not in (None, height):
        raise ConfigError(f"{spec} takes {height}×{size['width']} images; only square inputs are supported")
    notice_once(
        f"squash {spec}",
        f"{spec} resizes whole images to {height}×{height} (no crop); images are prepared with the shorter side "
        f"to {height} and a centre crop, the same for square images",
    )
    return height, 0, interpolation


# --- RobustBench ---------------------------------------------------------------------------------

# RobustBench's ImageNet models are evaluated on 224-px centre crops of 256-px resizes
# (its "Res256Crop224"); its CIFAR models take the 32-px images as they are. Their networks
# normalise inside, so they take [0, 1] pixels.
_ROBUSTBENCH_PREPARATION = {"imagenet": (224, 256), "cifar10": (32, 0), "cifar100": (32, 0)}


def _robustbench(rest: str, spec: str) -> Classifier:
    """RobustBench's own loader (which knows each entry's checkpoint quirks), with every
    ``torch.load`` in it forced to ``weights_only`` and the network checked offline first."""
    parts = rest.split("/")
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"{spec}: write robustbench:<dataset>/<threat>/<name>, e.g. {EXAMPLES[3]}")
    dataset, threat, name = parts
    robustbench_entry(dataset, threat, name)  # an unknown name is refused before anything is fetched
    import robustbench

    model_dir = Path(os.environ.get("ROBUSTBENCH_MODELS", "models"))
    path = model_dir / dataset / threat / f"{name}.pt"
    prefetch = (
        f'where online, run python -c "import robustbench; robustbench.load_model({name!r}, dataset={dataset!r}, '
        f'threat_model={threat!r})" and copy its models/ folder here (or set ROBUSTBENCH_MODELS to it)'
    )
    why = None if path.is_file() else _unreachable("https://drive.google.com")
    if why is not None:
        raise ModelUnavailableError(f"{spec}: {path} is not there and could not be downloaded ({why}); {prefetch}")
    try:
        with _network_timeout(), weights_only_everywhere():
            net = robustbench.load_model(name, model_dir=str(model_dir), dataset=dataset, threat_model=threat)
    except Exception as exc:  # noqa: BLE001 - RobustBench raises many types for files it cannot fetch or read
        detail = f"{type(exc).__name__}: {_reason(exc)}"
        if not path.is_file():
            raise ModelUnavailableError(f"{spec}: {path} could not be downloaded ({detail}); {prefetch}") from None
        raise CheckpointError(f"{spec}: RobustBench could not load {path} ({detail})") from None
    size, resize = _ROBUSTBENCH_PREPARATION.get(dataset, (224, 256))
    num_classes = {"cifar10": 10, "cifar100": 100}.get(dataset, 1000)
    info = ModelInfo(
        arch=f"robustbench:{name}",
        in_channels=3,
        num_classes=num_classes,
        image_size=size,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        class_names=_cifar10_names() if dataset == "cifar10" else (),
        name=name,
        source=spec,
        resize_size=resize,
        build={"library": "robustbench", "dataset": dataset, "threat": threat, "name": name},
    )
    return Classifier(net, info)


def _cifar10_names() -> tuple[str, ...]:
    return ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


__all__ = ["EXAMPLES", "ZOOS", "folder_library", "is_model_name", "open_model", "torchvision_weights_file"]
