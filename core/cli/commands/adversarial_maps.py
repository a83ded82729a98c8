"""``fourier-masks adversarial-maps``: essential vs adversarial frequency maps of a model
(Basile et al.): cosine similarity and IdCor."""

from __future__ import annotations

import argparse

from ...attacks.adversarial import ATTACKS, AttackConfig
from ...beyond.advmaps import AdversarialMapsConfig
from ...beyond.analyses import run_adversarial_maps
from ...masks.config import OBJECTIVES, ImageMaskConfig
from ..checks import checked_cluster
from ..common import labelled_images, model_and_run, printer
from ..options import (
    DEFAULT_EPS,
    add_cluster,
    add_device,
    add_labelled_images,
    add_model,
    permutations,
    steps,
    unit_interval,
)


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("adversarial-maps", help="essential vs adversarial frequency maps: cosine similarity and IdCor")
    add_model(p)
    add_labelled_images(p, per_class=10)
    p.add_argument("--attacks", nargs="+", default=["pgd", "fgsm"], choices=ATTACKS)
    p.add_argument("--eps", type=unit_interval, default=DEFAULT_EPS, help="attack ε in [0, 1] pixel units")
    p.add_argument("--steps", type=steps, default=10, help="PGD / DeepFool iterations")
    p.add_argument("--objective", choices=OBJECTIVES, default="basile")
    p.add_argument("--max-steps", type=steps, default=None, help="mask step limit")
    p.add_argument(
        "--permutations", type=permutations, default=100, help="IdCor permutations for the p-value (0 = none)"
    )
    add_cluster(p)
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    add_device(p)
    return [p]


def run(args) -> int:
    on, model, name, store = model_and_run(args)
    masks = ImageMaskConfig.basile(model.info.image_size) if args.objective == "basile" else ImageMaskConfig()
    if args.max_steps:
        masks = masks.replace(max_steps=args.max_steps, min_steps=min(masks.min_steps, args.max_steps))
    config = AdversarialMapsConfig(
        attacks=tuple(args.attacks),
        attack=AttackConfig(eps=args.eps, steps=args.steps),
        masks=masks,
        permutations=args.permutations,
        seed=args.seed,
    )
    images = labelled_images(args, model, name, args.per_class)
    result = run_adversarial_maps(
        store,
        name,
        model,
        images,
        config=config,
        device=on,
        on_progress=printer(args),
        cluster=checked_cluster(args),
    )
    if result.cancelled:
        return 130
    print(result.table().to_text())
    print(f"tables and figures -> {store.root}")
    return 0
