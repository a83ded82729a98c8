"""Common corruptions: known answers of the generator, the spectral centroid, the CE / mCE
arithmetic, and the CIFAR-10-C / ImageNet-C readers on tiny sets written in their layouts."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from fourier_masks.core.beyond.corruptions import (
    CORRUPTIONS,
    SEVERITIES,
    _elastic,
    corrupt,
    corruption_accuracy,
    corruption_accuracy_on_sets,
    read_cifar10_c,
    read_imagenet_c,
    spectral_centroid,
)
from fourier_masks.core.data.datasets import load_builtin
from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.errors import BadDatasetError, ConfigError, DatasetUnavailableError
from fourier_masks.core.models.classifier import Classifier
from tests.conftest import tiny_info

NOISE = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")
BLUR = ("defocus_blur", "gaussian_blur")
RANDOM = tuple(name for name, c in CORRUPTIONS.items() if c.random)


@pytest.fixture(scope="module")
def shapes32() -> torch.Tensor:
    """Colour shapes at CIFAR's 32 px: real-looking edges and flat regions."""
    return load_builtin("shapes", train_per_class=1, val_per_class=8, size=32, channels=3).val.images


def distortion(clean: torch.Tensor, corrupted: torch.Tensor) -> float:
    return ((corrupted - clean) ** 2).mean().item()


# The published elastic parameters trade a shrinking random affine warp (0.08 → 0.03 of the
# side) for a growing local displacement, so its pixel change falls with severity on CIFAR-size
# images; it is checked by its own tests below.
@pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n != "elastic_transform"])
def test_distortion_grows_with_severity(shapes32, name):
    changes = [distortion(shapes32, corrupt(shapes32, name, s, seed=0)) for s in SEVERITIES]
    assert changes[0] > 0
    assert all(a < b for a, b in zip(changes, changes[1:])), changes


def test_elastic_identity_warp_keeps_the_image_and_every_severity_moves_it(shapes32):
    still = _elastic(shapes32.double(), (0.0, 0.0, 0.0), 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(still, shapes32.double(), atol=1e-9, rtol=0)
    for s in SEVERITIES:
        assert distortion(shapes32, corrupt(shapes32, "elastic_transform", s)) > 1e-4


@pytest.mark.parametrize("channels,size,dtype", [(1, 16, torch.float32), (3, 32, torch.float32), (3, 8, torch.float64)])
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_output_in_range_with_shape_and_dtype(name, channels, size, dtype):
    images = torch.rand(3, channels, size, size + 4, generator=torch.Generator().manual_seed(1), dtype=dtype)
    out = corrupt(images, name, 5, seed=3)
    assert out.shape == images.shape and out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_same_seed_same_images_other_seed_other_noise(shapes32, name):
    first, again, other = (corrupt(shapes32, name, 3, seed=s) for s in (7, 7, 8))
    assert torch.equal(first, again)
    assert torch.equal(first, other) != (name in RANDOM)


def test_grey_brightness_shifts_the_grey_level():
    grey = torch.full((1, 1, 8, 8), 0.5)
    torch.testing.assert_close(corrupt(grey, "brightness", 5), torch.full_like(grey, 0.8))


def test_colour_brightness_keeps_hue_and_saturation():
    colour = torch.tensor([0.4, 0.2, 0.1]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    out = corrupt(colour, "brightness", 5)  # value 0.4 → 0.7, each channel scaled by 7/4
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.7, 0.35, 0.175]))


def test_centroid_of_a_sinusoid_is_its_frequency():
    x = torch.arange(16, dtype=torch.float64)
    wave = (0.1 * torch.cos(2 * math.pi * 4 * x / 16)).expand(2, 1, 16, 16)  # 4 cycles = half Nyquist
    clean = torch.full((2, 1, 16, 16), 0.5, dtype=torch.float64)
    assert spectral_centroid(clean, clean + wave) == pytest.approx(0.5)
    assert math.isnan(spectral_centroid(clean, clean))


