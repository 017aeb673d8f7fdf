"""``train.py --adapt-from BASE --data MY_CLIPS -o NEW``: teach a trained model the user's own fakes
(:mod:`modeling.adapt`), with the base's features and scoring settings."""
from __future__ import annotations

import os
import shlex
import sys
import time

import numpy as np

from dataformats import read_labels
from modeling import metrics
from modeling.adapt import AdaptError, adapt_model, adapted_card, adapter_cv, anchor_rows, check_adaptation_data
from modeling.card import card_sampling, data_sources
from modeling.detector import DetectorModel, write_oof, write_training_table
from modeling.training import cv_report, per_video
from pipeline.batch import default_workers, extract_table
from pipeline.extract import CalculatorFailure

from .common import EXIT_STRICT, Progress, UsageError, calculators_by_key, interrupt_code, interrupt_word

__all__ = ["adapt_main", "BASE_SETTINGS"]

#: ``train.py`` options that an adaptation takes from the base model instead (its features, sampling and rows
#: must stay the base's, and no synthetic fakes are made)
BASE_SETTINGS = ("features", "frames", "dense", "stride", "rows", "stack", "fakes", "synthesize", "augment", "reencode",
                 "donors", "weights", "folds", "cv_groups", "stack_balance")


def _base_table(base_dir: str, names) -> list[dict]:
    """The base folder's ``features.csv`` rows as training-row dicts (the adapted folder keeps them, so that
    adapting it again still rehearses on them); [] when it has none."""
    from modeling.detector import TABLE_META_COLUMNS, read_training_table

    t = read_training_table(base_dir, list(names))
    if t is None:
        return []
    keys = dict(zip(TABLE_META_COLUMNS, ["_path", "_label", "_group", "_method", "_dataset", "_variant"]))
    out = []
    for i in range(len(t.labels)):
        r = {keys[k]: v[i] for k, v in t.meta.items()}
        r["_label"] = int(t.labels[i]) if np.isfinite(t.labels[i]) else ""
        r.update({n: float(x) for n, x in zip(names, t.X[i]) if np.isfinite(x)})
        out.append(r)
    return out


