"""Property-based fuzzing of the run-folder reader (Hypothesis).

A real run (a model, set, class and per-image mask groups, a training table, a data array)
is damaged at random: ``run.json``, a group's ``meta.json`` or a table replaced by random JSON
or with one of their values (nested ones too) given a random JSON value of any type or
removed; an array file (``inputs.npz``, a shard, ``mask.npy``, ``masks.npy``,
``history.npz``, a ``data/`` array) truncated, bit-flipped or replaced by junk. Each example
then reads the run as the command line (``fourier-masks info``) and the app do
(``ResultsStore.open``, ``mask_groups``, ``mask_meta``, ``load_image_masks``,
``image_mask_inputs``, ``damage()``, ...). The property: ``info`` exits 0, or 2 with exactly
one ``error:`` line, never 1 and never a traceback; the store's reads raise nothing but
:class:`~fourier_masks.core.errors.FourierMasksError`.

The default suite runs a few dozen examples per test; for a longer hunt::

    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz_runs.py
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import tiny_info
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fourier_masks.core.cli import main
from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.errors import FourierMasksError
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.results import SetMaskResult, quantised
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.runs import (
    ResultsStore,
    image_mask_history,
    keep_model,
    plan_image_masks,
    run_mask_units,
    save_set_mask_result,
    set_mask_history,
)
from fourier_masks.core.runs.groups import save_class_mask_results
from fourier_masks.core.tables import Table

GROUPS = ("set/N", "class/N", "image/N-clean")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(max_examples=EXAMPLES or 30, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def _set_result(mask: np.ndarray) -> SetMaskResult:
    history = {"invariance": [0.5, 0.4], "kept_fraction": [0.9, 0.8], "masked_accuracy": [1.0, 1.0]}
    return SetMaskResult(
        mask=mask,
        accuracy=1.0,
        masked_accuracy=1.0,
        kept_fraction=0.8,
        epochs=2,
        converged=True,
        epoch_kept=2,
        config=SetMaskConfig(),
        history=history,
        num_images=4,
        snapshots=quantised(np.stack([mask, mask])),
    )


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A small but complete run, every file written by the product's own writers (set and
    class masks as learned ones are stored; per-image masks learned, in two shards)."""
    torch.manual_seed(0)
    model = build_classifier(tiny_info()).eval()
    names = tuple(model.info.class_names)
    images = ImageSet(
        images=torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0)),
        labels=torch.tensor([0, 1, 2, 0]),
        class_names=names,
        ids=tuple(f"img{k}" for k in range(4)),
        name="random",
    )
    store = ResultsStore(tmp_path_factory.mktemp("fuzz") / "base")
    store.update_manifest(classes=names, train_images=4, val_images=4)
    keep_model(store, "N", model)
    masks = np.random.default_rng(0).random((3, 1, 16, 16)).astype(np.float32)
    save_set_mask_result(store, "set/N", _set_result(masks[0]), model_name="N", class_names=names, learned_on=["img0"])
    results = {0: _set_result(masks[1]), 2: _set_result(masks[2])}
    save_class_mask_results(store, "class/N", results, model_name="N", class_names=names)
    config = ImageMaskConfig(max_steps=10, batch_size=8, check_every=5)
    units = plan_image_masks(store, "image/N-clean", images, model_name="N", config=config, inputs="clean")
    run_mask_units(store, units[:2], model)
    run_mask_units(store, units[2:], model)  # a second shard
    table = Table.build("training-N", "Training of model N", [("epoch", "count"), ("val loss", "nats")])
    table.add_row(1, 0.5)
    store.save_table(table)
    store.save_arrays("umap-N-clean", ids=np.array(["img0"]), xy=np.zeros((1, 2), np.float32))
    for path in store.root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return store.root


@contextlib.contextmanager
def copy_of(base: Path):
    with tempfile.TemporaryDirectory(prefix="fuzz-run-") as scratch:
        yield Path(shutil.copytree(base, Path(scratch) / "run"))


def read_as_the_app_does(run: Path) -> None:
    """Every read the app and the reports make; each may refuse with a FourierMasksError."""

    def attempt(read) -> Any:
        try:
            return read()
        except FourierMasksError:
            return None

    store = attempt(lambda: ResultsStore.open(run))
    if store is None:
        return
    for damage in store.damage():
        assert "\n" not in str(damage) and str(damage.path) in str(damage)
    attempt(lambda: store.manifest)
    listed = store.mask_groups()
    assert set(listed) <= set(GROUPS)
    for group in GROUPS:
        meta = attempt(lambda g=group: store.mask_meta(g))
        attempt(lambda g=group: store.load_set_mask(g))
        attempt(lambda g=group: set_mask_history(store, g))
        attempt(lambda g=group: store.load_class_masks(g))
        attempt(lambda g=group: store.image_mask_inputs(g))
        attempt(lambda g=group: store.finished_ids(g))
        stored = attempt(lambda g=group: store.load_image_masks(g))
        if stored is not None and len(stored):
            attempt(lambda g=group, s=stored: image_mask_history(store, g, s.ids[0], s.sources[0]))
            attempt(lambda g=group, s=stored: store.load_image_masks(g, s))
        if group in listed:
            assert meta is not None  # a listed group's meta.json always reads
    for name in store.table_names():
        attempt(lambda n=name: store.load_table(n).to_text())
    attempt(lambda: store.load_arrays("umap-N-clean"))


