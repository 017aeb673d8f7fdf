#!/usr/bin/env python
"""Seconds per video and per stage (decode, detection, features per family, model).

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

from features.aggregate import aggregate_values  # noqa: E402
from features.registry import select  # noqa: E402
from features.track import build_track  # noqa: E402
from forensics.backend import array_module, resolve_device  # noqa: E402
from pipeline.extract import _dense_window, extract_video  # noqa: E402
from pipeline.faces import FaceDetector, link_tracks  # noqa: E402
from pipeline.model import DetectorModel  # noqa: E402
from pipeline.video import read_video  # noqa: E402


def synth_1080p(path: str, seconds: float = 10.0, fps: int = 30) -> str:
    import cv2

    from tests.conftest import carphone

    cap = cv2.VideoCapture(carphone())
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
    t = {}
    t0 = time.perf_counter()
    v = read_video(path, n_frames=frames, dense=dense if any(c.needs_dense for c in calcs) else 0)
    t["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    det = FaceDetector()
    dets = [det.detect(f) for f in v.frames]
    tracks = link_tracks(dets)
    t["detect"] = time.perf_counter() - t0
    tr = tracks[0]
    pos = np.array([p for p, _ in tr])
    t0 = time.perf_counter()
    knots = (v.indices[pos], np.stack([d.box for _, d in tr]))
    win = _dense_window(v, knots, {})
    ft = build_track(v.frames[pos], knots[1], landmarks=np.stack([d.landmarks for _, d in tr]),
                     frame_index=v.indices[pos], fps=v.fps, xp=array_module(device), dense=win, video_info=v.info)
    t["crops"] = time.perf_counter() - t0
    row = {}
    for fam in dict.fromkeys(c.family for c in calcs):
        t0 = time.perf_counter()
        for c in calcs:
            if c.family == fam:
                row.update(aggregate_values(c.family, c.func(ft)))
        if device == "cuda":
            import cupy

            cupy.cuda.Device().synchronize()
        t[f"features:{fam}"] = time.perf_counter() - t0
    if model is not None:
        t0 = time.perf_counter()
        model.predict_proba(model.matrix([row]))
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

        from pipeline.cli import _parallel

        copies = []
        for i in range(args.batch):
            p = os.path.join(tmp, f"copy{i}.mp4")
            shutil.copy(path, p)
            copies.append(p)
        t0 = time.perf_counter()
        n_workers = os.cpu_count() or 1
        list(_parallel(lambda p: extract_video(p, calculators=calcs, n_frames=args.frames, dense=args.dense,
                                               device=device), copies, n_workers))
        dt = time.perf_counter() - t0
        print(f"\nbatch of {args.batch} videos, {n_workers} workers: {dt:.1f} s = {dt / args.batch:.2f} s per video")


if __name__ == "__main__":
    main()
