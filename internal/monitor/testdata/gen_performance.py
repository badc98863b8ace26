#!/usr/bin/python3
"""Generates testdata/performance.json: scikit-learn reference values for
performance.go (metrics from late labels).

Run: /usr/bin/python3 internal/monitor/testdata/gen_performance.py
(Debian's python3-sklearn 1.2.1, numpy). The Go tests read the JSON only.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, f1_score, log_loss, mean_absolute_error,
                             mean_squared_error, precision_score, recall_score, roc_auc_score)

rng = np.random.default_rng(20261126)
cases = []


def fl(a):
    return [float(x) for x in np.asarray(a, dtype=float).ravel()]


def binary(name, y, p):
    pred = (p >= 0.5).astype(int)
    cases.append(dict(
        name=name, kind="binary", width=1, labels=fl(y), scores=fl(p),
        accuracy=accuracy_score(y, pred), precision=precision_score(y, pred),
        recall=recall_score(y, pred), f1=f1_score(y, pred),
        roc_auc=roc_auc_score(y, p), log_loss=log_loss(y, p, labels=[0, 1])))


# Continuous scores: the binned AUC is within its stated bound.
n = 2000
y = rng.integers(0, 2, n)
p = np.clip(1 / (1 + np.exp(-(1.3 * (2 * y - 1) + rng.normal(size=n)))), 1e-9, 1 - 1e-9)
binary("binary continuous scores", y, p)
# Scores at bin centres: the binned AUC is exact.
y = rng.integers(0, 2, 500)
p = (rng.integers(0, 1000, 500) + 0.5) / 1000
p = np.where(y == 1, np.minimum(p + 0.2, 0.9995), p)
binary("binary scores at bin centres", y, p)
# The breast cancer fixture: XGBoost's own probabilities and the labels.
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, "..", "..", ".."))
with open(os.path.join(root, "examples", "xgboost", "breast_cancer.expected.json")) as f:
    exp = json.load(f)
probs = np.asarray(exp["predictions"] if isinstance(exp, dict) else exp, dtype=float).ravel()
from sklearn.datasets import load_breast_cancer
yb = load_breast_cancer().target
binary("breast cancer fixture (xgboost)", yb, probs)

# Multi-class probabilities.
k, n = 4, 600
y = rng.integers(0, k, n)
logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
pred = prob.argmax(axis=1)
cases.append(dict(
    name="multiclass 4", kind="multiclass", width=k, labels=fl(y), scores=fl(prob),
    accuracy=accuracy_score(y, pred), precision=precision_score(y, pred, average="macro"),
    recall=recall_score(y, pred, average="macro"), f1=f1_score(y, pred, average="macro"),
    log_loss=log_loss(y, prob, labels=list(range(k)))))

# Regression.
n = 300
y = rng.normal(10, 3, n)
yhat = y + rng.normal(0.5, 1.5, n)
cases.append(dict(name="regression", kind="regression", width=1, labels=fl(y), scores=fl(yhat),
                  rmse=float(np.sqrt(mean_squared_error(y, yhat))), mae=mean_absolute_error(y, yhat)))

with open(os.path.join(here, "performance.json"), "w") as f:
    json.dump(dict(sklearn=sklearn.__version__, cases=cases), f)
    f.write("\n")
