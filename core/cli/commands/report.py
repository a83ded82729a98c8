"""``fourier-masks evaluate|energy|clusters|report --run RUN``: the tables (and, for
``report``, the figures) of what a run holds."""

from __future__ import annotations

import argparse

from ...errors import ConfigError
from ...models.checkpoints import inspect_checkpoint
from ...runs.classes import fit_classes
from ...study.report import write_report
from ..common import data_request, device, open_store, print_tables, printer, run_image_shape
from ..json_output import absolute, add_json, emit, figure_files, tables, wants_json
from ..options import add_data, add_device, band_count, given

DEFAULT_REFERENCE = "N"  # the vanilla model: compared with when the run has one

# command -> (help, the tables it prints (name prefixes; None: all), whether it draws figures)
REPORTS = {
    "evaluate": ("Tables 1–3 (and seed stability) from a run", ("table", "stability"), False),
    "energy": ("per-band energies, differences and per-image comparisons", ("energy", "exceedance"), False),
    "clusters": ("linear probe and UMAP of single-image masks", ("table3", "umap"), False),
    "report": ("all tables and figures of a run", None, True),
}


def add_parsers(sub) -> list[argparse.ArgumentParser]:
    parsers = []
    for name, (text, _, _) in REPORTS.items():
        p = sub.add_parser(name, help=text)
        p.add_argument("--run", required=True, type=given("a run folder"), help="run folder")
        add_data(p, required=False)
        p.add_argument(
            "--bands",
            type=band_count,
            default=32,
            help="radial and angular bands, at most FOURIER_MASKS_MAX_BANDS (1024) (default 32)",
        )
        p.add_argument(
            "--reference",
            default=None,
            type=given("one of the run's models"),
            help=f"model the others are compared with (default {DEFAULT_REFERENCE})",
        )
        p.add_argument("--force", action="store_true", help="replace tables and figures whose content would change")
        add_device(p)
        add_json(p)
        parsers.append(p)
    return parsers


def run(args) -> int:
    _, which, make_figures = REPORTS[args.command]
    store = open_store(args.run, create=False, overwrite=args.force, write=True)
    reference = checked_reference(args.reference, store.model_names())
    val = None
    if args.data:
        preparation, channels = run_image_shape(args, store)
        val = data_request(args).load(preparation or args.size or 32, channels or args.channels or 1).val
        infos = {name: inspect_checkpoint(store.model_path(name)).info for name in store.model_names()}
        known = {name: info for name, info in infos.items() if info is not None}
        val = fit_classes(val, known) if known else val  # labelled as the run's models' outputs
    result = write_report(
        store,
        val=val,
        bands=args.bands,
        reference=reference,
        seed=args.seed,
        make_figures=make_figures,
        device=device(args),
        on_progress=printer(args),
    )
    shown = [t for name, t in result.tables.items() if which is None or name.startswith(which)]
    print_tables(shown)
    if result.figures:
        print(f"{len(result.figures)} figures -> {store.figures_dir}")
    if result.page is not None:
        print(f"report page -> {result.page}")
    print(f"tables -> {store.root / 'tables'}")
    if wants_json(args):
        document = {
            "run": absolute(store.root),
            "reference": reference,
            "bands": args.bands,
            "tables": tables(shown),
            "figures": figure_files(store.figures_dir, result.figures),
            "files": {"tables": absolute(store.root / "tables"), "figures": absolute(store.root / "figures")},
            "page": None if result.page is None else absolute(result.page),  # report.html (report only)
        }
        emit(args.command, document, cancelled=result.cancelled)
    return 0


def checked_reference(given: str | None, models: list[str]) -> str:
    """The model the others are compared with: ``--reference`` must name one of the run's
    models (a name it does not hold would be compared with nothing, silently); without it,
    the vanilla model N, when the run has one."""
    if given is None:
        return DEFAULT_REFERENCE
    if given not in models:
        held = f"it has {', '.join(models)}" if models else "it holds no models yet"
        raise ConfigError(f"--reference {given}: the run has no such model ({held}); give one of them")
    return given
