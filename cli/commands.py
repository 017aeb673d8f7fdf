"""Command-line entry points: ``predict.py`` and ``train.py``.

All file handling and parallelism live here: videos are processed one per
worker process (joblib), results are written as each video finishes, and one
bad file only ever costs its own row.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import os
import sys
import time
from collections import Counter

import numpy as np

from features.registry import all_calculators, select

from pipeline.cache import FeatureCache, file_hash
from features.track import CROP_MARGIN, CROP_SIZE

from dataformats.adapters import Record, list_videos, read_labels
from pipeline.faces import FaceDetector
from pipeline.extract import VideoResult, extract_video
from modeling.detector import CLIP, DetectorModel, apply_platt, cv_report, fit_platt, library_versions, train_cv

PIPELINE_VERSION = 1
PRED_COLUMNS = ["filename", "label", "status", "message", "n_frames", "n_faces", "n_tracks", "raw_score",
                "track", "top_fake_features", "path", "seconds"]
#: P(fake) written for files that could not be scored: the uninformative prior
UNSCORED = 0.5


# ----------------------------------------------------------------------------- shared helpers

def _workers(n: int | None) -> int:
    return max(1, n if n else (os.cpu_count() or 1))


def _calculators_by_key(keys: list[str]):
    known = {c.key: c for c in all_calculators()}
    missing = [k for k in keys if k not in known]
    if missing:
        raise SystemExit(f"the model needs calculators this installation lacks: {', '.join(missing)}")
    return [known[k] for k in keys]


def _result_to_json(r: VideoResult) -> dict:
    return {"status": r.status, "message": r.message, "n_frames": r.n_frames, "n_faces": r.n_faces,
            "tracks": [{"features": t.features, "n_frames": t.n_frames} for t in r.tracks],
            "info": r.info, "timings": r.timings, "variant": r.variant}


def _extract_cached(path: str, *, calculators, n_frames, dense, device, variants, seed, cache_dir) -> list[dict]:
    """Extraction for one video with the JSON cache in front (runs inside a worker)."""
    cache = FeatureCache(cache_dir)
    try:
        h = file_hash(path) if os.path.isfile(path) else None
    except OSError:
        h = None
    config = {"pipeline": PIPELINE_VERSION, "frames": n_frames, "dense": dense, "seed": seed,
              "calculators": sorted(f"{c.key}@{c.version}" for c in calculators),
              # anything upstream of the calculators that changes their input invalidates the entry too
              "detector": FaceDetector.settings(), "crop": [CROP_SIZE, CROP_MARGIN]}
    out, todo = {}, []
    for v in variants:
        hit = cache.get(FeatureCache.key(h, dict(config, variant=v))) if h else None
        if hit is not None:
            out[v] = hit
        else:
            todo.append(v)
    if todo:
        for r in extract_video(path, calculators=calculators, n_frames=n_frames, dense=dense, device=device,
                               variants=tuple(todo), seed=seed):
            d = _result_to_json(r)
            out[r.variant] = d
            if h and r.status in ("ok", "no_face"):
                cache.put(FeatureCache.key(h, dict(config, variant=r.variant)), d)
    return [dict(out[v], path=path) for v in variants]


def _parallel(func, items, workers: int):
    """Yield ``func(item)`` results as they finish (unordered), in worker processes when workers > 1."""
    if workers <= 1 or len(items) <= 1:
        for it in items:
            yield func(it)
        return
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=workers, return_as="generator_unordered")(delayed(func)(it) for it in items)


# ----------------------------------------------------------------------------- predict

def collect_inputs(paths: list[str]) -> list[str]:
    """Video files named by PATH arguments: files, folders (recursive) or .txt lists."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out += list_videos(p)
        elif p.lower().endswith(".txt") and os.path.isfile(p):
            base = os.path.dirname(os.path.abspath(p))
            with open(p) as f:
                out += [ln.strip() if os.path.isabs(ln.strip()) else os.path.join(base, ln.strip())
                        for ln in f if ln.strip() and not ln.startswith("#")]
        else:
            out.append(p)  # a missing or non-video file still gets its own row and status
    return list(dict.fromkeys(out))


