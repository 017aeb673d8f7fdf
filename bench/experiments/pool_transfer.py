#!/usr/bin/env python
"""What does a model trained on the pool carry to fakes it never saw? (issue 22)

    python bench/experiments/pool_transfer.py [--model DIR] [--features SET] [--parts experts,families,loro]
        [--out bench/experiments/pool_transfer.json]

The pool is the one ``--model``'s card trained on (its ``training.command``: reals, generated/, synthetic
kinds, codec copies, segment rows), read from the feature cache; ``--features`` may add families.

* ``experts``: each expert of ``--experts`` (``modeling.stacking.expert_columns`` syntax, e.g.
  ``all,temporal@collected``) in the production leave-source-out folds; its out-of-fold margin per video,
  and its AUC for each held-out generator's clips (original and codec copy) against every real clip, and for
  each synthetic kind against the reals. This is what the stacker sees when it weighs the experts.
* ``loro``: issue 22's leave-one-repository-out over generated/: each group (AniTalker, EDTalk, the Wav2Lip
  family, the rest) held out alone and scored against every real clip. The reals lie in 5 source folds (a real's
  synthetic copies go with it); for each fold, the card's stacker experts are trained without the group and the
  fold, and score the fold's reals and the group's clips (their mean over the 5 models). Per expert, and the
  stacks: the card's coefficients (fitted on the whole pool's out-of-fold margins, so 2 numbers saw the group),
  and equal weights.
* ``families``: one LightGBM per family (and ``all``, ``all`` without blending, spectral + wavelet) trained on
  every pool row, scored on every clip of ``labelled/``: AUC per dataset, and the DeepFaceLive pairs where the
  fake scores above its own original.

Development data is scored, never trained on. Fixed LightGBM settings (``modeling.training``), seed 0.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def vs_reals(raw, y, variant, mask) -> float:
    """AUC of the videos in ``mask`` against every real clip (original or codec copy)."""
    from modeling.metrics import roc_auc

    real = (y == 0) & np.isin(variant, ["orig", "orig+h264"])
    return round(float(roc_auc(np.r_[np.ones(mask.sum()), np.zeros(real.sum())], np.r_[raw[mask], raw[real]])), 3)


def experts_part(X, y, rows, names, spec: str, threads: int, *, fold_kinds: bool) -> dict:
    from modeling.stacking import expert_columns, expert_rows, only_columns
    from modeling.training import NUM_ROUNDS, fake_kind, fold_models, grouped_folds, per_video, resolve_params

    kinds = [fake_kind(r) for r in rows]
    folds = grouped_folds([r["_source"] for r in rows], y, n_folds=5, seed=0, kinds=kinds if fold_kinds else None)
    params = resolve_params(len(y), 0, threads, None)
    cols_of = expert_columns(names, spec)
    out = {}
    for (e, cols), sel in zip(cols_of.items(), expert_rows(list(cols_of), kinds)):
        Xe, Z = only_columns(X, cols), np.full(len(y), np.nan)
        keep = slice(None) if sel is None else sel  # the expert's rows, as stacked_cv trains it
        for f, b in fold_models(Xe[keep], y[keep], folds[keep], feature_names=names, params=params,
                                rounds=NUM_ROUNDS).items():
            Z[folds == f] = b.predict(Xe[folds == f], raw_score=True)
        vids = per_video(rows, Z, folds)
        raw = np.array([v["_raw"] for v in vids])
        vy = np.array([v["_label"] for v in vids])
        var = np.array([v["_variant"] for v in vids])
        meth = np.array([v["_method"] or "" for v in vids])
        coll = (vy == 1) & np.isin(var, ["orig", "orig+h264"])
        res = {"all collected fakes": vs_reals(raw, vy, var, coll)}
        res.update({g: vs_reals(raw, vy, var, coll & (meth == g)) for g in sorted(set(meth[coll]))})
        res.update({f"synthetic {k}": vs_reals(raw, vy, var, var == k)
                    for k in sorted({v for v in var if "+" not in v and not v.startswith("orig")})})
        out[e] = res
        print(e, json.dumps(res), flush=True)
    return out


def repository(path: str) -> str:
    """The folder of generated/ a clip comes from ('' for any other clip)."""
    parts = os.path.normpath(path).split(os.sep)
    return parts[parts.index("generated") + 1] if "generated" in parts[:-1] else ""


def loro_groups(repos) -> dict:
    """Issue 22's held-out groups: AniTalker, EDTalk, the Wav2Lip family, the rest."""
    w2l = sorted(r for r in repos if "wav2lip" in r.lower())
    named = {"AniTalker": [r for r in repos if r.endswith("AniTalker")],
             "EDTalk": [r for r in repos if r.endswith("EDTalk")], "Wav2Lip family": w2l}
    taken = {r for v in named.values() for r in v}
    named["the rest"] = sorted(r for r in repos if r not in taken)
    return {g: v for g, v in named.items() if v}


