"""The main window's layouts at common screen sizes (measured in device pixels and saved as
screenshots), the task layouts of View → Layout and how they are remembered, and the empty
states that say what to do next."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_info

pytest.importorskip("PySide6")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QFontMetricsF, QPainter, QPicture  # noqa: E402
from PySide6.QtWidgets import QMenu, QTabWidget  # noqa: E402

from fourier_masks.core.attacks.adversarial import AttackConfig, attack_images
from fourier_masks.core.beyond import AdversarialMapsResult, AttackComparison, cosine_similarity, fourier_heat_map
from fourier_masks.core.beyond.analyses import heat_map_table, run_robustness
from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.models.architectures import build_classifier
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.runs.executors import run_mask_units
from fourier_masks.core.runs.groups import plan_image_masks
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.findings import ImageMaskOutcomes, findings_table

SIZES = ((1366, 768), (1920, 1080), (2560, 1440))
MIN_PANEL_PX = 96
# The least height (and width) a plot's data area may have, in device pixels: room for three
# labelled ticks of a 9-pt axis font (~15 px a label) with a label's height between them, the
# fewest that still read as a scale, and for a bar chart's bars to differ visibly.
MIN_PLOT_PX = 80
# A 1366×768 laptop screen less a title bar and a task bar.
LAPTOP_MIN = (1300, 700)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _tiny_model():
    torch.manual_seed(1)
    return build_classifier(tiny_info()).eval()


SMALL_MASKS = ImageMaskConfig(max_steps=20, check_every=10)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory, tiny_shapes):
    """A run as the app leaves it after dropping a few 16-px images and attacking them: one
    model, its masks of six images, their PGD counterparts' masks, a UMAP of the masks and two
    dataset masks (an untrained model and masks of a few steps: layout, not science)."""
    store = ResultsStore(tmp_path_factory.mktemp("layout") / "run")
    model = _tiny_model()
    save_checkpoint(model, store.model_path("N"))
    images = tiny_shapes.val.balanced_subset(1)
    config = SMALL_MASKS
    run_mask_units(store, plan_image_masks(store, "image/N-clean", images, model_name="N", config=config), model)
    attack = AttackConfig(eps=0.1, steps=2)
    adversarial = ImageSet(
        images=attack_images(model, images.images, images.labels, config=attack),
        labels=images.labels,
        class_names=images.class_names,
        ids=images.ids,
        name="adversarial",
    )
    units = plan_image_masks(
        store,
        "image/N-adversarial",
        adversarial,
        model_name="N",
        config=config,
        inputs="adversarial",
        pairs_with="image/N-clean",
        attack=attack.to_dict(),
    )
    run_mask_units(store, units, model)
    generator = np.random.default_rng(0)
    n = len(images)
    store.save_arrays(
        "umap-N-clean",
        ids=np.array(images.ids),
        labels=images.labels.numpy(),
        probe_xy=generator.normal(size=(n, 2)),
        mask_xy=generator.normal(size=(n, 2)),
    )
    for name in ("N", "S"):
        mask = generator.uniform(size=(1, 16, 16)).astype(np.float32)
        store.save_set_mask(f"set/{name}", mask, {"model": name})
    return store.root


@pytest.fixture(scope="module")
def small_run(plain_run, tmp_path_factory, tiny_shapes):
    """:func:`plain_run` after the analyses, as the Analyses view reads them: essential and
    PGD maps of the images (the untrained model classifies too few correctly for
    ``adversarial_maps`` itself, so the pairs are compared here as it compares them), a Fourier
    heat map, the robustness table and the findings table."""
    root = tmp_path_factory.mktemp("analysed") / "run"
    shutil.copytree(plain_run, root)
    store, model, config = ResultsStore(root), _tiny_model(), SMALL_MASKS
    images = tiny_shapes.val.balanced_subset(1)
    inputs = store.image_mask_inputs("image/N-adversarial")
    adversarial = ImageSet(
        images=torch.from_numpy(inputs["images"]),
        labels=images.labels,
        class_names=images.class_names,
        ids=images.ids,
        name="adversarial",
    )
    essential = plan_image_masks(store, "image/N-essential", images, model_name="N", config=config, role="essential")
    run_mask_units(store, essential, model)
    maps = plan_image_masks(
        store,
        "image/N-advmap-pgd",
        adversarial,
        model_name="N",
        config=config,
        inputs="adversarial",
        role="adversarial-map",
        pairs_with="image/N-essential",
    )
    run_mask_units(store, maps, model)
    first = store.load_image_masks("image/N-essential")
    second = store.load_image_masks("image/N-advmap-pgd").select(first.ids)
    position = {image_id: k for k, image_id in enumerate(images.ids)}
    labels = images.labels.numpy()[[position[image_id] for image_id in first.ids]]
    predictions = first.arrays["targets"].astype(int)
    result = AdversarialMapsResult(model="N", essential_group="image/N-essential")
    result.comparisons["pgd"] = AttackComparison(
        attack="pgd",
        flipped=len(images),
        ids=list(first.ids),
        essential=first.masks,
        adversarial=second.masks,
        cosine=cosine_similarity(first.masks, second.masks),
        idcor=None,
        labels=labels,
        clean_predictions=predictions,
        adversarial_predictions=(predictions + 1) % len(images.class_names),
    )
    store.save_table(result.table())
    store.save_table(result.pair_table("pgd", list(images.class_names)))
    heat = fourier_heat_map(model, images.images, images.labels, eps=4.0).errors
    store.save_arrays("heat-map-N", heat=heat, eps=np.float64(4.0))
    store.save_table(heat_map_table(heat, "N", 4.0))
    run_robustness(store, {"N": model}, images, attack=AttackConfig(eps=0.1, steps=2))
    clean = store.load_image_masks("image/N-clean").arrays
    outcomes = {"N": ImageMaskOutcomes(clean["kept_fraction"], clean["prediction_kept"].astype(bool))}
    tables = {name: store.load_table(name) for name in store.table_names()}
    store.save_table(findings_table(tables, outcomes, data="builtin"))
    return root


def _open(qtbot, run, size, task: str | None = None):
    from fourier_masks.app.main import create_window

    window = create_window(str(run) if run else None)
    qtbot.addWidget(window)
    if task is not None:
        window.layouts.switch(task)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    _settle(qtbot)
    return window


def _settle(qtbot) -> None:
    qtbot.wait(30)
    # Tab bars Qt retires when docks move are deleted later; a grab should not show them.
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    qtbot.wait(10)


def _on_show(dock) -> bool:
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def _one_click_away(window, name: str) -> bool:
    """On show, or a tab of a stack that is on show."""
    dock = window.docks[name]
    return _on_show(dock) or any(_on_show(other) for other in window.tabifiedDockWidgets(dock))


def drawn_image_sizes(panel) -> dict[str, tuple[float, float]]:
    """Width and height, in device pixels, of each image as drawn: the image item's rect in
    the view, clipped to its plot's view box and to the part of the view that is on show."""
    view = panel.view
    to_view = view.viewportTransform()
    visible = QRectF(view.viewport().visibleRegion().boundingRect())
    ratio = view.devicePixelRatioF()
    sizes = {}
    for name, image in panel.views.items():
        box = to_view.mapRect(image.plot.getViewBox().sceneBoundingRect())
        drawn = to_view.mapRect(image.item.sceneBoundingRect()).intersected(box).intersected(visible)
        sizes[name] = (drawn.width() * ratio, drawn.height() * ratio)
    return sizes


