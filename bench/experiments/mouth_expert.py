#!/usr/bin/env python
"""``+ mouth, generator expert only``: the mouth-motion columns in the temporal expert of the collected fakes alone.

    python bench/experiments/mouth_expert.py --pool-model /tmp/models/mouth [--model modeling/default_model]
        [--out bench/experiments/mouth_expert.json]

``--pool-model``: a model trained with the shipped command plus ``temporal.mouth`` (``--features
all,temporal,context,-meta,-prnu``), whose feature cache holds every pool and labelled clip with those columns.
The synthetic swaps damp the mouth's motion against their own originals, so in the ``all`` expert the columns
teach a synthesis artefact; here the ``all`` expert is the shipped one (its out-of-fold margins as
``combine_experts.py`` saved them, checked against ``oof.csv``; retraining it on a wider matrix would draw other
column subsets) and only ``temporal@collected``, which never sees a synthetic fake, gets the three columns. That
expert is trained in the shipped card's folds with 5 LightGBM seeds, with the mouth columns and without them (the
control: how much a retrain alone moves the figures), stacked as ``stacked_cv`` stacks (non-negative weights, each
kind of fake alike) and calibrated as ``train.py`` calibrates; figures are ``bench/oof_figures.py``'s, paired
against the shipped model's ``oof.csv``. labelled/ (the card's seed): the shipped ``all`` expert split from its
booster with a final temporal expert trained on every real and collected row, paired against the shipped model.
The rule is in
``docs/results.md`` "Mouth motion in the model", written before this ran.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

#: LightGBM seeds of the temporal expert, with and without the mouth columns: how much a retrain alone moves
SEEDS = [0, 1, 2, 3, 4]

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path[:0] = [HERE, BENCH, ROOT]  # the probes' helpers, bench/'s, then the packages


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool-model", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "modeling", "default_model"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--out", default=os.path.join(HERE, "mouth_expert.json"))
    args = ap.parse_args(argv)

    from card_pool import CardPool
    from combine_experts import split_margins
    from labelled_eval import card_rows, dfl_originals, fake_above_original, labelled_records, subset_figures
    from oof_figures import figures, paired, read_oof

    from features.registry import family_of
    from modeling.calibration import apply_platt, balanced_weights, fit_platt
    from modeling.detector import DetectorModel
    from modeling.metrics import bootstrap_auc_diff_ci
    from modeling.stacking import fit_stacker, only_columns
    from modeling.training import NUM_ROUNDS, fake_kind, feature_matrix, final_model, fold_models, grouped_folds, \
        per_video, resolve_params

    t0 = time.time()
    shipped = DetectorModel.load(args.model)
    card = shipped.card
    seed = int(card["training"].get("seed", 0))
    pool = CardPool(args.pool_model, cache=args.cache, workers=args.workers)
    rows, _ = pool.rows()
    X, names = feature_matrix(rows)
    y = np.array([r["_label"] for r in rows], float)
    kinds = [fake_kind(r) for r in rows]
    folds = grouped_folds([r["_source"] for r in rows], y, n_folds=int(card["cv"]["folds"]), seed=seed, kinds=kinds)
    params = resolve_params(len(y), seed, args.workers, None)
    # the all expert: the shipped one's own out-of-fold margins (bench/experiments/combine_experts.py keeps them;
    # retraining it on a matrix with more columns would draw other column subsets, feature_fraction 0.7)
    saved = np.load(os.path.join(ROOT, ".cache", "combine_experts_oof.npz"))
    z_all = saved["Z"][:, 0]
    st = card["training"]["stacker"]
    ref = read_oof(args.model)
    lin = per_video(rows, saved["Z"] @ np.asarray(st["coef"]) + st["intercept"])
    gap = max(abs(v["_raw"] - float(ref[(os.path.normpath(v["_path"]), v["_variant"])]["raw"])) for v in lin
              if (os.path.normpath(v["_path"]), v["_variant"]) in ref)
    assert gap < 1e-9, f"the saved margins are not this pool's rows ({gap})"
    tcols = [j for j, n in enumerate(names) if family_of(n) == "temporal"]
    sel = np.isin(kinds, ["real", "collected"])
    variants = {"with mouth": tcols, "without (control)": [j for j in tcols if "mouth_motion" not in names[j]]}

    def temporal_oof(cols, s):
        z = np.full(len(y), np.nan)
        prm = dict(params, seed=s)
        Xe = only_columns(X, cols)
        for f, bst in fold_models(Xe[sel], y[sel], folds[sel], feature_names=names, params=prm,
                                  rounds=NUM_ROUNDS).items():
            z[folds == f] = bst.predict(Xe[folds == f], raw_score=True)
        return z

    def stacked(z_t):
        Z = np.c_[z_all, z_t]
        ok = np.isfinite(Z).all(axis=1)
        coef, intercept = fit_stacker(Z[ok], y[ok], weights=balanced_weights(y[ok], np.asarray(kinds)[ok]))
        vids = per_video(rows, Z @ coef + intercept, folds)
        v_raw = np.array([v["_raw"] for v in vids])
        v_y = np.array([v["_label"] for v in vids])
        src = np.array([v["_source"] for v in vids])
        okv = np.isfinite(v_raw)
        a, b = fit_platt(v_raw[okv], v_y[okv], weights=balanced_weights(v_y[okv], src[okv]))
        p = apply_platt(v_raw, a, b, tuple(card["clip"]))
        new = {(os.path.normpath(v["_path"]), v["_variant"]): dict(label=int(v["_label"]), prob=float(pi),
                                                                   method=v["_method"] or "", group=v["_group"])
               for v, pi in zip(vids, p) if np.isfinite(pi)}
        return coef, float(intercept), (float(a), float(b)), new

    out = {"what": __doc__.split("\n\n")[0].strip(), "seeds": SEEDS, "by_seed": {}}
    keep = {}
    for name, cols in variants.items():
        for s in SEEDS:
            coef, intercept, cal, new = stacked(temporal_oof(cols, s))
            figs, pr = figures(new, clip=card["clip"][0]), paired(ref, new)
            held = {k.split(": ")[1]: round(v["auc"], 3) for k, v in figs.items() if k.startswith("held-out")}
            out["by_seed"][f"{name}, seed {s}"] = {
                "stacker": coef.tolist() + [intercept], "pool": round(figs["pool, every variant"]["auc"], 3),
                "pool_paired": pr["pool, every variant"], "reals_above_0.5": figs["real clips above 0.5"]["above"],
                "held_out": held, "held_out_paired": {k.split(": ")[1]: v for k, v in pr.items()
                                                      if k.startswith("held-out")}}
            if s == seed:
                keep[name] = (coef, intercept, cal, figs, pr)
            print(f"{name}, seed {s}: weights {np.round(coef, 3)}, pool {figs['pool, every variant']['auc']:.3f} "
                  f"({pr['pool, every variant']['d_auc']:+.3f}), reals above 0.5 "
                  f"{figs['real clips above 0.5']['above']}, held out " + " / ".join(f"{v:.3f}" for v in held.values()),
                  flush=True)
    coef, intercept, (a, b), figs, pr = keep["with mouth"]
    out |= {"stacker": {"experts": ["all (shipped)", "temporal@collected + mouth"], "coef": coef.tolist(),
                        "intercept": intercept}, "calibration": [a, b], "pool": figs, "pool_paired_vs_shipped": pr}
    for k, v in figs.items():
        if "auc" in v and not k.startswith("synthetic"):
            d = pr.get(k)
            print(f"  seed {seed}, {k}: {v['auc']:.3f}" + (f"  ({d['d_auc']:+.3f} [{d['ci95'][0]:+.3f}, "
                                                          f"{d['ci95'][1]:+.3f}])" if d else ""), flush=True)

    # labelled/: the shipped all expert and a final temporal expert with the mouth columns
    cols = variants["with mouth"]
    tb = final_model(only_columns(X, cols)[sel], y[sel], feature_names=names, params=params, rounds=NUM_ROUNDS)
    recs = labelled_records()
    lrows, _ = card_rows(recs, pool.card, cache=args.cache, workers=args.workers)
    L, _ = feature_matrix(lrows, names)
    L_old, _ = feature_matrix(lrows, card["features"])
    z_all_l = split_margins(shipped.booster, st, L_old)[:, 0]
    z_t = tb.predict(only_columns(L, cols), raw_score=True)
    lv = per_video(lrows, np.c_[z_all_l, z_t] @ coef + intercept)
    lv_ref = per_video(lrows, shipped.raw_score(L_old))
    ly = np.array([v["_label"] for v in lv])
    lp = apply_platt([v["_raw"] for v in lv], a, b, tuple(card["clip"]))
    lp_ref = shipped.calibrate([v["_raw"] for v in lv_ref])
    grp = [v["_group"] for v in lv]
    ds = np.array([v["_dataset"] or "" for v in lv])
    path = [os.path.normpath(v["_path"]) for v in lv]
    lab = {"overall": subset_figures(ly, lp, grp, clip=card["clip"][0]), "per_dataset": {}}
    d = bootstrap_auc_diff_ci(ly, lp_ref, lp, n_boot=2000, seed=0, groups=grp)
    lab["overall_paired_vs_shipped"] = {"d_auc": d.auc, "ci95": [d.lo, d.hi]}
    for name in sorted(set(ds)):
        m = ds == name
        if len(set(ly[m])) == 2:
            g = [x for x, k in zip(grp, m) if k]
            dd = bootstrap_auc_diff_ci(ly[m], lp_ref[m], lp[m], n_boot=2000, seed=0, groups=g)
            lab["per_dataset"][name] = dict(subset_figures(ly[m], lp[m], g, clip=card["clip"][0]),
                                            paired_vs_shipped={"d_auc": dd.auc, "ci95": [dd.lo, dd.hi]})
    lab["dfl_pairs_fake_above"] = wins = fake_above_original(dict(zip(path, lp)), dfl_originals())
    out["labelled"] = lab
    o = lab["overall"]
    print(f"labelled: {o['auc']:.3f} [{o['auc_ci95'][0]:.2f}, {o['auc_ci95'][1]:.2f}] log loss {o['log_loss']:.3f}, "
          f"paired {d.auc:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]; DFL pairs {wins['wins']:g}/{wins['pairs']}")
    for name, s in lab["per_dataset"].items():
        q = s["paired_vs_shipped"]
        print(f"  {name}: {s['auc']:.3f} ({q['d_auc']:+.3f} [{q['ci95'][0]:+.3f}, {q['ci95'][1]:+.3f}])")
    out["seconds"] = round(time.time() - t0, 1)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
