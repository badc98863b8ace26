#!/usr/bin/python3
"""Generate testdata/vectors.json: reference values from SciPy and NumPy for
the drift package's tests.

Run with Debian's interpreter, which has python3-scipy (1.10.1) and numpy:

    /usr/bin/python3 internal/monitor/drift/testdata/gen.py

The Go tests read the committed JSON and do not need Python. Every input is
written with Python's shortest round-trip float repr, which Go parses to
the same float64.
"""

import json
import math
import os
import sys

import numpy as np
import scipy
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

PSI_EPSILON = 1e-4  # drift.PSIEpsilon


def fl(xs):
    """A list of floats, None for NaN (JSON has no NaN)."""
    return [None if math.isnan(v) else float(v) for v in np.asarray(xs, dtype=float)]


def ks_cases():
    rng = np.random.default_rng(20240601)
    r4 = lambda a: np.round(a, 4)
    cases = []

    def add(name, x, y):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        res = stats.ks_2samp(x, y)  # alternative='two-sided', method='auto'
        cases.append(dict(name=name, x=fl(x), y=fl(y),
                          statistic=float(res.statistic), pvalue=float(res.pvalue)))

    # Small exact cases without ties.
    add("exact n=1,1", [0.3], [0.7])
    add("exact n=5,5 same", r4(rng.normal(size=5)), r4(rng.normal(size=5)))
    add("exact n=8,6", r4(rng.normal(size=8)), r4(rng.normal(size=6)))
    add("exact n=10,10 shifted", r4(rng.normal(size=10)), r4(rng.normal(1, size=10)))
    add("exact n=20,15", r4(rng.normal(size=20)), r4(rng.normal(size=15)))
    add("exact n=3,40", r4(rng.normal(size=3)), r4(rng.normal(size=40)))
    add("exact n=40,3 reversed", r4(rng.normal(size=40)), r4(rng.normal(size=3)))
    add("exact n=7,7 disjoint", np.arange(7.0), np.arange(7.0) + 100)
    # With ties (integers).
    add("ties n=12,9", rng.integers(0, 5, 12), rng.integers(0, 5, 9))
    add("ties n=50,50", rng.integers(0, 4, 50), rng.integers(1, 5, 50))
    add("ties n=30,70", rng.integers(0, 10, 30), rng.integers(0, 10, 70))
    add("ties n=400,600 binary", rng.integers(0, 2, 400), (rng.random(600) < 0.6).astype(float))
    # Unequal sizes.
    add("unequal n=37,101", r4(rng.normal(size=37)), r4(rng.normal(size=101)))
    add("unequal n=300,200 shifted", r4(rng.normal(size=300)), r4(rng.normal(0.3, size=200)))
    add("unequal n=1000,750", r4(rng.exponential(size=1000)), r4(rng.exponential(size=750)))
    add("unequal n=2000,1999 coprime", r4(rng.normal(size=2000)), r4(rng.normal(size=1999)))
    add("unequal n=6000,4000 scaled", r4(rng.normal(size=6000)), r4(rng.normal(0, 1.1, size=4000)))
    # Identical samples.
    same = r4(rng.normal(size=60))
    add("identical n=60", same, same)
    add("identical constant", np.ones(10), np.ones(25))
    # Shifted distributions.
    add("shifted n=500,500", r4(rng.normal(size=500)), r4(rng.normal(0.5, size=500)))
    add("shifted n=100,80 far", r4(rng.normal(size=100)), r4(rng.normal(3, size=80)))
    add("equal n=10000 exact", r4(rng.normal(size=10000)), r4(rng.normal(0.02, size=10000)))
    # Large: max(n1, n2) > 10000, the asymptotic distribution.
    add("asymp n=10001,300", r4(rng.normal(size=10001)), r4(rng.normal(0.1, size=300)))
    add("asymp n=12000,11000", r4(rng.normal(size=12000)), r4(rng.normal(0.03, size=11000)))
    add("asymp n=15000,40", r4(rng.normal(size=15000)), r4(rng.normal(0.4, size=40)))
    add("asymp n=10500,120 same", r4(rng.normal(size=10500)), r4(rng.normal(size=120)))
    add("asymp n=11000,2000 shifted", r4(rng.normal(size=11000)), r4(rng.normal(0.25, size=2000)))
    return cases


