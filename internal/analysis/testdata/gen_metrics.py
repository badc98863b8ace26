#!/usr/bin/python3
"""Generates testdata/metrics.json: reference values for metrics.go.

Run: /usr/bin/python3 internal/analysis/testdata/gen_metrics.py
Accuracy, ROC AUC, RMSE and log loss come from scikit-learn; the fairness
metrics follow fairlearn's definitions (max - min across groups of the
selection rate / true-positive rate; min / max selection rate), computed
with numpy.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, roc_auc_score

rng = np.random.default_rng(20261125)
cases = []


def fair(y_true, y_pred, groups):
    names = sorted(set(groups))
    sel, tpr, sizes, pos_sizes = [], [], [], []
    for g in names:
        m = np.array([x == g for x in groups])
        sel.append(float(np.mean(y_pred[m])))
        sizes.append(int(m.sum()))
        p = m & (y_true == 1)
        tpr.append(float(np.mean(y_pred[p])))
        pos_sizes.append(int(p.sum()))
    return {
        "group_names": names,
        "selection_rates": sel,
        "group_sizes": sizes,
        "tpr": tpr,
        "positive_sizes": pos_sizes,
        "demographic_parity_difference": max(sel) - min(sel),
        "equal_opportunity_difference": max(tpr) - min(tpr),
        "disparate_impact_ratio": min(sel) / max(sel),
    }


for i, n in enumerate([12, 100, 1000, 5000]):
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    # Scores rounded to 2 decimals give many ties, as real models do.
    score = np.clip(np.round(0.3 * y + rng.random(n) * 0.7, 2), 0, 1)
    if i == 0:
        score[2] = 0.0  # exercise log loss clipping
        score[3] = 1.0
    pred = (score >= 0.5).astype(int)
    groups = [["a", "b", "c"][k] for k in rng.integers(0, 3, n)]
    groups[0:6] = ["a", "a", "b", "b", "c", "c"]
    # Make every group have a positive label.
    for j, g in enumerate(["a", "b", "c"]):
        groups[n - 1 - j] = g
        y[n - 1 - j] = 1
    yr = rng.normal(3, 2, n)
    yhat = yr + rng.normal(0, 0.5, n)
    case = {
        "name": f"n{n}",
        "y_true": y.tolist(),
        "score": score.tolist(),
        "y_pred": pred.tolist(),
        "groups": groups,
        "y_reg": yr.tolist(),
        "y_reg_pred": yhat.tolist(),
        "accuracy": float(accuracy_score(y, pred)),
        "roc_auc": float(roc_auc_score(y, score)),
        "log_loss": float(log_loss(y, score)),
        "rmse": float(np.sqrt(mean_squared_error(yr, yhat))),
    }
    case.update(fair(y, pred, groups))
    cases.append(case)

out = {"generator": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}", "cases": cases}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
