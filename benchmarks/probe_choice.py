"""Benchmark: which linear classifier the class-specificity probe (Table 3) should be.

METHOD.md asks for "a linear classifier on flattened, centred single-image masks". On a study's
masks of correctly classified images (the class-balanced sample Table 3 uses), this measures
the held-out accuracy of several linear classifiers over ``--splits`` stratified 85/15 splits,
and the time of one fit: the product's probe (logistic regression on the masks as they are),
the same standardised (the probe before commit a2331e0), and ridge classifiers with and
without standardisation (a standardised ridge was the probe from a2331e0 to this benchmark).

    python benchmarks/probe_choice.py --run RUN [--splits 20] [--csv FILE]

Writes ``benchmarks/probe-choice-<run folder name>.csv``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from speed import ROOT, cpu_machine, record, write_rows
from threadpoolctl import threadpool_limits

from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.contents import RunModels, aligned_image_masks, discover
from fourier_masks.core.study.probe import LogisticProbe, balanced_index, mask_features
from fourier_masks.core.study.report import correct_rows


def candidates() -> dict:
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic regression on the masks (the probe)": LogisticProbe(),
        "logistic regression, standardised": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "ridge classifier, standardised": make_pipeline(StandardScaler(), RidgeClassifier(alpha=1.0)),
        "ridge classifier on the masks": RidgeClassifier(alpha=1.0),
    }


def main() -> int:
    from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a study's run folder")
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    store = ResultsStore(args.run)
    contents = discover(store)
    models = RunModels(store, torch.device("cpu"))
    for group in contents.image_groups():
        masks, inputs, meta = aligned_image_masks(store, group)
        correct = correct_rows(store, contents, models, inputs, meta)
        if isinstance(correct, str):
            continue
        labels = inputs["mask_targets"][correct]
        index = balanced_index(labels, np.random.default_rng(0))
        features, y = mask_features(masks[correct][index]), labels[index]
        splits = StratifiedShuffleSplit(n_splits=args.splits, test_size=0.15, random_state=0)
        name = group.split("/", 1)[-1]
        for label, estimator in candidates().items():
            started = time.perf_counter()
            with warnings.catch_warnings(), threadpool_limits(1):
                warnings.simplefilter("ignore")
                scores = cross_val_score(estimator, features, y, cv=splits)
            per_fit = (time.perf_counter() - started) / args.splits
            note = (
                f"± {100 * scores.std():.1f} over {args.splits} splits, {len(y)} masks; {1000 * per_fit:.0f} ms a fit"
            )
            record(name, label, 100 * scores.mean(), "% held out", note)
    target = Path(args.csv) if args.csv else ROOT / "benchmarks" / f"probe-choice-{Path(args.run).name}.csv"
    write_rows(target, cpu_machine(load))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