def kstwo_cases():
    """scipy.stats.kstwo.sf(d, n) over every method's region."""
    out = []
    ns = [1, 2, 3, 5, 10, 20, 50, 100, 139, 140, 141, 200, 500, 1000, 5000,
          20000, 100000, 100001, 1000000]
    for n in ns:
        ds = set()
        for f in [0.4, 0.6, 0.75, 0.9, 1.0, 1.3, 2.0, 3.5]:
            ds.add(f / n)
        for c in [0.3, 0.6, 0.75, 0.8, 1.0, 1.5, 2.0, 2.1, 2.3, 3.0, 4.5, 8.0, 17.0, 19.0]:
            ds.add(math.sqrt(c / n))
        for d in [0.01, 0.05, 0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.8, 0.95, 1 - 1 / n, 1 - 0.5 / n, 1.0]:
            ds.add(d)
        ds.add((1.4 / n) ** (2 / 3))  # the Durbin / Pelz-Good switch
        ds.add(0.99 * (1.4 / n) ** (2 / 3))
        for d in sorted(ds):
            if 0 < d <= 1:
                out.append(dict(n=n, d=d, sf=float(stats.kstwo.sf(d, n))))
    return out


def chi2_sf_cases():
    out = []
    for df in [1, 2, 3, 4, 5, 9, 10, 49, 50, 100, 500, 1000, 5000]:
        for m in [0.001, 0.1, 0.5, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0, 5.0, 10.0]:
            x = m * df
            out.append(dict(df=df, x=x, sf=float(stats.chi2.sf(x, df))))
    for x in [1e-8, 0.5, 30.0, 100.0, 700.0]:
        out.append(dict(df=1, x=x, sf=float(stats.chi2.sf(x, 1))))
    return out


def chisquare_cases():
    rng = np.random.default_rng(7)
    out = []
    for k, n, shift in [(2, 100, 0.0), (2, 1000, 0.1), (3, 60, 0.0), (5, 500, 0.2),
                        (10, 10000, 0.01), (10, 200, 0.5), (51, 5000, 0.05),
                        (200, 20000, 0.0), (1000, 50000, 0.02), (4, 1000000, 0.3)]:
        p = rng.dirichlet(np.ones(k) * 2)
        q = (1 - shift) * p + shift * rng.dirichlet(np.ones(k))
        obs = rng.multinomial(n, q).astype(float)
        exp = p * n
        res = stats.chisquare(obs, exp)
        out.append(dict(name=f"k={k} n={n} shift={shift}", obs=fl(obs), exp=fl(exp),
                        statistic=float(res.statistic), pvalue=float(res.pvalue)))
    obs = np.array([10.0, 20.0, 30.0])
    out.append(dict(name="perfect fit", obs=fl(obs), exp=fl(obs),
                    statistic=float(stats.chisquare(obs, obs).statistic),
                    pvalue=float(stats.chisquare(obs, obs).pvalue)))
    return out


def js_cases():
    rng = np.random.default_rng(11)
    out = []
    pairs = [
        ([1, 0], [0, 1]),
        ([1, 0, 0], [1, 0, 0]),
        ([0.5, 0.5], [0.9, 0.1]),
        ([1, 2, 3, 4], [4, 3, 2, 1]),
        ([10, 0, 5], [0, 7, 5]),
        ([1e-9, 1, 1], [1, 1, 1e-9]),
    ]
    for k in [3, 10, 51]:
        pairs.append((rng.integers(0, 100, k), rng.integers(0, 100, k)))
        pairs.append((rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))))
    for p, q in pairs:
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        out.append(dict(p=fl(p), q=fl(q), distance=float(jensenshannon(p, q, base=2))))
    return out


