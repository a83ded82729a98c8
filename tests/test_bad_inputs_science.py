"""Bad settings and hostile names thrown at the science: the mask learners, the attacks, the
heat map and the robustness measures, and the figures and tables that show users' names.

A setting that would take an optimisation or a perturbation out of the numbers is refused
where its config is made (the app and Python build configs too), or, when it gets that far,
named in the error with its value, while "its weights are probably corrupt" stays for models
that are not finite on the clean images. Class, model and image names reach every figure and
table literally, mathtext and all. In the style of ``tests/test_bad_inputs.py``, whose
helpers it uses; the fragile models below are the trained test model with one numerical
weakness added, so that only the setting (or the perturbation) can be to blame.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_bad_inputs import case, cli_error, expect, run_cli
from torch import nn

from fourier_masks.core import errors, figures
from fourier_masks.core.attacks.adversarial import AttackConfig, attack_images
from fourier_masks.core.beyond.advmaps import AdversarialMapsConfig
from fourier_masks.core.beyond.blueshift import blue_shift
from fourier_masks.core.beyond.robustness import band_noise_accuracy, fourier_heat_map
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.masks.inference import masked_probabilities
from fourier_masks.core.masks.set_masks import learn_set_mask
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.models.classifier import Classifier, ModelInfo
from fourier_masks.core.runs.groups import group_slots
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.spectra.energy import Partition, band_energies, radial_partition
from fourier_masks.core.study.contents import RunModels
from fourier_masks.core.tables import Table

ENGINE: dict[str, Callable] = {}
CLI: dict[str, Callable] = {}


# Names a user can give classes (folder names, --class-names): mathtext, a lone or escaped
# dollar, TeX commands (one matplotlib does not know), format braces, a leading underscore
# (which a matplotlib legend would hide).
NAMES = ("$x^2$", "a$b", "\\alpha", "50% {}", "_{a}", "$\\undefined$")
MORE_NAMES = ("$", "a\\$b", "$$", "x\x1by")


# --- models with one numerical weakness ----------------------------------------------------------


class Blanking(nn.Module):
    """The network, but Inf for an (almost) blank normalised image: as a mask empties the
    image, the outputs leave the numbers, while the clean images and the loader's blank
    check (pixels 0, far from the mean) stay finite."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        blank = z.flatten(1).abs().amax(1) < 0.5
        return self.net(z) + torch.where(blank, float("inf"), 0.0)[:, None]


class Contrast(nn.Module):
    """The network, but Inf for an image with any contrast: finite on flat grey images, not
    on the same images perturbed."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.flatten(1)
        return self.net(z) + torch.where(flat.amax(1) - flat.amin(1) > 0.05, float("inf"), 0.0)[:, None]


class NaNGradient(nn.Module):
    """The network plus √(0·z²): finite outputs, NaN input gradient (∞ · 0)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z) + torch.sqrt(z.square() * 0).sum(dim=(1, 2, 3))[:, None]


