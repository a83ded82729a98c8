"""Saving and loading models, including untrusted files from elsewhere.

Formats read
    - ours: ``torch.save`` of ``{"format": "fourier-masks/checkpoint", "info": <json>,
      "state_dict": ...}``, with everything needed to rebuild and use the model;
    - a plain ``state_dict`` of a known architecture (ours or any torchvision classifier),
      possibly nested under a key (``state_dict``, ``model``...) and with ``module.`` /
      ``model.`` prefixes from DataParallel or wrappers;
    - ``.safetensors`` files (tensors only): ours carry the model's details in the file's
      metadata; others are a plain state_dict, described by a JSON file beside them
      (``<name>.json``, see :func:`safetensors_sidecar`) or by the caller's arguments;
    - TorchScript files and ``torch.export`` programs (``.pt2``).

Refused with a message naming them and the way to convert them: ONNX models (nothing to
backpropagate through) and PyTorch Lightning checkpoints whose hyper-parameters hold Python
objects.

Safety: pickled files load only with ``weights_only=True``, so opening a file never runs
Python code from it; a file that would need code to load is refused with
:class:`UnsafeCheckpointError`. A safetensors file is a JSON header and raw tensor bytes, so
reading one runs nothing. TorchScript and ``torch.export`` graphs are programs: they run, as
the model, when the model is used, so they are for trusted files only (:data:`TRUSTED_ONLY`
says so to the user). ``torch.export.load`` falls back to unrestricted unpickling for some
payloads, so archives carrying pickled payloads are refused before loading and every
``torch.load`` it makes is forced to ``weights_only``.
"""

from __future__ import annotations

import functools
import io
import json
import os
import pickle
import re
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import torch
from torch import nn

from ..errors import (
    CheckpointError,
    ConfigError,
    FourierMasksError,
    MissingModelDetailsError,
    ModelMismatchError,
    NonFiniteError,
    UnsafeCheckpointError,
)
from ..files import atomic_write_bytes
from ..limits import limits, open_input, shown, size_text
from ..logs import notice_once
from .architectures import ARCHITECTURES, build_network
from .classifier import (
    PAPER_MEAN,
    PAPER_STD,
    SIZE_FIELDS,
    Classifier,
    ModelInfo,
    model_device,
    run_checked,
    size_problem,
)
from .libraries import network_from_build

