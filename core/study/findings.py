"""The findings table: for each of the main paper's findings, what this run measured, the
paper's value beside it, and whether it agrees, by a rule that can come out either way.

Each finding is judged on figures the masks were not fitted to, beside a control that would
show the same effect by chance, so a reader can check it by hand:

- **Dataset masks keep accuracy**: on the *held-out* half of the validation set (Table 1),
  masked / unmasked accuracy ≥ 99 % (the stop rule's own bar, METHOD.md §2) agrees; a masked
  accuracy whose 95 % Wilson interval lies wholly below 99 % of the unmasked one disagrees. A
  mask that never met its stop rule, or has no held-out images, gives no verdict.
- **Mask energy moves to low frequencies**: per augmentation, the model − N radial energy
  difference summed below and above the cut (half the Nyquist frequency along an axis, the
  low/high boundary of the band-limited noise evaluation), against the *noise floor*: the
  largest such sum between N's dataset masks learned with different data-order seeds. The paper
  claims it for adversarial training (A); for the others it makes no claim. A further row
  compares A's shift with the largest of the others' (the paper's central comparison).
- **Single-image masks keep few frequencies**: mean kept fraction below
  :data:`SPARSE_KEPT_FRACTION`, over the masks that kept the prediction (the others counted).
- **M(X) keeps the prediction, Mᶜ(X) loses it, M(X_A) reverses attacks**: the image's own
  mask against three controls (:mod:`.controls`: another image's mask of the same class, of
  another class, a low-pass disk of the same size). Agrees only where the own mask beats every
  control with the 95 % Wilson intervals apart (and, for Mᶜ(X), the drop is at least
  :data:`SHARP_DROP`); disagrees where a control does at least as well; inconclusive between, or
  with fewer than :data:`MIN_IMAGES` images.
- **Masks are class-specific**: the linear probe's permutation p-value (Table 3) below
  :data:`SIGNIFICANCE` agrees; at or above it with at least :data:`MIN_IMAGES` masks disagrees.

The ``versus paper`` column says whether the paper's figure lies within our 95 % interval, or
whether our effect is stronger or weaker than the paper's, where the paper gives a figure (for
accuracy on Mᶜ(X) a lower rate is the stronger effect).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from ..tables import Table

SPARSE_KEPT_FRACTION = 0.25
SHARP_DROP = 0.25
MIN_IMAGES = 20  # fewer images than this: no verdict on a rate
SIGNIFICANCE = 0.05
ACCURACY_BAR = 0.99  # the dataset-mask stop rule's share of the unmasked accuracy

AGREES, DISAGREES, INCONCLUSIVE, NO_CLAIM = "agrees", "disagrees", "inconclusive", "no claim"
BUILTIN_CAVEAT = (
    "the built-in data were built to show these effects (planted by design): agreement there shows the "
    "method finds them, not that they hold on natural images"
)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (sound for small counts and rates near 0 or 1)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ImageMaskOutcomes:
    """One model's clean single-image masks: kept fraction per mask and whether each kept the
    prediction (None where the run did not record it)."""

    kept_fraction: np.ndarray
    prediction_kept: np.ndarray | None


def _rows(table: Table | None) -> list[dict[str, Any]]:
    if table is None:
        return []
    names = [c.name for c in table.columns]
    return [dict(zip(names, row)) for row in table.rows]


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and math.isfinite(value)


def versus_paper(paper: float, low: float, high: float, *, higher_is_stronger: bool = True) -> str:
    """Where the paper's figure (a fraction) lies against our 95 % interval, said as an effect:
    for a rate where lower means a stronger effect (accuracy on Mᶜ(X)), an interval above the
    paper's figure is the weaker effect."""
    ours = f"ours {100 * low:.0f}–{100 * high:.0f} %"
    if low <= paper <= high:
        return f"the paper's ≈{100 * paper:.0f} % lies within ours ({100 * low:.0f}–{100 * high:.0f} %)"
    stronger = (paper < low) == higher_is_stronger
    return f"{'stronger' if stronger else 'weaker'} than the paper's ≈{100 * paper:.0f} % ({ours})"


