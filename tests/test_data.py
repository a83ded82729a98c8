import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from PIL import Image

from fourier_masks.core.data.datasets import load_builtin, load_dataset, load_image_folder, load_torchvision_dataset
from fourier_masks.core.data.images import ImageSet, load_image, load_images
from fourier_masks.core.data.synthetic import SHAPE_CLASSES, make_planted, make_shapes, planted_band
from fourier_masks.core.errors import BadDatasetError, BadImageError, ConfigError, DatasetUnavailableError


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_builtin_shapes_any_size(size):
    images, labels, names = make_shapes(2, image_size=size)
    assert images.shape == (2 * len(SHAPE_CLASSES), 1, size, size)
    assert images.min() >= 0 and images.max() <= 1
    assert sorted(labels.unique().tolist()) == list(range(len(SHAPE_CLASSES)))
    assert names == SHAPE_CLASSES


def test_builtin_data_is_deterministic_and_splits_differ():
    a, b = load_builtin("shapes", 5, 3, size=32, seed=4), load_builtin("shapes", 5, 3, size=32, seed=4)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert not torch.equal(a.train.images[:18], a.val.images)
    assert len(a.train) == 30 and len(a.val) == 18
    c = load_builtin("shapes", 5, 3, size=32, seed=5)
    assert not torch.equal(a.train.images, c.train.images)


def test_rgb_builtin():
    images, _, _ = make_shapes(2, image_size=32, channels=3)
    assert images.shape[1] == 3


def test_planted_signal_sits_on_its_ring():
    images, labels, names = make_planted(20, image_size=32, noise=0.0)
    band = planted_band(32)
    spectrum = np.abs(
        np.fft.fftshift(
            np.fft.fft2(images[:, 0].numpy() - images[:, 0].numpy().mean(axis=(1, 2), keepdims=True)), axes=(1, 2)
        )
    )
    radius = np.hypot(*np.meshgrid(np.arange(32) - 16, np.arange(32) - 16, indexing="ij"))
    ring = np.abs(radius - band.radius) <= 1.5
    energy = (spectrum**2).sum(axis=0)
    assert energy[ring].sum() / energy.sum() > 0.95
    assert len(names) == 5


def test_balanced_subset():
    data = load_builtin("shapes", 4, 5, size=16).val
    subset = data.balanced_subset(2)
    assert np.bincount(subset.labels.numpy()).tolist() == [2] * 6
    assert set(subset.ids) <= set(data.ids)


def test_image_set_checks_lengths_and_unique_ids():
    with pytest.raises(ValueError):
        ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(3, dtype=torch.long), ("a",), ("x", "y"))
    with pytest.raises(ValueError):
        ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), ("a",), ("x", "x"))


# --- image files ------------------------------------------------------------------------------


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


@pytest.fixture
def gradient():
    return (np.linspace(0, 255, 40 * 60).reshape(40, 60)).astype(np.uint8)


def test_load_grayscale_resizes_and_crops(tmp_path, gradient):
    path = _save(tmp_path / "g.png", gradient)
    image = load_image(path, channels=1, size=32)
    assert image.shape == (1, 32, 32)
    assert 0 <= image.min() and image.max() <= 1


