#!/usr/bin/env python
"""Does audio-visual synchrony (the ``av`` family) tell generated talking heads and lip-sync from real talkers?

    python bench/av_probe.py [--workers 2] [--out bench/av_probe.json]

Clips: ``../shared/data/real`` and ``../shared/data/generated`` (the redistributable pool), **only those with an
audio stream in both classes**, since "has audio" alone is a label cue in this pool (most generated clips carry
audio, most real ones do not); its own AUC is reported beside the features so the shortcut is visible.

For each ``av`` column: AUC of generated against real over the clips with audio, with a bootstrap interval,
and per generator repository the AUC with the column's direction chosen on the *other* repositories (so a
held-out generator is scored as a new one would be). No model is trained; nothing here uses ``labelled/``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def has_audio(path: str) -> bool:
    import av

    try:
        with av.open(path) as c:
            return bool(c.streams.audio)
    except Exception:  # noqa: BLE001
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--out", default=os.path.join(HERE, "av_probe.json"))
    args = ap.parse_args(argv)

    from dataformats import read_labels
    from features.registry import select
    from modeling.metrics import bootstrap_auc_ci, roc_auc
    from pipeline.batch import extract_table

    with open(os.path.join(SHARED, "manifest.csv"), newline="") as f:
        man = {r["path"]: r for r in csv.DictReader(f)}
    recs = [r for r in read_labels(SHARED) if os.path.relpath(r.path, SHARED).split("/")[0] in ("real", "generated")]
    audio = {r.path: has_audio(r.path) for r in recs}
    y_all = np.array([r.label for r in recs])
    a_all = np.array([audio[r.path] for r in recs], float)
    out = {"what": __doc__.split("\n\n")[0].strip(),
           "clips": {"real": int((y_all == 0).sum()), "generated": int((y_all == 1).sum()),
                     "real_with_audio": int(((y_all == 0) & (a_all == 1)).sum()),
                     "generated_with_audio": int(((y_all == 1) & (a_all == 1)).sum())},
           "has_audio_alone_auc": roc_auc(y_all, a_all)}
    with_audio = [r for r in recs if audio[r.path]]
    t0 = time.time()
    rows, failures = extract_table(with_audio, calculators=select("av"), frames=32, dense=64, device="cpu", seed=0,
                                   cache_dir=args.cache or None, workers=args.workers, rows="video",
                                   log=lambda *a: print(*a, file=sys.stderr))
    out["extraction_seconds"] = round(time.time() - t0, 1)
    out["failures"] = dict(failures)
    cols = sorted(c for c in rows[0] if c.startswith("av__"))
    y = np.array([r["_label"] for r in rows])
    repo = [man[os.path.relpath(r["_path"], SHARED)]["source_repo"] if r["_label"] else "real" for r in rows]
    out["nan_share"] = {c: float(np.mean([not np.isfinite(float(r[c])) for r in rows])) for c in cols}
    per_col = {}
    for c in cols:
        x = np.array([float(r[c]) for r in rows])
        ok = np.isfinite(x)
        auc = roc_auc(y[ok], x[ok])
        ci = bootstrap_auc_ci(y[ok], x[ok])
        lo, hi = ci.lo, ci.hi
        held = {}
        reals = ok & (y == 0)
        for g in sorted({repo[i] for i in range(len(rows)) if y[i] == 1}):
            inside = np.array([repo[i] == g for i in range(len(rows))]) & ok
            others = ok & (y == 1) & ~inside
            if not inside.any() or not others.any():
                continue
            sign = 1.0 if roc_auc(y[reals | others], x[reals | others]) >= 0.5 else -1.0
            sel = reals | inside
            held[g] = {"n": int(inside.sum()), "auc_direction_from_others": roc_auc(y[sel], sign * x[sel])}
        per_col[c] = {"auc": auc, "auc_ci95": [lo, hi], "held_out_generators": held}
    out["columns"] = per_col
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=True)
    print(json.dumps({k: out[k] for k in ("clips", "has_audio_alone_auc", "nan_share")}, indent=1))
    for c, v in per_col.items():
        print(f"{c:35s} AUC {v['auc']:.3f} [{v['auc_ci95'][0]:.2f}, {v['auc_ci95'][1]:.2f}]  " +
              ", ".join(f"{g.split('/')[-1]} {h['auc_direction_from_others']:.2f}"
                        for g, h in v["held_out_generators"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
