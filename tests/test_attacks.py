import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from fourier_masks.core.attacks import FGSM, PGD, Attack, DeepFool, make_attack
from fourier_masks.core.attacks.adversarial import AttackConfig, attack_images, attack_success, pixel_eps
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.models import build_classifier
from fourier_masks.core.models.classifier import ModelInfo


@pytest.fixture
def batch(tiny_model):
    images = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    labels = tiny_model(images).argmax(1)
    return images, labels


def test_pgd_stays_in_its_eps_ball_and_in_unit_range(tiny_model, batch):
    images, labels = batch
    eps = 0.03
    adversarial = attack_images(tiny_model, images, labels, config=AttackConfig(eps=eps, steps=5))
    assert adversarial.shape == images.shape
    assert (adversarial - images).abs().max() <= eps + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert (adversarial - images).abs().max() > eps / 2  # it really moved


def test_pgd_does_not_touch_the_model(tiny_model, batch):
    images, labels = batch
    tiny_model.train()
    before = copy.deepcopy(tiny_model.state_dict())
    attack_images(tiny_model, images, labels, config=AttackConfig(eps=0.05, steps=3))
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in tiny_model.parameters())
    assert all(p.requires_grad for p in tiny_model.parameters())
    assert tiny_model.training


def test_zero_eps_changes_nothing(tiny_model, batch):
    images, labels = batch
    adversarial = attack_images(tiny_model, images, labels, config=AttackConfig(eps=0.0, steps=2))
    assert torch.allclose(adversarial, images)


def test_pgd_is_reproducible_and_leaves_global_rng_alone(tiny_model, batch):
    images, labels = batch
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = attack_images(tiny_model, images, labels, config=AttackConfig(eps=0.05, steps=2, seed=7))
    assert torch.equal(torch.rand(1), expected_next)
    b = attack_images(tiny_model, images, labels, config=AttackConfig(eps=0.05, steps=2, seed=7))
    assert torch.equal(a, b)


def test_success_rate_counts_flips_of_correct_images(trained_shapes_model, tiny_shapes):
    val = tiny_shapes.val
    adversarial = attack_images(trained_shapes_model, val.images, val.labels, config=AttackConfig(eps=0.1, steps=10))
    result = attack_success(trained_shapes_model, val.images, adversarial, val.labels)
    assert result.attacked > 0
    assert result.success_rate > 0.5
    assert result.adversarial_accuracy < result.clean_accuracy


def test_eps_units():
    assert pixel_eps(0.06) == pytest.approx(0.01356)
    assert AttackConfig().eps == pytest.approx(0.01356)
    assert AttackConfig(eps=0.08).step_size == pytest.approx(0.01)
    with pytest.raises(ConfigError):
        AttackConfig(eps=-0.1)
    with pytest.raises(ConfigError):
        AttackConfig(steps=0)


def test_make_attack_builds_the_configured_algorithm():
    model = torch.nn.Linear(1, 2)
    pgd = make_attack(model, AttackConfig(eps=0.08, steps=3, random_start=False))
    assert isinstance(pgd, PGD)
    assert (pgd.eps, pgd.alpha, pgd.steps, pgd.random_start) == (0.08, 0.01, 3, False)
    assert isinstance(make_attack(model, AttackConfig(method="fgsm", eps=0.1)), FGSM)
    deepfool = make_attack(model, AttackConfig(method="deepfool", steps=7))
    assert isinstance(deepfool, DeepFool)
    assert (deepfool.steps, deepfool.overshoot) == (7, 0.02)


# One table of the three algorithms drives the shared checks below: each row builds our
# attack and torchattacks' (the reference) with the same settings.
@dataclass(frozen=True)
class Algorithm:
    ours: Callable[[torch.nn.Module], Attack]
    reference: Callable[[Any, torch.nn.Module], Any]  # (the torchattacks module, model)
    eps: float | None  # its L∞ bound; None for DeepFool, which has none