def test_noise_attacks_higher_frequencies_than_blur_and_brightness(shapes32):
    def centroid(name: str, severity: int) -> float:
        return spectral_centroid(shapes32, corrupt(shapes32, name, severity))

    # White noise spreads evenly: the mean radius of the square, 0.765 × Nyquist.
    noise = [centroid(n, 5) for n in NOISE]
    assert all(c == pytest.approx(0.765, abs=0.02) for c in noise)
    # A strong blur removes the fine detail down to lower frequencies than that ...
    assert max(centroid(n, 5) for n in BLUR) < min(noise) - 0.05
    # ... and a wider blur reaches lower frequencies.
    blurs = [centroid("gaussian_blur", s) for s in SEVERITIES]
    assert all(a > b for a, b in zip(blurs, blurs[1:])), blurs
    assert centroid("brightness", 3) < 0.05 and centroid("contrast", 3) < 0.3


class Constant(nn.Module):
    """Always the same class, whatever the image."""

    def __init__(self, label: int, classes: int = 4) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(label), classes).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1) + 0 * x.mean()


def constant_model(label: int) -> Classifier:
    return Classifier(Constant(label), tiny_info(channels=1, classes=4, size=16))


def test_ce_and_mce_against_a_reference_model():
    images = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])  # constant 0: error 0.5; constant 1 on 6 ones: 0.25
    labels_b = torch.tensor([0, 0, 1, 1, 1, 1, 1, 1])
    models = {"zero": constant_model(0), "one": constant_model(1)}
    names = ("gaussian_noise", "contrast")
    result = corruption_accuracy(models, images, labels_b, corruptions=names, reference="zero")
    # zero errs on 6/8, one on 2/8 at every severity: CE(one) = Σ 0.25 / Σ 0.75 = 1/3.
    assert result.accuracy["zero", "contrast", 3] == pytest.approx(0.25)
    assert result.corruption_error["one", "gaussian_noise"] == pytest.approx(1 / 3)
    assert result.mce == pytest.approx({"zero": 1.0, "one": 1 / 3})
    assert result.summary.column("mCE") == pytest.approx([100.0, 100 / 3])
    assert len(result.table.rows) == 2 * 2 * 5 and not result.cancelled
    # Without a reference: the unnormalised mean error, said in the notes.
    plain = corruption_accuracy(models, images, labels, corruptions=names, severities=(1, 5))
    assert plain.mce == pytest.approx({"zero": 0.5, "one": 0.5})
    assert "No reference" in plain.summary.notes
    # Given reference errors (e.g. published AlexNet rates), one per severity.
    given = corruption_accuracy(
        models, images, labels_b, corruptions=("contrast",), severities=(2, 4), reference={"contrast": [0.5, 1.0]}
    )
    assert given.corruption_error["one", "contrast"] == pytest.approx((0.25 + 0.25) / 1.5)
    # A reference that never errs leaves CE undefined, not infinite.
    perfect = corruption_accuracy(
        models, images, torch.zeros(8, dtype=torch.int64), corruptions=names, reference="zero"
    )
    assert math.isnan(perfect.mce["one"])


def test_progress_and_cancel_between_cells(tiny_model):
    images = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3])
    cancel = threading.Event()
    events = []

    def on_progress(event):
        events.append(event)
        cancel.set()

    result = corruption_accuracy(
        {"tiny": tiny_model},
        images,
        labels,
        corruptions=("pixelate", "contrast"),
        on_progress=on_progress,
        cancel=cancel,
    )
    assert result.cancelled and len(result.table.rows) == 1 and events[-1].done == 1 and events[-1].total == 10
    assert result.corruption_error == {} and math.isnan(result.mce["tiny"]) and "Cancelled" in result.summary.notes
    full = corruption_accuracy({"tiny": tiny_model}, images, labels, corruptions=("pixelate",))
    assert not full.cancelled and len(full.spectra.rows) == 5
    assert all(0 <= row[-1] <= 100 for row in full.table.rows)


