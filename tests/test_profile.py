"""The zoo profile: each metric's known answer on a model that sees only low frequencies beside
the same model without its filter (the control), the rank statistics, mCE, resuming, and the
command line."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch
from test_bad_inputs import run_cli
from test_sweeps import CUTOFF, RADII, cosine_data, matched_filter

from fourier_masks.core.attacks.adversarial import AttackConfig
from fourier_masks.core.beyond import profile as profiling
from fourier_masks.core.beyond.profile import (
    METRICS,
    ModelProfile,
    ProfileConfig,
    mean_corruption_error,
    profile_models,
    profile_table,
    radial_centroid,
    rank_correlation,
)
from fourier_masks.core.beyond.robustness import fourier_heat_map
from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.errors import ConfigError, OutputError
from fourier_masks.core.masks.config import SetMaskConfig
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.runs.store import ResultsStore

# Cheap settings: two corruptions (one noise, one blur) at two severities, a short dataset mask.
CHEAP = ProfileConfig(
    set_mask=SetMaskConfig(max_epochs=3, batch_size=16),
    attack=AttackConfig(steps=2),
    corruptions=("gaussian_noise", "gaussian_blur"),
    severities=(1, 5),
    radii=RADII,
)


@pytest.fixture(scope="module")
def cosine_set() -> ImageSet:
    images, labels = cosine_data()
    return ImageSet(images, labels, ("a", "b", "c", "d"), tuple(f"{k}.png" for k in range(len(labels))))


@pytest.fixture(scope="module")
def zoo():
    return {"low": matched_filter(low_pass=True), "plain": matched_filter(low_pass=False)}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory, zoo, cosine_set):
    store = ResultsStore(tmp_path_factory.mktemp("profile") / "run")
    return store, profile_models(store, zoo, cosine_set, config=CHEAP, reference="plain", make_figures=True)


def _row(table, model: str) -> dict:
    (row,) = [dict(zip([c.name for c in table.columns], r)) for r in table.rows if r[0] == model]
    return row


def test_a_model_that_sees_only_low_frequencies_profiles_so(profiled):
    """Its gradients have no energy above half Nyquist, unlike the same model without the
    filter (the control), and its accuracy halves below its filter's radius."""
    _, result = profiled
    low, plain = _row(result.table, "low"), _row(result.table, "plain")
    assert low["clean accuracy"] == plain["clean accuracy"] == 100.0
    assert low["gradient high-frequency share"] < 1e-6 < 1 < plain["gradient high-frequency share"]
    assert low["low-pass halving radius"] < CUTOFF
    # (The control's low-pass curve is the same: the class cosines, all the data tells apart,
    # lie inside the disk, so a low-pass filter takes from both models the same information.)
    # High-pass beyond the filter leaves the low-pass model nothing: its curve halves by then.
    assert low["high-pass halving radius"] <= CUTOFF
    # Neither model errs under these corruptions: mCE against a reference that never errs is
    # undefined (0/0), and the cell says nothing rather than 100 %.
    assert plain["corruption accuracy"] == 100.0 and plain["mCE"] == low["mCE"] == ""
    assert [c.name for c in result.table.columns] == ["model", *(name for name, _ in METRICS)]
    for name, _ in METRICS:
        assert name == "mCE" or isinstance(low[name], float), name  # every other metric measured


def test_the_heat_map_of_a_low_frequency_model_lies_inside_its_filter(zoo, cosine_set):
    """Under ε = 8 the low-pass model errs only at frequencies inside its 0.25 × Nyquist disk:
    its filter removes every perturbation beyond it; the control errs there too."""
    fy, fx = np.fft.fftfreq(16).reshape(-1, 1), np.fft.fftfreq(16).reshape(1, -1)
    outside = np.sqrt(fy**2 + fx**2) / 0.5 > CUTOFF
    maps = {
        name: fourier_heat_map(model, cosine_set.images, cosine_set.labels, eps=8.0).errors
        for name, model in zoo.items()
    }
    assert maps["low"][outside].max() == 0 < maps["low"][~outside].max()
    assert maps["plain"][outside].max() > 0.5


def test_profile_files(profiled):
    store, result = profiled
    assert {"profile", "profile-correlations"} <= set(store.table_names())
    assert (store.figures_dir / "profile.png").is_file()
    record = json.loads(store.path("profile/low.json").read_text())
    assert record["model"] == "low" and record["stamp"]["config"] == CHEAP.to_dict()
    assert result.measured == ["low", "plain"] and result.reference == "plain"


def test_a_rerun_measures_nothing_again_and_other_settings_are_refused(profiled, zoo, cosine_set, monkeypatch):
    store, first = profiled
    monkeypatch.setattr(profiling, "profile_model", lambda *a, **k: pytest.fail("measured a kept model again"))
    again = profile_models(store, zoo, cosine_set, config=CHEAP, reference="plain", make_figures=False)
    assert again.measured == [] and again.table.rows == first.table.rows
    other = ProfileConfig(**{**CHEAP.__dict__, "seed": 1})
    with pytest.raises(OutputError, match=r"profile/low.json was measured with other settings or images; pass --force"):
        profile_models(store, zoo, cosine_set, config=other, make_figures=False)


