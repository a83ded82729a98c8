"""The analyses beyond the main paper, run into a results store (tables, figures, arrays), so
the CLI and the app produce the same files: adversarial frequency maps, Fourier heat maps,
robustness to band-limited noise (the JaFR evaluation) and the blue-shift illustration.

Each takes its labelled images as an :class:`ImageSet`, or as a :class:`DataRequest` that it
loads at the model's size and channels (so a job loads its data where it runs, off the GUI
thread), and returns the engine's result; a cancelled one (``result.cancelled``) saves
nothing, so the store never holds an incomplete table, array or figure."""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import figures
from ..attacks.adversarial import AttackConfig
from ..data.datasets import DataRequest
from ..data.images import ImageSet
from ..models.classifier import Classifier, common_input
from ..progress import CancelToken, ProgressCallback
from ..runs.classes import evaluation_request, fit_classes
from ..runs.store import ResultsStore
from ..spectra.fourier import centred
from ..tables import Table
from .advmaps import AdversarialMapsConfig, AdversarialMapsResult, adversarial_maps
from .blueshift import BlueShift, blue_shift
from .corruptions import CORRUPTIONS, SEVERITIES, CorruptionResult, corruption_accuracy
from .profile import ProfileConfig, ProfileResult, profile_models
from .robustness import HeatMapResult, RobustnessResult, fourier_heat_map, measure_robustness
from .sensitivity import LayerSpectraResult, SensitivityResult, fourier_sensitivity, layer_spectra
from .sweeps import DEFAULT_RADII, CutoffSweepResult, cutoff_sweep


def _labelled(models: dict[str, Classifier], data: ImageSet | DataRequest) -> ImageSet:
    """The images ``data`` names, at the models' input (which all models must share), with
    classes the models know."""
    infos = {name: model.info for name, model in models.items()}
    preparation, channels = common_input(infos)
    images = (
        evaluation_request(data, infos).validation(preparation, channels) if isinstance(data, DataRequest) else data
    )
    return fit_classes(images, infos)


def _figure(store: ResultsStore, fig, name: str) -> None:
    figures.save_figure(fig, store.figures_dir, name, write=store.write_derived)


def run_adversarial_maps(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    data: ImageSet | DataRequest,
    *,
    config: AdversarialMapsConfig = AdversarialMapsConfig(),
    device=None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    cluster: str | None = None,
) -> AdversarialMapsResult:
    result = adversarial_maps(
        store,
        model_name,
        model,
        _labelled({model_name: model}, data),
        config=config,
        device=device,
        on_progress=on_progress,
        cancel=cancel,
        cluster=cluster,
    )
    if result.cancelled:
        return result
    store.save_table(result.table())
    for attack, comparison in result.comparisons.items():
        if not comparison.ids:
            continue
        store.save_table(result.pair_table(attack, model.info.labels()))
        store.save_arrays(
            f"adversarial-maps-{model_name}-{attack}",
            ids=np.array(comparison.ids, dtype=str),
            cosine=comparison.cosine,
            mean_difference=comparison.mean_difference,
        )
        _figure(
            store,
            figures.adversarial_maps_figure(comparison, class_names=model.info.labels()),
            f"adversarial-maps-{model_name}-{attack}",
        )
    return result


