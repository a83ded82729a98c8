"""The desktop entry point: the window opens and closes headless; the launcher dispatches."""

import pytest

pytest.importorskip("PySide6")


def test_main_window_opens_and_closes(qtbot):
    from app.main import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle() == "Fourier Masks"
    assert not window.windowIcon().isNull()
    window.close()


def test_launcher_runs_headless_subcommands_without_qt(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from app.launch import main\n"
        "status = main(['info', sys.argv[1]])\n"
        "print('QT' if any(m.startswith('PySide6') for m in sys.modules) else 'NOQT', status)\n"
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"format": "fourier-masks/run", "version": 1}')
    out = subprocess.run([sys.executable, "-c", code, str(run)], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "NOQT 0"