def loro_part(X, y, rows, names, stacker: dict, threads: int) -> dict:
    from modeling.metrics import roc_auc
    from modeling.stacking import expert_columns, expert_rows, only_columns
    from modeling.training import NUM_ROUNDS, fake_kind, final_model, grouped_folds, resolve_params

    kinds = np.array([fake_kind(r) for r in rows], dtype=object)
    repo = np.array([repository(r["_path"]) for r in rows])
    gen = kinds == "collected"
    path = np.array([r["_path"] for r in rows])
    clip = np.isin([r["_variant"] for r in rows], ["orig", "orig+h264"])
    real = (y == 0) & clip
    fold = np.full(len(y), -1)
    fold[~gen] = grouped_folds([r["_source"] for r, g in zip(rows, gen) if not g], y[~gen], n_folds=5, seed=0)
    params = resolve_params(len(y), 0, threads, None)
    cols_of = expert_columns(names, ",".join(stacker["experts"]))
    rows_of = expert_rows(list(cols_of), list(kinds))
    stacks = {"card stacker " + str(tuple(round(c, 3) for c in stacker["coef"])): stacker["coef"],
              "equal weights": [1.0] * len(cols_of)}

    def per_clip(mask, s):
        ps = path[mask]
        return np.array([s[mask][ps == p].mean() for p in sorted(set(ps))])

    out = {"groups": {}, "n_real_clips": int(len(set(path[real])))}
    for g, repos in loro_groups(sorted(set(repo[gen]))).items():
        held = gen & np.isin(repo, repos)
        Z = np.zeros((len(y), len(cols_of)))
        for f in range(5):
            te = real & (fold == f)
            for i, (cols, sel) in enumerate(zip(cols_of.values(), rows_of)):
                tr = ~held & (fold != f) & (np.ones(len(y), bool) if sel is None else sel)
                Xe = only_columns(X, cols)
                b = final_model(Xe[tr], y[tr], feature_names=names, params=params, rounds=NUM_ROUNDS)
                Z[te, i] = b.predict(Xe[te], raw_score=True)
                Z[held, i] += b.predict(Xe[held], raw_score=True) / 5
        res = {}
        for name, coef in [(e, np.eye(len(cols_of))[i]) for i, e in enumerate(cols_of)] + list(stacks.items()):
            s = Z @ np.asarray(coef, float)
            gg, rr = per_clip(held & clip, s), per_clip(real, s)
            res[name] = round(float(roc_auc(np.r_[np.ones(len(gg)), np.zeros(len(rr))], np.r_[gg, rr])), 3)
        out["groups"][g] = {"repositories": repos, "n_clips": int(len(set(path[held & clip]))),
                            "auc_vs_every_real": res}
        print(g, json.dumps(res), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "modeling", "default_model"))
    ap.add_argument("--features", default=None, help="feature set (default: the card's)")
    ap.add_argument("--experts", default="all,temporal@collected,context@collected,all@collected")
    ap.add_argument("--parts", default="experts,families,loro")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--out", default=os.path.join(HERE, "pool_transfer.json"))
    args = ap.parse_args(argv)

    from card_pool import CardPool
    from dataformats import read_labels
    from modeling.metrics import roc_auc
    from modeling.stacking import family_columns, only_columns
    from modeling.training import NUM_ROUNDS, feature_matrix, final_model, per_video, resolve_params
    from paired_columns import paired_pairs

    pool = CardPool(args.model, features=args.features, cache=args.cache, workers=args.workers)
    card, targs = pool.card, pool.args
    t0 = time.time()
    rows, failures = pool.rows()
    X, names = feature_matrix(rows)
    y = np.array([r["_label"] for r in rows], float)
    out = {"what": __doc__.split("\n\n")[0].strip(), "pool_from": card["training"]["command"],
           "features": targs.features, "rows": len(rows), "failures": dict(failures)}
    parts = set(args.parts.split(","))
    if "experts" in parts:
        out["experts_spec"] = args.experts
        out["experts"] = experts_part(X, y, rows, names, args.experts, args.workers,
                                      fold_kinds=bool(card.get("cv", {}).get("fold_strata")))
    if "loro" in parts:
        stacker = card["training"].get("stacker") or {"experts": ["all", "temporal@collected"], "coef": [1.0, 1.0]}
        out["loro"] = loro_part(X, y, rows, names, stacker, args.workers)
    if "families" in parts:
        recs = [r for r in read_labels(os.path.join(SHARED, "labelled")) if r.label is not None]
        lab, _ = pool.table(recs)
        L = np.array([[float(r.get(n, np.nan)) for n in names] for r in lab])
        pairs = [(os.path.join(SHARED, f), os.path.join(SHARED, o))
                 for ds, f, o in paired_pairs(os.path.join(SHARED, "manifest.csv")) if "DeepFaceLive" in ds]
        fams = family_columns(names)
        specs = dict(fams)
        specs["all"] = list(range(len(names)))
        specs["all but blending"] = [j for f, c in fams.items() if f != "blending" for j in c]
        if "spectral" in fams and "wavelet" in fams:
            specs["spectral + wavelet"] = fams["spectral"] + fams["wavelet"]
        params = resolve_params(len(y), 0, args.workers, None)
        out["families"] = {}
        for name, cols in specs.items():
            b = final_model(only_columns(X, cols), y, feature_names=names, params=params, rounds=NUM_ROUNDS)
            vids = per_video(lab, b.predict(only_columns(L, cols), raw_score=True))
            vy = np.array([v["_label"] for v in vids])
            ds = np.array([v["_dataset"] or "" for v in vids])
            raw = np.array([v["_raw"] for v in vids])
            by = {v["_path"]: v["_raw"] for v in vids}
            res = {"labelled/ (all)": round(float(roc_auc(vy, raw)), 3)}
            for d in sorted(set(ds)):
                s = ds == d
                if min(vy[s].sum(), (1 - vy[s]).sum()) >= 5:  # datasets with at least 5 clips of each class
                    res[d] = round(float(roc_auc(vy[s], raw[s])), 3)
            res["DeepFaceLive pairs, fake above its original"] = \
                f"{sum(by[f] > by[o] for f, o in pairs if f in by and o in by)} of {len(pairs)}"
            out["families"][name] = res
            print(name, json.dumps(res), flush=True)
    out["seconds"] = round(time.time() - t0, 1)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=True)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
