#!/usr/bin/python3
"""Times XGBoost's own TreeSHAP, Booster.predict(pred_contribs=True), on the
shared fixtures: the reference for Sluice's explanations
(internal/inference/xgboost, BenchmarkExplainRows).

Run from the repository root with Debian's python3-xgboost 1.7.4:

    /usr/bin/python3 bench/explain/contribs_bench.py

For each example model it prints CPU microseconds per row (one thread) for
the whole file as one batch and for single rows, each the median of five
timed runs after a warm-up.
"""

import csv
import statistics
import time

import numpy as np
import xgboost as xgb


def load(name):
    with open(f"examples/xgboost/{name}.csv") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = np.array([[float(v) for v in r] for r in reader], dtype=np.float32)
    b = xgb.Booster(model_file=f"examples/xgboost/{name}.json")
    b.set_param({"nthread": 1})
    return b, header, rows


def cpu_us_per_row(fn, rows, repeat=5):
    fn()
    out = []
    for _ in range(repeat):
        n, start = 0, time.process_time()
        while time.process_time() - start < 0.5:
            fn()
            n += 1
        out.append((time.process_time() - start) / (n * rows) * 1e6)
    return statistics.median(out)


def main():
    for name in ("breast_cancer", "diabetes"):
        b, header, rows = load(name)
        batch = xgb.DMatrix(rows, feature_names=header)
        one = xgb.DMatrix(rows[:1], feature_names=header)
        print(f"{name}: batch of {len(rows)}: {cpu_us_per_row(lambda: b.predict(batch, pred_contribs=True), len(rows)):.1f} us/row; "
              f"single row: {cpu_us_per_row(lambda: b.predict(one, pred_contribs=True), 1):.1f} us/row")


if __name__ == "__main__":
    main()