def _plot_name(plot) -> str:
    title = plot.titleLabel.text if plot.titleLabel.isVisible() else ""
    return title or plot.getAxis("bottom").labelText or plot.getAxis("left").labelText or "untitled"


def overlapping_tick_labels(axis) -> list[tuple[str, str]]:
    """Pairs of an axis' tick labels that overlap where the axis draws them: the labels it
    lays out for its present size (``generateDrawSpecs`` with a painter like its own), each in
    the box Qt lays its text out in (the font's full line height), so labels that merely touch
    do not count and labels drawn over each other do."""
    picture = QPicture()
    painter = QPainter(picture)
    try:
        if axis.style["tickFont"] is not None:
            painter.setFont(axis.style["tickFont"])
        specs = axis.generateDrawSpecs(painter)
        metrics = QFontMetricsF(painter.font())
    finally:
        painter.end()
    texts = specs[2] if specs else []
    boxes = [(metrics.boundingRect(rect, int(flags), text), text) for rect, flags, text in texts]
    return [
        (a, b)
        for k, (box, a) in enumerate(boxes)
        for other, b in boxes[k + 1 :]
        if box.intersects(other) and box.intersected(other).height() * box.intersected(other).width() > 0
    ]


def axes_beyond_image(plot) -> list[str]:
    """An image plot (one image, aspect locked) whose view shows more than the image: its axes
    then run on past the image (a mask in a tall strip with k_y from −18 to 20)."""
    images = [item for item in plot.items if isinstance(item, pg.ImageItem) and item.image is not None]
    if len(images) != 1 or not plot.getViewBox().state["aspectLocked"]:
        return []
    extent = images[0].mapRectToParent(images[0].boundingRect())
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    shown = QRectF(x0, y0, x1 - x0, y1 - y0)
    pixel = extent.width() / images[0].width()
    if max(shown.width() - extent.width(), shown.height() - extent.height()) > pixel / 2:
        return [
            f"view {shown.width():.1f}×{shown.height():.1f} around an image of {extent.width():g}×{extent.height():g}"
        ]
    return []