def heat_map_table(
    heat: np.ndarray, name: str, eps: float, top5: np.ndarray | None = None, *, signs: str = "channel", stride: int = 1
) -> Table:
    """One row per measured frequency (centred ``k``; NaN cells of a strided map are left
    out, not filled in), its top-1 error and, when the model has more than 5 classes, its
    top-5 error."""
    columns = [("k_y", "cycles/image"), ("k_x", "cycles/image"), ("top-1 error rate", "%")]
    if top5 is not None:
        columns.append(("top-5 error rate", "%"))
    notes = (
        f"Error rate under ±{eps:g}·U(k_y, k_x) (unit-L2 real Fourier basis, pixel units, "
        + ("one random sign per channel, as Yin et al." if signs == "channel" else "one random sign per image")
        + "); k = 0 is the zero frequency."
    )
    if stride > 1:
        notes += f" Only frequencies whose k_y and k_x are multiples of {stride} were measured."
    if top5 is None:
        notes += " No top-5 error: the model has 5 classes or fewer, so its label is always among its top 5."
    table = Table.build(f"heat-map-{name}", f"Fourier heat map of model {name}", columns, notes=notes)
    h, w = heat.shape
    shifted = centred(heat)
    shifted_top5 = centred(top5) if top5 is not None else None
    for row in range(h):
        for col in range(w):
            if np.isnan(shifted[row, col]):
                continue
            cells = [h // 2 - row, col - w // 2, 100 * float(shifted[row, col])]
            if shifted_top5 is not None:
                cells.append(100 * float(shifted_top5[row, col]))
            table.add_row(*cells)
    return table


def run_heat_map(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    data: ImageSet | DataRequest,
    *,
    eps: float = 4.0,
    signs: str = "channel",
    stride: int = 1,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> HeatMapResult:
    """:func:`fourier_heat_map` of ``data``, saved as arrays ``heat-map-<name>`` (``heat``: the
    top-1 map, ``heat_top5`` when the model has more than 5 classes, ``evaluated``, ``eps``,
    ``stride``, ``signs``), a table and a figure of the same name."""
    images = _labelled({model_name: model}, data)
    result = fourier_heat_map(
        model,
        images.images,
        images.labels,
        eps=eps,
        signs=signs,
        stride=stride,
        seed=seed,
        on_progress=on_progress,
        cancel=cancel,
    )
    if result.cancelled:
        return result
    top5 = {} if result.errors_top5 is None else {"heat_top5": result.errors_top5}
    store.save_arrays(
        f"heat-map-{model_name}",
        heat=result.errors,
        evaluated=result.evaluated,
        eps=np.float64(eps),
        stride=np.int64(result.stride),
        signs=np.str_(signs),
        **top5,
    )
    store.save_table(
        heat_map_table(result.errors, model_name, eps, result.errors_top5, signs=signs, stride=result.stride)
    )
    _figure(
        store,
        figures.heat_map_figure(
            result.errors, f"Fourier heat map ({model_name})", eps, top5=result.errors_top5, stride=result.stride
        ),
        f"heat-map-{model_name}",
    )
    return result


def run_robustness(
    store: ResultsStore,
    models: dict[str, Classifier],
    data: ImageSet | DataRequest,
    *,
    noise_std: float = 0.1,
    cutoff: float = 0.5,
    attack: AttackConfig = AttackConfig(),
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RobustnessResult:
    images = _labelled(models, data)
    result = measure_robustness(
        models,
        images.images,
        images.labels,
        noise_std=noise_std,
        cutoff=cutoff,
        attack=attack,
        on_progress=on_progress,
        cancel=cancel,
    )
    if not result.cancelled:
        store.save_table(result.table)
    return result


def run_blue_shift(store: ResultsStore, *, cycles: int = 4, amplitude: float = 3.0, samples: int = 512) -> BlueShift:
    shift = blue_shift(cycles=cycles, samples=samples, amplitude=amplitude)
    store.save_table(shift.table(cycles))
    _figure(store, figures.blue_shift_figure(shift, cycles), "blue-shift")
    return shift


def run_profile(
    store: ResultsStore,
    models: dict[str, Classifier],
    data: ImageSet | DataRequest,
    *,
    config: ProfileConfig = ProfileConfig(),
    reference: str | None = None,
    cluster: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ProfileResult:
    """The zoo profile (:func:`.profile.profile_models`) on the labelled images ``data`` names,
    at the models' shared input and in their classes."""
    return profile_models(
        store,
        models,
        _labelled(models, data),
        config=config,
        reference=reference,
        cluster=cluster,
        on_progress=on_progress,
        cancel=cancel,
    )


def run_corruptions(
    store: ResultsStore,
    models: dict[str, Classifier],
    data: ImageSet | DataRequest,
    *,
    corruptions: tuple[str, ...] = tuple(CORRUPTIONS),
    severities: tuple[int, ...] = SEVERITIES,
    reference: str | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CorruptionResult:
    """Accuracy of each model under the common corruptions (:func:`.corruptions.corruption_accuracy`):
    tables ``corruptions``, ``corruption-errors``, ``corruption-summary`` and
    ``corruption-spectra``, figure ``corruptions``."""
    images = _labelled(models, data)
    result = corruption_accuracy(
        models,
        images.images,
        images.labels,
        corruptions=corruptions,
        severities=severities,
        reference=reference,
        seed=seed,
        on_progress=on_progress,
        cancel=cancel,
    )
    if result.cancelled:
        return result
    for table in (result.table, result.errors, result.summary, result.spectra):
        store.save_table(table)
    _figure(store, figures.corruptions_figure(result), "corruptions")
    return result


def run_cutoff_sweep(
    store: ResultsStore,
    models: dict[str, Classifier],
    data: ImageSet | DataRequest,
    *,
    radii: tuple[float, ...] = DEFAULT_RADII,
    eps: tuple[float, ...] = (0.0,),
    attack: AttackConfig = AttackConfig(),
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, CutoffSweepResult]:
    """Each model's cutoff sweep (:func:`.sweeps.cutoff_sweep`): per model the arrays and
    tables ``cutoff-sweep-<model>`` and ``cutoff-halving-<model>``, and the figure
    ``cutoff-sweep`` with every model's curves. A cancel saves nothing; the result then holds
    the models finished and the one cancelled (marked so)."""
    images = _labelled(models, data)
    sweeps: dict[str, CutoffSweepResult] = {}
    for name, model in models.items():
        sweep = cutoff_sweep(
            model,
            images.images,
            images.labels,
            radii=radii,
            eps=eps,
            attack=attack,
            on_progress=on_progress,
            cancel=cancel,
        )
        sweeps[name] = sweep
        if sweep.cancelled:
            return sweeps
    for name, sweep in sweeps.items():
        store.save_arrays(
            f"cutoff-sweep-{name}",
            radii=np.array(sweep.radii),
            eps=np.array(sweep.eps),
            unfiltered=sweep.unfiltered,
            low=sweep.accuracy["low"],
            high=sweep.accuracy["high"],
            halving_low=sweep.halving["low"],
            halving_high=sweep.halving["high"],
        )
        store.save_table(_renamed(sweep.table, f"cutoff-sweep-{name}", name))
        store.save_table(_renamed(sweep.halving_table, f"cutoff-halving-{name}", name))
    _figure(store, figures.cutoff_sweep_figure(sweeps), "cutoff-sweep")
    return sweeps


def run_sensitivity(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    data: ImageSet | DataRequest,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SensitivityResult:
    """The Fourier sensitivity of ``model``'s input gradients (:func:`.sensitivity.fourier_sensitivity`):
    arrays, table and figure ``sensitivity-<model>``."""
    images = _labelled({model_name: model}, data)
    result = fourier_sensitivity(model, images.images, images.labels, on_progress=on_progress, cancel=cancel)
    if result.cancelled:
        return result
    store.save_arrays(
        f"sensitivity-{model_name}",
        mean=result.mean,
        std=result.std,
        profile=result.profile,
        profile_std=result.profile_std,
        edges=result.edges,
        high_frequency_share=np.float64(result.high_frequency_share),
        cutoff=np.float64(result.cutoff),
    )
    name = f"sensitivity-{model_name}"
    store.save_table(_renamed(result.table, name, model_name))
    _figure(store, figures.sensitivity_figure(result, f"Input-gradient spectrum ({model_name})"), name)
    return result


def run_layer_spectra(
    store: ResultsStore,
    model_name: str,
    model: Classifier,
    data: ImageSet | DataRequest,
    *,
    layers: list[str] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LayerSpectraResult:
    """The relative log amplitude of each stage's feature maps (:func:`.sensitivity.layer_spectra`):
    arrays (``stages``, ``radii`` and ``profiles`` per stage, NaN-padded where a smaller feature
    map has fewer radii, ``delta``), table and figure ``layer-spectra-<model>``."""
    images = _labelled({model_name: model}, data)
    result = layer_spectra(model, images.images, layers=layers, on_progress=on_progress, cancel=cancel)
    if result.cancelled:
        return result
    name = f"layer-spectra-{model_name}"
    store.save_arrays(
        name,
        stages=np.array([stage.name for stage in result.stages], dtype=str),
        radii=_padded([stage.radii for stage in result.stages]),
        profiles=_padded([stage.profile for stage in result.stages]),
        delta=np.array([stage.delta for stage in result.stages], dtype=np.float64),
    )
    store.save_table(_renamed(result.table, name, model_name))
    _figure(store, figures.layer_spectra_figure(result, f"Feature-map spectra ({model_name})"), name)
    return result


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of different lengths as one array, NaN after each row's end."""
    out = np.full((len(rows), max((len(r) for r in rows), default=0)), np.nan)
    for k, row in enumerate(rows):
        out[k, : len(row)] = row
    return out


def _renamed(table: Table, name: str, model: str) -> Table:
    """``table`` saved under ``name``, its title naming ``model``."""
    return dataclasses.replace(table, name=name, title=f"{table.title} ({model})")