def write_cifar10_c(root, n: int = 4, names=("gaussian_noise", "contrast")):
    """A tiny CIFAR-10-C: severity s of corruption k filled with 10·s + k, labels 0 … n−1 per severity."""
    root.mkdir(exist_ok=True)
    for k, name in enumerate(names):
        array = np.zeros((5 * n, 32, 32, 3), dtype=np.uint8)
        for s in SEVERITIES:
            array[(s - 1) * n : s * n] = 10 * s + k
        np.save(root / f"{name}.npy", array)
    np.save(root / "labels.npy", np.tile(np.arange(n, dtype=np.uint8), 5))
    return root


def test_read_cifar10_c_slices_severities(tmp_path):
    root = write_cifar10_c(tmp_path / "CIFAR-10-C")
    sets = read_cifar10_c(root, severities=(2, 5), limit=3)
    assert sorted(sets) == [("contrast", 2), ("contrast", 5), ("gaussian_noise", 2), ("gaussian_noise", 5)]
    noisy = sets["gaussian_noise", 5]
    assert noisy.images.shape == (3, 3, 32, 32) and noisy.labels.tolist() == [0, 1, 2]
    assert noisy.images.unique().tolist() == pytest.approx([50 / 255])
    assert sets["contrast", 2].images.unique().tolist() == pytest.approx([21 / 255])
    assert noisy.ids == ("CIFAR10/val/000000", "CIFAR10/val/000001", "CIFAR10/val/000002")
    grey = read_cifar10_c(root, corruptions=["contrast"], severities=(1,), channels=1)
    assert grey["contrast", 1].images.shape == (4, 1, 32, 32)
    assert grey["contrast", 1].images.unique().tolist() == pytest.approx([11 / 255], abs=1e-6)


def test_read_cifar10_c_refuses_odd_files_with_one_line(tmp_path):
    root = write_cifar10_c(tmp_path / "c")
    cases = [
        (lambda: read_cifar10_c(tmp_path / "nowhere"), DatasetUnavailableError, "zenodo"),
        (lambda: read_cifar10_c(root, corruptions=["fog"]), DatasetUnavailableError, "'fog'"),
        (lambda: read_cifar10_c(root, severities=(0,)), ConfigError, "1, 2, 3, 4, 5"),
        (lambda: read_cifar10_c(root, limit=0), ConfigError, "limit"),
    ]
    np.save(tmp_path / "c" / "pixelate.npy", np.zeros((7, 32, 32, 3), dtype=np.uint8))
    cases.append((lambda: read_cifar10_c(root, corruptions=["pixelate"]), BadDatasetError, "pixelate.npy"))
    (tmp_path / "c" / "frost.npy").write_bytes(b"not numpy")
    cases.append((lambda: read_cifar10_c(root, corruptions=["frost"]), BadDatasetError, "frost.npy is not a .npy"))
    for call, error, named in cases:
        with pytest.raises(error) as caught:
            call()
        assert named in str(caught.value) and "\n" not in str(caught.value)
    np.save(root / "labels.npy", np.zeros(3, dtype=np.uint8))
    with pytest.raises(BadDatasetError, match="labels.npy"):
        read_cifar10_c(root, corruptions=["contrast"])
    (root / "labels.npy").unlink()
    with pytest.raises(DatasetUnavailableError, match="labels.npy is missing"):
        read_cifar10_c(root, corruptions=["contrast"])


def write_imagenet_c(root, names=("gaussian_noise",), severities=(1, 2)):
    from PIL import Image

    for name in names:
        for s in severities:
            for k, cls in enumerate(("cat", "dog")):
                folder = root / name / str(s) / cls
                folder.mkdir(parents=True)
                for i in range(2):
                    Image.new("RGB", (20, 20), (40 * s, 100 * k, 10 * i)).save(folder / f"im{i}.png")
    return root


