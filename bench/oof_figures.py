#!/usr/bin/env python
"""Pool figures of trained models from their ``oof.csv`` alone, and paired differences between two of them.

    python bench/oof_figures.py MODEL_DIR [MODEL_DIR ...] [--out FILE.json]

For each model folder (``train.py`` output), from the out-of-fold scores ``train.py`` wrote (leave-source-out
CV: every row was scored by a fold model that never saw its source): the pool AUC and log loss over every
variant; the real clips above 0.5 (the false-positive target), in all and per source folder; each held-out
generator group of issue 22 (AniTalker, EDTalk, the Wav2Lip family, the rest: ``pool_transfer.loro_groups``)
against every real clip; and per synthetic kind against the reals (codec copies included on both sides). With two or more models, each
later one against the first on the rows both scored: the AUC difference with a bootstrap 95 % interval
resampled by identity group (``modeling.metrics.bootstrap_auc_diff_ci``), so a difference whose interval
holds 0 is noise. Nothing is extracted.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "experiments"))

from labelled_eval import subset_figures  # noqa: E402
from modeling import metrics  # noqa: E402
from modeling.detector import default_model_dir  # noqa: E402
from pool_transfer import loro_groups, repository  # noqa: E402


def read_oof(model_dir: str) -> dict:
    """``{(path, variant): row}`` of a model folder's scored out-of-fold rows (label int, prob float)."""
    with open(os.path.join(model_dir, "oof.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["prob"] != ""]
    return {(os.path.normpath(r["filename"]), r["variant"]): dict(r, label=int(r["label"]), prob=float(r["prob"]))
            for r in rows}


def subsets(oof: dict) -> dict:
    """Named subsets of the rows: ``{name: [key, ...]}``."""
    keys = sorted(oof)
    reals = [k for k in keys if oof[k]["label"] == 0]
    # the collected fakes and their codec copies (as the reals have theirs); synthetic fakes are made from reals
    collected = [k for k in keys if oof[k]["label"] == 1 and k[1].split("+")[0] == "orig"]
    out = {"pool, every variant": keys}
    groups = loro_groups(sorted({repository(k[0]) for k in collected} - {""}))
    for g, repos in groups.items():
        out[f"held-out generators: {g}"] = reals + [k for k in collected if repository(k[0]) in repos]
    synthetic = [k for k in keys if oof[k]["label"] == 1 and k[1].split("+")[0] != "orig"]
    for kind in sorted({oof[k]["method"] for k in synthetic}):
        out[f"synthetic kind: {kind}"] = reals + [k for k in synthetic if oof[k]["method"] == kind]
    return out


def figures(oof: dict, *, clip: float) -> dict:
    out = {}
    for name, keys in subsets(oof).items():
        y = [oof[k]["label"] for k in keys]
        out[name] = subset_figures(y, [oof[k]["prob"] for k in keys], [oof[k]["group"] for k in keys], clip=clip)
    reals = [(k, r) for k, r in oof.items() if r["label"] == 0 and k[1] == "orig"]
    out["real clips above 0.5"] = {"n": len(reals), "above": int(sum(r["prob"] > 0.5 for _, r in reals))}
    by_source: dict = {}
    for k, r in reals:  # where the false positives are: the clip's folder (its source repository)
        n_above = by_source.setdefault(os.path.basename(os.path.dirname(k[0])), [0, 0])
        n_above[0] += int(r["prob"] > 0.5)
        n_above[1] += 1
    out["real clips above 0.5 by source"] = {s: {"above": a, "n": n} for s, (a, n) in
                                             sorted(by_source.items(), key=lambda kv: (-kv[1][0], kv[0])) if a}
    return out


def paired(ref: dict, new: dict) -> dict:
    """AUC of ``new`` minus ``ref`` per subset, on the rows both scored, with its bootstrap interval."""
    out = {}
    both = {k: v for k, v in ref.items() if k in new}
    for name, keys in subsets(both).items():
        y = np.array([ref[k]["label"] for k in keys])
        d = metrics.bootstrap_auc_diff_ci(y, [ref[k]["prob"] for k in keys], [new[k]["prob"] for k in keys],
                                          n_boot=2000, seed=0, groups=[ref[k]["group"] for k in keys])
        out[name] = {"n": len(keys), "d_auc": d.auc, "ci95": [d.lo, d.hi]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="model folders (default: the shipped one)")
    ap.add_argument("--out", default=None, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    models = args.models or [default_model_dir()]
    oofs = {m: read_oof(m) for m in models}
    res = {"models": {}, "paired": {}}
    for m, oof in oofs.items():
        with open(os.path.join(m, "model_card.json")) as f:
            clip = json.load(f)["clip"][0]
        res["models"][m] = figures(oof, clip=clip)
        print(f"== {m}")
        for name, fig in res["models"][m].items():
            if "auc" in fig:
                print(f"  {name}: AUC {fig['auc']:.3f} [{fig['auc_ci95'][0]:.2f}, {fig['auc_ci95'][1]:.2f}], "
                      f"log loss {fig['log_loss']:.3f} (constant {fig['constant_log_loss']:.3f}), n {fig['n']}")
            elif "above" in fig:
                print(f"  {name}: {fig['above']} of {fig['n']}")
            elif name.endswith("by source"):
                print(f"  {name}: " + ", ".join(f"{s} {v['above']}/{v['n']}" for s, v in fig.items()))
    for m in models[1:]:
        res["paired"][m] = paired(oofs[models[0]], oofs[m])
        print(f"== {m} minus {models[0]}")
        for name, d in res["paired"][m].items():
            print(f"  {name}: {d['d_auc']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}], n {d['n']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