_MODEL_CACHE: dict = {}


def _model(model_dir: str | None) -> DetectorModel:
    if model_dir not in _MODEL_CACHE:
        _MODEL_CACHE[model_dir] = DetectorModel.load(model_dir)
    return _MODEL_CACHE[model_dir]


def _top_features(names, contrib, k=3) -> str:
    order = np.argsort(-contrib[:-1])
    return ";".join(f"{names[i]}={contrib[i]:+.2f}" for i in order[:k] if contrib[i] > 0)


def predict_one(path: str, cfg: dict) -> tuple[dict, dict | None]:
    """Score one video (runs inside a worker). Returns (csv row, feature row or None)."""
    t0 = time.perf_counter()
    model = _model(cfg["model"])
    calcs = _calculators_by_key(model.card["calculators"])
    row = {"filename": os.path.basename(path), "path": path, "label": UNSCORED, "status": "error", "message": "",
           "n_frames": 0, "n_faces": 0, "n_tracks": 0, "raw_score": "", "track": "", "top_fake_features": ""}
    feats = None
    try:
        explain = cfg.get("explain")
        results = extract_video(path, calculators=calcs, n_frames=cfg["frames"], dense=cfg["dense"],
                                device=cfg["device"], keep_tracks=bool(explain))
        r = results[0]
        row.update(status=r.status, message=r.message, n_frames=r.n_frames, n_faces=r.n_faces, n_tracks=len(r.tracks))
        if r.status == "ok":
            X = model.matrix([t.features for t in r.tracks])
            probs = model.predict_proba(X)
            raw = model.raw_score(X)
            best = int(np.argmax(probs))  # two people: the most suspicious face decides
            contrib = model.contributions(X[best:best + 1])[0]
            row.update(label=float(probs[best]), raw_score=float(raw[best]), track=best,
                       top_fake_features=_top_features(model.feature_names, contrib))
            feats = dict(r.tracks[best].features)
            if explain:
                try:
                    from reporting.explain import write_explanation

                    write_explanation(explain, cfg.get("names", {}).get(path, os.path.basename(path)),
                                      model=model, features=feats, track=r.tracks[best].track)
                except Exception as e:  # noqa: BLE001 - an explanation failure never costs the score
                    row["message"] = "; ".join(filter(None, [row["message"], f"explain: {type(e).__name__}: {e}"]))
    except Exception as e:  # noqa: BLE001
        row.update(status="error", message=f"{type(e).__name__}: {e}")
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row, feats


def _predict_item(item):
    return predict_one(*item)


