"""Temporal consistency of a face over consecutive frames (NumPy or CuPy).

Frame-by-frame face synthesis is not temporally consistent: the synthesised
face flickers in brightness, colour and fine detail, and its geometry jitters
against the head. The functions here turn a window of consecutive frames into
per-frame region signals and measure how much they change from frame to frame.

Every region is an axis-aligned rectangle placed relative to the (moving) face
box, so a region mean over ``M`` frames is a separable weighted sum: a batched
matrix product with per-frame row weights and column weights. Rectangle edges
fall between pixels with fractional coverage, so a box moving by a fraction of
a pixel moves the region mean smoothly (no quantisation jitter).

Global camera or lighting changes (exposure, white balance) act on the whole
frame; they cancel in the log-ratio of a face signal to the same signal over
the background (the frame outside an enlarged face box).

References
----------
U. A. Ciftci, I. Demir, L. Yin, "FakeCatcher: Detection of Synthetic Portrait
Videos using Biological Signals", IEEE TPAMI (2020): temporal and spectral
consistency of face-region signals as deepfake evidence.
Y. Li, M.-C. Chang, S. Lyu, "In Ictu Oculi: Exposing AI Generated Fake Face
Videos by Detecting Eye Blinking", WIFS (2018), and X. Yang, Y. Li, S. Lyu,
"Exposing Deep Fakes Using Inconsistent Head Poses", ICASSP (2019): landmark
and pose inconsistencies of synthesised faces over time.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .backend import get_namespace

__all__ = [
    "RegionSums",
    "DetailEnergy",
    "TemporalActivity",
    "BoxJitter",
    "LandmarkJitter",
    "detrend",
    "box_fraction_rects",
    "coverage_weights",
    "region_sums",
    "detail_energy",
    "temporal_activity",
    "flicker_ratio",
    "box_jitter",
    "landmark_jitter",
]


class RegionSums(NamedTuple):
    """Result of :func:`region_sums`.

    Attributes
    ----------
    sums : (M, R, C) weighted pixel sums of each region in each frame
    area : (M, R) covered area (pixels) of each region inside the frame
    """

    sums: object
    area: object


class DetailEnergy(NamedTuple):
    """Result of :func:`detail_energy`; maps of shape ``(M, H - 1, W - 1)``.

    Attributes
    ----------
    gradient : squared gradient magnitude (forward differences), fine detail and edges
    residual : squared diagonal second difference ``x[i,j] - x[i+1,j] - x[i,j+1] + x[i+1,j+1]``,
        the finest (HH) band of an undecimated Haar transform: sensor and compression noise
    """

    gradient: object
    residual: object


class TemporalActivity(NamedTuple):
    """Result of :func:`temporal_activity` (reduced over the time axis).

    Attributes
    ----------
    d1 : RMS of the first temporal difference (per frame)
    d2 : RMS of the second temporal difference, the frame-to-frame flicker
        (a high-pass with gain ``4 sin^2(pi f / fps)``: slow motion and drift are suppressed)
    hf_share : share of the power of the linearly detrended signal above a quarter of the
        frame rate (0 for a constant signal)
    """

    d1: object
    d2: object
    hf_share: object


class BoxJitter(NamedTuple):
    """Result of :func:`box_jitter`.

    Attributes
    ----------
    position : RMS second difference of the box centre, in box sizes
    scale : RMS second difference of the log box size
    """

    position: object
    scale: object


class LandmarkJitter(NamedTuple):
    """Result of :func:`landmark_jitter`; arrays of shape ``(T,)``, NaN at the ends.

    Attributes
    ----------
    position : mean norm of the landmarks' second temporal difference, in crop sizes
    shape : the same after removing each frame's landmark centroid and spread, i.e.
        the jitter of the face's shape rather than of its placement
    """

    position: object
    shape: object


def detrend(x, *, axis: int = -1):
    """Remove the mean and the least-squares linear trend along ``axis``.

    Parameters
    ----------
    x : array (..., M, ...)

    Returns
    -------
    array of the same shape, float64
    """
    xp = get_namespace(x)
    s = xp.moveaxis(xp.asarray(x, dtype=xp.float64), axis, -1)
    m = s.shape[-1]
    t_np = np.arange(m, dtype=np.float64) - (m - 1) / 2
    t = xp.asarray(t_np)
    s = s - s.mean(axis=-1, keepdims=True)
    slope = (s * t).sum(axis=-1, keepdims=True) / max(float(t_np @ t_np), 1e-300)
    return xp.moveaxis(s - slope * t, -1, axis)


def box_fraction_rects(boxes, fractions):
    """Rectangles placed relative to face boxes.

    Parameters
    ----------
    boxes : array (M, 4)
        Face boxes ``(x0, y0, x1, y1)`` in pixels.
    fractions : array-like (R, 4)
        Each rectangle as ``(fx0, fy0, fx1, fy1)`` fractions of the box width and
        height from its top-left corner; values outside ``[0, 1]`` reach outside
        the box (``(-0.3, -0.3, 1.3, 1.3)`` is the box enlarged 1.6 times).

    Returns
    -------
    rects : array (M, R, 4), ``(x0, y0, x1, y1)`` in pixels, same backend as ``boxes``
    """
    xp = get_namespace(boxes)
    b = xp.asarray(boxes, dtype=xp.float64).reshape(-1, 1, 4)
    f = xp.asarray(np.asarray(fractions, dtype=np.float64).reshape(1, -1, 4))
    w = b[..., 2:3] - b[..., 0:1]
    h = b[..., 3:4] - b[..., 1:2]
    x = b[..., 0:1] + f[..., 0::2] * w
    y = b[..., 1:2] + f[..., 1::2] * h
    return xp.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)


def coverage_weights(lo, hi, n: int, *, dtype=np.float32):
    """Fraction of each pixel ``[i, i + 1)`` covered by the interval ``[lo, hi)``.

    Parameters
    ----------
    lo, hi : arrays of the same shape (...)
        Interval ends in pixel coordinates (pixel ``i`` spans ``[i, i + 1)``);
        the interval is clipped to ``[0, n)``.
    n : int
        Number of pixels.

    Returns
    -------
    array (..., n) of weights in ``[0, 1]``
    """
    xp = get_namespace(lo, hi)
    i = xp.arange(n, dtype=xp.float64)
    lo = xp.asarray(lo, dtype=xp.float64)[..., None]
    hi = xp.asarray(hi, dtype=xp.float64)[..., None]
    return xp.clip(xp.minimum(hi, i + 1) - xp.maximum(lo, i), 0.0, 1.0).astype(dtype)


def region_sums(images, rects) -> RegionSums:
    """Weighted sums of rectangular regions, batched over frames and regions.

    Each rectangle's sum is ``wy^T X wx`` with the separable coverage weights of
    :func:`coverage_weights`, computed as two batched matrix products, so the cost
    is ``O(M R H W C)`` multiply-adds with no per-region Python loop.

    Parameters
    ----------
    images : array (M, H, W) or (M, H, W, C)
        Frames (any real dtype; integers are converted to float32).
    rects : array (M, R, 4)
        ``(x0, y0, x1, y1)`` per frame and region, in pixels; fractional edges
        weigh the edge pixels by their covered fraction; parts outside the frame
        are ignored.

    Returns
    -------
    RegionSums
        ``sums`` (M, R, C) (C = 1 for 3-D input) and covered ``area`` (M, R).
    """
    xp = get_namespace(images, rects)
    x = xp.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    dtype = x.dtype if x.dtype in (xp.float32, xp.float64) else xp.float32
    x = x.astype(dtype, copy=False)
    m, h, w, c = x.shape
    r = xp.asarray(rects)
    wy = coverage_weights(r[..., 1], r[..., 3], h, dtype=dtype)  # (M, R, H)
    wx = coverage_weights(r[..., 0], r[..., 2], w, dtype=dtype)  # (M, R, W)
    rows = xp.matmul(wy, x.reshape(m, h, w * c)).reshape(m, -1, w, c)  # (M, R, W, C)
    sums = xp.matmul(wx[:, :, None, :], rows)[:, :, 0, :]  # (M, R, C)
    area = wy.sum(axis=-1) * wx.sum(axis=-1)
    return RegionSums(sums, area)


def detail_energy(luma) -> DetailEnergy:
    """Per-pixel fine-detail and noise-residual energy of gray frames.

    Parameters
    ----------
    luma : array (M, H, W)
        Gray frames (float).

    Returns
    -------
    DetailEnergy
        ``gradient`` and ``residual`` maps, each (M, H - 1, W - 1), aligned so that
        map pixel ``(i, j)`` describes the 2x2 block at frame pixel ``(i, j)``.
    """
    xp = get_namespace(luma)
    y = xp.asarray(luma)
    if y.dtype not in (xp.float32, xp.float64):
        y = y.astype(xp.float32)
    dx = y[:, :, 1:] - y[:, :, :-1]  # (M, H, W-1)
    dy = y[:, 1:, :-1] - y[:, :-1, :-1]  # (M, H-1, W-1)
    hh = dx[:, 1:, :] - dx[:, :-1, :]  # (M, H-1, W-1)
    dx = dx[:, :-1, :]
    grad = dx * dx
    grad += dy * dy
    hh *= hh
    return DetailEnergy(grad, hh)


def temporal_activity(signal, *, axis: int = -1) -> TemporalActivity:
    """Frame-to-frame change of signals sampled at consecutive frames.

    Parameters
    ----------
    signal : array (..., M, ...)
        Signals over time along ``axis`` (at least 3 samples); NaNs propagate.
    axis : int
        The time axis.

    Returns
    -------
    TemporalActivity
        ``d1``, ``d2`` (RMS per frame of the first and second difference) and
        ``hf_share`` (power above ``fps / 4`` over all non-DC power of the
        linearly detrended signal), each with ``axis`` removed. A constant
        signal gives exactly zero for all three.
    """
    xp = get_namespace(signal)
    s = xp.moveaxis(xp.asarray(signal, dtype=xp.float64), axis, -1)
    m = s.shape[-1]
    d1 = xp.diff(s, axis=-1)
    d2 = xp.diff(d1, axis=-1)
    rms1 = xp.sqrt(xp.mean(d1 * d1, axis=-1))
    rms2 = xp.sqrt(xp.mean(d2 * d2, axis=-1))
    p = xp.abs(xp.fft.rfft(detrend(s), axis=-1)) ** 2
    k = np.arange(p.shape[-1])
    high = xp.asarray((k > 0) & (k >= m / 4.0))  # frequency k / m cycles per frame >= 1/4
    tot = p[..., 1:].sum(axis=-1)
    hf = (p * high).sum(axis=-1)
    share = hf / xp.where(tot > 0, tot, 1.0)
    share = xp.where(xp.isnan(tot), xp.nan, share)
    return TemporalActivity(rms1, rms2, share)


def flicker_ratio(face, background, *, axis: int = -1, eps: float = 1e-6):
    """Frame-to-frame flicker of a face signal relative to the background.

    ``0.5 * log((mean (d2 face)^2 + eps) / (mean (d2 background)^2 + eps))``, where
    ``d2`` is the second temporal difference: zero when face and background
    flicker alike (a global exposure change on log signals) or not at all,
    positive when only the face flickers.

    Parameters
    ----------
    face, background : arrays (..., M, ...)
        The same signal (e.g. log mean luminance) over the face and the background.
    axis : int
        The time axis.
    eps : float
        Floor on the mean squared second difference (units of the signal squared).

    Returns
    -------
    array with ``axis`` removed: log RMS ratio (nepers)
    """
    xp = get_namespace(face, background)
    f = xp.diff(xp.asarray(face, dtype=xp.float64), n=2, axis=axis)
    b = xp.diff(xp.asarray(background, dtype=xp.float64), n=2, axis=axis)
    return 0.5 * xp.log((xp.mean(f * f, axis=axis) + eps) / (xp.mean(b * b, axis=axis) + eps))


def box_jitter(boxes) -> BoxJitter:
    """Jitter of a face-box trajectory over consecutive frames.

    Parameters
    ----------
    boxes : array (M, 4)
        ``(x0, y0, x1, y1)`` per frame, M >= 3.

    Returns
    -------
    BoxJitter
        Scalars: RMS second difference of the box centre divided by the mean box
        size (``sqrt(width * height)``), and RMS second difference of the log box
        size. A box moving or growing at constant speed gives zero.
    """
    xp = get_namespace(boxes)
    b = xp.asarray(boxes, dtype=xp.float64).reshape(-1, 4)
    centre = 0.5 * (b[:, :2] + b[:, 2:])
    size = xp.sqrt(xp.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-6))
    dc = xp.diff(centre, n=2, axis=0)
    ds = xp.diff(xp.log(size), n=2)
    pos = xp.sqrt(xp.mean((dc * dc).sum(axis=-1))) / xp.mean(size)
    return BoxJitter(pos, xp.sqrt(xp.mean(ds * ds)))


def landmark_jitter(landmarks, *, size: float) -> LandmarkJitter:
    """Jitter of facial landmarks normalised to the face crop.

    Face crops are centred on the detected face box and scaled to it, so
    landmarks in crop coordinates divided by the crop ``size`` measure their
    position relative to the head; their second temporal difference is the
    jitter of the landmarks against the head.

    Parameters
    ----------
    landmarks : array (T, K, 2)
        Landmark ``(x, y)`` per frame in crop pixels (NaN where missing).
    size : float
        Crop side in pixels.

    Returns
    -------
    LandmarkJitter
        Per-frame arrays (T,), NaN for the first and last frame and next to
        missing landmarks.
    """
    xp = get_namespace(landmarks)
    p = xp.asarray(landmarks, dtype=xp.float64) / float(size)
    t = p.shape[0]
    nan = xp.full((min(t, 1),), xp.nan)

    def _jitter(q):
        if t < 3:
            return xp.full((t,), xp.nan)
        d2 = q[2:] - 2 * q[1:-1] + q[:-2]  # (T-2, K, 2)
        inner = xp.sqrt((d2 * d2).sum(axis=-1)).mean(axis=-1)
        return xp.concatenate([nan, inner, nan])

    centred = p - p.mean(axis=1, keepdims=True)
    spread = xp.sqrt((centred * centred).sum(axis=-1).mean(axis=-1))[:, None, None]
    shape = centred / xp.where(spread > 0, spread, xp.nan)
    return LandmarkJitter(_jitter(p), _jitter(shape))
