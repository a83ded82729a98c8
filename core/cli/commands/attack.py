"""``fourier-masks attack``: PGD's success rate on a model, its images kept with ``--out``."""

from __future__ import annotations

import argparse

from ...attacks.adversarial import AttackConfig, attack_images, attack_success, pixel_eps
from ...errors import ConfigError
from ...runs.adversarial import adversarial_images_in_run
from ...runs.classes import evaluation_request, fit_classes
from ...runs.workflows import keep_model
from ..common import data_request, device, open_store, printer, resolve_model
from ..json_output import absolute, add_json, emit, wants_json
from ..options import (
    DEFAULT_EPS,
    add_data,
    add_device,
    add_model,
    float_in,
    given,
    pixel_step,
    steps,
    unit_interval,
)


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("attack", help="PGD attack: success rate, and adversarial images saved with --out")
    add_model(p)
    add_data(p)
    eps = p.add_mutually_exclusive_group()
    eps.add_argument("--eps", type=unit_interval, default=DEFAULT_EPS, help="ε in [0, 1] pixel units (default 0.01356)")
    eps.add_argument(
        "--eps-normalised",
        type=float_in(0, cap=1000.0),
        default=None,
        help="ε in normalised units (the paper's 0.06); at most 1 in pixel units for the model",
    )
    p.add_argument("--steps", type=steps, default=10)
    p.add_argument("--alpha", type=pixel_step, default=0.0, help="step size in [0, 1] pixel units (default 0 = ε/8)")
    p.add_argument(
        "--out", default=None, type=given("a run folder"), help="run folder to save the adversarial images in"
    )
    p.add_argument(
        "--force", action="store_true", help="replace adversarial images already saved under this model's name"
    )
    add_device(p)
    add_json(p)
    return [p]


def run(args) -> int:
    on = device(args)
    model, name = resolve_model(args, args.out, on)
    info = model.info
    eps = pixel_eps(args.eps_normalised, info.std[0]) if args.eps_normalised is not None else args.eps
    if eps > 1:  # known once the model's normalisation is: before the data is loaded
        raise ConfigError(
            f"--eps-normalised {args.eps_normalised:g} is {eps:.3g} in pixel units for {name} (std {info.std[0]:g}), "
            f"beyond the [0, 1] pixel range; give at most {1 / info.std[0]:.4g}"
        )
    request = evaluation_request(data_request(args), {name: info})
    data = fit_classes(request.validation(info.preparation, info.in_channels), {name: info})
    config = AttackConfig(eps=eps, steps=args.steps, alpha=args.alpha)
    if args.out:
        store = open_store(args.out, overwrite=args.force)
        keep_model(store, name, model, args.model_file)
        adversarial = adversarial_images_in_run(
            store, name, model, data, attack=config, device=on, on_progress=printer(args)
        )
        assert adversarial is not None  # nothing cancels a command but Ctrl-C
    else:
        adversarial = attack_images(
            model, data.images, data.labels, config=config, device=on, on_progress=printer(args)
        )
    result = attack_success(model, data.images, adversarial, data.labels)
    print(f"PGD ε = {eps:.5f} (pixel units, [0, 1]), {config.steps} steps of {config.step_size:.5f}")
    print(
        f"clean accuracy {100 * result.clean_accuracy:.2f} %, adversarial accuracy {100 * result.adversarial_accuracy:.2f} %, "
        f"success rate {100 * result.success_rate:.2f} % of {result.attacked} correctly classified images"
    )
    saved = store.path(f"data/adversarial-{name}.npz") if args.out else None
    if saved is not None:
        print(f"adversarial images -> {saved}")
    if wants_json(args):
        document = {
            "run": absolute(store.root) if args.out else None,
            "model": name,
            "attack": {**config.to_dict(), "step_size": config.step_size},
            "images": len(data),
            "clean_accuracy": result.clean_accuracy,
            "adversarial_accuracy": result.adversarial_accuracy,
            "success_rate": result.success_rate,
            "attacked": result.attacked,
            "files": {"adversarial_images": absolute(saved)},
        }
        emit("attack", document)
    return 0