def predict_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="predict.py", description="Score videos: P(fake) per video, as CSV.")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="video files, folders (recursive) or .txt lists")
    ap.add_argument("-o", "--output", default="predictions.csv", help="CSV to write (default predictions.csv)")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    ap.add_argument("--features-out", default=None, help="also write each video's feature row to this CSV")
    ap.add_argument("--frames", type=int, default=None, help="frames sampled per video (default: the model's)")
    ap.add_argument("--dense", type=int, default=None, help="dense-window length for temporal features")
    ap.add_argument("--workers", type=int, default=None, help="parallel worker processes (default: all cores)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--explain", default=None, metavar="DIR", help="write a per-video explanation to DIR")
    args = ap.parse_args(argv)

    from forensics.backend import resolve_device

    model = DetectorModel.load(args.model)
    videos = collect_inputs(args.paths)
    if not videos:
        print("no videos found", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    cfg = {"model": args.model, "frames": args.frames or model.card["frames"],
           "dense": args.dense if args.dense is not None else model.card.get("dense", 64),
           "device": device, "explain": args.explain}
    if args.explain:
        os.makedirs(args.explain, exist_ok=True)
        # unique page names: FF++ reuses file names across methods
        common = os.path.commonpath([os.path.abspath(v) for v in videos]) if len(videos) > 1 else ""
        cfg["names"] = {v: (os.path.relpath(os.path.abspath(v), common) if common else os.path.basename(v))
                        for v in videos}
    workers = 1 if device == "cuda" else min(_workers(args.workers), len(videos))
    print(f"scoring {len(videos)} video(s) with {workers} worker(s) on {device}; frames={cfg['frames']}",
          file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    statuses = Counter()
    feat_writer = feat_file = None
    with open(args.output, "w", newline="") as out:
        w = csv.DictWriter(out, fieldnames=PRED_COLUMNS, extrasaction="ignore")
        w.writeheader()
        out.flush()
        try:
            for row, feats in _parallel(_predict_item, [(v, cfg) for v in videos], workers):
                w.writerow({k: (f"{v:.6f}" if k == "label" else v) for k, v in row.items()})
                out.flush()  # a crash or Ctrl-C later never loses finished rows
                statuses[row["status"]] += 1
                if args.features_out and feats is not None:
                    if feat_writer is None:
                        feat_file = open(args.features_out, "w", newline="")
                        feat_writer = csv.DictWriter(feat_file, fieldnames=["path"] + model.feature_names,
                                                     extrasaction="ignore")
                        feat_writer.writeheader()
                    feat_writer.writerow(dict(feats, path=row["path"]))
                    feat_file.flush()
                print(f"  {row['status']:<13} {row['label'] if row['status'] == 'ok' else '':<9} {row['path']}",
                      file=sys.stderr)
        finally:
            if feat_file:
                feat_file.close()
    if args.explain:
        from reporting.explain import write_index

        print(f"explanations: {write_index(args.explain)}", file=sys.stderr)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()), file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- train

def _train_item(item):
    path, kw = item
    return _extract_cached(path, **kw)


def extract_table(records: list[Record], *, calculators, frames, dense, device, seed, cache_dir, workers,
                  synthesize: bool, reencode: bool, log=print):
    """Feature rows (primary track) for every record and training variant, plus per-file statuses."""
    rows, failures = [], Counter()
    items = []
    for r in records:
        if r.label == 0 and synthesize:
            variants = ["orig", "selfblend"]
        else:
            variants = ["orig"]
        if reencode:
            variants += [v + "+reencode" for v in variants]
        items.append((r.path, {"calculators": calculators, "n_frames": frames, "dense": dense, "device": device,
                               "variants": tuple(variants), "seed": seed, "cache_dir": cache_dir}))
    by_path = {r.path: r for r in records}
    done = 0
    for results in _parallel(_train_item, items, workers):
        done += 1
        for res in results:
            rec = by_path[res["path"]]
            if res["status"] != "ok":
                failures[res["status"]] += 1
                log(f"  [{done}/{len(items)}] {res['status']}: {rec.path}: {res['message']}")
                continue
            synth = res["variant"].startswith("selfblend")
            row = dict(res["tracks"][0]["features"])
            row.update(_path=rec.path, _variant=res["variant"], _label=1 if synth else rec.label,
                       _group=rec.group, _method="selfblend" if synth else (rec.method or ("fake" if rec.label else "real")),
                       _dataset=rec.dataset)
            rows.append(row)
        if done % 10 == 0 or done == len(items):
            log(f"  extracted {done}/{len(items)} videos")
    # workers finish in any order; a fixed row order keeps training reproducible from --seed
    rows.sort(key=lambda r: (r["_path"], r["_variant"]))
    return rows, failures


def _feature_matrix(rows, names=None):
    if names is None:
        names = sorted({k for r in rows for k in r if not k.startswith("_")})
    X = np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64)
    return X, names


