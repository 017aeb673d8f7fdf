"""Photo-response non-uniformity (PRNU) forensics on batches of frames (NumPy or CuPy).

A camera sensor multiplies the light it records by ``1 + K`` where ``K`` is a
fixed, pixel-wise, noise-like pattern (the PRNU). Every frame ``I`` therefore
carries ``I K`` in its noise residual ``W = I - F(I)`` (``F`` a denoiser), and
a fingerprint ``K`` is estimated from several frames by maximum likelihood.
A region pasted in from another source (a generated or swapped face) carries
another pattern or none.

Every function takes a batch of images ``(..., H, W)`` (``H`` and ``W``
divisible by ``2**levels`` for the wavelet steps), derives ``xp`` from its
input and runs unchanged on NumPy and CuPy; nothing here loops over pixels or
frames.

The pipeline of :func:`noise_residual` follows the reference implementation of
Lukas, Fridrich & Goljan and its Python port by Bonettini et al. (Politecnico
di Milano, ``prnu-python``):

1. wavelet denoising (Mihcak et al. 1999): ``levels``-level ``db8`` DWT;
   every detail coefficient is shrunk by a local Wiener filter whose signal
   variance is the minimum over 3, 5, 7 and 9 pixel windows; the residual keeps
   what the denoiser removes, ``c sigma^2 / (var + sigma^2)``, and the
   approximation band is dropped (:func:`wavelet_noise`);
2. zero-mean row and column removal on the four 2x2 colour-filter-array
   sub-lattices (:func:`zero_mean`), which removes linear patterns shared by
   every camera of a model;
3. Wiener filtering in the DFT domain (:func:`wiener_dft`), which flattens
   spectral peaks (periodic JPEG/codec block grids, demosaicing) and keeps the
   white, PRNU-like part.

References
----------
J. Lukas, J. Fridrich, M. Goljan, "Digital camera identification from sensor
pattern noise", IEEE TIFS 1(2):205-214 (2006).
M. K. Mihcak, I. Kozintsev, K. Ramchandran, "Spatially adaptive statistical
modeling of wavelet image coefficients and its application to denoising",
ICASSP 1999.
M. Chen, J. Fridrich, M. Goljan, J. Lukas, "Determining image origin and
integrity using sensor noise", IEEE TIFS 3(1):74-90 (2008) -- maximum
likelihood fingerprint and PCE.
M. Goljan, J. Fridrich, T. Filler, "Large scale test of sensor fingerprint
camera identification", Proc. SPIE 7254 (2009) -- PCE.
M. Koopman, A. Macarulla Rodriguez, Z. Geradts, "Detection of deepfake video
manipulation", Proc. IMVIP 2018 -- group fingerprints of face regions.
J. Fridrich, J. Kodovsky, "Rich models for steganalysis of digital images",
IEEE TIFS 7(3):868-882 (2012) -- SRM residuals and co-occurrences.
N. Bonettini, L. Bondi, P. Bestagini, S. Tubaro, ``prnu-python``,
github.com/polimi-ispl/prnu-python (2019).
"""
from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import numpy as np

from .backend import get_namespace, ndimage_for, to_numpy
from .dwt import wavedec2, waverec2

__all__ = [
    "local_ncc",
    "wiener_shrink",
    "wavelet_noise",
    "zero_mean",
    "wiener_dft",
    "noise_residual",
    "Fingerprint",
    "fingerprint",
    "ncc",
    "pce",
    "GroupConsistency",
    "group_consistency",
    "GlobalMotion",
    "global_motion",
    "static_frames",
    "MaskedMoments",
    "masked_moments",
    "SRM_RESIDUALS",
    "srm_residuals",
    "cooccurrence",
    "entropy",
    "js_divergence",
    "Window",
    "face_window",
]

#: local-variance windows of the wavelet Wiener filter (Mihcak et al. 1999)
WIENER_WINDOWS = (3, 5, 7, 9)


def _float(a, xp):
    a = xp.asarray(a)
    return a if a.dtype in (xp.float32, xp.float64) else a.astype(xp.float64)


# --------------------------------------------------------------------------- residuals


