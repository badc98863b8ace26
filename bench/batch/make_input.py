#!/usr/bin/python3
"""Writes a CSV of ROWS rows: an id column and the breast_cancer features,
the example's 569 rows tiled. Used by bench/batch/run.sh and the memory
check (make bench-batch-memory), which asks for billions of bytes.

    python3 bench/batch/make_input.py --rows 1000000 --out /tmp/in.csv
"""

import argparse

DATA = "examples/xgboost/breast_cancer.csv"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(DATA) as fh:
        header, *rows = fh.read().strip().split("\n")
    with open(args.out, "w", buffering=1 << 22) as out:
        out.write("id," + header + "\n")
        n = 0
        while n < args.rows:
            block = []
            for r in rows:
                if n == args.rows:
                    break
                block.append(f"{n},{r}\n")
                n += 1
            out.write("".join(block))


if __name__ == "__main__":
    main()