CHECKPOINT_FORMAT = "fourier-masks/checkpoint"
FORMAT_VERSION = 1
METADATA_FILE = "fourier_masks.json"
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "module", "weights", "params")
_WRAPPER_PREFIXES = ("module.", "model.", "net.", "_orig_mod.")
GRAPH_FORMATS = ("torchscript", "torch-export")
TRUSTED_ONLY = (
    "is a TorchScript or torch.export program: its graph runs as the model, so open such files "
    "only from sources you trust (PyTorch's security advice); weights as .safetensors are safe "
    "from anyone"
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class CheckpointSummary:
    """What a file is, read without running anything from it."""

    path: Path
    format: str  # "fourier-masks", "state-dict", "safetensors", "torchscript", "torch-export"
    info: ModelInfo | None


# --- writing ---------------------------------------------------------------------------------


def save_checkpoint(model: Classifier, path: str | os.PathLike) -> Path:
    """Write ``model`` with its metadata; atomic, so a crash never leaves half a file. Returns
    the file written.

    A network is written as safetensors (tensors only, so anyone can open it safely) with the
    model's details as the file's metadata. Models loaded from TorchScript or ``torch.export``
    files are written back in their own format with our metadata added, so a run folder can
    hold any model it analysed: asked for a ``.safetensors`` name, they go to the same name
    with ``.pt`` (TorchScript) or ``.pt2`` (``torch.export``)."""
    from safetensors.torch import save as safetensors_bytes

    path = Path(path)
    if isinstance(model.net, _GraphNet):
        buffer = io.BytesIO()
        model.net.save(buffer, model.info.to_json())
        if path.suffix == ".safetensors":
            path = path.with_suffix(model.net.suffix)
        return atomic_write_bytes(path, buffer.getvalue())
    weights = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    metadata = {"format": CHECKPOINT_FORMAT, "format_version": str(FORMAT_VERSION), "info": model.info.to_json()}
    return atomic_write_bytes(path, safetensors_bytes(weights, metadata=metadata))


_JIT_DEPRECATED = re.compile(r"`?torch\.jit\.\w+`? is deprecated")


@contextmanager
def _torchscript_calls() -> Iterator[None]:
    """Calls into ``torch.jit`` whose deprecation warnings (PyTorch 2.10 and later) must not
    reach the user raw: the first becomes one notice in our words; other warnings pass."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if _JIT_DEPRECATED.search(str(warning.message)):
            notice_once(
                "torchscript-deprecated",
                f"TorchScript is deprecated in PyTorch {torch.__version__.split('+')[0]}: "
                "this model still loads and runs, but a later PyTorch may drop it. "
                "Re-export it with torch.export (a .pt2 file) to keep it usable.",
            )
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _example_input(info: ModelInfo, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, info.in_channels, info.image_size, info.image_size)


def export_torchscript(model: Classifier, path: str | os.PathLike) -> Path:
    """The network (without normalisation) as TorchScript, with our metadata inside."""
    net = model.net.eval()
    buffer = io.BytesIO()
    with _torchscript_calls():
        scripted = torch.jit.trace(net, model.normalization(_example_input(model.info)))
        torch.jit.save(scripted, buffer, _extra_files={METADATA_FILE: model.info.to_json()})
    return atomic_write_bytes(Path(path), buffer.getvalue())


def export_program(model: Classifier, path: str | os.PathLike) -> Path:
    """The network as a ``torch.export`` program with a dynamic batch size and our metadata."""
    net = model.net.eval()
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(net, (model.normalization(_example_input(model.info)),), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={METADATA_FILE: model.info.to_json()})
    return atomic_write_bytes(Path(path), buffer.getvalue())


# --- recognising files -----------------------------------------------------------------------


P = ParamSpec("P")
R = TypeVar("R")


def _printable_errors(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` with its errors' messages fit to print: a file name that is not valid
    UTF-8 is shown with its odd bytes escaped (:func:`~fourier_masks.core.limits.shown`), as a
    log file or a window cannot show it raw."""

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except FourierMasksError as exc:
            if exc.args and isinstance(exc.args[0], str) and shown(exc.args[0]) != exc.args[0]:
                exc.args = (shown(exc.args[0]), *exc.args[1:])
            raise

    return checked


@_printable_errors
def model_file_kind(path: str | os.PathLike) -> str:
    """``"pickle"``, ``"safetensors"``, ``"torchscript"`` or ``"torch-export"``, from the file's
    first bytes and its zip directory (nothing is unpickled or run); a file that is none of
    them raises :class:`CheckpointError` saying what it is. For asking before a program
    (:data:`GRAPH_FORMATS`) is opened."""
    return _sniff(Path(path))


def _sniff(path: Path) -> str:
    """The file's kind from its bytes: never trusts the extension, never unpickles. What it
    would unpack to is checked against ``limits().max_checkpoint_bytes`` before any record
    is read (:func:`_check_unpacked`)."""
    handle, size = open_input(path, CheckpointError, "a checkpoint file")
    with handle:
        try:
            head = handle.read(512)
        except OSError as exc:  # a file the system lists but cannot read (/proc/self/mem, a failing disk)
            raise CheckpointError(
                f"cannot read {shown(path)}: {exc.strerror or exc}; copy it somewhere readable"
            ) from None
    if size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes); the save or download did not finish")
    if _is_safetensors(head, size, path.name):
        _check_unpacked(path, size, zipped=False)  # the tensors are the file's own bytes
        return "safetensors"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                records = archive.infolist()
        except (zipfile.BadZipFile, ValueError, EOFError):
            raise CheckpointError(
                f"{path.name} is a truncated or corrupt archive (its directory is missing); "
                "the download or save was probably cut short: fetch or save it again"
            ) from None
        names = [record.filename for record in records]
        if any(n.endswith("/archive_format") for n in names):
            kind = "torch-export"
        elif any("/code/" in n for n in names) or any(n.endswith("/constants.pkl") for n in names):
            kind = "torchscript"
        elif any(n.endswith("/data.pkl") for n in names):
            kind = "pickle"
        else:
            raise CheckpointError(f"{path.name} is a zip archive but not a PyTorch checkpoint")
        _check_unpacked(path, sum(record.file_size for record in records), zipped=True)
        return kind
    if head[:1] == b"\x80":
        _check_unpacked(path, size, zipped=False)  # legacy (pre-1.6) torch.save format: stored, not compressed
        return "pickle"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise CheckpointError(
            f"{path.name} is an HTML/XML page, not a checkpoint: the download probably saved an "
            "error or login page; download the file itself"
        )
    if text[:1] in (b"{", b"["):
        raise CheckpointError(f"{path.name} is a JSON/text file, not a checkpoint")
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        raise CheckpointError(f"{path.name} is a text file, not a checkpoint")
    # ONNX (protobuf: field 1, the IR version, then the producer): by its bytes, or its name
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and b"\x12" in head[:16] and b"onnx" in head.lower()):
        raise CheckpointError(
            f"{path.name} is an ONNX model: masks are learned by backpropagating through the model, "
            "which ONNX files cannot do here. Use the PyTorch model it was exported from, or convert "
            "it (onnx2torch.convert) and save its state_dict as .safetensors"
        )
    raise CheckpointError(f"{path.name} is not a PyTorch checkpoint (unrecognised format)")