def findings_table(
    tables: Mapping[str, Table],
    image_masks: Mapping[str, ImageMaskOutcomes],
    *,
    reference: str = "N",
    adversarial: str = "A",
    data: str | None = None,
) -> Table:
    """The paper's findings judged on this run.

    ``tables``: the run's tables by name (``table1``, ``controls``, ``table3``,
    ``energy-shift``; missing ones give "not measured" rows). ``image_masks``: each model's
    clean single-image masks. ``data``: the run's data (its spec), named in the notes.
    """
    notes = [
        "Rules: “Verdicts that can disagree” in The science (the app's Help menu); 'inconclusive': the run cannot decide (too few images, "
        "no held-out images or noise floor, or intervals that overlap)."
    ]
    if data is not None:
        notes.append(f"Data: {data}.")
        if data == "builtin" or data.startswith("builtin:"):
            notes.append(f"Caveat: {BUILTIN_CAVEAT}.")
    table = Table.build(
        "findings",
        "Findings of the paper, as measured in this run",
        [
            ("finding", ""),
            ("model", ""),
            ("paper", ""),
            ("measured", ""),
            ("rule", ""),
            ("verdict", ""),
            ("versus paper", ""),
        ],
        notes=" ".join(notes),
    )
    _dataset_masks(table, tables.get("table1"))
    _energy_shift(table, tables.get("energy-shift"), reference, adversarial)
    _sparsity(table, image_masks)
    controls = _rows(tables.get("controls"))
    _masked_keeps_prediction(table, controls)
    _complement_drop(table, controls)
    _reversal(table, controls)
    _class_specificity(table, tables.get("table3"))
    return table


def _dataset_masks(table: Table, table1: Table | None) -> None:
    finding, paper = "dataset mask keeps accuracy", "masked ≈ unmasked accuracy"
    rule = "held-out masked / unmasked ≥ 99 %, stop rule met"
    rows = _rows(table1)
    if not rows:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE, "")
    for row in rows:
        n, ratio = int(row.get("held-out images") or 0), row["masked / unmasked"]
        kept = f"keeps {row['kept fraction']:.1f} % of the spectrum"
        if n == 0 or not _finite(ratio):
            measured = f"learned on every validation image, no held-out images ({kept})"
            table.add_row(finding, row["model"], paper, measured, rule, INCONCLUSIVE, "")
            continue
        learning = row["masked / unmasked (learning images)"]
        measured = f"held out {ratio:.1f} % on {n} images (learning images {learning:.1f} %), {kept}"
        masked_low, masked_high = wilson_interval(round(n * row["masked accuracy"] / 100), n)
        if row["stop rule met"] != "yes":
            measured += f"; stop rule never met in {row['epochs run']} epochs (the mask of epoch {row['epoch kept']})"
            verdict = INCONCLUSIVE
        elif ratio >= 100 * ACCURACY_BAR:
            verdict = AGREES
        elif masked_high < ACCURACY_BAR * row["accuracy"] / 100:
            verdict = DISAGREES
        else:
            verdict = INCONCLUSIVE
        table.add_row(finding, row["model"], paper, measured, rule, verdict, "")


