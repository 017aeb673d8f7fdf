"""Colour conversions and chroma statistics shared by every family (NumPy or CuPy)."""
from __future__ import annotations

from typing import NamedTuple

from .backend import get_namespace

__all__ = ["LUMA_WEIGHTS", "luma", "ChromaMoments", "chroma_moments"]

#: ITU-R BT.601 luma weights for (R, G, B)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luma(rgb):
    """BT.601 luma of ``rgb`` (..., 3) on its own backend.

    Floating input keeps its precision; integer input (uint8 frames) becomes float32.
    """
    xp = get_namespace(rgb)
    rgb = xp.asarray(rgb)
    dt = rgb.dtype if rgb.dtype in (xp.float32, xp.float64) else xp.float32
    return rgb.astype(dt, copy=False) @ xp.asarray(LUMA_WEIGHTS, dtype=dt)


class ChromaMoments(NamedTuple):
    """Weighted moments of the chroma of a set of pixels per frame.

    Attributes
    ----------
    n : float64 (T,), the weights' sum (pixels when the weights are 0/1)
    mean, std, skew, kurt : float64 (T, 2), for Cr and Cb: mean, standard deviation, skewness and excess
        kurtosis (0 for a normal distribution)
    luma_corr : float64 (T, 2), the correlation of Cr and of Cb with luma: how the chroma follows the shading
    """

    n: object
    mean: object
    std: object
    skew: object
    kurt: object
    luma_corr: object


def chroma_moments(ycrcb, weights, *, min_weight: float = 64.0, min_var: float = 1e-6) -> ChromaMoments:
    """Weighted mean, spread, skewness, kurtosis and luma correlation of Cr and Cb per frame.

    A per-channel affine colour transfer (Reinhard et al. 2001, the RCT of DeepFaceLab) sets a face's chroma
    mean and spread to those of its target but leaves the shape of each channel's distribution (skewness,
    kurtosis) and its correlation with luma as the source face had them; these are the moments that can
    disagree with the neck of the same frame.

    Parameters
    ----------
    ycrcb : array (T, ..., 3), Y, Cr, Cb (:func:`forensics.blending.rgb_to_ycrcb`), NumPy or CuPy
    weights : array (T, ...), non-negative pixel weights, the same shape without the channel axis
    min_weight : frames whose weights sum to less get NaN
    min_var : a channel whose variance is below this (levels squared) is flat: its shape moments are NaN

    Returns
    -------
    ChromaMoments, over every axis but the first
    """
    xp = get_namespace(ycrcb)
    t = ycrcb.shape[0]
    x = xp.asarray(ycrcb, dtype=xp.float64).reshape(t, -1, 3)
    w = xp.asarray(weights, dtype=xp.float64).reshape(t, -1, 1)
    n = w.sum(axis=(1, 2))
    ok = n >= min_weight
    safe = xp.where(ok, n, 1.0)[:, None]
    mu = (w * x).sum(axis=1) / safe
    d = x - mu[:, None, :]
    wd = w * d
    m2 = (wd * d).sum(axis=1) / safe
    m3 = (wd * d * d).sum(axis=1)[:, 1:] / safe
    m4 = (wd * d * d * d).sum(axis=1)[:, 1:] / safe
    cov = (wd[..., :1] * d[..., 1:]).sum(axis=1) / safe
    flat = m2 < min_var
    v = xp.where(flat, 1.0, m2)
    nan = xp.float64(xp.nan)
    skew = xp.where(flat[:, 1:], nan, m3 / v[:, 1:] ** 1.5)
    kurt = xp.where(flat[:, 1:], nan, m4 / v[:, 1:] ** 2 - 3.0)
    corr = xp.where(flat[:, 1:] | flat[:, :1], nan, cov / xp.sqrt(v[:, :1] * v[:, 1:]))
    keep = ok[:, None]
    return ChromaMoments(n, xp.where(keep, mu[:, 1:], nan), xp.where(keep, xp.sqrt(m2[:, 1:]), nan),
                         xp.where(keep, skew, nan), xp.where(keep, kurt, nan), xp.where(keep, corr, nan))
