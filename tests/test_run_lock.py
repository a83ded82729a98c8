"""One writer per run folder (``core/runs/lock.py``), and training kept as one step.

Two real processes: a ``fourier-masks train`` job holds a run while a second job starts, and
the second is refused before it writes anything, naming the first's pid; afterwards the
folder's model, training table and ``run.json`` are all the first job's. A lock left by a
killed process (its holder file beside it, a forked child still running) never blocks;
holds are counted within a process, reading never locks; a training killed before its commit
point leaves the old model, table and record, killed after it the new ones.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bad_inputs import run_cli

from fourier_masks.core.data.datasets import load_builtin
from fourier_masks.core.errors import OutputError, RunInUseError
from fourier_masks.core.runs import lock, workflows
from fourier_masks.core.runs.lock import HOLDER_FILE, holds_lock
from fourier_masks.core.runs.manifest import DataRecord
from fourier_masks.core.runs.store import STEPS, ResultsStore
from fourier_masks.core.runs.workflows import train_into_run
from fourier_masks.core.training.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ["--data", "builtin", "--size", "16", "--val-per-class", "5"]


def _holder(run: Path) -> dict | None:
    try:
        return json.loads((run / HOLDER_FILE).read_text())
    except (OSError, ValueError):
        return None


def _wait_for_holder(run: Path, process: subprocess.Popen, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = _holder(run)
        if holder is not None and holder["pid"] == process.pid:
            return holder
        if process.poll() is not None:
            pytest.fail(f"the first job ended before it locked the run: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    pytest.fail("the first job never locked the run")


@pytest.mark.slow
def test_a_second_job_is_refused_and_the_run_stays_the_first_jobs(tmp_path, capsys):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "fourier_masks", "train", *DATA, "--train-per-class", "20", "--epochs", "40"]
        + ["--out", str(run), "--quiet"],
        cwd=ROOT,
        env={**os.environ, "FOURIER_MASKS_HOME": str(tmp_path / "home")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        holder = _wait_for_holder(run, first)
        assert holder["host"] == socket.gethostname() and "fourier_masks train" in holder["command"]
        code, err = run_cli(
            capsys, ["train", *DATA, "--train-per-class", "3", "--epochs", "1", "--name", "B", "--out", run]
        )
        lines = err.splitlines()
        assert code == 2 and len(lines) == 1, err
        assert lines[0].startswith(f"error: {run} is being written by another Fourier Masks job (pid {first.pid} on")
        assert lines[0].endswith("wait for it to finish or write into another run folder")
        code, err = run_cli(capsys, ["info", run])  # reading never waits for a writer, nor locks
        assert code == 0 and first.poll() is None, err
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err.decode()[-2000:]
    store = ResultsStore.open(run)
    assert store.model_names() == ["N"] and store.table_names() == ["training-N"]
    assert len(store.load_table("training-N").rows) == 40
    assert store.manifest.data is not None and store.manifest.data.train_per_class == 20
    assert not (run / HOLDER_FILE).exists() and not (run / STEPS).exists()


_HOLD_AND_FORK = """
import os, sys, time
from fourier_masks.core.runs import ResultsStore

store = ResultsStore(sys.argv[1], lock=True)
child = os.fork()
if child == 0:  # a data-loader worker, say, that outlives its killed parent
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(120)
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a child")
def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_FORK, str(run)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child = int(holder.stdout.readline() or 0)
    try:
        assert child, holder.stderr.read().decode()[-2000:]
        with pytest.raises(RunInUseError, match=f"pid {holder.pid} on host"):
            ResultsStore.open(run).lock_for_writing()
        with pytest.raises(RunInUseError, match=f"pid {holder.pid}"):  # an unlocked store checks before writing
            ResultsStore.open(run).update_manifest(status="complete")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert _holder(run)["pid"] == holder.pid  # its details stay behind: stale
        store = ResultsStore.open(run, lock=True)  # while its forked child still runs
        assert store.writing and _holder(run)["pid"] == os.getpid()
        store.release()
        assert not store.writing and not (run / HOLDER_FILE).exists()
    finally:
        holder.kill()
        if child:
            os.kill(child, signal.SIGKILL)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_holder(run: Path, pid: int, host: str) -> None:
    record = {"pid": pid, "host": host, "command": "fourier-masks masks image", "since": "2026-01-01T10:02:00+0000"}
    (run / HOLDER_FILE).write_text(json.dumps(record))


