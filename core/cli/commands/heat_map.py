"""``fourier-masks heat-map``: the error rate of a model under each Fourier basis
perturbation (Yin et al.'s Fourier heat map), top-1 and top-5."""

from __future__ import annotations

import argparse

import numpy as np

from ...beyond.analyses import run_heat_map
from ...beyond.robustness import HEAT_MAP_SIGNS, MAX_HEAT_MAP_STRIDE
from ...spectra.fourier import centred
from ..common import labelled_images, model_and_run, printer
from ..json_output import absolute, add_json, emit, figure_files, wants_json
from ..options import add_device, add_labelled_images, add_model, float_in, int_from

MAX_EPS = 1000.0  # L2 norm in pixel units: a 4096-px RGB image in [0, 1] has norm ≤ 7 095


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("heat-map", help="Fourier heat map: error rate under each Fourier basis perturbation")
    add_model(p)
    add_labelled_images(p, per_class=20)
    p.add_argument(
        "--eps",
        type=float_in(0, cap=MAX_EPS),
        default=4.0,
        help=f"L2 norm of the perturbation of each channel, in [0, {MAX_EPS:g}] pixel units (default 4, for 32×32)",
    )
    p.add_argument(
        "--signs",
        choices=HEAT_MAP_SIGNS,
        default="channel",
        help="one random sign per channel (default, as Yin et al.) or one per image for all channels",
    )
    p.add_argument(
        "--stride",
        type=int_from(0, MAX_HEAT_MAP_STRIDE),
        default=1,
        help="measure only frequencies whose k_y and k_x are multiples of this (default 1: all; 0: auto, "
        "all up to 64 px, else the smallest stride with ≤ 1 100 frequency pairs); the others are left out "
        "of the table and the figure, not interpolated",
    )
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    add_device(p)
    add_json(p)
    return [p]


def run(args) -> int:
    _, model, name, store = model_and_run(args)
    images = labelled_images(args, model, name, args.per_class)
    result = run_heat_map(
        store,
        name,
        model,
        images,
        eps=args.eps,
        signs=args.signs,
        stride=args.stride,
        seed=args.seed,
        on_progress=printer(args),
    )
    if result.cancelled:
        return 130
    heat = result.errors
    shifted = np.nan_to_num(centred(heat), nan=-1.0)
    peak = np.unravel_index(np.argmax(shifted), shifted.shape)
    h, w = heat.shape
    top5 = result.mean_error(5)
    print(
        f"Fourier heat map of {name} over {len(images)} images, ε = {args.eps:g}, {args.signs} signs: "
        f"mean top-1 error {100 * result.mean_error():.1f} %, "
        + (f"top-5 {100 * top5:.1f} %, " if not np.isnan(top5) else "no top-5 (5 classes or fewer), ")
        + f"highest top-1 {100 * np.nanmax(heat):.1f} % at k = ({h // 2 - peak[0]}, {peak[1] - w // 2})"
    )
    if result.stride > 1:
        print(
            f"measured every {result.stride} frequencies on each axis ({result.frequencies_total} frequency pairs); "
            "the others are not in the table or the figure"
        )
    print(f"table and figure -> {store.root}")
    if wants_json(args):
        table = store.load_table(f"heat-map-{name}")
        document = {
            "run": absolute(store.root),
            "model": name,
            "images": len(images),
            "eps": args.eps,
            "signs": args.signs,
            "stride": result.stride,
            "frequencies_done": result.frequencies_done,
            "frequencies_total": result.frequencies_total,
            "mean_top1_error": result.mean_error(),
            "mean_top5_error": top5,
            "highest_top1_error": {
                "error": float(np.nanmax(heat)),
                "k_y": int(h // 2 - peak[0]),
                "k_x": int(peak[1] - w // 2),
            },
            "tables": {table.name: table.to_dict()},
            "figures": figure_files(store.figures_dir, [f"heat-map-{name}"]),
            "files": {"arrays": absolute(store.path(f"data/heat-map-{name}.npz"))},
        }
        emit("heat-map", document)
    return 0