def _data_sources(records: list[Record], synthesize: bool) -> list[dict]:
    agg: dict = {}
    for r in records:
        key = (r.source or os.path.dirname(r.path), r.licence or "unknown", "REAL" if r.label == 0 else "FAKE")
        agg[key] = agg.get(key, 0) + 1
    out = [{"source": s, "licence": lic, "label": lab, "n_videos": n} for (s, lic, lab), n in sorted(agg.items())]
    if synthesize:
        out.append({"source": "self-blended fakes synthesised from the REAL videos above (synthesis.selfblend)",
                    "licence": "derived from the sources above", "label": "FAKE",
                    "n_videos": sum(1 for r in records if r.label == 0)})
    return out


def _write_table(path, rows, names, extra):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(extra + names)
        for r in rows:
            w.writerow([r[k] for k in extra] + [r.get(n, "") for n in names])


def train_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="train.py", description="Train a detector on labelled videos.")
    ap.add_argument("--data", nargs="+", required=True, metavar="PATH",
                    help="labelled data: DFDC/FF++/Celeb-DF folder, real/+fake/ folders, CSV path,label[,group]")
    ap.add_argument("--features", default="all", help="all | fast | FAMILY[,FAMILY] (default all)")
    ap.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--dense", type=int, default=64, help="dense-window length for temporal features")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--synthesize", action="store_true",
                    help="add a self-blended fake of every REAL video; unlabelled folders count as REAL")
    ap.add_argument("--reencode", action="store_true",
                    help="add a degraded copy of every sample (both classes): half resampled down-up, then JPEG q35-90, "
                         "so neither compression nor resolution is a label cue")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=os.path.join(".cache", "features"), help="feature cache folder ('' = off)")
    ap.add_argument("--eval-data", nargs="*", default=[], metavar="PATH",
                    help="labelled data scored by the final model only (never trained on); metrics go in the card")
    ap.add_argument("--report", default=None, metavar="DIR", help="write the HTML model report to DIR")
    ap.add_argument("--notes", default="", help="free text stored in the model card")
    args = ap.parse_args(argv)

    from forensics.backend import resolve_device

    device = resolve_device(args.device)
    calcs = select(args.features)
    records: list[Record] = []
    for d in args.data:
        recs = read_labels(d)
        unl = [r for r in recs if r.label is None]
        if unl and not args.synthesize:
            raise SystemExit(f"{d}: {len(unl)} videos have no label (use a labelled layout, or --synthesize "
                             "to treat an unlabelled folder as REAL footage)")
        for r in unl:
            r.label = 0
        records += recs
    if not records:
        raise SystemExit("no videos found in --data")
    workers = 1 if device == "cuda" else _workers(args.workers)
    print(f"{len(records)} videos ({sum(r.label == 1 for r in records)} fake), {len(calcs)} calculators, "
          f"{workers} worker(s), device {device}")
    t0 = time.perf_counter()
    rows, failures = extract_table(records, calculators=calcs, frames=args.frames, dense=args.dense, device=device,
                                   seed=args.seed, cache_dir=args.cache or None, workers=workers,
                                   synthesize=args.synthesize, reencode=args.reencode)
    t_extract = time.perf_counter() - t0
    labels = np.array([r["_label"] for r in rows])
    if len(set(labels)) < 2:
        raise SystemExit("training needs both REAL and FAKE samples (add fakes, or use --synthesize)")
    X, names = _feature_matrix(rows)
    groups = [r["_group"] for r in rows]
    booster, oof, folds, params = train_cv(X, labels, groups, feature_names=names, n_folds=args.folds,
                                           seed=args.seed, threads=workers)
    ok = np.isfinite(oof)
    a, b = fit_platt(oof[ok], labels[ok])
    cv = cv_report(labels, oof, a, b, [r["_method"] for r in rows], [r["_dataset"] for r in rows],
                   len(np.unique(folds)))
    card = {
        "name": os.path.basename(os.path.normpath(args.output)),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "features": names,
        "feature_set": args.features,
        "calculators": [c.key for c in calcs],
        "frames": args.frames,
        "dense": args.dense,
        "calibration": {"method": "platt", "a": a, "b": b, "fitted_on": "out-of-fold raw scores"},
        "clip": list(CLIP),
        "cv": cv,
        "training": {"n_rows": int(len(rows)), "n_videos": len(records), "n_fake_rows": int(labels.sum()),
                     "synthesize": args.synthesize, "reencode": args.reencode, "seed": args.seed,
                     "failures": dict(failures), "extract_seconds": round(t_extract, 1),
                     "variants": dict(Counter(r["_variant"] for r in rows))},
        "data_sources": _data_sources(records, args.synthesize),
        "params": dict(params, num_boost_round=booster.current_iteration()),
        "library_versions": library_versions(),
        "notes": args.notes,
    }
    from reporting.explain import feature_ranges

    card["feature_ranges"] = feature_ranges(X, labels, names)  # typical real/fake values, for explanations
    model = DetectorModel(booster, card)
    if args.eval_data:
        card["evaluation"] = evaluate_external(model, args.eval_data, calcs=calcs, frames=args.frames,
                                               dense=args.dense, device=device, cache_dir=args.cache or None,
                                               workers=workers, seed=args.seed)
    model.save(args.output)
    for r, raw, f in zip(rows, oof, folds):
        r["_raw"], r["_prob"], r["_fold"] = raw, float(apply_platt([raw], a, b)[0]) if np.isfinite(raw) else "", f
    with open(os.path.join(args.output, "oof.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "label", "group", "method", "dataset", "variant", "fold", "raw", "prob"])
        for r in rows:
            w.writerow([r["_path"], r["_label"], r["_group"], r["_method"], r["_dataset"], r["_variant"],
                        r["_fold"], r["_raw"], r["_prob"]])
    _write_table(os.path.join(args.output, "features.csv"),
                 [{**r, "filename": r["_path"], "label": r["_label"], "group": r["_group"], "method": r["_method"],
                   "dataset": r["_dataset"], "variant": r["_variant"]} for r in rows],
                 names, ["filename", "label", "group", "method", "dataset", "variant"])
    _print_cv(cv, card)
    if args.report:
        from reporting.model_report import build_report

        print(f"report: {build_report(args.output, args.report)}")
    print(f"model written to {args.output} (extraction {t_extract:.1f} s)")
    return 0


def evaluate_external(model: DetectorModel, paths, *, calcs, frames, dense, device, cache_dir, workers, seed) -> dict:
    """Score labelled data the model never trained on; metrics overall, per dataset and per method."""
    from modeling import metrics

    records = [r for p in paths for r in read_labels(p) if r.label is not None]
    rows, failures = extract_table(records, calculators=calcs, frames=frames, dense=dense, device=device, seed=seed,
                                   cache_dir=cache_dir, workers=workers, synthesize=False, reencode=False,
                                   log=lambda *_: None)
    X = model.matrix(rows)
    p = model.predict_proba(X)
    y = np.array([r["_label"] for r in rows])
    out = {"data": [os.path.normpath(x) for x in paths], "overall": metrics.summary(y, p),
           "failures": dict(failures), "per_dataset": {}, "per_method_vs_real": {}}
    ds = np.array([r["_dataset"] for r in rows])
    meth = np.array([r["_method"] for r in rows])
    for d in sorted(set(ds)):
        out["per_dataset"][d] = metrics.summary(y[ds == d], p[ds == d])
    for m in sorted(set(meth[y == 1])):
        sel_f = (meth == m) & (y == 1)
        sel = sel_f | ((y == 0) & np.isin(ds, list(set(ds[sel_f]))))
        out["per_method_vs_real"][m] = metrics.summary(y[sel], p[sel])
    return out


def _fmt(m: dict) -> str:
    return (f"AUC {m['auc']:.3f}  log loss {m['log_loss']:.3f}  acc {m['accuracy']:.3f}  "
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