def unreadable_plots(widget) -> list[str]:
    """What is unreadable in the pyqtgraph plots on show inside ``widget``: data areas (view
    boxes, in device pixels) under MIN_PLOT_PX either way, images with empty axes around them,
    and axes with overlapping tick labels. A plot in a scroll area counts at its full size:
    scrolling to it is fine."""
    problems = []
    for view in widget.findChildren(pg.GraphicsView):
        if not view.isVisible():
            continue
        ratio = view.devicePixelRatioF()
        plots = [item for item in view.scene().items() if isinstance(item, pg.PlotItem) and item.isVisible()]
        for plot in plots:
            name = _plot_name(plot)
            box = view.mapFromScene(plot.getViewBox().sceneBoundingRect()).boundingRect()
            width, height = box.width() * ratio, box.height() * ratio
            # A colour bar (a plot item too) is a narrow strip by design; its ticks still count.
            if not isinstance(plot, pg.ColorBarItem) and min(width, height) < MIN_PLOT_PX:
                problems.append(f"plot {name!r}: data area {width:.0f}×{height:.0f} px")
            problems += [f"plot {name!r}: {p}" for p in axes_beyond_image(plot)]
            for side in ("left", "bottom", "right", "top"):
                axis = plot.getAxis(side)
                if axis.isVisible() and axis.style["showValues"]:
                    for a, b in overlapping_tick_labels(axis):
                        problems.append(f"plot {name!r}: {side} tick labels {a!r} and {b!r} overlap")
    return problems


def unreadable_in_dock(qtbot, dock) -> list[str]:
    """:func:`unreadable_plots` of a dock's panel, once per page of each tab widget in it."""
    problems = unreadable_plots(dock)
    for tabs in dock.findChildren(QTabWidget):
        if not tabs.isVisible():
            continue
        current = tabs.currentIndex()
        for index in range(tabs.count()):
            if index != current:
                tabs.setCurrentIndex(index)
                _settle(qtbot)
                problems += [f"{tabs.tabText(index)} tab: {p}" for p in unreadable_plots(dock)]
        tabs.setCurrentIndex(current)
    return problems