class Flat(nn.Module):
    """Always predicts class 1 whatever the image: every class gradient is zero."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]]).repeat(len(z), 1) + 0 * z.sum()


def fragile(model: Classifier, weakness: type[nn.Module]) -> Classifier:
    return Classifier(weakness(copy.deepcopy(model.net)), model.info).eval()


def grey(n: int = 6, value: float = 0.5) -> torch.Tensor:
    """Flat grey 16-px images: no contrast at all."""
    return torch.full((n, 1, 16, 16), value)


@pytest.fixture
def c(tmp_path, trained_shapes_model, tiny_shapes):
    """A tmp folder, the trained 16-px, 6-class model, and some of its validation images."""
    model = copy.deepcopy(trained_shapes_model)
    val = tiny_shapes.val
    return {"dir": tmp_path, "model": model, "images": val.images[:6], "labels": val.labels[:6]}


def bypass(config, **values):
    """``config`` with ``values`` set without its checks: a config made before the bounds
    existed, or by code that skips them; the learners must still name the setting."""
    for name, value in values.items():
        object.__setattr__(config, name, value)
    return config


# --- 1. settings that leave the numbers ----------------------------------------------------------


@case(ENGINE, "absurd mask settings are refused where the config is made")
def _(c):
    refused = [
        (lambda: ImageMaskConfig(lam=1e308), r"λ \(lam\) must be ≥ 0 and ≤ 1e\+06, got 1e\+308; published: λ 0\.07"),
        (lambda: ImageMaskConfig(lr=1e308), r"learning rate must be > 0 and ≤ 1000, got lr = 1e\+308; published"),
        (lambda: SetMaskConfig(lam=float("inf")), r"λ \(lam\) must be .*got inf; published: λ 0\.2"),
        (lambda: SetMaskConfig(lr=1e38), r"got lr = 1e\+38; published: λ 0\.2 and lr 0\.001"),
        (lambda: ImageMaskConfig(max_steps=10**30), r"max_steps must be ≤ 1000000000, got 10{30}; the published"),
        (lambda: ImageMaskConfig(patience=2**63), r"patience must be ≤ 1000000000"),
        (lambda: ImageMaskConfig(kept_tol=float("nan")), r"kept_tol must be a finite number ≥ 0, got nan"),
        (lambda: ImageMaskConfig(invariance_tol=-1.0), r"invariance_tol must be a finite number ≥ 0"),
        (lambda: ImageMaskConfig(loss_window=10**9), r"loss_window must be ≤ 10000.*Basile et al\. use 20"),
        (lambda: ImageMaskConfig(batch_size=10**9), r"batch_size must be ≤ 65536.*give 0"),
        (lambda: ImageMaskConfig(check_every=10**12), r"check_every must be ≤ 10000"),
        (lambda: SetMaskConfig(max_epochs=10**30), r"max_epochs must be ≤ 1000000"),
        (lambda: SetMaskConfig(kept_tol=float("inf")), r"kept_tol must be a finite number"),
        (lambda: SetMaskConfig(seed=2**64), r"seed must be in \[0, 4294967295\]"),
    ]
    for make, pattern in refused:
        expect(errors.ConfigError, pattern, make)


@case(ENGINE, "values an ablation would try still pass")
def _(c):
    ImageMaskConfig(lam=1000.0, lr=10.0, max_steps=10**6, patience=10**5, loss_window=1000, batch_size=4096)
    ImageMaskConfig(invariance_tol=0.0, kept_tol=1.0, check_every=1000, settle_after=10**12)
    SetMaskConfig(lam=1000.0, lr=10.0, max_epochs=10**5, seed=2**32 - 1, kept_tol=0.0)
    AttackConfig(alpha=1.0, steps=1000, seed=2**32 - 1)
    AdversarialMapsConfig(attacks=("deepfool",), permutations=100_000)
    blue_shift(cycles=255, amplitude=100.0)


@case(ENGINE, "λ = 1e308 that got past the config: the error names λ, not the weights")
def _(c):
    config = bypass(ImageMaskConfig(max_steps=30), lam=1e308)
    message = expect(
        errors.NonFiniteError,
        r"^the mask optimisation diverged at λ \(lam\) = 1e\+308, learning rate \(lr\) = 0\.2 \(the loss became inf "
        r"at step 1 of image '0'; .* so its weights are fine\); use a smaller λ or learning rate; published",
        lambda: learn_image_masks(c["model"], c["images"], config=config),
    )
    assert "corrupt" not in message


@case(ENGINE, "λ = 1e38 that got past the config: an overflowing gradient no longer freezes masks silently")
def _(c):
    # Adam's second moment overflowed, every update was 0 and the masks came back all ones.
    config = bypass(ImageMaskConfig(max_steps=30), lam=1e38)
    expect(
        errors.NonFiniteError,
        r"diverged at λ \(lam\) = 1e\+38.*the loss's gradient overflowed at step 1",
        lambda: learn_image_masks(c["model"], c["images"], config=config),
    )


@case(ENGINE, "a set mask's λ that got past the config: the error names λ")
def _(c):
    config = bypass(SetMaskConfig(max_epochs=2), lam=1e308)
    expect(
        errors.NonFiniteError,
        r"diverged at λ \(lam\) = 1e\+308, learning rate \(lr\) = 0\.001 \(the loss became inf in epoch 1, batch 1;"
        r".*published: λ 0\.2",
        lambda: learn_set_mask(c["model"], c["images"], c["labels"], config=config),
    )


@case(ENGINE, "a model that leaves the numbers on emptied images: the masks' settings are named")
def _(c):
    config = ImageMaskConfig(lam=50.0, lr=0.5, schedule="constant", max_steps=50, check_every=10)
    message = expect(
        errors.NonFiniteError,
        r"diverged at λ \(lam\) = 50, learning rate \(lr\) = 0\.5 \(the loss became nan at step \d+ of image",
        lambda: learn_image_masks(fragile(c["model"], Blanking), c["images"], config=config),
    )
    assert "corrupt" not in message


@case(ENGINE, "masks with NaN given to masked inference: the masks are blamed")
def _(c):
    masks = np.ones((1, 16, 16), np.float32)
    masks[0, 3, 3] = np.nan
    message = expect(
        errors.NonFiniteError,
        "the masks contain NaN or Inf values; check where they were",
        lambda: masked_probabilities(c["model"], c["images"], masks),
    )
    assert "weights" not in message


@case(ENGINE, "masks that take the model out of its range: the masks are blamed, not the weights")
def _(c):
    expect(
        errors.NonFiniteError,
        "NaN or Inf on the masked images, though finite on the clean ones",
        lambda: masked_probabilities(fragile(c["model"], Blanking), c["images"], np.zeros((1, 16, 16))),
    )


@case(ENGINE, "a model not finite on the clean images: still its weights")
def _(c):
    with torch.no_grad():
        c["model"].net.classifier.bias.fill_(float("inf"))
    for action in (
        lambda: masked_probabilities(c["model"], c["images"], np.zeros((1, 16, 16))),
        lambda: fourier_heat_map(c["model"], c["images"], c["labels"]),
        lambda: band_noise_accuracy(c["model"], c["images"], c["labels"], kind="high"),
    ):
        expect(errors.NonFiniteError, "outputs on the (clean|given) images; its weights are probably corrupt", action)


@case(ENGINE, "heat-map ε of 1e308, and one the model cannot take")
def _(c):
    expect(
        errors.ConfigError,
        r"heat-map ε \(eps\) must be in \[0, 10000\].*got 1e\+308; Yin et al\. use 4",
        lambda: fourier_heat_map(c["model"], c["images"], c["labels"], eps=1e308),
    )
    expect(
        errors.NonFiniteError,
        r"^the model's outputs are NaN or Inf on the images perturbed by ±ε·U with ε \(eps\) = 4, though finite on "
        r"the clean images; use a smaller ε",
        lambda: fourier_heat_map(fragile(c["model"], Contrast), grey(), c["labels"]),
    )


@case(ENGINE, "band-limited noise of std 1e308, and one the model cannot take")
def _(c):
    expect(
        errors.ConfigError,
        r"noise std \(noise_std\) must be in \[0, 100\] pixel units, got 1e\+308",
        lambda: band_noise_accuracy(c["model"], c["images"], c["labels"], kind="low", std=1e308),
    )
    expect(
        errors.ConfigError,
        r"noise cutoff must be in \(0, 1\.414\)",
        lambda: band_noise_accuracy(c["model"], c["images"], c["labels"], kind="high", cutoff=float("nan")),
    )
    expect(
        errors.NonFiniteError,
        r"perturbed by low-pass noise of std \(noise_std\) 0\.1, though finite on the clean images; use a smaller std",
        lambda: band_noise_accuracy(fragile(c["model"], Contrast), grey(), c["labels"], kind="low"),
    )


@case(ENGINE, "PGD step size of 1e308 or NaN")
def _(c):
    for alpha in (1e308, float("nan")):
        expect(
            errors.ConfigError,
            r"PGD step size \(alpha\) must be in \[0, 1\] pixel units",
            lambda alpha=alpha: AttackConfig(alpha=alpha),
        )


@case(ENGINE, "attacks on a model whose gradient or perturbed outputs are not finite: not the weights")
def _(c):
    expect(
        errors.NonFiniteError,
        r"the PGD attack \(ε \(eps\) = 0\.01356, step size \(alpha\) = 0\.001695\) met a NaN or Inf input gradient, "
        r"though the model's outputs on the clean images are finite: check its layers",
        lambda: attack_images(fragile(c["model"], NaNGradient), c["images"], c["labels"]),
    )
    expect(
        errors.NonFiniteError,
        r"the FGSM attack .* made images on which the model's outputs are NaN or Inf, .*try a smaller ε",
        lambda: attack_images(fragile(c["model"], Contrast), grey(), c["labels"], config=AttackConfig(method="fgsm")),
    )


@case(ENGINE, "DeepFool on a model with no gradient leaves the images as they are")
def _(c):
    flat = Classifier(Flat(), c["model"].info).eval()
    images = c["images"]
    adversarial = attack_images(
        flat, images, torch.ones(len(images), dtype=torch.int64), config=AttackConfig(method="deepfool")
    )
    assert torch.equal(adversarial, images)  # 0/0 made every pixel NaN


@case(ENGINE, "absurd seeds, attack lists, permutations and blue-shift settings")
def _(c):
    refused = [
        (lambda: AttackConfig(seed=2**64), r"seed must be in \[0, 4294967295\]"),
        (lambda: AttackConfig(steps=10**30), r"steps must be ≤ 10000000"),
        (lambda: fourier_heat_map(c["model"], c["images"], c["labels"], seed=2**64), r"seed must be in"),
        (lambda: band_noise_accuracy(c["model"], c["images"], c["labels"], kind="low", seed=-1), r"seed must be in"),
        (lambda: AdversarialMapsConfig(attacks=("cw",)), r"attacks must name one or more of pgd, fgsm, deepfool"),
        (lambda: AdversarialMapsConfig(permutations=10**12), r"permutations must be in \[0, 10000000\]"),
        (lambda: AdversarialMapsConfig(seed=-1), r"seed must be in"),
        (lambda: blue_shift(amplitude=1e308), r"blue-shift amplitude must be in \(0, 1e\+06\], got 1e\+308"),
        (lambda: blue_shift(cycles=300), r"blue-shift cycles must be in \[1, 255\] for 512 samples"),
        (lambda: fourier_heat_map(c["model"], c["images"][:0], c["labels"][:0]), r"no images to measure"),
    ]
    for make, pattern in refused:
        expect(errors.ConfigError, pattern, make)


@case(ENGINE, "more masks at once than memory holds")
def _(c):
    info = ModelInfo("small_cnn", 1, 6, 1024, (0.5,), (0.25,))
    model = build_classifier(info).eval()
    expect(
        errors.ConfigError,
        r"not enough memory to learn 65536 masks of 1×1024×1024 images at once; give a smaller batch size",
        lambda: learn_image_masks(model, torch.rand(1, 1, 1024, 1024), slots=65_536),
    )


@case(ENGINE, "a batch size beyond the number of images is cut to it")
def _(c):
    config = ImageMaskConfig(batch_size=65_536, max_steps=10, check_every=5)
    assert group_slots(config, 6, torch.device("cpu"), c["model"], (1, 16, 16)) == 6
    result = learn_image_masks(c["model"], c["images"], config=config)  # 65 536 slots would take ~400 MB
    assert result.masks.shape == (6, 1, 16, 16)


@case(ENGINE, "many bands on a large image need no one-hot partition")
def _(c, monkeypatch):
    # 1024 bands at 1024 px took a (1024, 1024, 1024) float64 one-hot: 8 GB and minutes.
    monkeypatch.setattr(Partition, "one_hot", lambda self: pytest.fail("band_energies built a one-hot partition"))
    masks = np.random.default_rng(0).random((3, 1, 64, 64))
    energies = band_energies(masks, radial_partition((64, 64), 1024))
    assert energies.shape == (3, 1024) and np.allclose((energies**2).sum(axis=1), 1)


@case(ENGINE, "a run whose model file is gone")
def _(c):
    store = ResultsStore(c["dir"] / "run")
    expect(
        errors.OutputError,
        r"the run has masks for model 'N' but no .*models/N\.safetensors \(nor \.pt, \.pt2\); put the model file back",
        lambda: RunModels(store, torch.device("cpu"))["N"],
    )


# --- 2. users' names, literally --------------------------------------------------------------------


def texts_of(svg: str) -> list[str]:
    """The text elements of an SVG figure (text is kept as text: ``svg.fonttype`` none)."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)]


