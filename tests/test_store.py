import json
import os
import stat

import numpy as np
import pytest
from restricted import run_unable_to_write, scratch_folder

from fourier_masks.core.errors import ConfigError, OutputError
from fourier_masks.core.files import atomic_write_text, ensure_writable_dir, safe_name
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.tables import Table


@pytest.fixture
def store(tmp_path):
    return ResultsStore(tmp_path / "run")


def test_new_run_has_a_manifest(store):
    manifest = store.read_json("run.json")
    assert manifest["format"] == "fourier-masks/run"
    store.update_manifest(status="complete")
    assert store.read_json("run.json")["status"] == "complete"
    assert ResultsStore.open(store.root).root == store.root


def test_opening_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(OutputError, match="not a Fourier Masks run"):
        ResultsStore.open(tmp_path)


def test_set_masks_are_write_once_and_record_their_layout(store):
    mask = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    store.save_set_mask("set/N", mask, {"model": "N"})
    np.testing.assert_array_equal(store.load_set_mask("set/N"), mask)
    meta = store.mask_meta("set/N")
    assert meta["layout"] == "unshifted-dft" and meta["kind"] == "set" and meta["shape"] == [1, 8, 8]
    with pytest.raises(OutputError, match="never overwritten"):
        store.save_set_mask("set/N", mask * 0, {"model": "N"})
    np.testing.assert_array_equal(store.load_set_mask("set/N"), mask)
    # Read-only on disk, for its owner too (the permission bits: root ignores them, but they
    # are what the store sets, and they stop every other user).
    assert stat.S_IMODE(store.path("masks/set/N/mask.npy").stat().st_mode) & 0o222 == 0
    assert stat.S_IMODE(store.path("masks/set/N/meta.json").stat().st_mode) & 0o222 == 0


def test_class_masks(store):
    masks = {0: np.zeros((1, 4, 4)), 2: np.ones((1, 4, 4))}
    store.save_class_masks("class/N", masks, {"model": "N"})
    loaded = store.load_class_masks("class/N")
    assert sorted(loaded) == [0, 2] and loaded[2].sum() == 16


def _begin(store, ids):
    images = np.zeros((len(ids), 1, 4, 4), np.float32)
    store.begin_image_masks(
        "image/N-clean", {"model": "N"}, images=images, labels=np.zeros(len(ids), np.int64), ids=ids
    )


def test_image_masks_arrive_in_shards_and_read_back_in_plan_order(store):
    ids = ["a", "b", "c", "d"]
    _begin(store, ids)
    store.append_image_masks(
        "image/N-clean",
        ["c", "a"],
        np.stack([np.full((1, 4, 4), 3.0), np.full((1, 4, 4), 1.0)]),
        steps=np.array([30, 10]),
    )
    assert store.finished_ids("image/N-clean") == {"a", "c"}
    store.append_image_masks("image/N-clean", ["b"], np.full((1, 1, 4, 4), 2.0), steps=np.array([20]))
    stored = store.load_image_masks("image/N-clean")
    assert stored.ids == ["a", "b", "c"]
    assert stored.masks[:, 0, 0, 0].tolist() == [1, 2, 3] and stored.arrays["steps"].tolist() == [10, 20, 30]
    assert stored.select(["c", "a"]).ids == ["c", "a"]
    assert store.image_mask_inputs("image/N-clean")["ids"].tolist() == ids


def test_a_second_writer_appends_without_clashing(store, tmp_path):
    _begin(store, ["a", "b"])
    other = ResultsStore.open(store.root)
    store.append_image_masks("image/N-clean", ["a"], np.zeros((1, 1, 4, 4)))
    other.append_image_masks("image/N-clean", ["b"], np.ones((1, 1, 4, 4)))
    assert len(list((store.root / "masks/image/N-clean/shards").iterdir())) == 2
    assert store.finished_ids("image/N-clean") == {"a", "b"}


def test_leftover_temporary_files_are_ignored(store):
    _begin(store, ["a"])
    (store.root / "masks/image/N-clean/shards/.part-x.npz.123.tmp").write_bytes(b"half a file")
    assert store.finished_ids("image/N-clean") == set()


def test_tables_as_csv_with_units(store):
    table = Table.build("table1", "Table 1", [("model", ""), ("accuracy", "%")])
    table.add_row("N", 91.25)
    store.save_table(table)
    csv = store.path("tables/table1.csv").read_text()
    assert csv.splitlines() == ["model,accuracy [%]", "N,91.25"]
    assert store.load_table("table1").rows == [["N", 91.25]]
    assert store.table_names() == ["table1"]


def test_table_rows_must_fit():
    table = Table.build("t", "t", [("a", ""), ("b", "")])
    with pytest.raises(ValueError):
        table.add_row(1)


@pytest.mark.parametrize("name", ["../escape", "/abs", "a/../../b", "", "a//b", "we ird"])
def test_names_cannot_leave_the_run_folder(store, name):
    with pytest.raises(ConfigError):
        safe_name(name)
    with pytest.raises(ConfigError):
        store.save_arrays(name, values=np.zeros(1))


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="part of that path is a file|not a folder"):
        ResultsStore(blocker / "run")
    with pytest.raises(OutputError, match="not a folder"):
        ensure_writable_dir(blocker)


_OPEN_A_STORE = """
import sys
from pathlib import Path
from fourier_masks.core.errors import OutputError
from fourier_masks.core.runs.store import ResultsStore

folder = Path(sys.argv[1])
try:
    ResultsStore(folder)
except OutputError as exc:
    print("OutputError:", exc)
else:
    print("opened")
print("left behind:", sorted(p.name for p in folder.iterdir()))
"""


@pytest.mark.slow
def test_read_only_output_folder():
    """A folder the user cannot write (as root: run as nobody, or on a read-only mount; see
    ``tests/restricted.py``) is refused with a message, and nothing is left in it."""
    with scratch_folder() as scratch:
        locked = scratch / "locked"
        locked.mkdir()
        printed = run_unable_to_write(_OPEN_A_STORE, locked)
    assert "OutputError:" in printed and "is not writable" in printed and "choose another output folder" in printed
    assert "left behind: []" in printed


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    atomic_write_text(target, json.dumps({"v": 1}))

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", explode)
    with pytest.raises(OutputError, match="disk full"):
        atomic_write_text(target, json.dumps({"v": 2}))
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_files_are_written_with_the_users_umask(tmp_path, monkeypatch):
    """mkstemp makes 0600 files; what the product writes gets what the user's umask gives
    (0644 under the usual 022, so a group can read a shared run), write-once files without write."""
    import os
    import stat

    from fourier_masks.core import files

    previous = os.umask(0o027)
    try:
        assert files.current_umask() == 0o027  # read as it is, not guessed
    finally:
        os.umask(previous)
    for umask, plain, read_only in ((0o022, 0o644, 0o444), (0o077, 0o600, 0o400)):
        monkeypatch.setattr(files, "_UMASK", umask)
        written = files.atomic_write_bytes(tmp_path / f"a-{umask:o}", b"x")
        frozen = files.atomic_write_bytes(tmp_path / f"b-{umask:o}", b"x", read_only=True)
        assert stat.S_IMODE(written.stat().st_mode) == plain
        assert stat.S_IMODE(frozen.stat().st_mode) == read_only