def cut_off_table(view) -> list[str]:
    """Where a table view hides text: columns past its right edge, rows shorter than their
    wrapped text."""
    header, width = view.horizontalHeader(), view.viewport().width()
    model = view.model()
    problems = [
        f"column {model.headerData(c, Qt.Orientation.Horizontal)!r} ends at {header.sectionViewportPosition(c) + header.sectionSize(c)} px of {width}"
        for c in range(model.columnCount())
        if header.sectionViewportPosition(c) < 0 or header.sectionViewportPosition(c) + header.sectionSize(c) > width
    ]
    problems += [
        f"row {r + 1} is {view.rowHeight(r)} px high, its text {view.sizeHintForRow(r)} px"
        for r in range(model.rowCount())
        if view.rowHeight(r) < view.sizeHintForRow(r)
    ]
    return problems


def test_readable_axes_leave_out_labels_that_would_overlap(qtbot):
    """On an axis too short for its labels (a curve's one point so far, 68 px high) pyqtgraph
    draws 0.6, 0.8, …, 1.4 over each other, as the detector sees; a readable axis leaves every
    other one out."""
    from fourier_masks.app.widgets import readable_axes

    widgets = {kind: pg.PlotWidget(axisItems=items) for kind, items in (("plain", None), ("readable", readable_axes()))}
    for widget in widgets.values():
        qtbot.addWidget(widget)
        widget.plot([20], [1.0], symbol="o")
        widget.resize(300, 90)
        widget.show()
        qtbot.waitExposed(widget)
        widget.grab()
    axes = {kind: widget.getPlotItem().getAxis("left") for kind, widget in widgets.items()}
    assert overlapping_tick_labels(axes["plain"])
    assert not overlapping_tick_labels(axes["readable"])
    picture = QPicture()
    painter = QPainter(picture)
    shown = [text for _, _, text in axes["readable"].generateDrawSpecs(painter)[2]]
    painter.end()
    assert shown == ["0.6", "1.0", "1.4"]


LAYOUT_SIZES = [
    pytest.param(size, id=f"{size[0]}x{size[1]}", marks=() if size == SIZES[0] else pytest.mark.slow) for size in SIZES
]


@pytest.mark.parametrize("size", LAYOUT_SIZES)
def test_every_plot_is_readable_in_every_layout(qtbot, home, small_run, screenshots, size):
    """Each task layout at each size: a screenshot as the layout opens, then every dock raised
    in turn (and each tab inside it), and every plot on show measured. In *Analyses*, the
    findings table is in front, whole: every column on screen, every row as high as its text."""
    from fourier_masks.app.layouts import TASK_LAYOUTS

    window = _open(qtbot, small_run, size)
    problems: dict[str, list[str]] = {name: [] for name in window.docks}
    for layout in TASK_LAYOUTS:
        window.layouts.switch(layout.key)
        _settle(qtbot)
        assert window.grab().save(str(screenshots / f"layout-{layout.key}-{size[0]}x{size[1]}.png"))
        if layout.key == "analyses":
            analyses = window.panels["analyses"]
            assert analyses.tabs.tabText(analyses.tabs.currentIndex()) == "Findings" and not analyses.empty.is_empty
            assert analyses.findings_view.isVisible() and analyses.findings_model.rowCount() == 7
            where = f"analyses {size[0]}×{size[1]}, findings"
            problems["analyses"] += [f"{where}: {p}" for p in cut_off_table(analyses.findings_view)]
        for name in layout.docks:
            dock = window.docks[name]
            dock.raise_()
            _settle(qtbot)
            assert _on_show(dock), (layout.key, name)
            problems[name] += [
                f"{layout.key} {size[0]}×{size[1]}, {name}: {p}" for p in unreadable_in_dock(qtbot, dock)
            ]
    found = [p for name in problems for p in problems[name]]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_default_layout_at_common_screen_sizes(qtbot, home, small_run, size):
    window = _open(qtbot, small_run, size)
    assert window.layouts.task == "inspect"
    assert window.size().toTuple() == size, "the window's minimum size overrode the size asked for"
    minimum = window.minimumSizeHint().expandedTo(window.minimumSize())
    assert minimum.width() <= LAPTOP_MIN[0] and minimum.height() <= LAPTOP_MIN[1], minimum
    panel = window.panels["images"]
    assert window.workbench.selected is not None and not panel.empty.is_empty
    assert set(panel.views) == {*panel.shown}, "all ten views show an image"
    sizes = drawn_image_sizes(panel)
    drawn = ", ".join(f"{name} {w:.0f}×{h:.0f}" for name, (w, h) in sizes.items())
    print(f"\n{size[0]}×{size[1]}: image panels drawn at (px) {drawn}")
    assert len(sizes) == 10
    for name, (width, height) in sizes.items():
        assert width >= MIN_PANEL_PX and height >= MIN_PANEL_PX, (name, width, height)
    for name in ("images", "compare", "convergence"):
        assert _one_click_away(window, name), name
    for name in ("images", "convergence", "clusters", "models"):
        assert _on_show(window.docks[name]), name


