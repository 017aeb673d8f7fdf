#!/usr/bin/env python
"""``reliability`` against the shipped model's out-of-fold accuracy in leave-source-out CV (issue 22, item 5).

    python bench/reliability_cv.py [--model modeling/default_model] [--workers 2] [--out bench/reliability_cv.json]

The model's ``oof.csv`` holds every training video and variant scored by the fold that did not train on its
source. This script gives each of those rows its ``reliability`` (``modeling.reliability``) and reports the
AUC per reliability band, as ``bench/labelled_eval.py`` does on ``labelled/``, with a bootstrap interval
resampled by source video. The rule's inputs:

* compression, blur and enlargement (``quality__*__q50``) are read from the row's own variant, through the
  feature cache that ``train.py`` filled (``bench/experiments/card_pool.py``);
* the face side (``meta__side_px__q50``; the shipped model does not use ``meta``) is measured once per
  source video, on its original, and given to all its variants (a synthetic fake is made on the same frames
  and a codec copy keeps the size; the second cache ``.cache/reliability`` holds it).

Two views: all rows (reals and their codec copies against every synthetic and collected fake), and only the
collected clips (reals against the generated/ videos, the fakes that were not made by this code).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "modeling", "default_model"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--reliability-cache", default=os.path.join(ROOT, ".cache", "reliability"))
    ap.add_argument("--out", default=os.path.join(HERE, "reliability_cv.json"))
    args = ap.parse_args(argv)

    from cli.common import calculators_by_key
    from experiments.card_pool import CardPool
    from labelled_eval import reliability_bands
    from modeling.reliability import LIMITS, RELIABILITY_CALCULATORS, reliability
    from pipeline.batch import extract_table

    t0 = time.perf_counter()
    pool = CardPool(args.model, cache=args.cache, workers=args.workers)
    rows, failures = pool.rows(rows="video")
    quality = {(os.path.normpath(r["_path"]), r["_variant"]): r for r in rows}
    rel_rows, rel_failures = extract_table(pool.records, calculators=calculators_by_key(RELIABILITY_CALCULATORS),
                                           frames=pool.args.frames, dense=pool.args.dense,
                                           stride=pool.args.stride, device="cpu",
                                           seed=pool.args.seed, cache_dir=args.reliability_cache,
                                           workers=args.workers, rows="video", log=lambda *a: None)
    side = {os.path.normpath(r["_path"]): r.get("meta__side_px__q50") for r in rel_rows}
    quality_cols = [c for c, *_ in LIMITS if not c.startswith("meta__")]

    with open(os.path.join(args.model, "oof.csv"), newline="") as f:
        oof = list(csv.DictReader(f))
    y, prob, rel, groups, collected, reasons = [], [], [], [], [], []
    missing = 0
    for r in oof:
        path = os.path.normpath(r["filename"])
        q = quality.get((path, r["variant"]))
        if q is None or r["prob"] == "":
            missing += 1
            continue
        feats = {c: q.get(c) for c in quality_cols} | {"meta__side_px__q50": side.get(path)}
        rv = reliability({k: v for k, v in feats.items() if v is not None})
        y.append(int(r["label"]))
        prob.append(float(r["prob"]))
        rel.append(rv.score)
        reasons.append(rv.reason.split(" (")[0] if rv.reason else "")
        groups.append(r["group"])
        collected.append(r["variant"] == "orig")
    y, prob, rel = np.array(y), np.array(prob), np.array(rel)
    groups, collected, reasons = np.array(groups), np.array(collected), np.array(reasons)

    out = {"what": __doc__.split("\n\n")[0].strip(), "model": os.path.relpath(args.model, ROOT),
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
           "n_rows": int(len(y)), "rows_without_features": missing, "failures": dict(failures),
           "reliability_failures": dict(rel_failures), "views": {}}
    for view, sel in (("all rows", np.ones(len(y), bool)), ("collected clips only", collected)):
        bands = reliability_bands(y[sel], prob[sel], rel[sel], groups=groups[sel])
        bands |= reliability_bands(y[sel], prob[sel], rel[sel], groups=groups[sel], bands=((0.5, 1.01),))
        limiting = {}
        for reason in sorted(set(reasons[sel & (rel < 1)])):
            limiting[str(reason)] = int((reasons[sel & (rel < 1)] == reason).sum())
        out["views"][view] = {"n": int(sel.sum()), "n_fake": int(y[sel].sum()), "bands": bands,
                              "limiting_cause_below_1": limiting}
        print(f"{view} (n={sel.sum()}):")
        for name, b in bands.items():
            auc = f"{b['auc']:.3f} [{b['auc_ci95'][0]:.2f}, {b['auc_ci95'][1]:.2f}]" if "auc" in b else "-"
            print(f"   reliability {name}: AUC {auc}  n={b['n']} (fakes {b['n_fake']})")
        print("   limiting cause below 1:", limiting)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
