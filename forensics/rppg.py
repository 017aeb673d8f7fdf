"""Remote photoplethysmography (rPPG): the skin-colour pulse of blood flow (NumPy or CuPy).

Each heartbeat changes the blood volume under the skin and with it, faintly, the
skin's colour (strongest in green). Averaged over a skin region, the colour
trace carries the pulse; chrominance methods project the normalised RGB trace
onto a plane that cancels intensity and specular changes and keeps the pulse.
A real face shows one pulse rate, sharply peaked, coherent across its regions;
a face synthesised frame by frame usually does not (Ciftci et al. 2020).

The reference methods work on sliding windows (about 1.6 s) joined by
overlap-add; here the whole (short, 2 to 5 s) window of consecutive frames is
one analysis window.

References
----------
G. de Haan, V. Jeanne, "Robust Pulse Rate From Chrominance-Based rPPG",
IEEE Trans. Biomed. Eng. 60(10) (2013) -- CHROM, and the spectral SNR.
W. Wang, A. C. den Brinker, S. Stuijk, G. de Haan, "Algorithmic Principles of
Remote PPG", IEEE Trans. Biomed. Eng. 64(7) (2017) -- POS.
U. A. Ciftci, I. Demir, L. Yin, "FakeCatcher: Detection of Synthetic Portrait
Videos using Biological Signals", IEEE TPAMI (2020).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .backend import get_namespace
from .temporal import detrend

__all__ = [
    "PULSE_BAND",
    "PulseSpectrum",
    "PulsePeak",
    "bandpass",
    "chrom_pulse",
    "pos_pulse",
    "pulse_spectrum",
    "spectral_peak",
    "band_coherence",
]

#: plausible heart rates, Hz (42 to 240 beats per minute)
PULSE_BAND = (0.7, 4.0)


class PulseSpectrum(NamedTuple):
    """Result of :func:`pulse_spectrum`, restricted to the pulse band.

    Attributes
    ----------
    freqs : (F,) NumPy array, Hz
    spectrum : (..., F) complex spectrum of the Hann-windowed, zero-padded pulse
    power : (..., F) ``|spectrum|^2``
    resolution : float, the native frequency resolution ``fps / M`` (Hz)
    """

    freqs: np.ndarray
    spectrum: object
    power: object
    resolution: float


class PulsePeak(NamedTuple):
    """Result of :func:`spectral_peak`.

    Attributes
    ----------
    frequency : (...) frequency of the strongest in-band peak (Hz), parabolically interpolated
    share : (...) share of in-band power within ``halfwidth`` of the peak and of its
        second harmonic: the peak's sharpness (1 for a pure sinusoid, about
        ``2 * halfwidth / band width`` for white noise)
    """

    frequency: object
    share: object


def bandpass(x, *, fps: float, band: tuple[float, float] = PULSE_BAND):
    """Ideal band-pass filter along the last axis (linear detrend, FFT mask).

    Parameters
    ----------
    x : array (..., M)
    fps : float
        Sampling rate (frames per second).
    band : (low, high) in Hz

    Returns
    -------
    array (..., M), float64
    """
    xp = get_namespace(x)
    x = detrend(x)
    m = x.shape[-1]
    f = np.fft.rfftfreq(m, d=1.0 / fps)
    keep = xp.asarray((f >= band[0]) & (f <= band[1]))
    return xp.fft.irfft(xp.fft.rfft(x, axis=-1) * keep, n=m, axis=-1)


def _normalised(rgb, eps):
    xp = get_namespace(rgb)
    c = xp.asarray(rgb, dtype=xp.float64)
    return c / xp.maximum(c.mean(axis=-2, keepdims=True), eps)


def _std_ratio(a, b):
    xp = get_namespace(a, b)
    sb = b.std(axis=-1, keepdims=True)
    return a.std(axis=-1, keepdims=True) / xp.where(sb > 0, sb, 1.0)


def chrom_pulse(rgb, *, fps: float, band: tuple[float, float] = PULSE_BAND, eps: float = 1e-6):
    """CHROM pulse signal (de Haan & Jeanne 2013).

    The RGB trace is normalised by its temporal mean, projected onto
    ``X = 3R - 2G`` and ``Y = 1.5R + G - 1.5B``, both band-passed, and combined
    as ``S = X - (std X / std Y) Y``, which cancels the (white) specular and
    intensity variation common to both.

    Parameters
    ----------
    rgb : array (..., M, 3)
        Mean skin RGB per frame (linear in the pixel values; any positive scale).
    fps : float
    band : (low, high) Hz, the pulse band

    Returns
    -------
    array (..., M), the band-limited pulse (float64)
    """
    c = _normalised(rgb, eps)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    x = bandpass(3.0 * r - 2.0 * g, fps=fps, band=band)
    y = bandpass(1.5 * r + g - 1.5 * b, fps=fps, band=band)
    return x - _std_ratio(x, y) * y


def pos_pulse(rgb, *, fps: float, band: tuple[float, float] = PULSE_BAND, eps: float = 1e-6):
    """POS pulse signal, "plane orthogonal to skin" (Wang et al. 2017).

    The temporally normalised trace is projected onto ``S1 = G - B`` and
    ``S2 = G + B - 2R`` and combined as ``h = S1 + (std S1 / std S2) S2``, then
    band-passed.

    Parameters
    ----------
    rgb : array (..., M, 3)
    fps : float
    band : (low, high) Hz

    Returns
    -------
    array (..., M), the band-limited pulse (float64)
    """
    c = _normalised(rgb, eps)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    s1 = g - b
    s2 = g + b - 2.0 * r
    return bandpass(s1 + _std_ratio(s1, s2) * s2, fps=fps, band=band)


def pulse_spectrum(pulse, *, fps: float, band: tuple[float, float] = PULSE_BAND,
                   n_fft: int | None = None) -> PulseSpectrum:
    """In-band spectrum of pulse signals (Hann window, zero-padded FFT).

    Parameters
    ----------
    pulse : array (..., M)
    fps : float
    band : (low, high) Hz, the frequencies kept
    n_fft : int or None
        FFT length; default the larger of 2048 and ``8 M`` rounded up to a power
        of two (fine interpolation between the native bins ``fps / M``).

    Returns
    -------
    PulseSpectrum
    """
    xp = get_namespace(pulse)
    x = xp.asarray(pulse, dtype=xp.float64)
    m = x.shape[-1]
    if n_fft is None:
        n_fft = max(2048, 1 << int(np.ceil(np.log2(8 * m))))
    win = xp.asarray(np.hanning(m))
    f = np.fft.rfftfreq(n_fft, d=1.0 / fps)
    idx = np.flatnonzero((f >= band[0]) & (f <= band[1]))
    spec = xp.fft.rfft((x - x.mean(axis=-1, keepdims=True)) * win, n=n_fft, axis=-1)[..., xp.asarray(idx)]
    power = spec.real**2 + spec.imag**2
    return PulseSpectrum(f[idx], spec, power, float(fps) / m)


def spectral_peak(spectrum: PulseSpectrum, *, halfwidth: float | None = None) -> PulsePeak:
    """Strongest in-band frequency and how sharply the power concentrates there.

    The share follows the SNR of de Haan & Jeanne (2013): power within
    ``halfwidth`` of the peak ``f0`` and of ``2 f0`` over all in-band power.

    Parameters
    ----------
    spectrum : PulseSpectrum
    halfwidth : float or None
        Half-width (Hz) of the peak windows; default ``max(0.1, resolution)``,
        the larger of de Haan's 0.1 Hz and one native frequency bin.

    Returns
    -------
    PulsePeak
    """
    xp = get_namespace(spectrum.power)
    p = spectrum.power
    freqs = xp.asarray(spectrum.freqs)
    n = p.shape[-1]
    df = float(spectrum.freqs[1] - spectrum.freqs[0]) if n > 1 else 1.0
    k = xp.argmax(p, axis=-1)[..., None]
    km = xp.clip(k - 1, 0, n - 1)
    kp = xp.clip(k + 1, 0, n - 1)
    lp = xp.log(p + 1e-300)
    a = xp.take_along_axis(lp, km, axis=-1)
    b = xp.take_along_axis(lp, k, axis=-1)
    c = xp.take_along_axis(lp, kp, axis=-1)
    den = a - 2 * b + c
    inner = (k > 0) & (k < n - 1) & (den < 0)
    delta = xp.where(inner, 0.5 * (a - c) / xp.where(inner, den, 1.0), 0.0)
    f0 = (xp.take_along_axis(xp.broadcast_to(freqs, p.shape), k, axis=-1) + delta * df)[..., 0]
    hw = max(0.1, spectrum.resolution) if halfwidth is None else float(halfwidth)
    near = (xp.abs(freqs - f0[..., None]) <= hw) | (xp.abs(freqs - 2 * f0[..., None]) <= hw)
    tot = p.sum(axis=-1)
    share = (p * near).sum(axis=-1) / xp.where(tot > 0, tot, 1.0)
    return PulsePeak(f0, share)


def band_coherence(a, b):
    """In-band spectral coherence of two pulse spectra from one window.

    ``|sum_f A(f) B*(f)| / sqrt(sum_f |A|^2 sum_f |B|^2)``: 1 when the two pulses are
    the same waveform up to gain and a constant phase shift, near
    ``1 / sqrt(number of independent bins)`` for unrelated noise.

    Parameters
    ----------
    a, b : complex arrays (..., F), e.g. ``PulseSpectrum.spectrum`` of two regions

    Returns
    -------
    array (...) in ``[0, 1]``
    """
    xp = get_namespace(a, b)
    cross = xp.abs((a * xp.conj(b)).sum(axis=-1))
    pa = (xp.abs(a) ** 2).sum(axis=-1)
    pb = (xp.abs(b) ** 2).sum(axis=-1)
    den = xp.sqrt(pa * pb)
    return cross / xp.where(den > 0, den, 1.0)
