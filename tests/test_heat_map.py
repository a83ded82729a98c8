"""The Fourier heat map as published (Yin et al. 2019; gatheluck/FourierHeatmap): one random
sign per channel, top-1 and top-5 errors, a frequency stride for large images.

The known answers come from models that read one projection ``p_c = ⟨x_c − 0.5, U_ab⟩`` per
channel: on gray images only ``±ε · U_ab`` (and its mirror, the same image) moves it, to exactly
``±ε`` in each channel, with the sign drawn for that channel (every other basis image is
orthogonal to ``U_ab``). So each model's heat map is 0 everywhere but at ``(a, b)``, where its
value follows from the signs by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from fourier_masks.core.beyond.analyses import heat_map_table, run_heat_map
from fourier_masks.core.beyond.robustness import (
    _half_plane,
    _pair_count,
    fourier_basis,
    fourier_heat_map,
    heat_map_stride,
)
from fourier_masks.core.cli import main as cli_main
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.figures import heat_map_figure
from fourier_masks.core.models.classifier import Classifier, ModelInfo
from fourier_masks.core.runs.store import ResultsStore

SIZE, EPS = 16, 0.5
TAU = EPS / 2  # |p_c| is ε at (a, b) and ~1e-7 elsewhere: τ = ε/2 separates them
AB = (2, 4)  # generic, and on the stride-2 grid
MIRROR = (-AB[0] % SIZE, -AB[1] % SIZE)

Rule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class _Projection(torch.nn.Module):
    """``rule(p, x)`` with ``p`` ``(N, C)`` the projections on ``U_ab`` of the centred image
    (the :class:`Classifier` subtracts mean 0.5, std 1) and ``x`` that image."""

    def __init__(self, rule: Rule, frequency: tuple[int, int] = AB) -> None:
        super().__init__()
        self.register_buffer("basis", fourier_basis(SIZE, SIZE, *frequency))
        self.rule = rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rule((x * self.basis).sum(dim=(-2, -1)), x)


def _model(rule: Rule, channels: int = 3, classes: int = 2, frequency: tuple[int, int] = AB) -> Classifier:
    info = ModelInfo(
        arch="projection",
        in_channels=channels,
        num_classes=classes,
        image_size=SIZE,
        mean=(0.5,) * channels,
        std=(1.0,) * channels,
    )
    return Classifier(_Projection(rule, frequency), info).eval()


def _two_classes(flipped: Callable[[torch.Tensor], torch.Tensor]) -> Rule:
    """Class 1 (wrong: every label is 0) where ``flipped(p)``, else class 0."""
    return lambda p, x: torch.stack([torch.full_like(p[:, 0], 0.5), flipped(p).float()], dim=1)


def _gray(n: int, channels: int = 3) -> torch.Tensor:
    """Uniform images of levels in [0.3, 0.7]: ε·U_ij stays inside [0, 1], nothing is clipped."""
    return torch.linspace(0.3, 0.7, n).view(n, 1, 1, 1).expand(n, channels, SIZE, SIZE).contiguous()


def _heat(rule: Rule, n: int = 16, channels: int = 3, **kwargs) -> np.ndarray:
    images = _gray(n, channels)
    return fourier_heat_map(
        _model(rule, channels), images, torch.zeros(n, dtype=torch.int64), eps=EPS, batch_size=256, **kwargs
    ).errors


def _only_at_ab(heat: np.ndarray) -> float:
    """The map's value at (a, b), checked equal at its mirror and 0 everywhere else."""
    elsewhere = np.ones_like(heat, dtype=bool)
    elsewhere[AB] = elsewhere[MIRROR] = False
    assert not heat[elsewhere].any() and heat[AB] == heat[MIRROR]
    return float(heat[AB])


