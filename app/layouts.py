"""Task layouts of the main window's docks: *Inspect images*, *Compare models*, *Analyses*.

A layout is a plan, not a saved blob: two dock areas facing each other (left and right, or top
and bottom), each split into stacks of docks (docks sharing one place as tabs, the first in
front), each area and stack with its share of the window. :class:`LayoutManager` builds the
plan, sizes the docks in proportion to the window once the window has its size (and again as it
is resized, until the user moves a separator or a dock), and remembers per task, in the user's
settings, what the user made of each layout. Every dock is in every plan, so each view is at
most one click (a tab) away whichever task is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QByteArray, QEvent, QObject, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QWidget

__all__ = ["Stack", "Area", "TaskLayout", "TASK_LAYOUTS", "LayoutManager", "default_window_size", "plan_state"]

AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}


@dataclass(frozen=True)
class Stack:
    """Docks sharing one place as tabs (the first in front) and their share of the area."""

    docks: tuple[str, ...]
    share: float = 1.0


@dataclass(frozen=True)
class Area:
    """A dock area (``left``, ``right``, ``top``, ``bottom``) split into stacks along it (one
    above the other at the left or right, side by side at the top or bottom), and its share of
    the window (of the width at the left or right, of the height at the top or bottom)."""

    side: str
    stacks: tuple[Stack, ...]
    share: float

    @property
    def across(self) -> Qt.Orientation:
        """How the window is divided between this area and the one facing it."""
        return Qt.Orientation.Horizontal if self.side in ("left", "right") else Qt.Orientation.Vertical

    @property
    def along(self) -> Qt.Orientation:
        """How the area is divided between its stacks."""
        return Qt.Orientation.Vertical if self.side in ("left", "right") else Qt.Orientation.Horizontal


@dataclass(frozen=True)
class TaskLayout:
    """Where the docks go for one task: two facing areas of stacks."""

    key: str
    title: str
    shortcut: str
    areas: tuple[Area, Area]

    @property
    def stacks(self) -> tuple[Stack, ...]:
        return tuple(stack for area in self.areas for stack in area.stacks)

    @property
    def docks(self) -> tuple[str, ...]:
        return tuple(name for stack in self.stacks for name in stack.docks)

    @property
    def front(self) -> tuple[str, ...]:
        """The docks in front of their stacks: what the layout shows without a click."""
        return tuple(stack.docks[0] for stack in self.stacks)


TASK_LAYOUTS = (
    # The image grid (ten panels in two rows) gets most of the window, the clusters (click a
    # point to see its image) below it; the live mask and its curves, which need height, the
    # whole left column; the rest one tab away. (Top and bottom areas would leave either the
    # grid or the curves too short on a 768-px screen.)
    TaskLayout(
        "inspect",
        "Inspect images",
        "Ctrl+1",
        (
            Area("left", (Stack(("models",), 0.2), Stack(("convergence",), 0.8)), 0.34),
            Area(
                "right",
                (Stack(("images",), 0.6), Stack(("clusters", "spectrum", "compare", "tables", "analyses"), 0.4)),
                0.66,
            ),
        ),
    ),
    # Dataset masks, their differences, energy per band and Table 1 need the height: the whole
    # right column; the spectrum partitions of the same masks beside them.
    TaskLayout(
        "compare",
        "Compare models",
        "Ctrl+2",
        (
            Area("left", (Stack(("models",), 0.22), Stack(("spectrum", "convergence", "tables"), 0.78)), 0.34),
            Area("right", (Stack(("compare", "images", "clusters", "analyses")),), 0.66),
        ),
    ),
    TaskLayout(
        "analyses",
        "Analyses",
        "Ctrl+3",
        (
            Area("left", (Stack(("models",), 0.22), Stack(("tables", "convergence"), 0.78)), 0.32),
            Area("right", (Stack(("analyses", "images", "compare", "clusters", "spectrum")),), 0.68),
        ),
    ),
)


def default_window_size(available: QSize) -> QSize:
    """A first window size that fits the screen's ``available`` area (title bar and panel left)."""
    return QSize(min(1600, int(available.width() * 0.92)), min(1000, int(available.height() * 0.9)))


