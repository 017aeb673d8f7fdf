"""Higher-order statistics of wavelet subbands (NumPy or CuPy).

Natural images have wavelet coefficients with heavy-tailed, strongly
structured distributions: the magnitude of a coefficient is well predicted by
its spatial neighbours, its parent at the next coarser scale and its cousins
in the other orientations. Resampling, smoothing and synthesis change those
distributions and that predictability. Farid & Lyu summarise them by the
first four moments of the coefficients and of the log errors of a linear
magnitude predictor, per scale and orientation.

The decomposition is :func:`forensics.dwt.wavedec2` (periodization mode), one
code path for NumPy and CuPy that equals PyWavelets.

References
----------
H. Farid, S. Lyu, "Detecting Hidden Messages Using Higher-Order Statistics
and Support Vector Machines", Information Hiding 2002, LNCS 2578, 340-354.

S. Lyu, H. Farid, "How realistic is photorealistic?", IEEE Trans. Signal
Processing 53(2), 845-850 (2005).
"""
from __future__ import annotations

from typing import NamedTuple

from .backend import get_namespace
from .spectral import block_mean

__all__ = [
    "Moments",
    "WaveletStatistics",
    "ORIENTATIONS",
    "weighted_moments",
    "pool_weights",
    "detail_stack",
    "prediction_error",
    "wavelet_statistics",
]

#: orientation order of the stacked detail subbands (pywt's cH, cV, cD)
ORIENTATIONS = ("h", "v", "d")


class Moments(NamedTuple):
    """First four (weighted) moments along the reduced axes.

    Attributes
    ----------
    mean, var : arrays
    skewness : array, ``m3 / var**1.5``
    kurtosis : array, ``m4 / var**2`` (Pearson; 3 for a Gaussian)

    ``skewness`` and ``kurtosis`` are NaN where the variance is 0.
    """

    mean: object
    var: object
    skewness: object
    kurtosis: object


class WaveletStatistics(NamedTuple):
    """Result of :func:`wavelet_statistics`; each field is a :class:`Moments` of arrays
    shaped ``(..., n_levels, 3)``: scale (finest first) x orientation (:data:`ORIENTATIONS`).

    Attributes
    ----------
    coefficient : Moments of the detail coefficients
    error : Moments of the log2 magnitude prediction errors (see :func:`prediction_error`)
    """

    coefficient: Moments
    error: Moments


def weighted_moments(x, weights=None, *, axis=(-2, -1), var_floor: float = 0.0) -> Moments:
    """Weighted mean, variance, skewness and kurtosis of ``x`` over ``axis``.

    Parameters
    ----------
    x : array
    weights : array broadcastable to ``x``, optional (non-negative); uniform when ``None``
    axis : int or tuple of int
    var_floor : float
        Variances at or below it count as zero (no defined skewness or
        kurtosis), so that rounding noise is not read as a shape.

    Returns
    -------
    Moments
        NaN everywhere for an all-zero weight.
    """
    xp = get_namespace(x, weights)
    w = xp.ones_like(x) if weights is None else xp.broadcast_to(xp.asarray(weights, dtype=x.dtype), x.shape)
    wsum = w.sum(axis=axis, keepdims=True)
    wsum = xp.where(wsum > 0, wsum, xp.nan)
    mean = (w * x).sum(axis=axis, keepdims=True) / wsum
    d = x - mean
    d2 = d * d
    var = (w * d2).sum(axis=axis, keepdims=True) / wsum
    m3 = (w * d2 * d).sum(axis=axis, keepdims=True) / wsum
    m4 = (w * d2 * d2).sum(axis=axis, keepdims=True) / wsum
    ok = var > var_floor
    safe = xp.where(ok, var, 1.0)
    skew = xp.where(ok, m3 / safe**1.5, xp.nan)
    kurt = xp.where(ok, m4 / safe**2, xp.nan)
    sq = tuple(a if a >= 0 else x.ndim + a for a in ((axis,) if isinstance(axis, int) else axis))
    return Moments(*(xp.squeeze(m, axis=sq) for m in (mean, var, skew, kurt)))


def pool_weights(weights, level: int):
    """Block-mean a full-resolution weight map ``(..., H, W)`` down to the size of the level-``level``
    subbands ``(..., H / 2**level, W / 2**level)`` (each coefficient gets the share of its
    dyadic block inside the region)."""
    return block_mean(weights, 2**level)


def detail_stack(coeffs) -> list:
    """Detail subbands of a ``wavedec2`` list, finest level first, each stacked as ``(..., 3, h, w)``
    in :data:`ORIENTATIONS` order."""
    xp = get_namespace(coeffs[0])
    return [xp.stack(d, axis=-3) for d in coeffs[:0:-1]]


def _upsample2(a):
    """Nearest-neighbour 2x up-sampling of the last two axes (a parent over its four children)."""
    xp = get_namespace(a)
    h, w = a.shape[-2:]
    b = xp.broadcast_to(a[..., :, None, :, None], a.shape[:-2] + (h, 2, w, 2))
    return b.reshape(a.shape[:-2] + (2 * h, 2 * w))


