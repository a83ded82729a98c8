"""The findings table: for each of the main paper's findings, what this run measured and
whether it agrees, with no verdict the run's data cannot support.

Each finding is judged by a stated rule on the run's own tables (Table 1–3 and the radial
energies), so a reader can check it by hand:

- **Dataset masks keep accuracy**: masked / unmasked accuracy ≥ 99 % per model (the set-mask
  stop rule's own bar, METHOD.md §2).
- **Adversarial training moves mask energy to low frequencies**: the A − N radial energy
  difference summed over the bands below the cut (half the Nyquist frequency along an axis,
  the same low/high boundary as the band-limited noise evaluation) is positive and the sum
  above it negative.
- **Single-image masks keep few frequencies**: mean kept fraction below
  :data:`SPARSE_KEPT_FRACTION` (the masks drop most of the spectrum); the maximum is shown.
- **Mᶜ(X) loses accuracy** (the paper: ≈45 % lower): the relative drop from X to Mᶜ(X) is at
  least :data:`SHARP_DROP`, and the 95 % Wilson intervals of the two accuracies do not overlap.
- **M(X_A) reverses attacks** (the paper: ≈60 % of them): the 95 % Wilson interval of the
  reversal rate lies above 50 % (agrees), below it (disagrees), or across it (inconclusive:
  too few attacked images).
- **Masks are class-specific**: the linear probe beats its shuffled-label control by more than
  two standard deviations of their difference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..tables import Table

SPARSE_KEPT_FRACTION = 0.25
SHARP_DROP = 0.25
MIN_IMAGES = 20  # fewer images than this: no verdict on a rate

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (sound for small counts and rates near 0 or 1)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rows(table: Table | None) -> list[dict[str, Any]]:
    if table is None:
        return []
    names = [c.name for c in table.columns]
    return [dict(zip(names, row)) for row in table.rows]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def findings_table(
    tables: Mapping[str, Table],
    kept_fractions: Mapping[str, np.ndarray],
    *,
    reference: str = "N",
    adversarial: str = "A",
) -> Table:
    """The paper's findings judged on this run.

    ``tables``: the run's tables by name (``table1``, ``table2``, ``table3``,
    ``energy-radial``; missing ones give "not measured" rows). ``kept_fractions``: each
    model's single-image kept fractions (clean images).
    """
    table = Table.build(
        "findings",
        "Findings of the paper, as measured in this run",
        [("finding", ""), ("model", ""), ("paper", ""), ("measured", ""), ("rule", ""), ("verdict", "")],
        notes="Rules are stated in fourier_masks/core/study/findings.py; 'inconclusive' means the run has too few images to decide.",
    )
    _dataset_masks(table, tables.get("table1"))
    _energy_shift(table, tables.get("energy-radial"), reference, adversarial)
    _sparsity(table, kept_fractions)
    table2 = _rows(tables.get("table2"))
    _complement_drop(table, table2)
    _reversal(table, table2)
    _class_specificity(table, tables.get("table3"))
    return table


def _dataset_masks(table: Table, table1: Table | None) -> None:
    finding, paper = "dataset mask keeps accuracy", "masked ≈ unmasked accuracy"
    rows = _rows(table1)
    if not rows:
        table.add_row(finding, "", paper, "not measured", "masked / unmasked ≥ 99 %", INCONCLUSIVE)
    for row in rows:
        ratio = row["masked / unmasked"]
        verdict = (AGREES if ratio >= 99 else DISAGREES) if _finite(ratio) else INCONCLUSIVE
        table.add_row(finding, row["model"], paper, f"{ratio:.1f} %", "masked / unmasked ≥ 99 %", verdict)


def _energy_shift(table: Table, radial: Table | None, reference: str, adversarial: str) -> None:
    finding, paper = "adversarial training moves mask energy to low frequencies", "A − N > 0 at low radii"
    difference = f"{adversarial} - {reference}"
    if radial is None or difference not in [c.name for c in radial.columns]:
        table.add_row(finding, adversarial, paper, "not measured", "", INCONCLUSIVE)
        return
    upper = np.asarray(radial.column("to"), dtype=float)
    delta = np.asarray(radial.column(difference), dtype=float)
    # Bands run from the centre to the corner, at √2 times the Nyquist frequency along an axis.
    cut = upper[-1] / math.sqrt(2) / 2
    low, high = delta[upper <= cut + 1e-9].sum(), delta[upper > cut + 1e-9].sum()
    verdict = AGREES if low > 0 and high < 0 else DISAGREES
    table.add_row(
        finding,
        adversarial,
        paper,
        f"Σ below {cut:.1f} cycles/image {low:+.3f}, above {high:+.3f}",
        "Σ(A − N) > 0 below half the axis Nyquist frequency and < 0 above it",
        verdict,
    )


def _sparsity(table: Table, kept_fractions: Mapping[str, np.ndarray]) -> None:
    finding, paper, rule = "single-image masks keep few frequencies", "very sparse masks", "mean kept fraction < 25 %"
    if not kept_fractions:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE)
    for model, kept in kept_fractions.items():
        if len(kept) == 0:
            table.add_row(finding, model, paper, "no masks", rule, INCONCLUSIVE)
            continue
        mean = float(np.mean(kept))
        verdict = AGREES if mean < SPARSE_KEPT_FRACTION else DISAGREES
        measured = f"mean {100 * mean:.1f} %, max {100 * float(np.max(kept)):.1f} % ({len(kept)} masks)"
        table.add_row(finding, model, paper, measured, rule, verdict)


def _complement_drop(table: Table, rows: list[dict[str, Any]]) -> None:
    finding, paper = "accuracy on Mᶜ(X) drops sharply", "≈45 % lower than on X"
    rule = "relative drop ≥ 25 %, 95 % intervals of X and Mᶜ(X) apart"
    if not rows:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE)
    for row in rows:
        n, clean, complement = int(row["images (correct)"]), row["X"], row["Mc(X)"]
        if n < MIN_IMAGES or not (_finite(clean) and _finite(complement)) or clean == 0:
            table.add_row(finding, row["model"], paper, f"{n} images", rule, INCONCLUSIVE)
            continue
        drop = 1 - complement / clean
        clean_low, _ = wilson_interval(round(n * clean / 100), n)
        _, complement_high = wilson_interval(round(n * complement / 100), n)
        if drop < SHARP_DROP:
            verdict = DISAGREES
        else:
            verdict = AGREES if complement_high < clean_low else INCONCLUSIVE
        measured = f"X {clean:.1f} % → Mᶜ(X) {complement:.1f} % ({100 * drop:.0f} % lower, {n} images)"
        table.add_row(finding, row["model"], paper, measured, rule, verdict)


def _reversal(table: Table, rows: list[dict[str, Any]]) -> None:
    finding, paper = "M(X_A) restores the clean prediction", "≈60 % of attacks reversed"
    rule = "95 % interval of the reversal rate above 50 %"
    if not rows:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE)
    for row in rows:
        attacked, rate = int(row["flipped by attack"]), row["attack reversal"]
        if attacked == 0 or not _finite(rate):
            table.add_row(finding, row["model"], paper, "no successful attacks", rule, INCONCLUSIVE)
            continue
        reversed_ = round(attacked * rate / 100)
        low, high = wilson_interval(reversed_, attacked)
        verdict = AGREES if low > 0.5 else DISAGREES if high < 0.5 else INCONCLUSIVE
        measured = f"{reversed_} of {attacked} ({rate:.1f} %, 95 % CI {100 * low:.0f}–{100 * high:.0f} %)"
        table.add_row(finding, row["model"], paper, measured, rule, verdict)


def _class_specificity(table: Table, table3: Table | None) -> None:
    finding, paper = "single-image masks are class-specific", "probe ≫ shuffled-label control"
    rule = "probe − shuffled > 2 std of the difference"
    rows = _rows(table3)
    if not rows:
        table.add_row(finding, "", paper, "not measured", rule, INCONCLUSIVE)
    for row in rows:
        accuracy, shuffled = row["test accuracy"], row["shuffled-label accuracy"]
        if not (_finite(accuracy) and _finite(shuffled)):
            table.add_row(finding, row["masks"], paper, row.get("note") or "no probe", rule, INCONCLUSIVE)
            continue
        spread = math.hypot(row["test accuracy std"], row["shuffled-label std"])
        gap = accuracy - shuffled
        verdict = AGREES if gap > 2 * spread else DISAGREES if gap <= 0 else INCONCLUSIVE
        measured = f"{accuracy:.1f} % vs {shuffled:.1f} % (chance {row['chance']:.1f} %, {row['masks used']} masks)"
        table.add_row(finding, row["masks"], paper, measured, rule, verdict)
