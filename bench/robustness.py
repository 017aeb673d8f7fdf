#!/usr/bin/env python
"""Score a model on a labelled set under each perturbation of the DFDC black-box kind.

    python bench/robustness.py --model DIR --data ../shared/data/labelled [--kinds all,pairs] [--workers 2]

Writes perturbed copies under ``--work`` (default ``.cache/robustness``; reused on later runs), predicts
each copy as a user's upload, and writes ``DIR/robustness.json`` (shown by ``python report.py DIR``):
AUC with a bootstrap interval, log loss and their change from clean, per perturbation.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from cli.predict import predict_one  # noqa: E402
from dataformats import read_labels  # noqa: E402
from modeling.detector import DetectorModel  # noqa: E402
from pipeline.batch import parallel_map  # noqa: E402
from pipeline.cache import file_hash  # noqa: E402
from reporting.robustness import ROBUSTNESS_FILE, robustness_table  # noqa: E402
from synthesis.perturb import expand_kinds, perturb_file  # noqa: E402
from synthesis.variants import stable_seed  # noqa: E402


def _job(item):
    src, dst, kind, seed, cfg = item
    try:
        if kind != "clean" and not os.path.isfile(dst):
            perturb_file(src, dst + ".tmp.mp4", kind, seed=seed)
            os.replace(dst + ".tmp.mp4", dst)
        row, _ = predict_one(src if kind == "clean" else dst, cfg)
        return src, kind, row
    except Exception as e:  # noqa: BLE001 - a failed copy is left out of its kind, never fatal
        return src, kind, {"status": "error", "message": f"{type(e).__name__}: {e}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--data", required=True, nargs="+", help="labelled data (any layout train.py reads)")
    ap.add_argument("--kinds", default="all", help="perturbations: all, pairs, names or a+b (comma-separated)")
    ap.add_argument("--work", default=os.path.join(".cache", "robustness"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=None, help="default: MODEL/robustness.json")
    args = ap.parse_args(argv)
    model = DetectorModel.load(args.model)
    records = [r for d in args.data for r in read_labels(d) if r.label is not None]
    kinds = expand_kinds(args.kinds.split(","))
    cfg = {"model": args.model, "frames": model.card["frames"], "dense": model.card.get("dense", 64),
           "device": "cpu", "explain": None}
    items = []
    for r in records:
        h = file_hash(r.path)
        for kind in ["clean"] + kinds:
            dst = os.path.join(args.work, kind, f"{h}.mp4")
            items.append((r.path, dst, kind, stable_seed(os.path.basename(r.path), args.seed), cfg))
    probs: dict = {}
    failures = 0
    t0 = time.time()
    for i, (src, kind, row) in enumerate(parallel_map(_job, items, args.workers), 1):
        if row.get("status") in ("ok", "partial"):
            probs.setdefault(kind, {})[src] = float(row["label"])
        else:
            failures += 1
        if i % 50 == 0 or i == len(items):
            print(f"  {i}/{len(items)} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    labels = {r.path: r.label for r in records}
    rows = robustness_table(labels, probs.get("clean", {}), {k: probs.get(k, {}) for k in kinds})
    out = {"model": args.model or "shipped default", "data": ", ".join(args.data), "kinds": kinds, "rows": rows,
           "failures": failures, "seed": args.seed,
           "note": "Each copy is scored against the same videos' clean scores."}
    path = args.output or os.path.join(args.model or os.path.join(os.path.dirname(HERE), "modeling",
                                                                   "default_model"), ROBUSTNESS_FILE)
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=float)
    for r in rows:
        print(f"{r['kind']:<28} AUC {r['auc']:.3f} [{r['auc_lo']:.2f}, {r['auc_hi']:.2f}]  dAUC {r['d_auc']:+.3f}  "
              f"log loss {r['log_loss']:.3f} ({r['d_log_loss']:+.3f})  n={r['n']}")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
