"""``fourier-masks profile``: one table for a zoo of models, each model's frequency-robustness
profile side by side (:mod:`fourier_masks.core.beyond.profile`), resumable like the study."""

from __future__ import annotations

import argparse
import dataclasses

from ...beyond.analyses import run_profile
from ...beyond.corruptions import CORRUPTIONS, SEVERITIES
from ...beyond.profile import ProfileConfig
from ...errors import ConfigError
from ...masks.config import SetMaskConfig
from ..checks import checked_cluster
from ..common import data_request, named_models_and_run, printer
from ..config_files import add_config, if_typed, profile_config, typed
from ..options import (
    DEFAULT_EPS,
    add_cluster,
    add_device,
    add_labelled_images,
    add_named_models,
    epochs,
    float_in,
    given,
    steps,
    unit_interval,
)

MAX_EPS = 1000.0  # the heat map's L2 norm in pixel units, as `heat-map --eps`


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser(
        "profile",
        help="one table for a zoo of models: accuracy, PGD, corruptions and mCE, dataset mask, heat map, gradient "
        "spectrum and cutoff radii of each",
    )
    add_named_models(p, "profile")
    add_labelled_images(p, per_class=20)
    p.add_argument(
        "--reference",
        default=None,
        type=given("one of the profiled models"),
        help="the model mCE is measured against (default: the first --model)",
    )
    add_corruption_options(p)
    p.add_argument("--eps", type=unit_interval, default=DEFAULT_EPS, help="PGD ε in [0, 1] pixel units")
    p.add_argument("--steps", type=steps, default=10, help="PGD steps (default 10)")
    p.add_argument(
        "--heat-map-eps",
        type=float_in(0, cap=MAX_EPS),
        default=4.0,
        help=f"heat-map perturbation L2 norm, in [0, {MAX_EPS:g}] pixel units (default 4, for 32×32)",
    )
    p.add_argument(
        "--mask-epochs",
        type=epochs,
        default=SetMaskConfig().max_epochs,
        help=f"most epochs of the dataset mask (default {SetMaskConfig().max_epochs}, as published)",
    )
    p.add_argument("--force", action="store_true", help="measure again models kept with other settings")
    add_config(
        p, "the profile's settings (ProfileConfig's fields: set_mask, attack, heat_map_eps, ...) from a TOML file"
    )
    add_cluster(p)
    add_device(p)
    return [p]


def add_corruption_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corruptions",
        nargs="+",
        choices=tuple(CORRUPTIONS),
        default=tuple(CORRUPTIONS),
        metavar="NAME",
        help=f"corruptions to measure (default all: {', '.join(CORRUPTIONS)})",
    )
    p.add_argument(
        "--severities",
        nargs="+",
        type=int,
        choices=SEVERITIES,
        default=SEVERITIES,
        metavar="S",
        help="corruption severities, 1–5 (default all)",
    )


def checked_reference(args, models) -> str | None:
    if args.reference is not None and args.reference not in models:
        raise ConfigError(f"--reference {args.reference}: not one of the models ({', '.join(models)})")
    return args.reference


def profile_settings(args) -> ProfileConfig:
    """The profile's settings: the published defaults, then the ``--config`` file's, then the
    options typed. The data are drawn with the settings' seed (``--seed``, or the file's)."""
    base = profile_config(args, ProfileConfig())
    attack = {key: getattr(args, key) for key in ("eps", "steps") if typed(args, key)}
    typed_options = dict(
        set_mask=base.set_mask.replace(max_epochs=args.mask_epochs) if typed(args, "mask_epochs") else None,
        attack=dataclasses.replace(base.attack, **attack) if attack else None,
        heat_map_eps=if_typed(args, "heat_map_eps"),
        corruptions=tuple(dict.fromkeys(args.corruptions)) if typed(args, "corruptions") else None,
        severities=tuple(sorted(set(args.severities))) if typed(args, "severities") else None,
        seed=if_typed(args, "seed"),
    )
    config = dataclasses.replace(base, **{key: value for key, value in typed_options.items() if value is not None})
    args.seed = config.seed
    return config


def run(args) -> int:
    config = profile_settings(args)  # first: a bad --config file is told before any model loads
    _, models, store = named_models_and_run(args)
    reference = checked_reference(args, models)
    result = run_profile(
        store,
        models,
        data_request(args, args.per_class),
        config=config,
        reference=reference,
        cluster=checked_cluster(args),
        on_progress=printer(args),
    )
    if result.cancelled:
        return 130
    print(result.table.to_text())
    print(result.correlations.to_text())
    kept = [n for n in models if n not in result.measured]
    if kept:
        print(f"kept from before (same settings and images): {', '.join(kept)}")
    print(f"tables and figure -> {store.root}")
    return 0
