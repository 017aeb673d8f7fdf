"""Batched 2-D discrete wavelet transform on NumPy or CuPy.

PyWavelets has no GPU path, so this module implements the separable
filter-bank DWT in periodization mode (``mode="periodization"`` in PyWavelets)
with plain array operations: circular convolution along one axis followed by
down-sampling by two. Results equal ``pywt.wavedec2(..., mode="periodization")``
to float precision (tested), for any leading batch shape.

Filter taps come from PyWavelets (``pywt.Wavelet(name).filter_bank``), which
is a CPU-only constant lookup.

References
----------
S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed., ch. 7 (2009).
"""
from __future__ import annotations

import functools

import numpy as np

from .backend import get_namespace

__all__ = ["wavedec2", "waverec2", "filter_bank"]


@functools.lru_cache(maxsize=16)
def filter_bank(wavelet: str):
    """Return ``(dec_lo, dec_hi, rec_lo, rec_hi)`` as float64 NumPy arrays."""
    import pywt

    dec_lo, dec_hi, rec_lo, rec_hi = pywt.Wavelet(wavelet).filter_bank
    return tuple(np.asarray(f, dtype=np.float64) for f in (dec_lo, dec_hi, rec_lo, rec_hi))


def _analysis(x, lo, hi, axis):
    """One periodized analysis step along ``axis``: returns (approx, detail)."""
    xp = get_namespace(x)
    n = x.shape[axis]
    L = lo.shape[0]
    x = xp.moveaxis(x, axis, -1)
    # pywt periodization: y[k] = sum_j f[j] * x[(2k + L/2 - j) mod n]. One periodic extension, then every
    # tap is a strided view (no gather per tap).
    reps = -(-(L + 1) // n)  # copies needed on each side for filters longer than the signal
    xpad = xp.concatenate([x] * (2 * reps + 1), axis=-1) if reps > 1 else xp.concatenate(
        [x[..., n - L :], x, x[..., :L]], axis=-1)
    off = reps * n if reps > 1 else L
    lo = lo.astype(x.dtype)
    hi = hi.astype(x.dtype)
    a = d = None
    for j in range(L):
        s = L // 2 - j + off
        xs = xpad[..., s : s + n : 2]
        if a is None:
            a, d = lo[j] * xs, hi[j] * xs
        else:
            a += lo[j] * xs
            d += hi[j] * xs
    return xp.moveaxis(a, -1, axis), xp.moveaxis(d, -1, axis)


def _synthesis(a, d, lo, hi, axis):
    """Inverse of :func:`_analysis` along ``axis``."""
    xp = get_namespace(a)
    a = xp.moveaxis(a, axis, -1)
    d = xp.moveaxis(d, axis, -1)
    m = a.shape[-1]
    n = 2 * m
    L = lo.shape[0]
    out = xp.zeros(a.shape[:-1] + (n,), dtype=a.dtype)
    k = np.arange(m)
    for j in range(L):
        # adjoint of the analysis step: x[(2k + L/2 - j) mod n] += f[j] * coeff[k]
        idx = xp.asarray((2 * k + L // 2 - j) % n)
        contrib = lo[j] * a + hi[j] * d
        out[..., idx] += contrib
    return xp.moveaxis(out, -1, axis)


def wavedec2(x, wavelet: str = "db8", *, level: int = 4, engine: str = "auto"):
    """Multi-level 2-D DWT over the last two axes, periodization mode.

    Parameters
    ----------
    x : ndarray, shape (..., H, W)
        Real input; H and W must be divisible by ``2**level``.
    wavelet : str
        PyWavelets name of an orthogonal wavelet (``db4``, ``db8``, ``haar``...).
    level : int
        Number of decomposition levels.
    engine : ``auto``, ``pywt`` or ``filterbank``
        ``auto`` uses PyWavelets' C loops for NumPy input (faster on the CPU
        than the array filter bank) and the array filter bank for CuPy; both give the same numbers
        (tested), so ``filterbank`` on NumPy is how the GPU path is checked.

    Returns
    -------
    list
        ``[cA_n, (cH_n, cV_n, cD_n), ..., (cH_1, cV_1, cD_1)]`` as in
        ``pywt.wavedec2``: coarsest first.
    """
    xp = get_namespace(x)
    h, w = x.shape[-2:]
    if h % (2**level) or w % (2**level):
        raise ValueError(f"shape {(h, w)} is not divisible by 2**level = {2**level}")
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    x = xp.asarray(x, dtype=dtype)
    if engine not in ("auto", "pywt", "filterbank"):
        raise ValueError(f"engine must be auto, pywt or filterbank, not {engine!r}")
    if xp is np and engine != "filterbank":  # same transform, PyWavelets' C loops
        import warnings

        import pywt

        with warnings.catch_warnings():  # "level too high: boundary effects" - periodization is exact
            warnings.simplefilter("ignore", UserWarning)
            return pywt.wavedec2(x, wavelet, mode="periodization", level=level, axes=(-2, -1))
    dec_lo, dec_hi, _, _ = filter_bank(wavelet)
    details = []
    a = x
    for _ in range(level):
        lo_r, hi_r = _analysis(a, dec_lo, dec_hi, axis=-1)  # along rows (width)
        ll, lh = _analysis(lo_r, dec_lo, dec_hi, axis=-2)
        hl, hh = _analysis(hi_r, dec_lo, dec_hi, axis=-2)
        # pywt naming: cH = detail along columns of the low-pass rows, cV = the reverse
        details.append((lh, hl, hh))
        a = ll
    return [a] + details[::-1]


def waverec2(coeffs, wavelet: str = "db8", *, engine: str = "auto"):
    """Inverse of :func:`wavedec2` (periodization mode); ``engine`` as there."""
    # Synthesis is the adjoint of analysis; for an orthogonal wavelet the
    # adjoint is the inverse.
    if get_namespace(coeffs[0]) is np and engine != "filterbank":
        import pywt

        return pywt.waverec2(coeffs, wavelet, mode="periodization", axes=(-2, -1))
    dec_lo, dec_hi, _, _ = filter_bank(wavelet)
    a = coeffs[0]
    for lh, hl, hh in coeffs[1:]:
        lo_r = _synthesis(a, lh, dec_lo, dec_hi, axis=-2)
        hi_r = _synthesis(hl, hh, dec_lo, dec_hi, axis=-2)
        a = _synthesis(lo_r, hi_r, dec_lo, dec_hi, axis=-1)
    return a
