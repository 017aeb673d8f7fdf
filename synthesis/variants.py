"""Training variants of one decoded video.

A variant name is ``BASE[+AUG]``: ``orig`` (the decode itself) or ``selfblend``
(a self-blended fake of it), optionally ``+reencode`` (a degraded copy). The
variants of a video are made from the same decode, so a synthetic fake is
always compared with its own original, and the degradation of a video's real
and fake copies is the same (compression is no label cue).
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np

__all__ = ["VARIANTS", "variant_frames", "reencode_frames", "video_seed", "is_synthetic_fake"]

#: training variants: the decoded video, a self-blended fake of it, and degraded copies of both
#: (``+reencode``: half the time resampled down and up by 0.35-0.75, then JPEG at quality 35-90)
VARIANTS = ("orig", "selfblend", "orig+reencode", "selfblend+reencode")


def is_synthetic_fake(variant: str) -> bool:
    """True for variants whose label is FAKE whatever the source video's label."""
    return variant.partition("+")[0] != "orig"


def video_seed(path: str, seed: int) -> int:
    """A per-video seed that depends on the file name and the run's seed only (reproducible)."""
    return (zlib.crc32(str(path).replace("\\", "/").split("/")[-1].encode()) + 7919 * seed) % (2**31)


def reencode_frames(frames: np.ndarray, *, quality: int, scale: float) -> np.ndarray:
    """Lose resolution (down- and up-sample by ``scale``, geometry kept) and re-compress as JPEG."""
    out = np.empty_like(frames)
    h, w = frames.shape[1:3]
    for i, f in enumerate(frames):
        if scale < 1:
            small = cv2.resize(f, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
            f = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        out[i] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def variant_frames(frames: np.ndarray, dense: np.ndarray | None, variant: str, *, boxes: np.ndarray,
                   landmarks: np.ndarray, positions: np.ndarray, dense_boxes: np.ndarray | None, seed: int):
    """Sparse and dense frames of one training variant (the inputs themselves for ``orig``).

    Parameters
    ----------
    frames : uint8 (N, H, W, 3), the sparse sample; dense : uint8 (M, h, w, 3) or None
    variant : one of :data:`VARIANTS`
    boxes, landmarks : the primary face track's boxes (T, 4) and landmarks (T, 5, 2), at ``positions``
        (T,) in ``frames``; dense_boxes : (M, 4) the same face in ``dense`` pixels, or None
    seed : the video's seed (:func:`video_seed`)
    """
    base, _, aug = variant.partition("+")
    if base == "selfblend":
        from .selfblend import self_blend_frames

        frames = frames.copy()
        frames[positions], _ = self_blend_frames(frames[positions], boxes, landmarks, seed=seed)
        if dense is not None and dense_boxes is not None:
            dense, _ = self_blend_frames(dense, dense_boxes, None, seed=seed)
    elif base != "orig":
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    if aug == "reencode":
        # the same degradation for a video's real and self-blended copies: compression is no label cue
        rng = np.random.default_rng(seed + 1)
        q = int(rng.integers(35, 90))
        scale = float(rng.uniform(0.35, 0.75)) if rng.random() < 0.5 else 1.0
        frames = reencode_frames(frames, quality=q, scale=scale)
        if dense is not None:
            dense = reencode_frames(dense, quality=q, scale=scale)
    elif aug:
        raise ValueError(f"unknown augmentation {aug!r}")
    return frames, dense
