"""Audio-visual synchrony: does the mouth move with the speech?

Speech energy rises and falls with the opening and closing of the mouth, with
the lips leading the sound by a few tens of milliseconds; a face whose mouth
is driven by another soundtrack, or re-rendered frame by frame from audio,
keeps that relation only as well as its generator does. The classical
measure is the correlation between the audio's energy and the pixel change
of the mouth region over consecutive frames (Hershey & Movellan 2000), with
its peak searched over a short range of lags (Chung & Zisserman 2016 use the
same lag search on learned embeddings).

Array in, array out; no file or codec access here (:mod:`pipeline.audio` reads
the samples).

References
----------
J. Hershey, J. Movellan, "Audio vision: using audio-visual synchrony to locate
sounds", NIPS 12, 2000.
J. S. Chung, A. Zisserman, "Out of time: automated lip sync in the wild",
ACCV Workshops, 2016.
"""
from __future__ import annotations

import cv2
import numpy as np

from .temporal import box_fraction_rects

__all__ = ["speech_envelope", "region_motion", "mouth_motion", "lagged_correlation", "MOUTH", "UPPER"]

#: face-box fractions ``(fx0, fy0, fx1, fy1)``: the mouth and jaw, and the eyes and brows above them
MOUTH = (0.25, 0.62, 0.75, 0.98)
UPPER = (0.2, 0.18, 0.8, 0.45)

#: floor of the RMS energy (full scale 1.0) before the logarithm: -80 dBFS, silence
ENERGY_FLOOR = 1e-4


def speech_envelope(samples, rate: float, *, fps: float, n_frames: int) -> np.ndarray:
    """Log RMS energy of mono audio over each video frame's interval.

    Parameters
    ----------
    samples : float (N,), mono samples in [-1, 1], sample 0 at the time of frame 0
    rate : samples per second
    fps : video frames per second
    n_frames : number of video frames to cover

    Returns
    -------
    float64 (n_frames,)
        ``log10`` of the RMS over ``[k / fps, (k + 1) / fps)``, floored at
        :data:`ENERGY_FLOOR`; NaN for frames the audio does not reach.
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    edges = np.round(np.arange(n_frames + 1) * (rate / fps)).astype(np.int64)
    out = np.full(n_frames, np.nan)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    for k in range(n_frames):
        a, b = edges[k], min(edges[k + 1], len(x))
        if b - a >= max(1, (edges[k + 1] - edges[k]) // 2):
            out[k] = 0.5 * np.log10(max((c[b] - c[a]) / (b - a), ENERGY_FLOOR ** 2))
    return out


def region_motion(frames, rects, *, size: tuple[int, int] = (32, 16)) -> np.ndarray:
    """Mean absolute luma change of a moving rectangle between consecutive frames.

    Each frame's rectangle is resampled to ``size`` (width, height) first, so
    the measure follows the region as the head moves and does not depend on
    the face's size in pixels.

    Parameters
    ----------
    frames : uint8 or float (M, H, W, 3) RGB
    rects : float (M, 4), ``(x0, y0, x1, y1)`` per frame, in pixels
    size : resampled (width, height)

    Returns
    -------
    float64 (M - 1,)
        Mean ``|Y_t - Y_{t-1}|`` (0-255 scale) for ``t = 1 .. M-1``; NaN where a
        rectangle is empty or leaves the frame entirely.
    """
    frames = np.asarray(frames)
    m, h, w = frames.shape[:3]
    patches = np.full((m, size[1], size[0]), np.nan, np.float32)
    for t in range(m):
        x0, y0, x1, y1 = (float(v) for v in rects[t])
        x0, x1 = max(0.0, x0), min(float(w), x1)
        y0, y1 = max(0.0, y0), min(float(h), y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        # an affine map of the rectangle onto the patch: sub-pixel placement, no rounding of the edges
        sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
        mat = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]])
        rgb = cv2.warpAffine(np.ascontiguousarray(frames[t], dtype=np.float32), mat, size,
                             flags=cv2.INTER_AREA if min(sx, sy) < 1 else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        patches[t] = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.abs(np.diff(patches.astype(np.float64), axis=0)).mean(axis=(1, 2))


def mouth_motion(frames, boxes, *, mouth=MOUTH, upper=UPPER) -> np.ndarray:
    """The mouth's frame-to-frame change relative to the upper face's.

    Both regions follow the face box (:func:`region_motion` of rectangles placed
    by :func:`forensics.temporal.box_fraction_rects`), so head motion and camera
    shake change both and cancel in the log ratio; a face whose mouth alone is
    re-rendered (lip-sync) or driven while the face stays still (audio-driven
    heads) moves it more relative to the eyes and brows.

    Parameters
    ----------
    frames : uint8 or float (M, H, W, 3) RGB, consecutive frames
    boxes : float (M, 4) face boxes ``(x0, y0, x1, y1)`` in pixels
    mouth, upper : face-box fractions of the two regions

    Returns
    -------
    float64 (M - 1,)
        ``log(1 + mouth change) - log(1 + upper-face change)`` per transition
        ``t - 1 -> t``; NaN where a region is empty.
    """
    rects = np.asarray(box_fraction_rects(np.asarray(boxes, dtype=np.float64), [mouth, upper]))
    return np.log1p(region_motion(frames, rects[:, 0])) - np.log1p(region_motion(frames, rects[:, 1]))


def lagged_correlation(a, b, *, max_lag: int) -> np.ndarray:
    """Pearson correlation of ``a[t]`` with ``b[t + lag]`` for ``lag = -max_lag .. max_lag``.

    Samples where either is NaN are left out pair by pair; a lag with fewer
    than 8 valid pairs, or a constant signal, gives NaN.

    Returns
    -------
    float64 (2 * max_lag + 1,)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    out = np.full(2 * max_lag + 1, np.nan)
    for i, lag in enumerate(range(-max_lag, max_lag + 1)):
        x, y = (a[:n - lag], b[lag:]) if lag >= 0 else (a[-lag:], b[:n + lag])
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 8:
            continue
        x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
        den = np.sqrt((x * x).sum() * (y * y).sum())
        if den > 0:
            out[i] = float((x * y).sum() / den)
    return out
