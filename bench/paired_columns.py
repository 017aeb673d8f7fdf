#!/usr/bin/env python
"""Which columns separate a fake from its own original? A paired test per column, per dataset.

    python bench/paired_columns.py [--workers 2] [--out bench/paired_columns.json]

Every fake in ``../shared/data/manifest.csv`` that names its ``original`` (DeepFaceLive side-by-side pairs,
FF++ fakes and their YouTube originals, UADFV, GHOST and roop swaps) is set against that original. A pair
differs only by the manipulation (same camera, same re-encode), so for each column the share of pairs in which
the fake's value is above its original's, with a two-sided sign test, says whether the column carries the cue
at all, whatever the camera. Beside it, the column's unpaired AUC inside the dataset (fakes against the
originals as two bags) says whether the cue survives without the pair: a column that wins 48 of 54 pairs but
separates the bags at 0.6 carries a relative cue (a swap is smoother than the footage it sits in) that an
absolute threshold cannot use.

Features: every family but ``av`` (prnu and meta included), the shipped model's frames and dense window, one
row per video (primary face track), from the feature cache (``.cache/features``; the first run extracts).
Development data only: nothing here trains anything.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))

#: datasets with fewer pairs than this are listed but not ranked (a sign test on 3 pairs cannot reach p < 0.25)
MIN_PAIRS = 8


def paired_pairs(manifest: str) -> list[tuple[str, str, str]]:
    """``(dataset, fake path, original path)`` for every fake whose original the manifest lists too."""
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    listed = {r["path"] for r in rows}
    return [(r["dataset"], r["path"], r["original"]) for r in rows
            if r["label"] == "FAKE" and r["original"] and r["original"] in listed]


def sign_test(wins: float, n: int) -> float:
    """Two-sided sign-test p-value for ``wins`` of ``n`` pairs (ties already counted as half a win)."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan")
    k = int(math.floor(wins + 0.5))
    return float(binomtest(k, n, 0.5).pvalue)


