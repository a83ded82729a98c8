"""Beyond the main paper: IdCor, adversarial frequency maps, JaFR, Fourier heat maps, phase
masks, the blue shift. Known answers where the science gives one."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch

from fourier_masks.core.attacks.adversarial import AttackConfig, attack_images
from fourier_masks.core.beyond.advmaps import AdversarialMapsConfig, cosine_similarity
from fourier_masks.core.beyond.analyses import run_adversarial_maps, run_blue_shift, run_heat_map, run_robustness
from fourier_masks.core.beyond.blueshift import blue_shift
from fourier_masks.core.beyond.idcor import idcor, twonn_dimension
from fourier_masks.core.beyond.robustness import (
    band_noise,
    fourier_basis,
    fourier_heat_map,
    high_frequency_share,
    input_gradients,
)
from fourier_masks.core.cli import main as cli_main
from fourier_masks.core.data.synthetic import planted_band
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.masks.set_masks import learn_set_mask
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.spectra.fourier import apply_mask, centred, mirrored
from fourier_masks.core.training.jafr import EPS, frequency_bias
from fourier_masks.core.training.train import TrainConfig, history_table, train_model

# --- IdCor ---------------------------------------------------------------------------------------


def test_twonn_finds_the_dimension_of_a_manifold():
    rng = np.random.default_rng(0)
    z = rng.random((1000, 2))
    embedded = np.concatenate([z, np.sin(3 * z), z**2, np.zeros((1000, 3))], axis=1)
    assert twonn_dimension(embedded) == pytest.approx(2.0, abs=0.2)
    assert twonn_dimension(rng.normal(size=(1000, 5))) == pytest.approx(5.0, abs=0.5)


def test_idcor_is_one_for_a_smooth_function_of_the_data():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1000, 3))
    b = np.tanh(a @ rng.normal(size=(3, 6)))
    result = idcor(a, b, permutations=100, seed=0)
    assert result.correlation > 0.8
    assert result.p_value <= 0.02


def test_idcor_is_zero_for_independent_data_with_a_large_p_value():
    rng = np.random.default_rng(0)
    a, c = rng.normal(size=(1000, 3)), rng.normal(size=(1000, 3))
    result = idcor(a, c, permutations=100, seed=0)
    assert abs(result.correlation) < 0.2
    assert result.p_value > 0.1


def test_idcor_needs_paired_sets():
    with pytest.raises(ConfigError):
        idcor(np.zeros((10, 2)), np.zeros((9, 2)))


# --- attacks -------------------------------------------------------------------------------------


def test_fgsm_and_deepfool(trained_shapes_model, tiny_shapes):
    images, labels = tiny_shapes.val.images[:12], tiny_shapes.val.labels[:12]
    fgsm = attack_images(trained_shapes_model, images, labels, config=AttackConfig(method="fgsm", eps=0.05))
    assert (fgsm - images).abs().max() <= 0.05 + 1e-6 and fgsm.min() >= 0 and fgsm.max() <= 1
    deepfool = attack_images(trained_shapes_model, images, labels, config=AttackConfig(method="deepfool", steps=20))
    # DeepFool moves each correctly classified image just across the nearest boundary.
    assert (trained_shapes_model(deepfool).argmax(1) != labels).all()
    assert (deepfool - images).flatten(1).norm(dim=1).max() < 1.0
    with pytest.raises(ConfigError):
        AttackConfig(method="cw")


# --- adversarial frequency maps ----------------------------------------------------------------


def test_cosine_similarity_of_masks():
    a = np.array([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]])
    b = np.array([[[1.0, 0.0]], [[1.0, 0.0]], [[1.0, 0.0]]])
    np.testing.assert_allclose(cosine_similarity(a, b), [1.0, np.sqrt(0.5), 0.0])


@pytest.mark.slow
def test_adversarial_maps_end_to_end(trained_shapes_model, tiny_shapes, tmp_path):
    store = ResultsStore(tmp_path / "run")
    config = AdversarialMapsConfig(
        attacks=("pgd", "fgsm"),
        attack=AttackConfig(eps=0.1, steps=5),
        # 60 of Basile's 500-5000 steps leave final masks that mostly lose the weak model's
        # prediction, and his rule drops those; the opt-in fallback keeps pairs to check here.
        masks=ImageMaskConfig.basile(16, min_steps=20, max_steps=60, fallback_to_last_kept=True),
        permutations=20,
    )
    result = run_adversarial_maps(store, "N", trained_shapes_model, tiny_shapes.val, config=config)
    assert set(result.comparisons) == {"pgd", "fgsm"}
    pgd = result.comparisons["pgd"]
    assert pgd.flipped > 0 and len(pgd.ids) > 0
    assert np.all((pgd.cosine >= 0) & (pgd.cosine <= 1 + 1e-9))
    assert pgd.essential.shape == pgd.adversarial.shape and pgd.mean_difference.shape == (1, 16, 16)
    assert {"adversarial-maps-N", "adversarial-maps-N-pgd"} <= set(store.table_names())
    assert (store.root / "figures" / "adversarial-maps-N-pgd.svg").is_file()
    meta = store.mask_meta("image/N-advmap-pgd")
    assert meta["inputs"] == "adversarial" and meta["pairs_with"] == "image/N-essential"
    # The adversarial maps keep the adversarial prediction, not the label.
    inputs = store.image_mask_inputs("image/N-advmap-pgd")
    stored = store.load_image_masks("image/N-advmap-pgd")
    position = {i: k for k, i in enumerate(inputs["ids"].tolist())}
    adversarial = torch.from_numpy(inputs["images"][[position[i] for i in stored.ids]])
    np.testing.assert_array_equal(stored.arrays["targets"], trained_shapes_model(adversarial).argmax(1).numpy())
    # A second run finds everything done.
    again = run_adversarial_maps(store, "N", trained_shapes_model, tiny_shapes.val, config=config)
    np.testing.assert_array_equal(again.comparisons["pgd"].cosine, pgd.cosine)


# --- JaFR ----------------------------------------------------------------------------------------


def test_frequency_bias_matches_its_definition():
    torch.manual_seed(0)
    g = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    G = torch.fft.rfft2(g).abs().mean(dim=(0, 1))[:5]
    p = torch.linspace(1, -1, 5, dtype=torch.float64) + EPS
    a = torch.stack([torch.prod((G[r] + EPS) ** p) for r in range(5)])
    b = torch.stack([torch.prod((G[:, c] + EPS) ** p) for c in range(5)])
    expected = torch.log(a.sum() + b.sum())
    assert frequency_bias(g).item() == pytest.approx(expected.item(), rel=1e-9)


@pytest.mark.slow
def test_jafr_moves_the_input_gradient_to_low_frequencies():
    from fourier_masks.core.data.datasets import load_builtin

    data = load_builtin("shapes", 60, 20, size=32)
    shares, tables = {}, {}
    for lam in (0.0, 0.5):
        config = TrainConfig(
            epochs=4, batch_size=64, max_lr=3e-3, crop_scale=(1.0, 1.0), hflip=False, jafr_lambda=lam, seed=0
        )
        result = train_model(data.train, data.val, config=config)
        shares[lam] = high_frequency_share(input_gradients(result.model, data.val.images, data.val.labels))
        tables[lam] = history_table("m", "none", result.history)
    assert shares[0.5] < shares[0.0] - 0.02, shares
    assert "JaFR bias v [1]" in tables[0.5].headers() and "JaFR bias v [1]" not in tables[0.0].headers()
    bias = tables[0.5].column("JaFR bias v")
    assert bias[-1] > bias[0]  # the regulariser really pushed v up


def test_band_noise_lives_in_its_band():
    generator = torch.Generator().manual_seed(0)
    low = band_noise((4, 1, 32, 32), "low", 0.3, 0.1, generator)
    high = band_noise((4, 1, 32, 32), "high", 0.3, 0.1, generator)
    assert high_frequency_share(low, cutoff=0.3) < 1e-6
    assert high_frequency_share(high, cutoff=0.3) > 0.999
    assert low.std().item() == pytest.approx(0.1, rel=0.05)


# --- Fourier heat maps ---------------------------------------------------------------------------


def test_fourier_basis_is_real_unit_and_at_its_frequency():
    basis = fourier_basis(16, 16, 3, 5)
    assert basis.norm().item() == pytest.approx(1.0)
    spectrum = torch.fft.fft2(basis).abs()
    assert set(map(tuple, torch.nonzero(spectrum > 1e-4).tolist())) == {(3, 5), (13, 11)}
    # Why a heat map may measure half the frequencies: k and −k share their basis image.
    torch.testing.assert_close(fourier_basis(16, 16, -3, -5), basis)
    torch.testing.assert_close(fourier_basis(16, 16, 8, 0).abs(), torch.full((16, 16), 1 / 16))  # its own mirror


class _PowerAt(torch.nn.Module):
    """A known answer for heat maps: class 1 when the (normalised) image has spectral power
    at any of the DFT indices ``frequencies``, else class 0. Any sign of the perturbation
    gives the same power, so its heat map is known exactly, whatever signs are drawn."""

    def __init__(self, size: int, frequencies: list[tuple[int, int]], threshold: float) -> None:
        super().__init__()
        where = torch.zeros(size, size)
        for ky, kx in frequencies:
            where[ky, kx] = 1
        self.register_buffer("where", where)
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        power = (torch.fft.fft2(x[:, 0]).abs() ** 2 * self.where).sum(dim=(-2, -1))
        return torch.stack([self.threshold - power, power - self.threshold], dim=1)


def test_heat_map_matches_a_known_answer():
    """On a model that reacts to three frequencies only (and not to their mirrors' indices:
    the spectrum of a real image is what puts power there), the heat map is 1 at those
    frequencies and their mirrors and 0 everywhere else, computed here without the heat map's
    own half-plane and mirroring. Several chunks of frequencies; gray images, so ±ε·U_ij stays
    inside [0, 1]."""
    from fourier_masks.core.models.classifier import Classifier, ModelInfo

    size, sensitive = 16, [(2, 5), (8, 0), (5, 14)]  # generic, its own mirror (Nyquist), and one more
    info = ModelInfo(arch="power", in_channels=1, num_classes=2, image_size=size, mean=(0.5,), std=(0.25,))
    model = Classifier(_PowerAt(size, sensitive, threshold=100.0), info).eval()
    images = torch.linspace(0.3, 0.7, 4).view(4, 1, 1, 1).expand(4, 1, size, size).contiguous()
    labels = torch.zeros(4, dtype=torch.int64)
    assert (model(images).argmax(1) == labels).all()
    result = fourier_heat_map(model, images, labels, eps=0.5, batch_size=64)
    expected = np.zeros((size, size), dtype=np.float32)
    for ky, kx in sensitive:
        expected[ky, kx] = expected[-ky % size, -kx % size] = 1.0
    assert result.evaluated.all() and not result.cancelled
    np.testing.assert_array_equal(result.errors, expected)


@pytest.mark.slow
def test_heat_map_peaks_at_the_planted_band(planted):
    """Known answer: perturbing along the planted frequencies flips predictions, and nowhere else."""
    data, model = planted
    result = fourier_heat_map(model, data.val.images[:60], data.val.labels[:60], eps=2.0)
    assert not result.cancelled and result.evaluated.all()
    assert result.frequencies_done == result.frequencies_total == (32 * 32) // 2 + 2
    heat = result.errors
    assert heat.shape == (32, 32) and np.isfinite(heat).all()  # its layout: test_heat_map_matches_a_known_answer
    radius = np.hypot(*np.meshgrid(np.arange(32) - 16, np.arange(32) - 16, indexing="ij"))
    rings = [centred(heat)[(radius >= r) & (radius < r + 1)].mean() for r in range(22)]
    band = planted_band(32)
    assert abs(int(np.argmax(rings)) + 0.5 - band.radius) <= 1.5
    in_band = np.abs(radius - band.radius) <= 1.5
    assert centred(heat)[in_band].mean() > 5 * centred(heat)[~in_band].mean()


def test_heat_map_is_saved_with_a_table(trained_shapes_model, tiny_shapes, tmp_path):
    store = ResultsStore(tmp_path / "run")
    run_heat_map(store, "N", trained_shapes_model, tiny_shapes.val.subset(list(range(6))), eps=1.0)
    table = store.load_table("heat-map-N")
    assert len(table.rows) == 16 * 16 and table.headers() == [
        "k_y [cycles/image]",
        "k_x [cycles/image]",
        "top-1 error rate [%]",
        "top-5 error rate [%]",  # six shape classes; tests/test_heat_map.py has the rest
    ]
    assert (store.root / "figures" / "heat-map-N.pdf").is_file()


def _cancel_after(events: int):
    """A cancel token set once ``events`` progress events have been seen, and its callback."""
    cancel = threading.Event()
    seen = []

    def on_progress(progress) -> None:
        seen.append(progress)
        if len(seen) >= events:
            cancel.set()

    return cancel, on_progress


def test_a_cancelled_heat_map_is_marked_partial_and_saves_nothing(trained_shapes_model, tiny_shapes, tmp_path):
    images, labels = tiny_shapes.val.images[:4], tiny_shapes.val.labels[:4]
    store = ResultsStore(tmp_path / "run")
    cancel, on_progress = _cancel_after(1)
    # 8 images per batch: 2 frequencies a chunk, so one chunk finishes before the cancel lands.
    partial = fourier_heat_map(
        trained_shapes_model, images, labels, batch_size=8, on_progress=on_progress, cancel=cancel
    )
    assert partial.cancelled and partial.frequencies_done == 2 < partial.frequencies_total == 130
    assert partial.evaluated.sum() == 3  # (0, 0) is its own pair; (0, 1) comes with (0, −1)
    assert np.isnan(partial.errors[~partial.evaluated]).all() and np.isfinite(partial.errors[partial.evaluated]).all()
    four = tiny_shapes.val.subset([0, 1, 2, 3])
    result = run_heat_map(store, "N", trained_shapes_model, four, on_progress=on_progress, cancel=cancel)
    assert result.cancelled and result.frequencies_done == 0 and not result.evaluated.any()
    assert store.table_names() == [] and not store.path("data/heat-map-N.npz").exists()
    assert not (store.root / "figures" / "heat-map-N.pdf").exists()


def test_a_cancelled_robustness_run_keeps_finished_rows_and_saves_nothing(trained_shapes_model, tiny_shapes, tmp_path):
    images = tiny_shapes.val.subset(list(range(6)))
    models = {"N": trained_shapes_model, "M": trained_shapes_model}
    store = ResultsStore(tmp_path / "run")
    attack = AttackConfig(steps=2)
    cancel = threading.Event()

    def on_progress(progress) -> None:
        if progress.stage == "robustness" and progress.done >= 1:
            cancel.set()  # while the second model starts: the first row is finished

    result = run_robustness(store, models, images, attack=attack, on_progress=on_progress, cancel=cancel)
    assert result.cancelled and [row[0] for row in result.table.rows] == ["N"]
    assert "robustness" not in store.table_names()
    complete = run_robustness(store, models, images, attack=attack)
    assert not complete.cancelled and len(complete.table.rows) == 2
    assert "robustness" in store.table_names()


# --- phase masks ---------------------------------------------------------------------------------


def test_phase_masks_keep_every_magnitude():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 12, 12)
    assert torch.allclose(apply_mask(x, torch.ones(1, 1, 12, 12), "phase"), x, atol=1e-6)
    m = torch.rand(1, 1, 12, 12)
    m = 0.5 * (m + mirrored(m))
    filtered = apply_mask(x, m, "phase")
    assert torch.allclose(torch.fft.fft2(filtered).abs(), torch.fft.fft2(x).abs(), atol=1e-4)
    assert not torch.allclose(filtered, x, atol=1e-3)
    zero = apply_mask(x, torch.zeros(1, 1, 12, 12), "phase")
    assert torch.allclose(torch.fft.fft2(zero).imag, torch.zeros(1), atol=1e-4)  # all phases removed


@pytest.mark.slow
def test_phase_masks_are_learned(mask_model, trained_shapes_model, tiny_shapes):
    """Single-image phase masks on the trained model: bounded, symmetric, neither all zeros
    nor all ones, and the engine's equals the one the single-image transcription learns with
    the mask on the phase (``tests/published_loop.py``, written apart from the engine's
    filter); the same settings on the magnitude learn other masks. float64 (see
    ``test_masks.py``); the two implementations of the phase filter round differently, by
    ~2e-8 after 150 steps."""
    from published_loop import published_mask

    model = copy.deepcopy(mask_model.model).double()
    images = mask_model.data.val.images[:2].double()
    config = ImageMaskConfig(max_steps=150, patience=10**6, component="phase")
    result = learn_image_masks(model, images, config=config)
    masks = result.masks
    assert masks.min() == 0 and masks.max() <= 1
    assert (result.kept_fraction > 0.02).all() and (masks.max(axis=(1, 2, 3)) > 0.5).all(), result.kept_fraction
    assert (((masks > 0) & (masks < 1)).sum(axis=(1, 2, 3)) >= 10).all()  # learned, not just switched off
    assert result.prediction_kept.all()
    np.testing.assert_allclose(masks, mirrored(masks), atol=1e-9)
    reference = published_mask(model, images[1:2], max_steps=150, patience=10**6, component="phase")
    np.testing.assert_allclose(masks[1], reference["mask"][0].numpy(), atol=1e-6)
    on_magnitude = learn_image_masks(model, images, config=config.replace(component="magnitude"))
    assert np.abs(on_magnitude.masks - masks).max() > 0.1
    val = tiny_shapes.val
    set_result = learn_set_mask(
        trained_shapes_model,
        val.images,
        val.labels,
        config=SetMaskConfig(max_epochs=2, batch_size=12, component="phase"),
    )
    assert set_result.mask.shape == (1, 16, 16)
    with pytest.raises(ConfigError):
        ImageMaskConfig(component="colour")


# --- blue shift ----------------------------------------------------------------------------------


def test_blue_shift_adds_harmonics_only_after_a_nonlinearity():
    shift = blue_shift(cycles=4, amplitude=3.0)
    assert shift.harmonic_share("input: sin", 4) < 1e-12
    for name in ("softplus", "tanh", "ReLU", "hardtanh"):
        assert shift.harmonic_share(name, 4) > 0.01, name
    second = int(np.flatnonzero(shift.frequencies == 8)[0])
    # Odd functions (tanh, hardtanh) make odd harmonics only; ReLU and softplus make even ones too.
    assert shift.spectra["tanh"][second] < 1e-9 and shift.spectra["hardtanh"][second] < 1e-9
    assert shift.spectra["ReLU"][second] > 1e-3 and shift.spectra["softplus"][second] > 1e-3


def test_blue_shift_is_saved(tmp_path):
    store = ResultsStore(tmp_path / "run")
    run_blue_shift(store)
    assert store.load_table("blue-shift").headers()[:2] == ["frequency [cycles/window]", "input: sin [magnitude]"]


# --- command line --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_new_analyses_from_the_command_line(tmp_path, trained_shapes_model, capsys):
    checkpoint = save_checkpoint(trained_shapes_model, tmp_path / "N.pt")
    run = str(tmp_path / "run")
    data = ["--data", "builtin", "--size", "16", "--val-per-class", "4", "--train-per-class", "4"]
    assert (
        cli_main(
            ["heat-map", "--model", str(checkpoint), *data, "--per-class", "2", "--eps", "1", "--out", run, "--quiet"]
        )
        == 0
    )
    assert "Fourier heat map of N" in capsys.readouterr().out
    assert (
        cli_main(
            [
                "adversarial-maps",
                "--model",
                "N",
                *data,
                "--per-class",
                "4",
                "--eps",
                "0.1",
                "--steps",
                "3",
                "--max-steps",
                "40",
                "--permutations",
                "5",
                "--out",
                run,
                "--quiet",
            ]
        )
        == 0
    )
    assert "Essential vs adversarial frequency maps" in capsys.readouterr().out
    assert cli_main(["train", *data, "--epochs", "1", "--jafr", "0.01", "--name", "J", "--out", run, "--quiet"]) == 0
    assert cli_main(["robustness", "--models", "N", "J", *data, "--steps", "2", "--out", run, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Robustness to band-limited noise and PGD" in out and "0.01" in out
    assert (
        cli_main(
            [
                "masks",
                "image",
                "--model",
                "N",
                *data,
                "--component",
                "phase",
                "--max-steps",
                "5",
                "--group",
                "image/N-phase",
                "--out",
                run,
                "--quiet",
            ]
        )
        == 0
    )
    assert ResultsStore.open(run).mask_meta("image/N-phase")["config"]["component"] == "phase"
    assert cli_main(["blue-shift", "--out", run]) == 0
    assert "ReLU" in capsys.readouterr().out