def test_the_minimum_size_fits_a_laptop_screen_in_every_layout(qtbot, home, small_run):
    window = _open(qtbot, small_run, (1366, 768))
    for task in window.layouts.layouts:
        window.layouts.switch(task)
        _settle(qtbot)
        minimum = window.minimumSizeHint().expandedTo(window.minimumSize())
        assert minimum.width() <= LAPTOP_MIN[0] and minimum.height() <= LAPTOP_MIN[1], (task, minimum)
    window.resize(*LAPTOP_MIN)
    _settle(qtbot)
    assert window.size().toTuple() == LAPTOP_MIN
    window.layouts.switch("inspect")
    _settle(qtbot)
    for name, (width, height) in drawn_image_sizes(window.panels["images"]).items():
        assert width >= MIN_PANEL_PX and height >= MIN_PANEL_PX, (name, width, height)


def test_the_layout_follows_the_window_until_the_user_moves_a_separator(qtbot, home, small_run):
    window = _open(qtbot, small_run, (1366, 768))
    small = min(min(wh) for wh in drawn_image_sizes(window.panels["images"]).values())
    window.resize(2560, 1440)
    _settle(qtbot)
    large = min(min(wh) for wh in drawn_image_sizes(window.panels["images"]).values())
    assert large > 1.8 * small
    assert window.docks["models"].width() == pytest.approx(window.layouts.current.areas[0].share * 2560, abs=12)
    # A separator moved by hand stays where the user put it.
    window.layouts.pristine = False
    window.resize(1920, 1080)
    _settle(qtbot)
    assert window.docks["models"].width() != pytest.approx(window.layouts.current.areas[0].share * 1920, abs=12)


def _layout_actions(window) -> dict[str, object]:
    """View → Layout's actions, found in the menus themselves."""
    (menu,) = [m for m in window.findChildren(QMenu) if m.title() == "Layout"]
    assert menu.parent().title() == "&View"
    return {action.text(): action for action in menu.actions()}


@pytest.mark.slow
def test_task_layouts_switch_from_the_view_menu_and_are_remembered(qtbot, home, small_run):
    window = _open(qtbot, small_run, (1366, 768))
    actions = _layout_actions(window)
    assert list(actions) == ["Inspect images", "Compare models", "Analyses"]
    assert [a.shortcut().toString() for a in actions.values()] == ["Ctrl+1", "Ctrl+2", "Ctrl+3"]
    assert actions["Inspect images"].isChecked()
    fronts = {
        "Compare models": ("compare", "images"),
        "Analyses": ("analyses", "images"),
        "Inspect images": ("images", "compare"),
    }
    for title, (shown, tabbed) in fronts.items():
        actions[title].trigger()
        _settle(qtbot)
        assert actions[title].isChecked()
        assert _on_show(window.docks[shown]), (title, shown)
        assert not _on_show(window.docks[tabbed]) and _one_click_away(window, tabbed), (title, tabbed)
        assert _one_click_away(window, "convergence"), title
        assert window.size().toTuple() == (1366, 768)
    # What the user makes of a layout is kept for that layout: close Spectrum in Compare models.
    actions["Compare models"].trigger()
    window.docks["spectrum"].close()
    actions["Analyses"].trigger()
    _settle(qtbot)
    assert _one_click_away(window, "spectrum")
    actions["Compare models"].trigger()
    _settle(qtbot)
    assert window.docks["spectrum"].isHidden()
    actions["Analyses"].trigger()
    window.close()

    second = _open(qtbot, small_run, (1366, 768))
    assert second.layouts.task == "analyses"
    assert _layout_actions(second)["Analyses"].isChecked()
    assert _on_show(second.docks["analyses"])
    _layout_actions(second)["Compare models"].trigger()
    _settle(qtbot)
    assert second.docks["spectrum"].isHidden(), "the user's change to Compare models was forgotten"
    second.reset_layout()
    _settle(qtbot)
    assert _on_show(second.docks["spectrum"]) and _on_show(second.docks["compare"])
    assert second.layouts.task == "compare"


