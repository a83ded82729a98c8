"""Adversarial attacks (PGD, FGSM, DeepFool) with ε in [0, 1] pixel units."""

from .adversarial import ATTACKS, AttackConfig, AttackResult, attack_images, attack_success, pixel_eps

__all__ = ["ATTACKS", "AttackConfig", "AttackResult", "attack_images", "attack_success", "pixel_eps"]