def test_a_cancelled_profile_keeps_the_finished_models(tmp_path, zoo, cosine_set):
    store = ResultsStore(tmp_path / "run")
    cancel = threading.Event()

    def stop_after_the_first(event):
        if event.stage == "profile" and event.message.endswith("done"):
            cancel.set()

    result = profile_models(store, zoo, cosine_set, config=CHEAP, on_progress=stop_after_the_first, cancel=cancel)
    assert result.cancelled and list(result.profiles) == ["low"]
    assert store.exists("profile/low.json") and not store.exists("profile/plain.json")
    assert "profile" not in store.table_names()


def test_rank_correlation_known_answers():
    rho, p, n = rank_correlation([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert rho == pytest.approx(1.0) and n == 5 and p == pytest.approx(2 / 120)  # only the two monotone orders
    rho, p, _ = rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])
    assert rho == pytest.approx(-1.0) and p == pytest.approx(2 / 24)
    rho, _, _ = rank_correlation([1, 2, 2, 3], [1, 2, 3, 4])  # ties share their mean rank
    assert rho == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1])
    assert math.isnan(rank_correlation([1, 2], [1, 2])[0])  # too few
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3])[0])  # a constant side
    assert rank_correlation([1, math.nan, 3, 4], [1, 2, 3, 4])[2] == 3  # NaN pairs left out
    shuffled = rank_correlation(range(12), [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], seed=0)
    assert 0 < shuffled[1] < 1  # beyond 8 models: seeded shuffles


def test_mean_corruption_error_is_hendrycks():
    errors = {"noise": [0.2, 0.4], "blur": [0.1, 0.1]}
    reference = {"noise": [0.3, 0.5], "blur": [0.2, 0.2]}
    assert mean_corruption_error(errors, reference) == pytest.approx(100 * (0.6 / 0.8 + 0.2 / 0.4) / 2)
    assert math.isnan(mean_corruption_error(errors, {"noise": [0, 0], "blur": [0.2, 0.2]}))


def test_the_table_measures_mce_against_the_reference():
    metrics = {name: 50.0 for name, _ in METRICS if name != "mCE"}
    profiles = {
        "A": ModelProfile(metrics, {"noise": [0.2, 0.4], "blur": [0.1, 0.1]}),
        "R": ModelProfile(metrics, {"noise": [0.3, 0.5], "blur": [0.2, 0.2]}),
    }
    table = profile_table(profiles, "R", CHEAP, images=10)
    assert _row(table, "A")["mCE"] == pytest.approx(100 * (0.6 / 0.8 + 0.2 / 0.4) / 2)
    assert _row(table, "R")["mCE"] == pytest.approx(100.0)
    assert _row(profile_table(profiles, None, CHEAP, images=10), "A")["mCE"] == ""


def test_radial_centroid_of_one_frequency():
    mask = np.zeros((1, 16, 16))
    mask[0, 0, 4] = mask[0, 0, -4] = 1  # 4 cycles of 16 along x: half Nyquist
    assert radial_centroid(mask) == pytest.approx(0.5)
    assert math.isnan(radial_centroid(np.zeros((16, 16))))


def test_bad_settings_are_refused(zoo, cosine_set, tmp_path):
    with pytest.raises(ConfigError, match="corruptions must be some of"):
        ProfileConfig(corruptions=("fog",))
    with pytest.raises(ConfigError, match="severities must be some of 1–5"):
        ProfileConfig(severities=(6,))
    with pytest.raises(ConfigError, match="not one of the profiled models"):
        profile_models(ResultsStore(tmp_path / "r"), zoo, cosine_set, config=CHEAP, reference="N")


def test_a_damaged_record_is_named(profiled, zoo, cosine_set, tmp_path):
    store = ResultsStore(tmp_path / "run")
    path = store.path("profile/low.json")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"model": "low", "metrics": {"clean accuracy": "high"}, "corruption_errors": {}}))
    with pytest.raises(OutputError, match=r"profile/low.json is damaged .*; delete it to measure the model again"):
        profile_models(store, zoo, cosine_set, config=CHEAP)
    assert ModelProfile.from_dict(profiled[1].profiles["low"].to_dict()).metrics["clean accuracy"] == 100.0


@pytest.mark.slow
def test_the_command_line_profiles_two_models(tmp_path, trained_shapes_model, capsys):
    run = tmp_path / "run"
    store = ResultsStore(run)
    save_checkpoint(trained_shapes_model, store.model_path("N"))
    torch.manual_seed(3)
    other = tmp_path / "other.safetensors"
    save_checkpoint(trained_shapes_model, other)
    store.release()
    args = ["profile", "--model", "N", "--model", f"B={other}", "--data", "builtin", "--size", "16"]
    args += ["--per-class", "3", "--out", run, "--corruptions", "gaussian_noise", "--severities", "1", "--steps", "1"]
    code, err = run_cli(capsys, [*args, "--mask-epochs", "2", "--quiet"])
    assert code == 0, err
    table = ResultsStore.open(run).load_table("profile")
    assert [row[0] for row in table.rows] == ["N", "B"]
    assert _row(table, "N")["mCE"] == pytest.approx(100.0)
    code, err = run_cli(capsys, [*args, "--mask-epochs", "2", "--reference", "Q"])
    assert code == 2 and "--reference Q: not one of the models (N, B)" in err
