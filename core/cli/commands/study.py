"""``fourier-masks study`` and ``fourier-masks demo``: the paper's whole study, on the user's
data or on the built-in data, resumable."""

from __future__ import annotations

import argparse
import sys

from ...errors import ConfigError
from ...progress import format_duration
from ...study.config import MODEL_CODES, STUDY_PRESETS, StudyConfig, given_models, study_config
from ...study.config_file import read_study_file
from ...study.pipeline import run_study
from ..checks import checked_cluster
from ..common import device, open_store, printer
from ..config_files import add_config, if_typed
from ..json_output import absolute, add_json, emit, figure_files, tables, wants_json
from ..options import (
    add_cluster,
    add_device,
    builtin_per_class,
    epochs,
    given,
    image_size,
    images_per_class,
    seed,
    shown,
)


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    demo = sub.add_parser("demo", help="run the whole study on the built-in dataset")
    demo.add_argument(
        "--out",
        required=True,
        type=given("a run folder"),
        help="output folder (reused to resume an interrupted run)",
    )
    demo.add_argument(
        "--quick", action="store_true", help="the quick preset (a few minutes on a CPU) instead of the standard one"
    )
    demo.add_argument("--seed", type=seed, default=0)
    add_device(demo)
    add_cluster(demo)
    add_json(demo)

    p = sub.add_parser(
        "study",
        help="the paper's whole study on your data: train the variants, learn every mask, write Tables 1-3, "
        "findings and figures (resumable)",
    )
    p.add_argument(
        "--data",
        default=None,
        type=given("builtin, torchvision:<Name> or an image folder"),
        help="an ImageFolder path (train/ and val/ or test/ inside), torchvision:<Name>, or builtin[:planted] "
        "(required unless --config gives the dataset)",
    )
    p.add_argument(
        "--out",
        required=True,
        type=given("a run folder"),
        help="run folder (reused to resume an interrupted study)",
    )
    add_config(
        p,
        "the study's settings from a TOML file (StudyConfig's fields, optionally preset = ...), or a run's "
        "run.json (or its folder) to make that study again",
    )
    p.add_argument(
        "--preset",
        choices=STUDY_PRESETS,
        default="standard",
        help="standard (default): sized for a CPU, not the published settings: 32 px, small CNN, 20 epochs at "
        "max lr 3e-3, single-image masks capped at 6 000 steps for 30 images per class; quick: a few minutes "
        "on a CPU; paper: the published settings (128 px grayscale VGG11-bn, 50 epochs at max lr 1e-3, "
        "every validation image)",
    )
    p.add_argument(
        "--arch",
        default=None,
        type=given("an architecture such as small_cnn or resnet18"),
        help="small_cnn, vgg11_bn, resnet18 or another torchvision classifier",
    )
    p.add_argument("--size", type=image_size, default=None, help="image size in pixels (default: the preset's)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None, help="1 = grayscale, 3 = RGB")
    p.add_argument(
        "--models",
        nargs="+",
        choices=tuple(MODEL_CODES),
        default=None,
        help="which variants to train and compare (N is always needed; default: N A S T R)",
    )
    p.add_argument(
        "--model",
        dest="given",
        action="append",
        type=code_and_model,
        default=None,
        metavar="CODE=MODEL",
        help="study these models instead of training them: a code (N = vanilla, A = adversarial, S, T, R) and a "
        "model file, folder or name, e.g. --model N=torchvision:resnet50 --model "
        "A=robustbench:imagenet/Linf/Salman2020Do_R50 (N is needed; the images are prepared as the models take them)",
    )
    p.add_argument("--epochs", type=epochs, default=None, help="training epochs (default: the preset's)")
    add_cluster(p)
    p.add_argument(
        "--per-class",
        type=images_per_class,
        default=None,
        help="validation images per class that get single-image masks (0 = all; default: the preset's)",
    )
    p.add_argument(
        "--train-per-class", type=builtin_per_class, default=None, help="built-in data: training images per class"
    )
    p.add_argument(
        "--val-per-class", type=builtin_per_class, default=None, help="built-in data: validation images per class"
    )
    p.add_argument("--seed", type=seed, default=0)
    add_device(p)
    add_json(p)
    return [demo, p]


def code_and_model(text: str) -> tuple[str, str]:
    """``CODE=MODEL`` of ``study --model``."""
    code, equals, model = text.partition("=")
    if not equals or not code.strip() or not model.strip():
        raise argparse.ArgumentTypeError(f"expected CODE=MODEL (e.g. N=timm:resnet50.a1_in1k), got {shown(text)!r}")
    return code.strip().upper(), given("a model file, folder or name after CODE=")(model.strip())


# What training options become when the models are given.
_TRAINING_ONLY = {
    "models": "--models",
    "arch": "--arch",
    "epochs": "--epochs",
    "size": "--size",
    "channels": "--channels",
}


def study_settings(args) -> StudyConfig:
    """The study's settings: the preset (or the ``--config`` file's settings), then whatever the
    user typed on the command line."""
    if args.command == "demo":
        return StudyConfig.quick(seed=args.seed) if args.quick else StudyConfig.standard(seed=args.seed)
    base: str | StudyConfig = args.preset
    data = args.data
    if getattr(args, "config", None) is not None:
        file = read_study_file(args.config, preset=if_typed(args, "preset"))
        for note in file.notes:
            print(note, file=sys.stderr)
        base = file.config
        if data is None and "dataset" in file.keys:
            data = file.config.dataset
    if data is None:
        raise ConfigError(
            "the study needs data: give --data (builtin, torchvision:<Name> or an image folder), or a --config "
            "file that sets dataset"
        )
    if not (data == "builtin" or data.startswith("builtin:")) and (args.train_per_class or args.val_per_class):
        raise ConfigError(
            "--train-per-class and --val-per-class apply to the built-in data; folders use all their images"
        )
    common = dict(
        dataset=data,
        seed=if_typed(args, "seed"),
        images_per_class=args.per_class,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
    )
    if args.given or (isinstance(base, StudyConfig) and base.given_models):
        given_by = "--model" if args.given else f"{args.config} (given_models)"
        for key, option in _TRAINING_ONLY.items():
            if getattr(args, key) is not None:
                raise ConfigError(
                    f"{option} applies to models the study trains; with {given_by} the models are given "
                    "(their architecture, image size and channels are their own): leave it out"
                )
        return study_config(base, **common, **(given_models(args.given) if args.given else {}))
    return study_config(
        base,
        epochs=args.epochs,
        image_size=args.size,
        channels=args.channels,
        arch=args.arch,
        augmentations=tuple(MODEL_CODES[code] for code in dict.fromkeys(args.models)) if args.models else None,
        **common,
    )


def run(args) -> int:
    config = study_settings(args)
    label = (
        f"demo ({'quick' if args.quick else 'standard'})" if args.command == "demo" else f"study of {config.dataset}"
    )
    store = open_store(args.out)
    print(f"Fourier Masks {label} -> {store.root}", file=sys.stderr)
    result = run_study(config, store, device=device(args), on_progress=printer(args), cluster=checked_cluster(args))
    for name in ("findings", "table1", "table2", "controls", "table3"):
        if name in result.tables:
            print(result.tables[name].to_text())
            print()
    print(
        f"Finished in {format_duration(result.seconds, compact=True)}. "
        f"Tables: {store.root / 'tables'}  Figures: {store.root / 'figures'}"
    )
    if wants_json(args):
        document = {
            "run": absolute(store.root),
            "label": label,
            "config": config.to_dict(),
            "study_seconds": result.seconds,
            "tables": tables(result.tables.values()),
            "figures": figure_files(store.root / "figures", result.figures),
            "files": {"tables": absolute(store.root / "tables"), "figures": absolute(store.root / "figures")},
        }
        emit(args.command, document, cancelled=result.cancelled)
    return 130 if result.cancelled else 0
