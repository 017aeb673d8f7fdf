"""Audio reading for the audio-visual family: the soundtrack under a window of video frames.

One function, called by the pipeline only when a selected calculator needs audio
(:attr:`features.registry.Calculator.needs_audio`). A video without an audio
stream, or one whose audio does not decode, gives ``None``: the audio-visual
features are then NaN and the video's status stays ``ok`` (missing audio is
neutral, never evidence).
"""
from __future__ import annotations

import numpy as np

__all__ = ["read_audio_window", "AUDIO_RATE"]

#: samples per second of the mono signal handed to the features (speech energy needs no more)
AUDIO_RATE = 16000


def read_audio_window(path: str, start_s: float, duration_s: float, *, rate: int = AUDIO_RATE):
    """Mono float32 samples in [-1, 1] of ``path``'s first audio stream from ``start_s`` for ``duration_s``.

    Returns ``(samples, rate)`` with sample 0 at ``start_s`` (zeros before the stream's first sample),
    or ``None`` when the file has no audio stream or it does not decode. Seeks (to the key frame before
    ``start_s``) only when the window starts more than 5 s in.
    """
    import av  # deferred: only the audio-visual family needs it

    try:
        with av.open(path, mode="r") as cont:
            if not cont.streams.audio:
                return None
            stream = cont.streams.audio[0]
            if start_s > 5.0:
                cont.seek(int((start_s - 1.0) * av.time_base), any_frame=False)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            n_want = int(round(duration_s * rate))
            out = np.zeros(n_want, np.float32)
            filled = 0
            end_s = start_s + duration_s
            for frame in cont.decode(stream):
                if frame.time is not None and frame.time > end_s:
                    break
                for rf in resampler.resample(frame):
                    t = rf.time if rf.time is not None else (frame.time or 0.0)
                    x = rf.to_ndarray().reshape(-1)
                    i0 = int(round((t - start_s) * rate))
                    a, b = max(i0, 0), min(i0 + len(x), n_want)
                    if b > a:
                        out[a:b] = x[a - i0:b - i0]
                        filled += b - a
            return (out, rate) if filled > n_want // 2 else None
    except Exception:  # noqa: BLE001 - unreadable audio is missing audio, never a failed video
        return None
