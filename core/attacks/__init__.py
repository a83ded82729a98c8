"""Adversarial attacks (PGD, FGSM, DeepFool) with ε in [0, 1] pixel units."""

from .adversarial import ATTACKS, AttackConfig, AttackResult, attack_images, attack_success, make_attack, pixel_eps
from .attack import Attack
from .deepfool import DeepFool
from .fgsm import FGSM
from .pgd import PGD

__all__ = [
    "ATTACKS",
    "FGSM",
    "PGD",
    "Attack",
    "AttackConfig",
    "AttackResult",
    "DeepFool",
    "attack_images",
    "attack_success",
    "make_attack",
    "pixel_eps",
]
