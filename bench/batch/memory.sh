#!/bin/sh
# Peak resident memory of `sluice batch run` on a generated CSV of $1 rows
# (default 25,000,000, about 5.1 GB), into CSV and into Parquet. Memory
# depends on the chunk size and the worker count, not on the file's size:
# compare with a small run (e.g. `bench/batch/memory.sh 1000000`).
set -eu
ROWS=${1:-25000000}
DIR=${DIR:-$(mktemp -d)}
go build -o "$DIR/sluice" ./cmd/sluice
/usr/bin/python3 bench/batch/make_input.py --rows "$ROWS" --out "$DIR/in.csv"
echo "input: $ROWS rows, $(du -h "$DIR/in.csv" | cut -f1)"
for out in csv parquet; do
	/usr/bin/time -f "%e %M" -o "$DIR/time" "$DIR/sluice" batch run --model-file examples/xgboost/breast_cancer.json \
		--input "$DIR/in.csv" --output "$DIR/out.$out" --id-column id --progress off
	read -r wall rss <"$DIR/time"
	echo "csv -> $out: peak RSS $((rss / 1024)) MB, ${wall}s"
	rm -f "$DIR/out.$out"
done
rm -rf "$DIR"