def wiener_shrink(x, noise_var, *, windows=WIENER_WINDOWS, mode: str = "reflect"):
    """Noise part of ``x`` under a locally adaptive Wiener filter (Mihcak et al. 1999).

    The local signal variance is ``max(0, mean_w(x^2) - noise_var)`` over square
    windows of each size in ``windows``, minimised over the sizes; the result is
    ``x * noise_var / (var + noise_var)``, i.e. ``x`` minus its Wiener estimate.

    Parameters
    ----------
    x : array (..., H, W)
        Coefficients (a wavelet subband, a DFT magnitude); filtered over the last two axes.
    noise_var : float or array broadcastable to ``x.shape[:-2] + (1, 1)``
        Variance of the white noise to keep.
    windows : sequence of int
        Window sides.
    mode : str
        Border mode of ``uniform_filter`` (``reflect`` here; ``wrap`` for periodic spectra).

    Returns
    -------
    array like ``x``
    """
    xp = get_namespace(x)
    ndi = ndimage_for(xp)
    energy = x * x
    size_prefix = (1,) * (x.ndim - 2)
    var = None
    for w in windows:
        v = ndi.uniform_filter(energy, size=size_prefix + (w, w), mode=mode)
        var = v if var is None else xp.minimum(var, v)
    var = xp.maximum(var - noise_var, 0)
    return x * (noise_var / (var + noise_var))


def wavelet_noise(images, *, sigma: float = 5.0, wavelet: str = "db8", levels: int = 4):
    """Wavelet-domain noise residual ``W = I - F(I)`` (Lukas et al. 2006, Mihcak et al. 1999).

    Parameters
    ----------
    images : array (..., H, W)
        Gray images in 8-bit units; ``H`` and ``W`` divisible by ``2**levels``.
    sigma : float
        Standard deviation of the noise the denoiser removes (8-bit units; 5 in the references).
    wavelet, levels : str, int
        DWT (periodization, :func:`forensics.dwt.wavedec2`).

    Returns
    -------
    array (..., H, W), the same float dtype as ``images`` (float64 for integers)
    """
    xp = get_namespace(images)
    x = _float(images, xp)
    coeffs = wavedec2(x, wavelet, level=levels)
    var = float(sigma) ** 2
    out = [xp.zeros_like(coeffs[0])]
    for bands in coeffs[1:]:
        out.append(tuple(wiener_shrink(b, var) for b in bands))
    return waverec2(out, wavelet).astype(x.dtype, copy=False)