def test_read_imagenet_c_reads_each_severity_as_an_image_folder(tmp_path):
    root = write_imagenet_c(tmp_path / "ImageNet-C")
    sets = read_imagenet_c(root, severities=(1, 2), size=16, limit=1)
    assert sorted(sets) == [("gaussian_noise", 1), ("gaussian_noise", 2)]
    two = sets["gaussian_noise", 2]
    assert two.images.shape == (2, 3, 16, 16) and two.labels.tolist() == [0, 1]
    assert two.ids == ("cat/im0.png", "dog/im0.png") and two.class_names == ("cat", "dog")
    assert two.images[0, 0, 0, 0].item() == pytest.approx(80 / 255)
    with pytest.raises(DatasetUnavailableError, match=r"gaussian_noise/3 is missing"):
        read_imagenet_c(root, severities=(3,), size=16)
    with pytest.raises(DatasetUnavailableError, match="'fog'"):
        read_imagenet_c(root, corruptions=["fog"], size=16)


def test_evaluation_on_read_sets_pairs_clean_images_by_id(tmp_path):
    root = write_cifar10_c(tmp_path / "c", n=4, names=("contrast",))
    sets = read_cifar10_c(root, severities=(1, 2))
    clean = ImageSet(
        images=torch.full((5, 1, 32, 32), 0.5),
        labels=torch.tensor([0, 1, 2, 3, 0]),
        class_names=tuple("abcd"),
        ids=tuple(f"CIFAR10/val/{i:06d}" for i in range(5)),
        name="CIFAR10",
    )
    grey = read_cifar10_c(root, severities=(1, 2), channels=1)
    models = {"zero": constant_model(0)}
    result = corruption_accuracy_on_sets(models, grey, clean=clean)
    assert result.accuracy["zero", "contrast", 2] == pytest.approx(0.25)
    assert result.clean_accuracy["zero"] == pytest.approx(0.4)
    assert result.centroid["contrast", 1] == pytest.approx(0.0)  # a flat change: all at DC
    without = corruption_accuracy_on_sets(models, grey)
    assert math.isnan(without.centroid["contrast", 1]) and math.isnan(without.clean_accuracy["zero"])
    short = ImageSet(clean.images[:2], clean.labels[:2], clean.class_names, clean.ids[:2], name="CIFAR10")
    with pytest.raises(BadDatasetError, match="CIFAR10/val/000002"):
        corruption_accuracy_on_sets(models, grey, clean=short)
    with pytest.raises(ConfigError, match="severity 2"):
        corruption_accuracy_on_sets(
            models, {("contrast", 1): sets["contrast", 1], ("pixelate", 2): sets["contrast", 2]}
        )


@pytest.mark.parametrize(
    "call,named",
    [
        (lambda x: corrupt(x, "fog", 1), "'fog'; choose one of gaussian_noise"),
        (lambda x: corrupt(x, "contrast", 6), "1, 2, 3, 4, 5, got 6"),
        (lambda x: corrupt(x, "contrast", True), "got True"),
        (lambda x: corrupt(x, "contrast", 2.0), "got 2.0"),
        (lambda x: corrupt(x, "gaussian_noise", 1, seed=-1), "seed must be a whole number in [0, 4294967295], got -1"),
        (lambda x: corrupt(x * 2, "contrast", 1), "[0, 1]"),
        (lambda x: corrupt(x[:, :, :7], "contrast", 1), "at least 8 × 8 px"),
        (lambda x: corrupt(x[0], "contrast", 1), "(N, C, H, W)"),
        (lambda x: corrupt(x.repeat(1, 2, 1, 1), "contrast", 1), "1 or 3 channels"),
        (lambda x: corruption_accuracy({}, x, torch.zeros(2)), "no models"),
        (lambda x: corruption_accuracy({"m": constant_model(0)}, x, torch.tensor([0, -1])), "unlabelled"),
        (lambda x: corruption_accuracy({"m": constant_model(0)}, x, torch.zeros(2), reference="alexnet"), "alexnet"),
        (
            lambda x: corruption_accuracy(
                {"m": constant_model(0)}, x, torch.zeros(2), corruptions=("contrast",), reference={"contrast": [0.5]}
            ),
            "5 rates in [0, 1]",
        ),
    ],
)
def test_bad_inputs_give_one_line(call, named):
    images = torch.rand(2, 1, 16, 16)
    with pytest.raises(ConfigError) as caught:
        call(images)
    assert named in str(caught.value) and "\n" not in str(caught.value)