def test_without_kernel_locks_the_holder_file_is_the_lock(tmp_path, monkeypatch):
    """On a filesystem without locks (some network shares): a holder file of a process that
    ended is stale and replaced; a live one, or one of another host, refuses."""

    def no_locks(fd):
        raise lock._NoKernelLocks

    monkeypatch.setattr(lock, "_kernel_lock", no_locks)
    run = ResultsStore(tmp_path / "run").root
    _write_holder(run, _dead_pid(), socket.gethostname())
    with ResultsStore.open(run).lock_for_writing():
        assert _holder(run)["pid"] == os.getpid()
    assert not (run / HOLDER_FILE).exists()
    for pid, host in ((os.getppid(), socket.gethostname()), (_dead_pid(), "elsewhere")):
        _write_holder(run, pid, host)
        with pytest.raises(RunInUseError, match=rf"pid {pid} on host {host}, `fourier-masks masks image`.*delete"):
            ResultsStore.open(run, lock=True)
        assert not holds_lock(run)


def test_holds_are_counted_within_a_process_and_reading_never_locks(tmp_path, capsys):
    run = tmp_path / "run"
    code, err = run_cli(capsys, ["info", ResultsStore(run).root])
    assert code == 0 and not holds_lock(run) and not (run / HOLDER_FILE).exists(), err
    first = ResultsStore(run, lock=True)
    with ResultsStore.open(run).lock_for_writing() as hold:  # the engine opening the same run again
        assert hold.root == run and _holder(run)["pid"] == os.getpid()
    assert first.writing  # the first hold is still open
    first.release()
    assert not holds_lock(run) and not (run / HOLDER_FILE).exists()
    ResultsStore(run, lock=True)  # a store dropped gives its hold back
    gc.collect()
    assert not holds_lock(run)


class _Killed(BaseException):
    """A kill at a chosen point (nothing catches a BaseException it does not name)."""


def test_training_is_one_step_killed_before_or_after_its_commit(tmp_path, monkeypatch):
    data = load_builtin("shapes", train_per_class=5, val_per_class=2, size=16)
    record = DataRecord(spec="builtin", size=16, channels=1, seed=0, train_per_class=5, val_per_class=2)
    store = ResultsStore(tmp_path / "run", overwrite=True, lock=True)
    config = TrainConfig(epochs=1, batch_size=32)
    train_into_run(store, "N", data.train, data.val, config=config, device="cpu", data=record)
    files = ["models/N.safetensors", "tables/training-N.json", "tables/training-N.csv", "run.json"]

    def state() -> dict[str, bytes]:
        return {name: store.path(name).read_bytes() for name in files}

    first = state()
    assert store.manifest.data == record and len(store.load_table("training-N").rows) == 1

    real_save = workflows.save_checkpoint

    def killed_while_saving(model, path):
        raise _Killed

    monkeypatch.setattr(workflows, "save_checkpoint", killed_while_saving)  # the table is staged already
    with pytest.raises(_Killed):
        train_into_run(store, "N", data.train, data.val, config=config.replace(epochs=2), device="cpu")
    assert state() == first and not (store.root / STEPS).exists()

    def killed_after_the_commit(self, folder):
        raise _Killed

    monkeypatch.setattr(workflows, "save_checkpoint", real_save)
    monkeypatch.setattr(ResultsStore, "_finish_step", killed_after_the_commit)
    with pytest.raises(_Killed):
        train_into_run(store, "N", data.train, data.val, config=config.replace(epochs=2), device="cpu")
    assert state() == first and len(list((store.root / STEPS).glob("*/commit.json"))) == 1
    monkeypatch.undo()

    store.release()
    later = ResultsStore.open(store.root, lock=True)  # the next job finishes the step first
    assert len(later.load_table("training-N").rows) == 2 and not (store.root / STEPS).exists()
    assert all(state()[name] != first[name] for name in files if name != "run.json")
    with pytest.raises(OutputError, match="already exists with other content"):  # a step checks before it stages
        train_into_run(ResultsStore.open(store.root), "N", data.train, data.val, config=config, device="cpu")
