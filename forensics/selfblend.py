"""Self-blended fakes: a frame's own face, altered, blended back onto it.

References
----------
K. Shiohara, T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022. L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

__all__ = ["SelfBlend", "sample_blend_params", "self_blend"]


class SelfBlend(NamedTuple):
    """Result of :func:`self_blend`: the blended frame (uint8 RGB) and the blend mask (float32 in [0, 1])."""

    frame: np.ndarray
    mask: np.ndarray


def sample_blend_params(rng: np.random.Generator) -> dict:
    """Draw one video's alteration, so that every frame of a fake is altered alike."""
    return {
        "gain": rng.uniform(0.9, 1.1, size=3),  # per-channel colour gain
        "offset": rng.uniform(-8, 8, size=3),
        "sharpen": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0)),  # <0 blurs, >0 sharpens
        "feather": float(rng.uniform(0.05, 0.2)),  # feather width as a fraction of the face size
        "scale": float(rng.uniform(0.85, 1.1)),  # mask ellipse size relative to the face box
    }


def _ellipse_mask(shape, box, scale, feather_px):
    h, w = shape
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0)
    ax, ay = max((x1 - x0) / 2 * scale, 2), max((y1 - y0) * 0.6 * scale, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    m = ((((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2) <= 1).astype(np.float32)
    if feather_px >= 1:
        k = int(2 * round(feather_px) + 1)
        m = cv2.GaussianBlur(m, (k, k), feather_px / 2)
        m *= ((((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2) <= 1.0)  # nothing changes outside the ellipse
    return m


def self_blend(frame: np.ndarray, box, landmarks=None, *, params: dict, rng: np.random.Generator) -> SelfBlend:
    """Blend an altered copy of ``frame``'s face back onto ``frame``.

    Parameters
    ----------
    frame : uint8 (H, W, 3) RGB
    box : (x0, y0, x1, y1) face box in frame pixels
    landmarks : (5, 2) or None (unused by this simplest version)
    params : from :func:`sample_blend_params`
    rng : generator for per-frame jitter

    Returns
    -------
    SelfBlend
        Pixels outside the mask's support are bit-identical to ``frame``.
    """
    src = frame.astype(np.float32)
    alt = src * params["gain"] + params["offset"]
    s = params["sharpen"]
    blur = cv2.GaussianBlur(alt, (0, 0), 1.0 + abs(s))
    alt = alt + s * (alt - blur) if s > 0 else (1 + s) * alt - s * blur
    x0, y0, x1, y1 = [float(v) for v in box]
    size = max(x1 - x0, y1 - y0)
    mask = _ellipse_mask(frame.shape[:2], (x0, y0, x1, y1), params["scale"] * rng.uniform(0.97, 1.03),
                         params["feather"] * size)
    out = src * (1 - mask[..., None]) + alt * mask[..., None]
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    out[mask == 0] = frame[mask == 0]
    return SelfBlend(out, mask)
