"""``fourier-masks sensitivity``: the spectrum of a model's input gradients (a map and a radial
profile per channel, with the spread over images), and with ``--layers`` the relative log
amplitude of each stage's feature maps."""

from __future__ import annotations

import argparse

from ...beyond.analyses import run_layer_spectra, run_sensitivity
from ..common import labelled_images, model_and_run, printer
from ..options import add_device, add_labelled_images, add_model, given


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("sensitivity", help="Fourier sensitivity: the spectrum of input gradients, and layer spectra")
    add_model(p)
    add_labelled_images(p, per_class=20)
    p.add_argument(
        "--layers",
        nargs="*",
        default=None,
        type=given("module names"),
        metavar="NAME",
        help="also the spectra of these stages' feature maps (names in the network; none given: its top-level "
        "stages); nn.Module models only",
    )
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    add_device(p)
    return [p]


def run(args) -> int:
    _, model, name, store = model_and_run(args)
    images = labelled_images(args, model, name, args.per_class)
    result = run_sensitivity(store, name, model, images, on_progress=printer(args))
    if result.cancelled:
        return 130
    print(result.table.to_text())
    print(
        f"{name}: {100 * result.high_frequency_share:.1f} % of the input gradients' energy lies above "
        f"{result.cutoff:g} × Nyquist ({result.images} images)"
    )
    if args.layers is not None:
        spectra = run_layer_spectra(store, name, model, images, layers=args.layers or None, on_progress=printer(args))
        if spectra.cancelled:
            return 130
        print(spectra.table.to_text())
    print(f"tables and figures -> {store.root}")
    return 0