def prediction_error(details, *, weights=None, eps: float = 0.5, ridge: float = 1e-6) -> list:
    """Log2 errors of the Farid-Lyu linear predictor of coefficient magnitudes.

    Each magnitude ``|c|`` of a level-``i`` subband is predicted, by weighted
    least squares fitted per image, subband and orientation, from seven
    magnitudes: its four spatial neighbours (periodic), its parent (same
    orientation, level ``i + 1``) and two cousins. For ``h`` and ``v`` the
    cousins are the diagonal coefficients at levels ``i`` and ``i + 1``; for
    ``d`` they are the ``h`` and ``v`` coefficients at level ``i``. The error is
    ``log2(max(|c|, eps)) - log2(max(|Q w|, eps))``.

    Parameters
    ----------
    details : list of arrays (..., 3, h_i, w_i)
        From :func:`detail_stack`, finest first; at least two levels.
    weights : list of arrays (..., h_i, w_i) or None
        Per-level weights of the fit (e.g. a region mask from :func:`pool_weights`).
    eps : float
        Magnitude floor in coefficient units (gray levels). The default, half
        the quantisation step of 8-bit video, keeps exact zeros finite and stops
        the log of coefficients lost in quantisation noise from dominating the
        error's tails.
    ridge : float
        Tikhonov term, relative to the mean diagonal of the normal equations.

    Returns
    -------
    list of arrays (..., 3, h_i, w_i), one per level except the coarsest.
    """
    xp = get_namespace(details[0])
    out = []
    for i in range(len(details) - 1):
        a = xp.abs(details[i])
        parent = _upsample2(xp.abs(details[i + 1]))
        cousin1 = xp.stack([a[..., 2, :, :], a[..., 2, :, :], a[..., 0, :, :]], axis=-3)
        cousin2 = xp.stack([parent[..., 2, :, :], parent[..., 2, :, :], a[..., 1, :, :]], axis=-3)
        q = xp.stack(
            [
                xp.roll(a, 1, axis=-1),
                xp.roll(a, -1, axis=-1),
                xp.roll(a, 1, axis=-2),
                xp.roll(a, -1, axis=-2),
                parent,
                cousin1,
                cousin2,
            ],
            axis=-3,
        )  # (..., 3, 7, h, w)
        q = q.reshape(q.shape[:-2] + (-1,))  # (..., 3, 7, n)
        v = a.reshape(a.shape[:-2] + (-1,))  # (..., 3, n)
        if weights is None:
            qw, vw = q, v
        else:
            wt = xp.asarray(weights[i], dtype=a.dtype).reshape(weights[i].shape[:-2] + (1, -1))  # (..., 1, n)
            qw, vw = q * wt[..., None, :], v * wt
        gram = q @ xp.swapaxes(qw, -1, -2)  # (..., 3, 7, 7)
        rhs = (q @ vw[..., None])  # (..., 3, 7, 1)
        lam = ridge * xp.trace(gram, axis1=-2, axis2=-1)[..., None, None] / 7 + xp.finfo(a.dtype).tiny
        coef = xp.linalg.solve(gram + lam * xp.eye(7, dtype=a.dtype), rhs)  # (..., 3, 7, 1)
        pred = xp.abs((xp.swapaxes(coef, -1, -2) @ q)[..., 0, :])  # (..., 3, n)
        err = xp.log2(xp.maximum(v, eps)) - xp.log2(xp.maximum(pred, eps))
        out.append(err.reshape(a.shape))
    return out


def wavelet_statistics(
    coeffs, *, weights=None, n_levels: int | None = None, eps: float = 0.5, var_floor: float = 1e-6
) -> WaveletStatistics:
    """Farid-Lyu higher-order wavelet statistics of a batch of decompositions.

    Parameters
    ----------
    coeffs : list
        ``forensics.dwt.wavedec2(images, wavelet, level=L)`` (coarsest first, pywt layout).
    weights : array (..., H, W), optional
        Full-resolution region weights (e.g. a face mask); moments and the
        predictor fit are weighted by their block means at each level.
    n_levels : int, optional
        Finest levels to describe; at most ``L - 1`` (the predictor needs a
        parent). Defaults to ``L - 1``.
    eps : float, see :func:`prediction_error`
    var_floor : float
        Variance (coefficient units squared) below which a subband counts as
        empty: its skewness and kurtosis are NaN.

    Returns
    -------
    WaveletStatistics
        Fields of shape ``(..., n_levels, 3)``. Detail coefficients of an
        orthogonal wavelet ignore a constant brightness offset, so all of them
        are offset-invariant; skewness, kurtosis and the error moments are
        also gain-invariant.
    """
    xp = get_namespace(coeffs[0])
    details = detail_stack(coeffs)
    n = len(details) - 1 if n_levels is None else int(n_levels)
    if not 1 <= n <= len(details) - 1:
        raise ValueError(f"n_levels must be in 1..{len(details) - 1} for a {len(details)}-level decomposition")
    details = details[: n + 1]
    pooled = None if weights is None else [pool_weights(xp.asarray(weights), i + 1) for i in range(n)]
    errors = prediction_error(details, weights=pooled, eps=eps)
    stats = []
    for src in (details[:n], errors):
        per_level = [
            weighted_moments(src[i], None if pooled is None else pooled[i][..., None, :, :], var_floor=var_floor)
            for i in range(n)
        ]
        stats.append(Moments(*(xp.stack([m[k] for m in per_level], axis=-2) for k in range(4))))
    return WaveletStatistics(*stats)
