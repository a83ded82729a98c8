"""Publication figures (PNG, SVG, PDF), rendered headless with matplotlib.

Why matplotlib and not pyqtgraph's exporters: these figures go into papers, so they need
vector SVG/PDF with real text, exact sizes and colour bars, and they must render on a server
with no display and no Qt libraries. matplotlib's object API (``Figure`` without ``pyplot``)
does this with no GUI backend at all. The app draws interactive views with pyqtgraph and
exports them through these same functions, so a figure looks the same wherever it is made.

Every function takes plain numpy arrays (masks in the stored unshifted layout) and returns a
``matplotlib.figure.Figure``; :func:`save_figure` writes it in each format atomically.

Text given to these functions (titles, panel names, class names, image ids, captions) comes
from users and is shown literally: each piece goes through :func:`literal`, so a class named
``$x^2$`` or ``\\alpha`` is printed as typed instead of being parsed as mathtext (or failing to
parse), while this module's own axis labels still use mathtext.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import OutputError
from .files import atomic_write_bytes
from .spectra.energy import Partition, angular_partition, radial_partition
from .spectra.fourier import centred, log_spectrum

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "FIGURE_FORMATS",
    "MASK_CMAP",
    "DIFF_CMAP",
    "save_figure",
    "figure_bytes",
    "masks_figure",
    "differences_figure",
    "partitions_figure",
    "energy_figure",
    "exceedance_figure",
    "filtered_examples_figure",
    "embedding_figure",
    "curves_figure",
    "convergence_figure",
    "heat_map_figure",
    "blue_shift_figure",
    "adversarial_maps_figure",
    "profile_figure",
    "cutoff_sweep_figure",
    "sensitivity_figure",
    "layer_spectra_figure",
    "corruptions_figure",
    "write_figure",
    "literal",
]

FIGURE_FORMATS = ("png", "svg", "pdf")
MASK_CMAP = "magma"  # perceptually uniform, dark = frequency removed
DIFF_CMAP = "RdBu_r"  # diverging, white = no difference
_STYLE: dict[RcKeyType, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "text.usetex": False,  # a user's matplotlibrc may turn on LaTeX, which would parse every text
    "svg.hashsalt": "fourier-masks",  # stable element ids: the same figure gives the same file
    "pdf.fonttype": 42,
    "figure.dpi": 100,
}


def literal(text: object) -> str:
    """``text`` as matplotlib shows it character for character.

    Why escape rather than pass ``parse_math=False``: legend entries (made from ``label=``)
    take no such argument, and the global ``text.parse_math`` setting would also turn off the
    mathtext of matplotlib's own tick labels (log axes) and of this module's ``$k_x$``. A
    ``$`` becomes ``\\$``, which matplotlib prints as ``$`` and never counts towards a math
    span; backslashes outside math are printed as they are. Control characters (an escape
    code in a class name) are shown as ``\\xNN`` instead of going into the SVG, where XML
    forbids most of them; newlines and tabs stay."""
    return "".join(
        f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc" and ch not in "\n\t" else ch for ch in str(text)
    ).replace("$", r"\$")


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_bytes(fig, fmt: str, dpi: int = 300) -> bytes:
    """``fig`` encoded as PNG, SVG or PDF (fixed metadata, so the same figure gives the same bytes)."""
    if fmt not in FIGURE_FORMATS:
        raise OutputError(f"figures are saved as {', '.join(FIGURE_FORMATS)}, not {fmt!r}; choose one of those")
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format=fmt, dpi=dpi if fmt == "png" else None, metadata=_metadata(fmt))
    return buffer.getvalue()


def save_figure(
    fig, folder: str | Path, name: str, formats: Sequence[str] = FIGURE_FORMATS, dpi: int = 300, write=None
) -> list[Path]:
    """Write ``fig`` as ``folder/name.<format>`` for each format; returns the paths.
    ``write(path, data)`` replaces the plain atomic write (a results store passes its own)."""
    write = write or atomic_write_bytes
    return [write(Path(folder) / f"{name}.{fmt}", figure_bytes(fig, fmt, dpi)) for fmt in formats]


def write_figure(fig, path: str | Path, dpi: int = 300) -> Path:
    """Write ``fig`` to one file; the format comes from the suffix (.png, .svg or .pdf)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    return save_figure(fig, path.parent, path.stem, formats=(fmt,), dpi=dpi)[0]


