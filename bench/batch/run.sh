#!/bin/sh
# Batch scoring throughput: Sluice file-to-file (CSV and Parquet, in and
# out) and the model alone, against XGBoost's own predictor on the same rows
# already in memory. Run from the repository root:
#
#   bench/batch/run.sh              # 1,000,000 rows
#   ROWS=200000 bench/batch/run.sh
#
# Needs /usr/bin/python3 with xgboost (Debian python3-xgboost) and GNU time.
# Prints a Markdown table: wall-clock rows/s, and CPU time per row (user +
# system, all threads), which is steadier on a shared machine.
set -eu
ROWS=${ROWS:-1000000}
DIR=${DIR:-$(mktemp -d)}
MODEL=examples/xgboost/breast_cancer.json
go build -o "$DIR/sluice" ./cmd/sluice
/usr/bin/python3 bench/batch/make_input.py --rows "$ROWS" --out "$DIR/in.csv"
"$DIR/sluice" batch convert "$DIR/in.csv" "$DIR/in.parquet"
echo "input: $ROWS rows; CSV $(du -h "$DIR/in.csv" | cut -f1), Parquet $(du -h "$DIR/in.parquet" | cut -f1); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | rows/s (wall) | CPU ns/row | max RSS |"
echo "|---|---:|---:|---:|"
for io in "csv csv" "csv parquet" "parquet parquet" "parquet csv"; do
	set -- $io
	rm -f "$DIR/out.$2"
	/usr/bin/time -f "%e %U %S %M" -o "$DIR/time" "$DIR/sluice" batch run --model-file "$MODEL" \
		--input "$DIR/in.$1" --output "$DIR/out.$2" --id-column id --progress off >/dev/null
	read -r wall user sys rss <"$DIR/time"
	awk -v c="Sluice $1 → $2, file to file" -v n="$ROWS" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
		'BEGIN { printf "| %s | %d | %.0f | %d MB |\n", c, n / w, (u + s) * 1e9 / n, m / 1024 }'
done
go test -run '^$' -bench 'ModelAlone' -benchtime 3x ./internal/batch/ | awk '/rows\/s/ { for (i = 1; i <= NF; i++) if ($i == "rows/s") r = $(i-1); printf "| Sluice model alone, 1M rows in memory | %d | | |\n", r }'
/usr/bin/python3 bench/xgboost/predict_bench.py --rows 1000000 --threads "$(nproc)" --repeat 3 |
	awk '/1000000 rows/ { gsub(",", "", $4); gsub(",", "", $6); printf "| XGBoost inplace_predict, 1M rows in memory | %d | %.0f | |\n", $4, $6 }'
rm -rf "$DIR"
