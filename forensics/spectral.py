"""Fourier-spectrum analysis of image batches (NumPy or CuPy).

References
----------
R. Durall, M. Keuper, F.-J. Pfreundt, J. Keuper, "Unmasking DeepFakes with
simple Features", arXiv:1911.00686 (2019): azimuthal average of the log power
spectrum as a 1-D descriptor.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .backend import get_namespace

__all__ = ["AzimuthalSpectrum", "hann2d", "radial_bin_index", "azimuthal_spectrum"]


class AzimuthalSpectrum(NamedTuple):
    """Result of :func:`azimuthal_spectrum`.

    Attributes
    ----------
    spectrum : (..., n_bins) mean log10 power per radial bin, DC bin excluded
    radius : (n_bins,) bin centres as a fraction of the Nyquist radius
    """

    spectrum: object
    radius: np.ndarray


@functools.lru_cache(maxsize=8)
def _hann2d_np(h: int, w: int) -> np.ndarray:
    return np.outer(np.hanning(h), np.hanning(w)).astype(np.float64)


def hann2d(shape: tuple[int, int], xp=np, dtype=np.float32):
    """Separable 2-D Hann window of ``shape``."""
    return xp.asarray(_hann2d_np(*shape), dtype=dtype)


@functools.lru_cache(maxsize=8)
def radial_bin_index(shape: tuple[int, int], n_bins: int) -> np.ndarray:
    """Radial bin (0..n_bins-1, or -1 outside the Nyquist circle / at DC) of each
    ``fftshift``-ed frequency, radius normalised so that Nyquist = 1."""
    h, w = shape
    fy = (np.arange(h) - h // 2) / (h / 2)
    fx = (np.arange(w) - w // 2) / (w / 2)
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    idx = np.floor(r * n_bins).astype(np.int64)
    idx[(r > 1.0) | (r == 0)] = -1
    idx[idx >= n_bins] = n_bins - 1
    return idx


def azimuthal_spectrum(images, *, n_bins: int = 64, window: bool = True, eps: float = 1e-8) -> AzimuthalSpectrum:
    """Azimuthally averaged log power spectrum of a batch of gray images.

    Parameters
    ----------
    images : array (..., H, W)
        Gray images (any real dtype); the mean of each image is removed first, so
        a constant brightness offset does not change the result.
    n_bins : int
        Number of radial bins between DC (excluded) and the Nyquist radius.
    window : bool
        Apply a 2-D Hann window before the FFT to suppress the cross-shaped
        leakage of image borders.

    Returns
    -------
    AzimuthalSpectrum
        ``spectrum`` of shape ``(..., n_bins)``, log10 of mean power per bin.
    """
    xp = get_namespace(images)
    x = xp.asarray(images)
    x = x.astype(xp.float64 if x.dtype == xp.float64 else xp.float32)
    h, w = x.shape[-2:]
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    if window:
        x = x * hann2d((h, w), xp, x.dtype)
    p = xp.abs(xp.fft.fftshift(xp.fft.fft2(x), axes=(-2, -1))) ** 2
    idx_np = radial_bin_index((h, w), n_bins)
    valid = idx_np >= 0
    idx = xp.asarray(idx_np[valid])
    flat = p.reshape(p.shape[:-2] + (-1,))[..., xp.asarray(np.flatnonzero(valid))]
    counts = np.bincount(idx_np[valid], minlength=n_bins).astype(np.float64)
    lead = flat.shape[:-1]
    flat2 = flat.reshape(-1, flat.shape[-1])
    sums = xp.zeros((flat2.shape[0], n_bins), dtype=xp.float64)
    for b in range(flat2.shape[0]):
        sums[b] = xp.bincount(idx, weights=flat2[b].astype(xp.float64), minlength=n_bins)
    mean = sums / xp.asarray(np.maximum(counts, 1))
    spec = xp.log10(mean + eps).astype(x.dtype).reshape(lead + (n_bins,))
    radius = (np.arange(n_bins) + 0.5) / n_bins
    return AzimuthalSpectrum(spec, radius)