def _check_unpacked(path: Path, total: int, zipped: bool) -> None:
    """Refuse a checkpoint whose records come to more than ``limits().max_checkpoint_bytes``:
    a zip's directory states each record's size unpacked, so a megabyte of deflated zeros
    claiming gigabytes is refused before any of it is inflated; other files are their size."""
    bounds = limits()
    if total <= bounds.max_checkpoint_bytes:
        return
    bound = f"the bound of {size_text(bounds.max_checkpoint_bytes)} for one checkpoint"
    raise_it = f"raise {bounds.describe('max_checkpoint_bytes')}"
    if zipped:
        raise CheckpointError(
            f"{path.name} would unpack to {size_text(total)}, over {bound} ({size_text(path.stat().st_size)} "
            f"packed): it is damaged or a zip bomb; if it really is a model this large, {raise_it}"
        )
    raise CheckpointError(
        f"{path.name} is {size_text(total)}, over {bound}; if it really is a model this large, {raise_it}"
    )


def _is_safetensors(head: bytes, size: int, name: str) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON header. Checked
    first, since the length's first byte can be anything (0x80 looks like a legacy pickle)."""
    if len(head) < 10 or head[8:9] != b"{" or head[9:10] not in (b'"', b"}", b" ", b"\n"):
        return False
    length = int.from_bytes(head[:8], "little")
    if length < 2 or length > 100_000_000:  # safetensors' own header limit
        return False
    if length > size - 8:
        raise CheckpointError(
            f"{name} is a truncated safetensors file (its header alone needs {length + 8} bytes, the "
            f"file has {size}); save or download it again"
        )
    return True


