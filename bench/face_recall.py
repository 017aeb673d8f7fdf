#!/usr/bin/env python
"""Does detection on fewer frames keep the faces? Reduced vs full detection on the development clips.

    python bench/face_recall.py [--subset labelled real] [--frames 32] [--limit N] [--key-every 4]

For every clip of ``../shared/data/manifest.csv`` in the subsets, the pipeline's sparse sample is decoded
(``read_video``, 32 frames) and faces are detected twice: on every frame (:meth:`FaceDetector.detect`, the
reference) and as the pipeline now does (:meth:`FaceDetector.detect_frames`: full detection on every
``key_every``-th frame, windows around known faces in between). Printed per subset:

* box recall: share of the reference boxes with a reduced-detection box at IoU >= 0.5;
* track-box recall: the same over the boxes of the reference's face tracks (:func:`link_tracks`), the faces
  whose features are computed;
* frame recall: share of frames holding a reference face in which a face box within IoU 0.5 of one was found;
* extra boxes: reduced-detection boxes with no reference box at IoU >= 0.5;
* primary-track agreement: clips whose first track covers the same frames either way;
* detection CPU seconds per clip, both ways.

Only these aggregates are printed; nothing derived from the research-only clips is written.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pipeline.faces import FaceDetector, box_iou, link_tracks  # noqa: E402
from pipeline.video import read_video  # noqa: E402

SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))


def _matched(box, dets, thr=0.5) -> bool:
    return any(box_iou(box, d.box) >= thr for d in dets)


def compare(path: str, det: FaceDetector, *, frames: int, key_every: int) -> dict:
    v = read_video(path, n_frames=frames)
    c0 = time.process_time()
    full = [det.detect(f) for f in v.frames]
    c1 = time.process_time()
    red = det.detect_frames(v.frames, key_every=key_every)
    c2 = time.process_time()
    tracks_full = link_tracks(full)
    tracks_red = link_tracks(red)
    track_boxes = [(p, d.box) for tr in tracks_full for p, d in tr]
    frames_with = [k for k, d in enumerate(full) if d]
    return {
        "boxes": sum(len(d) for d in full),
        "boxes_hit": sum(_matched(d.box, red[k]) for k, ds in enumerate(full) for d in ds),
        "track_boxes": len(track_boxes),
        "track_boxes_hit": sum(_matched(b, red[p]) for p, b in track_boxes),
        "frames": len(frames_with),
        "frames_hit": sum(any(_matched(d.box, red[k]) for d in full[k]) for k in frames_with),
        "extra": sum(not _matched(d.box, full[k]) for k, ds in enumerate(red) for d in ds),
        "reduced_boxes": sum(len(d) for d in red),
        "same_primary": (not tracks_full and not tracks_red) or (
            bool(tracks_full) and bool(tracks_red)
            and [p for p, _ in tracks_full[0]] == [p for p, _ in tracks_red[0]]),
        "cpu_full": c1 - c0,
        "cpu_reduced": c2 - c1,
        "size": f"{v.frames.shape[2]}x{v.frames.shape[1]}",
    }


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--subset", nargs="+", default=["labelled", "real"])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--key-every", type=int, default=None)
    ap.add_argument("--limit", type=int, default=0, help="at most this many clips per subset (0: all)")
    ap.add_argument("--min-height", type=int, default=0, help="only clips at least this tall")
    args = ap.parse_args(argv)
    from pipeline import faces

    key_every = args.key_every or faces.KEY_EVERY
    with open(os.path.join(SHARED, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    det = FaceDetector()
    print(f"key_every {key_every}, window {faces.WINDOW}, max share {faces.WINDOW_MAX_SHARE}; load "
          + "/".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
    print("| subset | clips | box recall | track-box recall | frame recall | extra boxes | same primary track "
          "| detection CPU s per clip, full -> reduced |\n|---|---|---|---|---|---|---|---|")
    for subset in args.subset:
        sel = [r for r in rows if r["path"].startswith(subset + "/")
               and int(r["size"].split("x")[1]) >= args.min_height]
        if args.limit:
            sel = sel[:: max(1, len(sel) // args.limit)][: args.limit]
        res = []
        for r in sel:
            try:
                res.append(compare(os.path.join(SHARED, r["path"]), det, frames=args.frames, key_every=key_every))
            except Exception as e:  # noqa: BLE001
                print(f"  skipped {r['path']}: {type(e).__name__}: {e}", file=sys.stderr)
        if not res:
            continue
        tot = {k: sum(x[k] for x in res) for k in res[0] if k != "size"}
        print(f"| {subset} | {len(res)} | {tot['boxes_hit'] / max(tot['boxes'], 1):.4f} ({tot['boxes']}) "
              f"| {tot['track_boxes_hit'] / max(tot['track_boxes'], 1):.4f} ({tot['track_boxes']}) "
              f"| {tot['frames_hit'] / max(tot['frames'], 1):.4f} ({tot['frames']}) "
              f"| {tot['extra'] / max(tot['reduced_boxes'], 1):.4f} | {tot['same_primary']}/{len(res)} "
              f"| {tot['cpu_full'] / len(res):.2f} -> {tot['cpu_reduced'] / len(res):.2f} |", flush=True)


if __name__ == "__main__":
    main()