def test_the_welcome_page_alone_fits_and_docks_come_with_a_run(qtbot, home, small_run):
    window = _open(qtbot, None, (1366, 768))
    assert window.welcome.isVisible()
    assert not any(dock.isVisible() for dock in window.docks.values())
    assert window.size().toTuple() == (1366, 768)
    window.reset_layout()
    assert not any(dock.isVisible() for dock in window.docks.values())
    window.open_run(small_run)
    _settle(qtbot)
    assert not window.welcome.isVisible()
    assert _on_show(window.docks["images"]) and _on_show(window.docks["convergence"])


# --- empty states ------------------------------------------------------------------------------


@pytest.fixture
def workbench(home):
    from fourier_masks.app.settings import app_paths
    from fourier_masks.app.workbench import Workbench

    return Workbench(app_paths())


def _shown_panel(qtbot, panel):
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _click(qtbot, button) -> None:
    assert button.isVisible() and button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_the_images_view_says_how_to_get_images(qtbot, workbench, small_run, screenshots):
    from fourier_masks.app.panels.images import ImagesPanel

    panel = _shown_panel(qtbot, ImagesPanel(workbench))
    assert panel.empty.is_empty and "Drop images on the window" in panel.empty.text
    assert not panel.left.isVisible()
    panel.grab().save(str(screenshots / "empty-images.png"))
    with qtbot.waitSignal(panel.openImagesRequested, timeout=1000):
        _click(qtbot, panel.empty.buttons["Open images…"])
    workbench.open_run(small_run)
    assert not panel.empty.is_empty and panel.list.count() == 6


def test_the_images_figure_carries_the_predictions_the_view_shows(qtbot, workbench, small_run):
    """The exported figure labels each panel with the prediction the view shows under it."""
    from fourier_masks.app.panels.images import ImagesPanel

    workbench.open_run(small_run)
    panel = _shown_panel(qtbot, ImagesPanel(workbench))
    assert set(panel.predicted) == {"x", "M(x)", "Mc(x)", "x_A", "M(x_A)", "M_A(x_A)"}
    figure = panel.figure()
    for view, prediction in panel.predicted.items():
        assert prediction in panel.predictions.text(), view
        (axes,) = [ax for ax in figure.axes if ax.get_title() == view]
        label = axes.xaxis.label
        assert label.get_text() == prediction and label.get_visible(), (view, label.get_text())


def test_the_analyses_view_offers_each_analysis_before_any_is_computed(qtbot, workbench, plain_run, screenshots):
    from fourier_masks.app.panels.analyses import AnalysesPanel

    workbench.open_run(plain_run)
    panel = _shown_panel(qtbot, AnalysesPanel(workbench))
    assert panel.empty.is_empty and "Nothing analysed yet" in panel.empty.text
    panel.grab().save(str(screenshots / "empty-analyses.png"))
    buttons = panel.empty.buttons
    with qtbot.waitSignal(panel.adversarialMapsRequested, timeout=1000):
        _click(qtbot, buttons["Adversarial frequency maps…"])
    with qtbot.waitSignal(panel.heatMapRequested, timeout=1000) as heat:
        _click(qtbot, buttons["Fourier heat map…"])
    assert heat.args == ["N"]
    with qtbot.waitSignal(panel.robustnessRequested, timeout=1000):
        _click(qtbot, buttons["Robustness of the models…"])
    _click(qtbot, buttons["Blue-shift illustration"])
    assert not panel.empty.is_empty and panel.tabs.currentIndex() == 3
    panel.tabs.setCurrentIndex(1)  # nothing computed there: its own explanation and button
    assert panel.heat_empty.is_empty and "heat map of N" in panel.heat_empty.text
    with qtbot.waitSignal(panel.heatMapRequested, timeout=1000):
        _click(qtbot, panel.heat_empty.buttons["Compute heat map…"])