def _metadata(fmt: str) -> dict[str, str | None]:
    # Fixed metadata keeps vector outputs byte-identical across runs.
    if fmt == "svg":
        return {"Date": None, "Creator": "Fourier Masks"}
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "Fourier Masks"}
    return {"Software": "Fourier Masks"}


def _mask_image(mask: np.ndarray) -> np.ndarray:
    """A stored mask ``(Cm, H, W)`` or ``(H, W)`` as one centred ``(H, W)`` picture."""
    mask = np.asarray(mask, dtype=np.float64)
    if mask.ndim == 3:
        mask = mask.mean(axis=0)
    return centred(mask)


def _frequency_extent(shape: tuple[int, int]) -> list[float]:
    h, w = shape
    return [-(w // 2) - 0.5, w - w // 2 - 0.5, -(h - h // 2) + 0.5, h // 2 + 0.5]


def _show(ax, image: np.ndarray, *, cmap: str, vmin: float, vmax: float, title: str = "", frequency_axes: bool = False):
    extent = _frequency_extent(image.shape) if frequency_axes else None
    artist = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", extent=extent)
    ax.set_title(literal(title))
    if frequency_axes:
        ax.set_xlabel("$k_x$ (cycles/image)")
        ax.set_ylabel("$k_y$")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return artist


def masks_figure(masks: Mapping[str, np.ndarray], title: str = "", columns: int | None = None):
    """A row (or grid) of centred masks on a common [0, 1] colour scale."""
    names = list(masks)
    columns = columns or len(names)
    rows = -(-len(names) // columns)
    with _style():
        fig = _figure(1.45 * columns + 0.6, 1.5 * rows + 0.3)
        axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
        artist = None
        for ax, name in zip(axes, names):
            artist = _show(ax, _mask_image(masks[name]), cmap=MASK_CMAP, vmin=0, vmax=1, title=name)
        for ax in axes[len(names) :]:
            ax.set_axis_off()
        fig.colorbar(artist, ax=axes.tolist(), shrink=0.8, label="mask value")
        if title:
            fig.suptitle(literal(title))
    return fig


def differences_figure(differences: Mapping[str, np.ndarray], title: str = ""):
    """Centred mask differences (already scaled to [−0.5, 0.5], see ``centred_difference``)."""
    names = list(differences)
    with _style():
        fig = _figure(1.45 * len(names) + 0.6, 1.8)
        axes = np.atleast_1d(fig.subplots(1, len(names), squeeze=False)).ravel()
        artist = None
        for ax, name in zip(axes, names):
            artist = _show(ax, np.asarray(differences[name]), cmap=DIFF_CMAP, vmin=-0.5, vmax=0.5, title=name)
        fig.colorbar(artist, ax=axes.tolist(), shrink=0.8, label="scaled difference")
        if title:
            fig.suptitle(literal(title))
    return fig


def _partition_image(partition: Partition) -> np.ndarray:
    return (partition.labels % 2) * 0.6 + (partition.labels / max(partition.count - 1, 1)) * 0.4


def partitions_figure(shape: tuple[int, int], n: int = 32, mask: np.ndarray | None = None):
    """The radial and angular partitions (alternating shades), over a mask when given."""
    with _style():
        fig = _figure(4.0, 2.0)
        axes = fig.subplots(1, 2)
        for ax, partition, name in zip(
            axes, (radial_partition(shape, n), angular_partition(shape, n)), ("radial", "angular")
        ):
            if mask is not None:
                ax.imshow(
                    _mask_image(mask),
                    cmap="gray",
                    vmin=0,
                    vmax=1,
                    interpolation="nearest",
                    extent=_frequency_extent(shape),
                )
                ax.imshow(
                    _partition_image(partition),
                    cmap="tab20c",
                    alpha=0.35,
                    interpolation="nearest",
                    extent=_frequency_extent(shape),
                )
            else:
                ax.imshow(
                    _partition_image(partition), cmap="Greys", interpolation="nearest", extent=_frequency_extent(shape)
                )
            ax.set_title(f"{name} partition ({n} bands)")
            ax.set_xlabel("$k_x$ (cycles/image)")
            ax.set_ylabel("$k_y$")
    return fig


def energy_figure(
    radial: Mapping[str, np.ndarray],
    angular: Mapping[str, np.ndarray],
    radial_edges: np.ndarray,
    title: str = "",
    ylabel: str = "energy difference",
):
    """Per-band energy (or energy differences) of several masks: radial bars over frequency,
    angular bars over direction."""
    names = list(radial)
    with _style():
        fig = _figure(6.5, 1.55 * len(names) + 0.4)
        axes = fig.subplots(len(names), 2, squeeze=False)
        centres = 0.5 * (radial_edges[:-1] + radial_edges[1:])
        width = np.diff(radial_edges)
        for row, name in enumerate(names):
            r = np.asarray(radial[name])
            a = np.asarray(angular[name])
            ax = axes[row, 0]
            ax.bar(centres, r, width=width * 0.9, color=np.where(r >= 0, "#b2182b", "#2166ac"))
            ax.axhline(0, color="0.3", lw=0.5)
            ax.set_ylabel(literal(name))
            ax.set_xlabel("radial frequency (cycles/image)" if row == len(names) - 1 else "")
            angles = np.linspace(0, 360, len(a) + 1)
            ax = axes[row, 1]
            ax.bar(
                0.5 * (angles[:-1] + angles[1:]),
                a,
                width=np.diff(angles) * 0.9,
                color=np.where(a >= 0, "#b2182b", "#2166ac"),
            )
            ax.axhline(0, color="0.3", lw=0.5)
            ax.set_xticks([0, 90, 180, 270, 360])
            ax.set_xlabel("direction (degrees)" if row == len(names) - 1 else "")
        axes[0, 0].set_title(literal(f"radial {ylabel}"))
        axes[0, 1].set_title(literal(f"angular {ylabel}"))
        if title:
            fig.suptitle(literal(title))
    return fig


def exceedance_figure(radial_pct: np.ndarray, angular_pct: np.ndarray, radial_edges: np.ndarray, title: str = ""):
    """The paper's Figure 7: percentage of images whose band energy under model 2 exceeds model 1."""
    with _style():
        fig = _figure(6.0, 2.0)
        axes = fig.subplots(1, 2)
        centres = 0.5 * (radial_edges[:-1] + radial_edges[1:])
        axes[0].bar(centres, radial_pct, width=np.diff(radial_edges) * 0.9, color="#4d4d4d")
        axes[0].set_xlabel("radial frequency (cycles/image)")
        angles = np.linspace(0, 360, len(angular_pct) + 1)
        axes[1].bar(0.5 * (angles[:-1] + angles[1:]), angular_pct, width=np.diff(angles) * 0.9, color="#4d4d4d")
        axes[1].set_xlabel("direction (degrees)")
        axes[1].set_xticks([0, 90, 180, 270, 360])
        for ax, name in zip(axes, ("radial", "angular")):
            ax.axhline(50, color="0.5", lw=0.5, ls="--")
            ax.set_ylim(0, 100)
            ax.set_ylabel("% of images")
            ax.set_title(f"{name} bands")
        if title:
            fig.suptitle(literal(title))
    return fig


def filtered_examples_figure(
    rows: Sequence[Mapping[str, np.ndarray]],
    row_labels: Sequence[str] = (),
    mask_columns: Sequence[str] = ("M", "M_A", "Mc"),
    captions: Sequence[Mapping[str, str]] = (),
):
    """Rows of images and what the mask does to them.

    Each row maps a column title to an array: images ``(C, H, W)`` in [0, 1] (clipped for
    display); masks in the stored layout for the titles in ``mask_columns`` (shown centred);
    for titles starting with ``log``, an image whose log magnitude spectrum is shown.
    Typical columns: ``x``, ``log |F(x)|``, ``M``, ``M(x)``, ``Mᶜ(x)``, ``x_A``, ``M(x_A)``.
    ``captions``, per row, map column titles to a line under that panel: the model's
    prediction on it, as the app shows.
    """
    columns = list(rows[0])
    with _style():
        fig = _figure(1.15 * len(columns) + 0.3, (1.35 if captions else 1.2) * len(rows) + 0.4)
        axes = fig.subplots(len(rows), len(columns), squeeze=False)
        for r, row in enumerate(rows):
            for c, column in enumerate(columns):
                ax = axes[r, c]
                value = np.asarray(row[column])
                if column in mask_columns:
                    _show(ax, _mask_image(value), cmap=MASK_CMAP, vmin=0, vmax=1)
                elif column.startswith("log"):
                    spectrum = log_spectrum(value[None])[0]
                    _show(ax, spectrum, cmap="viridis", vmin=float(spectrum.min()), vmax=float(spectrum.max()))
                else:
                    image = np.clip(value, 0, 1)
                    image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
                    _show(ax, image, cmap="gray", vmin=0, vmax=1)
                if r == 0:
                    ax.set_title(literal(column))
                if r < len(captions) and column in captions[r]:
                    ax.set_xlabel(literal(captions[r][column]), fontsize=6.5)
            if r < len(row_labels):
                axes[r, 0].set_ylabel(literal(row_labels[r]), rotation=0, ha="right", va="center")
    return fig


def embedding_figure(coords: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str = ""):
    """A 2-D embedding (UMAP) coloured by class."""
    with _style():
        fig = _figure(3.4, 3.0)
        ax = fig.subplots()
        cmap = _class_colours(len(class_names))
        handles, names = [], []
        for k, name in enumerate(class_names):
            rows = labels == k
            if rows.any():
                handles.append(ax.scatter(coords[rows, 0], coords[rows, 1], s=6, color=cmap[k], linewidths=0))
                names.append(literal(name))
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        # Labels given explicitly: from ``label=``, a class named "_x" would be left out, as
        # matplotlib hides artists whose label starts with an underscore.
        ax.legend(handles, names, markerscale=2, frameon=False, loc="best")
        if title:
            ax.set_title(literal(title))
    return fig


def _class_colours(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(k % cmap.N) for k in range(n)]


def curves_figure(curves: Mapping[str, Sequence[float]], xlabel: str = "epoch", title: str = ""):
    """Convergence curves, one panel per quantity (e.g. invariance, kept fraction, accuracy)."""
    names = list(curves)
    with _style():
        fig = _figure(2.0 * len(names), 1.8)
        axes = np.atleast_1d(fig.subplots(1, len(names), squeeze=False)).ravel()
        for ax, name in zip(axes, names):
            values = np.asarray(curves[name], dtype=float)
            ax.plot(np.arange(1, len(values) + 1), values, color="#2166ac", lw=1)
            ax.set_title(literal(name))
            ax.set_xlabel(literal(xlabel))
        if title:
            fig.suptitle(literal(title))
    return fig


def convergence_figure(
    mask: np.ndarray | None,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str = "step",
    title: str = "",
):
    """A mask (stored layout) next to its convergence curves, each given as ``(x, y)``."""
    names = list(curves)
    panels = len(names) + (mask is not None)
    with _style():
        fig = _figure(2.0 * panels + 0.4, 2.0)
        axes = np.atleast_1d(fig.subplots(1, panels, squeeze=False)).ravel()
        if mask is not None:
            artist = _show(
                axes[0], _mask_image(mask), cmap=MASK_CMAP, vmin=0, vmax=1, title="mask", frequency_axes=True
            )
            fig.colorbar(artist, ax=axes[0], shrink=0.8)
            axes = axes[1:]
        for ax, name in zip(axes, names):
            x, y = curves[name]
            ax.plot(np.asarray(x, dtype=float), np.asarray(y, dtype=float), color="#2166ac", lw=1)
            ax.set_title(literal(name))
            ax.set_xlabel(literal(xlabel))
        if title:
            fig.suptitle(literal(title))
    return fig


def _measured_grid(image: np.ndarray, stride: int) -> tuple[np.ndarray, list[float]]:
    """A centred map measured every ``stride`` frequencies, cut to its measured rows and
    columns, and its extent in frequencies (each cell ``stride`` wide): what was measured is
    shown at its size, nothing in between is filled in."""
    h, w = image.shape
    extent = _frequency_extent((h, w))
    if stride == 1:
        return image, extent
    rows = np.flatnonzero(~np.isnan(image).all(axis=1))
    columns = np.flatnonzero(~np.isnan(image).all(axis=0))
    if not len(rows):
        return image, extent
    ky, kx = h // 2 - rows, columns - w // 2
    half = stride / 2
    return image[np.ix_(rows, columns)], [kx.min() - half, kx.max() + half, ky.min() - half, ky.max() + half]


def heat_map_figure(
    heat: np.ndarray, title: str = "", eps: float | None = None, *, top5: np.ndarray | None = None, stride: int = 1
):
    """A Fourier heat map (top-1 error rate per frequency, stored layout), centred, 0–1 colour
    scale; with ``top5``, the top-1 and top-5 maps side by side. A map measured every
    ``stride`` frequencies (NaN elsewhere) is drawn as that coarser grid, not interpolated."""
    maps = {"top-1 error": heat} if top5 is None else {"top-1 error": heat, "top-5 error": top5}
    with _style():
        fig = _figure(3.4 * len(maps), 3.0 if top5 is None else 3.3)
        axes = np.atleast_1d(fig.subplots(1, len(maps), squeeze=False)).ravel()
        artist = None
        for ax, (name, errors) in zip(axes, maps.items()):
            image, extent = _measured_grid(centred(np.asarray(errors, dtype=float)), stride)
            shown = title if top5 is None else name
            artist = _show(ax, image, cmap="inferno", vmin=0, vmax=1, title=shown, frequency_axes=True)
            artist.set_extent(extent)
        label = "error rate" + (f" (ε = {eps:g})" if eps is not None else "")
        if stride > 1:
            label += f"; k measured every {stride}"
        fig.colorbar(artist, ax=axes.tolist(), shrink=0.85, label=label)
        if top5 is not None and title:
            fig.suptitle(literal(title))
    return fig


def blue_shift_figure(shift, fundamental: int):
    """Each non-linearity's output (left) and its magnitude spectrum (right, log scale)."""
    names = list(shift.signals)
    with _style():
        fig = _figure(6.0, 1.15 * len(names) + 0.3)
        axes = fig.subplots(len(names), 2, squeeze=False)
        limit = min(len(shift.frequencies), 12 * fundamental)
        for row, name in enumerate(names):
            axes[row, 0].plot(shift.time, shift.signals[name], color="#2166ac", lw=1)
            axes[row, 0].set_ylabel(literal(name))
            spectrum = shift.spectra[name][:limit]
            present = spectrum > 1e-7  # zero up to rounding
            axes[row, 1].vlines(shift.frequencies[:limit][present], 1e-8, spectrum[present], color="#b2182b", lw=1.2)
            axes[row, 1].set_yscale("log")
            axes[row, 1].set_ylim(1e-5, 2)
        axes[-1, 0].set_xlabel("time (window)")
        axes[-1, 1].set_xlabel("frequency (cycles/window)")
        axes[0, 0].set_title("signal")
        axes[0, 1].set_title("magnitude spectrum")
    return fig


def adversarial_maps_figure(comparison, examples: int = 4, class_names: Sequence[str] = ()):
    """Essential and adversarial maps of a few images side by side, their mean difference,
    and the distribution of per-image cosine similarities."""
    count = min(examples, len(comparison.ids))
    with _style():
        fig = _figure(1.3 * max(count, 2) + 3.2, 3.3)
        grid = fig.add_gridspec(2, max(count, 1) + 2)
        for k in range(count):
            for row, (stack, label) in enumerate(
                ((comparison.essential, "essential"), (comparison.adversarial, "adversarial"))
            ):
                ax = fig.add_subplot(grid[row, k])
                title = ""
                if row == 0:
                    title = comparison.ids[k] if not class_names else class_names[comparison.labels[k]]
                _show(ax, _mask_image(stack[k]), cmap=MASK_CMAP, vmin=0, vmax=1, title=title)
                if k == 0:
                    ax.set_ylabel(label)
        difference = centred(np.asarray(comparison.mean_difference, dtype=float))
        difference = difference.mean(axis=0) if difference.ndim == 3 else difference
        limit = float(np.abs(difference).max()) or 1.0
        ax = fig.add_subplot(grid[0, count])
        diff_artist = _show(ax, difference, cmap=DIFF_CMAP, vmin=-limit, vmax=limit, title="mean adv − ess")
        fig.colorbar(diff_artist, ax=ax, shrink=0.8)
        ax = fig.add_subplot(grid[:, count + 1])
        ax.hist(comparison.cosine, bins=15, color="#4d4d4d")
        ax.set_xlabel("cosine similarity")
        ax.set_ylabel("images")
        result = comparison.idcor
        subtitle = f"{comparison.attack.upper()}: {len(comparison.ids)} pairs"
        if result is not None:
            subtitle += f", IdCor {result.correlation:.2f} (p = {result.p_value:.3g})"
        fig.suptitle(literal(subtitle))
    return fig


def profile_figure(table, correlations):
    """Each profile metric (rows of panels) against PGD and corruption accuracy (columns),
    one point per model, labelled, with Spearman's ρ and its permutation p in each title."""
    names = [c.name for c in table.columns]
    units = {c.name: c.unit for c in table.columns}
    against = ("PGD accuracy", "corruption accuracy")
    metrics = [name for name in names[1:] if name not in against]
    stats = {(row[0], row[1]): (row[2], row[3]) for row in correlations.rows}
    models = table.column(names[0])

    def column(name: str) -> np.ndarray:
        return np.array([v if isinstance(v, (int, float)) else np.nan for v in table.column(name)], dtype=float)

    with _style():
        fig = _figure(6.4, 1.55 * len(metrics) + 0.4)
        axes = fig.subplots(len(metrics), len(against), squeeze=False)
        for j, target in enumerate(against):
            x = column(target)
            for i, metric in enumerate(metrics):
                ax = axes[i, j]
                y = column(metric)
                ax.scatter(x, y, s=14, color="#2166ac")
                for name, a, b in zip(models, x, y):
                    if np.isfinite(a) and np.isfinite(b):
                        ax.annotate(literal(name), (a, b), fontsize=6, xytext=(2, 2), textcoords="offset points")
                rho, p = stats.get((metric, target), ("", ""))
                measured = isinstance(rho, float) and isinstance(p, float)
                ax.set_title(f"ρ = {rho:.2f}, p = {p:.2g}" if measured else "ρ: too few models", fontsize=7)
                ax.set_ylabel(literal(f"{metric} ({units[metric]})"), fontsize=7)
                if i == len(metrics) - 1:
                    ax.set_xlabel(literal(f"{target} ({units[target]})"))
    return fig


def cutoff_sweep_figure(sweeps: Mapping[str, Any]):
    """Accuracy against the cutoff radius: low-pass (left) and high-pass (right), one curve per
    model and ε, the halving radius of each in its legend entry."""
    with _style():
        fig = _figure(6.4, 2.6)
        axes = fig.subplots(1, 2, sharey=True)
        for k, (name, sweep) in enumerate(sweeps.items()):
            colour = f"C{k % 10}"
            for e, eps in enumerate(sweep.eps):
                style = "-" if e == 0 else ("--", ":", "-.")[(e - 1) % 3]
                for ax, kind in zip(axes, ("low", "high")):
                    halving = float(sweep.halving[kind][e])
                    label = f"{name}" + (f", ε = {eps:g}" if len(sweep.eps) > 1 else "")
                    label += f" (½ at {halving:.2f})" if np.isfinite(halving) else " (never halves)"
                    ax.plot(
                        sweep.radii, 100 * sweep.accuracy[kind][e], style, color=colour, lw=1.2, label=literal(label)
                    )
        for ax, kind in zip(axes, ("low-pass", "high-pass")):
            ax.set_title(f"{kind}: keep radius {'≤' if kind == 'low-pass' else '>'} r")
            ax.set_xlabel("cutoff radius r (× Nyquist)")
            ax.legend(fontsize=6)
        axes[0].set_ylabel("accuracy (%)")
    return fig


def sensitivity_figure(result, title: str = ""):
    """The input gradient's spectrum: the centred mean magnitude per channel and the radial
    profile (mean ± std over images) per channel."""
    channels = result.mean.shape[0]
    with _style():
        fig = _figure(2.4 * channels + 2.8, 2.6)
        axes = fig.subplots(1, channels + 1, squeeze=False)[0]
        top = float(np.max(result.mean)) or 1.0
        for c in range(channels):
            artist = _show(
                axes[c],
                centred(result.mean[c]),
                cmap="magma",
                vmin=0,
                vmax=top,
                title=f"channel {c}",
                frequency_axes=True,
            )
        fig.colorbar(artist, ax=axes[channels - 1], shrink=0.85, label="|F(∂ℓ/∂x)| (unit energy per image)")
        radii = 0.5 * (result.edges[:-1] + result.edges[1:])
        ax = axes[channels]
        for c in range(channels):
            mean, spread = result.profile[c], result.profile_std[c]
            ax.plot(radii, mean, color=f"C{c}", lw=1.2, label=f"channel {c}")
            ax.fill_between(radii, mean - spread, mean + spread, color=f"C{c}", alpha=0.2, lw=0)
        ax.axvline(result.cutoff, color="0.5", lw=0.8, ls=":")
        ax.set_xlabel("radius (× Nyquist)")
        ax.set_title(f"high-frequency share {100 * result.high_frequency_share:.1f} %")
        ax.legend(fontsize=6)
        fig.suptitle(literal(title))
    return fig


def layer_spectra_figure(result, title: str = ""):
    """Each stage's relative log amplitude from zero frequency to Nyquist (left) and its
    high-minus-low Δ (right), as Park and Kim draw them."""
    with _style():
        fig = _figure(6.4, 2.6)
        left, right = fig.subplots(1, 2)
        for k, stage in enumerate(result.stages):
            left.plot(stage.radii, stage.profile, color=f"C{k % 10}", lw=1.2, label=literal(stage.name))
        left.set_xlabel("radius (× Nyquist)")
        left.set_ylabel("Δ log amplitude")
        if result.stages:
            left.legend(fontsize=6)
        right.plot(range(len(result.stages)), [s.delta for s in result.stages], "o-", color="#2166ac")
        right.set_xticks(range(len(result.stages)), [literal(s.name) for s in result.stages], rotation=45, fontsize=6)
        right.set_ylabel("Δ log amplitude at Nyquist")
        fig.suptitle(literal(title))
    return fig


def corruptions_figure(result):
    """Accuracy against severity for each corruption (one panel each), one line per model."""
    models = list(result.clean_accuracy)
    corruptions = list(dict.fromkeys(c for _, c, _ in result.accuracy))
    severities = sorted({s for _, _, s in result.accuracy})
    columns = min(4, len(corruptions))
    rows = -(-len(corruptions) // columns)
    with _style():
        fig = _figure(1.7 * columns + 0.6, 1.5 * rows + 0.5)
        axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
        for ax, corruption in zip(axes, corruptions):
            for k, model in enumerate(models):
                values = [100 * result.accuracy.get((model, corruption, s), np.nan) for s in severities]
                ax.plot(severities, values, "o-", ms=2.5, lw=1, color=f"C{k % 10}", label=literal(model))
            centroids = [result.centroid.get((corruption, s), np.nan) for s in severities]
            shown = f", centroid {np.nanmean(centroids):.2f}" if np.isfinite(centroids).any() else ""
            ax.set_title(literal(corruption) + shown, fontsize=7)
            ax.set_xticks(severities)
        for ax in axes[len(corruptions) :]:
            ax.set_visible(False)
        axes[0].set_ylabel("accuracy (%)")
        axes[0].legend(fontsize=6)
        fig.supxlabel("severity")
    return fig