ALGORITHMS = {
    "pgd": Algorithm(
        lambda model: PGD(model, eps=0.05, alpha=0.02, steps=5, random_start=True),
        lambda ta, model: ta.PGD(model, eps=0.05, alpha=0.02, steps=5, random_start=True),
        0.05,
    ),
    "fgsm": Algorithm(lambda model: FGSM(model, eps=0.05), lambda ta, model: ta.FGSM(model, eps=0.05), 0.05),
    "deepfool": Algorithm(
        lambda model: DeepFool(model, steps=20, overshoot=0.02),
        lambda ta, model: ta.DeepFool(model, steps=20, overshoot=0.02),
        None,
    ),
}


@pytest.fixture(params=ALGORITHMS.values(), ids=ALGORITHMS.keys())
def algorithm(request) -> Algorithm:
    return request.param


@pytest.fixture(params=["shapes", "rgb"])
def victim(request):
    """A model to attack, with images and labels: the briefly trained grayscale shapes model
    on its validation images (some misclassified, so DeepFool leaves those alone), or a
    3-channel model whose normalisation differs per channel, with std far from 1."""
    if request.param == "shapes":
        val = request.getfixturevalue("tiny_shapes").val
        model = copy.deepcopy(request.getfixturevalue("trained_shapes_model")).eval()
        return model, val.images[:24], val.labels[:24]
    info = ModelInfo(
        arch="small_cnn",
        in_channels=3,
        num_classes=5,
        image_size=16,
        mean=(0.4, 0.5, 0.6),
        std=(0.2, 0.3, 0.25),
        class_names=tuple(f"c{k}" for k in range(5)),
    )
    torch.manual_seed(2)
    model = build_classifier(info).eval()
    images = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        labels = model(images).argmax(1)
    return model, images, labels


def test_same_images_as_torchattacks(algorithm, victim):
    """Same random state, same adversarial images (float tolerance). Holds for torchattacks
    3.3.0 and 3.5.1, whose PGD, FGSM and DeepFool do the same arithmetic."""
    torchattacks = pytest.importorskip("torchattacks")
    model, images, labels = victim
    torch.manual_seed(11)
    ours = algorithm.ours(model)(images, labels)
    # A copy: torchattacks' DeepFool calls backward(), which writes .grad on the parameters.
    torch.manual_seed(11)
    theirs = algorithm.reference(torchattacks, copy.deepcopy(model))(images, labels)
    assert not torch.equal(ours, images)  # it really attacked
    version = torchattacks.__version__
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5, msg=lambda text: f"{text}\n(torchattacks {version})")


def test_deepfool_takes_several_steps_on_the_victims(victim):
    """Else the reference check above would not exercise DeepFool's iteration."""
    model, images, labels = victim
    assert not torch.allclose(DeepFool(model, steps=1)(images, labels), DeepFool(model, steps=20)(images, labels))


def test_stays_in_unit_range_and_eps_ball(algorithm, victim):
    model, images, labels = victim
    adversarial = algorithm.ours(model)(images, labels)
    assert adversarial.shape == images.shape
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    if algorithm.eps is not None:
        assert (adversarial - images).abs().max() <= algorithm.eps + 1e-6


def test_leaves_the_model_as_it_found_it(algorithm, victim):
    model, images, labels = victim
    model.train()
    frozen_weight = next(model.parameters())
    frozen_weight.requires_grad_(False)
    before = copy.deepcopy(model.state_dict())
    algorithm.ours(model)(images, labels)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == [p is not frozen_weight for p in model.parameters()]
    for key, value in model.state_dict().items():  # eval mode: batch-norm statistics untouched
        assert torch.equal(value, before[key]), key


def test_batched_equals_one_image_at_a_time(algorithm, victim):
    model, images, labels = victim
    attack = algorithm.ours(model)
    # On the CPU generator, one draw for N images gives the N draws of one image in turn.
    torch.manual_seed(5)
    batched = attack(images, labels)
    torch.manual_seed(5)
    single = torch.cat([attack(images[i : i + 1], labels[i : i + 1]) for i in range(len(images))])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)


def test_attacks_under_no_grad(algorithm, victim):
    """Evaluation code often runs under torch.no_grad(); the attack needs its gradients anyway."""
    model, images, labels = victim
    torch.manual_seed(5)
    expected = algorithm.ours(model)(images, labels)
    torch.manual_seed(5)
    with torch.no_grad():
        assert torch.equal(algorithm.ours(model)(images, labels), expected)
