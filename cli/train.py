"""``train.py``: extract features for labelled videos, cross-validate, calibrate, write a model folder."""
from __future__ import annotations

import argparse
import glob
import os
import shlex
import sys
import time
from collections import Counter

import numpy as np

from dataformats import Record, read_labels
from features.registry import select
from modeling import metrics
from modeling.calibration import apply_platt, balanced_weights, fit_platt
from modeling.card import build_card, data_sources
from modeling.detector import DetectorModel, write_oof, write_training_table
from modeling.rows import parse_rows
from modeling.stacking import STACK_BALANCE, stacked_cv
from modeling.training import (FOLD_STRATA, NUM_ROUNDS, WEIGHTS, cv_report, fake_kind, feature_matrix, per_video,
                               train_cv, training_weights)
from pipeline.batch import default_workers, extract_table
from pipeline.extract import CalculatorFailure
from synthesis.variants import is_synthetic_fake, needs_donor, parse_variant

from .common import EXIT_STRICT, Progress, UsageError, cli_errors, interrupt_code, interrupt_word

__all__ = ["main", "build_parser", "args_from_card", "training_inputs", "evaluate_external"]


def evaluate_external(model: DetectorModel, paths, *, calcs, frames, dense, device, cache_dir, workers, seed,
                      stride: int = 0) -> dict:
    """Score labelled data the model never trained on; metrics overall, per dataset and per method."""
    records = [r for p in paths for r in read_labels(p) if r.label is not None]
    rows, failures = extract_table(records, calculators=calcs, frames=frames, dense=dense, stride=stride,
                                   device=device, seed=seed,
                                   cache_dir=cache_dir, workers=workers, rows=model.rows, log=lambda *_: None)
    videos = model.score_videos(rows)
    p = np.array([v["_prob"] for v in videos])
    rep = metrics.breakdown([v["_label"] for v in videos], p, methods=[v["_method"] for v in videos],
                            datasets=[v["_dataset"] for v in videos])
    overall = {k: v for k, v in rep.items() if not k.startswith("per_")}
    y, ds = np.array([v["_label"] for v in videos]), np.array([v["_dataset"] or "(none)" for v in videos])
    for name, m in [("overall", overall)] + list(rep["per_dataset"].items()):
        sel = np.ones(len(y), bool) if name == "overall" else ds == name
        ci = metrics.bootstrap_auc_ci(y[sel], p[sel], n_boot=2000, seed=0)
        m["auc_ci95"] = [ci.lo, ci.hi]  # percentile bootstrap over videos
    return {"data": [os.path.normpath(x) for x in paths], "overall": overall, "failures": dict(failures),
            "per_dataset": rep["per_dataset"], "per_method_vs_real": rep["per_method_vs_real"]}


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _synthesis_source(fakes) -> str:
    kinds = {"selfblend": "self-blended fakes (synthesis.selfblend)",
             "swap": "blends of another REAL video's face from the donor bank (synthesis.donors)",
             "dfswap": "DeepFaceLab-style swaps of another REAL video's face from the donor bank, rendered at "
                       "128-320 px and colour-matched (synthesis.donors)",
             "rswap": "swaps of another REAL video's face from the donor bank, rendered at 128-320 px and "
                      "colour-matched as DeepFaceLab does, merged through the swap masks (synthesis.donors)",
             "generator": "faces re-rendered at low resolution and upsampled (synthesis.selfblend)"}
    used = sorted({kinds[parse_variant(f).base] for f in fakes})
    return "synthetic fakes made from the REAL videos above: " + "; ".join(used) + f" (variants {', '.join(fakes)})"


def _fmt(m: dict) -> str:
    ci = f" [{m['auc_ci95'][0]:.2f}, {m['auc_ci95'][1]:.2f}]" if "auc_ci95" in m else ""
    return (f"AUC {m['auc']:.3f}{ci}  log loss {m['log_loss']:.3f}  acc {m['accuracy']:.3f}  "
            f"EER {m['eer']:.3f}  (n={m['n']}, fake={m['n_fake']})")


def _print_cv(cv: dict, card: dict) -> None:
    print(f"grouped {cv['folds']}-fold CV: {_fmt(cv)}")
    for m, s in cv.get("per_method_vs_real", {}).items():
        print(f"  {m:<32} vs reals of its dataset: {_fmt(s)}")
    for d, s in cv.get("per_dataset", {}).items():
        print(f"  dataset {d:<24} {_fmt(s)}")
    ev = card.get("evaluation")
    if ev:
        print(f"external evaluation (never trained on): {_fmt(ev['overall'])}")
        for m, s in ev["per_method_vs_real"].items():
            print(f"  {m:<32} {_fmt(s)}")


