"""``fourier-masks cutoff-sweep``: accuracy of models on low- and high-pass filtered images
over a range of cutoff radii, optionally at several PGD ε, and where each curve halves."""

from __future__ import annotations

import argparse

from ...attacks.adversarial import AttackConfig
from ...beyond.analyses import run_cutoff_sweep
from ...beyond.sweeps import DEFAULT_RADII, MAX_RADIUS
from ..common import data_request, named_models_and_run, printer
from ..options import add_device, add_labelled_images, add_named_models, float_in, steps, unit_interval

radius = float_in(0, MAX_RADIUS, open_low=True)


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("cutoff-sweep", help="accuracy on low- and high-pass filtered images over cutoff radii")
    add_named_models(p, "sweep")
    add_labelled_images(p, per_class=0)
    p.add_argument(
        "--radii",
        nargs="+",
        type=radius,
        default=DEFAULT_RADII,
        metavar="R",
        help=f"cutoff radii in (0, √2] × Nyquist (default {len(DEFAULT_RADII)} evenly spaced up to √2)",
    )
    p.add_argument(
        "--eps",
        nargs="+",
        type=unit_interval,
        default=(0.0,),
        metavar="EPS",
        help="PGD ε in [0, 1] pixel units to sweep adversarial images at (0 = clean; default 0)",
    )
    p.add_argument("--steps", type=steps, default=10, help="PGD steps (default 10)")
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    add_device(p)
    return [p]


def run(args) -> int:
    _, models, store = named_models_and_run(args)
    sweeps = run_cutoff_sweep(
        store,
        models,
        data_request(args, args.per_class),
        radii=tuple(sorted(set(args.radii))),
        eps=tuple(dict.fromkeys(args.eps)),
        attack=AttackConfig(steps=args.steps),
        on_progress=printer(args),
    )
    if any(sweep.cancelled for sweep in sweeps.values()):
        return 130
    for sweep in sweeps.values():
        print(sweep.halving_table.to_text())
    print(f"tables and figure -> {store.root}")
    return 0
