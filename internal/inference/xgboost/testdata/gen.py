#!/usr/bin/python3
"""Regenerates the XGBoost fixtures the xgboost package tests against.

Run from this directory with the interpreter that has xgboost and sklearn
(Debian's python3-xgboost 1.7.4 and python3-sklearn 1.2.1 live at
/usr/bin/python3):

    /usr/bin/python3 gen.py

Each case writes NAME.json (or NAME.ubj), NAME.csv (header = feature names
in model order, "nan" = missing) and NAME.expected.json holding
Booster.predict on a DMatrix built with missing=NaN. The Go tests read these
files only; they never run Python. Keep the models small: the whole testdata
folder should stay at a few hundred KB.
"""

import json
import math

import numpy as np
import xgboost as xgb
from sklearn import datasets

RNG = np.random.default_rng(20240601)


def fmt(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    return repr(v)


def write_case(name, booster, X_test, *, feature_names=None, feature_types=None,
               ext="json", note=""):
    """Saves booster and its predictions on X_test under name."""
    booster.save_model(f"{name}.{ext}")
    kwargs = {}
    if feature_types is not None:
        kwargs = {"feature_types": feature_types, "enable_categorical": True}
    dtest = xgb.DMatrix(X_test, missing=np.nan, feature_names=feature_names, **kwargs)
    pred = booster.predict(dtest)
    # Reload from disk and predict again: what is on disk is what we test.
    reloaded = xgb.Booster(model_file=f"{name}.{ext}")
    pred2 = reloaded.predict(dtest)
    assert np.array_equal(pred, pred2, equal_nan=True), name
    n, f = X_test.shape
    header = feature_names or [f"f{i}" for i in range(f)]
    with open(f"{name}.csv", "w") as fh:
        fh.write(",".join(header) + "\n")
        for row in X_test:
            fh.write(",".join(fmt(v) for v in row) + "\n")
    config = json.loads(booster.save_config())
    objective = config["learner"]["objective"]["name"]
    preds = pred.tolist()
    with open(f"{name}.expected.json", "w") as fh:
        json.dump({"model": f"{name}.{ext}", "objective": objective, "rows": n,
                   "note": note, "predictions": preds}, fh)
        fh.write("\n")


def split(X, y, n_test):
    idx = RNG.permutation(len(X))
    test, train = idx[:n_test], idx[n_test:]
    return X[train], y[train], X[test]


def train(params, X, y, rounds, feature_names=None, feature_types=None, **dm):
    kwargs = {}
    if feature_types is not None:
        kwargs = {"feature_types": feature_types, "enable_categorical": True}
    d = xgb.DMatrix(X, y, missing=np.nan, feature_names=feature_names, **kwargs, **dm)
    params = dict(params)
    params.setdefault("nthread", 1)
    params.setdefault("seed", 7)
    return xgb.train(params, d, rounds)


def iris():
    data = datasets.load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    X, y = data.data, data.target.astype(float)
    Xtr, ytr, Xte = split(X, y, 40)
    b = train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3},
              Xtr, ytr, 12, feature_names=names)
    write_case("iris_softprob", b, Xte, feature_names=names, note="multi:softprob, 3 classes")
    b = train({"objective": "multi:softmax", "num_class": 3, "max_depth": 2, "eta": 0.3},
              Xtr, ytr, 8)
    write_case("iris_softmax", b, Xte, note="multi:softmax, no feature names")
    b = train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "eta": 0.5,
               "num_parallel_tree": 3, "subsample": 0.8, "colsample_bynode": 0.8},
              Xtr, ytr, 4, feature_names=names)
    write_case("iris_forest", b, Xte, feature_names=names,
               note="multi:softprob with num_parallel_tree=3")
    # The UBJSON layout (the default in XGBoost 2.x).
    write_case("iris_softprob_ubj", train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3},
        Xtr, ytr, 6, feature_names=names), Xte, feature_names=names, ext="ubj",
        note="multi:softprob saved as UBJSON")


