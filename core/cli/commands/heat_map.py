"""``fourier-masks heat-map``: the error rate of a model under each Fourier basis
perturbation (Yin et al.'s Fourier heat map)."""

from __future__ import annotations

import argparse

import numpy as np

from ...beyond.analyses import run_heat_map
from ...spectra.fourier import centred
from ..common import labelled_images, model_and_run, printer
from ..options import add_device, add_labelled_images, add_model, float_in

MAX_EPS = 1000.0  # L2 norm in pixel units: a 4096-px RGB image in [0, 1] has norm ≤ 7 095


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("heat-map", help="Fourier heat map: error rate under each Fourier basis perturbation")
    add_model(p)
    add_labelled_images(p, per_class=20)
    p.add_argument(
        "--eps",
        type=float_in(0, cap=MAX_EPS),
        default=4.0,
        help=f"L2 norm of the perturbation, in [0, {MAX_EPS:g}] pixel units (default 4, for 32×32)",
    )
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    add_device(p)
    return [p]


def run(args) -> int:
    _, model, name, store = model_and_run(args)
    images = labelled_images(args, model, name, args.per_class)
    result = run_heat_map(store, name, model, images, eps=args.eps, seed=args.seed, on_progress=printer(args))
    if result.cancelled:
        return 130
    heat = result.errors
    shifted = centred(heat)
    peak = np.unravel_index(np.argmax(shifted), shifted.shape)
    h, w = heat.shape
    print(
        f"Fourier heat map of {name} over {len(images)} images, ε = {args.eps:g}: mean error {100 * heat.mean():.1f} %, "
        f"highest {100 * heat.max():.1f} % at k = ({h // 2 - peak[0]}, {peak[1] - w // 2})"
    )
    print(f"table and figure -> {store.root}")
    return 0