def svg_texts(fig) -> list[str]:
    return texts_of(figures.figure_bytes(fig, "svg").decode())


def shown(name: str) -> str:
    return name.replace("\x1b", "\\x1b")  # a control character is shown as its escape


@case(ENGINE, "figures show users' names literally")
def _(c):
    names = NAMES + MORE_NAMES
    few = ("$\\undefined$", "$x^2$", "a\\$b")  # panels are slow to lay out: the worst names only
    masks = {name: np.random.default_rng(0).random((1, 8, 8)) for name in names}
    drawn = {
        "masks": (figures.masks_figure(masks, title="run $1 of \\beta"), names),
        "embedding": (
            figures.embedding_figure(np.random.default_rng(0).random((20, 2)), np.arange(20) % 10, names),
            names,
        ),
        "examples": (
            figures.filtered_examples_figure(
                [{"x": np.zeros((1, 8, 8))} for _ in names], list(names), captions=[{"x": n} for n in names]
            ),
            names,
        ),
        "energy": (
            figures.energy_figure({n: np.zeros(4) for n in few}, {n: np.zeros(4) for n in few}, np.linspace(0, 8, 5)),
            few,
        ),
        "curves": (figures.curves_figure({n: [1.0, 0.5] for n in few}, xlabel="$t$"), few),
    }
    for kind, (fig, shown_names) in drawn.items():
        texts = svg_texts(fig)
        assert [shown(n) for n in shown_names if shown(n) not in texts] == [], kind
    assert "run $1 of \\beta" in svg_texts(drawn["masks"][0])
    assert "$t$" in svg_texts(drawn["curves"][0])
    assert "Fourier heat map ($x^2$)" in svg_texts(
        figures.heat_map_figure(np.zeros((8, 8)), "Fourier heat map ($x^2$)")
    )
    for fmt in ("png", "pdf"):
        figures.figure_bytes(drawn["examples"][0], fmt)