def regression_data(n=400, f=5):
    X = RNG.normal(size=(n, f))
    mu = 0.8 * X[:, 0] - 0.5 * X[:, 1] + 0.3 * X[:, 2] * X[:, 3]
    return X, mu


def link_objectives():
    X, mu = regression_data()
    cases = {
        "poisson": ({"objective": "count:poisson", "max_depth": 3, "eta": 0.3},
                    RNG.poisson(np.exp(mu * 0.7 + 0.5)).astype(float)),
        "gamma": ({"objective": "reg:gamma", "max_depth": 3, "eta": 0.3},
                  RNG.gamma(2.0, np.exp(mu * 0.5) / 2.0)),
        "tweedie": ({"objective": "reg:tweedie", "tweedie_variance_power": 1.4,
                     "max_depth": 3, "eta": 0.3},
                    np.where(RNG.random(len(mu)) < 0.3, 0.0, RNG.gamma(2.0, np.exp(mu * 0.5)))),
        "reg_logistic": ({"objective": "reg:logistic", "max_depth": 3, "eta": 0.3,
                          "base_score": 0.3},
                         1 / (1 + np.exp(-mu))),
        "squaredlogerror": ({"objective": "reg:squaredlogerror", "max_depth": 3, "eta": 0.3},
                            np.exp(mu * 0.5) * 3),
        "pseudohuber": ({"objective": "reg:pseudohubererror", "max_depth": 3, "eta": 0.5,
                         "base_score": 0.1},
                        mu + RNG.standard_t(2, len(mu))),
        "absoluteerror": ({"objective": "reg:absoluteerror", "max_depth": 3, "eta": 0.5},
                          mu + RNG.laplace(size=len(mu))),
        "cox": ({"objective": "survival:cox", "max_depth": 3, "eta": 0.3},
                np.where(RNG.random(len(mu)) < 0.2, -1, 1) * RNG.exponential(np.exp(-mu))),
    }
    for name, (params, y) in cases.items():
        Xtr, ytr, Xte = split(X, y, 30)
        b = train(params, Xtr, ytr, 10)
        write_case(name, b, Xte, note=params["objective"])
    # count:poisson with a user-set base_score: stored as 2.5, applied as log(2.5).
    y = RNG.poisson(np.exp(mu * 0.7 + 0.5)).astype(float)
    Xtr, ytr, Xte = split(X, y, 30)
    b = train({"objective": "count:poisson", "max_depth": 2, "base_score": 2.5}, Xtr, ytr, 5)
    write_case("poisson_base_score", b, Xte, note="count:poisson, base_score 2.5")