def test_load_rgb_as_gray_and_gray_as_rgb(tmp_path, gradient):
    rgb = np.stack([gradient, gradient // 2, 255 - gradient], axis=-1)
    assert load_image(_save(tmp_path / "c.jpg", rgb), channels=1, size=16).shape == (1, 16, 16)
    assert load_image(_save(tmp_path / "g.bmp", gradient), channels=3, size=16).shape == (3, 16, 16)
    assert load_image(_save(tmp_path / "g2.tif", gradient)).shape == (1, 40, 60)


def test_sixteen_bit_palette_and_alpha_images(tmp_path, gradient):
    deep = gradient.astype(np.uint16) * 257
    Image.fromarray(deep).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as check:
        assert check.mode.startswith("I")
    image = load_image(tmp_path / "deep.png", channels=1)
    assert image.max() == pytest.approx(1.0, abs=1e-3)
    Image.fromarray(gradient).convert("P").save(tmp_path / "palette.png")
    assert load_image(tmp_path / "palette.png", channels=1).shape == (1, 40, 60)
    rgba = np.dstack([np.full((10, 10, 3), 255, np.uint8), np.zeros((10, 10), np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    assert load_image(tmp_path / "alpha.png", channels=1).max() == 0  # transparent → black


def test_tiny_and_wide_images(tmp_path):
    assert load_image(_save(tmp_path / "one.png", np.array([[200]], np.uint8)), channels=1, size=8).shape == (1, 8, 8)
    assert load_image(_save(tmp_path / "wide.png", np.zeros((3, 300), np.uint8)), channels=1, size=16).shape == (
        1,
        16,
        16,
    )


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "empty"),
        (b"this is text, not a PNG", "not an image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "could not be decoded|not an image"),
    ],
)
def test_bad_image_files(tmp_path, content, match):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(BadImageError, match=match):
        load_image(path)


def test_truncated_jpeg(tmp_path, gradient):
    path = _save(tmp_path / "full.jpg", np.dstack([gradient] * 3))
    data = path.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(BadImageError, match="cut.jpg"):
        load_image(tmp_path / "cut.jpg")


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(BadImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(BadImageError, match="folder"):
        load_image(tmp_path)


def test_load_images_skips_bad_files_when_asked(tmp_path, gradient):
    good = _save(tmp_path / "good.png", gradient)
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    images, loaded, problems = load_images([good, bad], channels=1, size=16, skip_bad=True)
    assert images.shape == (1, 1, 16, 16) and loaded == [str(good)] and "bad.png" in problems[0]
    with pytest.raises(BadImageError):
        load_images([good, bad], channels=1, size=16)
    with pytest.raises(BadDatasetError, match="none of the 1"):
        load_images([bad], channels=1, size=16, skip_bad=True)


# --- folders ------------------------------------------------------------------------------------


def _folder(root, classes=("cat", "dog"), per_class=3, junk=True):
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _save(root / name / f"{i}.png", np.full((20, 20), 40 * k + i, np.uint8))
    if junk:
        (root / classes[0] / "notes.txt").write_text("not an image")
        (root / classes[0] / "broken.png").write_bytes(b"garbage")
        (root / ".DS_Store").write_bytes(b"\x00")
    return root


def test_image_folder_with_junk(tmp_path):
    data = load_image_folder(_folder(tmp_path / "data"), channels=1, size=16)
    assert len(data) == 6 and data.class_names == ("cat", "dog")
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.ids[0] == "cat/0.png"
    assert len(data.skipped) == 1 and "broken.png" in data.skipped[0]


def test_image_folder_class_order_can_follow_a_model(tmp_path):
    data = load_image_folder(_folder(tmp_path / "data", junk=False), class_names=("dog", "cat"))
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1] and data.ids[0].startswith("dog/")
    with pytest.raises(BadDatasetError, match="bird"):
        load_image_folder(tmp_path / "data", class_names=("cat", "bird"))


def test_empty_and_wrong_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadDatasetError, match="no class sub-folders"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "hollow" / "a").mkdir(parents=True)
    (tmp_path / "hollow" / "a" / "readme.txt").write_text("x")
    with pytest.raises(BadDatasetError, match="no readable images"):
        load_image_folder(tmp_path / "hollow")
    with pytest.raises(BadDatasetError, match="no such folder"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(BadDatasetError, match="is a file"):
        load_image_folder(tmp_path / "file.png")


def test_loose_images_get_a_hint(tmp_path, gradient):
    _save(tmp_path / "a.png", gradient)
    with pytest.raises(BadDatasetError, match="loose image"):
        load_image_folder(tmp_path)


def test_dataset_spec_for_folders_with_and_without_splits(tmp_path):
    _folder(tmp_path / "split" / "train", per_class=4, junk=False)
    _folder(tmp_path / "split" / "val", per_class=2, junk=False)
    splits = load_dataset(str(tmp_path / "split"), size=16)
    assert len(splits.train) == 8 and len(splits.val) == 4
    _folder(tmp_path / "flat", per_class=10, junk=False)
    splits = load_dataset(str(tmp_path / "flat"), size=16)
    assert len(splits.train) + len(splits.val) == 20 and len(splits.val) > 0
    assert not set(splits.train.ids) & set(splits.val.ids)


def test_bad_dataset_specs():
    with pytest.raises(ConfigError):
        load_dataset("builtin:nope")
    with pytest.raises(ConfigError):
        load_dataset("builtin", size=8)
    with pytest.raises(ConfigError):
        load_dataset("torchvision:NoSuchSet")
    with pytest.raises(ConfigError):
        load_dataset("builtin", channels=2)


def test_torchvision_dataset_offline_says_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="CIFAR10 is unavailable.*on disk"):
        load_torchvision_dataset("cifar10", train=False, root=tmp_path, download=False)


@pytest.mark.skipif(not (SHARED_DATA / "cifar5").is_dir(), reason="shared CIFAR-5 data not present")
def test_real_cifar5_images_load_as_an_image_folder():
    splits = load_dataset(str(SHARED_DATA / "cifar5"), size=32, channels=3, limit=8)
    assert splits.train.class_names == ("airplane", "automobile", "bird", "cat", "deer")
    assert splits.val.images.shape == (40, 3, 32, 32)
