"""Benchmark: the wall clock and peak memory of a whole command, recorded under a label.

Runs the command after ``--`` (its output passes through), measures its wall clock and the peak
resident memory of its largest process (``getrusage(RUSAGE_CHILDREN)``, as ``/usr/bin/time -v``
reports it), and records them with the command's last output line (a study's "Finished in …",
pytest's summary) in ``benchmarks/commands-cpu.csv``, replacing the rows of an earlier run with
the same label. Run from the repository root:

    python benchmarks/commands.py --label "demo --quick" -- fourier-masks demo --quick --out /tmp/demo
    python benchmarks/commands.py --label "contributors' loop" -- python -m pytest -m "not slow" -q

The machine's 1-minute load average before and after is kept with each row: on a shared machine
a command competes with whatever else runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["label", "metric", "value", "unit", "note"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="the row's name in the CSV (a later run replaces it)")
    parser.add_argument("--csv", default=str(ROOT / "benchmarks" / "commands-cpu.csv"))
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    last: deque[str] = deque(maxlen=1)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as child:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.write(line)
            if line.strip():
                last.append(line.strip())
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    shown = " ".join(command)
    rows = [
        {
            "label": args.label,
            "metric": "wall clock",
            "value": f"{seconds:.1f}",
            "unit": "s",
            "note": f"{shown} (exit status {child.returncode}; {os.cpu_count()} CPUs, load average "
            f"{load:.1f} before, {os.getloadavg()[0]:.1f} after)",
        },
        {
            "label": args.label,
            "metric": "peak resident memory",
            "value": f"{peak_mb:.0f}",
            "unit": "MB",
            "note": "of its largest process",
        },
        {"label": args.label, "metric": "last output line", "value": "", "unit": "", "note": last[0] if last else ""},
    ]
    target = Path(args.csv)
    kept = []
    if target.exists():
        with open(target, newline="") as handle:
            kept = [row for row in csv.DictReader(handle) if row["label"] != args.label]
    with open(target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(kept + rows)
    print(f"\n{args.label}: {seconds:.0f} s, peak {peak_mb:.0f} MB -> {target}")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
