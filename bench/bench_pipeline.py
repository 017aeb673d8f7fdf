#!/usr/bin/env python
"""Seconds per video and per stage (decode, detection, crops, features per family, model).

Stages are timed inside ``pipeline.extract.extract_video``, so the figures are
those of the product's own path (dense-window detections included); on CUDA,
a family's time includes its device synchronisation only where its code syncs.

    python bench/bench_pipeline.py [VIDEO] [--frames 32] [--repeat 3] [--device cpu|cuda] [--features all]

With no VIDEO, a 10-s 1080p30 clip is synthesised from carphone_pristine.mp4
(upscaled, looped, MPEG-4 part 2 since OpenCV wheels carry no H.264 encoder).
Prints a Markdown table for bench/RESULTS.md. The batch figure runs the
pipeline over ``--batch`` copies with one worker per core, as predict.py does.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from features.registry import select  # noqa: E402
from forensics.backend import resolve_device  # noqa: E402
from pipeline.extract import extract_video  # noqa: E402
from modeling.detector import DetectorModel  # noqa: E402

def synth_1080p(path: str, seconds: float = 10.0, fps: int = 30) -> str:
    import cv2

    from pipeline.samples import carphone_path

    cap = cv2.VideoCapture(carphone_path())
    src = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        src.append(cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC))
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (1920, 1080))
    n = int(seconds * fps)
    for i in range(n):
        k = i % (2 * len(src) - 2)
        w.write(src[k if k < len(src) else 2 * len(src) - 2 - k])  # ping-pong loop, no jump cut
    w.release()
    return path


def bench_once(path, calcs, frames, dense, device, model):
    """Stage timings of the product's own extraction (``extract_video``), plus the model."""
    r = extract_video(path, calculators=calcs, n_frames=frames, dense=dense, device=device)[0]
    if r.status != "ok":
        raise SystemExit(f"{path}: {r.status}: {r.message}")
    t = dict(r.timings)
    if model is not None:
        t0 = time.perf_counter()
        model.predict_proba(model.matrix([tr.features for tr in r.tracks]))
        t["model"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--dense", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--features", default="all")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=0, help="also time a batch of this many copies with all cores")
    args = ap.parse_args()
    device = resolve_device(args.device)
    tmp = tempfile.mkdtemp()
    path = args.video or synth_1080p(os.path.join(tmp, "synth_1080p.mp4"))
    calcs = select(args.features)
    try:
        model = DetectorModel.load()
    except Exception:
        model = None
    bench_once(path, calcs, args.frames, args.dense, device, model)  # warm-up (imports, ONNX load)
    runs = [bench_once(path, calcs, args.frames, args.dense, device, model) for _ in range(args.repeat)]
    keys = list(runs[0])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, device {device}; "
          f"video {os.path.basename(path)}; frames {args.frames}; median of {args.repeat}")
    print("| stage | seconds per video |\n|---|---|")
    for k in keys:
        print(f"| {k} | {np.median([r[k] for r in runs]):.3f} |")
    if args.batch:
        import shutil

        from pipeline.batch import parallel_map

        copies = []
        for i in range(args.batch):
            p = os.path.join(tmp, f"copy{i}.mp4")
            shutil.copy(path, p)
            copies.append(p)
        t0 = time.perf_counter()
        n_workers = os.cpu_count() or 1
        list(parallel_map(lambda p: extract_video(p, calculators=calcs, n_frames=args.frames, dense=args.dense,
                                               device=device), copies, n_workers))
        dt = time.perf_counter() - t0
        print(f"\nbatch of {args.batch} videos, {n_workers} workers: {dt:.1f} s = {dt / args.batch:.2f} s per video")


if __name__ == "__main__":
    main()
