"""One module per command: ``add_parsers(subparsers)`` declares its options (returning the
parsers it made) and ``run(args)`` does the work and returns the exit status. The order here
is the order of ``fourier-masks --help``."""

from . import (
    adversarial_maps,
    app,
    attack,
    blue_shift,
    corruptions,
    cutoff_sweep,
    export_masks,
    heat_map,
    info,
    masks,
    profile,
    report,
    robustness,
    sensitivity,
    study,
    train,
)

COMMANDS = (
    app,
    study,
    train,
    attack,
    masks,
    report,
    adversarial_maps,
    heat_map,
    robustness,
    corruptions,
    cutoff_sweep,
    sensitivity,
    profile,
    blue_shift,
    info,
    export_masks,
)

__all__ = ["COMMANDS"]
