#!/usr/bin/env python
"""Trained models on the research-only clips of ``../shared/data/labelled``: the issue-22 targets, side by side.

    python bench/labelled_eval.py MODEL_DIR [MODEL_DIR ...] [--workers 2] [--out bench/labelled_eval.json]

For each model (a ``train.py`` output folder), on every labelled clip (never trained on): AUC with a
bootstrap 95 % interval (resampled by identity group, so a fake and its original move together), log loss
against a constant at the subset's base rate, mean P(fake) per class, overall and per dataset; the
DeepFaceLive pairs whose fake scores above its own original; and the AUC by ``reliability`` band
(``modeling.reliability``), to check that high-reliability rows are not worse than low ones. Each model after
the first is compared with it on the same clips: the AUC difference with a paired bootstrap interval.

Features come from the feature cache ``train.py --eval-data`` fills (``.cache/features``); the reliability
rule's own measurements (face size, which the shipped models do not use) from a second cache,
``.cache/reliability``, so the first is never overwritten by a smaller set of calculators. Development
data only: the numbers choose between named recipes, nothing is tuned to them.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
DFL = "DeepFaceLive demos (side-by-side panels)"
#: reliability bands (lower edges) whose AUCs are compared
BANDS = ((0.9, 1.01), (0.5, 0.9), (0.0, 0.5))


def constant_log_loss(y) -> float:
    """Log loss of the best constant for labels ``y``: the entropy of the base rate."""
    pi = float(np.mean(y))
    if pi in (0.0, 1.0):
        return 0.0
    return -(pi * math.log(pi) + (1 - pi) * math.log(1 - pi))


def subset_figures(y, p, groups, *, clip) -> dict:
    from modeling import metrics

    y, p = np.asarray(y, float), np.asarray(p, float)
    out = {"n": int(len(y)), "n_fake": int(y.sum()), "log_loss": metrics.log_loss(y, p, eps=clip),
           "constant_log_loss": constant_log_loss(y),
           "mean_p_fake": float(p[y == 1].mean()) if (y == 1).any() else None,
           "mean_p_real": float(p[y == 0].mean()) if (y == 0).any() else None}
    if 0 < y.sum() < len(y):
        ci = metrics.bootstrap_auc_ci(y, p, n_boot=2000, seed=0, groups=groups)
        out.update(auc=ci.auc, auc_ci95=[ci.lo, ci.hi])
    return out


def evaluate_model(model_dir: str, records, rows_by_path: dict, reliab: dict, originals: dict) -> dict:
    from modeling.detector import DetectorModel

    model = DetectorModel.load(model_dir)
    clip = float(model.card.get("clip", [0.01, 0.99])[0])
    rows = [r for rec in records for r in rows_by_path.get(rec.path, [])]
    videos = model.score_videos(rows)
    by_path = {v["_path"]: v for v in videos}
    rec_by_path = {r.path: r for r in records}
    scored = [p for p in by_path if p in rec_by_path]
    y = np.array([rec_by_path[p].label for p in scored], float)
    prob = np.array([by_path[p]["_prob"] for p in scored])
    groups = np.array([rec_by_path[p].group or p for p in scored])
    ds = np.array([rec_by_path[p].dataset or "(none)" for p in scored])
    out = {"model": os.path.normpath(model_dir), "overall": subset_figures(y, prob, groups, clip=clip),
           "per_dataset": {}, "scores": {os.path.relpath(p, SHARED): float(q) for p, q in zip(scored, prob)}}
    for d in sorted(set(ds)):
        sel = ds == d
        out["per_dataset"][d] = subset_figures(y[sel], prob[sel], groups[sel], clip=clip)
    older = np.char.startswith(ds.astype(str), "FF++") | (ds == "UADFV")  # the labelled clips before 2026-12-02
    if older.any():
        out["FF++ and UADFV"] = subset_figures(y[older], prob[older], groups[older], clip=clip)
    out["dfl_pairs_fake_above"] = fake_above_original({p: by_path[p]["_prob"] for p in scored},
                                                      {p: originals[p] for p in scored
                                                       if rec_by_path[p].dataset == DFL and p in originals})
    rel = np.array([reliab.get(p, np.nan) for p in scored])
    out["auc_by_reliability"] = reliability_bands(y, prob, rel)
    return out


def fake_above_original(score: dict, originals: dict) -> dict:
    """How many fakes score above their own original: ``score`` ``{path: P(fake)}``, ``originals``
    ``{fake path: original path}``; pairs with a side unscored are left out, a tie counts half."""
    diffs = np.array([score[f] - score[o] for f, o in originals.items()
                      if np.isfinite(score.get(f, np.nan)) and np.isfinite(score.get(o, np.nan))])
    return {"wins": float((diffs > 0).sum() + 0.5 * (diffs == 0).sum()), "pairs": int(len(diffs))}


def dfl_originals() -> dict:
    """``{fake path: its original's path}`` of the DeepFaceLive side-by-side pairs in the manifest (normalised)."""
    with open(os.path.join(SHARED, "manifest.csv"), newline="") as f:
        return {os.path.normpath(os.path.join(SHARED, r["path"])): os.path.normpath(os.path.join(SHARED, r["original"]))
                for r in csv.DictReader(f) if r["dataset"] == DFL and r["label"] == "FAKE" and r["original"]}


def paired_differences(ref: dict, new: dict, records) -> dict:
    """AUC of ``new`` minus ``ref`` (two :func:`evaluate_model` results) on the clips both scored, overall, per
    dataset and on the older clips, with a paired bootstrap 95 % interval resampled by identity group."""
    from modeling import metrics

    recs = {os.path.relpath(r.path, SHARED): r for r in records}
    both = sorted(set(ref["scores"]) & set(new["scores"]) & set(recs))
    ds = np.array([recs[p].dataset or "(none)" for p in both])
    subsets = {"overall": np.ones(len(both), bool),
               "FF++ and UADFV": np.char.startswith(ds.astype(str), "FF++") | (ds == "UADFV")}
    subsets.update({d: ds == d for d in sorted(set(ds))})
    out = {}
    for name, sel in subsets.items():
        keys = [p for p, k in zip(both, sel) if k]
        y = np.array([recs[p].label for p in keys])
        if not 0 < y.sum() < len(y):
            continue
        d = metrics.bootstrap_auc_diff_ci(y, [ref["scores"][p] for p in keys], [new["scores"][p] for p in keys],
                                          n_boot=2000, seed=0, groups=[recs[p].group or p for p in keys])
        out[name] = {"n": len(keys), "d_auc": d.auc, "ci95": [d.lo, d.hi]}
    return out


def reliability_bands(y, prob, rel, *, groups=None, bands=BANDS) -> dict:
    """AUC of the rows in each reliability band (``(lo, hi)`` pairs, default :data:`BANDS`:
    ``{"0.9-1.0": {n, n_fake, auc}, ...}``), with a bootstrap 95 % interval resampled by ``groups`` when
    they are given."""
    from modeling import metrics

    y, prob, rel = np.asarray(y), np.asarray(prob, float), np.asarray(rel, float)
    out = {}
    for lo, hi in bands:
        sel = (rel >= lo) & (rel < hi)
        name = f"{lo:.1f}-{min(hi, 1.0):.1f}"
        out[name] = {"n": int(sel.sum()), "n_fake": int(y[sel].sum())}
        if 0 < y[sel].sum() < sel.sum():
            out[name]["auc"] = metrics.roc_auc(y[sel], prob[sel])
            if groups is not None:
                ci = metrics.bootstrap_auc_ci(y[sel], prob[sel], n_boot=2000, seed=0,
                                              groups=np.asarray(groups)[sel])
                out[name]["auc_ci95"] = [ci.lo, ci.hi]
    return out


def labelled_records() -> list:
    """The labelled clips of ``../shared/data/labelled`` (unlabelled ones left out), paths normalised."""
    from dataformats import read_labels

    records = [r for r in read_labels(os.path.join(SHARED, "labelled")) if r.label is not None]
    for r in records:
        r.path = os.path.normpath(r.path)
    return records


def card_rows(records, card: dict, *, cache: str, workers: int) -> tuple[list, dict]:
    """``(rows, failures)``: the feature rows a model's ``card`` scores (its calculators, sampling and row
    kind), as ``train.py --eval-data`` extracted them (so normally all from ``cache``)."""
    from cli.common import calculators_by_key
    from modeling.card import card_sampling
    from pipeline.batch import extract_table

    return extract_table(records, calculators=calculators_by_key(card["calculators"]), **card_sampling(card),
                         device="cpu", seed=0, cache_dir=cache, workers=workers,
                         rows=card.get("rows", "video"), log=lambda *a: None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--reliability-cache", default=os.path.join(ROOT, ".cache", "reliability"))
    ap.add_argument("--out", default=os.path.join(HERE, "labelled_eval.json"))
    args = ap.parse_args(argv)

    from cli.common import calculators_by_key
    from modeling.card import card_sampling
    from modeling.detector import DetectorModel
    from modeling.reliability import RELIABILITY_CALCULATORS, reliability
    from pipeline.batch import extract_table

    records = labelled_records()
    with open(os.path.join(SHARED, "manifest.csv"), newline="") as f:
        def full(rel):
            return os.path.normpath(os.path.join(SHARED, rel))

        originals = {full(r["path"]): full(r["original"]) for r in csv.DictReader(f) if r["original"]}
    results = []
    cached_rows: dict = {}
    rel_rows, _ = extract_table(records, calculators=calculators_by_key(RELIABILITY_CALCULATORS), frames=32,
                                dense=64, device="cpu", seed=0,
                                cache_dir=args.reliability_cache, workers=args.workers, rows="video",
                                log=lambda *a: None)
    reliab = {os.path.normpath(r["_path"]): reliability(r).score for r in rel_rows}
    for m in args.models:
        card = DetectorModel.load(m).card
        key = (tuple(card["calculators"]), card.get("rows", "video"), *card_sampling(card).values())
        if key not in cached_rows:
            rows, _ = card_rows(records, card, cache=args.cache, workers=args.workers)
            grouped = defaultdict(list)
            for r in rows:
                grouped[os.path.normpath(r["_path"])].append(r)
            cached_rows[key] = grouped
        res = evaluate_model(m, records, cached_rows[key], reliab, originals)
        results.append(res)
        o = res["overall"]
        print(f"{m}: AUC {o.get('auc', float('nan')):.3f} [{o['auc_ci95'][0]:.2f}, {o['auc_ci95'][1]:.2f}], "
              f"log loss {o['log_loss']:.3f} (constant {o['constant_log_loss']:.3f}), "
              f"DeepFaceLive pairs {res['dfl_pairs_fake_above']['wins']:.0f}/{res['dfl_pairs_fake_above']['pairs']}")
        for d, s in res["per_dataset"].items():
            if "auc" in s:
                print(f"   {d:<45} AUC {s['auc']:.3f} [{s['auc_ci95'][0]:.2f}, {s['auc_ci95'][1]:.2f}] "
                      f"log loss {s['log_loss']:.3f} ({s['constant_log_loss']:.3f})  n={s['n']}")
        if "auc" in res.get("FF++ and UADFV", {}):
            s = res["FF++ and UADFV"]
            print(f"   {'FF++ and UADFV (the older clips)':<45} AUC {s['auc']:.3f} [{s['auc_ci95'][0]:.2f}, "
                  f"{s['auc_ci95'][1]:.2f}] log loss {s['log_loss']:.3f} ({s['constant_log_loss']:.3f})  n={s['n']}")
        print("   AUC by reliability:", {k: (round(v["auc"], 3) if "auc" in v else None, v["n"])
                                          for k, v in res["auc_by_reliability"].items()})
    paired = {}
    for res in results[1:]:
        paired[res["model"]] = paired_differences(results[0], res, records)
        print(f"{res['model']} minus {results[0]['model']}:")
        for name, d in paired[res["model"]].items():
            print(f"   {name:<45} {d['d_auc']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]  n={d['n']}")
    with open(args.out, "w") as f:
        json.dump({"what": __doc__.split("\n\n")[0].strip(), "results": results, "paired": paired}, f, indent=1,
                  allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
