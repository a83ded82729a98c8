"""``fourier-masks corruptions``: accuracy of models under the common corruptions, their mCE
against a reference model, and the spectral centroid of each corruption."""

from __future__ import annotations

import argparse

from ...beyond.analyses import run_corruptions
from ..common import data_request, named_models_and_run, printer
from ..options import add_device, add_labelled_images, add_named_models, given
from .profile import add_corruption_options, checked_reference


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser(
        "corruptions", help="accuracy under the common corruptions (CIFAR-10-C's families), mCE and centroids"
    )
    add_named_models(p, "measure")
    add_labelled_images(p, per_class=0)
    add_corruption_options(p)
    p.add_argument(
        "--reference",
        default=None,
        type=given("one of the models"),
        help="the model mCE is measured against (default: none, the mean error is shown instead)",
    )
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    add_device(p)
    return [p]


def run(args) -> int:
    _, models, store = named_models_and_run(args)
    result = run_corruptions(
        store,
        models,
        data_request(args, args.per_class),
        corruptions=tuple(dict.fromkeys(args.corruptions)),
        severities=tuple(sorted(set(args.severities))),
        reference=checked_reference(args, models),
        seed=args.seed,
        on_progress=printer(args),
    )
    if result.cancelled:
        return 130
    print(result.summary.to_text())
    print(result.spectra.to_text())
    print(f"tables and figure -> {store.root}")
    return 0