def psi(expected, actual):
    """The documented PSI: proportions, exact zeros replaced by epsilon."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e, a = e / e.sum(), a / a.sum()
    e = np.where(e == 0, PSI_EPSILON, e)
    a = np.where(a == 0, PSI_EPSILON, a)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_cases():
    rng = np.random.default_rng(13)
    pairs = [([10, 10, 10, 10], [10, 10, 10, 10]), ([10, 10, 10, 10], [0, 10, 10, 20]),
             ([5, 0, 5], [5, 5, 0]), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1])]
    for k in [10, 51]:
        pairs.append((rng.integers(0, 50, k), rng.integers(0, 50, k)))
    return [dict(expected=fl(e), actual=fl(a), psi=psi(e, a)) for e, a in pairs]


def quantile_cases():
    rng = np.random.default_rng(17)
    out = []
    qs = np.arange(1, 100) / 100
    for x in [r4x for r4x in [np.round(rng.normal(size=n), 3) for n in [1, 2, 7, 100, 1001]]] + \
             [rng.integers(0, 3, 50).astype(float), np.array([1.0, 1.0, 2.0, 1e300, -1e300])]:
        out.append(dict(x=fl(x), q=fl(qs), value=fl(np.quantile(x, qs))))
    return out


def labels_of(col):
    """Labels as the Go package forms them: strings as given, codes by
    their shortest decimal form (integers here)."""
    if col["cat"] is not None:
        return list(col["cat"])
    return ["" if v is None else str(int(v)) for v in col["num"]]


def reference(base, cur):
    """The documented statistics of one feature, offline mode."""
    if base["kind"] == "numeric":
        b = np.array([np.nan if v is None else v for v in base["num"]], dtype=float)
        c = np.array([np.nan if v is None else v for v in cur["num"]], dtype=float)
        bm, cm = b[np.isfinite(b)], c[np.isfinite(c)]
        edges = np.unique(np.quantile(bm, np.arange(1, 10) / 10))
        bb = np.bincount(np.searchsorted(edges, bm, side="left"), minlength=len(edges) + 1)
        cc = np.bincount(np.searchsorted(edges, cm, side="left"), minlength=len(edges) + 1)
        ks = stats.ks_2samp(bm, cm)
        return dict(feature=base["name"], count=len(cm), missing_rate=1 - len(cm) / len(c),
                    psi=psi(bb, cc), js=float(jensenshannon(bb, cc, base=2)),
                    ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue))
    bl, cl = labels_of(base), labels_of(cur)
    counts = {}
    for l in bl:
        if l:
            counts[l] = counts.get(l, 0) + 1
    cats = sorted(counts, key=lambda l: (-counts[l], l))  # fewer than top-K
    idx = {l: i for i, l in enumerate(cats)}
    bb = np.array([counts[l] for l in cats] + [0], dtype=float)
    cc = np.zeros(len(cats) + 1)
    for l in cl:
        if l:
            cc[idx.get(l, len(cats))] += 1
    keep = (bb > 0) | (cc > 0)
    p = bb[keep] / bb.sum()
    p = np.where(p == 0, PSI_EPSILON, p)
    exp = p / p.sum() * cc.sum()
    chi = stats.chisquare(cc[keep], exp)
    n = sum(1 for l in cl if l)
    return dict(feature=base["name"], count=n, missing_rate=1 - n / len(cl),
                psi=psi(bb, cc), js=float(jensenshannon(bb, cc, base=2)),
                chi2=float(chi.statistic), chi2_pvalue=float(chi.pvalue))


def compare_cases():
    rng = np.random.default_rng(23)
    out = []

    def sample(n, shift, newcat):
        x = rng.normal(shift, 1, n)
        ints = rng.poisson(3 + 2 * shift, n).astype(float)
        ints[rng.random(n) < 0.05] = np.nan
        colors = ["red", "green", "blue", "black"]
        w = np.array([0.5, 0.3, 0.15, 0.05])
        if shift:
            w = np.array([0.3, 0.3, 0.3, 0.1])
        color = list(rng.choice(colors, n, p=w))
        if newcat:
            for i in rng.choice(n, n // 20, replace=False):
                color[i] = "violet"
        for i in rng.choice(n, n // 50, replace=False):
            color[i] = ""
        codes = rng.choice([0.0, 1.0, 2.0], n, p=[0.6, 0.3, 0.1] if not shift else [0.4, 0.4, 0.2])
        pred = 1 / (1 + np.exp(-(x + 0.1 * ints.clip(0, 10))))
        pred = np.where(np.isnan(pred), 0.5, pred)
        return [
            dict(name="x", kind="numeric", num=fl(np.round(x, 4)), cat=None),
            dict(name="count", kind="numeric", num=fl(ints), cat=None),
            dict(name="color", kind="categorical", num=None, cat=color),
            dict(name="plan", kind="categorical", num=fl(codes), cat=None),
        ], dict(name="score", kind="numeric", num=fl(np.round(pred, 5)), cat=None)

    for name, nb, nc, shift, newcat in [("same", 2000, 1500, 0.0, False),
                                         ("shifted", 3000, 800, 0.4, True),
                                         ("small", 60, 45, 0.2, False)]:
        bcols, bpred = sample(nb, 0.0, False)
        ccols, cpred = sample(nc, shift, newcat)
        want = [reference(b, c) for b, c in zip(bcols, ccols)]
        out.append(dict(name=name, baseline=dict(columns=bcols, prediction=bpred),
                        current=dict(columns=ccols, prediction=cpred),
                        features=want, prediction=reference(bpred, cpred)))
    return out


def main():
    vectors = dict(
        generator=f"testdata/gen.py with SciPy {scipy.__version__}, NumPy {np.__version__}",
        ks_2samp=ks_cases(),
        kstwo_sf=kstwo_cases(),
        chi2_sf=chi2_sf_cases(),
        chisquare=chisquare_cases(),
        jensenshannon=js_cases(),
        psi=psi_cases(),
        quantile=quantile_cases(),
        compare=compare_cases(),
    )
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    with open(path, "w") as f:
        json.dump(vectors, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
