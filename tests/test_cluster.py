"""Per-image masks on a local Ray cluster of 2 worker processes: the same masks as the local
engine, nothing lost or written twice when a worker is killed, cancel keeps what arrived.
Skipped where Ray (the [cluster] extra) is not installed."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # each test starts Ray worker processes (~20 s on 2 cores)

from fourier_masks.core.data.images import ImageSet  # noqa: E402
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig  # noqa: E402
from fourier_masks.core.runs.executors import RayExecutor, run_mask_units  # noqa: E402
from fourier_masks.core.runs.groups import image_mask_history, plan_image_masks  # noqa: E402
from fourier_masks.core.runs.store import ResultsStore  # noqa: E402

GROUP = "image/m-clean"


@pytest.fixture(scope="module")
def local_ray():
    """One local cluster for the module: 2 CPUs, so 2 worker processes run chunks at once."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def _images(n: int) -> ImageSet:
    return ImageSet(
        images=torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(n)),
        labels=torch.full((n,), -1),
        class_names=tuple(f"c{k}" for k in range(6)),
        ids=tuple(f"img{k:02d}" for k in range(n)),
    )


def _planned(tmp_path, name: str, images: ImageSet, config: ImageMaskConfig):
    store = ResultsStore(tmp_path / name)
    return store, plan_image_masks(store, GROUP, images, model_name="m", config=config)


def _shard_ids(store: ResultsStore) -> list[str]:
    ids: list[str] = []
    for shard in sorted((store.root / "masks" / GROUP / "shards").glob("part-*.npz")):
        with np.load(shard) as data:
            ids.extend(data["ids"].tolist())
    return ids


def _assert_same_masks(a: ResultsStore, b: ResultsStore) -> None:
    one, other = a.load_image_masks(GROUP), b.load_image_masks(GROUP)
    assert one.ids == other.ids
    np.testing.assert_array_equal(one.masks, other.masks)
    for key in one.arrays:
        np.testing.assert_array_equal(one.arrays[key], other.arrays[key], err_msg=key)


def test_cluster_masks_equal_the_local_engine(local_ray, tmp_path, tiny_model):
    images = _images(20)
    config = ImageMaskConfig(max_steps=60, batch_size=8, check_every=10, lam=0.5)
    local, units = _planned(tmp_path, "local", images, config)
    run_mask_units(local, units, tiny_model)
    remote, units = _planned(tmp_path, "cluster", images, config)
    events = []
    result = run_mask_units(remote, units, tiny_model, cluster="ray", on_progress=events.append)
    assert not result.cancelled and result.ids == list(images.ids)
    _assert_same_masks(local, remote)
    assert sorted(_shard_ids(remote)) == list(images.ids)  # each mask written once
    for image_id in ("img00", "img13"):
        a, b = image_mask_history(local, GROUP, image_id), image_mask_history(remote, GROUP, image_id)
        np.testing.assert_array_equal(a.snapshots, b.snapshots)
        np.testing.assert_array_equal(a.kept_fraction, b.kept_fraction)
    assert events[-1].payload["masks_done"] == 20 and events[-1].payload["group"] == GROUP