def _up(c: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Channel ``c`` pushed along +U_ab: a sign pointing against class 0."""
    return lambda p: p[:, c] > TAU


# --- signs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("signs", ["channel", "image"])
def test_only_the_sign_pointing_against_the_class_flips_it(signs):
    """A model wrong when ``p_0 > τ`` and one wrong when ``p_0 < −τ``: at (a, b) each image is
    flipped by exactly one sign, so their errors add to 1 there, and are 0 elsewhere."""
    up = _only_at_ab(_heat(_two_classes(_up(0)), signs=signs))
    down = _only_at_ab(_heat(_two_classes(lambda p: p[:, 0] < -TAU), signs=signs))
    assert up + down == 1 and 0 < up < 1


def test_per_channel_signs_perturb_each_channel_on_its_own():
    """One model per channel, wrong when that channel is pushed up: with one sign per image
    the three maps are the same; with one per channel they are not. A model wrong when the
    channels disagree never errs with one sign per image; with one per channel, its error
    plus those of "all up" and "all down" is exactly 1 (every image is one of the three)."""
    image = [_only_at_ab(_heat(_two_classes(_up(c)), signs="image")) for c in range(3)]
    channel = [_only_at_ab(_heat(_two_classes(_up(c)), signs="channel")) for c in range(3)]
    assert image[0] == image[1] == image[2]
    assert len(set(channel)) > 1

    def disagree(p):
        return (p.max(dim=1).values > TAU) & (p.min(dim=1).values < -TAU)

    assert not _heat(_two_classes(disagree), signs="image").any()
    mixed = _only_at_ab(_heat(_two_classes(disagree), signs="channel"))
    all_up = _only_at_ab(_heat(_two_classes(lambda p: p.min(dim=1).values > TAU), signs="channel"))
    all_down = _only_at_ab(_heat(_two_classes(lambda p: p.max(dim=1).values < -TAU), signs="channel"))
    assert mixed + all_up + all_down == pytest.approx(1.0) and mixed > 0
    assert all_up <= min(channel)


def test_one_channel_images_get_the_same_map_either_way():
    rule = _two_classes(_up(0))
    np.testing.assert_array_equal(_heat(rule, channels=1, signs="channel"), _heat(rule, channels=1, signs="image"))


def test_a_seed_gives_the_same_map_and_another_seed_another():
    rule = _two_classes(_up(1))
    for signs in ("channel", "image"):
        first = _heat(rule, signs=signs, seed=3)
        np.testing.assert_array_equal(first, _heat(rule, signs=signs, seed=3))
        assert first[AB] != _heat(rule, signs=signs, seed=4)[AB]


@torch.no_grad()
def _luminance_reference(model, images, labels, eps: float, seed: int) -> np.ndarray:
    """The heat map as this package computed it before per-channel signs (one sign per image,
    top-1), one frequency at a time: the reference ``signs="image"`` must reproduce."""
    n, _, h, w = images.shape
    pairs, seen = [], set()
    for ky in range(h):
        for kx in range(w):
            if (ky, kx) not in seen:
                pairs.append((ky, kx))
                seen |= {(ky, kx), (-ky % h, -kx % w)}
    signs = torch.randint(0, 2, (len(pairs), n), generator=torch.Generator().manual_seed(seed)) * 2 - 1
    heat = np.zeros((h, w), dtype=np.float32)
    for k, (ky, kx) in enumerate(pairs):
        perturbed = (images + eps * signs[k].view(n, 1, 1, 1) * fourier_basis(h, w, ky, kx)).clamp(0, 1)
        rate = (model(perturbed).argmax(1) != labels).float().mean().item()
        heat[ky, kx] = heat[-ky % h, -kx % w] = rate
    return heat


def test_image_signs_reproduce_the_earlier_luminance_map():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * SIZE * SIZE, 6)
    )
    info = ModelInfo(arch="tiny", in_channels=3, num_classes=6, image_size=SIZE, mean=(0.5,) * 3, std=(0.25,) * 3)
    model = Classifier(net, info).eval()
    images = torch.rand(5, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    labels = model(images).argmax(1)
    expected = _luminance_reference(model, images, labels, eps=2.0, seed=7)
    assert 0 < expected.mean() < 1  # a map with something in it
    result = fourier_heat_map(model, images, labels, eps=2.0, signs="image", seed=7, batch_size=64)
    np.testing.assert_array_equal(result.errors, expected)
    assert not np.array_equal(fourier_heat_map(model, images, labels, eps=2.0, seed=7).errors, expected)


# --- top-1 and top-5 ------------------------------------------------------------------------------


def _ranked(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Seven classes ranked 0, 1, …, 6; when ``|p_0| > τ`` the label 0 drops to third place
    (still in the top 5) on dark images and to last place on bright ones."""
    logits = -torch.arange(7.0).repeat(len(p), 1)
    hit = p[:, 0].abs() > TAU
    dark = x.mean(dim=(1, 2, 3)) < 0  # the net sees the image minus 0.5
    logits[:, 0] = torch.where(hit, torch.where(dark, -2.5, -10.0), logits[:, 0])
    return logits


def test_top5_counts_only_labels_pushed_out_of_the_top_five():
    images = _gray(4, channels=1)  # levels 0.3, 0.43, 0.57, 0.7: two dark, two bright
    model = _model(_ranked, channels=1, classes=7)
    result = fourier_heat_map(model, images, torch.zeros(4, dtype=torch.int64), eps=EPS)
    assert _only_at_ab(result.errors) == 1.0
    assert result.errors_top5 is not None and _only_at_ab(result.errors_top5) == 0.5
    assert result.mean_error() == pytest.approx(2 / SIZE**2) and result.mean_error(5) == pytest.approx(1 / SIZE**2)
    table = heat_map_table(result.errors, "P", EPS, result.errors_top5)
    assert table.headers()[2:] == ["top-1 error rate [%]", "top-5 error rate [%]"]
    assert sorted(row[2:] for row in table.rows)[-2:] == [[100.0, 50.0], [100.0, 50.0]]


def test_five_classes_or_fewer_have_no_top5_map():
    """Their label is always among the top 5: the top-5 error would be 0 by definition."""
    model = _model(lambda p, x: torch.zeros(len(p), 5), channels=1, classes=5)
    result = fourier_heat_map(model, _gray(2, 1), torch.zeros(2, dtype=torch.int64), eps=EPS)
    assert result.errors_top5 is None and np.isnan(result.mean_error(5))
    table = heat_map_table(result.errors, "P", EPS, result.errors_top5)
    assert table.headers()[2:] == ["top-1 error rate [%]"] and "no top-5 error" in table.notes.lower()


# --- stride ---------------------------------------------------------------------------------------


def _power(frequencies: list[tuple[int, int]]) -> Classifier:
    """Wrong when the (centred) image projects beyond τ on any of ``frequencies``' basis images."""
    basis = torch.stack([fourier_basis(SIZE, SIZE, *k) for k in frequencies])

    def rule(p, x):
        hit = ((x[:, :1] * basis).sum(dim=(-2, -1)).abs() > TAU).any(dim=1)
        return torch.stack([torch.full_like(p[:, 0], 0.5), hit.float()], dim=1)

    return _model(rule, channels=1)


def test_a_stride_measures_its_grid_only_and_leaves_the_rest_nan():
    """(2, 4) is on the stride-2 grid and (3, 5) is not: the strided map finds the first,
    never sees the second, and equals the full map wherever it measured."""
    model = _power([AB, (3, 5)])
    images, labels = _gray(3, 1), torch.zeros(3, dtype=torch.int64)
    full = fourier_heat_map(model, images, labels, eps=EPS)
    strided = fourier_heat_map(model, images, labels, eps=EPS, stride=2)
    on_grid = np.zeros((SIZE, SIZE), dtype=bool)
    on_grid[::2, ::2] = True  # 16 is even: the multiples of 2 and their mirrors are the even indices
    np.testing.assert_array_equal(strided.evaluated, on_grid)
    assert full.evaluated.all() and full.frequencies_total == 130
    assert strided.stride == 2 and strided.frequencies_total == strided.frequencies_done == (64 + 4) // 2
    assert np.isnan(strided.errors[~on_grid]).all() and not np.isnan(strided.errors[on_grid]).any()
    np.testing.assert_array_equal(strided.errors[on_grid], full.errors[on_grid])
    assert strided.errors[AB] == strided.errors[MIRROR] == 1 and full.errors[3, 5] == 1
    assert np.nansum(strided.errors) == 2 and strided.mean_error() == 2 / 64
    table = heat_map_table(strided.errors, "P", EPS, stride=2)
    assert len(table.rows) == 64 and all(row[0] % 2 == 0 and row[1] % 2 == 0 for row in table.rows)
    assert "multiples of 2" in table.notes
    figure = heat_map_figure(strided.errors, "P", EPS, stride=2)
    shown = figure.axes[0].images[0]
    assert shown.get_array().shape == (8, 8) and not np.isnan(shown.get_array()).any()
    assert shown.get_extent() == [-9, 7, -7, 9]  # cells 2 wide around k = −8, …, 6 (k_y upwards)


def test_an_odd_side_keeps_mirror_pairs_on_the_stride_grid():
    for h, w, stride in ((15, 16, 2), (15, 9, 3), (17, 17, 4), (32, 32, 1), (224, 224, 5)):
        pairs = _half_plane(h, w, stride)
        on = {(ky, kx) for ky, kx in pairs} | {(-ky % h, -kx % w) for ky, kx in pairs}
        signed = {(ky if ky <= h // 2 else ky - h, kx if kx <= w // 2 else kx - w) for ky, kx in on}
        assert all(y % stride == 0 and x % stride == 0 for y, x in signed)
        assert len(pairs) == _pair_count(h, w, stride)


def test_auto_stride_measures_small_maps_whole_and_large_ones_on_about_a_thousand_pairs():
    assert heat_map_stride(32, 32, 0) == heat_map_stride(64, 64, 0) == 1 and heat_map_stride(32, 32, 3) == 3
    assert heat_map_stride(224, 224, 0) == 5 and _pair_count(224, 224, 5) == 1013 < 1100 < _pair_count(224, 224, 4)
    assert _pair_count(224, 224, 1) == 224 * 224 // 2 + 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"signs": "pixel"}, r"heat-map signs must be one of channel, image, got 'pixel'"),
        ({"stride": -1}, r"heat-map frequency stride must be in \[0, 1024\] \(0 = auto\), got -1"),
        ({"stride": 1025}, r"got 1025; Yin et al. measure every frequency"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        fourier_heat_map(_power([AB]), _gray(1, 1), torch.zeros(1, dtype=torch.int64), **kwargs)


# --- saved results and the command line ------------------------------------------------------------


def test_both_maps_are_saved(trained_shapes_model, tiny_shapes, tmp_path):
    store = ResultsStore(tmp_path / "run")
    result = run_heat_map(store, "N", trained_shapes_model, tiny_shapes.val.subset(list(range(4))), eps=1.0, stride=2)
    arrays = store.load_arrays("heat-map-N")
    np.testing.assert_array_equal(arrays["heat"], result.errors)
    np.testing.assert_array_equal(arrays["heat_top5"], result.errors_top5)
    np.testing.assert_array_equal(arrays["evaluated"], result.evaluated)
    assert int(arrays["stride"]) == 2 and str(arrays["signs"]) == "channel" and float(arrays["eps"]) == 1.0
    table = store.load_table("heat-map-N")
    assert len(table.rows) == 64 and table.headers()[3] == "top-5 error rate [%]"
    assert (store.root / "figures" / "heat-map-N.pdf").is_file()


@pytest.mark.slow
def test_the_command_line_prints_top1_and_top5(tmp_path, trained_shapes_model, capsys):
    from fourier_masks.core.models import save_checkpoint

    checkpoint = save_checkpoint(trained_shapes_model, tmp_path / "N.pt")
    data = ["--data", "builtin", "--size", "16", "--val-per-class", "2", "--train-per-class", "2"]
    arguments = ["heat-map", "--model", str(checkpoint), *data, "--per-class", "1", "--eps", "1"]
    run = ["--out", str(tmp_path / "run"), "--quiet", "--stride", "2", "--signs", "image"]
    assert cli_main([*arguments, *run]) == 0
    out = capsys.readouterr().out
    assert "image signs: mean top-1 error" in out and "top-5" in out and "measured every 2 frequencies" in out
    assert cli_main([*arguments, "--out", str(tmp_path / "other"), "--stride", "2000"]) == 2
    assert "--stride: must be in [0, 1024]" in capsys.readouterr().err