def info_says_one_line_or_succeeds(run: Path) -> None:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["info", str(run)])
    text = err.getvalue()
    assert "Traceback" not in text and "unexpected failure" not in text, text
    assert code in (0, 2), text
    if code == 2:
        assert len([line for line in text.splitlines() if line.startswith("error:")]) == 1, text


def check(run: Path) -> None:
    with contextlib.redirect_stderr(io.StringIO()):  # notices of the damage, as the app shows them
        read_as_the_app_does(run)
    info_says_one_line_or_succeeds(run)


# --- JSON ------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
JSON_FILES = ("run.json", *(f"masks/{group}/meta.json" for group in GROUPS), "tables/training-N.json")


def paths_in(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value: the keys (and list indices) down to it."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for k, item in enumerate(value[:3]):
            found += paths_in(item, (*prefix, k))
    return found


@st.composite
def json_damage(draw) -> tuple[str, Any]:
    """A JSON file of the run and what it holds instead: random JSON (an object that passes
    run.json's first checks, or anything), or its own content with values changed or removed."""
    name = draw(st.sampled_from(JSON_FILES))
    how = draw(st.sampled_from(("replace", "mutate", "mutate", "mutate")))
    if how == "replace":
        keys = ("format", "version", "data", "classes", "kind", "model", "ids", "config", "name", "columns")
        base = {"format": "fourier-masks/run", "version": 1} if name == "run.json" else {}
        extra = draw(st.dictionaries(st.sampled_from(keys), JSON_VALUES, max_size=4))
        return name, draw(st.one_of(st.just({**base, **extra}), JSON_VALUES))
    changes = st.tuples(st.integers(1, 3), st.integers(0, 10**6), JSON_VALUES, st.booleans())
    return name, ("mutate", draw(st.lists(changes, max_size=3)))


def apply_json(path: Path, damage: Any) -> None:
    if not (isinstance(damage, tuple) and damage and damage[0] == "mutate"):
        path.write_text(json.dumps(damage))
        return
    raw = json.loads(path.read_text())
    for depth, pick, value, remove in damage[1]:  # a depth first: top-level fields as often as nested ones
        places = [p for p in paths_in(raw) if len(p) == depth] or paths_in(raw)
        if not places:
            break
        *parents, last = places[pick % len(places)]
        holder = raw
        for key in parents:
            holder = holder[key]
        if remove and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = copy.deepcopy(value)
    path.write_text(json.dumps(raw))


@FUZZ
@given(json_damage())
# What the fuzzer found once, kept as fixed examples: a list as a group's kind (unhashable), ids
# that are a number, a table whose columns are not a list, run.json's data with a text size.
@example(("masks/set/N/meta.json", {"kind": [], "model": "N"}))
@example(("masks/image/N-clean/meta.json", {"kind": "image", "model": "N", "ids": 3}))
@example(("tables/training-N.json", {"name": "training-N", "columns": 3, "rows": [[1]]}))
@example(("run.json", {"format": "fourier-masks/run", "version": 1, "data": {"spec": "builtin", "size": "16"}}))
def test_random_json_in_a_run_never_breaks_a_reader(base_run, damage):
    name, content = damage
    with copy_of(base_run) as run:
        apply_json(run / name, content)
        check(run)


# --- arrays ------------------------------------------------------------------------------------------


def array_files(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob("*") if p.suffix in (".npz", ".npy"))


MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=4)),
    st.tuples(st.just("junk"), st.binary(max_size=64)),
)  # fmt: skip


def apply_bytes(path: Path, mutation: tuple) -> None:
    data = bytearray(path.read_bytes())
    how, detail = mutation
    if how == "truncate":
        data = data[: int(detail * len(data))]
    elif how == "flip":
        for where, bit in detail:
            data[int(where * len(data))] ^= 1 << bit
    else:
        data = bytearray(detail)
    path.write_bytes(bytes(data))


@FUZZ
@given(st.integers(0, 10**6), MUTATIONS)
@example(1, ("flip", [(0.046875, 3)]))  # class masks' header made unparsable (numpy's tokenizer raised)
@example(2, ("truncate", 0.5))  # half the inputs
def test_damaged_arrays_in_a_run_never_break_a_reader(base_run, pick, mutation):
    with copy_of(base_run) as run:
        files = array_files(run)
        apply_bytes(files[pick % len(files)], mutation)
        check(run)


def test_the_base_run_reads_whole(base_run):
    """The fuzzers start from a run every reader takes as it is."""
    store = ResultsStore.open(base_run)
    assert store.damage() == [] and store.mask_groups() == sorted(GROUPS)
    assert len(store.load_image_masks("image/N-clean").shards) == 2
    assert {p.parent.name for p in array_files(base_run)} >= {"N", "N-clean", "shards", "data"}
    check(base_run)
