#!/usr/bin/env python
"""Does a synthetic kind of fake move the columns the way a real manipulation does? (issue 22, item 2)

    python bench/experiments/synthesis_match.py [--model DIR] [--features SET] [--workers 2]
        [--out bench/experiments/synthesis_match.json]

Both sides are paired tests, so neither compares cameras:

* *real manipulations*: every fake of ``../shared/data/manifest.csv`` against its own original
  (:func:`paired_columns.paired_pairs`: DeepFaceLive panels, FF++ c40, UADFV...);
* *synthetic kinds*: every synthetic variant of the training pool that ``--model``'s card names (its
  ``training.command``: the reals, ``--fakes`` and ``--augment``) against the same real video's untouched copy
  (``selfblend`` against ``orig``, ``selfblend+h264`` against ``orig+h264``: the codec draw is the same).

Per column and per side: the median paired difference in units of the column's spread (:func:`paired_columns.
column_tests`). Per synthetic kind and real dataset: the Spearman correlation of those medians over all
columns both sides have, and, over the dataset's columns at p < 0.01, the share where the synthetic kind moves
the same way, and the median ratio of the synthetic change to the real one on the columns where they agree
(a kind several times stronger than the real manipulation teaches thresholds the real one never crosses). A kind that correlates near 0 with DeepFaceLive cannot teach a model the DeepFaceLive cue,
however many of it the pool holds. One row per video (primary face track), from the feature cache.
Development data only: nothing here trains anything.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))

from paired_columns import MIN_PAIRS, column_tests, paired_pairs  # noqa: E402


def pair_medians(pairs, cols) -> dict:
    """``{column: column_tests figures}`` over ``pairs`` ``[(fake row, real row)]`` (rows: feature dicts)."""
    def col(rs, c):
        return np.array([float(r.get(c, np.nan)) for r in rs], float)

    fakes, reals = [a for a, _ in pairs], [b for _, b in pairs]
    distinct_f = list({id(a): a for a in fakes}.values())
    distinct_r = list({id(b): b for b in reals}.values())
    out = {}
    for c in cols:
        t = column_tests(col(fakes, c), col(reals, c), col(distinct_f, c), col(distinct_r, c))
        if t["n"] >= 3:
            out[c] = t
    return out


def agreement(synthetic: dict, real: dict, *, alpha: float = 0.01) -> dict:
    """How one synthetic kind's paired medians (``{column: tests}``) match one real dataset's."""
    from scipy.stats import spearmanr

    common = [c for c in real if c in synthetic and np.isfinite(real[c]["median_diff_in_spreads"])
              and np.isfinite(synthetic[c]["median_diff_in_spreads"])]
    if len(common) < 3:
        return {"columns": len(common)}
    a = np.array([synthetic[c]["median_diff_in_spreads"] for c in common])
    b = np.array([real[c]["median_diff_in_spreads"] for c in common])
    rho = spearmanr(a, b).statistic
    sig = [c for c in common if real[c]["p"] < alpha]
    same = [c for c in sig if np.sign(synthetic[c]["share_fake_above"] - 0.5) == np.sign(real[c]["share_fake_above"]
                                                                                           - 0.5)]
    same_sig = [c for c in same if synthetic[c]["p"] < alpha]
    ratio = [synthetic[c]["median_diff_in_spreads"] / real[c]["median_diff_in_spreads"] for c in same
             if real[c]["median_diff_in_spreads"] != 0]
    return {"columns": len(common), "spearman_medians": round(float(rho), 3), "real_columns_p_below": len(sig),
            "same_direction": len(same), "same_direction_share": round(len(same) / len(sig), 3) if sig else None,
            "same_direction_and_significant": len(same_sig),
            # how much larger the synthetic change is than the real one, on the columns where both agree
            "median_size_ratio": round(float(np.median(ratio)), 3) if ratio else None}


def real_pair_rows(cp) -> tuple[list, list, dict]:
    """``(pairs, rows, failures)``: the manifest's fake/original pairs (:func:`paired_columns.paired_pairs`) and
    the feature rows of their clips, extracted as ``cp`` (a :class:`card_pool.CardPool`) extracts (the cache)."""
    from dataformats import read_labels

    pairs = paired_pairs(os.path.join(SHARED, "manifest.csv"))
    wanted = {p for _, f, o in pairs for p in (f, o)}
    rows, failures = cp.table([r for r in read_labels(SHARED) if os.path.relpath(r.path, SHARED) in wanted],
                              rows="video")
    return pairs, rows, failures


def real_medians(pairs, rows, cols) -> tuple[dict, dict]:
    """``(medians, counts)``: :func:`pair_medians` per real dataset with at least ``MIN_PAIRS`` pairs, and the
    number of pairs each has."""
    by_path = {os.path.relpath(r["_path"], SHARED): r for r in rows}
    real_pairs = defaultdict(list)
    for ds, f, o in pairs:
        if f in by_path and o in by_path:
            real_pairs[ds].append((by_path[f], by_path[o]))
    real = {ds: pair_medians(prs, cols) for ds, prs in sorted(real_pairs.items()) if len(prs) >= MIN_PAIRS}
    return real, {ds: len(real_pairs[ds]) for ds in real}


def agreement_line(name: str, per: dict, *, width: int, digits: int) -> str:
    """One printed line: ``name`` and, per real dataset, Spearman, same-direction count and size ratio."""
    return f"  {name:{width}s} " + "  ".join(
        f"{ds[:14]}: rho {a.get('spearman_medians', float('nan')):+.2f}, same {a.get('same_direction', 0)}/"
        f"{a.get('real_columns_p_below', 0)}, size x{a.get('median_size_ratio') or float('nan'):.{digits}f}"
        for ds, a in per.items())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "modeling", "default_model"),
                    help="model folder whose card's training command names the pool and its synthetic kinds")
    ap.add_argument("--features", default=None, help="feature set (default: the card's)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--out", default=os.path.join(HERE, "synthesis_match.json"))
    args = ap.parse_args(argv)

    from card_pool import CardPool
    from features.registry import family_of

    cp = CardPool(args.model, features=args.features, cache=args.cache, workers=args.workers)
    card, targs = cp.card, cp.args
    t0 = time.time()
    pool, fail_pool = cp.rows(rows="video")
    pairs, lab, fail_lab = real_pair_rows(cp)
    seconds = time.time() - t0
    cols = sorted({c for r in lab for c in r if not c.startswith("_")} & {c for r in pool for c in r
                                                                         if not c.startswith("_")})
    real, real_counts = real_medians(pairs, lab, cols)

    copies = {(r["_path"], r["_variant"]): r for r in pool}
    kinds = defaultdict(list)
    for (path, variant), r in copies.items():
        if r["_label"] != 1 or variant.startswith("orig"):
            continue  # collected fakes have no original in the pool; only synthetic variants pair
        head, _, aug = variant.partition("+")
        twin = copies.get((path, "orig" + ("+" + aug if aug else "")))
        if twin is not None and twin["_label"] == 0:
            kinds[head.split("#")[0]].append((r, twin))
    synthetic = {k: pair_medians(prs, cols) for k, prs in sorted(kinds.items())}

    out = {"what": __doc__.split("\n\n")[0].strip(), "pool_from": card["training"]["command"],
           "features": targs.features, "columns": len(cols), "extraction_seconds": round(seconds, 1),
           "failures": {"pool": dict(fail_pool), "labelled": dict(fail_lab)},
           "real_pairs": real_counts,
           "synthetic_pairs": {k: len(v) for k, v in kinds.items()}, "agreement": {}, "per_family": {}}
    for k, s in synthetic.items():
        out["agreement"][k] = {ds: agreement(s, r) for ds, r in real.items()}
        fams = sorted({family_of(c) for c in s})
        out["per_family"][k] = {ds: {fam: agreement({c: v for c, v in s.items() if family_of(c) == fam}, r)
                                     for fam in fams} for ds, r in real.items()}
    # the real datasets against each other: how far apart the targets themselves are
    out["real_vs_real"] = {a: {b: agreement(real[a], real[b]) for b in real if b != a} for a in real}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=True)
    print(f"{len(cols)} columns; real pairs {out['real_pairs']}; synthetic pairs {out['synthetic_pairs']}; "
          f"{seconds:.0f} s")
    for k, per in out["agreement"].items():
        print(agreement_line(k, per, width=18, digits=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
