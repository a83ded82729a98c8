"""The tqdm adapter: engine progress events as one bar per stage, in a notebook or a terminal.

tqdm writes to a StringIO here (``file=``); ``mininterval=0`` draws every update."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from fourier_masks.core import ConfigError, Progress, TqdmProgress, TrainConfig, load_builtin, train_model
from fourier_masks.core.progress import StudyProgress


def _bars(buffer: io.StringIO) -> list[str]:
    """The last drawing of each closed bar: tqdm ends a closed bar's line with a newline."""
    return [line.split("\r")[-1] for line in buffer.getvalue().split("\n")[:-1]]


def test_one_bar_per_stage_closed_when_the_next_stage_starts():
    buffer = io.StringIO()
    with TqdmProgress(file=buffer, mininterval=0) as bars:
        for done in range(4):
            bars(Progress("train", done, 10, f"epoch {done}", elapsed_s=0.5 * done))
        assert buffer.getvalue().count("\n") == 0  # still open
        bars(Progress("masks", 1, 3, elapsed_s=1.0))
        assert _bars(buffer)[0].startswith("train:  30%")  # closed as it stood
        assert "3/10" in _bars(buffer)[0] and "epoch 3" in _bars(buffer)[0] and "ETA" in _bars(buffer)[0]
        bars(Progress("masks", 3, 3, elapsed_s=3.0))  # finished: closed at once
        assert len(_bars(buffer)) == 2 and "3/3" in _bars(buffer)[1]
        bars(Progress("masks", 3, 3, elapsed_s=3.1))  # a late event of the finished stage
    assert len(_bars(buffer)) == 2


def test_a_stage_counting_again_gets_a_new_bar_and_close_ends_an_unfinished_one():
    buffer = io.StringIO()
    bars = TqdmProgress(file=buffer, mininterval=0)
    bars(Progress("train", 5, 10))
    bars(Progress("train", 1, 10))  # the next model
    bars(Progress("train", 2.5, 10))
    assert len(_bars(buffer)) == 1  # the first model's bar, closed
    bars.close()  # a cancelled job: its bar is closed too
    lines = _bars(buffer)
    assert len(lines) == 2 and "5/10" in lines[0] and "2.5/10" in lines[1]
    bars.close()  # twice is harmless


def test_study_events_drive_one_bar_for_the_whole_study():
    buffer = io.StringIO()
    with TqdmProgress(file=buffer, mininterval=0) as bars:
        for k, (stage, fraction) in enumerate([("study", 0.0), ("train", 0.2), ("masks", 0.6), ("study", 0.8)]):
            study = StudyProgress(step=k + 1, steps=4, name=f"step {k}", fraction=fraction, eta_s=None)
            bars(Progress(stage, k, 4, study=study))
    (line,) = _bars(buffer)
    assert line.startswith("study:  80%") and "step 3" in line


@pytest.mark.slow  # training, however small: seconds on a busy 2-core machine
def test_real_training_shows_its_batches():
    data = load_builtin("shapes", train_per_class=8, val_per_class=2, size=16)
    buffer = io.StringIO()
    config = TrainConfig(epochs=2, batch_size=16, crop_scale=(1.0, 1.0), hflip=False)
    with TqdmProgress(file=buffer, mininterval=0) as bars:
        train_model(data.train, data.val, config=config, on_progress=bars, cancel=threading.Event())
    lines = _bars(buffer)
    batches = 2 * -(-len(data.train.images) // 16)
    assert lines and lines[-1].startswith("train: 100%") and f"{batches}/{batches}" in lines[-1]


def test_without_tqdm_it_says_how_to_install_it(monkeypatch):
    for module in ("tqdm", "tqdm.auto"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it now fails
    with pytest.raises(ConfigError, match="pip install tqdm"):
        TqdmProgress()