def plan_state(layout: TaskLayout, names: dict[str, str], version: int) -> QByteArray:
    """``QMainWindow.saveState`` of ``layout`` built in a scratch window with stand-in docks
    (``names``: dock → object name): what the real window restores to take that layout."""
    scratch = QMainWindow()
    scratch.setDockNestingEnabled(True)
    docks = {}
    for name, object_name in names.items():
        dock = QDockWidget(name, scratch)
        dock.setObjectName(object_name)
        dock.setWidget(QWidget())
        docks[name] = dock
    for area in layout.areas:
        before = None
        for stack in area.stacks:
            first = docks[stack.docks[0]]
            if before is None:
                scratch.addDockWidget(AREAS[area.side], first)
            else:
                scratch.splitDockWidget(before, first, area.along)
            for name in stack.docks[1:]:
                scratch.tabifyDockWidget(first, docks[name])
            first.raise_()
            before = first
    state = scratch.saveState(version)
    scratch.deleteLater()
    return state


class LayoutManager(QObject):
    """Arranges a window's docks for a task and remembers, per task, the user's changes.

    Settings: ``layout/task`` (the chosen task), ``layout/<task>/state`` (``saveState`` of
    what the user made of it) and ``layout/<task>/pristine`` (the user has not moved anything:
    dock sizes follow the window's size again when the layout is restored)."""

    def __init__(
        self,
        window: QMainWindow,
        docks: dict[str, QDockWidget],
        settings,
        version: int,
        layouts: tuple[TaskLayout, ...] = TASK_LAYOUTS,
    ) -> None:
        super().__init__(window)
        self.window, self.docks, self.settings, self.version = window, docks, settings, version
        self.layouts = {layout.key: layout for layout in layouts}
        for layout in layouts:
            if sorted(layout.docks) != sorted(docks):
                raise ValueError(f"layout {layout.key!r} places {sorted(layout.docks)}, not the docks {sorted(docks)}")
        chosen = str(settings.value("layout/task", layouts[0].key))
        self.task = chosen if chosen in self.layouts else layouts[0].key
        self.actions: dict[str, QAction] = {}
        self.pristine = False  # dock sizes are still the layout's own proportions
        self.suspended = False  # the docks are hidden (the welcome page): nothing to size or save
        self._arranging = False
        for dock in docks.values():
            dock.dockLocationChanged.connect(self._on_dock_changed)
            dock.topLevelChanged.connect(self._on_dock_changed)
            dock.toggleViewAction().triggered.connect(self._on_dock_changed)  # View menu
            dock.installEventFilter(self)  # its close button
        window.installEventFilter(self)

    @property
    def current(self) -> TaskLayout:
        return self.layouts[self.task]

    # --- building ----------------------------------------------------------------------------

    def arrange(self) -> None:
        """Put every dock where the current task's layout wants it, in front of its stack as
        planned, and size them if the window has its size (else when it is shown)."""
        names = {name: dock.objectName() for name, dock in self.docks.items()}
        self._arranging = True
        try:
            for dock in self.docks.values():
                dock.setFloating(False)
            # Qt's own restoreState rather than moving docks one by one: moving docks about in a
            # window not yet shown leaves stray tab bars over the menu (Qt 6).
            self.window.restoreState(plan_state(self.current, names, self.version), self.version)
            for dock in self.docks.values():
                dock.show()
            for name in self.current.front:
                self.docks[name].raise_()
        finally:
            self._arranging = False
        self.pristine = True
        if self.window.isVisible():
            self.apply_sizes()

    def apply_sizes(self) -> None:
        """Size the areas and their stacks in proportion to the window's size."""
        window = self.window
        menu, status = window.menuWidget(), window.statusBar()
        size = {
            Qt.Orientation.Horizontal: window.width(),
            Qt.Orientation.Vertical: window.height()
            - (menu.height() if menu else 0)
            - (status.height() if status.isVisible() else 0),
        }
        areas = [(area, self._placed(area.stacks)) for area in self.current.areas]
        if all(placed for _, placed in areas):
            across = areas[0][0].across
            shares = [area.share for area, _ in areas]
            window.resizeDocks([placed[0][0] for _, placed in areas], _split(size[across], shares), across)
        for area, placed in areas:
            if len(placed) > 1:
                shares = [share for _, share in placed]
                window.resizeDocks([dock for dock, _ in placed], _split(size[area.along], shares), area.along)

    def _placed(self, stacks: tuple[Stack, ...]) -> list[tuple[QDockWidget, float]]:
        """Per stack, one of its docks still docked and not closed, with the stack's share."""
        placed = []
        for stack in stacks:
            for name in stack.docks:
                dock = self.docks[name]
                if not dock.isFloating() and not dock.isHidden():
                    placed.append((dock, stack.share))
                    break
        return placed

    # --- choosing, remembering ----------------------------------------------------------------

    def restore(self) -> bool:
        """The current task's layout as the user left it, else its default; True if restored."""
        state = self.settings.value(f"layout/{self.task}/state")
        if isinstance(state, QByteArray) and self.window.restoreState(state, self.version):
            self.pristine = _as_bool(self.settings.value(f"layout/{self.task}/pristine", False))
            if self.pristine and self.window.isVisible():
                self.apply_sizes()
            return True
        self.arrange()
        return False

    def save(self) -> None:
        """Remember the chosen task and what the user made of its layout."""
        self.settings.setValue("layout/task", self.task)
        if not self.suspended:
            self.settings.setValue(f"layout/{self.task}/state", self.window.saveState(self.version))
            self.settings.setValue(f"layout/{self.task}/pristine", self.pristine)

    def switch(self, key: str) -> None:
        """Change to another task's layout (as the user left it, else its default)."""
        if key not in self.layouts:
            raise ValueError(f"no layout called {key!r}; choose one of {', '.join(self.layouts)}")
        if key != self.task:
            self.save()
            self.task = key
            self.settings.setValue("layout/task", key)
            if not self.suspended:
                self.restore()
        if key in self.actions:
            self.actions[key].setChecked(True)

    def reset(self) -> None:
        """The current task's default layout, forgetting the user's changes to it."""
        self.settings.remove(f"layout/{self.task}")
        if not self.suspended:
            self.arrange()

    def suspend(self, suspended: bool) -> None:
        """Hide the docks (while the welcome page is all there is to see), or bring back the
        current task's layout."""
        if suspended == self.suspended:
            return
        if suspended:
            self.save()
            self._arranging = True
            try:
                for dock in self.docks.values():
                    dock.hide()
            finally:
                self._arranging = False
        self.suspended = suspended
        if not suspended:
            self.restore()

    # --- the menu ----------------------------------------------------------------------------

    def add_menu(self, menu: QMenu) -> QMenu:
        """``Layout`` submenu: one checkable action per task, with its shortcut."""
        submenu = menu.addMenu("Layout")
        group = QActionGroup(self)
        for layout in self.layouts.values():
            action = QAction(layout.title, self.window, checkable=True)
            action.setShortcut(QKeySequence(layout.shortcut))
            action.setChecked(layout.key == self.task)
            action.triggered.connect(lambda checked=False, key=layout.key: self.switch(key))
            group.addAction(action)
            submenu.addAction(action)
            self.actions[layout.key] = action
        return submenu

    # --- noticing the user's changes ---------------------------------------------------------

    def _on_dock_changed(self, *args) -> None:
        if not self._arranging and not self.suspended:
            self.pristine = False

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Close and watched is not self.window:
            self._on_dock_changed()
        elif watched is self.window and not self.suspended:
            kind = event.type()
            if kind in (QEvent.Type.Show, QEvent.Type.Resize) and self.pristine and self.window.isVisible():
                self.apply_sizes()
            elif kind == QEvent.Type.MouseButtonPress and self.window.childAt(event.position().toPoint()) is None:
                self.pristine = False  # a press on the window itself: a separator between docks
        return False


def _split(total: int, shares: list[float]) -> list[int]:
    """``total`` pixels in proportion to ``shares``."""
    whole = sum(shares)
    return [int(total * share / whole) for share in shares]


def _as_bool(value) -> bool:
    """QSettings' INI files give booleans back as strings."""
    return value is True or str(value).lower() in ("true", "1")
