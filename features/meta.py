"""``meta`` family: context a classifier needs to read the forensic features fairly.

Face size and compression change every other family's values (a 60-px face
has no high frequencies left; heavy compression flattens noise residuals), so
the model sees them explicitly instead of inferring them.
"""
from __future__ import annotations

import numpy as np

from .registry import CHEAP, Calculator


def face_size(track) -> dict:
    """Face-box side in decoded pixels per frame, and relative to the frame height.

    Decoded pixels are the file's own up to :data:`pipeline.video.MAX_SIDE` (1920) a side; larger videos are
    downscaled as they are decoded (``info["decode_scale"]``), and every family, this one included, measures
    the face at that size: the detail the analysis had, which is what ``reliability`` should judge.
    """
    b = np.asarray(track.boxes, dtype=np.float64)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    h = float(track.frames.shape[1])
    return {"side_px": side, "side_rel": side / h}


def compression(track) -> dict:
    """Container bits per pixel per frame (file size / (pixels x frames)): a compression estimate."""
    return {"bits_per_pixel": np.float64(track.video_info.get("bits_per_pixel", np.nan))}


CALCULATORS = [
    Calculator("meta", "face_size", face_size, cost=CHEAP, gpu=False,
               description="face size in pixels and relative to the frame",
               features={"side_px": ("face-box side in frame pixels as decoded "
                                    "(above 1920 px a side, files are downscaled first)"),
                         "side_rel": "face-box side as a share of the frame height"}),
    Calculator("meta", "compression", compression, cost=CHEAP, gpu=False,
               description="container bits per pixel (compression estimate)",
               features={"bits_per_pixel": "video file bits per pixel and frame (lower: stronger compression)"}),
]
