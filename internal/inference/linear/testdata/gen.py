#!/usr/bin/python3
"""Regenerates the linear-format test data from scikit-learn.

Run from this directory with Debian's Python (scikit-learn 1.2.1):

    /usr/bin/python3 gen.py

For each model it writes NAME.json (the model in sluice.linear/v1), the rows
it is tested on as DATA.csv (a header of feature names, then one row per
line), and NAME.expected.json holding scikit-learn's own predict and, for
classifiers, predict_proba on those rows. The Go tests need only these
files, not Python.
"""

import json

import numpy as np
import sklearn
from sklearn import datasets
from sklearn.linear_model import LinearRegression, LogisticRegression


# to_sluice_linear is the exporter shown in docs/formats/linear.md.
def to_sluice_linear(model, feature_names):
    """Returns a fitted LinearRegression or LogisticRegression as a
    sluice.linear/v1 document (a dict ready for json.dump)."""
    names = [str(n) for n in feature_names]
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    if coef.shape[-1] != len(names):
        raise ValueError(f"the model has {coef.shape[-1]} coefficients per score "
                         f"but {len(names)} feature names were given")
    classes = None
    if isinstance(model, LinearRegression):
        if coef.ndim != 1:
            raise ValueError("multi-output regression is not supported")
        task, link = "regression", "identity"
        coef, intercept = coef.reshape(1, -1), intercept[:1]
    elif isinstance(model, LogisticRegression):
        classes = [str(c) for c in model.classes_]
        # Resolve multi_class="auto" as scikit-learn does.
        multi = getattr(model, "multi_class", "auto")
        if multi in ("auto", "deprecated"):
            binary_or_liblinear = len(classes) == 2 or model.solver == "liblinear"
            multi = "ovr" if binary_or_liblinear else "multinomial"
        if len(classes) == 2 and multi == "multinomial":
            # A two-class multinomial model stores one row w and scores
            # softmax([-z, z]) with z = w.x + b.
            task, link = "multiclass", "softmax"
            coef, intercept = np.vstack([-coef[0], coef[0]]), np.array([-intercept[0], intercept[0]])
        elif len(classes) == 2:
            task, link = "binary", "logit"
        else:
            task, link = "multiclass", "softmax" if multi == "multinomial" else "ovr"
    else:
        raise TypeError(f"{type(model).__name__} is not LinearRegression or LogisticRegression")
    doc = {"format": "sluice.linear/v1", "task": task, "link": link,
           "features": [{"name": n, "type": "float"} for n in names]}
    if classes is not None:
        doc["classes"] = classes
    doc["intercept"] = [float(b) for b in intercept]
    doc["coefficients"] = [[float(w) for w in row] for row in coef]
    doc["metadata"] = {"estimator": type(model).__name__, "sklearn": sklearn.__version__}
    return doc


def write_csv(path, names, X):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def write_case(name, model, names, X, data):
    with open(name + ".json", "w") as f:
        json.dump(to_sluice_linear(model, names), f, indent=1)
        f.write("\n")
    expected = {"model": name + ".json", "data": data, "sklearn": sklearn.__version__,
                "rows": len(X)}
    if isinstance(model, LinearRegression):
        expected["predict"] = [float(v) for v in model.predict(X)]
    else:
        expected["predict"] = [str(c) for c in model.predict(X)]
        expected["predict_proba"] = model.predict_proba(X).tolist()
    with open(name + ".expected.json", "w") as f:
        json.dump(expected, f)
        f.write("\n")


def main():
    # Regression: the diabetes data (442 rows, 10 standardised features).
    d = datasets.load_diabetes()
    write_csv("diabetes.csv", d.feature_names, d.data)
    write_case("diabetes_regression", LinearRegression().fit(d.data, d.target),
               d.feature_names, d.data, "diabetes.csv")

    # Binary: breast cancer (569 rows, 30 features), classes named.
    bc = datasets.load_breast_cancer()
    names = [n.replace(" ", "_") for n in bc.feature_names]
    y = bc.target_names[bc.target]  # "malignant" / "benign"
    write_csv("breast_cancer.csv", names, bc.data)
    write_case("breast_cancer_binary",
               LogisticRegression(C=0.1, max_iter=20000).fit(bc.data, y),
               names, bc.data, "breast_cancer.csv")

    # Multiclass: iris (150 rows, 4 features, 3 classes), multinomial and
    # one-vs-rest.
    iris = datasets.load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    y = iris.target_names[iris.target]
    write_csv("iris.csv", names, iris.data)
    write_case("iris_multinomial",
               LogisticRegression(multi_class="multinomial", C=0.5, max_iter=5000).fit(iris.data, y),
               names, iris.data, "iris.csv")
    write_case("iris_ovr",
               LogisticRegression(multi_class="ovr", max_iter=5000).fit(iris.data, y),
               names, iris.data, "iris.csv")

    # Two classes fitted as multinomial: versicolor vs virginica.
    keep = iris.target > 0
    write_csv("iris2.csv", names, iris.data[keep])
    write_case("iris2_multinomial",
               LogisticRegression(multi_class="multinomial", max_iter=5000).fit(iris.data[keep], y[keep]),
               names, iris.data[keep], "iris2.csv")


if __name__ == "__main__":
    main()
