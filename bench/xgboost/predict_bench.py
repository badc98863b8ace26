#!/usr/bin/python3
"""Times XGBoost's own Booster.inplace_predict on the breast_cancer example.

The reference for Sluice's pure-Go runtime (internal/inference/xgboost):
the same model and rows as its BenchmarkPredict* benchmarks. Run from the
repository root with the interpreter that has xgboost (Debian's
python3-xgboost at /usr/bin/python3):

    /usr/bin/python3 bench/xgboost/predict_bench.py [--rows 100000] [--threads 2]

It prints rows/s (wall clock) and CPU nanoseconds per row (all threads) for
one large batch, for 1000-row batches and for single rows, each the median
of several timed runs after a warm-up. On a shared machine the CPU time per
row is the steadier of the two.
"""

import argparse
import csv
import statistics
import time

import numpy as np
import xgboost as xgb

MODEL = "examples/xgboost/breast_cancer.json"
DATA = "examples/xgboost/breast_cancer.csv"


def load_rows():
    with open(DATA) as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, np.array([[float(v) for v in row] for row in reader], dtype=np.float32)


def rate(fn, rows, repeat, min_seconds=0.5):
    """Median rows/s (wall) and CPU ns per row of repeat timed runs of fn."""
    fn()  # warm up
    rates, cpu = [], []
    for _ in range(repeat):
        n = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(rows * n / elapsed)
        cpu.append((time.process_time() - cpu_start) * 1e9 / (rows * n))
    return statistics.median(rates), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows in the large batch")
    ap.add_argument("--threads", type=int, default=2, help="XGBoost nthread")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    ap.add_argument("--large-only", action="store_true", help="time only the large batch")
    args = ap.parse_args()

    booster = xgb.Booster(model_file=MODEL)
    booster.set_param({"nthread": args.threads})
    names, base = load_rows()
    big = np.ascontiguousarray(np.tile(base, (args.rows // len(base) + 1, 1))[: args.rows])
    batch = np.ascontiguousarray(np.tile(base, (2, 1))[:1000])
    one = np.ascontiguousarray(base[:1])

    # Sanity check: inplace_predict agrees with predict on a DMatrix.
    want = booster.predict(xgb.DMatrix(base, missing=np.nan, feature_names=names))
    got = booster.inplace_predict(base, missing=np.nan)
    assert np.allclose(want, got, rtol=1e-6, atol=1e-7)

    print(f"xgboost {xgb.__version__}, nthread={args.threads}, model {MODEL}")
    cases = [(f"{args.rows} rows", big), ("1000 rows", batch), ("1 row", one)]
    if args.large_only:
        cases = cases[:1]
    for name, data in cases:
        r, c = rate(lambda: booster.inplace_predict(data, missing=np.nan), len(data), args.repeat)
        print(f"inplace_predict {name:>12}: {r:12,.0f} rows/s {c:10,.1f} cpu-ns/row")


if __name__ == "__main__":
    main()
