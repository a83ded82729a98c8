"""The layers hold: the engine loads no Qt, and the app reaches the engine only through the
public names each of its sub-packages states."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "pyqtgraph", "shiboken6")


def test_import_core_loads_no_qt():
    code = (
        "import sys, fourier_masks.core, fourier_masks.core.cli, fourier_masks.core.study, fourier_masks.core.beyond, "
        "fourier_masks.core.figures\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT!r} or m.startswith('fourier_masks.app'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    return [
        n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Import | ast.ImportFrom)
    ]


def test_no_qt_import_statements_in_core():
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in _imports(path):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.split(".")[0] in QT or n.startswith("fourier_masks.app") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_app_uses_only_the_engines_public_names():
    """``from fourier_masks.core.<sub-package> import name`` with ``name`` in that sub-package's
    ``__all__`` (or the engine's own): never a module inside a sub-package, never a private name."""
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        for node in _imports(path):
            if isinstance(node, ast.Import):
                offenders += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if "core" in a.name]
                continue
            module = node.module or ""
            if not module.startswith("fourier_masks.core"):
                continue
            parts = module.split(".")
            public = getattr(importlib.import_module(module), "__all__", ())
            for alias in node.names:
                if len(parts) > 4 or alias.name not in public:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} from {module} import {alias.name}")
    assert offenders == []


def test_every_public_name_is_defined():
    """What each sub-package's ``__all__`` promises exists (a renamed function cannot leave a
    dangling public name behind)."""
    missing = []
    for init in sorted((ROOT / "core").glob("*/__init__.py")):
        module = importlib.import_module(f"fourier_masks.core.{init.parent.name}")
        assert module.__doc__, f"{init} states no purpose"
        missing += [f"{module.__name__}.{name}" for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
