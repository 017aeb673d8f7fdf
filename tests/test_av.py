"""The audio-visual family: speech envelope, mouth motion, lagged correlation, audio reading, neutral missing audio."""
from __future__ import annotations

import numpy as np
import pytest

from features.av import MOUTH, sync
from features.track import DenseWindow
from forensics.av import ENERGY_FLOOR, lagged_correlation, region_motion, speech_envelope


def test_speech_envelope_is_loud_where_the_sound_is_and_floored_in_silence():
    rate, fps = 16000, 25.0
    x = np.zeros(rate * 2, np.float32)
    t = np.arange(rate // 5) / rate
    x[rate // 2: rate // 2 + rate // 5] = 0.5 * np.sin(2 * np.pi * 220 * t)  # 0.5 s to 0.7 s: frames 12.5..17.5
    env = speech_envelope(x, rate, fps=fps, n_frames=60)
    assert env.shape == (60,)
    assert np.allclose(env[:12], np.log10(ENERGY_FLOOR))
    assert np.all(env[13:17] > -0.6)  # RMS of a 0.5 sine is 0.354: log10 = -0.45
    assert np.isnan(env[50:]).all()  # beyond the 2 s of audio


def test_region_motion_follows_the_region_and_sees_change_inside_it():
    rng = np.random.default_rng(0)
    tex = (rng.random((80, 200, 3)) * 255).astype(np.uint8)
    frames = np.stack([tex[:, 4 * k:4 * k + 100] for k in range(10)])  # the scene pans 4 px a frame
    rects = np.array([[40 - 4 * k, 20, 72 - 4 * k, 52] for k in range(10)], float)  # a rect glued to the scene
    still = region_motion(frames, rects)
    fixed = region_motion(frames, np.tile([[40, 20, 72, 52]], (10, 1)).astype(float))
    assert still.shape == (9,) and still.max() < 1.0 < 10 * 1.0 < fixed.min()
    assert np.isnan(region_motion(frames, np.tile([[500, 500, 600, 600]], (10, 1)).astype(float))).all()


def test_lagged_correlation_finds_the_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    b = np.roll(a, 3)  # b[t + 3] = a[t]
    c = lagged_correlation(a, b, max_lag=5)
    assert c.shape == (11,) and int(np.nanargmax(c)) == 5 + 3 and c[8] > 0.97
    assert np.isnan(lagged_correlation(np.ones(50), b[:50], max_lag=2)).all()  # a constant signal


def _talking(m=64, fps=25.0, seed=0, *, shift_audio=0):
    """A grey head whose mouth region brightens and darkens with a syllable rhythm, and its soundtrack: noise
    bursts whose loudness follows the same rhythm (shifted by ``shift_audio`` frames)."""
    rng = np.random.default_rng(seed)
    open_ = (np.sin(np.arange(m + 40) * 2 * np.pi / 7.3) > 0.2).astype(float) * rng.uniform(0.5, 1, m + 40)
    frames = np.full((m, 120, 120, 3), 110, np.uint8)
    box = np.array([30, 20, 90, 100], float)
    mx0, my0 = int(box[0] + MOUTH[0] * 60), int(box[1] + MOUTH[1] * 80)
    mouth_tex = rng.integers(0, 60, (14, 26, 1))
    for t in range(m):
        frames[t, my0 + 2:my0 + 16, mx0 + 2:mx0 + 28] = np.clip(60 + 120 * open_[t] + mouth_tex, 0, 255)
    rate = 16000
    per = rate / fps
    audio = np.zeros(int(m * per), np.float32)
    for t in range(m):
        level = open_[t + shift_audio] if t + shift_audio >= 0 else 0.0
        audio[int(t * per):int((t + 1) * per)] = 0.3 * level * rng.normal(size=int(per))
    return DenseWindow(frames=frames, boxes=np.tile(box, (m, 1)), fps=fps, start_index=0, audio=(audio, rate))


class _Track:
    def __init__(self, dense):
        self.dense = dense


def test_sync_is_high_for_a_mouth_that_moves_with_its_sound_and_drops_when_the_sound_is_shifted():
    synced = sync(_Track(_talking()))
    late = sync(_Track(_talking(shift_audio=40)))  # another stretch of the same rhythm: out of step
    early = sync(_Track(_talking(shift_audio=2)))  # the sound two frames ahead of the mouth
    assert set(synced) == {"sync_peak", "sync_zero", "sync_lag", "speech_motion_ratio"}
    assert synced["sync_peak"] > 0.45 and synced["sync_lag"] == 0.0
    assert late["sync_zero"] < synced["sync_zero"] - 0.3
    assert early["sync_lag"] == pytest.approx(-2 / 25.0) and early["sync_peak"] > 0.45


def test_no_audio_or_no_dense_window_gives_nan_not_an_error():
    d = _talking()
    assert all(np.isnan(v) for v in sync(_Track(DenseWindow(d.frames, d.boxes, d.fps, 0))).values())
    assert all(np.isnan(v) for v in sync(_Track(None)).values())


def test_read_audio_window_places_the_sound_in_time(tmp_path):
    av = pytest.importorskip("av")
    from pipeline.audio import read_audio_window

    path = str(tmp_path / "tone.mp4")
    rate = 16000
    with av.open(path, "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        for _ in range(75):  # 3 s of video
            for p in v.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")):
                out.mux(p)
        sig = np.zeros(3 * rate, np.float32)
        sig[2 * rate:int(2.5 * rate)] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)
        for i in range(0, len(sig), 1024):
            fr = av.AudioFrame.from_ndarray(sig[None, i:i + 1024], format="flt", layout="mono")
            fr.sample_rate = rate
            for p in a.encode(fr):
                out.mux(p)
        for s in (v, a):
            for p in s.encode():
                out.mux(p)
    got = read_audio_window(path, 1.5, 1.0)
    assert got is not None
    x, r = got
    assert r == rate and len(x) == rate
    rms = [float(np.sqrt(np.mean(x[k * rate // 10:(k + 1) * rate // 10] ** 2))) for k in range(10)]
    assert max(rms[:4]) < 0.02 and min(rms[6:9]) > 0.2  # silence until 2.0 s, the tone from 2.0 to 2.5 s
    silent = str(tmp_path / "silent.mp4")
    with av.open(silent, "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        for _ in range(10):
            for p in v.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    assert read_audio_window(silent, 0.0, 0.4) is None


def test_all_leaves_the_audio_family_out_unless_it_is_named():
    from features.registry import select

    assert not any(c.family == "av" for c in select("all")) and not any(c.family == "av" for c in select("fast"))
    assert any(c.family == "av" for c in select("all,av")) and {c.family for c in select("av")} == {"av"}


def _still_talker(m=64, *, brows_move: bool):
    """:func:`_talking`'s head without its soundtrack, optionally with brows that move as much as the mouth."""
    d = _talking(m)
    frames = d.frames.copy()
    if brows_move:
        from forensics.av import UPPER

        bx0, by0 = int(30 + UPPER[0] * 60), int(20 + UPPER[1] * 80)
        rng = np.random.default_rng(5)
        for t in range(m):
            frames[t, by0 + 2:by0 + 18, bx0 + 2:bx0 + 30] = rng.integers(40, 200)
    return DenseWindow(frames=frames, boxes=d.boxes, fps=d.fps, start_index=0)


def test_mouth_motion_needs_no_audio_and_falls_when_the_upper_face_moves_too():
    from features.temporal import MOUTH_FEATURES, mouth_motion

    alone = mouth_motion(_Track(_still_talker(brows_move=False)))
    both = mouth_motion(_Track(_still_talker(brows_move=True)))
    assert set(alone) == set(MOUTH_FEATURES)
    assert all(np.isfinite(v) for v in alone.values())  # no soundtrack, yet measured: missing audio marks nothing
    assert alone["mouth_motion"] > 1.0  # the mouth changes by tens of grey levels, the brows by none
    assert both["mouth_motion"] < alone["mouth_motion"] - 1.0
    assert alone["mouth_motion_q90"] >= alone["mouth_motion"] and alone["mouth_motion_spread"] > 0
    assert all(np.isnan(v) for v in mouth_motion(_Track(None)).values())
    short = _still_talker(m=5, brows_move=False)
    assert all(np.isnan(v) for v in mouth_motion(_Track(short)).values())


def test_sync_and_mouth_motion_measure_the_same_mouth_against_upper_face_ratio():
    from features.temporal import mouth_motion

    d = _talking()
    quiet = mouth_motion(_Track(DenseWindow(d.frames, d.boxes, d.fps, 0)))
    # speech_motion_ratio averages the same per-transition ratio over the loud transitions only
    assert sync(_Track(d))["speech_motion_ratio"] > quiet["mouth_motion"] > 0


def test_all_keeps_mouth_motion_out_until_it_is_measured_in_a_model():
    from features.registry import select

    assert "temporal.mouth" not in [c.key for c in select("all")]
    assert "temporal.mouth" in [c.key for c in select("all,temporal")]