@case(ENGINE, "tables keep users' names literally, and print each on one line")
def _(c):
    names = [*NAMES, "a,b", 'say "hi"', "two\nlines", "=1+1", "+x", "-1", "@SUM(A1)", "esc\x1b[2J"]
    table = Table.build("names", "Classes of model $N$", [("class", ""), ("accuracy", "%")])
    for name in names:
        table.add_row(name, 50.0)
    rows = list(csv.reader(io.StringIO(table.to_csv())))
    assert [row[0] for row in rows[1:]] == names  # quoted, never altered (see core/tables.py)
    store = ResultsStore(c["dir"] / "run")
    store.save_table(table)
    assert store.load_table("names").column("class") == names
    assert json.loads((c["dir"] / "run" / "tables" / "names.json").read_text())["rows"][8][0] == "two\nlines"
    text = table.to_text()
    assert len(text.splitlines()) == 4 + len(names) and "two\\nlines" in text and "esc\\x1b[2J" in text
    assert "\x1b" not in text


@case(ENGINE, "a figure asked for in a format that is not made")
def _(c):
    expect(
        errors.OutputError,
        "figures are saved as png, svg, pdf, not 'jpg'",
        lambda: figures.write_figure(figures.heat_map_figure(np.zeros((4, 4))), c["dir"] / "heat.jpg"),
    )


