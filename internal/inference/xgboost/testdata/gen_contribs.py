#!/usr/bin/python3
"""Writes XGBoost's own SHAP contributions for every model the tests use.

Run from the testdata directory with Debian's python3-xgboost 1.7.4:

    /usr/bin/python3 gen_contribs.py

For each case NAME (every NAME.expected.json here, and the example models
under examples/xgboost, which are the shared fixtures) it writes
contribs/NAME.json: Booster.predict(pred_contribs=True) on the rows of
NAME.csv, a list per row of [groups][features+1] values (the last one is
the bias: the expected value of the margin). The Go tests read only these
files.
"""

import glob
import json
import os

import numpy as np
import xgboost as xgb

EXAMPLES = "../../../../examples/xgboost"


def load_rows(path):
    with open(path) as fh:
        header = fh.readline().strip().split(",")
        rows = [[float(v) for v in line.strip().split(",")] for line in fh if line.strip()]
    return header, np.array(rows, dtype=np.float32)


def write(name, model_path, csv_path):
    booster = xgb.Booster(model_file=model_path)
    header, X = load_rows(csv_path)
    kwargs = {}
    types = booster.feature_types
    if types is not None and "c" in types:
        kwargs = {"feature_types": types, "enable_categorical": True}
    names = booster.feature_names
    d = xgb.DMatrix(X, missing=np.nan, feature_names=names, **kwargs)
    c = booster.predict(d, pred_contribs=True)
    if c.ndim == 2:
        c = c[:, None, :]
    # Contributions sum to the margin: check before writing.
    margin = booster.predict(d, output_margin=True).reshape(len(X), -1)
    if booster.save_config().find('"gblinear"') < 0:
        err = np.abs(c.sum(axis=2) - margin).max()
        print(name, "max |sum(contribs) - margin|", err, "max |margin|", np.abs(margin).max())
    out = {"model": os.path.basename(model_path), "rows": len(X),
           "groups": int(c.shape[1]), "features": int(c.shape[2]) - 1,
           "contribs": [[[float(str(np.float32(v))) for v in g] for g in row] for row in c]}
    with open(f"contribs/{name}.json", "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")


def main():
    os.makedirs("contribs", exist_ok=True)
    for exp in sorted(glob.glob("*.expected.json")):
        name = exp[: -len(".expected.json")]
        model = json.load(open(exp))["model"]
        write(name, model, f"{name}.csv")
    for name in ("breast_cancer", "diabetes"):
        write("example_" + name, f"{EXAMPLES}/{name}.json", f"{EXAMPLES}/{name}.csv")


if __name__ == "__main__":
    main()
