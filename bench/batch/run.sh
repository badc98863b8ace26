#!/bin/sh
# Batch scoring throughput: Sluice file-to-file (CSV and Parquet, in and
# out) and the model alone, against XGBoost's own predictor on the same rows
# already in memory. Run from the repository root:
#
#   bench/batch/run.sh              # 1,000,000 rows, 5 rounds
#   ROWS=200000 ROUNDS=3 bench/batch/run.sh
#
# Each round measures XGBoost and then every Sluice case once, so each
# ratio is taken within a round; on a shared machine XGBoost's own rate
# moves a lot from minute to minute. The table gives per case the median
# wall-clock rows/s, the median CPU time per row (user + system, all
# threads, the steadier figure) and the median and range of the per-round
# ratios to XGBoost.
#
# Needs /usr/bin/python3 with xgboost (Debian python3-xgboost) and GNU time.
set -eu
ROWS=${ROWS:-1000000}
ROUNDS=${ROUNDS:-5}
DIR=${DIR:-$(mktemp -d)}
MODEL=examples/xgboost/breast_cancer.json
go build -o "$DIR/sluice" ./cmd/sluice
go test -c -o "$DIR/batch.test" ./internal/batch/
/usr/bin/python3 bench/batch/make_input.py --rows "$ROWS" --out "$DIR/in.csv"
"$DIR/sluice" batch convert "$DIR/in.csv" "$DIR/in.parquet"
echo "input: $ROWS rows; CSV $(du -h "$DIR/in.csv" | cut -f1), Parquet $(du -h "$DIR/in.parquet" | cut -f1); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds"
echo
: >"$DIR/rows"
for round in $(seq "$ROUNDS"); do
	/usr/bin/python3 bench/xgboost/predict_bench.py --rows "$ROWS" --threads "$(nproc)" --repeat 3 --large-only |
		awk -v r="$round" '/inplace_predict/ { gsub(",", "", $4); gsub(",", "", $6); print r, "xgboost", $4, $6, 0 }' >>"$DIR/rows"
	for io in "csv csv" "csv parquet" "parquet parquet" "parquet csv"; do
		set -- $io
		rm -f "$DIR/out.$2"
		/usr/bin/time -f "%e %U %S %M" -o "$DIR/time" "$DIR/sluice" batch run --model-file "$MODEL" \
			--input "$DIR/in.$1" --output "$DIR/out.$2" --id-column id --progress off >/dev/null
		read -r wall user sys rss <"$DIR/time"
		awk -v r="$round" -v c="$1-$2" -v n="$ROWS" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
			'BEGIN { printf "%d %s %d %.0f %d\n", r, c, n / w, (u + s) * 1e9 / n, m / 1024 }' >>"$DIR/rows"
	done
	(cd internal/batch && "$DIR/batch.test" -test.run '^$' -test.bench 'ModelAlone' -test.benchtime 3x) |
		awk -v r="$round" '/rows\/s/ { for (i = 1; i <= NF; i++) if ($i == "rows/s") print r, "model", $(i-1), 0, 0 }' >>"$DIR/rows"
done
/usr/bin/python3 - "$DIR/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
xgb = {r: float(rate) for r, c, rate, _, _ in rows if c == "xgboost"}
names = {"csv-csv": "Sluice CSV → CSV, file to file", "csv-parquet": "Sluice CSV → Parquet, file to file",
         "parquet-parquet": "Sluice Parquet → Parquet, file to file", "parquet-csv": "Sluice Parquet → CSV, file to file",
         "model": "Sluice model alone, rows in memory", "xgboost": "XGBoost inplace_predict, rows in memory"}
print("| case | rows/s (wall, median) | CPU ns/row (median) | max RSS | ratio to XGBoost: median (range) |")
print("|---|---:|---:|---:|---:|")
for c, name in names.items():
    got = [(r, float(rate), float(cpu), int(rss)) for r, cc, rate, cpu, rss in rows if cc == c]
    if not got:
        continue
    rate = statistics.median(g[1] for g in got)
    cpu = statistics.median(g[2] for g in got)
    rss = max(g[3] for g in got)
    ratios = [g[1] / xgb[g[0]] for g in got if g[0] in xgb]
    ratio = "" if c == "xgboost" else f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"
    cpu = f"{cpu:,.0f}" if cpu else ""
    rss = f"{rss} MB" if rss else ""
    print(f"| {name} | {rate:,.0f} | {cpu} | {rss} | {ratio} |")
PY
rm -rf "$DIR"
