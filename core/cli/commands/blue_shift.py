"""``fourier-masks blue-shift``: the paper's Figure 1, a sinusoid through non-linearities."""

from __future__ import annotations

import argparse

from ...beyond.analyses import run_blue_shift
from ..common import open_store
from ..options import float_in, given, int_from

MAX_AMPLITUDE = 100.0  # tanh and the sigmoid saturate long before; exp overflows float64 beyond ~700

MAX_CYCLES = 255  # below the Nyquist limit of run_blue_shift's 512 samples


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    p = sub.add_parser("blue-shift", help="the blue-shift illustration: a sinusoid through non-linearities")
    p.add_argument("--out", required=True, type=given("a run folder"), help="run folder")
    p.add_argument(
        "--cycles",
        type=int_from(1, MAX_CYCLES),
        default=4,
        help=f"periods of the sinusoid in the window, 1 to {MAX_CYCLES}",
    )
    p.add_argument(
        "--amplitude",
        type=float_in(0, open_low=True, cap=MAX_AMPLITUDE),
        default=3.0,
        help=f"amplitude of the sinusoid, in (0, {MAX_AMPLITUDE:g}] (default 3)",
    )
    p.add_argument("--force", action="store_true", help="replace a table or figure whose content would change")
    return [p]


def run(args) -> int:
    store = open_store(args.out, overwrite=args.force)
    shift = run_blue_shift(store, cycles=args.cycles, amplitude=args.amplitude)
    for name in shift.spectra:
        print(f"{name:12s} energy above the fundamental: {100 * shift.harmonic_share(name, args.cycles):5.2f} %")
    print(f"table and figure -> {store.root}")
    return 0
