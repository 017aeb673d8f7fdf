#!/usr/bin/env python
"""Self-blend cross-validation under each perturbation: does the model still tell a real clip from its own
self-blended fake when both are degraded alike?

    python bench/selfblend_robustness.py [--model DIR ...] [--kinds all] [--workers 2]

For each model the training rows and folds are rebuilt from its card (``training.command``, through the
feature cache, so this costs no extraction for what training already extracted), one LightGBM model per fold
is trained with the card's parameters, and each REAL training clip whose source lies in a fold is scored,
with its self-blended fake (``selfblend``), by the model that never saw that source: clean, and under every
perturbation of :mod:`synthesis.perturb`. The first check is that these fold models give back the model
folder's ``oof.csv`` exactly.

Perturbations that keep geometry are applied to the decoded sample as training variants
(``orig+perturb:KIND`` against ``selfblend+perturb:KIND``: the same draw for both). ``flip`` and ``fps15``
move or drop frames, which the face track of the original would not follow, so they are applied to the file:
a copy of each clip (its first ``--max-frames`` frames, H.264 CRF 18) is perturbed and written, detected and
self-blended as any video is, and compared with the clean copy of the same frames.

Writes ``DIR/robustness_selfblend.json`` (AUC with a bootstrap interval, log loss with the card's calibration,
and their change from clean, per kind; shown by ``python report.py DIR``) and a summary under
``robustness.selfblend_cv`` in the card.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from cli.train import args_from_card, training_inputs  # noqa: E402
from features.registry import select  # noqa: E402
from modeling.card import card_sampling  # noqa: E402
from modeling.detector import DetectorModel, default_model_dir, read_oof, update_card  # noqa: E402
from modeling.stacking import Stacker, stacked_fold_models  # noqa: E402
from modeling.training import (fake_kind, feature_matrix, fold_models, grouped_folds, per_video,  # noqa: E402
                               training_weights)
from pipeline.batch import extract_table, parallel_map  # noqa: E402
from pipeline.cache import file_hash  # noqa: E402
from reporting.robustness import SELFBLEND_FILE, robustness_table  # noqa: E402
from robustness import CLEAN_CRF, make_copy  # noqa: E402
from synthesis.perturb import PERTURBATIONS, expand_kinds  # noqa: E402
from synthesis.variants import stable_seed  # noqa: E402


def fold_scorer(model: DetectorModel, model_dir: str, *, cache: str, workers: int):
    """Rebuild ``model``'s training from its card: ``(score, records, check)``.

    ``score(rows)`` gives each row's raw margin from the fold model that did not see the row's CV group
    (NaN for a group outside the training data); ``records`` are the training records; ``check`` is the
    largest difference between the rebuilt out-of-fold track scores and the folder's ``oof.csv``.
    """
    args = args_from_card(model.card)
    calcs, records, fakes, augment, donors = training_inputs(args)
    rows, _ = extract_table(records, calculators=calcs, frames=args.frames, dense=args.dense, stride=args.stride,
                            device="cpu",
                            seed=args.seed, cache_dir=cache, workers=workers, fakes=fakes, augment=augment,
                            donors=donors, rows=args.rows, log=lambda *a: None)
    X, names = feature_matrix(rows, model.feature_names)
    y = np.array([r["_label"] for r in rows], float)
    key = "_source" if args.cv_groups == "source" else "_group"
    groups = np.array([r[key] for r in rows])
    strata = model.card.get("cv", {}).get("fold_strata")  # older cards: the labels alone
    folds = grouped_folds(groups, y, n_folds=args.folds, seed=args.seed,
                          kinds=[fake_kind(r) for r in rows] if strata else None)
    params = {k: v for k, v in model.card["params"].items() if k != "num_boost_round"}
    params["num_threads"] = max(1, workers)
    rounds = int(model.card["params"].get("num_boost_round", 200))
    weights = training_weights(rows, args.weights)
    stacker = model.card["training"].get("stacker")
    if stacker:  # each expert per fold, combined with the card's stacker weights
        boosters = stacked_fold_models(X, y, folds, feature_names=names, params=params, rounds=rounds,
                                       weights=weights, stacker=Stacker.from_dict(stacker),
                                       kinds=[fake_kind(r) for r in rows])
    else:
        boosters = fold_models(X, y, folds, feature_names=names, params=params, rounds=rounds, weights=weights)
    fold_of = dict(zip(groups, folds))
    group_of_path = {r["_path"]: r[key] for r in rows}

    def score(score_rows, origin=None):
        """``origin``: copy path -> training path whose group a copy belongs to (identity when None)."""
        out = np.full(len(score_rows), np.nan)
        if not score_rows:
            return out
        origin = origin or {}
        Xs, _ = feature_matrix(score_rows, names)
        f = np.array([fold_of.get(group_of_path.get(origin.get(r["_path"], r["_path"])), -1) for r in score_rows])
        for k, b in boosters.items():
            if (f == k).any():
                out[f == k] = b.predict(Xs[f == k], raw_score=True)
        return out

    oof = {(v["_path"], v["_variant"]): v["_raw"] for v in per_video(rows, score(rows))}
    diffs = [abs(oof[k] - r) for k, r in _saved_raw(read_oof(model_dir)).items() if k in oof and np.isfinite(r)]
    return score, records, (max(diffs) if diffs else float("nan"))


def _saved_raw(saved: dict) -> dict:
    """``(path, variant) -> raw`` from :func:`modeling.detector.read_oof`'s columns."""
    if not saved or "raw" not in saved:
        return {}
    return {(p, v): float(r) for p, v, r in zip(saved["filename"], saved["variant"], saved["raw"])}


