"""``fourier-masks train``: model variants (plain, adversarial, augmented), kept in a run."""

from __future__ import annotations

import argparse

from ...errors import ConfigError
from ...runs.manifest import DataRecord
from ...runs.workflows import train_into_run
from ...training.augment import AUGMENTATIONS
from ...training.train import AUGMENTATION_CODES, TrainConfig
from ..common import data_request, device, open_store, printer
from ..options import add_data, add_device, batch_size, epochs, float_in, given, learning_rate, name_in_run, shown

MAX_JAFR = 10.0  # |λ_freq|: the published value is 0.001


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("train", help="train model variants (none, adversarial, scale, translation, rotation)")
    add_data(p)
    p.add_argument("--out", required=True, type=given("a run folder"), help="run folder to save the models in")
    p.add_argument(
        "--arch",
        default="small_cnn",
        type=given("an architecture such as small_cnn or resnet18"),
        help="small_cnn, vgg11_bn, resnet18 or another torchvision classifier",
    )
    p.add_argument("--augment", nargs="+", default=["none"], choices=AUGMENTATIONS)
    p.add_argument(
        "--name",
        default=None,
        type=name_in_run("a model name"),
        help="model name, with one --augment (default: N, A, S, T or R)",
    )
    p.add_argument("--epochs", type=epochs, default=50)
    p.add_argument("--batch-size", type=batch_size, default=128)
    p.add_argument(
        "--lr",
        type=learning_rate,
        default=1e-3,
        help="maximum learning rate of the one-cycle schedule, in (0, 10] (default 0.001)",
    )
    p.add_argument(
        "--crop-scale",
        type=float_in(0, 1, open_low=True),
        nargs=2,
        default=(0.08, 1.0),
        metavar=("LO", "HI"),
        help="random-crop area range, 0 < LO ≤ HI ≤ 1",
    )
    p.add_argument(
        "--jafr",
        type=jafr_lambda,
        default=0.0,
        metavar="LAMBDA",
        help=f"Jacobian frequency regularisation λ_freq in [-{MAX_JAFR:g}, {MAX_JAFR:g}] (> 0 favours low "
        "frequencies; published 0.001)",
    )
    p.add_argument("--force", action="store_true", help="replace a model of the same name")
    add_device(p)
    return [p]


def jafr_lambda(text: str) -> float:
    """``--jafr``: a finite λ_freq of either sign, at most ``MAX_JAFR`` from 0 (beyond it the
    regulariser swamps the classification loss)."""
    value = float_in()(text)
    if abs(value) > MAX_JAFR:
        raise argparse.ArgumentTypeError(f"must be in [-{MAX_JAFR:g}, {MAX_JAFR:g}], got {shown(text)}")
    return value


def run(args) -> int:
    on = device(args)
    size, channels = args.size or 32, args.channels or 1
    request = data_request(args)
    data = request.load(size, channels)
    store = open_store(args.out, overwrite=args.force)
    for augmentation in args.augment:
        name = args.name if args.name and len(args.augment) == 1 else AUGMENTATION_CODES[augmentation]
        if store.has_model(name) and not args.force:
            raise ConfigError(f"{store.model_path(name)} exists; use another --name or --force to retrain")
        config = TrainConfig(
            arch=args.arch,
            augmentation=augmentation,
            epochs=args.epochs,
            batch_size=args.batch_size,
            max_lr=args.lr,
            crop_scale=tuple(args.crop_scale),
            seed=args.seed,
            jafr_lambda=args.jafr,
        )
        result = train_into_run(
            store,
            name,
            data.train,
            data.val,
            config=config,
            device=on,
            data=DataRecord.of(request, size, channels),
            on_progress=printer(args),
        )
        if result.cancelled:
            return 130
        metrics = result.model.info.metrics
        print(
            f"{name}: best epoch {metrics['best_epoch']}, validation accuracy {100 * metrics['val_accuracy']:.2f} % "
            f"-> {store.model_path(name)}"
        )
    return 0
