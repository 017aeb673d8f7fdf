#!/usr/bin/env python
"""Which clips should the Platt calibration be fitted on? Two named recipes, judged on the pool first (issue 22, item 5).

    python bench/experiments/calibration_recipes.py [--model modeling/default_model] [--out ...json]

The shipped model's probabilities lean "real" on sources it never saw (``labelled/``: mean P(fake) 0.41 for
the fakes, 0.33 for the reals, log loss 0.727 against 0.692 for a constant). ``train.py`` fits
``P = sigmoid(a * raw + b)`` on the out-of-fold raw scores, each class and each source weighing the same.
The recipes differ only in which out-of-fold videos the fit sees:

* ``all`` (shipped): every video and variant: reals, their codec copies, synthetic and collected fakes;
* ``collected`` (``train.py --calibrate-on collected``): the reals and the collected generator clips only,
  the fakes that were not made by this code, on the argument that an unseen source looks more like them.

The pool's measure (chooses): **leave-one-source-out calibration** on the collected clips: for each source
(repository folder) of ``real/`` and ``generated/``, the recipe is fitted without that source's rows and
scores its clips; log loss over those held-out clips, and the reals above 0.5 (the false-positive target).
``labelled/`` is reported beside it (development data: it may only choose between these two), with the
same raw scores: the model and its boosters are untouched, only ``(a, b)`` changes.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(HERE))
DATASETS = ("DeepFaceLive demos (side-by-side panels)", "FF++ c40", "UADFV")


def _fit(raw, y, src, sel):
    from modeling.calibration import balanced_weights, fit_platt

    return fit_platt(raw[sel], y[sel], weights=balanced_weights(y[sel], src[sel]))


def _figures(y, p, groups, *, clip) -> dict:
    """:func:`labelled_eval.subset_figures` and the reals above 0.5 (the false-positive target)."""
    from labelled_eval import subset_figures

    return subset_figures(y, p, groups, clip=clip) | {"reals_above_half": int((p[y == 0] > 0.5).sum()),
                                                      "n_real": int((y == 0).sum())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "modeling", "default_model"))
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "calibration_recipes.json"))
    args = ap.parse_args(argv)

    from labelled_eval import card_rows, labelled_records
    from modeling.calibration import apply_platt
    from modeling.detector import DetectorModel

    model = DetectorModel.load(args.model)
    card, clip = model.card, float(model.card.get("clip", [0.01, 0.99])[0])
    with open(os.path.join(args.model, "oof.csv"), newline="") as f:
        oof = [r for r in csv.DictReader(f) if r["raw"] != ""]
    raw = np.array([float(r["raw"]) for r in oof])
    y = np.array([int(r["label"]) for r in oof])
    collected = np.array([r["variant"] == "orig" for r in oof])
    src = np.array([os.path.dirname(os.path.normpath(r["filename"])) for r in oof])
    groups = np.array([r["group"] for r in oof])
    fit_on = {"all": np.ones(len(y), bool), "collected": collected}

    recs = labelled_records()
    rows, _ = card_rows(recs, card, cache=args.cache, workers=args.workers)
    scored = {os.path.normpath(v["_path"]): v for v in model.score_videos(rows)}
    lab = [r for r in recs if r.path in scored]
    y_lab = np.array([r.label for r in lab])
    raw_lab = np.array([scored[r.path]["_raw"] for r in lab])
    ds_lab = np.array([r.dataset for r in lab])
    groups_lab = np.array([r.group or r.path for r in lab])

    out = {"what": __doc__.split("\n\n")[0].strip(), "model": os.path.relpath(args.model, ROOT),
           "card_calibration": [card["calibration"]["a"], card["calibration"]["b"]], "recipes": {}}
    for name, sel in fit_on.items():
        held = np.full(len(y), np.nan)
        for s in np.unique(src[collected]):
            a, b = _fit(raw, y, src, sel & (src != s))
            te = collected & (src == s)
            held[te] = apply_platt(raw[te], a, b)
        a, b = _fit(raw, y, src, sel)
        p_lab = apply_platt(raw_lab, a, b)
        rec = {"a": a, "b": b,
               "pool_leave_one_source_out": _figures(y[collected], held[collected], groups[collected], clip=clip),
               "labelled": _figures(y_lab, p_lab, groups_lab, clip=clip),
               "labelled_per_dataset": {d: _figures(y_lab[ds_lab == d], p_lab[ds_lab == d], groups_lab[ds_lab == d],
                                                    clip=clip) for d in DATASETS}}
        out["recipes"][name] = rec
        pl, la = rec["pool_leave_one_source_out"], rec["labelled"]
        print(f"{name:<10} a={a:.3f} b={b:+.3f}  pool, held-out source: log loss {pl['log_loss']:.3f} "
              f"(constant {pl['constant_log_loss']:.3f}), reals > 0.5 {pl['reals_above_half']}/{pl['n_real']}  |  "
              f"labelled/: log loss {la['log_loss']:.3f} (constant {la['constant_log_loss']:.3f}), mean P "
              f"fake/real {la['mean_p_fake']:.2f}/{la['mean_p_real']:.2f}")
        for d, v in rec["labelled_per_dataset"].items():
            print(f"{'':<12}{d:<42} log loss {v['log_loss']:.3f} (constant {v['constant_log_loss']:.3f})")
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