def _is_lightning(path: Path) -> bool:
    """Whether a torch.save archive is a PyTorch Lightning checkpoint, from the pickle's bytes
    (its keys are plain strings in them); nothing is unpickled."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            data = archive.read(pickles[0]) if pickles else b""
    except (zipfile.BadZipFile, OSError):
        data = path.read_bytes()[:1_000_000]
    return b"pytorch-lightning_version" in data or b"lightning_version" in data


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc) or "Weights only" in str(exc):
            if _is_lightning(path):
                raise UnsafeCheckpointError(
                    f"{path.name} is a PyTorch Lightning checkpoint whose hyper-parameters or callbacks "
                    "hold Python objects, whose loading would run code, so it was refused. Where you "
                    "trust the file, save its weights alone: torch.save(torch.load(path, "
                    "weights_only=False)['state_dict'], 'weights.pt') (or safetensors.torch.save_file), "
                    "then load that with its architecture (--arch)"
                ) from None
            raise UnsafeCheckpointError(
                f"{path.name} contains Python objects whose loading would run code, so it was "
                "refused. If you trust its source, load it yourself and re-save only its "
                "state_dict (plain tensors)."
            ) from None
        raise CheckpointError(f"{path.name} is corrupt (unpickling failed: {exc})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(
            f"{path.name} is truncated or corrupt and cannot be read ({str(exc).splitlines()[0][:160]}); "
            "save or download it again"
        ) from None


def _find_state_dict(obj: Any, depth: int = 0) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, Mapping) and obj and all(isinstance(k, str) for k in obj):
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        if depth < 3:
            for key in _NESTED_KEYS:
                if key in obj:
                    found = _find_state_dict(obj[key], depth + 1)
                    if found is not None:
                        return found
    return None


def _strip_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if state_dict and all(k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix) :]: v for k, v in state_dict.items()}
                changed = True
    return state_dict


def _check_finite(state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise NonFiniteError(f"{name} has NaN or Inf values in its weights ({key}); it cannot be used")


def _describe_mismatch(arch: str, error: RuntimeError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    size = [line for line in lines if line.startswith("size mismatch")]
    detail = "; ".join(size[:3]) if size else " ".join(lines[1:3])[:400]
    return f"the weights do not fit {arch}: {detail}. Give the architecture they were trained with"


def _infer_shape(state_dict: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    """(input channels, classes) from the first conv and the last linear weight."""
    convs = [v for v in state_dict.values() if v.ndim == 4]
    linears = [v for k, v in state_dict.items() if v.ndim == 2 and k.endswith("weight")]
    if not convs or not linears:
        raise CheckpointError("the state_dict has no convolution or no final linear layer; is it an image classifier?")
    return int(convs[0].shape[1]), int(linears[-1].shape[0])


def _guess_arch(state_dict: Mapping[str, torch.Tensor], in_channels: int, num_classes: int) -> str | None:
    keys = set(state_dict)
    for arch in ARCHITECTURES:
        if set(build_network(arch, in_channels, num_classes).state_dict()) == keys:
            return arch
    return None


def _load_weights(net: nn.Module, state_dict: Mapping[str, torch.Tensor], arch: str, name: str) -> None:
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise ModelMismatchError(f"{name}: {_describe_mismatch(arch, exc)}") from None


# --- loading ---------------------------------------------------------------------------------


@_printable_errors
def inspect_checkpoint(path: str | os.PathLike) -> CheckpointSummary:
    """What kind of model file this is and its metadata, without building or running it."""
    path = Path(path)
    kind = _sniff(path)
    if kind == "pickle":
        obj = _torch_load(path)
        if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
            return CheckpointSummary(path, "fourier-masks", _info_from_json(obj.get("info"), path))
        if _find_state_dict(obj) is None:
            raise CheckpointError(f"{path.name} holds a {type(obj).__name__}, not a model's state_dict")
        return CheckpointSummary(path, "state-dict", None)
    if kind == "safetensors":
        _, metadata = _read_safetensors(path, tensors=False)
        if metadata.get("format") == CHECKPOINT_FORMAT:
            return CheckpointSummary(path, "fourier-masks", _info_from_json(metadata.get("info"), path))
        return CheckpointSummary(path, "safetensors", None)
    with zipfile.ZipFile(path) as archive:
        meta = [n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
        info = _info_from_json(archive.read(meta[0]).decode(), path) if meta else None
    return CheckpointSummary(path, kind, info)


def _info_from_json(text: Any, path: Path) -> ModelInfo:
    """The model's details from a file's metadata, whose sizes are held to
    :func:`~fourier_masks.core.limits.limits` (:func:`~.classifier.size_problem`)."""
    again = "save or download it again"
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path.name} has damaged metadata ({exc}); {again}") from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{path.name} has damaged metadata (a JSON {type(data).__name__}, not an object); {again}"
        )
    for name in SIZE_FIELDS:
        problem = size_problem(name, data.get(name, 0 if name == "resize_size" else None), from_file=True)
        if problem:
            raise CheckpointError(f"{path.name}: metadata {problem}")
    try:
        return ModelInfo.from_dict(data)
    except (TypeError, ValueError, KeyError, ConfigError) as exc:
        raise CheckpointError(f"{path.name} has damaged metadata ({exc}); {again}") from None


@_printable_errors
def load_model(
    path: str | os.PathLike,
    *,
    arch: str | None = None,
    in_channels: int | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    class_names: tuple[str, ...] = (),
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    device: torch.device | str = "cpu",
) -> Classifier:
    """Load any supported model file as a :class:`Classifier` in evaluation mode.

    Our checkpoints need no arguments. A plain state_dict (pickled, or a ``.safetensors`` file
    without our metadata, described by :func:`safetensors_sidecar` if at all) needs ``arch``
    unless it matches one of our architectures exactly (then it is recognised); channels and
    classes are read from the weights. TorchScript / torch.export files without our metadata need
    ``in_channels``, ``num_classes`` and ``image_size``; their normalisation defaults to none
    (the masks then act on the model's raw input).
    """
    path = Path(path)
    kind = _sniff(path)
    if kind == "pickle":
        model = _load_pickled(path, arch, image_size, class_names, mean, std)
    elif kind == "safetensors":
        model = _load_safetensors(path, arch, image_size, class_names, mean, std)
    else:
        notice_once(f"trusted-only {path.resolve()}", f"{path.name} {TRUSTED_ONLY}")
        model = _load_graph(path, kind, in_channels, num_classes, image_size, class_names, mean, std, device)
    return model.to(device).eval()


def _load_pickled(path, arch, image_size, class_names, mean, std) -> Classifier:
    obj = _torch_load(path)
    if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
        return _ours(path, obj.get("format_version", 0), obj.get("info"), obj.get("state_dict"), arch)
    state_dict = _find_state_dict(obj)
    if state_dict is None:
        raise CheckpointError(
            f"{path.name} holds a {type(obj).__name__} with no state_dict of tensors in it; expected a model checkpoint"
        )
    return _from_state_dict(path, state_dict, arch, image_size, class_names, mean, std, "state-dict")


@_printable_errors
def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (pickled with ``weights_only``, or safetensors), found
    where wrappers nest them and with DataParallel-style prefixes removed; nothing runs."""
    path = Path(path)
    kind = _sniff(path)
    if kind == "safetensors":
        state_dict: dict[str, torch.Tensor] | None = _read_safetensors(path)[0]
    elif kind == "pickle":
        state_dict = _find_state_dict(_torch_load(path))
    else:
        raise CheckpointError(f"{path.name} is a {kind} program, not a file of weights")
    if not state_dict:
        raise CheckpointError(f"{path.name} holds no state_dict of tensors")
    state_dict = _strip_prefixes(state_dict)
    _check_finite(state_dict, path.name)
    return state_dict


def _ours(path: Path, version: Any, info_json: Any, state_dict: Any, arch: str | None) -> Classifier:
    """A checkpoint this product wrote (pickled or safetensors): everything is in it."""
    if int(version or 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path.name} was written by a newer Fourier Masks; upgrade to read it")
    info = _info_from_json(info_json, path)
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError(f"{path.name} has no weights")
    if arch and arch != info.arch:
        raise ModelMismatchError(f"{path.name} holds a {info.arch}, not a {arch}")
    _check_finite(state_dict, path.name)
    net = network_from_build(info.build) if info.build else build_network(info.arch, info.in_channels, info.num_classes)
    _load_weights(net, state_dict, info.arch, path.name)
    return Classifier(net, info)


def _from_state_dict(path, state_dict, arch, image_size, class_names, mean, std, source) -> Classifier:
    """A plain state_dict of a known architecture (given, or recognised from its keys)."""
    state_dict = _strip_prefixes(dict(state_dict))
    _check_finite(state_dict, path.name)
    channels, classes = _infer_shape(state_dict)
    arch = arch or _guess_arch(state_dict, channels, classes)
    if arch is None:
        raise MissingModelDetailsError(
            f"{path.name} is a plain state_dict of an unknown architecture; say which torchvision "
            "architecture it is (e.g. --arch resnet18)",
            needs="arch",
        )
    net = build_network(arch, channels, classes)
    _load_weights(net, state_dict, arch, path.name)
    if mean is None or std is None:
        mean, std = ((PAPER_MEAN,), (PAPER_STD,)) if channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
    info = ModelInfo(
        arch=arch,
        in_channels=channels,
        num_classes=classes,
        image_size=image_size or 224,
        mean=tuple(mean),
        std=tuple(std),
        class_names=tuple(class_names),
        name=path.stem,
        source=source,
    )
    return Classifier(net, info)


def safetensors_sidecar(path: str | os.PathLike) -> Path:
    """The JSON file describing a plain ``.safetensors`` file: ``<name>.json`` beside it, an
    object with any of ``arch`` (a torchvision or built-in architecture), ``image_size``
    (pixels), ``mean`` and ``std`` (one value per channel) and ``class_names``. Arguments
    given to :func:`load_model` take precedence over it."""
    return Path(path).with_suffix(".json")


_SIDECAR_LIMIT = 1 << 20  # bytes; a description, not data


def _sidecar_hints(path: Path) -> dict[str, Any]:
    sidecar = safetensors_sidecar(path)
    if not sidecar.is_file():
        return {}
    where = f"{sidecar.name} (the description beside {path.name})"
    handle, size = open_input(sidecar, CheckpointError, "a JSON description")
    with handle:
        if size > _SIDECAR_LIMIT:
            raise CheckpointError(f"{where} is over 1 MiB; it should hold only the model's details")
        text = handle.read(_SIDECAR_LIMIT + 1)
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{where} is not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{where} holds a JSON {type(data).__name__}, not an object of the model's details")
    expected = {
        "arch": lambda v: isinstance(v, str),
        "image_size": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 8,
        "mean": lambda v: isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v),
        "std": lambda v: isinstance(v, list) and v and all(isinstance(x, (int, float)) and x > 0 for x in v),
        "class_names": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    }
    for key, valid in expected.items():
        if key in data and not valid(data[key]):
            raise CheckpointError(f"{where}: {key!r} has the wrong type or range ({str(data[key])[:80]})")
    if "image_size" in data and (problem := size_problem("image_size", data["image_size"])):
        raise CheckpointError(f"{where}: {problem}")
    return {key: data[key] for key in expected if key in data}