# --- the command line ----------------------------------------------------------------------------


def scripted(model: Classifier, weakness: type[nn.Module], path: Path) -> list:
    """``model`` with ``weakness`` as a TorchScript file, and the options that describe it."""
    torch.jit.save(torch.jit.script(weakness(copy.deepcopy(model.net)).eval()), path)
    names = path.with_suffix(".txt")
    names.write_text("\n".join(model.info.labels()))
    info = model.info
    return [
        "--model",
        path,
        "--model-classes",
        info.num_classes,
        "--model-channels",
        info.in_channels,
        "--model-size",
        info.image_size,
        "--class-names",
        names,
        "--normalization",
        info.mean[0],
        info.std[0],
    ]


def image_folder(root: Path, names, image: Callable[[int, int], np.ndarray]) -> Path:
    """``root/{train,val}/<name>/`` with two 16-px PNGs per class."""
    for split in ("train", "val"):
        for k, name in enumerate(names):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(image(k, i)).save(folder / f"{i}.png")
    return root


DATA = ["--data", "builtin", "--size", "16", "--train-per-class", "2", "--val-per-class", "1"]


@case(CLI, "mask learning on a model that leaves the numbers on emptied images")
def _(c, capsys):
    model = scripted(c["model"], Blanking, c["dir"] / "blanking.ts")
    settings = ["--lam", "50", "--lr", "0.5", "--schedule", "constant", "--max-steps", "50", "--quiet"]
    cli_error(
        capsys,
        ["masks", "image", *model, *DATA, *settings, "--out", c["dir"] / "run"],
        r"^error: the mask optimisation diverged at λ \(lam\) = 50, learning rate \(lr\) = 0\.5 \(the loss became nan",
    )


