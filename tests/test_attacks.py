import copy

import pytest
import torch

from fourier_masks.core.attacks.adversarial import AttackConfig, attack_images, attack_success, pixel_eps
from fourier_masks.core.errors import ConfigError


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
