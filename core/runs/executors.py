"""Executors: where the units of mask groups (:mod:`.groups`) are learned.

:class:`LocalExecutor` learns a queue of units in this process, in one batched job;
:class:`RayExecutor` shares them out to Ray workers (optional: ``pip install -e ".[cluster]"``).
Both save every finished mask into the store as it arrives, with what a shard holds
(:func:`.groups.shard_arrays`), and return the masks' statistics only; both learn each mask
with the slot count its whole group would use locally (:func:`.groups.group_slots`), so a
mask comes out the same wherever and in whatever company it is learned, and a resumed job
equals an uninterrupted one. :func:`run_mask_units` picks one.

On Ray, the pending units of a group are split into chunks of image ids, each a Ray task
that learns its masks with the batched engine on its worker's device (a GPU where the cluster
has them). The model and the group's images go into Ray's object store once and every task
reads them from there; only the driver writes into the run, once per chunk received, so
workers need no shared filesystem, and a task whose worker dies is run again elsewhere
(``max_retries``) with nothing of it written twice. A killed driver resumes as any run does,
by planning the group again, which skips the ids already stored.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import logging
import math
import os
import socket
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import torch

from ..errors import ConfigError
from ..masks.config import ImageMaskConfig
from ..masks.engine import learn_image_masks
from ..masks.results import ImageMaskResult
from ..models.classifier import Classifier, model_device
from ..progress import CancelToken, Progress, ProgressCallback, ProgressReporter
from .groups import (
    MaskUnit,
    group_slots,
    queue_config,
    queue_image_shape,
    shard_arrays,
    single_group,
    stored_image_config,
)
from .provenance import RAY_CLUSTER
from .store import ResultsStore

log = logging.getLogger(__name__)

WAIT_S = 0.5  # how often the driver looks at the cancel token while chunks run
MAX_RETRIES = 3  # a chunk whose worker dies is run again this many times


def run_mask_units(
    store: ResultsStore,
    units: Sequence[MaskUnit],
    model: Classifier,
    *,
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    cluster: str | None = None,
) -> ImageMaskResult | None:
    """Learn the masks of ``units`` on this machine (:class:`LocalExecutor` on ``device``),
    or on the Ray cluster ``cluster`` names (``ray``, ``auto`` or ``ray://HOST:PORT``:
    :class:`RayExecutor`). None when there are no units."""
    if units:
        on = device if device is not None else model_device(model)
        store.record_provenance(on if cluster is None else f"{RAY_CLUSTER} {cluster}")
    executor = LocalExecutor(device) if cluster is None else RayExecutor(cluster)
    return executor.run(store, units, model, on_progress=on_progress, cancel=cancel)


class LocalExecutor:
    """Learns units in this process, on ``device`` (default: the model's)."""

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = device

    def run(
        self,
        store: ResultsStore,
        units: Sequence[MaskUnit],
        model: Classifier,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImageMaskResult | None:
        """Learn the masks of ``units`` in one batched job, with the settings and inputs
        stored with their groups, saving each mask as it finishes together with its class
        probabilities on x, M(x) and Mᶜ(x) and its convergence history.

        Units of several groups (say the clean and the adversarial images of one model)
        share one queue, in the order given: a slot freed at the end of one group takes an
        image of the next, so the batch stays full until the very last masks, not to the end
        of every group. Such groups must have been declared with the same settings and image
        size (one batch, one model, one rule); ``model`` learns them all.

        The batch has as many slots as the queue's groups would use in full, however many
        units are left, so a resumed job computes every mask exactly as one uninterrupted run
        would (on the CPU, bit for bit: slot counts are multiples of 8, see
        :func:`~fourier_masks.core.masks.engine.slot_count`). Masks go to the store, not
        memory: the result carries their statistics only (``masks`` and ``histories`` are
        None). Progress events name the group the latest masks were written to (``group``)
        and give each learning image's group (``groups``, beside ``ids``); their ETA counts
        the whole queue, its finished masks telling when the others will stop
        (:func:`~fourier_masks.core.masks.engine.forecast_stops`)."""
        groups = list(dict.fromkeys(u.group for u in units))
        if not groups:
            return None
        config = queue_config(store, groups)
        inputs = {group: store.image_mask_inputs(group) for group in groups}
        image_shape = queue_image_shape(inputs)
        device = torch.device(self.device) if self.device is not None else model_device(model)
        declared = sum(len(arrays["ids"]) for arrays in inputs.values())
        slots = group_slots(config, declared, device, model, image_shape)
        position = {
            group: {image_id: k for k, image_id in enumerate(arrays["ids"].tolist())}
            for group, arrays in inputs.items()
        }
        rows = [position[u.group][u.image_id] for u in units]
        images = torch.from_numpy(np.stack([inputs[u.group]["images"][k] for u, k in zip(units, rows)]))
        # A target of -1 asks for the model's own prediction (groups declared without targets).
        targets = torch.tensor(
            [int(inputs[u.group]["targets"][k]) if "targets" in inputs[u.group] else -1 for u, k in zip(units, rows)],
            dtype=torch.int64,
        )
        written = [groups[0]]

        def save(part: ImageMaskResult) -> None:
            """Split a finished part by group and write each group's shard."""
            queued = [units[int(key)] for key in part.ids]
            for group in dict.fromkeys(u.group for u in queued):
                index = [k for k, u in enumerate(queued) if u.group == group]
                shard = part.subset(index)
                shard.ids = [queued[k].image_id for k in index]
                store.append_image_masks(
                    group, shard.ids, **shard_arrays(shard, model, images[[int(part.ids[k]) for k in index]])
                )
                written[0] = group

        def named(progress: Progress) -> None:
            """Progress with the queue's positions turned back into groups and image ids."""
            assert on_progress is not None
            payload = dict(progress.payload, group=written[0])
            if "ids" in payload:
                queued = [units[int(key)] for key in payload["ids"]]
                payload["ids"] = [u.image_id for u in queued]
                payload["groups"] = [u.group for u in queued]
            on_progress(dataclasses.replace(progress, payload=payload))

        result = learn_image_masks(
            model,
            images,
            ids=[str(k) for k in range(len(units))],
            targets=targets,
            config=config,
            device=device,
            on_progress=named if on_progress is not None else None,
            on_result=save,
            cancel=cancel,
            slots=slots,
            keep_masks=False,
        )
        result.ids = [units[int(key)].image_id for key in result.ids]
        return result


class RayExecutor:
    """Learns units on a Ray cluster: ``ray`` starts a local one for the job (``num_cpus``
    limits it), ``auto`` attaches to the running one, ``ray://HOST:PORT`` to a remote one
    (Ray Client). ``chunk_size``: image ids per task (default: the group's slot count on a
    CPU, one full batch). A connection made earlier in the process (a notebook's, or the
    study's for all its groups) is used as it is."""

    def __init__(self, cluster: str, *, chunk_size: int = 0, num_cpus: int | None = None) -> None:
        self.cluster = check_cluster(cluster)
        self.chunk_size = chunk_size
        self.num_cpus = num_cpus

    def run(
        self,
        store: ResultsStore,
        units: Sequence[MaskUnit],
        model: Classifier,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImageMaskResult | None:
        """Each group's units on the cluster in turn (the workers' chunks keep it busy;
        groups that share a queue locally need not share one here)."""
        groups = list(dict.fromkeys(u.group for u in units))
        if not groups:
            return None
        parts = []
        for group in groups:
            part = self.run_group(
                store, [u for u in units if u.group == group], model, on_progress=on_progress, cancel=cancel
            )
            assert part is not None  # the group has units
            parts.append(part)
            if part.cancelled:
                break
        result = ImageMaskResult.concatenate(parts, parts[0].config)
        result.cancelled = parts[-1].cancelled
        return result

    def run_group(
        self,
        store: ResultsStore,
        units: Sequence[MaskUnit],
        model: Classifier,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImageMaskResult | None:
        """Learn the masks of ``units`` (one group) on Ray workers, writing each chunk's masks
        into ``store`` as it arrives.

        Progress counts finished masks (``masks_done``; the step budget of each, as the local
        engine counts them); the ETA's work is masks, at the rate they arrive (chunks run side
        by side, so a mask's own steps do not say when it arrives). Cancelling cancels the
        running chunks and keeps every mask already received; the result is then marked
        cancelled. Returns the statistics of the masks learned (``masks`` and ``histories``
        are None, as for the local engine)."""
        group = single_group(units)
        if group is None:
            return None
        config = stored_image_config(store, group)
        inputs = store.image_mask_inputs(group)
        total = len(inputs["ids"])
        position = {image_id: k for k, image_id in enumerate(inputs["ids"].tolist())}
        pending = [position[u.image_id] for u in units]
        size = self.chunk_size or group_slots(
            config, total, torch.device("cpu"), model, tuple(inputs["images"].shape[1:])
        )
        chunks = [pending[start : start + size] for start in range(0, len(pending), size)]
        reporter = ProgressReporter("image-masks", len(pending) * config.max_steps, on_progress, cancel)
        received: list[ImageMaskResult] = []
        with connected(self.cluster, self.num_cpus) as ray:
            gpus = ray.cluster_resources().get("GPU", 0)
            task = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=MAX_RETRIES)(_learn_chunk)
            model_ref = ray.put(copy.deepcopy(model).cpu())
            inputs_ref = ray.put({k: v for k, v in inputs.items() if k in ("images", "ids", "targets")})
            running = {task.remote(model_ref, inputs_ref, chunk, config, total): chunk for chunk in chunks}
            done = 0
            while running and not reporter.cancelled:
                finished, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
                for ref in finished:
                    del running[ref]
                    arrays = ray.get(ref)
                    ids = arrays.pop("ids")
                    store.append_image_masks(group, ids, **arrays)
                    received.append(_statistics(ids, arrays, config))
                    done += len(ids)
                    reporter.report(
                        done * config.max_steps,
                        f"{done}/{len(pending)} masks",
                        work_done=done,
                        work_left=len(pending) - done,
                        masks_done=done,
                        group=group,
                    )
            for ref in running:
                ray.cancel(ref, force=True)
        if not received:
            return _statistics([], {}, config, cancelled=True)
        result = ImageMaskResult.concatenate(received, config)
        result = result.subset(np.argsort([position[i] for i in result.ids], kind="stable"))  # the units' order
        result.cancelled = bool(running)
        return result


CLUSTER_TIMEOUT_VARIABLE = "FOURIER_MASKS_CLUSTER_TIMEOUT"
DEFAULT_CLUSTER_TIMEOUT_S = 10.0
MAX_CLUSTER_TIMEOUT_S = 3600.0
CLUSTER_FORMS = "ray, auto or ray://HOST:PORT"


def check_cluster(spec: str) -> str:
    """``spec`` if it names a cluster we can use, else a ConfigError saying what would. Only
    its form is checked (no connection is tried): see :func:`reach_cluster`."""
    if spec not in ("ray", "auto"):
        _client_address(spec)
    _ray()
    return spec


def _client_address(spec: str) -> tuple[str, int]:
    """Host and port of a ``ray://HOST:PORT`` address (Ray Client's port, 10001 by default)."""
    typed = repr(spec if len(spec) <= 80 else spec[:80] + "…")
    if not spec.startswith("ray://"):
        raise ConfigError(f"--cluster must be {CLUSTER_FORMS}, not {typed}")
    example = "give ray://HOST:PORT, e.g. ray://head-node:10001 (Ray Client's port is 10001 by default)"
    try:
        parts = urlsplit(spec)
        host = parts.hostname
    except ValueError:  # a broken [IPv6] host
        host = None
    if not host or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username is not None:
        raise ConfigError(f"--cluster {typed} is not an address; {example}")
    if not all(c.isalnum() or c in ".-_:" for c in host):  # a name, an IPv4 or an IPv6 address
        raise ConfigError(f"--cluster {typed}: {host!r} is not a host name; {example}")
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = 0
    if not port:
        raise ConfigError(f"--cluster {typed}: the port must be a number in 1–65535; {example}")
    return host, port


def cluster_timeout() -> float:
    """Seconds a cluster has to answer (``FOURIER_MASKS_CLUSTER_TIMEOUT``, default 10)."""
    text = os.environ.get(CLUSTER_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_CLUSTER_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_CLUSTER_TIMEOUT_S:
        raise ConfigError(
            f"{CLUSTER_TIMEOUT_VARIABLE}={text!r}: must be seconds in (0, {MAX_CLUSTER_TIMEOUT_S:g}]; "
            f"unset it (default {DEFAULT_CLUSTER_TIMEOUT_S:g}) or give a number"
        )
    return seconds


def reach_cluster(spec: str, timeout: float | None = None) -> str | None:
    """The address :func:`ray.init` takes for ``spec`` (None: start a local cluster), once
    something answers there within ``timeout`` seconds (default :func:`cluster_timeout`);
    else a ConfigError, in our words, at once. Ray itself would wait 35 s for a Ray Client
    server that is not there, then print its own warning and raise a bare ConnectionError."""
    check_cluster(spec)
    if spec == "ray":
        return None
    timeout = cluster_timeout() if timeout is None else timeout
    if spec == "auto":
        address = _running_cluster()
        if address is None:
            raise ConfigError(
                "--cluster auto: no Ray cluster is running on this machine; start one with `ray start --head`, "
                "or give ray://HOST:PORT"
            )
        host, _, port_text = address.rpartition(":")
        port = int(port_text) if port_text.isdigit() else 0  # 0: Ray's own lookup, not probed
    else:
        host, port = _client_address(spec)
        address = spec
    if port:
        try:
            with socket.create_connection((host.strip("[]"), port), timeout=timeout):
                pass
        except socket.gaierror as exc:
            raise ConfigError(f"--cluster {spec}: no such host {host!r} ({exc.strerror}); check the address") from None
        except OSError:
            raise ConfigError(
                f"--cluster {spec}: no Ray cluster answered within {timeout:g} s; start one with "
                "`ray start --head` or check the address"
            ) from None
    return address


def _running_cluster() -> str | None:
    """HOST:PORT of the cluster ``ray start`` left running on this machine (Ray's own lookup
    for ``auto``), None when none is, or ``auto`` when Ray's lookup is not where it was."""
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:
        return "auto"
    try:
        with _ray_output_to_log():
            return canonicalize_bootstrap_address_or_die("auto")
    except ConnectionError:
        return None
    except Exception:  # noqa: BLE001 - Ray's lookup failed its own way: ray.init will try and say
        log.info("Ray could not look up its running cluster", exc_info=True)
        return "auto"


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            'learning on a cluster needs Ray, an optional extra: pip install -e ".[cluster]" '
            '(or pip install "ray[client]")'
        ) from None
    return ray


class _IntoOurLog(logging.Handler):
    """Ray's log records, as lines of our log (``Ray WARNING: …``), at INFO: the log file
    keeps our packages' INFO, and a program that set up no logging is not shown them by
    logging's last resort."""

    def emit(self, record: logging.LogRecord) -> None:
        log.info("Ray %s: %s", record.levelname, record.getMessage())


@contextmanager
def _ray_output_to_log() -> Iterator[None]:
    """Ray's warnings and console lines go to our log, not the terminal: they speak of Ray's
    flags, environment variables and documentation, and the user hears what went wrong from
    us, once. Ray's logger writes to the stderr it found at import, so its handlers are set
    aside for the duration rather than stderr redirected. (Lines Ray's native code and child
    processes write straight to the process's stderr are not caught.)"""
    ray_log = logging.getLogger("ray")
    handlers, propagate = list(ray_log.handlers), ray_log.propagate
    ray_log.handlers[:] = [_IntoOurLog()]
    ray_log.propagate = False
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(captured):
            warnings.simplefilter("always")
            try:
                yield
            finally:
                for warning in caught:
                    log.info("Ray %s: %s", warning.category.__name__, warning.message)
                for line in captured.getvalue().splitlines():
                    if line.strip():
                        log.info("Ray: %s", line)
    finally:
        ray_log.handlers[:] = handlers
        ray_log.propagate = propagate


@contextmanager
def _client_patience(seconds: float) -> Iterator[None]:
    """Ray Client's handshake bounded by ``seconds``: it makes 3 attempts, waiting 5, 10 and
    15 s (module constants read when Ray is imported), however long the caller would wait."""
    try:
        from ray.util.client import worker
    except ImportError:
        yield
        return
    names = ("INITIAL_TIMEOUT_SEC", "MAX_TIMEOUT_SEC")
    saved = {name: getattr(worker, name, None) for name in names}
    for name in names:
        if saved[name] is not None:
            setattr(worker, name, seconds / 3)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is not None:
                setattr(worker, name, value)


@contextmanager
def connected(cluster: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, connected to ``cluster`` for the duration (a local one started for ``ray``);
    a connection made earlier in the process (e.g. by a notebook) is used as it is. A
    cluster that does not answer within :func:`cluster_timeout` is a ConfigError."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    timeout = cluster_timeout()
    address = reach_cluster(cluster, timeout)
    try:
        with _ray_output_to_log(), _client_patience(timeout):
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
    except Exception as exc:  # noqa: BLE001 - Ray's failures to connect are many and its own
        log.info("ray.init(address=%r) failed", address, exc_info=True)
        with _ray_output_to_log():
            ray.shutdown()  # a failed Ray Client connection leaves state that fails the next ray.init
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        if address is None:
            raise ConfigError(f"--cluster ray: could not start a local Ray cluster ({reason})") from None
        raise ConfigError(
            f"--cluster {cluster}: no Ray cluster accepted the connection within {timeout:g} s ({reason}); check "
            f"the address (Ray Client's port is 10001 by default) and that the cluster runs Ray {ray.__version__}"
        ) from None
    try:
        yield ray
    finally:
        with _ray_output_to_log():
            ray.shutdown()


def _learn_chunk(
    model: Classifier, inputs: dict[str, np.ndarray], rows: list[int], config: ImageMaskConfig, total: int
) -> dict[str, Any]:
    """One Ray task: the masks of ``rows`` of the group's inputs, with what a shard holds."""
    import ray

    threads = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
    torch.set_num_threads(max(1, threads))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)
    images = torch.from_numpy(inputs["images"][rows])
    targets = torch.from_numpy(inputs["targets"][rows]) if "targets" in inputs else None
    slots = group_slots(config, total, device, model, tuple(images.shape[1:]))
    part = learn_image_masks(
        model,
        images,
        ids=[str(i) for i in inputs["ids"][rows]],
        targets=targets,
        config=config,
        device=device,
        slots=slots,
    )
    log.debug("chunk of %d masks learned in process %d", len(part), os.getpid())
    return {"ids": part.ids, **shard_arrays(part, model, images)}


def _statistics(
    ids: list[str], arrays: dict[str, np.ndarray], config: ImageMaskConfig, cancelled: bool = False
) -> ImageMaskResult:
    """A received chunk as the local engine reports it: statistics, no masks."""

    def column(name: str, dtype) -> np.ndarray:
        return np.asarray(arrays.get(name, np.zeros(0)), dtype=dtype)

    return ImageMaskResult(
        ids=list(ids),
        masks=None,
        targets=column("targets", np.int64),
        steps=column("steps", np.int64),
        converged=column("converged", bool),
        prediction_kept=column("prediction_kept", bool),
        kept_fraction=column("kept_fraction", np.float32),
        final_loss=column("final_loss", np.float32),
        config=config,
        cancelled=cancelled,
    )
