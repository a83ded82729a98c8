"""``fourier-masks robustness``: accuracy of several models under low- and high-pass noise
and PGD, and their input gradients' high-frequency share (the JaFR evaluation)."""

from __future__ import annotations

import argparse

from ...attacks.adversarial import AttackConfig
from ...beyond.analyses import run_robustness
from ...models.classifier import common_input
from ...runs.workflows import keep_model
from ..common import data_request, device, open_store, printer, resolve_model
from ..json_output import absolute, add_json, emit, tables, wants_json
from ..options import (
    DEFAULT_EPS,
    add_device,
    add_labelled_images,
    add_model_shapes,
    float_in,
    given,
    pixel_std,
    steps,
    unit_interval,
)


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("robustness", help="accuracy under low- and high-pass noise and PGD (the JaFR evaluation)")
    p.add_argument(
        "--models",
        nargs="+",
        required=True,
        type=given("model files or names"),
        help="checkpoint files or model names in --out",
    )
    p.add_argument(
        "--arch",
        default=None,
        type=given("an architecture such as resnet18"),
        help="architecture of plain state_dicts (e.g. resnet18)",
    )
    add_model_shapes(p)
    add_labelled_images(p, per_class=0)
    p.add_argument(
        "--noise-std",
        type=pixel_std,
        default=0.1,
        help="per-pixel std of the band-limited noise, in [0, 10] pixel units (default 0.1)",
    )
    p.add_argument(
        "--cutoff",
        type=float_in(0, 1, open_low=True, open_high=True),
        default=0.5,
        help="low/high-pass boundary as a fraction of Nyquist, in (0, 1)",
    )
    p.add_argument("--eps", type=unit_interval, default=DEFAULT_EPS, help="PGD ε in [0, 1] pixel units")
    p.add_argument("--steps", type=steps, default=10)
    p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
    add_device(p)
    add_json(p)
    return [p]


def run(args) -> int:
    on = device(args)
    models, files = {}, {}
    for reference in args.models:
        args.model = reference
        model, name = resolve_model(args, args.out, on)
        models[name], files[name] = model, args.model_file
    common_input({name: model.info for name, model in models.items()})
    store = open_store(args.out, overwrite=args.force)
    for name, model in models.items():
        keep_model(store, name, model, files[name])
    result = run_robustness(
        store,
        models,
        data_request(args, args.per_class),
        noise_std=args.noise_std,
        cutoff=args.cutoff,
        attack=AttackConfig(eps=args.eps, steps=args.steps),
        on_progress=printer(args),
    )
    if result.cancelled:
        return 130
    print(result.table.to_text())
    if wants_json(args):
        document = {
            "run": absolute(store.root),
            "models": _per_model(result.table),
            "tables": tables([result.table]),
            "files": {"table": absolute(store.path(f"tables/{result.table.name}.json"))},
        }
        emit("robustness", document)
    return 0


# The robustness table's columns (in %) as the fractions in [0, 1] of ``robustness --json``.
_FRACTIONS = {
    "clean": "clean_accuracy",
    "low-pass noise": "low_pass_noise_accuracy",
    "high-pass noise": "high_pass_noise_accuracy",
    "PGD": "pgd_accuracy",
    "gradient energy above half Nyquist": "gradient_high_frequency_share",
}


def _per_model(table) -> dict[str, dict[str, float]]:
    """Each model's row of the robustness table, by name, its percentages as fractions."""
    rows: dict[str, dict[str, float]] = {name: {} for name in table.column("model")}
    for name, value in zip(table.column("model"), table.column("JaFR λ_freq")):
        rows[name]["jafr_lambda"] = value
    for column, key in _FRACTIONS.items():
        for name, value in zip(table.column("model"), table.column(column)):
            rows[name][key] = value / 100
    return rows
