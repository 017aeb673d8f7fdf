"""``predict.py``: score videos, one CSV row per video, written as each finishes."""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

import numpy as np

from modeling.detector import DetectorModel
from pipeline.batch import default_workers, parallel_map
from pipeline.extract import SCORED, extract_video
from reporting.outputs import UNSCORED, FeatureWriter, PredictionWriter

from .common import calculators_by_key, collect_inputs

__all__ = ["predict_one", "main"]

_MODEL_CACHE: dict = {}


def _model(model_dir: str | None) -> DetectorModel:
    if model_dir not in _MODEL_CACHE:  # one load per worker process
        _MODEL_CACHE[model_dir] = DetectorModel.load(model_dir)
    return _MODEL_CACHE[model_dir]


def _top_features(names, contrib, k=3) -> str:
    order = np.argsort(-contrib)
    return ";".join(f"{names[i]}={contrib[i]:+.2f}" for i in order[:k] if contrib[i] > 0)


def predict_one(path: str, cfg: dict) -> tuple[dict, dict | None]:
    """Score one video (runs inside a worker). Returns (CSV row, feature row of the scored track or None)."""
    t0 = time.perf_counter()
    model = _model(cfg["model"])
    calcs = calculators_by_key(model.card["calculators"])
    row = {"filename": os.path.basename(path), "path": path, "label": UNSCORED, "status": "error", "message": "",
           "n_frames": 0, "n_faces": 0, "n_tracks": 0, "raw_score": "", "track": "", "top_fake_features": ""}
    feats = None
    try:
        explain = cfg.get("explain")
        results = extract_video(path, calculators=calcs, n_frames=cfg["frames"], dense=cfg["dense"],
                                device=cfg["device"], keep_tracks=bool(explain))
        r = results[0]
        row.update(status=r.status, message=r.message, n_frames=r.n_frames, n_faces=r.n_faces, n_tracks=len(r.tracks))
        if r.status in SCORED:
            scores = [model.score_track(t.values, t.features) for t in r.tracks]
            best = int(np.argmax([sc.prob for sc in scores]))  # two people: the most suspicious face decides
            sc = scores[best]
            row.update(label=sc.prob, raw_score=sc.raw, track=best,
                       top_fake_features=_top_features(model.feature_names, sc.contrib))
            feats = dict(zip(model.feature_names, sc.values.tolist()))
            if explain:
                try:
                    from reporting.explain import write_explanation

                    write_explanation(explain, cfg.get("names", {}).get(path, os.path.basename(path)),
                                      model=model, features=feats, score=sc, track=r.tracks[best].track)
                except Exception as e:  # noqa: BLE001 - an explanation failure never costs the score
                    row["message"] = "; ".join(filter(None, [row["message"], f"explain: {type(e).__name__}: {e}"]))
    except Exception as e:  # noqa: BLE001
        row.update(status="error", message=f"{type(e).__name__}: {e}")
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row, feats


def _predict_item(item):
    return predict_one(*item)


def main(argv=None) -> int:
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
    workers = 1 if device == "cuda" else min(default_workers(args.workers), len(videos))
    print(f"scoring {len(videos)} video(s) with {workers} worker(s) on {device}; frames={cfg['frames']}",
          file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    statuses = Counter()
    feat_writer = FeatureWriter(args.features_out, model.feature_names) if args.features_out else None
    with open(args.output, "w", newline="") as out:
        writer = PredictionWriter(out)
        try:
            for row, feats in parallel_map(_predict_item, [(v, cfg) for v in videos], workers):
                writer.write(row)
                statuses[row["status"]] += 1
                if feat_writer and feats is not None:
                    feat_writer.write(row["path"], feats)
                print(f"  {row['status']:<13} {row['label'] if row['status'] == 'ok' else '':<9} {row['path']}",
                      file=sys.stderr)
        finally:
            if feat_writer:
                feat_writer.close()
    if args.explain:
        from reporting.explain import write_index

        print(f"explanations: {write_index(args.explain)}", file=sys.stderr)
    print(f"wrote {args.output}: " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()), file=sys.stderr)
    return 0
