"""``temporal`` family: flicker, jitter and the rPPG pulse over consecutive frames.

Frame-by-frame face synthesis is not temporally consistent (Ciftci et al. 2020,
FakeCatcher): the face flickers in brightness, colour and detail, its geometry
jitters against the head, and the skin-colour pulse of blood flow is lost or
incoherent. The dense window (``track.dense``, 64 to 128 consecutive frames)
gives per-frame region signals; calculators that need it return NaN features
when it is absent or too short.

Regions are rectangles relative to the (moving) face box, as fractions of the
box: ``face`` (inner face), ``forehead``, ``cheek_l`` / ``cheek_r`` (image left /
right), and the background = the frame outside the box enlarged 1.6 times.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from forensics.av import mouth_motion as relative_mouth_motion
from forensics.backend import get_namespace, to_numpy
from forensics.color import luma
from forensics.rppg import band_coherence, chrom_pulse, pulse_spectrum, spectral_peak
from forensics.temporal import (
    box_fraction_rects,
    box_jitter,
    detail_energy,
    flicker_ratio,
    landmark_jitter,
    region_sums,
    temporal_activity,
)

from .registry import CHEAP, Calculator

#: face-box fractions ``(fx0, fy0, fx1, fy1)`` of the regions sampled in the dense window
REGION_FRACTIONS = {
    "face": (0.2, 0.15, 0.8, 0.9),
    "forehead": (0.3, 0.0, 0.7, 0.15),
    "cheek_l": (0.15, 0.5, 0.4, 0.75),
    "cheek_r": (0.6, 0.5, 0.85, 0.75),
    "surround": (-0.3, -0.3, 1.3, 1.3),  # its complement in the frame is the background
}
REGIONS = tuple(k for k in REGION_FRACTIONS if k != "surround")
#: fewest dense frames for the flicker and jitter features
MIN_FLICKER_FRAMES = 8
#: fewest dense frames, and shortest duration (s, one cycle at 0.7 Hz), for the pulse
MIN_PULSE_FRAMES = 32
MIN_PULSE_SECONDS = 1.4
#: background must cover at least this share of the frame, else corrected signals are NaN
MIN_BACKGROUND_SHARE = 0.05
#: floor added inside logs (pixel-value units)
EPS = 1e-3
#: pixels (frames x height x width) per chunk of dense frames on the CPU: small chunks stay in
#: cache (faster than the whole window at once) and bound memory; a GPU takes 16 times as many
CHUNK_PIXELS = 500_000

SIGNALS = ("luma", "chroma_rg", "chroma_bg", "detail", "noise")
FLICKER_FEATURES = tuple(f"{s}_{k}" for s in SIGNALS for k in ("d1", "d2", "hf")) + ("flicker", "flicker_detail")
PULSE_FEATURES = ("pulse_rate", "pulse_share", "pulse_share_regions", "pulse_coherence", "pulse_rate_spread")
BOX_FEATURES = ("box_jitter", "box_scale_jitter")


class DenseSignals(NamedTuple):
    """Per-frame region means of the dense window (float64).

    Attributes
    ----------
    rgb : (M, R, 3) mean RGB of each region in :data:`REGIONS`
    gradient : (M, R) mean squared gradient of the luma
    residual : (M, R) mean squared diagonal (HH) residual of the luma
    rgb_bg, gradient_bg, residual_bg : the same over the background, (M, 3), (M,), (M,);
        NaN in frames where the background covers less than :data:`MIN_BACKGROUND_SHARE`
    fps : float
    """

    rgb: object
    gradient: object
    residual: object
    rgb_bg: object
    gradient_bg: object
    residual_bg: object
    fps: float


def _region_signals(frames, boxes) -> DenseSignals:
    """Region means over a chunk of dense frames (uint8 (M, h, w, 3), boxes (M, 4))."""
    xp = get_namespace(frames)
    m, h, w = frames.shape[:3]
    f = frames.astype(xp.float32)
    rects = box_fraction_rects(boxes, list(REGION_FRACTIONS.values()))
    whole = xp.broadcast_to(xp.asarray([0.0, 0.0, float(w), float(h)]), (m, 1, 4))
    rects = xp.concatenate([rects, whole], axis=1)  # (M, R + 2, 4): regions, surround, frame
    energy = detail_energy(luma(f))
    rgb = region_sums(f, rects)
    grad = region_sums(energy.gradient, rects)
    res = region_sums(energy.residual, rects)
    n = len(REGIONS)

    def split(rs):
        s = rs.sums.astype(xp.float64)
        a = rs.area.astype(xp.float64)
        inner = s[:, :n] / xp.maximum(a[:, :n, None], 1e-9)
        bg_area = a[:, n + 1] - a[:, n]
        ok = bg_area >= MIN_BACKGROUND_SHARE * a[:, n + 1]
        bg = (s[:, n + 1] - s[:, n]) / xp.where(ok, bg_area, xp.nan)[:, None]
        return inner, bg

    rgb_in, rgb_bg = split(rgb)
    g_in, g_bg = split(grad)
    r_in, r_bg = split(res)
    return DenseSignals(rgb_in, g_in[..., 0], r_in[..., 0], rgb_bg, g_bg[:, 0], r_bg[:, 0], 0.0)


def dense_signals(track) -> DenseSignals | None:
    """Region signals of ``track.dense`` (computed once per track), or None without a window."""
    dense = track.dense
    if dense is None or len(dense.frames) < 3:
        return None
    return track.memo("temporal.dense_signals", lambda: _dense_signals(dense, track.xp))


def _dense_signals(dense, xp) -> DenseSignals:
    boxes = xp.asarray(to_numpy(dense.boxes), dtype=xp.float64)
    m, h, w = dense.frames.shape[:3]
    chunk = max(1, (CHUNK_PIXELS if xp is np else 16 * CHUNK_PIXELS) // max(h * w, 1))
    parts = [
        _region_signals(xp.asarray(dense.frames[i : i + chunk]), boxes[i : i + chunk])
        for i in range(0, m, chunk)
    ]
    joined = [xp.concatenate([p[j] for p in parts], axis=0) for j in range(6)]
    return DenseSignals(*joined, float(dense.fps))


def _nan(names) -> dict:
    return dict.fromkeys(names, math.nan)


def _log(x):
    xp = get_namespace(x)
    return xp.log(x + EPS)


def flicker(track) -> dict:
    """Frame-to-frame change of face signals, corrected by the background.

    Signals (face region, per frame): log luma, log chroma ratios R/G and B/G,
    log gradient energy (``detail``) and log HH-residual energy (``noise``), each
    minus the same over the background, so global exposure and white-balance
    changes cancel. For each: RMS first and second temporal difference (``d1``,
    ``d2``) and the share of temporal power above fps/4 (``hf``). ``flicker`` and
    ``flicker_detail``: log RMS ratio of the second difference of face and
    background log luma (log gradient energy), zero when only the whole frame
    changes.
    """
    sig = dense_signals(track)
    if sig is None or sig.rgb.shape[0] < MIN_FLICKER_FRAMES:
        return _nan(FLICKER_FEATURES)
    xp = get_namespace(sig.rgb)
    face, bg = sig.rgb[:, 0], sig.rgb_bg  # (M, 3)
    lf, lb = _log(luma(face)), _log(luma(bg))
    cf, cb = _log(face), _log(bg)
    gf, gb = _log(sig.gradient[:, 0]), _log(sig.gradient_bg)
    series = xp.stack([
        lf - lb,
        (cf[:, 0] - cf[:, 1]) - (cb[:, 0] - cb[:, 1]),
        (cf[:, 2] - cf[:, 1]) - (cb[:, 2] - cb[:, 1]),
        gf - gb,
        _log(sig.residual[:, 0]) - _log(sig.residual_bg),
    ])  # (5, M)
    act = temporal_activity(series, axis=-1)
    out = {}
    for i, name in enumerate(SIGNALS):
        out[f"{name}_d1"] = act.d1[i]
        out[f"{name}_d2"] = act.d2[i]
        out[f"{name}_hf"] = act.hf_share[i]
    out["flicker"] = flicker_ratio(lf, lb)
    out["flicker_detail"] = flicker_ratio(gf, gb)
    return out


def rppg(track) -> dict:
    """Chrominance pulse (CHROM, de Haan & Jeanne 2013) on the face and three skin patches.

    Each region's mean RGB is divided by the background's (global colour and
    lighting changes cancel; skipped where the background is too small). Features:
    ``pulse_rate`` (Hz, whole face), ``pulse_share`` (peak sharpness: in-band power
    near the peak and its harmonic, whole face), ``pulse_share_regions`` (mean over
    forehead and cheeks), ``pulse_coherence`` (mean pairwise in-band spectral
    coherence of the three patches), ``pulse_rate_spread`` (Hz, max - min peak
    frequency over the patches).
    """
    sig = dense_signals(track)
    if sig is None:
        return _nan(PULSE_FEATURES)
    m = sig.rgb.shape[0]
    if m < MIN_PULSE_FRAMES or m / max(sig.fps, 1e-6) < MIN_PULSE_SECONDS:
        return _nan(PULSE_FEATURES)
    xp = get_namespace(sig.rgb)
    rgb = sig.rgb
    if not bool(xp.isnan(sig.rgb_bg).any()):
        rgb = rgb / xp.maximum(sig.rgb_bg[:, None, :], EPS)
    pulse = chrom_pulse(xp.moveaxis(rgb, 0, 1), fps=sig.fps)  # (R, M)
    spec = pulse_spectrum(pulse, fps=sig.fps)
    peak = spectral_peak(spec)
    s = spec.spectrum
    coh = (band_coherence(s[1], s[2]) + band_coherence(s[1], s[3]) + band_coherence(s[2], s[3])) / 3.0
    rates = peak.frequency[1:]
    return {
        "pulse_rate": peak.frequency[0],
        "pulse_share": peak.share[0],
        "pulse_share_regions": peak.share[1:].mean(),
        "pulse_coherence": coh,
        "pulse_rate_spread": rates.max() - rates.min(),
    }


def box_motion(track) -> dict:
    """Jitter of the face box over the dense window: RMS second difference of its
    centre (in box sizes) and of its log size."""
    dense = track.dense
    if dense is None or len(dense.boxes) < MIN_FLICKER_FRAMES:
        return _nan(BOX_FEATURES)
    bj = box_jitter(track.xp.asarray(to_numpy(dense.boxes), dtype=track.xp.float64))
    return {"box_jitter": bj.position, "box_scale_jitter": bj.scale}


MOUTH_FEATURES = ("mouth_motion", "mouth_motion_q90", "mouth_motion_spread")


def mouth_motion(track) -> dict:
    """How much the mouth moves against the eyes and brows over the dense window, without audio.

    Per transition between consecutive frames, the log ratio of the mouth-and-jaw
    region's mean luma change to the upper face's (both placed on the moving face
    box, :func:`forensics.av.mouth_motion`): lip-sync tools re-render only the
    mouth, and audio-driven heads move it while the face stays still, where a real
    talker's brows, cheeks and head move with the speech. Features: the mean
    (``mouth_motion``), its 90th percentile over the window (``mouth_motion_q90``:
    the most mouth-dominated moments) and its standard deviation
    (``mouth_motion_spread``). This is the visual half of the ``av`` family's
    ``speech_motion_ratio``, taken over every frame, so it needs no soundtrack and
    a clip without one is not marked.
    """
    dense = track.dense
    if dense is None or len(dense.frames) < MIN_FLICKER_FRAMES:
        return _nan(MOUTH_FEATURES)
    m = relative_mouth_motion(to_numpy(dense.frames), to_numpy(dense.boxes))
    m = m[np.isfinite(m)]
    if m.size < MIN_FLICKER_FRAMES - 1:
        return _nan(MOUTH_FEATURES)
    return {"mouth_motion": float(m.mean()), "mouth_motion_q90": float(np.percentile(m, 90)),
            "mouth_motion_spread": float(m.std())}


def landmarks(track) -> dict:
    """Per-frame jitter of the 5 landmarks against the head over the sparse frames:
    second temporal difference of landmarks normalised to the face crop
    (``lm_jitter``) and of their centred, spread-normalised shape (``lm_shape_jitter``)."""
    lj = landmark_jitter(track.landmarks, size=float(track.crops.shape[1]))
    return {"lm_jitter": lj.position, "lm_shape_jitter": lj.shape}


#: the :data:`SIGNALS` of :func:`flicker` in plain words: log of the face's value over the background's
_SIGNAL_WORDS = {
    "luma": "log face/background brightness",
    "chroma_rg": "log face/background redness (R/G)",
    "chroma_bg": "log face/background blueness (B/G)",
    "detail": "log face/background detail energy",
    "noise": "log face/background fine-noise energy",
}
_CHANGE_WORDS = {
    "d1": "frame-to-frame change (first difference) of the {}",
    "d2": "frame-to-frame flicker (second difference) of the {}",
    "hf": "share of variation faster than fps/4 in the {}",
}
FLICKER_PHRASES = {
    **{f"{s}_{k}": w.format(_SIGNAL_WORDS[s]) for s in SIGNALS for k, w in _CHANGE_WORDS.items()},
    "flicker": "log ratio of face to background brightness flicker (second differences)",
    "flicker_detail": "log ratio of face to background detail-energy flicker (second differences)",
}
PULSE_PHRASES = {
    "pulse_rate": "pulse rate read from the face's skin colour (strongest frequency, Hz)",
    "pulse_share": "sharpness of the face's skin-colour pulse (power share at the peak and its harmonic)",
    "pulse_share_regions": "sharpness of the skin-colour pulse, mean over forehead and both cheeks",
    "pulse_coherence": "agreement (spectral coherence) of the skin-colour pulse across forehead and cheeks",
    "pulse_rate_spread": "spread of pulse rates across forehead and cheeks (highest minus lowest, Hz)",
}
BOX_PHRASES = {
    "box_jitter": "jitter (second difference) of the face-box centre over consecutive frames",
    "box_scale_jitter": "jitter (second difference) of the face-box log size over consecutive frames",
}
MOUTH_PHRASES = {
    "mouth_motion": "motion of the mouth relative to the eyes and brows between consecutive frames (log ratio)",
    "mouth_motion_q90": "mouth motion relative to the eyes and brows at its most mouth-dominated moments",
    "mouth_motion_spread": "variation of the mouth's motion relative to the eyes and brows over consecutive frames",
}
LANDMARK_PHRASES = {
    "lm_jitter": "jitter of the five facial landmarks within the face crop between sampled frames",
    "lm_shape_jitter": "jitter of the landmarks' shape (placement and scale removed) between sampled frames",
}

CALCULATORS = [
    Calculator("temporal", "flicker", flicker, cost=CHEAP, gpu=True, needs_dense=True,
               description="face-vs-background flicker of luma, chroma, detail and noise (Ciftci 2020)",
               features=FLICKER_PHRASES),
    Calculator("temporal", "rppg", rppg, cost=CHEAP, gpu=True, needs_dense=True,
               description="CHROM rPPG pulse sharpness, cross-region coherence and rate agreement (de Haan 2013)",
               features=PULSE_PHRASES),
    Calculator("temporal", "box", box_motion, cost=CHEAP, gpu=True, needs_dense=True,
               description="face-box trajectory jitter over the dense window",
               features=BOX_PHRASES),
    Calculator("temporal", "mouth", mouth_motion, cost=CHEAP, gpu=False, needs_dense=True, in_all=False,
               description="mouth motion against the upper face's over the dense window (lip-sync, audio-driven heads)",
               features=MOUTH_PHRASES),
    Calculator("temporal", "landmarks", landmarks, cost=CHEAP, gpu=True,
               description="landmark jitter against the face crop over the sparse frames",
               features=LANDMARK_PHRASES),
]