def build_parser() -> argparse.ArgumentParser:
    """``train.py``'s argument parser (also parses a model card's ``training.command`` again: bench scripts
    rebuild a model's training rows and folds from it)."""
    ap = argparse.ArgumentParser(prog="train.py", description="Train a detector on labelled videos.",
                                 epilog="exit codes: 0 model written; 2 usage error (missing --data path, unknown "
                                        "feature set, no videos...); 4 stopped by --strict; 130 interrupted.")
    ap.add_argument("--data", nargs="+", required=True, metavar="PATH",
                    help="labelled data: DFDC/FF++/Celeb-DF folder, real/+fake/ folders, CSV path,label[,group]")
    ap.add_argument("--features", default="all",
                    help="all | fast | FAMILY[,FAMILY]; -FAMILY leaves one out (all,-meta) (default all)")
    ap.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--dense", type=int, default=64, help="dense-window length for temporal features")
    ap.add_argument("--stride", type=int, default=0,
                    help="sample every K-th frame of one block a few seconds into the video, the dense window "
                         "inside it (decoding stops after the block); 0 spreads the frames over the whole video")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--synthesize", action="store_true",
                    help="add a self-blended fake of every REAL video (= --fakes selfblend); unlabelled folders "
                         "count as REAL")
    ap.add_argument("--fakes", default="", metavar="LIST",
                    help="synthetic fakes made from every REAL video, comma-separated variant bases "
                         "(synthesis.variants): selfblend, selfblend#2, selfblend:lower, selfblend:eyes, swap, "
                         "generator, generator:lower...; unlabelled folders count as REAL")
    ap.add_argument("--donors", default=None, metavar="BANK",
                    help="donor bank for swap fakes: a folder of .npz entries (python -m synthesis donors)")
    ap.add_argument("--reencode", action="store_true",
                    help="add a degraded copy of every sample (= --augment reencode): half resampled down-up, "
                         "then JPEG q35-90, so neither compression nor resolution is a label cue")
    ap.add_argument("--augment", default="", metavar="LIST",
                    help="degraded copies of every sample (both classes, the same draw for a video's real and fake "
                         "copies), comma-separated: reencode, h264 (CRF 18-40 through libx264), perturb:KIND, "
                         "perturb:random (one perturbation drawn per video; python -m synthesis perturb --help)")
    ap.add_argument("--rows", default="video",
                    help="training rows: video (one per face track) or segment:K (one per K consecutive sampled "
                         "frames; a track is scored by the mean of its segments); frame = segment:1")
    ap.add_argument("--weights", default="none", choices=list(WEIGHTS),
                    help="row weights: none, or kinds (both classes weigh the same, and within the fakes each "
                         "synthesis method and the collected fakes of --data as one kind: a few real generator "
                         "outputs are not drowned by several synthetic fakes per real video)")
    ap.add_argument("--calibrate-on", default="all", choices=["all", "collected"],
                    help="which out-of-fold scores fit the Platt calibration: all (every video and synthetic "
                         "fake) or collected (the videos themselves, real and fake, and their degraded copies, "
                         "not the synthetic fakes: calibrated on footage like a user's; where the model cannot "
                         "rank the collected fakes out of fold, every P(fake) comes out near 0.5)")
    ap.add_argument("--stack", nargs="?", const="families", default=None, metavar="EXPERTS",
                    help="several LightGBM experts combined by a non-negative logistic stacker on their "
                         "out-of-fold margins (each kind of fake weighing alike), saved as one text model "
                         "(modeling/stacking.py): 'families' (the default) gives one per feature family; or a list "
                         "of 'all' and family names, each optionally @collected (trained on the reals and the "
                         "collected fakes of --data only, no synthetic ones), e.g. all,temporal@collected")
    ap.add_argument("--stack-balance", default="kinds", choices=list(STACK_BALANCE),
                    help="how the stacker weighs the fakes: kinds (each kind alike: each synthetic kind and the "
                         "collected fakes) or origin (the synthetic fakes together and the collected fakes, half "
                         "each)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cv-groups", default="identity", choices=["identity", "source"],
                    help="cross-validation groups: identity (a fake, its original and clips of one identity stay "
                         "together) or source (whole source repositories or folders: leave-source-out, the honest "
                         "estimate for footage unlike the training data, and the calibration it implies)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=os.path.join(".cache", "features"), help="feature cache folder ('' = off)")
    ap.add_argument("--eval-data", nargs="*", default=[], metavar="PATH",
                    help="labelled data scored by the final model only (never trained on); metrics go in the card")
    ap.add_argument("--report", default=None, metavar="DIR", help="write the HTML model report to DIR")
    ap.add_argument("--notes", default="", help="free text stored in the model card")
    ap.add_argument("--strict", action="store_true",
                    help="stop at the first feature calculator that fails (default: its features are left out of "
                         "that video's row)")
    ap.add_argument("--table-rows", type=int, default=300,
                    help="features.csv (for the report and explanations' reference ranges) holds at most this "
                         "many training rows, a seeded random sample (0 = all; default 300)")
    ap.add_argument("--adapt-from", default=None, metavar="MODEL_DIR",
                    help="adapt this trained model to the labelled clips of --data (a few of your own fakes and "
                         "real clips of the same footage) instead of training from scratch: its features, "
                         "sampling, rows and calibration are kept and a small regularised adapter is added "
                         "(modeling/adapt.py)")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return ap


def args_from_card(card: dict) -> argparse.Namespace:
    """The parsed ``train.py`` arguments that trained a model, from its card's ``training.command``."""
    argv = shlex.split(card["training"]["command"])
    return build_parser().parse_args(argv[argv.index("train.py") + 1:] if "train.py" in argv else argv[1:])


def training_inputs(args) -> tuple:
    """``(calculators, records, fakes, augment, donors)`` that parsed ``train.py`` arguments train on.

    Unlabelled folders count as REAL when synthetic fakes are asked for. ``SystemExit`` with a message for
    a typo in a variant, swap fakes without a donor bank, unlabelled data without fakes, or no videos.
    """
    calcs = select(args.features)
    parse_rows(args.rows)
    fakes = _list(args.fakes) + (["selfblend"] if args.synthesize and "selfblend" not in args.fakes else [])
    augment = _list(args.augment) + (["reencode"] if args.reencode and "reencode" not in args.augment else [])
    for v in fakes + [f"orig+{a}" for a in augment]:
        parse_variant(v)  # a typo fails here, not after an hour of extraction
    donors = sorted(glob.glob(os.path.join(args.donors, "*.npz"))) if args.donors else []
    if any(needs_donor(v) for v in fakes) and not donors:
        raise SystemExit("swap fakes need --donors BANK (python -m synthesis donors REAL_DATA -o BANK)")
    records: list[Record] = []
    for d in args.data:
        recs = read_labels(d)
        unl = [r for r in recs if r.label is None]
        if unl and not fakes:
            raise SystemExit(f"{d}: {len(unl)} videos have no label (use a labelled layout, or --synthesize "
                             "or --fakes, to treat an unlabelled folder as REAL footage)")
        for r in unl:
            r.label = 0
        records += recs
    if not records:
        raise SystemExit("no videos found in --data")
    if "@collected" in (getattr(args, "stack", None) or "") and not any(r.label == 1 for r in records):
        raise SystemExit(f"--stack {args.stack}: an @collected expert learns from the labelled fakes of --data, "
                         "and there are none (only synthetic ones)")
    return calcs, records, fakes, augment, donors


@cli_errors("train.py")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    from forensics.backend import resolve_device

    missing = [d for d in args.data + args.eval_data if not os.path.exists(d)]
    if missing:
        raise UsageError("no such file or folder: " + ", ".join(missing))
    if args.adapt_from:
        from .adapt import adapt_main

        return adapt_main(args, argv, parser)
    device = resolve_device(args.device)
    calcs, records, fakes, augment, donors = training_inputs(args)
    workers = 1 if device == "cuda" else default_workers(args.workers)
    print(f"{len(records)} videos ({sum(r.label == 1 for r in records)} fake), {len(calcs)} calculators, "
          f"{workers} worker(s), device {device}", flush=True)
    t0 = time.perf_counter()
    progress = Progress(len(records), "extracting features")
    try:
        rows, failures = extract_table(records, calculators=calcs, frames=args.frames, dense=args.dense,
                                       stride=args.stride, device=device, seed=args.seed,
                                       cache_dir=args.cache or None, workers=workers, fakes=fakes,
                                       augment=augment, donors=donors, rows=args.rows,
                                       log=progress.write, progress=lambda done, total: progress.update(),
                                       strict=args.strict)
    except CalculatorFailure as e:
        progress.close()
        print(f"train.py: stopped by --strict: {e}", file=sys.stderr)
        return EXIT_STRICT
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM
        progress.close()
        print(f"train.py: {interrupt_word(e)} after {progress.done} of {len(records)} videos; "
              + (f"their features are cached in {args.cache}, so running again continues from there"
                 if args.cache else "--cache is off, so running again starts over"), file=sys.stderr)
        return interrupt_code(e)
    progress.close()
    t_extract = time.perf_counter() - t0
    labels = np.array([r["_label"] for r in rows])
    if len(set(labels)) < 2:
        raise SystemExit("training needs both REAL and FAKE samples (add fakes, or use --synthesize)")
    X, names = feature_matrix(rows)
    groups = [r["_source"] if args.cv_groups == "source" else r["_group"] for r in rows]
    weights = training_weights(rows, args.weights)
    stacker = None
    if args.stack:
        booster, oof, folds, params, stacker = stacked_cv(X, labels, groups, feature_names=names,
                                                          n_folds=args.folds, seed=args.seed, threads=workers,
                                                          weights=weights, experts=args.stack,
                                                          kinds=[fake_kind(r) for r in rows],
                                                          balance=args.stack_balance)
        rounds = NUM_ROUNDS  # per expert
    else:
        booster, oof, folds, params = train_cv(X, labels, groups, feature_names=names, n_folds=args.folds,
                                               seed=args.seed, threads=workers, weights=weights,
                                               kinds=[fake_kind(r) for r in rows])
        rounds = booster.current_iteration()
    videos = per_video(rows, oof, folds)  # a track's score: the mean of its rows' (one row for video rows)
    v_raw = np.array([v["_raw"] for v in videos])
    v_y = np.array([v["_label"] for v in videos])
    ok = np.isfinite(v_raw)
    if args.calibrate_on == "collected":
        ok &= np.array([not is_synthetic_fake(v["_variant"]) for v in videos])
        if len(set(v_y[ok])) < 2:
            raise SystemExit("--calibrate-on collected needs REAL and FAKE videos in --data (not only synthetic "
                             "fakes); use --calibrate-on all")
    # each class, and each source within it, weighs the same: the pool's mix is not the prior
    sources = np.array([v["_source"] for v in videos])
    a, b = fit_platt(v_raw[ok], v_y[ok], weights=balanced_weights(v_y[ok], sources[ok]))
    cv = cv_report(v_y, v_raw, a, b, [v["_method"] for v in videos], [v["_dataset"] for v in videos],
                   len(np.unique(folds)))
    cv["fold_strata"] = FOLD_STRATA
    card = build_card(
        name=os.path.basename(os.path.normpath(args.output)), features=names, feature_set=args.features,
        calculators=[c.key for c in calcs], frames=args.frames, dense=args.dense, stride=args.stride,
        calibration=(a, b), cv=cv,
        training={"command": "python train.py " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
                  "n_rows": int(len(rows)), "table_rows": int(min(len(rows), args.table_rows or len(rows))),
                  "n_videos": len(records), "n_fake_rows": int(labels.sum()),
                  "n_scored_variants": len(videos),
                  "fakes": fakes, "augment": augment, "cv_groups": args.cv_groups, "rows": args.rows,
                  "weights": args.weights, "calibrate_on": args.calibrate_on,
                  "stacker": stacker.to_dict() if stacker else None,
                  "donor_bank": len(donors), "seed": args.seed,
                  "failures": dict(failures), "extract_seconds": round(t_extract, 1),
                  "variants": dict(Counter(v["_variant"] for v in videos))},
        sources=data_sources(records, synthesized=_synthesis_source(fakes) if fakes else None),
        params=dict(params, num_boost_round=rounds), rows=args.rows, X=X, y=labels,
        notes=args.notes, content_hashes=sorted({r["_hash"] for r in rows if r.get("_hash")}))
    model = DetectorModel(booster, card)
    if args.eval_data:
        card["evaluation"] = evaluate_external(model, args.eval_data, calcs=calcs, frames=args.frames,
                                               dense=args.dense, stride=args.stride, device=device,
                                               cache_dir=args.cache or None, workers=workers, seed=args.seed)
    model.save(args.output)
    for v in videos:
        v["_prob"] = float(apply_platt([v["_raw"]], a, b)[0]) if np.isfinite(v["_raw"]) else ""
    write_oof(args.output, videos)
    table = rows
    if args.table_rows and len(rows) > args.table_rows:  # a seeded random sample keeps the folder small
        keep = np.sort(np.random.default_rng(args.seed).choice(len(rows), args.table_rows, replace=False))
        table = [rows[i] for i in keep]
    write_training_table(args.output, table, names)
    _print_cv(cv, card)
    if args.report:
        from reporting.model_report import build_report

        print(f"report: {build_report(args.output, args.report)}")
    print(f"model written to {args.output} (extraction {t_extract:.1f} s)")
    return 0