def binary():
    X, y = datasets.make_classification(n_samples=400, n_features=6, n_informative=4,
                                        random_state=3)
    y = y.astype(float)
    Xtr, ytr, Xte = split(X, y, 40)
    b = train({"objective": "binary:logitraw", "max_depth": 3, "base_score": 0.2}, Xtr, ytr, 10)
    write_case("logitraw", b, Xte, note="binary:logitraw, base_score 0.2")
    b = train({"objective": "binary:hinge", "max_depth": 3}, Xtr, ytr, 10)
    write_case("hinge", b, Xte, note="binary:hinge")
    b = train({"booster": "dart", "objective": "binary:logistic", "max_depth": 3,
               "rate_drop": 0.4, "skip_drop": 0.0, "one_drop": 1, "sample_type": "weighted",
               "normalize_type": "forest"}, Xtr, ytr, 15)
    write_case("dart", b, Xte, note="dart booster, binary:logistic")
    b = train({"booster": "gblinear", "objective": "binary:logistic", "eta": 0.5}, Xtr, ytr, 10)
    Xte_nan = Xte.copy()
    Xte_nan[RNG.random(Xte.shape) < 0.2] = np.nan
    write_case("gblinear", b, Xte_nan, note="gblinear, binary:logistic, missing test values")
    # Ranking: the output is the raw margin.
    group = [20] * (len(Xtr) // 20)
    d = xgb.DMatrix(Xtr[:sum(group)], ytr[:sum(group)])
    d.set_group(group)
    b = xgb.train({"objective": "rank:pairwise", "max_depth": 3, "nthread": 1, "seed": 7}, d, 8)
    write_case("rank_pairwise", b, Xte, note="rank:pairwise")


def multi_target():
    X, mu = regression_data(300, 4)
    Y = np.column_stack([mu, np.sin(X[:, 1]) * 2])
    Xtr, Ytr, Xte = split(X, Y, 25)
    b = train({"objective": "reg:squarederror", "max_depth": 3, "tree_method": "hist"},
              Xtr, Ytr, 6)
    write_case("multi_target", b, Xte, note="reg:squarederror with 2 targets")
    Xg = Xte.copy()
    Xg[RNG.random(Xg.shape) < 0.25] = np.nan
    b = train({"booster": "gblinear", "objective": "multi:softprob", "num_class": 3},
              Xtr, (mu[:len(Xtr)] > 0).astype(float) + (Xtr[:, 2] > 1), 6)
    write_case("gblinear_softprob", b, Xg, note="gblinear multi:softprob with missing values")


def missing():
    X, mu = regression_data(500, 6)
    y = mu + np.where(np.isnan(X[:, 4]), 1.0, 0.0)
    X = X.copy()
    X[RNG.random(X.shape) < 0.25] = np.nan
    y = y + 2.0 * np.isnan(X[:, 0])  # missingness itself is informative
    Xtr, ytr, Xte = split(X, y, 50)
    names = [f"m{i}" for i in range(6)]
    b = train({"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3}, Xtr, ytr, 12,
              feature_names=names)
    write_case("missing", b, Xte, feature_names=names,
               note="25% NaN in training and test rows")


def deep():
    # y doubles with each step of x, so every split peels off the largest
    # value and the tree becomes a chain far deeper than 12 levels.
    n = 400
    x = RNG.integers(0, 24, n).astype(float)
    noise = RNG.normal(size=n)
    X = np.column_stack([x, noise, RNG.normal(size=n)])
    y = np.power(1.9, x) + noise * 0.01
    Xtr, ytr, Xte = split(X, y, 40)
    Xte[:, 0] = np.arange(-2, 38)[: len(Xte)] * 0.75
    b = train({"objective": "reg:squarederror", "max_depth": 20, "eta": 1.0, "lambda": 0,
               "min_child_weight": 0}, Xtr, ytr, 2)
    write_case("deep", b, Xte, note="trees deeper than 12 levels")


def categorical():
    n = 600
    c1 = RNG.integers(0, 12, n).astype(float)  # partition-based splits
    c2 = RNG.integers(0, 3, n).astype(float)   # one-hot splits
    x = RNG.normal(size=n)
    y = np.isin(c1, [1, 3, 6, 10]) * 2.0 + (c2 == 1) * 1.0 + x + RNG.normal(size=n) * 0.1
    X = np.column_stack([c1, x, c2])
    X[RNG.random(n) < 0.1, 0] = np.nan
    Xtr, ytr, Xte = split(X, y, 40)
    # Test rows with unseen, negative, fractional and huge categories.
    Xte[:8, 0] = [12, 15, -1, 2.5, 6.9, 1e9, np.nan, 31]
    types = ["c", "q", "c"]
    names = ["color", "size", "shape"]
    b = train({"objective": "reg:squarederror", "max_depth": 4, "tree_method": "hist",
               "max_cat_to_onehot": 4}, Xtr, ytr, 8, feature_names=names, feature_types=types)
    write_case("categorical", b, Xte, feature_names=names, feature_types=types,
               note="categorical splits (partition and one-hot)")
    write_case("categorical_ubj", b, Xte, feature_names=names, feature_types=types, ext="ubj",
               note="categorical splits saved as UBJSON")


if __name__ == "__main__":
    iris()
    link_objectives()
    binary()
    multi_target()
    missing()
    deep()
    categorical()