def column_tests(fake: np.ndarray, real: np.ndarray, fakes: np.ndarray, reals: np.ndarray) -> dict:
    """Paired figures of one column over ``n`` pairs ``(fake[i], real[i])`` (NaN pairs dropped), and its unpaired
    AUC between the distinct fake and original videos ``fakes`` and ``reals`` (an original with several fakes
    counts once there)."""
    from modeling.metrics import roc_auc

    ok = np.isfinite(fake) & np.isfinite(real)
    f, r = fake[ok], real[ok]
    n = int(ok.sum())
    if n == 0:
        return {"n": 0}
    d = f - r
    wins = float((d > 0).sum() + 0.5 * (d == 0).sum())
    pooled = np.concatenate([f, r])
    spread = float(pooled.std()) or 1.0
    fakes, reals = fakes[np.isfinite(fakes)], reals[np.isfinite(reals)]
    auc = roc_auc(np.r_[np.ones(len(fakes)), np.zeros(len(reals))], np.r_[fakes, reals]) \
        if len(fakes) and len(reals) else float("nan")
    return {"n": n, "share_fake_above": wins / n, "p": sign_test(wins, n),
            "median_diff_in_spreads": float(np.median(d) / spread), "unpaired_auc": float(auc)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--out", default=os.path.join(HERE, "paired_columns.json"))
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--features", default="all",
                    help="feature set (features.registry.select); default all: every family but av")
    args = ap.parse_args(argv)

    from dataformats import read_labels
    from features.registry import family_of, select
    from pipeline.batch import extract_table

    pairs = paired_pairs(os.path.join(SHARED, "manifest.csv"))
    wanted = {p for _, f, o in pairs for p in (f, o)}
    recs = [r for r in read_labels(SHARED) if os.path.relpath(r.path, SHARED) in wanted]
    t0 = time.time()
    calcs = select(args.features)  # all: every family but av (the pairs carry no audio; bench/av_probe.py)
    rows, failures = extract_table(recs, calculators=calcs, frames=32, dense=64, device="cpu", seed=0,
                                   cache_dir=args.cache or None, workers=args.workers, rows="video",
                                   log=lambda *a: print(*a, file=sys.stderr))
    seconds = time.time() - t0
    by_path = {os.path.relpath(r["_path"], SHARED): r for r in rows}
    cols = sorted({c for r in rows for c in r if not c.startswith("_")})

    per_dataset = defaultdict(list)
    for ds, f, o in pairs:
        if f in by_path and o in by_path:
            per_dataset[ds].append((by_path[f], by_path[o]))
    out = {"what": __doc__.split("\n\n")[0].strip(), "features": f"{args.features} (all: every family but av), frames 32, dense 64",
           "extraction_seconds": round(seconds, 1), "failures": dict(failures), "datasets": {}}
    ranked = {}
    for ds, prs in sorted(per_dataset.items()):
        tests = {}
        distinct_f = list({a["_path"]: a for a, _ in prs}.values())
        distinct_r = list({b["_path"]: b for _, b in prs}.values())

        def col(rs, c):
            return np.array([float(x.get(c, np.nan)) for x in rs], float)

        for c in cols:
            t = column_tests(col([a for a, _ in prs], c), col([b for _, b in prs], c), col(distinct_f, c),
                             col(distinct_r, c))
            if t["n"]:
                tests[c] = t
        order = sorted(tests, key=lambda c: (tests[c]["p"], -abs(tests[c]["share_fake_above"] - 0.5)))
        fams = defaultdict(int)
        for c in order:
            if tests[c]["p"] < 0.01:
                fams[family_of(c)] += 1
        out["datasets"][ds] = {"pairs": len(prs), "ranked": len(prs) >= MIN_PAIRS,
                               "columns_p_below_0.01": sum(t["p"] < 0.01 for t in tests.values()),
                               "per_family_p_below_0.01": dict(fams),
                               "top": [dict(column=c, **tests[c]) for c in order[:args.top]]}
        if len(prs) >= MIN_PAIRS:
            ranked[ds] = tests
    # agreement: columns significant (p < 0.01) in at least two ranked datasets, and whether the sign agrees
    agree = []
    for c in cols:
        sig = {ds: t[c] for ds, t in ranked.items() if c in t and t[c]["p"] < 0.01}
        if len(sig) >= 2:
            signs = {ds: ("fake above" if v["share_fake_above"] > 0.5 else "fake below") for ds, v in sig.items()}
            agree.append({"column": c, "datasets": signs, "same_sign": len(set(signs.values())) == 1,
                          "shares": {ds: round(v["share_fake_above"], 3) for ds, v in sig.items()},
                          # oriented so that 0.5 is chance and 1 is perfect, in the paired test's direction
                          "unpaired_auc_oriented": {ds: round(v["unpaired_auc"] if v["share_fake_above"] > 0.5
                                                              else 1 - v["unpaired_auc"], 3)
                                                    for ds, v in sig.items()}})
    agree.sort(key=lambda a: (-len(a["datasets"]), not a["same_sign"], a["column"]))
    out["agreement"] = agree
    out["prnu"] = {ds: {c: t[c] for c in t if family_of(c) == "prnu"} for ds, t in ranked.items()}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=True)
    for ds, d in out["datasets"].items():
        print(f"{ds}: {d['pairs']} pairs, {d['columns_p_below_0.01']} columns at p < 0.01 "
              f"{d['per_family_p_below_0.01']}")
        for t in d["top"][:5]:
            print(f"   {t['column']:45s} fake above in {t['share_fake_above']:.2f} of {t['n']} "
                  f"(p {t['p']:.1e}), unpaired AUC {t['unpaired_auc']:.2f}")
    print(f"{sum(a['same_sign'] for a in agree)} columns significant with one sign in two or more datasets; "
          f"{sum(not a['same_sign'] for a in agree)} with opposite signs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
