"""Fourier- and DCT-domain analysis of image batches (NumPy or CuPy).

Every function takes a batch of gray images ``(..., H, W)`` and works out the
array module from it, so the same code runs on NumPy and CuPy.

References
----------
R. Durall, M. Keuper, F.-J. Pfreundt, J. Keuper, "Unmasking DeepFakes with
simple Features", arXiv:1911.00686 (2019): azimuthal average of the log power
spectrum as a 1-D descriptor.

J. Frank, T. Eisenhofer, L. Schönherr, A. Fischer, D. Kolossa, T. Holz,
"Leveraging Frequency Analysis for Deep Fake Image Recognition", ICML 2020:
generator up-sampling leaves its mark in the DCT spectrum.

X. Zhang, S. Karaman, S.-F. Chang, "Detecting and Simulating Artifacts in GAN
Fake Images", WIFS 2019: up-sampling replicates the spectrum and puts periodic
peaks in it.

P. D. Welch, "The use of fast Fourier transform for the estimation of power
spectra", IEEE Trans. Audio Electroacoust. 15(2), 1967: tapered, averaged
periodograms.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .backend import get_namespace, ndimage_for

__all__ = [
    "AzimuthalSpectrum",
    "RadialPower",
    "PeakProminence",
    "DCTBandStatistics",
    "hann2d",
    "radial_bin_index",
    "periodogram",
    "radial_bins",
    "radial_average",
    "radial_power",
    "azimuthal_spectrum",
    "high_frequency_share",
    "peak_prominence",
    "block_mean",
    "dct_matrix",
    "block_dct",
    "dct_band_statistics",
]


class AzimuthalSpectrum(NamedTuple):
    """Result of :func:`azimuthal_spectrum`.

    Attributes
    ----------
    spectrum : (..., n_bins) mean log10 power per radial bin, DC bin excluded
    radius : (n_bins,) bin centres as a fraction of the Nyquist radius
    """

    spectrum: object
    radius: np.ndarray


class RadialPower(NamedTuple):
    """Result of :func:`radial_power`.

    Attributes
    ----------
    power : (..., n_bins) mean periodogram power per radial bin (linear, NaN for an empty bin)
    radius : (n_bins,) bin centres as a fraction of the Nyquist radius
    counts : (n_bins,) number of (two-sided) frequencies in each bin
    """

    power: object
    radius: np.ndarray
    counts: np.ndarray


class PeakProminence(NamedTuple):
    """Result of :func:`peak_prominence`.

    Attributes
    ----------
    prominence : (...,) largest excess of log10 power over its local mean (decades)
    radius : (...,) radius of that peak as a fraction of the Nyquist radius
    """

    prominence: object
    radius: object


class DCTBandStatistics(NamedTuple):
    """Result of :func:`dct_band_statistics`, one value per band in each field.

    Attributes
    ----------
    log_energy : (..., n_bands) log10 of the mean squared coefficient in the band
    log_kurtosis : (..., n_bands) band mean of log10 E[c^4] / E[c^2]^2 over its frequencies
        (a Gaussian gives log10 3 = 0.48, a Laplacian log10 6 = 0.78)
    zero_fraction : (..., n_bands) share of coefficients with ``|c| < zero_threshold``
    """

    log_energy: object
    log_kurtosis: object
    zero_fraction: object


def _as_float(xp, a):
    a = xp.asarray(a)
    return a.astype(xp.float64 if a.dtype == xp.float64 else xp.float32, copy=False)


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


@functools.lru_cache(maxsize=16)
def _radial_matrix_np(shape: tuple[int, int], n_bins: int, onesided: bool):
    """Averaging matrix ``(n_freq, n_bins)`` so that ``power.reshape(..., -1) @ M`` is the
    mean power per radial bin over the *two-sided* spectrum, and the bin counts.

    For a one-sided (``rfft2``) spectrum each column other than DC and Nyquist
    stands for itself and its conjugate mirror, which lies in the same radial
    bin, so it counts twice.
    """
    h, w = shape
    idx = np.fft.ifftshift(radial_bin_index(shape, n_bins))  # unshifted layout, as fft2 returns
    mult = np.ones(idx.shape)
    if onesided:
        idx = idx[:, : w // 2 + 1]
        k = np.arange(w // 2 + 1)
        mult = np.broadcast_to(np.where((k == 0) | (2 * k == w), 1.0, 2.0), idx.shape)
    valid = idx >= 0
    counts = np.bincount(idx[valid], weights=mult[valid], minlength=n_bins)
    m = np.zeros((idx.size, n_bins))
    rows = np.flatnonzero(valid)
    m[rows, idx[valid]] = mult[valid] / counts[idx[valid]]
    return m, counts


@functools.lru_cache(maxsize=32)
def _radial_matrix(shape, n_bins, onesided, xp, dtype):
    m, counts = _radial_matrix_np(shape, n_bins, onesided)
    empty = np.where(counts > 0, 1.0, np.nan)  # NaN marks a bin with no frequency in it
    return xp.asarray(m, dtype=dtype), xp.asarray(empty, dtype=dtype), counts


def periodogram(images, *, weights=None, onesided: bool = True, normalize: bool = True):
    """Tapered periodogram of a batch of gray images.

    Parameters
    ----------
    images : array (..., H, W)
        Gray images. The taper-weighted mean of each image is removed first,
        so a constant brightness offset does not change the result and the
        tapered image has no DC component.
    weights : array broadcastable to (..., H, W), optional
        Data taper; ``None`` gives a 2-D Hann window. Pass ``hann2d(...) * mask``
        for the spectrum of a masked region (a masked, windowed patch).
    onesided : bool
        ``True``: the ``rfft2`` half plane ``(..., H, W // 2 + 1)``;
        ``False``: the full ``fft2`` plane ``(..., H, W)``. Both unshifted (DC at ``[0, 0]``).
    normalize : bool
        Divide by the taper energy ``sum(weights**2)`` so that white noise of
        variance ``s**2`` has an expected power of ``s**2`` at every frequency
        whatever the taper (Welch 1967). An all-zero taper gives NaN.

    Returns
    -------
    array (..., H, W // 2 + 1) or (..., H, W), real
    """
    xp = get_namespace(images, weights)
    x = _as_float(xp, images)
    h, w = x.shape[-2:]
    taper = hann2d((h, w), xp, x.dtype) if weights is None else xp.asarray(weights, dtype=x.dtype)
    wsum = taper.sum(axis=(-2, -1), keepdims=True)
    wsum = xp.where(wsum > 0, wsum, xp.nan)
    y = (x - (taper * x).sum(axis=(-2, -1), keepdims=True) / wsum) * taper
    f = xp.fft.rfft2(y) if onesided else xp.fft.fft2(y)
    p = (f.real**2 + f.imag**2).astype(x.dtype, copy=False)
    if normalize:
        energy = xp.broadcast_to((taper**2).sum(axis=(-2, -1)), x.shape[:-2])
        p = p / xp.where(energy > 0, energy, xp.nan)[..., None, None]
    return p


def radial_average(power, *, shape: tuple[int, int], n_bins: int = 64):
    """Mean of a power spectrum over radial bins, as one matrix product for the whole batch.

    Parameters
    ----------
    power : array (..., H, W // 2 + 1) or (..., H, W)
        One-sided or full unshifted spectrum (as :func:`periodogram` returns).
    shape : (H, W)
        Image shape (tells one-sided from full).
    n_bins : int
        Radial bins between DC (excluded) and the Nyquist radius (frequencies
        beyond it, in the corners, are excluded).

    Returns
    -------
    array (..., n_bins): mean power per bin over the two-sided spectrum; NaN for an empty bin.
    """
    xp = get_namespace(power)
    h, w = shape
    onesided = power.shape[-1] != w
    m, empty, _ = _radial_matrix((int(h), int(w)), int(n_bins), onesided, xp, power.dtype)
    lead = power.shape[:-2]
    flat = power.reshape((-1, power.shape[-2] * power.shape[-1]))
    return (flat @ m).reshape(lead + (n_bins,)) * empty


def radial_bins(shape: tuple[int, int], *, n_bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(radius, counts)`` of the radial bins of :func:`radial_average` for images of ``shape``:
    bin centres as a fraction of Nyquist and the number of (two-sided) frequencies in each."""
    counts = _radial_matrix_np((int(shape[0]), int(shape[1])), int(n_bins), False)[1]
    return (np.arange(n_bins) + 0.5) / n_bins, counts


def radial_power(images, *, weights=None, n_bins: int = 64, normalize: bool = True) -> RadialPower:
    """Radially averaged power spectrum of a batch of gray images (linear power).

    The tapered periodogram (:func:`periodogram`) averaged over ``n_bins``
    annuli between DC and the Nyquist radius. Binning a radius normalised to
    Nyquist resamples the spectrum of any image size to the same fixed number
    of bins (Durall et al. 2019).

    Parameters
    ----------
    images : array (..., H, W)
    weights : array broadcastable to (..., H, W), optional; the taper (Hann when ``None``)
    n_bins : int
    normalize : bool, see :func:`periodogram`

    Returns
    -------
    RadialPower
    """
    h, w = images.shape[-2:]
    p = periodogram(images, weights=weights, onesided=True, normalize=normalize)
    power = radial_average(p, shape=(h, w), n_bins=n_bins)
    return RadialPower(power, *radial_bins((h, w), n_bins=n_bins))


def azimuthal_spectrum(images, *, n_bins: int = 64, window: bool = True, eps: float = 1e-8) -> AzimuthalSpectrum:
    """Azimuthally averaged log power spectrum of a batch of gray images (Durall et al. 2019).

    Parameters
    ----------
    images : array (..., H, W)
        Gray images (any real dtype); the (window-weighted) mean of each image
        is removed first, so a constant brightness offset does not change the result.
    n_bins : int
        Number of radial bins between DC (excluded) and the Nyquist radius.
    window : bool
        Apply a 2-D Hann window before the FFT to suppress the cross-shaped
        leakage of image borders.

    Returns
    -------
    AzimuthalSpectrum
        ``spectrum`` of shape ``(..., n_bins)``, log10 of mean power per bin
        (power of the windowed image, not divided by the window energy).
    """
    xp = get_namespace(images)
    h, w = images.shape[-2:]
    taper = None if window else xp.ones((h, w))  # cast to the images' float type by periodogram
    rp = radial_power(images, weights=taper, n_bins=n_bins, normalize=False)
    return AzimuthalSpectrum(xp.log10(rp.power + eps), rp.radius)


def high_frequency_share(power, *, counts, radius, cutoff: float = 0.5):
    """log10 of the share of spectral energy at radii at or above ``cutoff`` x Nyquist.

    Parameters
    ----------
    power : array (..., n_bins), mean power per radial bin (``RadialPower.power``)
    counts : (n_bins,) frequencies per bin (``RadialPower.counts``)
    radius : (n_bins,) bin centres (``RadialPower.radius``)
    cutoff : float in (0, 1)

    Returns
    -------
    array (...,): ``log10(E[r >= cutoff] / E[all])``; 0 means all energy is high-frequency.
    Invariant to gain and offset of the image; up-sampling or blurring lowers it.
    """
    xp = get_namespace(power)
    n = len(radius)
    lower_edge = np.arange(n) / n
    energy = xp.nan_to_num(power) * xp.asarray(counts, dtype=power.dtype)
    high = energy[..., xp.asarray(np.flatnonzero(lower_edge >= cutoff - 1e-9))].sum(axis=-1)
    total = energy.sum(axis=-1)
    return xp.log10(xp.where(high > 0, high, xp.nan) / xp.where(total > 0, total, xp.nan))


@functools.lru_cache(maxsize=16)
def _radius_full_np(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    fy = np.fft.fftfreq(h) * 2
    fx = np.fft.fftfreq(w) * 2
    return np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def peak_prominence(power, *, min_radius: float = 0.15, size: int = 5, eps: float = 1e-12) -> PeakProminence:
    """Most prominent isolated peak of a full 2-D power spectrum (periodic artefacts).

    Up-sampling and transposed convolutions repeat a pattern with a fixed
    period, which concentrates energy at isolated frequencies (Zhang et al.
    2019; Frank et al. 2020). The log power at each frequency is compared with
    its local mean over a ``size x size`` neighbourhood (periodic, as the
    spectrum is); the largest excess over radii ``[min_radius, 1]`` is returned.

    Parameters
    ----------
    power : array (..., H, W)
        Full, unshifted power spectrum (``periodogram(..., onesided=False)``),
        ideally averaged over patches or frames to lower its variance.
    min_radius : float
        Ignore radii below this fraction of Nyquist, where the spectrum's steep
        1/f fall-off dominates local contrast.
    size : int
        Side of the local-mean neighbourhood.

    Returns
    -------
    PeakProminence
        ``prominence`` in decades of power (for a smooth spectrum it is the
        extreme of the periodogram's own scatter, which shrinks as spectra are
        averaged over patches or frames) and the peak's radius.
    """
    xp = get_namespace(power)
    ndi = ndimage_for(xp)
    h, w = power.shape[-2:]
    logp = xp.log10(power + eps)
    lead = logp.shape[:-2]
    flat = logp.reshape((-1, h, w))
    local = ndi.uniform_filter(flat, size=(1, size, size), mode="wrap").reshape(logp.shape)
    r = _radius_full_np((h, w))
    valid = xp.asarray((r >= min_radius) & (r <= 1.0))
    excess = xp.where(valid, logp - local, -xp.inf).reshape(lead + (h * w,))
    arg = xp.argmax(excess, axis=-1)
    prominence = xp.take_along_axis(excess, arg[..., None], axis=-1)[..., 0]
    return PeakProminence(prominence, xp.asarray(r.ravel(), dtype=power.dtype)[arg])


def block_mean(a, factor: int):
    """Mean over non-overlapping ``factor x factor`` blocks of the last two axes
    (trailing rows and columns short of a whole block are dropped)."""
    h, w = a.shape[-2] // factor, a.shape[-1] // factor
    a = a[..., : h * factor, : w * factor]
    # sums of strided views: much faster than a reduction over short reshaped axes
    rows = sum(a[..., i::factor, :] for i in range(factor))
    return sum(rows[..., j::factor] for j in range(factor)) / factor**2


@functools.lru_cache(maxsize=8)
def dct_matrix(n: int = 8) -> np.ndarray:
    """Orthonormal DCT-II matrix ``D`` (``D @ x`` is the DCT of a length-``n`` vector)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    d[0] /= np.sqrt(2.0)
    return d


def block_dct(images, *, block: int = 8):
    """Orthonormal 2-D DCT-II of non-overlapping ``block x block`` tiles (JPEG/MPEG layout).

    Parameters
    ----------
    images : array (..., H, W); rows and columns beyond a whole number of blocks are dropped
    block : int

    Returns
    -------
    array (..., H // block, W // block, block, block)
        Coefficient ``[..., i, j, u, v]`` of tile ``(i, j)``: ``u`` vertical and
        ``v`` horizontal frequency; ``[..., 0, 0]`` is the DC term (block mean x block).
    """
    xp = get_namespace(images)
    x = _as_float(xp, images)
    h, w = x.shape[-2:]
    nby, nbx = h // block, w // block
    x = x[..., : nby * block, : nbx * block]
    tiles = x.reshape(x.shape[:-2] + (nby, block, nbx, block))
    tiles = xp.swapaxes(tiles, -3, -2)  # (..., nby, nbx, block, block)
    d = xp.asarray(dct_matrix(block), dtype=x.dtype)
    return d @ tiles @ d.T


#: mean squared DCT coefficient (gray levels squared) below which a band counts as empty
_ENERGY_FLOOR = 1e-10


@functools.lru_cache(maxsize=16)
def _band_matrix_np(block: int, bands: tuple) -> np.ndarray:
    """(block*block, n_bands) averaging matrix over frequencies with ``lo <= u + v <= hi``."""
    u, v = np.meshgrid(np.arange(block), np.arange(block), indexing="ij")
    s = (u + v).ravel()
    m = np.stack([((s >= lo) & (s <= hi)).astype(np.float64) for lo, hi in bands], axis=1)
    if (m.sum(axis=0) == 0).any():
        raise ValueError(f"empty DCT band in {bands} for block {block}")
    return m / m.sum(axis=0)


def dct_band_statistics(
    coeffs, *, weights=None, bands=((1, 3), (4, 7), (8, 14)), zero_threshold: float = 0.5
) -> DCTBandStatistics:
    """Statistics of block-DCT coefficients in zig-zag frequency bands (Frank et al. 2020).

    Parameters
    ----------
    coeffs : array (..., nby, nbx, b, b), from :func:`block_dct`
    weights : array (..., nby, nbx), optional
        Weight of each block, e.g. the share of it inside a region mask,
        ``block_mean(mask, b)``; all ones when ``None``.
    bands : tuple of (lo, hi)
        Bands of AC frequencies with ``lo <= u + v <= hi``; the DC term (0) should be left out,
        which makes every statistic invariant to a brightness offset.
    zero_threshold : float
        Coefficients below this magnitude count as zeros (quantised away or smoothed).

    Returns
    -------
    DCTBandStatistics
        NaN where the weights sum to zero.
    """
    xp = get_namespace(coeffs, weights)
    b = coeffs.shape[-1]
    c = coeffs.reshape(coeffs.shape[:-2] + (b * b,))
    wts = xp.ones(c.shape[:-1], dtype=c.dtype) if weights is None else xp.asarray(weights, dtype=c.dtype)
    wsum = wts.sum(axis=(-2, -1))
    wsum = xp.where(wsum > 0, wsum, xp.nan)[..., None]

    def wmean(a):  # weighted mean over blocks -> (..., b*b)
        return xp.einsum("...ij,...ijk->...k", wts, a) / wsum

    c2 = c * c
    m2 = wmean(c2)
    m4 = wmean(c2 * c2)
    zero = wmean((xp.abs(c) < zero_threshold).astype(c.dtype))
    band = xp.asarray(_band_matrix_np(b, tuple(tuple(t) for t in bands)), dtype=c.dtype)
    live = m2 > _ENERGY_FLOOR  # a frequency with no energy has no defined kurtosis
    log_kurt = xp.where(live, xp.log10(xp.where(live, m4, 1.0)) - 2 * xp.log10(xp.where(live, m2, 1.0)), xp.nan)
    return DCTBandStatistics(
        log_energy=xp.log10(xp.maximum(m2 @ band, _ENERGY_FLOOR)),
        log_kurtosis=log_kurt @ band,
        zero_fraction=zero @ band,
    )