def adapt_main(args, argv, parser) -> int:
    """Run an adaptation for parsed ``train.py`` arguments (``args.adapt_from`` set)."""
    from forensics.backend import resolve_device

    changed = [n for n in BASE_SETTINGS if getattr(args, n) != parser.get_default(n)]
    if changed:
        raise UsageError("--adapt-from keeps the base model's features, sampling and rows and makes no synthetic "
                         "fakes: leave out " + ", ".join("--" + n.replace("_", "-") for n in changed))
    base = DetectorModel.load(args.adapt_from)
    base_card, base_text, _ = DetectorModel.read_checked(args.adapt_from)
    card = base.card
    calcs = calculators_by_key(list(card["calculators"]))
    records = []
    for d in args.data:
        recs = read_labels(d)
        unl = [r.path for r in recs if r.label is None]
        if unl:
            raise UsageError(f"{d}: {len(unl)} clip(s) have no label; adaptation needs labelled clips (real/ and "
                             "fake/ folders, or a CSV path,label[,group])")
        records += recs
    if not records:
        raise UsageError("no videos found in --data")
    try:
        for w in check_adaptation_data([r.label for r in records]):
            print(f"train.py: warning: {w}", file=sys.stderr)
    except AdaptError as e:
        raise UsageError(str(e)) from None
    device = resolve_device(args.device)
    workers = 1 if device == "cuda" else default_workers(args.workers)
    print(f"adapting {args.adapt_from} to {len(records)} clips ({sum(r.label == 1 for r in records)} fake), "
          f"{workers} worker(s), device {device}", flush=True)
    t0 = time.perf_counter()
    progress = Progress(len(records), "extracting features")
    try:
        rows, failures = extract_table(records, calculators=calcs, **card_sampling(card), device=device,
                                       seed=args.seed, cache_dir=args.cache or None, workers=workers,
                                       rows=base.rows, log=progress.write,
                                       progress=lambda done, total: progress.update(), strict=args.strict)
    except CalculatorFailure as e:
        progress.close()
        print(f"train.py: stopped by --strict: {e}", file=sys.stderr)
        return EXIT_STRICT
    except KeyboardInterrupt as e:
        progress.close()
        print(f"train.py: {interrupt_word(e)} during feature extraction", file=sys.stderr)
        return interrupt_code(e)
    progress.close()
    t_extract = time.perf_counter() - t0
    scored = {r["_path"]: r["_label"] for r in rows}
    try:  # a clip without a face gives no row: what is left must still hold both classes
        check_adaptation_data(list(scored.values()))
    except AdaptError as e:
        raise UsageError(f"after feature extraction ({len(scored)} of {len(records)} clips gave a face track): "
                         f"{e}") from None
    X = base.matrix(rows)
    y = np.array([r["_label"] for r in rows], float)
    clips = np.array([r["_path"] for r in rows], dtype=object)
    groups = np.array([r["_group"] or r["_path"] for r in rows], dtype=object)
    anchors = anchor_rows(args.adapt_from, base.feature_names)
    booster, stacker, params = adapt_model(base, X, y, clips=clips, anchors=anchors, seed=args.seed,
                                           threads=workers)
    oof = adapter_cv(base, X, y, clips=clips, groups=groups, anchors=anchors, seed=args.seed, threads=workers)
    a, b = card["calibration"]["a"], card["calibration"]["b"]
    base_videos = per_video(rows, base.raw_score(X))
    if oof is not None:
        videos = per_video(rows, oof, folds=np.unique(groups, return_inverse=True)[1])
        cv = cv_report(np.array([v["_label"] for v in videos]), np.array([v["_raw"] for v in videos]), a, b,
                       [v["_method"] for v in videos], [v["_dataset"] for v in videos], len(set(groups)))
        cv["note"] = "leave-one-group-out over the adaptation clips (each group scored by an adapter without it)"
    else:
        videos, cv = [], {"note": "too few groups of adaptation clips (fewer than 3, or a class in one group only) "
                                  "to cross-validate the adapter"}
    vy = np.array([v["_label"] for v in base_videos])
    if len(set(vy)) == 2:
        cv["base_auc_on_adaptation_clips"] = metrics.roc_auc(vy, [v["_raw"] for v in base_videos])
    command = "python train.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    new = adapted_card(base_card, base_text, base_dir=args.adapt_from,
                       name=os.path.basename(os.path.normpath(args.output)), stacker=stacker, params=params,
                       command=command, sources=data_sources(records), records=records, cv=cv, n_rows=len(rows),
                       n_fake_rows=int(y.sum()), n_anchor_rows=len(anchors[1]),
                       content_hashes=sorted({r["_hash"] for r in rows if r.get("_hash")}),
                       extract_seconds=t_extract, notes=args.notes)
    new["training"]["failures"] = dict(failures)
    model = DetectorModel(booster, new)
    model.save(args.output)
    if videos:
        for v in videos:
            v["_prob"] = float(model.calibrate([v["_raw"]])[0]) if np.isfinite(v["_raw"]) else ""
        write_oof(args.output, videos)
    write_training_table(args.output, _base_table(args.adapt_from, base.feature_names) + rows, base.feature_names)
    if "auc" in cv:
        print(f"leave-one-group-out over the adaptation clips: AUC {cv['auc']:.3f} (the base on the same clips: "
              f"{cv.get('base_auc_on_adaptation_clips', float('nan')):.3f}; n={cv['n']})")
    print(f"adapter: {stacker['rounds'][-1]} trees on {len(rows)} rows of {len(scored)} clips, plus "
          f"{len(anchors[1])} rehearsal rows of the base's features.csv")
    if args.report:
        from reporting.model_report import build_report

        print(f"report: {build_report(args.output, args.report)}")
    print(f"model written to {args.output} (extraction {t_extract:.1f} s, total {time.perf_counter() - t0:.1f} s)")
    return 0
