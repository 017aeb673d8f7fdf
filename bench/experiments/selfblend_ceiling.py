#!/usr/bin/env python
"""How much of the self-blend cue do the features keep under each perturbation, whatever the training?

    python bench/experiments/selfblend_ceiling.py [--model DIR] [--kinds all] [--workers 2] [--out FILE]

``bench/selfblend_robustness.py`` measures the shipped model: trained on clean (and H.264) footage, scored on
perturbed pairs. A drop there can come from two causes: the model leans on columns that a perturbation
shifts (training could fix that), or the perturbation erases the cue from every column (no training can).
This bench separates them. On the same rows (each real training clip and its self-blend, clean and under
each geometry-keeping perturbation, from the feature cache) and the same leave-source-out folds, it trains
LightGBM with the model card's parameters and columns in three regimes and reports out-of-fold video AUC:

``clean``      trained on clean pairs, scored on clean pairs (the reference);
``matched``    trained on pairs under perturbation K only, scored on pairs under K: the best case of
               augmentation, where training and test are degraded exactly alike;
``augmented``  trained on clean pairs plus pairs under K, scored on pairs under K and on clean pairs.

If even ``matched`` loses more than 0.05 from ``clean`` under K, no augmentation with these columns meets
issue 12's target for K: the columns themselves do not carry the cue through K. Self-blends only (no other
synthetic kind), so the numbers are about the cue, not about the shipped recipe.

``--by-family`` adds, for each feature family alone, ``clean`` and ``matched`` under each kind: which
family's measurements hold the cue through which perturbation (where an invariant family should start).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from cli.train import args_from_card, training_inputs  # noqa: E402
from features.registry import family_of, select  # noqa: E402
from modeling.card import card_sampling  # noqa: E402
from modeling.detector import DetectorModel  # noqa: E402
from modeling.metrics import bootstrap_auc_ci  # noqa: E402
from modeling.training import feature_matrix, fold_models, grouped_folds, per_video  # noqa: E402
from pipeline.batch import extract_table  # noqa: E402
from synthesis.perturb import PERTURBATIONS, expand_kinds  # noqa: E402


def oof_raw(train_mask, *, X, y, folds, names, params, rounds) -> np.ndarray:
    """Each row's margin from the model trained on the ``train_mask`` rows outside the row's fold."""
    raw = np.full(len(y), np.nan)
    for f, b in fold_models(X[train_mask], y[train_mask], folds[train_mask], feature_names=names, params=params,
                            rounds=rounds).items():
        raw[folds == f] = b.predict(X[folds == f], raw_score=True)
    return raw


def video_auc(rows, raw, test_mask) -> dict:
    """Video AUC [95 % CI, a self-blend resampled with its original] of the ``test_mask`` rows' ``raw``."""
    idx = np.flatnonzero(test_mask)
    videos = [v for v in per_video([rows[i] for i in idx], raw[idx]) if np.isfinite(v["_raw"])]
    yv = np.array([v["_label"] for v in videos], float)
    sv = np.array([v["_raw"] for v in videos])
    ci = bootstrap_auc_ci(yv, sv, groups=[v["_path"] for v in videos])
    return {"auc": ci.auc, "lo": ci.lo, "hi": ci.hi, "n": len(videos)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder whose card gives columns, params and data")
    ap.add_argument("--kinds", default="all", help="single perturbations: all or names (comma-separated)")
    ap.add_argument("--cache", default=os.path.join(".cache", "features"), help="feature cache folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--by-family", action="store_true", help="also clean and matched per feature family")
    ap.add_argument("--out", default=os.path.join(HERE, "selfblend_ceiling.json"))
    args = ap.parse_args(argv)
    t0 = time.time()
    kinds = [k for k in expand_kinds(args.kinds.split(",")) if "+" not in k and PERTURBATIONS[k].keeps_geometry]
    model = DetectorModel.load(args.model)
    targs = args_from_card(model.card)
    _, records, _, _, _ = training_inputs(targs)
    reals = [r for r in records if r.label == 0]
    rows, _ = extract_table(reals, calculators=select(model.card["feature_set"]), **card_sampling(model.card),
                            device="cpu", seed=0, cache_dir=args.cache,
                            workers=args.workers, rows=model.rows, fakes=["selfblend"],
                            augment=[f"perturb:{k}" for k in kinds], log=lambda *a: print(*a, file=sys.stderr))
    X, names = feature_matrix(rows, model.feature_names)
    y = np.array([r["_label"] for r in rows], float)
    groups = np.array([r["_source"] for r in rows])
    folds = grouped_folds(groups, y, n_folds=targs.folds, seed=targs.seed)
    suffix = np.array([r["_variant"].partition("+")[2] for r in rows])
    params = {k: v for k, v in model.card["params"].items() if k != "num_boost_round"}
    params["num_threads"] = max(1, args.workers)
    rounds = int(model.card["params"].get("num_boost_round", 200))
    fit = dict(X=X, y=y, folds=folds, names=names, params=params, rounds=rounds)
    clean = suffix == ""
    out = {"model": args.model or "shipped default", "n_rows": len(rows), "columns": len(names),
           "clean": video_auc(rows, oof_raw(clean, **fit), clean), "kinds": {}}
    print(f"clean {out['clean']['auc']:.3f}  ({len(rows)} rows, {time.time() - t0:.0f} s)", file=sys.stderr)
    for k in kinds:
        pk = suffix == f"perturb:{k}"
        both = oof_raw(clean | pk, **fit)  # one set of fold models scores the perturbed and the clean pairs
        res = {"matched": video_auc(rows, oof_raw(pk, **fit), pk),
               "augmented": video_auc(rows, both, pk), "augmented_clean": video_auc(rows, both, clean)}
        out["kinds"][k] = res
        print(f"{k:<12} matched {res['matched']['auc']:.3f}  augmented {res['augmented']['auc']:.3f}"
              f" (clean {res['augmented_clean']['auc']:.3f})  [{time.time() - t0:.0f} s]", file=sys.stderr)
    if args.by_family:
        out["families"] = {}
        for fam in sorted({family_of(n) for n in names}):
            cols = [i for i, n in enumerate(names) if family_of(n) == fam]
            ffit = dict(fit, X=X[:, cols], names=[names[i] for i in cols])
            res = {"clean": video_auc(rows, oof_raw(clean, **ffit), clean)["auc"]}
            for k in kinds:
                pk = suffix == f"perturb:{k}"
                res[k] = video_auc(rows, oof_raw(pk, **ffit), pk)["auc"]
            out["families"][fam] = dict(res, columns=len(cols))
            print(f"{fam:<10} ({len(cols)} columns) clean {res['clean']:.3f}  "
                  + "  ".join(f"{k} {res[k] - res['clean']:+.3f}" for k in kinds)
                  + f"  [{time.time() - t0:.0f} s]", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, default=float)
    c = out["clean"]["auc"]
    print("\n| perturbation | matched (Δ) | augmented (Δ) | augmented, clean test |\n|---|---|---|---|")
    print(f"| clean | {c:.3f} | | |")
    for k, r in out["kinds"].items():
        m, a, ac = r["matched"]["auc"], r["augmented"]["auc"], r["augmented_clean"]["auc"]
        print(f"| {k} | {m:.3f} ({m - c:+.3f}) | {a:.3f} ({a - c:+.3f}) | {ac:.3f} |")
    if args.by_family:
        print("\n| family (columns) | clean | " + " | ".join(kinds) + " |\n|---|---|" + "---|" * len(kinds))
        for fam, r in out["families"].items():
            print(f"| {fam} ({r['columns']}) | {r['clean']:.3f} | "
                  + " | ".join(f"{r[k] - r['clean']:+.3f}" for k in kinds) + " |")
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
