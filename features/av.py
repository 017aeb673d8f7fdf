"""``av`` family: does the mouth move with the speech? (audio-visual synchrony on the dense window)

Lip-sync tools and audio-driven generators re-render the mouth and jaw from a
soundtrack. A real talker's mouth motion follows the speech energy with the
lips slightly ahead; a generator reproduces that relation only as well as it
has learnt it. Over the dense window, the mouth region's frame-to-frame luma
change, taken relative to the upper face's (so head motion and camera shake
cancel), is correlated with the speech energy envelope over lags of up to
0.3 s (:mod:`forensics.av`).

A video without audio gives NaN features and keeps status ``ok``: missing audio
is neutral. Whether a clip *has* audio is not a feature: in the training pool
it tells sources apart (most generated clips carry audio, most real ones do
not), not fakes.

Reference: J. Hershey, J. Movellan, "Audio vision: using audio-visual synchrony
to locate sounds", NIPS 12, 2000.
"""
from __future__ import annotations

import numpy as np

from forensics.av import MOUTH, UPPER, lagged_correlation, mouth_motion, speech_envelope
from forensics.backend import to_numpy

from .registry import CHEAP, Calculator

__all__ = ["MOUTH", "UPPER", "sync", "CALCULATORS"]
#: the longest lag searched, seconds (speech leads or trails lip motion by well under this)
MAX_LAG_S = 0.3
#: fewest consecutive frames the measure needs
MIN_FRAMES = 16

SYNC_PHRASES = {
    "sync_peak": "strongest correlation of mouth motion with speech energy over short lags",
    "sync_zero": "correlation of mouth motion with speech energy at zero lag",
    "sync_lag": "lag of the strongest mouth-speech correlation in seconds (positive: the mouth leads)",
    "speech_motion_ratio": "how much the mouth moves relative to the upper face while there is speech",
}


def _nan() -> dict:
    return {k: np.float64(np.nan) for k in SYNC_PHRASES}


def sync(track) -> dict:
    """Mouth-motion / speech-energy synchrony over the dense window; NaN without audio or dense frames."""
    d = track.dense
    if d is None or d.audio is None or len(d.frames) < MIN_FRAMES:
        return _nan()
    frames = to_numpy(d.frames)
    motion = mouth_motion(frames, to_numpy(d.boxes))  # (M-1,), transitions t-1 -> t
    samples, rate = d.audio
    env = speech_envelope(samples, rate, fps=d.fps, n_frames=len(frames))
    energy = 0.5 * (env[1:] + env[:-1])  # the same transitions
    max_lag = max(1, int(round(MAX_LAG_S * d.fps)))
    corr = lagged_correlation(motion, energy, max_lag=max_lag)
    if not np.isfinite(corr).any():
        return _nan()
    best = int(np.nanargmax(corr))
    speech = energy > np.nanmax(energy) - 1.5  # within 30 dB of the loudest frame
    ratio = float(np.nanmean(motion[speech])) if speech.any() else np.nan
    return {"sync_peak": np.float64(corr[best]), "sync_zero": np.float64(corr[max_lag]),
            # corr[i] pairs motion[t] with energy[t + lag]: a positive lag means the sound follows the mouth
            "sync_lag": np.float64((best - max_lag) / d.fps), "speech_motion_ratio": np.float64(ratio)}


CALCULATORS = [
    Calculator("av", "sync", sync, cost=CHEAP, gpu=False, needs_dense=True, needs_audio=True,
               description="mouth motion against speech energy over the dense window (Hershey & Movellan 2000)",
               features=SYNC_PHRASES),
]