def _energy_shift(table: Table, shift: Table | None, reference: str, adversarial: str) -> None:
    finding = "mask energy moves to low frequencies"
    rows = _rows(shift)
    models = [r for r in rows if r["kind"] == "augmentation"]
    seeds = [r for r in rows if r["kind"] == "seed"]
    rule = (
        f"Σ(model − {reference}) > floor below the cut and < −floor above it; floor: largest |Σ| between "
        f"{reference}'s dataset masks learned with other seeds (same model)"
    )
    if not models:
        table.add_row(finding, adversarial, "A − N > 0 at low radii", "not measured", rule, INCONCLUSIVE, "")
        return
    floor_low = max((abs(r["below"]) for r in seeds), default=float("nan"))
    floor_high = max((abs(r["above"]) for r in seeds), default=float("nan"))
    floor = (
        f"noise floor ±{floor_low:.2g} / ±{floor_high:.2g} from {len(seeds)} seed pair(s)"
        if seeds
        else f"no noise floor (no dataset masks of {reference} with other seeds)"
    )
    shifts: dict[str, float] = {}
    for row in models:
        model = row["comparison"].split(" - ")[0]
        low, high = row["below"], row["above"]
        shifts[model] = low
        measured = f"Σ below {row['cut']:.1f} cycles/image {low:+.3f}, above {high:+.3f}; {floor}"
        if not seeds:
            verdict = INCONCLUSIVE
        elif low > floor_low and high < -floor_high:
            verdict = AGREES
        elif low <= 0:
            verdict = DISAGREES
        else:
            verdict = INCONCLUSIVE
        if model == adversarial:
            table.add_row(finding, model, "A − N > 0 at low radii", measured, rule, verdict, "")
        else:
            beyond = {AGREES: "a shift beyond the floor", DISAGREES: "no low-frequency shift"}
            measured += f" ({beyond.get(verdict, 'within the floor')})"
            table.add_row(finding, model, "not claimed (not necessarily)", measured, rule, NO_CLAIM, "")
    _shift_depends_on_augmentation(table, shifts, floor_low if seeds else None, adversarial)


def _shift_depends_on_augmentation(
    table: Table, shifts: dict[str, float], floor: float | None, adversarial: str
) -> None:
    finding, paper = "the low-frequency shift depends on the augmentation", "A shows it, the others not necessarily"
    rule = "A's Σ below the cut exceeds every other model's by more than the noise floor"
    others = {m: v for m, v in shifts.items() if m != adversarial}
    if adversarial not in shifts or not others:
        table.add_row(finding, adversarial, paper, "needs A and another augmentation", rule, INCONCLUSIVE, "")
        return
    largest = max(others, key=lambda m: others[m])
    gap = shifts[adversarial] - others[largest]
    measured = f"A {shifts[adversarial]:+.3f} vs the largest other ({largest}) {others[largest]:+.3f}"
    if floor is None:
        measured += "; no noise floor"
        verdict = INCONCLUSIVE
    else:
        measured += f"; floor ±{floor:.2g}"
        verdict = AGREES if gap > floor else DISAGREES if gap <= 0 else INCONCLUSIVE
    table.add_row(finding, f"{adversarial} vs {', '.join(sorted(others))}", paper, measured, rule, verdict, "")


def _sparsity(table: Table, image_masks: Mapping[str, ImageMaskOutcomes]) -> None:
    finding, paper = "single-image masks keep few frequencies", "very sparse masks"
    rule = "mean kept fraction < 25 % over masks that kept the prediction"
    if not image_masks:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE, "")
    for model, outcome in image_masks.items():
        kept = np.asarray(outcome.kept_fraction)
        if outcome.prediction_kept is None:
            counted, lost = kept, "whether each kept the prediction is not recorded"
        else:
            counted = kept[outcome.prediction_kept]
            lost = f"{int((~outcome.prediction_kept).sum())} lost the prediction and are left out"
        if len(counted) == 0:
            table.add_row(finding, model, paper, f"no masks that kept the prediction; {lost}", rule, INCONCLUSIVE, "")
            continue
        mean = float(np.mean(counted))
        verdict = AGREES if mean < SPARSE_KEPT_FRACTION else DISAGREES
        measured = f"mean {100 * mean:.1f} %, max {100 * float(np.max(counted)):.1f} % ({len(counted)} masks; {lost})"
        table.add_row(finding, model, paper, measured, rule, verdict, "")


