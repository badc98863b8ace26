#!/usr/bin/python3
"""Generates the offline drift test files: baseline.csv (the breast cancer
fixture's first eight features and a categorical "region"), current.csv (a
shifted copy: mean_radius scaled by 1.15, mean_texture plus noise, regions
re-weighted, a few values missing) and expected.json, the list
`sluice drift --baseline baseline.csv --current current.csv -o json`
must print, computed with SciPy and NumPy:

  ks_statistic, ks_pvalue  scipy.stats.ks_2samp(baseline, current)
  chi2, chi2_pvalue        scipy.stats.chisquare(current counts, baseline proportions * n)
  psi                      on the baseline's deciles (numpy.quantile), empty bins as 1e-4
  js                       scipy.spatial.distance.jensenshannon(p, q, base=2) on the PSI bins

Run: /usr/bin/python3 internal/cli/testdata/drift/gen.py (python3-scipy 1.10.1).
"""
import csv
import json
import math
import os

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, "..", "..", "..", ".."))
rng = np.random.default_rng(20261126)
EPS = 1e-4

with open(os.path.join(root, "examples", "xgboost", "breast_cancer.csv")) as f:
    rows = list(csv.reader(f))
head, data = rows[0][:8], np.array([[float(x) for x in r[:8]] for r in rows[1:]])
n = len(data)
regions = rng.choice(["north", "south", "east", "west"], size=n, p=[0.4, 0.3, 0.2, 0.1])

cur = data.copy()
cur[:, 0] *= 1.15
cur[:, 1] += rng.normal(0, 2, n)
cur_regions = rng.choice(["north", "south", "east", "west"], size=n, p=[0.25, 0.25, 0.25, 0.25])
missing = rng.choice(n, 10, replace=False)
cur[missing, 2] = np.nan


def fmt(v):
    return "" if math.isnan(v) else repr(float(v))


for name, mat, reg in [("baseline.csv", data, regions), ("current.csv", cur, cur_regions)]:
    with open(os.path.join(here, name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head + ["region"])
        for r, g in zip(mat, reg):
            w.writerow([fmt(v) for v in r] + [g])


def psi(e, a):
    e, a = e / e.sum(), a / a.sum()
    e = np.where(e == 0, EPS, e)
    a = np.where(a == 0, EPS, a)
    return float(np.sum((a - e) * np.log(a / e)))


out = []
for j, name in enumerate(head):
    x, y = data[:, j], cur[:, j]
    y = y[~np.isnan(y)]
    dec = np.unique(np.quantile(x, np.arange(1, 10) / 10))
    bins = lambda v: np.bincount(np.searchsorted(dec, v, side="left"), minlength=len(dec) + 1).astype(float)
    e, a = bins(x), bins(y)
    ks = stats.ks_2samp(x, y)
    out.append(dict(feature=name, psi=psi(e, a), ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue),
                    js=float(jensenshannon(e / e.sum(), a / a.sum(), base=2))))

labels = sorted(set(regions), key=lambda g: (-int(np.sum(regions == g)), g))
e = np.array([np.sum(regions == g) for g in labels], dtype=float)
a = np.array([np.sum(cur_regions == g) for g in labels], dtype=float)
chi = stats.chisquare(a, e / e.sum() * a.sum())
out.append(dict(feature="region", psi=psi(e, a), chi2=float(chi.statistic), chi2_pvalue=float(chi.pvalue),
                js=float(jensenshannon(e / e.sum(), a / a.sum(), base=2))))
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