def _read_safetensors(path: Path, tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The file's tensors and its metadata (strings). Parsing it runs no code."""
    from safetensors import safe_open

    try:
        if shown(path) != str(path):  # safetensors takes only UTF-8 paths
            return _read_safetensors_bytes(path.read_bytes(), tensors)
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            weights = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for bad files
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path.name} is a truncated or corrupt safetensors file ({detail}); save or download it again"
        ) from None
    return weights, metadata


def _read_safetensors_bytes(data: bytes, tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """:func:`_read_safetensors` of a file read whole (a name safetensors cannot open)."""
    from safetensors.torch import load

    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    metadata = dict(header.get("__metadata__") or {})
    return (load(data) if tensors else {}), metadata


def _load_safetensors(path, arch, image_size, class_names, mean, std) -> Classifier:
    weights, metadata = _read_safetensors(path)
    if metadata.get("format") == CHECKPOINT_FORMAT:
        return _ours(path, metadata.get("format_version"), metadata.get("info"), weights, arch)
    hints = _sidecar_hints(path)
    return _from_state_dict(
        path,
        weights,
        arch or hints.get("arch"),
        image_size or hints.get("image_size"),
        tuple(class_names) or tuple(hints.get("class_names", ())),
        mean if mean is not None else (tuple(hints["mean"]) if "mean" in hints else None),
        std if std is not None else (tuple(hints["std"]) if "std" in hints else None),
        "safetensors",
    )


_FORCE_SAFE_LOCK = threading.Lock()


@contextmanager
def weights_only_everywhere() -> Iterator[None]:
    """Force every ``torch.load`` inside (including library fallbacks, and the model zoos'
    loaders) to ``weights_only``."""
    with _FORCE_SAFE_LOCK:
        previous = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
        os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
            else:
                os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = previous


def _refuse_pickled_payloads(path: Path) -> None:
    """Reject export archives whose loading would unpickle arbitrary objects."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        for name in names:
            base = name.split("/", 1)[-1]
            if base.startswith("data/constants/") and ("custom_obj" in base or "opaque_obj" in base):
                raise UnsafeCheckpointError(f"{path.name} carries pickled Python objects; refused")
            if base.endswith("_config.json") and base.startswith("data/"):
                config = json.loads(archive.read(name))
                entries = config.get("config", {}).values() if isinstance(config, dict) else []
                if any(isinstance(e, dict) and e.get("use_pickle") for e in entries):
                    raise UnsafeCheckpointError(
                        f"{path.name} stores pickled tensors whose loading could run code; refused"
                    )
        if not any(n.endswith("/models/model.json") or "/models/" in n for n in names):
            raise CheckpointError(f"{path.name} is an old or unsupported torch.export format; re-export it")


class _GraphNet(nn.Module):
    """A TorchScript or exported graph as an ``nn.Module``.

    Exported graphs have their train/eval behaviour fixed at export and refuse ``.eval()``,
    so this wrapper keeps mode changes to itself. A graph exported for a fixed batch size is
    fed in chunks of that size (the last one padded).
    """

    def __init__(self, graph: nn.Module, fixed_batch: int | None = None, program: Any = None) -> None:
        super().__init__()
        self.graph = graph
        self.fixed_batch = fixed_batch
        self._program = program  # the ExportedProgram, kept to save it again

    @property
    def suffix(self) -> str:
        """The file extension of its own format."""
        return ".pt2" if self._program is not None else ".pt"

    def save(self, target: io.BytesIO, metadata: str) -> None:
        """Write the graph in its own format with ``metadata`` as our extra file."""
        if self._program is not None:
            torch.export.save(self._program, target, extra_files={METADATA_FILE: metadata})
        else:
            with _torchscript_calls():
                torch.jit.save(self.graph, target, _extra_files={METADATA_FILE: metadata})

    def train(self, mode: bool = True) -> _GraphNet:
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_batch is None or x.shape[0] == self.fixed_batch:
            return self.graph(x)
        outputs = []
        for start in range(0, x.shape[0], self.fixed_batch):
            chunk = x[start : start + self.fixed_batch]
            short = self.fixed_batch - chunk.shape[0]
            if short:
                chunk = torch.cat([chunk, chunk[-1:].expand(short, *chunk.shape[1:])])
            outputs.append(self.graph(chunk)[: self.fixed_batch - short])
        return torch.cat(outputs)


def _load_graph(path, kind, in_channels, num_classes, image_size, class_names, mean, std, device) -> Classifier:
    extra = {METADATA_FILE: ""}
    try:
        if kind == "torchscript":
            with _torchscript_calls():
                graph = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
            fixed_batch, program = None, None
        else:
            _refuse_pickled_payloads(path)
            with weights_only_everywhere():
                program = torch.export.load(str(path), extra_files=extra)
            placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
            user_input = placeholders[-1].meta.get("val") if placeholders else None
            batch = user_input.shape[0] if user_input is not None else None
            fixed_batch = batch if isinstance(batch, int) else None
            graph = program.module()
    except (CheckpointError, UnsafeCheckpointError):
        raise
    except Exception as exc:  # noqa: BLE001 - the loaders raise many types for bad files
        raise CheckpointError(
            f"{path.name} could not be loaded as {kind} ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
        ) from None
    metadata = extra.get(METADATA_FILE)
    if metadata:
        text = metadata.decode() if isinstance(metadata, bytes) else metadata
        info = _info_from_json(text, path).replace(source=kind)
    else:
        if not (in_channels and num_classes and image_size):
            raise MissingModelDetailsError(
                f"{path.name} is a {kind} file without Fourier Masks metadata: give its input "
                "channels, number of classes and image size",
                needs="shapes",
            )
        info = ModelInfo(
            arch=kind,
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=image_size,
            mean=tuple(mean) if mean else (0.0,) * in_channels,
            std=tuple(std) if std else (1.0,) * in_channels,
            class_names=tuple(class_names),
            name=path.stem,
            source=kind,
        )
    state = dict(graph.state_dict()) if hasattr(graph, "state_dict") else {}
    _check_finite(state, path.name)
    return Classifier(_GraphNet(graph, fixed_batch, program), info)


def output_width(model: Classifier) -> int:
    """Scores per image that ``model`` really outputs, from one pass of a blank image of the
    input shape its info states: a graph's metadata, or the shapes typed for it, may be wrong."""
    info = model.info
    blank = torch.zeros(1, info.in_channels, info.image_size, info.image_size, device=model_device(model))
    with torch.no_grad():
        logits = run_checked(model, blank, "on a blank image of its stated input shape")
    return int(logits.shape[1])
