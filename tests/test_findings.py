"""The findings table judges the paper's findings by its stated rules, and says
'inconclusive' where a run has too few images."""

import numpy as np
import pytest

from fourier_masks.core.study.findings import findings_table, wilson_interval
from fourier_masks.core.tables import Table


def _table(name, columns, rows):
    table = Table.build(name, name, [(c, "") for c in columns])
    for row in rows:
        table.add_row(*row)
    return table


def _verdicts(table, finding):
    return {row[1]: row[5] for row in table.rows if row[0] == finding}


def test_wilson_interval_known_values():
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)


def test_each_finding_follows_its_rule():
    table1 = _table("table1", ["model", "masked / unmasked"], [["N", 99.4], ["A", 97.0]])
    upper = np.linspace(1, 22.6, 8)  # 32-px bands to the corner: the cut is at 8 cycles/image
    radial = _table(
        "energy-radial",
        ["band", "to", "A - N"],
        [[b, float(u), 0.02 if u <= 8 else -0.01] for b, u in enumerate(upper)],
    )
    table2 = _table(
        "table2",
        ["model", "images (correct)", "X", "Mc(X)", "attack reversal", "flipped by attack"],
        [["N", 100, 100.0, 40.0, 70.0, 90], ["A", 10, 100.0, 40.0, 60.0, 5]],
    )
    table3 = _table(
        "table3",
        [
            "masks",
            "masks used",
            "test accuracy",
            "test accuracy std",
            "shuffled-label accuracy",
            "shuffled-label std",
            "chance",
        ],
        [["N", 60, 80.0, 5.0, 20.0, 5.0, 20.0], ["A", 60, 25.0, 5.0, 20.0, 5.0, 20.0], ["S", 1, "", "", "", "", ""]],
    )
    kept = {"N": np.array([0.05, 0.1, 0.2]), "A": np.array([0.3, 0.5])}
    tables = {"table1": table1, "energy-radial": radial, "table2": table2, "table3": table3}
    findings = findings_table(tables, kept)

    assert _verdicts(findings, "dataset mask keeps accuracy") == {"N": "agrees", "A": "disagrees"}
    assert _verdicts(findings, "adversarial training moves mask energy to low frequencies") == {"A": "agrees"}
    assert _verdicts(findings, "single-image masks keep few frequencies") == {"N": "agrees", "A": "disagrees"}
    # A has 10 images: too few to judge a rate.
    assert _verdicts(findings, "accuracy on Mᶜ(X) drops sharply") == {"N": "agrees", "A": "inconclusive"}
    # 63 of 90 reversed: interval above 50 %; 3 of 5: the interval spans 50 %.
    assert _verdicts(findings, "M(X_A) restores the clean prediction") == {"N": "agrees", "A": "inconclusive"}
    # A's gap (5 points) is within 2 std of the difference (14.1 points).
    # S has no probe (too few correct images): no verdict.
    assert _verdicts(findings, "single-image masks are class-specific") == {
        "N": "agrees",
        "A": "inconclusive",
        "S": "inconclusive",
    }


def test_energy_moving_to_high_frequencies_disagrees():
    upper = np.linspace(1, 22.6, 8)
    radial = _table(
        "energy-radial",
        ["band", "to", "A - N"],
        [[b, float(u), -0.02 if u <= 8 else 0.01] for b, u in enumerate(upper)],
    )
    findings = findings_table({"energy-radial": radial}, {})
    assert _verdicts(findings, "adversarial training moves mask energy to low frequencies") == {"A": "disagrees"}


def test_a_run_without_tables_reports_nothing_as_agreeing():
    findings = findings_table({}, {})
    assert findings.rows and all(row[5] == "inconclusive" for row in findings.rows)