@case(CLI, "a heat map on a model that leaves the numbers on perturbed images")
def _(c, capsys):
    model = scripted(c["model"], Contrast, c["dir"] / "contrast.ts")
    data = image_folder(
        c["dir"] / "grey", c["model"].info.labels(), lambda k, i: np.full((16, 16), 100 + 20 * k, np.uint8)
    )
    cli_error(
        capsys,
        ["heat-map", *model, "--data", data, "--out", c["dir"] / "run", "--quiet"],
        r"^error: the model's outputs are NaN or Inf on the images perturbed by ±ε·U with ε \(eps\) = 4, though finite",
    )


@case(CLI, "a report on a run whose class names are mathtext")
def _(c, capsys, monkeypatch):
    # Mathtext is parsed whatever the format: drawing the SVG alone keeps the test fast.
    svg_only = figures.figure_bytes
    monkeypatch.setattr(figures, "figure_bytes", lambda fig, fmt, dpi=300: svg_only(fig, fmt) if fmt == "svg" else b"")
    run = c["dir"] / "run"
    store = ResultsStore(run)
    named = copy.deepcopy(c["model"])
    named.info = named.info.replace(class_names=NAMES)
    save_checkpoint(named, store.model_path("N"))

    def striped(k: int, i: int) -> np.ndarray:
        image = np.full((16, 16), 40 + 10 * i, np.uint8)
        image[:, k::6] = 220
        return image

    data = ["--data", image_folder(c["dir"] / "classes", NAMES, striped)]
    into_run = ["--out", run, "--quiet"]
    for argv in (
        ["masks", "class", "--model", "N", *data, "--max-epochs", "1", "--learn-on", "all", *into_run],
        ["masks", "image", "--model", "N", *data, "--max-steps", "5", *into_run],
        ["report", "--run", run, "--quiet"],
    ):
        code, err = run_cli(capsys, argv)
        assert code == 0, err  # mathtext that failed to parse ended the report in "unexpected failure"
    texts = texts_of((run / "figures" / "class-and-image-masks-N.svg").read_text())
    assert all(f"{name} (class)" in texts for name in NAMES), texts
    texts = texts_of((run / "figures" / "single-image-examples-N.svg").read_text())
    assert set(NAMES) <= set(texts), texts


@case(CLI, "a report on a run whose model file is gone")
def _(c, capsys):
    run = c["dir"] / "run"
    model = save_checkpoint(c["model"], c["dir"] / "N.pt")
    argv = ["masks", "set", "--model", model, *DATA, "--max-epochs", "1", "--learn-on", "all", "--out", run, "--quiet"]
    code, err = run_cli(capsys, argv)
    assert code == 0, err
    for path in (run / "models").iterdir():
        path.unlink()
    cli_error(capsys, ["report", "--run", run, "--quiet"], r"no .*models/N\.safetensors \(nor \.pt, \.pt2\)")


# --- running the tables --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENGINE))
def test_engine(name, c, monkeypatch):
    function = ENGINE[name]
    if function.__code__.co_argcount == 2:
        function(c, monkeypatch)
    else:
        function(c)


@pytest.mark.parametrize("name", list(CLI))
def test_cli(name, c, capsys, monkeypatch):
    function = CLI[name]
    if function.__code__.co_argcount == 3:
        function(c, capsys, monkeypatch)
    else:
        function(c, capsys)