def _probs(model: DetectorModel, score, rows, origin=None) -> dict:
    """``(scored path, variant) -> P(fake)`` of each track: its rows' mean out-of-fold margin, calibrated."""
    videos = model.score_videos(rows, raw=score(rows, origin))
    return {(v["_path"], v["_variant"]): v["_prob"] for v in videos if np.isfinite(v["_raw"])}


def record_in_card(model_dir: str, result: dict) -> None:
    """A summary of ``result`` under ``robustness.selfblend_cv`` in the model card."""
    rows = [r for r in result["rows"] if not r["kind"].startswith("clean")]
    worst = min(rows, key=lambda r: r["d_auc"])
    update_card(model_dir, "robustness", {"selfblend_cv": {
        "file": SELFBLEND_FILE, "clean_auc": result["rows"][0]["auc"], "worst_kind": worst["kind"],
        "worst_d_auc": worst["d_auc"], "worst_d_auc_ci": [worst["d_auc_lo"], worst["d_auc_hi"]],
        "d_auc": {r["kind"]: round(r["d_auc"], 4) for r in rows}}})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", default=[None], help="model folders (default: the shipped model)")
    ap.add_argument("--kinds", default="all", help="single perturbations: all or names (comma-separated)")
    ap.add_argument("--work", default=os.path.join(".cache", "robustness"), help="where file copies go")
    ap.add_argument("--cache", default=os.path.join(".cache", "features"), help="feature cache folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-frames", type=int, default=300, help="file copies hold a clip's first N frames")
    args = ap.parse_args(argv)
    kinds = expand_kinds(args.kinds.split(","))
    in_variants = [k for k in kinds if "+" not in k and PERTURBATIONS[k].keeps_geometry]
    in_files = [k for k in kinds if k not in in_variants]

    for name in args.model:
        t0 = time.time()
        model, model_dir = DetectorModel.load(name), name or default_model_dir()
        score, records, check = fold_scorer(model, model_dir, cache=args.cache, workers=args.workers)
        print(f"== {model_dir}: fold models rebuilt ({time.time() - t0:.0f} s); largest difference from "
              f"oof.csv {check:.2e}", file=sys.stderr)
        reals = [r for r in records if r.label == 0]
        common = dict(calculators=select(model.card["feature_set"]), **card_sampling(model.card), device="cpu",
                      seed=0, cache_dir=args.cache,
                      workers=args.workers, rows=model.rows, fakes=["selfblend"],
                      log=lambda *a: print(*a, file=sys.stderr))
        rows, failures = extract_table(reals, augment=[f"perturb:{k}" for k in in_variants], **common)
        by: dict = {}
        for (path, variant), p in _probs(model, score, rows).items():
            base, _, suffix = variant.partition("+")
            by.setdefault(suffix, {})[(path, base)] = p
        labels = {(r.path, b): int(b != "orig") for r in reals for b in ("orig", "selfblend")}
        pairs = {k: k[0] for k in labels}  # a self-blend and its original resampled together
        table = robustness_table(labels, by.get("", {}), {k: by.get(f"perturb:{k}", {}) for k in in_variants},
                                 groups=pairs)
        n_failed = sum(failures.values())
        if in_files:  # perturbed files, against the clean copy of the same opening frames
            jobs, copies = [], {k: [] for k in ["clean"] + in_files}
            for r in reals:
                h = file_hash(r.path)
                for kind in copies:
                    dst = os.path.join(args.work, f"selfblend-first{args.max_frames}", kind, f"{h}.mp4")
                    jobs.append((r.path, dst, kind, stable_seed(os.path.basename(r.path), 0), args.max_frames))
                    copies[kind].append(dataclasses.replace(r, path=dst))
            failed = {d for d, msg in parallel_map(make_copy, jobs, args.workers) if msg}
            made = [c for cs in copies.values() for c in cs if c.path not in failed]
            origin = {c.path: r.path for cs in copies.values() for c, r in zip(cs, reals)}
            frows, ffail = extract_table(made, **common)
            kind_of = {c.path: k for k, cs in copies.items() for c in cs}
            fby = {k: {} for k in copies}
            for (path, variant), p in _probs(model, score, frows, origin).items():
                fby[kind_of[path]][(origin[path], variant)] = p
            ftable = robustness_table(labels, fby["clean"], {k: fby[k] for k in in_files}, groups=pairs)
            ftable[0]["kind"] = f"clean copy (first {args.max_frames} frames, CRF {CLEAN_CRF})"
            table += ftable
            n_failed += len(failed) + sum(ffail.values())
        out = {"model": name or "shipped default", "kinds": kinds, "rows": table, "oof_check": check,
               "n_reals": len(reals), "failures": n_failed, "max_frames": args.max_frames,
               "note": "Each REAL training clip and its self-blend, scored by the fold model that never saw the "
                       "clip's source; the geometry-keeping kinds are applied to the decoded sample and compared "
                       "with the clean decode, flip and fps15 to file copies and compared with the clean copy."}
        path = os.path.join(model_dir, SELFBLEND_FILE)
        with open(path, "w") as f:
            json.dump(out, f, indent=1, default=float)
        record_in_card(model_dir, out)
        for r in table:
            print(f"{r['kind']:<14} AUC {r['auc']:.3f} [{r['auc_lo']:.2f}, {r['auc_hi']:.2f}]  dAUC {r['d_auc']:+.3f}"
              f" [{r['d_auc_lo']:+.3f}, {r['d_auc_hi']:+.3f}]"
                  f"  log loss {r['log_loss']:.3f} ({r['d_log_loss']:+.3f})  n={r['n']}")
        print(f"wrote {path} ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