def _chunk_workers() -> list[int]:
    """Processes running a chunk: Ray titles a task's worker ``ray::_learn_chunk``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"_learn_chunk" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue  # the process ended meanwhile
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker processes in /proc")
def test_a_worker_killed_mid_chunk_loses_nothing_and_writes_nothing_twice(local_ray, tmp_path, tiny_model):
    images = _images(24)
    config = ImageMaskConfig(max_steps=400, batch_size=8, check_every=25, patience=10**6)
    remote, units = _planned(tmp_path, "cluster", images, config)
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            workers = _chunk_workers()
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    result = RayExecutor("ray", chunk_size=8).run_group(remote, units, tiny_model)
    killer.join()
    assert killed, "no worker was running a chunk to kill"
    assert not result.cancelled
    assert sorted(_shard_ids(remote)) == list(images.ids)  # nothing lost, nothing twice
    local, units = _planned(tmp_path, "local", images, config)
    run_mask_units(local, units, tiny_model)
    _assert_same_masks(local, remote)


def test_cancel_keeps_every_mask_received_and_the_rest_resumes(local_ray, tmp_path, tiny_model):
    images = _images(24)
    config = ImageMaskConfig(max_steps=300, batch_size=8, check_every=25, patience=10**6)
    remote, units = _planned(tmp_path, "cluster", images, config)
    cancel = threading.Event()

    def on_progress(event) -> None:
        if event.payload.get("masks_done"):
            cancel.set()  # after the first chunk arrived

    result = RayExecutor("ray", chunk_size=8).run_group(
        remote, units, tiny_model, on_progress=on_progress, cancel=cancel
    )
    assert result.cancelled
    kept = _shard_ids(remote)
    assert 8 <= len(kept) < 24 and sorted(kept) == sorted(result.ids)
    # The driver killed mid-job and started again: planning skips what is stored.
    again = plan_image_masks(remote, GROUP, images, model_name="m", config=config)
    assert {u.image_id for u in again} == set(images.ids) - set(kept)
    run_mask_units(remote, again, tiny_model, cluster="ray")
    local, units = _planned(tmp_path, "local", images, config)
    run_mask_units(local, units, tiny_model)
    _assert_same_masks(local, remote)


def test_the_command_line_learns_on_the_cluster(local_ray, tmp_path, trained_shapes_model, capsys):
    from fourier_masks.core.cli import main
    from fourier_masks.core.models.checkpoints import save_checkpoint

    checkpoint = save_checkpoint(trained_shapes_model, tmp_path / "shapes16.pt")
    run = tmp_path / "run"
    data = ["--data", "builtin", "--size", "16", "--train-per-class", "4", "--val-per-class", "2"]
    code = main(
        ["masks", "image", "--model", str(checkpoint), *data, "--max-steps", "20", "--cluster", "ray"]
        + ["--out", str(run), "--quiet"]
    )
    assert code == 0, capsys.readouterr().err
    assert "image/shapes16-clean: 12 masks" in capsys.readouterr().out
    assert len(ResultsStore.open(run).finished_ids("image/shapes16-clean")) == 12


def test_the_apps_image_job_learns_on_the_cluster(local_ray, tmp_path, tiny_model):
    from PIL import Image

    from fourier_masks.core.runs import learn_file_masks_into_run

    paths = []
    for k in range(3):
        path = tmp_path / f"photo{k}.png"
        Image.fromarray((np.random.default_rng(k).random((20, 20)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    config = ImageMaskConfig(max_steps=30)
    results = {}
    for cluster in (None, "ray"):
        store = ResultsStore(tmp_path / f"run-{cluster}")
        result = learn_file_masks_into_run(
            store, "image/m-drop1", "m", tiny_model, paths, config=config, device="cpu", cluster=cluster
        )
        assert result.done == 3
        results[cluster] = store.load_image_masks("image/m-drop1")
    np.testing.assert_array_equal(results[None].masks, results["ray"].masks)


def test_a_study_learns_its_per_image_masks_on_the_cluster(local_ray, tmp_path):
    """The whole study with --cluster: the same per-image masks as the study run locally."""
    from fourier_masks.core.attacks.adversarial import AttackConfig
    from fourier_masks.core.study.config import StudyConfig
    from fourier_masks.core.study.pipeline import run_study
    from fourier_masks.core.training.train import TrainConfig

    config = StudyConfig(
        image_size=16,
        train_per_class=20,
        val_per_class=4,
        augmentations=("none", "adversarial"),
        train=TrainConfig(epochs=1, batch_size=32, max_lr=3e-3, crop_scale=(1.0, 1.0), pgd=AttackConfig(steps=2)),
        set_mask=SetMaskConfig(lr=1e-2, batch_size=12, max_epochs=2),
        image_mask=ImageMaskConfig(max_steps=80, schedule="nominal", lr=0.05, batch_size=8),
        images_per_class=2,
        stability_seeds=(),
        bands=8,
        examples=2,
    )
    local, remote = ResultsStore(tmp_path / "local"), ResultsStore(tmp_path / "cluster")
    run_study(config, local)
    assert not run_study(config, remote, cluster="ray").cancelled
    groups = [g for g in local.mask_groups() if local.mask_meta(g)["kind"] == "image"]
    assert len(groups) == 3
    for group in groups:
        np.testing.assert_array_equal(local.load_image_masks(group).masks, remote.load_image_masks(group).masks)


def test_a_profile_on_the_cluster_equals_the_local_one(
    local_ray, tmp_path, trained_shapes_model, tiny_model, tiny_shapes
):
    """One Ray task per model, only the driver writes: the same table as profiling here."""
    from test_profile import CHEAP

    from fourier_masks.core.beyond.profile import profile_models

    data = tiny_shapes.val
    zoo = {"trained": trained_shapes_model, "untrained": tiny_model}
    here = profile_models(ResultsStore(tmp_path / "here"), zoo, data, config=CHEAP, make_figures=False)
    remote = ResultsStore(tmp_path / "remote")
    there = profile_models(remote, zoo, data, config=CHEAP, cluster="ray", make_figures=False)
    assert there.measured == ["trained", "untrained"] and not there.cancelled
    for a, b in zip(here.table.rows, there.table.rows):
        assert a[0] == b[0]
        assert np.allclose(
            [v if isinstance(v, float) else np.nan for v in a[1:]],
            [v if isinstance(v, float) else np.nan for v in b[1:]],
            rtol=1e-4,
            equal_nan=True,
        ), (a, b)
    assert sorted(p.name for p in (remote.root / "profile").iterdir()) == ["trained.json", "untrained.json"]
