#!/usr/bin/env python
"""Does the mouth's motion against the upper face (``temporal.mouth``, no audio) tell generators from real talkers?

    python bench/experiments/mouth_probe.py [--workers 2] [--out bench/experiments/mouth_probe.json]

The ``av`` family's one column that carried (``speech_motion_ratio``, AUC 0.74 on the clips with audio,
``docs/paired-analysis.md`` §3) measures how much the mouth moves relative to the eyes and brows while there is
speech. ``temporal.mouth`` takes the same measure over every frame of the dense window, so it needs no
soundtrack and cannot tell which clips have one. No model is trained. Per column:

* the pool (every clip of ``real/`` and ``generated/``): AUC generated against real with a bootstrap interval,
  and for each of issue 22's held-out groups (AniTalker, EDTalk, the Wav2Lip family, the rest) its clips
  against every real clip, with the column's direction chosen on the other groups;
* ``labelled/`` (scored, never used to choose a direction): AUC per dataset with the pool's direction, and
  the DeepFaceLive pairs where the fake is above its own original.
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
sys.path[:0] = [HERE, BENCH, ROOT]  # the probes' helpers, bench/'s, then the packages
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--out", default=os.path.join(HERE, "mouth_probe.json"))
    args = ap.parse_args(argv)

    from dataformats import read_labels
    from features.registry import all_calculators
    from labelled_eval import dfl_originals, fake_above_original, labelled_records
    from modeling.metrics import bootstrap_auc_ci, roc_auc
    from pipeline.batch import extract_table
    from pool_transfer import loro_groups, repository

    calcs = [c for c in all_calculators() if c.key == "temporal.mouth"]
    pool = [r for r in read_labels(SHARED) if os.path.relpath(r.path, SHARED).split("/")[0] in ("real", "generated")]
    t0 = time.time()

    def table(recs):
        rows, failures = extract_table(recs, calculators=calcs, frames=32, dense=64, device="cpu", seed=0,
                                       cache_dir=args.cache or None, workers=args.workers, rows="video",
                                       log=lambda *a: print(*a, file=sys.stderr))
        return rows, dict(failures)

    rows, failures = table(pool)
    lrows, lfail = table(labelled_records())
    out = {"what": __doc__.split("\n\n")[0].strip(), "clips": len(rows), "labelled_clips": len(lrows),
           "failures": failures, "labelled_failures": lfail, "extraction_seconds": round(time.time() - t0, 1)}
    cols = sorted(c for c in rows[0] if c.startswith("temporal__mouth"))
    y = np.array([r["_label"] for r in rows])
    repo = np.array([repository(r["_path"]) for r in rows])
    groups = loro_groups(sorted(set(repo[y == 1])))
    ly = np.array([r["_label"] for r in lrows])
    lds = np.array([r["_dataset"] or "" for r in lrows])
    lpath = [os.path.normpath(r["_path"]) for r in lrows]
    pairs = dfl_originals()
    out["columns"] = {}
    for c in cols:
        x = np.array([float(r[c]) for r in rows])
        ok = np.isfinite(x)
        ci = bootstrap_auc_ci(y[ok], x[ok])
        res = {"nan_share": float(1 - ok.mean()), "pool_auc": ci.auc, "pool_auc_ci95": [ci.lo, ci.hi], "held_out": {}}
        reals = ok & (y == 0)
        for g, repos in groups.items():
            inside = ok & (y == 1) & np.isin(repo, repos)
            others = ok & (y == 1) & ~inside
            sign = 1.0 if roc_auc(y[reals | others], x[reals | others]) >= 0.5 else -1.0
            sel = reals | inside
            res["held_out"][g] = {"n": int(inside.sum()), "auc_direction_from_others": roc_auc(y[sel], sign * x[sel])}
        sign = 1.0 if ci.auc >= 0.5 else -1.0
        lx = sign * np.array([float(r[c]) for r in lrows])
        lok = np.isfinite(lx)
        res["labelled"] = {"all": roc_auc(ly[lok], lx[lok])}
        for d in sorted(set(lds)):
            m = lok & (lds == d)
            if len(set(ly[m])) == 2:
                res["labelled"][d] = {"n": int(m.sum()), "auc": roc_auc(ly[m], lx[m])}
        res["dfl_pairs_fake_above"] = wins = fake_above_original(dict(zip(lpath, lx)), pairs)
        out["columns"][c] = res
        print(f"{c}: pool {ci.auc:.3f} [{ci.lo:.2f}, {ci.hi:.2f}] NaN {res['nan_share']:.2f}; held out "
              + ", ".join(f"{g} {h['auc_direction_from_others']:.2f}" for g, h in res["held_out"].items())
              + f"; labelled {res['labelled']['all']:.3f}, "
              + ", ".join(f"{d.split('/')[-1][:20]} {v['auc']:.2f}" for d, v in res["labelled"].items() if d != "all")
              + f"; DFL pairs {wins['wins']:g}/{wins['pairs']}", flush=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