def zero_mean(residuals, *, sublattices: bool = True):
    """Remove the mean of every row and every column (``zero_mean_total`` of prnu-python).

    With ``sublattices`` the removal is done separately on the four 2x2
    sub-lattices (colour-filter-array phases), as in Chen et al. 2008.

    Parameters
    ----------
    residuals : array (..., H, W), ``H`` and ``W`` even when ``sublattices``

    Returns
    -------
    array like ``residuals``; every row and column (of each sub-lattice) sums to zero
    """
    xp = get_namespace(residuals)
    w = _float(residuals, xp)
    if not sublattices:
        w = w - w.mean(axis=-1, keepdims=True)
        return w - w.mean(axis=-2, keepdims=True)
    h, wd = w.shape[-2:]
    lead = w.shape[:-2]
    # (..., H/2, 2, W/2, 2): axes -3 and -1 select the sub-lattice
    s = w.reshape(lead + (h // 2, 2, wd // 2, 2))
    s = s - s.mean(axis=-2, keepdims=True)  # rows of each sub-lattice
    s = s - s.mean(axis=-4, keepdims=True)  # columns of each sub-lattice
    return s.reshape(lead + (h, wd))


def _hermitian_pad(mag, pad: int):
    """Extend a half spectrum (``rfft2`` layout, last axis ``0..W/2``) by ``pad`` columns each side.

    Uses ``|F(k, -l)| = |F(-k, l)|`` of a real image's spectrum, so that a
    periodic (``wrap``) filter of radius <= ``pad`` on the result equals the
    same filter on the full spectrum, over the original columns.
    """
    xp = get_namespace(mag)
    h = mag.shape[-2]
    n = mag.shape[-1]
    flip = xp.asarray((-np.arange(h)) % h)
    mirrored = xp.take(mag, flip, axis=-2)  # row k -> row -k
    left = mirrored[..., 1:pad + 1][..., ::-1]  # columns -pad..-1
    right = mirrored[..., n - 1 - pad:n - 1][..., ::-1]  # columns W/2+1..W/2+pad
    return xp.concatenate([left, mag, right], axis=-1)


def wiener_dft(residuals, *, sigma=None):
    """Wiener filter in the DFT domain (Chen et al. 2008; ``wiener_dft`` of prnu-python).

    The magnitude spectrum, scaled to unit-variance white noise, is passed
    through :func:`wiener_shrink` (periodic borders): peaks (periodic patterns)
    are suppressed, the flat part is kept; the phase is unchanged. The real FFT
    is used, with the half spectrum padded by Hermitian symmetry so that the
    local windows see exactly what they would on the full spectrum.

    Parameters
    ----------
    residuals : array (..., H, W), ``W`` even
    sigma : float or None
        Noise standard deviation; ``None`` uses each image's own standard deviation.

    Returns
    -------
    array like ``residuals`` (real)
    """
    xp = get_namespace(residuals)
    w = _float(residuals, xp)
    h, wd = w.shape[-2:]
    if sigma is None:
        var = w.var(axis=(-2, -1), keepdims=True)
    else:
        var = xp.asarray(float(sigma) ** 2, dtype=w.dtype)
    f = xp.fft.rfft2(w)
    mag = (xp.abs(f) / np.sqrt(h * wd)).astype(w.dtype, copy=False)
    pad = max(WIENER_WINDOWS) // 2
    kept = wiener_shrink(_hermitian_pad(mag, pad), var, mode="wrap")[..., pad:pad + mag.shape[-1]]
    gain = xp.where(mag > 0, kept / xp.where(mag > 0, mag, 1), 0)
    return xp.fft.irfft2(f * gain, s=(h, wd)).astype(w.dtype, copy=False)


def noise_residual(images, *, sigma: float = 5.0, wavelet: str = "db8", levels: int = 4,
                   wiener: bool = True):
    """PRNU noise residual: :func:`wavelet_noise`, then :func:`zero_mean`, then :func:`wiener_dft`.

    Parameters
    ----------
    images : array (..., H, W)
        Gray images (luminance) in 8-bit units, ``H`` and ``W`` divisible by ``2**levels``.
    sigma, wavelet, levels
        See :func:`wavelet_noise`.
    wiener : bool
        Apply :func:`wiener_dft` (with each image's own residual deviation).

    Returns
    -------
    array (..., H, W)
    """
    w = zero_mean(wavelet_noise(images, sigma=sigma, wavelet=wavelet, levels=levels))
    return wiener_dft(w) if wiener else w


# --------------------------------------------------------------------------- fingerprints


class Fingerprint(NamedTuple):
    """Maximum-likelihood PRNU estimate of :func:`fingerprint`.

    Attributes
    ----------
    k : array (H, W), ``sum(M W I) / sum(M I^2)``, 0 where no frame contributes
    wi : array (H, W), ``sum(M W I)``
    ii : array (H, W), ``sum(M I^2)``
    count : array (H, W), number of frames with the pixel inside the mask
    k_loo : array (T, H, W) or None, the estimate without frame ``t`` (``leave_one_out=True``)
    count_loo : array (T, H, W) or None, number of frames behind ``k_loo``
    """

    k: object
    wi: object
    ii: object
    count: object
    k_loo: object = None
    count_loo: object = None


def fingerprint(residuals, images, masks=None, *, leave_one_out: bool = False) -> Fingerprint:
    """Maximum-likelihood PRNU fingerprint ``K = sum_t M W I / sum_t M I^2`` (Chen et al. 2008).

    Parameters
    ----------
    residuals, images : arrays (T, H, W)
        Noise residuals and the images they came from.
    masks : array (T, H, W) or None
        Weight of each pixel of each frame (1 inside the region, 0 outside).
    leave_one_out : bool
        Also return, for every frame, the estimate from all the *other* frames
        (so that a frame is never correlated with a fingerprint it is part of).

    Returns
    -------
    Fingerprint
    """
    xp = get_namespace(residuals, images)
    w = _float(residuals, xp)
    i = xp.asarray(images, dtype=w.dtype)
    m = xp.ones_like(w) if masks is None else xp.asarray(masks, dtype=w.dtype)
    mi = m * i
    mwi, mii = mi * w, mi * i
    wi, ii, count = mwi.sum(axis=0), mii.sum(axis=0), m.sum(axis=0)
    k = xp.where(ii > 0, wi / xp.where(ii > 0, ii, 1), 0)
    if not leave_one_out:
        return Fingerprint(k, wi, ii, count)
    c_loo = count - m
    ii_loo = ii - mii
    # the subtraction leaves rounding residue where only frame t contributed (or the others were black):
    # require another frame and a non-negligible share of the intensity
    ok = (c_loo > 0.5) & (ii_loo > 1e-4 * ii)
    k_loo = xp.where(ok, (wi - mwi) / xp.where(ok, ii_loo, 1), 0)
    return Fingerprint(k, wi, ii, count, k_loo, c_loo * ok)


def ncc(a, b, mask=None, *, min_pixels: int = 256):
    """Normalised cross-correlation over the last two axes, inside ``mask``.

    Means are removed inside the mask; the result is NaN where the mask holds
    fewer than ``min_pixels`` pixels or either input is constant there.

    Parameters
    ----------
    a, b : arrays (..., H, W), broadcastable
    mask : array (..., H, W) of 0/1 or None

    Returns
    -------
    array (...,)
    """
    xp = get_namespace(a, b)
    a = _float(a, xp)
    b = xp.asarray(b, dtype=a.dtype)
    m = xp.ones(np.broadcast_shapes(a.shape, b.shape), a.dtype) if mask is None else xp.asarray(mask, a.dtype)
    n = m.sum(axis=(-2, -1))
    nn = xp.maximum(n, 1)
    a = (a - (m * a).sum(axis=(-2, -1), keepdims=True) / nn[..., None, None]) * m
    b = (b - (m * b).sum(axis=(-2, -1), keepdims=True) / nn[..., None, None]) * m
    num = (a * b).sum(axis=(-2, -1))
    den = xp.sqrt((a * a).sum(axis=(-2, -1)) * (b * b).sum(axis=(-2, -1)))
    good = (n >= min_pixels) & (den > 0)
    return xp.where(good, num / xp.where(den > 0, den, 1), xp.nan)


def local_ncc(a, b, *, size: int = 24):
    """Normalised cross-correlation of ``a`` and ``b`` in a sliding ``size`` x ``size`` window.

    The windowed version of :func:`ncc` (local means removed in each window),
    over the last two axes; NaN where either input is locally constant.
    Used to map where a residual agrees with a fingerprint (Chen et al. 2008
    detect local PRNU absence the same way).

    Parameters
    ----------
    a, b : arrays (..., H, W), same shape

    Returns
    -------
    array (..., H, W)
    """
    xp = get_namespace(a, b)
    a = _float(a, xp)
    b = xp.asarray(b, dtype=a.dtype)
    nd = ndimage_for(xp)
    win = (1,) * (a.ndim - 2) + (size, size)

    def box(x):
        return nd.uniform_filter(x, size=win, mode="nearest")

    a = a - box(a)
    b = b - box(b)
    den = xp.sqrt(box(a * a) * box(b * b))
    return xp.where(den > 0, box(a * b) / xp.where(den > 0, den, 1), xp.nan)


@functools.lru_cache(maxsize=16)
def _pce_exclusion(shape, radius):
    h, w = shape
    dy = np.minimum(np.arange(h), h - np.arange(h))
    dx = np.minimum(np.arange(w), w - np.arange(w))
    return ~((dy[:, None] <= radius) & (dx[None, :] <= radius))


def pce(a, b, mask=None, *, radius: int = 2, min_pixels: int = 256):
    """Signed peak-to-correlation energy at zero shift (Goljan et al. 2009).

    The circular cross-correlation ``C`` of the mean-removed, masked inputs is
    computed with the FFT; ``PCE = sign(C0) C0^2 / mean(C^2)`` where ``C0`` is
    its value at zero shift and the mean runs over all shifts farther than
    ``radius`` from zero. Under the null hypothesis (unrelated noise) PCE is
    of order 1; a matching fingerprint gives tens to thousands.

    Parameters
    ----------
    a, b : arrays (..., H, W), broadcastable
    mask : array (..., H, W) or None

    Returns
    -------
    array (...,), NaN where the mask holds fewer than ``min_pixels`` pixels
    """
    xp = get_namespace(a, b)
    a = _float(a, xp)
    b = xp.asarray(b, dtype=a.dtype)
    shape = np.broadcast_shapes(a.shape, b.shape)
    m = xp.ones(shape, a.dtype) if mask is None else xp.broadcast_to(xp.asarray(mask, a.dtype), shape)
    n = m.sum(axis=(-2, -1))
    nn = xp.maximum(n, 1)[..., None, None]
    a = (a - (m * a).sum(axis=(-2, -1), keepdims=True) / nn) * m
    b = (b - (m * b).sum(axis=(-2, -1), keepdims=True) / nn) * m
    h, w = shape[-2:]
    c = xp.fft.irfft2(xp.fft.rfft2(a) * xp.conj(xp.fft.rfft2(b)), s=(h, w))
    c0 = c[..., 0, 0]
    excl = xp.asarray(_pce_exclusion((h, w), int(radius)))
    energy = (c * c * excl).sum(axis=(-2, -1)) / max(int(excl.sum()), 1)
    good = (n >= min_pixels) & (energy > 0)
    return xp.where(good, xp.sign(c0) * c0 * c0 / xp.where(energy > 0, energy, 1), xp.nan)


class GroupConsistency(NamedTuple):
    """Result of :func:`group_consistency`.

    Attributes
    ----------
    mean : 0-d array, mean NCC over pairs of group fingerprints (NaN if undefined)
    pairs : array (P,), NCC of each pair (NaN where the pair overlaps too little)
    n_groups : int
    """

    mean: object
    pairs: object
    n_groups: int


def group_consistency(residuals, images, masks=None, *, n_groups: int = 4, min_frames: int = 2,
                      min_pixels: int = 256) -> GroupConsistency:
    """Temporal consistency of a region's PRNU (Koopman et al. 2018).

    The frames are split in order into ``n_groups`` contiguous groups (fewer
    when there are fewer than ``min_frames`` frames per group); a fingerprint
    is estimated per group and every pair of group fingerprints is correlated
    over the pixels both cover. A real camera region gives the same pattern in
    every group; a region re-synthesised in every frame gives unrelated ones.

    Parameters
    ----------
    residuals, images : arrays (T, H, W)
    masks : array (T, H, W) or None

    Returns
    -------
    GroupConsistency
    """
    xp = get_namespace(residuals, images)
    w = _float(residuals, xp)
    t = w.shape[0]
    g = int(min(n_groups, t // max(min_frames, 1)))
    if g < 2:
        return GroupConsistency(xp.asarray(np.nan), xp.full((0,), np.nan), g)
    i = xp.asarray(images, dtype=w.dtype)
    m = xp.ones_like(w) if masks is None else xp.asarray(masks, dtype=w.dtype)
    bounds = np.linspace(0, t, g + 1).round().astype(int)
    mwi, mii = m * w * i, m * i * i
    wi = xp.stack([mwi[a:b].sum(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
    ii = xp.stack([mii[a:b].sum(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
    k = wi / xp.where(ii > 0, ii, 1)
    cov = (ii > 0).astype(w.dtype)
    p, q = (np.asarray(v) for v in zip(*itertools.combinations(range(g), 2)))
    p, q = xp.asarray(p), xp.asarray(q)
    pairs = ncc(k[p], k[q], cov[p] * cov[q], min_pixels=min_pixels)
    ok = xp.isfinite(pairs)
    mean = xp.where(ok.any(), xp.where(ok, pairs, 0).sum() / xp.maximum(ok.sum(), 1), xp.nan)
    return GroupConsistency(mean, pairs, g)


# --------------------------------------------------------------------------- camera motion


class GlobalMotion(NamedTuple):
    """Result of :func:`global_motion`.

    Attributes
    ----------
    shift : array (T, 2), (dy, dx) of each frame's content relative to the reference, in pixels
    peak : array (T,), height of the phase-correlation peak (1 = identical frames)
    """

    shift: object
    peak: object


def global_motion(images, mask=None, *, reference: int | None = None) -> GlobalMotion:
    """Global translation of each frame against a reference frame by phase correlation.

    Each frame minus its weighted mean is multiplied by ``mask`` (which should
    fall off smoothly, so that its edge, moving with the face, does not become
    the dominant structure) and by a Hann window; the peak of the normalised
    cross-power spectrum is refined to sub-pixel precision with a parabola
    through its neighbours along each axis.

    Parameters
    ----------
    images : array (T, H, W)
    mask : array (T, H, W) or None
        Weights in [0, 1]: 1 on the background that moves with the camera, 0 on the face.
    reference : int or None
        Index of the reference frame; ``None`` is the middle frame.

    Returns
    -------
    GlobalMotion
    """
    xp = get_namespace(images)
    x = _float(images, xp)
    t, h, w = x.shape
    ref = t // 2 if reference is None else int(reference)
    m = xp.ones_like(x) if mask is None else xp.asarray(mask, x.dtype)
    mean = (m * x).sum(axis=(-2, -1), keepdims=True) / xp.maximum(m.sum(axis=(-2, -1), keepdims=True), 1e-9)
    win = xp.asarray(np.outer(np.hanning(h), np.hanning(w)), x.dtype)
    f = xp.fft.rfft2((x - mean) * m * win)
    r = f * xp.conj(f[ref])[None]
    mag = xp.abs(r)
    r = r / xp.maximum(mag, 1e-12 * mag.max() + 1e-30)
    c = xp.fft.irfft2(r, s=(h, w))
    flat = c.reshape(t, -1)
    idx = xp.argmax(flat, axis=1)
    py, px = idx // w, idx % w
    tt = xp.arange(t)
    peak = flat[tt, idx]

    def refine(p, n, axis):
        prev = c[tt, (p - 1) % n, px] if axis == 0 else c[tt, py, (p - 1) % n]
        nxt = c[tt, (p + 1) % n, px] if axis == 0 else c[tt, py, (p + 1) % n]
        den = prev - 2 * peak + nxt
        off = xp.where(xp.abs(den) > 1e-12, 0.5 * (prev - nxt) / xp.where(xp.abs(den) > 1e-12, den, 1), 0)
        pos = p.astype(x.dtype) + xp.clip(off, -0.5, 0.5)
        return xp.where(pos > n / 2, pos - n, pos)

    shift = xp.stack([refine(py, h, 0), refine(px, w, 1)], axis=1)
    return GlobalMotion(shift, peak)


def static_frames(shift, *, tol: float = 1.0) -> np.ndarray:
    """The largest set of frames whose global shifts agree within ``tol`` pixels.

    A frame ``j`` belongs to the set of frame ``i`` when its shift differs by at
    most ``tol`` in both axes; the frame with the most members wins (earliest
    on ties).

    Parameters
    ----------
    shift : array (T, 2)

    Returns
    -------
    bool NumPy array (T,)
    """
    s = np.asarray(to_numpy(shift), dtype=np.float64)
    close = (np.abs(s[:, None, :] - s[None, :, :]) <= tol).all(axis=-1)
    return close[int(np.argmax(close.sum(axis=1)))]


# --------------------------------------------------------------------------- residual statistics


class MaskedMoments(NamedTuple):
    """Masked moments of :func:`masked_moments`, each (...,); NaN where too few pixels.

    Attributes
    ----------
    energy : mean of ``x^2``
    variance : variance
    kurtosis : excess kurtosis (0 for a Gaussian)
    count : number of pixels
    """

    energy: object
    variance: object
    kurtosis: object
    count: object


def masked_moments(x, mask, *, min_pixels: int = 64) -> MaskedMoments:
    """Energy, variance and excess kurtosis of ``x`` inside ``mask`` over the last two axes
    (moments from :func:`forensics.wavelet.weighted_moments`)."""
    from .wavelet import weighted_moments

    xp = get_namespace(x)
    x = _float(x, xp)
    m = xp.asarray(mask, x.dtype)
    n = m.sum(axis=(-2, -1))
    mo = weighted_moments(x, m, axis=(-2, -1))
    bad = n < min_pixels
    nan = xp.asarray(np.nan, x.dtype)
    energy = mo.var + mo.mean * mo.mean
    return MaskedMoments(xp.where(bad, nan, energy), xp.where(bad, nan, mo.var),
                         xp.where(bad | ~(mo.var > 0), nan, mo.kurtosis - 3), n)


#: SRM residuals kept (Fridrich & Kodovsky 2012): name -> quantisation step (8-bit units)
SRM_RESIDUALS = {"first": 1.0, "second": 2.0, "square": 1.0}


def srm_residuals(images) -> dict:
    """A compact set of SRM high-pass residuals (Fridrich & Kodovsky 2012).

    ``first``: first-order differences ``x[j+1] - x[j]``; ``second``:
    second-order ``x[j-1] - 2x[j] + x[j+1]``; both horizontal and vertical.
    ``square``: the 3x3 "KB" second-order kernel ``[-1 2 -1; 2 -4 2; -1 2 -1] / 4``.
    Borders are cropped, so the outputs are one or two pixels smaller.

    Returns
    -------
    dict name -> list of arrays (..., h, w), paired with the scan axis of their co-occurrence:
    ``{"first": [(rh, -1), (rv, -2)], "second": [...], "square": [(r, -1), (r, -2)]}``
    """
    xp = get_namespace(images)
    x = _float(images, xp)
    c = x[..., 1:-1, 1:-1]
    first_h = x[..., 1:-1, 2:] - c
    first_v = x[..., 2:, 1:-1] - c
    second_h = x[..., 1:-1, :-2] - 2 * c + x[..., 1:-1, 2:]
    second_v = x[..., :-2, 1:-1] - 2 * c + x[..., 2:, 1:-1]
    corners = x[..., :-2, :-2] + x[..., :-2, 2:] + x[..., 2:, :-2] + x[..., 2:, 2:]
    edges = x[..., :-2, 1:-1] + x[..., 2:, 1:-1] + x[..., 1:-1, :-2] + x[..., 1:-1, 2:]
    square = (2 * edges - corners - 4 * c) / 4
    return {
        "first": [(first_h, -1), (first_v, -2)],
        "second": [(second_h, -1), (second_v, -2)],
        "square": [(square, -1), (square, -2)],
    }


@functools.lru_cache(maxsize=4)
def _cooc_classes(trunc: int) -> np.ndarray:
    """Map each of the (2T+1)^3 triples to a class under sign flip and reversal: (n_codes, n_classes)."""
    vals = range(-trunc, trunc + 1)
    triples = list(itertools.product(vals, vals, vals))
    canon = {}
    labels = []
    for a, b, c in triples:
        key = min((a, b, c), (c, b, a), (-a, -b, -c), (-c, -b, -a))
        labels.append(canon.setdefault(key, len(canon)))
    onehot = np.zeros((len(triples), len(canon)))
    onehot[np.arange(len(triples)), labels] = 1
    return onehot


def cooccurrence(residual, labels, *, n_labels: int, q: float, axis: int = -1, trunc: int = 1):
    """Symmetrised third-order co-occurrences of a quantised residual in each labelled region.

    The residual is quantised ``round(r / q)`` and truncated to ``[-trunc, trunc]``;
    triples of neighbours along ``axis`` are counted by the region label of
    their centre pixel, and merged under sign flip and reversal as in the SRM.

    Parameters
    ----------
    residual : array (T, h, w)
    labels : int array (T, h, w), region of each pixel in ``0..n_labels-1``, on the
        residual's grid (crop image labels ``[..., 1:-1, 1:-1]`` for :func:`srm_residuals`)
    n_labels : int
    q : float
        Quantisation step.
    axis : -1 (horizontal triples) or -2 (vertical)

    Returns
    -------
    array (T, n_labels, n_classes) of counts (float64, not normalised); 10 classes for ``trunc=1``
    """
    xp = get_namespace(residual)
    r = _float(residual, xp)
    # round(r / q) clipped to [-trunc, trunc], shifted to 0..2 trunc, without a float copy per step
    qr = xp.full(r.shape, trunc, dtype=xp.int8)
    for level in range(1, trunc + 1):
        edge = (level - 0.5) * q
        qr += (r >= edge).astype(xp.int8)
        qr -= (r <= -edge).astype(xp.int8)
    base = 2 * trunc + 1
    n_codes = base**3
    lab = xp.asarray(labels)
    if axis in (-2, r.ndim - 2):
        code = (qr[..., :-2, :].astype(xp.int16) * base + qr[..., 1:-1, :]) * base + qr[..., 2:, :]
        lab = lab[..., 1:-1, :]
    else:
        code = (qr[..., :-2].astype(xp.int16) * base + qr[..., 1:-1]) * base + qr[..., 2:]
        lab = lab[..., 1:-1]
    t = r.shape[0]
    frame = (xp.arange(t, dtype=xp.int32) * (n_labels * n_codes))[:, None, None]
    idx = (frame + lab.astype(xp.int32) * n_codes) + code
    counts = xp.bincount(idx.ravel(), minlength=t * n_labels * n_codes).reshape(t, n_labels, n_codes)
    return counts.astype(xp.float64) @ xp.asarray(_cooc_classes(trunc))


def entropy(counts, *, axis: int = -1):
    """Shannon entropy (bits) of histograms; NaN for an empty histogram."""
    xp = get_namespace(counts)
    n = counts.sum(axis=axis, keepdims=True)
    p = counts / xp.where(n > 0, n, 1)
    h = -(xp.where(p > 0, p * xp.log2(xp.where(p > 0, p, 1)), 0)).sum(axis=axis)
    return xp.where(n.squeeze(axis) > 0, h, xp.nan)


def js_divergence(p_counts, q_counts, *, axis: int = -1):
    """Jensen-Shannon divergence (bits, in [0, 1]) between histograms; NaN if either is empty."""
    xp = get_namespace(p_counts, q_counts)
    m = 0.5 * (p_counts / xp.maximum(p_counts.sum(axis=axis, keepdims=True), 1e-300)
               + q_counts / xp.maximum(q_counts.sum(axis=axis, keepdims=True), 1e-300))
    js = entropy(m, axis=axis) - 0.5 * (entropy(p_counts, axis=axis) + entropy(q_counts, axis=axis))
    return xp.maximum(js, 0)


# --------------------------------------------------------------------------- geometry


class Window(NamedTuple):
    """A fixed rectangle of the full-resolution frame: rows ``y0:y0+h``, columns ``x0:x0+w``."""

    y0: int
    x0: int
    h: int
    w: int


def face_window(boxes, frame_shape, *, margin: float = 2.0, min_side: int = 128, max_side: int = 384,
                multiple: int = 16) -> Window | None:
    """One fixed analysis window around a face track, in sensor (frame) coordinates.

    PRNU is tied to sensor pixels, so the window must not follow the face: it
    is centred on the median face centre, its side is ``margin`` times the
    median face side clipped to ``[min_side, max_side]``, each side is cut to a
    multiple of ``multiple`` (for the DWT) and to the frame.

    Parameters
    ----------
    boxes : (T, 4) face boxes ``(x0, y0, x1, y1)`` in frame pixels
    frame_shape : (H, W)

    Returns
    -------
    Window, or None when the frame is smaller than ``2 * multiple``
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    fh, fw = int(frame_shape[0]), int(frame_shape[1])
    good = np.isfinite(b).all(axis=1)
    if not good.any():
        return None
    b = b[good]
    side = np.median(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])) * margin
    side = float(np.clip(side, min_side, max_side))
    h = int(min(side, fh) // multiple * multiple)
    w = int(min(side, fw) // multiple * multiple)
    if h < 2 * multiple or w < 2 * multiple:
        return None
    cx = float(np.median((b[:, 0] + b[:, 2]) / 2))
    cy = float(np.median((b[:, 1] + b[:, 3]) / 2))
    y0 = int(np.clip(round(cy - h / 2), 0, fh - h))
    x0 = int(np.clip(round(cx - w / 2), 0, fw - w))
    return Window(y0, x0, h, w)
