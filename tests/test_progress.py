"""Progress that tells the truth: the ETA rule, the mask engine's forecast of when masks stop,
and the study's cost model, each with known answers (a fake clock, synthetic events)."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
import torch
from test_pipeline import tiny_study

from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.masks.engine import batch_steps_left, forecast_stops, learn_image_masks
from fourier_masks.core.models.checkpoints import save_checkpoint
from fourier_masks.core.progress import (
    CostModel,
    Countdown,
    JobEta,
    OverallProgress,
    Progress,
    format_eta,
)
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.pipeline import _Study


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the ETA rule ------------------------------------------------------------------------------


def test_progress_eta_is_measured_time_per_unit_of_work_times_work_left():
    assert Progress("train", 0, 100, elapsed_s=3.0).eta_s is None  # no step time measured yet
    assert Progress("train", 25, 100, elapsed_s=5.0).eta_s == pytest.approx(15.0)  # as before
    # Masks: time per batch step × batch steps expected to be left, not the step budget.
    masks = Progress("image-masks", 1_000, 64_000, elapsed_s=2.0, work_done=20, work_left=180)
    assert masks.eta_s == pytest.approx(18.0) and masks.work_fraction == pytest.approx(0.1)


def test_no_eta_until_a_step_time_is_measured():
    clock = FakeClock()
    eta = JobEta(clock)
    assert eta.text() == ""  # no job
    eta.observe(Progress("train", 0, 100, elapsed_s=4.0))
    assert eta.seconds is None and eta.text() == "estimating…"
    eta.observe(Progress("train", 10, 100, elapsed_s=5.0))
    assert eta.seconds == pytest.approx(45.0)
    clock.now = 5.0
    assert eta.seconds == pytest.approx(40.0) and eta.text() == "40 s"


def test_an_upper_bound_reads_as_one():
    eta = JobEta(FakeClock())
    eta.observe(Progress("image-masks", 10, 1_000, elapsed_s=2.0, work_done=10, work_left=890, left_is_bound=True))
    assert eta.seconds == pytest.approx(178.0) and eta.text() == "≤ 2 min 58 s"
    eta.observe(Progress("image-masks", 50, 1_000, elapsed_s=10.0, work_done=50, work_left=50))
    assert eta.text() == "10 s"  # a mask stopped: an estimate now, lower than the bound


def test_the_shown_eta_never_rises_while_the_work_left_shrinks():
    """Random rates and forecasts, the work left shrinking: sampled every 0.1 s between events,
    the figure never goes up, and a late job slows its countdown rather than running out."""
    rng = np.random.default_rng(0)
    clock = FakeClock()
    eta = JobEta(clock)
    left, done, elapsed, shown = 1_000.0, 0.0, 0.0, []
    while left > 0:
        step = float(rng.uniform(5, 40))
        elapsed += step * float(rng.uniform(0.01, 0.05))  # the rate wanders
        done, left = done + step, max(0.0, left - step * float(rng.uniform(0.5, 1.5)))
        for _ in range(5):
            clock.now += 0.1
            if eta.seconds is not None:
                shown.append(eta.seconds)
        eta.observe(Progress("image-masks", done, done + left, elapsed_s=elapsed, work_done=done, work_left=left))
        shown.append(eta.seconds)
    assert all(b <= a + 1e-9 for a, b in zip(shown, shown[1:]))


def test_a_straggler_shows_finishing_not_a_rising_figure():
    clock = FakeClock()
    eta = JobEta(clock)
    eta.observe(Progress("image-masks", 50, 100, elapsed_s=10.0, work_done=50, work_left=50))
    assert eta.seconds == pytest.approx(10.0)
    clock.now = 12.0  # the last mask runs past its expected stop: no work expected to be left
    eta.observe(Progress("image-masks", 99, 100, elapsed_s=22.0, work_done=110, work_left=0))
    assert eta.text() == "finishing…"
    eta.observe(Progress("image-masks", 100, 100, elapsed_s=23.0, work_done=111, work_left=0))
    assert eta.text() == ""  # done


def test_a_late_job_counts_down_more_slowly_instead_of_rising():
    clock = FakeClock()
    countdown = Countdown()
    countdown.update(0.0, 60.0)
    clock.now = 10.0
    countdown.update(10.0, 100.0)  # behind: the fresh estimate says 100 s, the figure shows 50
    assert countdown.left(10.0) == pytest.approx(50.0)
    assert countdown.left(20.0) == pytest.approx(45.0)  # half a second per second (50/100)
    countdown.update(20.0, 30.0)  # a lower estimate replaces it at once
    assert countdown.left(20.0) == pytest.approx(30.0) and countdown.left(25.0) == pytest.approx(25.0)


def test_a_new_job_starts_a_new_eta():
    clock = FakeClock()
    eta = JobEta(clock)
    eta.observe(Progress("train", 90, 100, elapsed_s=90.0))
    assert eta.seconds == pytest.approx(10.0)
    eta.observe(Progress("train", 1, 100, elapsed_s=2.0))  # the next model: counts from less
    assert eta.seconds == pytest.approx(198.0)


def test_eta_texts():
    assert format_eta(None) == "estimating…"
    assert format_eta(0.2) == "finishing…"
    assert format_eta(176, bound=True) == "≤ 2 min 56 s" and format_eta(176, compact=True) == "2m56s"


# --- when masks stop -----------------------------------------------------------------------------


def test_before_any_mask_stops_the_forecast_is_the_cap():
    forecast = forecast_stops(np.array([], dtype=int), np.array([100, 250]), 1_000)
    assert forecast.bound and forecast.mean == 1_000
    assert forecast.residual(np.array([100, 250])).tolist() == [900, 750]


def test_stopped_masks_give_the_expected_stop_step():
    """Two masks stopped at 10 and 20 steps: a mask takes 15 on average, and one learning at
    step 15 has 5 to go."""
    forecast = forecast_stops(np.array([10, 20]), np.array([], dtype=int), 100)
    assert not forecast.bound
    assert forecast.mean == pytest.approx(15.0)
    assert forecast.residual(np.array([15]))[0] == pytest.approx(5.0)


def test_masks_still_learning_count_as_stopping_later():
    """One mask stopped at 10, one learns on at 30 (cap 40): the median of the stopped ones
    alone (10) would promise too early an end. Kaplan–Meier: half stop at 10, the other half
    after 30, falling linearly to the cap: 10 + 21 × 0.5 + 0.05 × (1 + … + 9) = 22.75."""
    forecast = forecast_stops(np.array([10]), np.array([30]), 40)
    assert forecast.mean == pytest.approx(22.75)
    assert forecast.residual(np.array([30]))[0] == pytest.approx(5.5)  # it stops at 31 … 40, evenly


def test_the_queue_forecast_refills_freed_slots():
    # Slots free after 0, 10 and 20 batch steps; three images wait, 100 steps each.
    assert batch_steps_left(np.array([10.0, 20.0]), 1, 3, 100.0) == 120.0
    assert batch_steps_left(np.array([5.0, 7.0]), 0, 0, 100.0) == 7.0


def _queue_by_hand(residuals, free_slots: int, waiting: int, per_mask: float) -> float:
    """The reference: every waiting image to the slot that frees first, one at a time."""
    free_at = sorted([float(r) for r in residuals] + [0.0] * free_slots)
    if not free_at:
        return 0.0
    heapq.heapify(free_at)
    for _ in range(waiting):
        heapq.heappush(free_at, heapq.heappop(free_at) + per_mask)
    return max(free_at)


def test_the_queue_forecast_equals_filling_slots_one_image_at_a_time():
    rng = np.random.default_rng(0)
    for _ in range(2_000):
        slots, free, waiting = int(rng.integers(0, 10)), int(rng.integers(0, 4)), int(rng.integers(0, 40))
        per_mask = float(rng.choice([1.0, 7.0, 100.0, rng.uniform(0.5, 300)]))
        residuals = rng.integers(0, 500, slots).astype(float) if rng.random() < 0.5 else rng.uniform(0, 500, slots)
        expected = _queue_by_hand(residuals, free, waiting, per_mask)
        assert batch_steps_left(residuals, free, waiting, per_mask) == pytest.approx(expected)


def test_the_engine_bounds_its_eta_until_a_mask_stops(tiny_model):
    """Twelve images in four slots: until a mask stops, the work left is every mask at its
    cap (an upper bound); after, an estimate; at the end, none."""
    config = ImageMaskConfig(max_steps=200, check_every=10, batch_size=4, patience=30, invariance_tol=1.0, kept_tol=1.0)
    images = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    events: list[Progress] = []
    learn_image_masks(tiny_model, images, config=config, on_progress=events.append)
    first = events[0]
    assert first.left_is_bound and first.work_done == 10
    assert first.work_left == pytest.approx((200 - 10) + 2 * 200)  # this batch, then two more
    stopped = [e for e in events if e.payload.get("masks_done", 0) > 0 and "steps" in e.payload]
    assert stopped and not any(e.left_is_bound for e in stopped)
    assert all(e.payload["expected_steps"] < 200 for e in stopped)
    assert events[-1].work_left == 0 and events[-1].finished


# --- the study's cost model ---------------------------------------------------------------------


def test_the_cost_model_times_what_it_measured_and_pools_the_rest():
    clock = FakeClock()
    costs = CostModel({"training": 1.0, "image-masks": 2.0}, clock=clock)
    costs.add("train N", 1, "training", items=100, per_item=1)
    costs.add("masks N", 2, "image-masks", items=10, per_item=5, bound=True)  # 50 units
    costs.add("train S", 3, "training", items=0)  # found in the store: costs nothing
    assert costs.seconds_left() == (None, False)  # nothing measured yet
    costs.begin("train N")
    clock.now = 10.0
    costs.observe(Progress("train", 50, 100, elapsed_s=10.0))
    # Training: 10 s for 50 units, 0.2 s a unit; masks, not yet timed: twice that per unit.
    left, bound = costs.seconds_left()
    assert left == pytest.approx(50 * 0.2 + 50 * 0.4) and bound
    clock.now = 20.0
    costs.end("train N")
    costs.revise("image-masks", 3.0)  # masks stopped: 3 steps each, an estimate now
    assert costs.seconds_left() == (pytest.approx(30 * 0.4), False)


def test_a_running_part_of_several_jobs_counts_each():
    clock = FakeClock()
    costs = CostModel({"class-masks": 1.0}, clock=clock)
    costs.add("class/N", 8, "class-masks", items=30, per_item=1, jobs=3)
    costs.begin("class/N")
    clock.now = 3.0
    costs.observe(Progress("class-mask disk", 10, 10, elapsed_s=3.0))
    assert costs.parts["class/N"].fraction == pytest.approx(1 / 3)
    costs.observe(Progress("class-mask ring", 5, 10, elapsed_s=1.0))
    assert costs.parts["class/N"].fraction == pytest.approx(1.5 / 3)
    assert costs.seconds_left()[0] == pytest.approx(3.0)  # as long again as it ran


def test_a_parts_first_quick_sub_step_does_not_set_its_pace():
    """The report, 80 s by its prior: its first sub-step (1/80 of its cost) takes 0.3 s. Its
    own pace (0.3 s a unit) weighs 0.0125 / (0.0125 + 0.1) of the rate; the prior the rest."""
    clock = FakeClock()
    costs = CostModel({}, prior_rates={"report": 1.0}, clock=clock)
    costs.add("report", 11, "report", 80)
    costs.begin("report")
    clock.now = 0.3
    costs.observe(Progress("report", 1, 8, work_done=1, work_left=79))
    trust = 0.0125 / 0.1125
    rate = trust * 0.3 + (1 - trust) * 1.0
    assert costs.rates()["report"] == pytest.approx(rate)
    assert costs.seconds_left()[0] == pytest.approx(79 * rate)  # not 79 × 0.3 = 23.7 s


STEPS = [f"step {k}" for k in range(1, 13)]


def test_the_study_bar_holds_its_twelve_steps_and_only_grows():
    """Synthetic study: training, masks that run late (a rising estimate), then the report's
    eight sub-steps. The study's step count stays k/12, its fraction never goes back, and its
    ETA never rises."""
    clock = FakeClock()
    events: list[Progress] = []
    costs = CostModel({"training": 1.0, "image-masks": 1.0}, prior_rates={"report": 1.0}, clock=clock)
    overall = OverallProgress(STEPS, costs, events.append, clock=clock)
    costs.add("train N", 1, "training", 100)
    costs.add("masks N", 4, "image-masks", 100)
    costs.add("report", 11, "report", 20)
    overall.step(0)
    assert events[-1].study is not None and events[-1].study.eta_s is None  # estimating…
    clock.now = 1.0
    costs.mark()
    overall.step(1)
    costs.begin("train N")
    for k in range(1, 11):
        clock.now += 1.0
        overall.relay(Progress("train", 10 * k, 100, elapsed_s=k))
    costs.end("train N")
    costs.end_step(1)
    overall.step(4)
    costs.begin("masks N")
    for k in range(1, 11):
        clock.now += 3.0  # three times slower than training: the estimate rises
        overall.relay(Progress("image-masks", 10 * k, 100, elapsed_s=3 * k))
    costs.end("masks N")
    overall.step(11)
    costs.begin("report")
    for k in range(8):
        clock.now += 2.0
        overall.relay(Progress("report", k, 8, f"sub-step {k + 1}", work_done=k, work_left=8 - k))
    costs.end("report")
    overall.finish()
    studies = [e.study for e in events if e.study is not None]
    assert all(s.steps == 12 for s in studies)
    report = [e for e in events if e.stage == "report"]
    assert [e.study.step for e in report if e.study is not None] == [12] * 8  # through the sub-steps
    fractions = [s.fraction for s in studies]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and max(fractions[:-1]) < 1.0
    etas = [s.eta_s for s in studies if s.eta_s is not None]
    assert etas and all(b <= a + 1e-9 for a, b in zip(etas, etas[1:]))
    estimates = [s.estimate_s for s in studies if s.estimate_s is not None]
    assert any(b > a for a, b in zip(estimates, estimates[1:]))  # the estimate did rise


def test_the_study_costs_each_step_from_its_settings(tmp_path):
    """The tiny study's plan, by hand: 240 training and 36 validation images (18 learn the set
    masks, 18 get single-image masks), 6 epochs, adversarial training with 2 PGD steps."""
    study = _Study(tiny_study(), ResultsStore(tmp_path), "cpu", None, None)
    study.load_data()
    units = {key: part.units for key, part in study.costs.parts.items()}
    assert units == pytest.approx(
        {
            "train N": 6 * (240 + 36 / 3),
            "train A": 6 * (240 * 3 + 36 / 3),
            **{f"train {code}": 6 * (240 + 36 / 3) for code in "STR"},
            **{f"set/{code}": 2 * 18 * 4 / 3 for code in "NASTR"},
            "set/N-seed1": 2 * 18 * 4 / 3,
            "class/N": 2 * 18 * 4 / 3,
            "attack N": 18 * 10,
            "attack A": 18 * 10,
            "image masks N": 2 * 18 * 20,  # clean and adversarial, at the step cap
            "image masks A": 18 * 20,
            "report": 3 * 20 + 5 * 4,
        }
    )
    assert study.costs.parts["image masks N"].bound and study.costs.parts["set/A"].bound
    assert study.costs.parts["class/N"].jobs == 6
    assert [step.name for step in study.steps()] == study.overall.steps and len(study.overall.steps) == 12


def test_what_a_resumed_study_holds_costs_nothing(tmp_path, tiny_model):
    store = ResultsStore(tmp_path)
    save_checkpoint(tiny_model, store.model_path("N"))  # trained before the study was stopped
    study = _Study(tiny_study(), store, "cpu", None, None)
    study.load_data()
    assert "train N" not in study.costs.parts and "train A" in study.costs.parts