def test_the_compare_view_offers_to_load_and_compare(qtbot, workbench, small_run):
    from fourier_masks.app.panels.compare import ComparePanel

    panel = _shown_panel(qtbot, ComparePanel(workbench))
    assert panel.empty.is_empty and "Load two or more checkpoints" in panel.empty.text
    assert not panel.empty.buttons["Compare models…"].isEnabled()  # nothing loaded to compare
    with qtbot.waitSignal(panel.loadRequested, timeout=1000):
        _click(qtbot, panel.empty.buttons["Load checkpoints…"])
    workbench.open_run(small_run)
    assert not panel.empty.is_empty and set(panel.mask_views) == {"N", "S"}


def test_clusters_offer_to_compute_and_their_legend_is_beside_the_points(qtbot, workbench, small_run, tmp_path):
    from fourier_masks.app.panels.clusters import ClustersPanel

    run = ResultsStore(tmp_path / "without-clusters")
    panel = _shown_panel(qtbot, ClustersPanel(workbench))
    assert panel.empty.is_empty and "No single-image masks yet" in panel.empty.text
    assert not panel.empty_compute.isVisible()
    workbench.open_run(run.root)
    assert panel.empty.is_empty
    workbench.open_run(small_run)
    assert not panel.empty.is_empty
    names = workbench.class_names("image/N-clean")
    assert all(name in panel.legend.text() for name in names)
    legend = panel.legend.geometry()
    plot = panel.view.geometry()
    assert legend.width() > 0 and not legend.intersects(plot), "the legend covers the plot"
    # This run's UMAP predates the permuted-label control: the view says so rather than showing another picture.
    panel.space.setCurrentText("linear-probe outputs, permuted labels (control)")
    assert panel.empty.is_empty and "before the permuted-label control existed" in panel.empty.text
    panel.space.setCurrentText("linear-probe outputs (out-of-fold)")
    assert not panel.empty.is_empty


def test_clusters_compute_button_asks_for_the_tables(qtbot, workbench, tmp_path):
    from fourier_masks.app.panels.clusters import ClustersPanel
    from fourier_masks.core.data.datasets import load_builtin

    store = ResultsStore(tmp_path / "run")
    data = load_builtin("shapes", train_per_class=1, val_per_class=1, size=16).val
    store.begin_image_masks(
        "image/N-clean", {"model": "N"}, images=data.images.numpy(), labels=data.labels.numpy(), ids=list(data.ids)
    )
    store.append_image_masks("image/N-clean", list(data.ids), np.ones((len(data), 1, 16, 16), np.float32))
    workbench.open_run(store.root)
    panel = _shown_panel(qtbot, ClustersPanel(workbench))
    assert panel.empty.is_empty and "No clusters of image/N-clean yet" in panel.empty.text
    with qtbot.waitSignal(panel.computeRequested, timeout=1000):
        _click(qtbot, panel.empty_compute)


def test_the_window_connects_the_empty_states_buttons(qtbot, home):
    from PySide6.QtCore import SIGNAL

    from fourier_masks.app.main import create_window

    window = create_window()
    qtbot.addWidget(window)
    assert window.panels["images"].receivers(SIGNAL("openImagesRequested()")) == 1
    assert window.panels["compare"].receivers(SIGNAL("loadRequested()")) == 1