def _controlled(
    table: Table,
    rows: list[dict[str, Any]],
    *,
    finding: str,
    paper: str,
    column: str,
    count: str,
    higher_is_better: bool,
    paper_rate: float | None = None,
    extra: Any = None,
) -> None:
    """One verdict per model: the own mask's rate (``column``, over ``count``) against each
    control's, by the 95 % intervals."""
    direction = "above" if higher_is_better else "below"
    rule = f"own mask's 95 % interval {direction} every control's"
    if extra is not None:
        rule += f"; {extra[0]}"
    if not rows:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE, "")
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = {r["mask"]: r for r in rows if r["model"] == model}
        own = mine.get("own")
        controls = {k: v for k, v in mine.items() if k != "own" and int(v[count]) > 0}
        n = int(own[count]) if own else 0
        if own is None or n == 0 or not controls:
            table.add_row(finding, model, paper, f"{n} images", rule, INCONCLUSIVE, "")
            continue
        sign = 1 if higher_is_better else -1
        best = max(controls, key=lambda k: sign * controls[k][column])
        measured = f"own {own[column]:.1f} % ({n} images) vs " + ", ".join(
            f"{k} {v[column]:.1f} %" for k, v in controls.items()
        )
        apart = all(
            own[f"{column} low"] > c[f"{column} high"]
            if higher_is_better
            else own[f"{column} high"] < c[f"{column} low"]
            for c in controls.values()
        )
        if n < MIN_IMAGES:
            verdict = INCONCLUSIVE
        elif sign * controls[best][column] >= sign * own[column]:
            verdict = DISAGREES
            measured += f"; {best} does as well"
        elif apart and (extra is None or extra[1](own)):
            verdict = AGREES
        elif extra is not None and not extra[1](own):
            verdict = DISAGREES
        else:
            verdict = INCONCLUSIVE
        vs = ""
        if paper_rate is not None:
            vs = versus_paper(
                paper_rate,
                own[f"{column} low"] / 100,
                own[f"{column} high"] / 100,
                higher_is_stronger=higher_is_better,
            )
        table.add_row(finding, model, paper, measured, rule, verdict, vs)


def _masked_keeps_prediction(table: Table, controls: list[dict[str, Any]]) -> None:
    _controlled(
        table,
        controls,
        finding="M(X) keeps the prediction (the image's own mask)",
        paper="M(X) classified as X",
        column="M(X)",
        count="images",
        higher_is_better=True,
    )


def _complement_drop(table: Table, controls: list[dict[str, Any]]) -> None:
    _controlled(
        table,
        controls,
        finding="accuracy on Mᶜ(X) drops sharply",
        paper="≈45 % lower than on X",
        column="Mc(X)",
        count="images",
        higher_is_better=False,
        paper_rate=0.55,  # ≈45 % lower than X's 100 %
        extra=("drop ≥ 25 %", lambda own: 1 - own["Mc(X)"] / 100 >= SHARP_DROP),
    )


def _reversal(table: Table, controls: list[dict[str, Any]]) -> None:
    _controlled(
        table,
        controls,
        finding="M(X_A) restores the clean prediction",
        paper="≈60 % of attacks reversed",
        column="M(X_A)",
        count="flipped by attack",
        higher_is_better=True,
        paper_rate=0.60,
    )


def _class_specificity(table: Table, table3: Table | None) -> None:
    finding, paper = "single-image masks are class-specific", "probe ≫ shuffled-label control"
    rule = f"permutation p-value < {SIGNIFICANCE}"
    rows = _rows(table3)
    if not rows:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE, "")
    for row in rows:
        accuracy, pvalue = row["test accuracy"], row.get("p-value")
        if not (_finite(accuracy) and _finite(pvalue)):
            note = row.get("note") or "no permutation test (a run reported before it existed: report it again)"
            table.add_row(finding, row["masks"], paper, note, rule, INCONCLUSIVE, "")
            continue
        measured = (
            f"{accuracy:.1f} % vs {row['shuffled-label accuracy']:.1f} % permuted (chance {row['chance']:.1f} %), "
            f"p = {pvalue:.3f} over {row['permutations']} permutations, {row['masks used']} masks"
        )
        if pvalue < SIGNIFICANCE:
            verdict = AGREES
        else:
            verdict = DISAGREES if int(row["masks used"]) >= MIN_IMAGES else INCONCLUSIVE
        table.add_row(finding, row["masks"], paper, measured, rule, verdict, "")
