"""Tests of the ``temporal`` family: region sums, flicker, jitter and the rPPG pulse."""
from __future__ import annotations

import math

import numpy as np
import pytest

from features import temporal as ft
from features.aggregate import run_calculators
from features.registry import select
from features.track import DenseWindow, build_track
from forensics import rppg, temporal
from forensics.backend import cupy_usable

SKIN = np.array([190.0, 140.0, 115.0])
#: relative blood-volume pulse signature (green strongest)
PULSE_RGB = np.array([0.33, 0.77, 0.53]) / 0.77


def _smooth_noise(rng, shape, sigma):
    import scipy.ndimage as ndi

    x = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    return x / (x.std() + 1e-12)


def synth_video(m=128, fps=30.0, h=180, w=320, *, move=True, noise=2.0, pulse_hz=None, pulse_amp=0.01,
                face_gain=None, frame_gain=None, face_blur=None, seed=0):
    """A textured face ellipse on a textured background, moving with its box.

    ``face_gain`` / ``frame_gain``: (m,) or (m, 3) multipliers of the face pixels / whole
    frame; ``face_blur``: (m,) bools, blur the face in those frames; ``pulse_hz``: a
    skin-colour pulse of relative amplitude ``pulse_amp``.
    """
    import cv2

    rng = np.random.default_rng(seed)
    t = np.arange(m) / fps
    bg = 100 + 30 * _smooth_noise(rng, (h, w, 3), 3)
    bw, bh = 80.0, 100.0
    cx = w / 2 + (15 * np.sin(2 * np.pi * 0.25 * t) if move else 0 * t)
    cy = h / 2 + (5 * np.sin(2 * np.pi * 0.17 * t + 1) if move else 0 * t)
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    tex = 1 + 0.08 * _smooth_noise(rng, (h, w), 2)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((m, h, w, 3), np.uint8)
    for i in range(m):
        dx, dy = int(round(cx[i] - w / 2)), int(round(cy[i] - h / 2))
        ell = ((xx - cx[i]) / (bw / 2)) ** 2 + ((yy - cy[i]) / (bh * 0.6)) ** 2 <= 1
        skin = SKIN * np.roll(tex, (dy, dx), axis=(0, 1))[..., None]
        if pulse_hz is not None:
            skin = skin * (1 + pulse_amp * np.sin(2 * np.pi * pulse_hz * t[i]) * PULSE_RGB)
        if face_blur is not None and face_blur[i]:
            skin = cv2.GaussianBlur(skin, (0, 0), 1.5)
        if face_gain is not None:
            skin = skin * np.asarray(face_gain[i])
        img = np.where(ell[..., None], skin, bg)
        if frame_gain is not None:
            img = img * np.asarray(frame_gain[i])
        if noise:
            img = img + noise * rng.standard_normal(img.shape)
        frames[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return frames, boxes


def make_track(frames, boxes, fps=30.0, *, landmarks=None, n_sparse=4, xp=np):
    """A sparse track of ``n_sparse`` frames with the whole clip as its dense window."""
    idx = np.linspace(0, len(frames) - 1, n_sparse).round().astype(int)
    dense = DenseWindow(frames=frames, boxes=boxes, fps=fps, start_index=0, scale=1.0)
    lm = None if landmarks is None else landmarks[idx]
    return build_track(frames[idx], boxes[idx], landmarks=lm, frame_index=idx, fps=fps, xp=xp, dense=dense,
                       size=64)


def alternating(m, amp, channels=(1.0, 1.0, 1.0)):
    """Per-frame gains 1 +- amp with a random sign pattern, shaped (m, 3)."""
    sign = np.where(np.random.default_rng(1).random(m) < 0.5, -1.0, 1.0)
    return 1 + amp * sign[:, None] * np.asarray(channels)[None, :]


# --------------------------------------------------------------------------- region sums


def test_region_sums_integer_rects_equal_slicing():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (3, 20, 30, 3)).astype(np.uint8)
    rects = np.array([[[2, 3, 12, 9], [0, 0, 30, 20], [25, 15, 40, 30]]] * 3, float)
    rs = temporal.region_sums(img, rects)
    f = img.astype(np.float64)
    np.testing.assert_allclose(rs.sums[:, 0], f[:, 3:9, 2:12].sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(rs.sums[:, 1], f.sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(rs.sums[:, 2], f[:, 15:, 25:].sum(axis=(1, 2)), rtol=1e-5)  # clipped at the border
    np.testing.assert_allclose(rs.area, [[60, 600, 25]] * 3)


def test_region_sums_fractional_edges():
    # pixel i of a ramp holds i (it spans [i, i + 1)): the weighted mean over [a, b) is the mean of floor(x)
    def floor_integral(x):
        k = math.floor(x)
        return k * (k - 1) / 2 + k * (x - k)

    ramp = np.broadcast_to(np.arange(40.0)[None, None, :], (2, 10, 40))
    rects = np.array([[[2.5, 0, 7.5, 10]], [[3.25, 1.5, 20.0, 4.0]]])
    rs = temporal.region_sums(ramp, rects)
    want = [(floor_integral(b) - floor_integral(a)) / (b - a) for a, b in ((2.5, 7.5), (3.25, 20.0))]
    assert want[0] == 4.5
    np.testing.assert_allclose(rs.sums[:, 0, 0] / rs.area[:, 0], want, rtol=1e-6)
    np.testing.assert_allclose(rs.area[:, 0], [50.0, 16.75 * 2.5])
    # float32 and float64 agree
    rs32 = temporal.region_sums(ramp.astype(np.float32), rects)
    np.testing.assert_allclose(rs32.sums, rs.sums, rtol=1e-5)


def test_box_fraction_rects():
    boxes = np.array([[10.0, 20.0, 50.0, 100.0]])
    r = temporal.box_fraction_rects(boxes, [(0, 0, 1, 1), (-0.5, 0.25, 1.5, 0.5)])
    np.testing.assert_allclose(r[0], [[10, 20, 50, 100], [-10, 40, 70, 60]])


def test_detail_energy_planted():
    flat = np.full((2, 8, 8), 7.0)
    e = temporal.detail_energy(flat)
    assert e.gradient.shape == (2, 7, 7) and not e.gradient.any() and not e.residual.any()
    ramp = np.broadcast_to(3.0 * np.arange(8.0), (1, 8, 8))  # a ramp has gradient but no HH residual
    e = temporal.detail_energy(ramp)
    np.testing.assert_allclose(e.gradient, 9.0)
    np.testing.assert_allclose(e.residual, 0.0, atol=1e-12)
    checker = ((np.indices((8, 8)).sum(axis=0) % 2) * 2.0)[None]  # +-1 checkerboard: HH = 4^2
    np.testing.assert_allclose(temporal.detail_energy(checker).residual, 16.0)


# --------------------------------------------------------------------------- temporal activity, jitter


def test_temporal_activity_constant_and_planted():
    act = temporal.temporal_activity(np.full((2, 50), 3.0))
    assert np.all(act.d1 == 0) and np.all(act.d2 == 0) and np.all(act.hf_share == 0)
    t = np.arange(64)
    slow = np.sin(2 * np.pi * t / 32)  # 1/32 cycle per frame: low frequency
    fast = np.sin(2 * np.pi * t * 0.4)  # 0.4 cycle per frame: flicker
    act = temporal.temporal_activity(np.stack([slow, fast]))
    assert act.hf_share[0] < 0.01 and act.hf_share[1] > 0.95
    assert act.d2[1] > 20 * act.d2[0]
    # a linear trend has no second difference and no detrended power
    act = temporal.temporal_activity(0.5 * t)
    assert act.d2 == 0 and act.hf_share < 1e-20 and act.d1 == pytest.approx(0.5)


def test_box_jitter_linear_is_zero_and_noise_is_not():
    t = np.arange(40.0)
    lin = np.stack([10 + t, 20 + 0.5 * t, 60 + 2 * t, 80 + 1.5 * t], axis=1)
    bj = temporal.box_jitter(lin)
    assert abs(bj.position) < 1e-12
    noisy = lin + np.random.default_rng(0).normal(0, 1.0, lin.shape)
    assert temporal.box_jitter(noisy).position > 0.005


def test_landmark_jitter():
    rng = np.random.default_rng(0)
    base = rng.uniform(20, 40, (1, 5, 2))
    t = np.arange(10.0)[:, None, None]
    smooth = base + 0.3 * t  # drifting rigidly at constant speed: no jitter
    lj = temporal.landmark_jitter(smooth, size=64)
    assert np.isnan(lj.position[0]) and np.isnan(lj.position[-1])
    np.testing.assert_allclose(lj.position[1:-1], 0.0, atol=1e-12)
    np.testing.assert_allclose(lj.shape[1:-1], 0.0, atol=1e-12)
    noisy = smooth + rng.normal(0, 1.0, smooth.shape)
    lj2 = temporal.landmark_jitter(noisy, size=64)
    assert np.all(lj2.position[1:-1] > 0.005) and np.all(lj2.shape[1:-1] > 0.01)
    # scaling the whole shape changes placement but not shape
    scaled = base * (1 + 0.05 * t)
    lj3 = temporal.landmark_jitter(scaled * (1 + 0.02 * np.sin(t)), size=64)
    assert np.nanmax(lj3.shape) < 1e-9 < np.nanmax(lj3.position)


# --------------------------------------------------------------------------- rPPG


@pytest.mark.parametrize("method", ["chrom", "pos"])
def test_pulse_methods_find_planted_rate(method):
    fps, m = 30.0, 128
    t = np.arange(m) / fps
    rng = np.random.default_rng(0)
    rgb = SKIN * (1 + 0.005 * np.sin(2 * np.pi * 1.2 * t)[:, None] * PULSE_RGB)
    rgb = rgb * (1 + 0.1 * t / t[-1])[:, None]  # slow intensity drift
    rgb = rgb + rng.normal(0, 0.05, rgb.shape)
    pulse = (rppg.chrom_pulse if method == "chrom" else rppg.pos_pulse)(rgb, fps=fps)
    peak = rppg.spectral_peak(rppg.pulse_spectrum(pulse, fps=fps))
    assert abs(float(peak.frequency) - 1.2) <= 0.1
    assert float(peak.share) > 0.8


def test_band_coherence():
    rng = np.random.default_rng(0)
    fps, m = 30.0, 128
    t = np.arange(m) / fps
    a = np.sin(2 * np.pi * 1.5 * t)
    sa, sb = (rppg.pulse_spectrum(x, fps=fps).spectrum for x in (a, 3 * np.sin(2 * np.pi * 1.5 * t + 0.7)))
    assert rppg.band_coherence(sa, sb) > 0.99
    n1, n2 = (rppg.pulse_spectrum(rppg.bandpass(rng.standard_normal(m), fps=fps), fps=fps).spectrum for _ in range(2))
    assert rppg.band_coherence(n1, n2) < 0.6


@pytest.mark.parametrize("m,fps", [(128, 30.0), (64, 25.0)])
def test_rppg_feature_finds_planted_pulse(m, fps):
    frames, boxes = synth_video(m=m, fps=fps, pulse_hz=1.2, pulse_amp=0.01, noise=2.0)
    out = ft.rppg(make_track(frames, boxes, fps))
    assert abs(float(out["pulse_rate"]) - 1.2) <= 0.1
    assert float(out["pulse_rate_spread"]) <= 0.1
    assert float(out["pulse_coherence"]) > 0.9
    assert float(out["pulse_share_regions"]) > 0.7
    # the same video without a pulse: no sharp peak, no coherence
    frames0, _ = synth_video(m=m, fps=fps, pulse_hz=None, noise=2.0)
    out0 = ft.rppg(make_track(frames0, boxes, fps))
    assert float(out0["pulse_share_regions"]) < float(out["pulse_share_regions"]) - 0.2
    assert float(out0["pulse_coherence"]) < float(out["pulse_coherence"]) - 0.2


def test_rppg_survives_global_colour_flicker():
    m, fps = 128, 30.0
    gains = alternating(m, 0.02, channels=(1.0, 0.5, -0.5))  # white-balance flicker of the whole frame
    frames, boxes = synth_video(m=m, fps=fps, pulse_hz=1.2, noise=2.0, frame_gain=gains)
    out = ft.rppg(make_track(frames, boxes, fps))
    assert abs(float(out["pulse_rate"]) - 1.2) <= 0.1


# --------------------------------------------------------------------------- flicker features


def test_static_clip_has_zero_flicker():
    frames, boxes = synth_video(m=32, move=False, noise=0.0)
    assert (frames == frames[0]).all()
    track = make_track(frames, boxes)
    out = {**ft.flicker(track), **ft.box_motion(track)}
    assert set(out) == set(ft.FLICKER_FEATURES) | set(ft.BOX_FEATURES)
    for k, v in out.items():
        assert float(v) == pytest.approx(0.0, abs=1e-9), k


@pytest.mark.parametrize("kind", ["luma", "chroma_rg", "detail"])
def test_face_only_flicker_raises_flicker_whole_frame_does_not(kind):
    m = 48
    none, _ = synth_video(m=m, move=False, noise=0.0)
    if kind == "luma":
        gains = alternating(m, 0.03)
        face, boxes = synth_video(m=m, move=False, noise=0.0, face_gain=gains)
        whole, _ = synth_video(m=m, move=False, noise=0.0, frame_gain=gains)
    elif kind == "chroma_rg":
        gains = alternating(m, 0.03, channels=(1.0, 0.0, 0.0))
        face, boxes = synth_video(m=m, move=False, noise=0.0, face_gain=gains)
        whole, _ = synth_video(m=m, move=False, noise=0.0, frame_gain=gains)
    else:
        blur = alternating(m, 1.0)[:, 0] > 1
        face, boxes = synth_video(m=m, move=False, noise=0.0, face_blur=blur)
        whole = None
    f_face = ft.flicker(make_track(face, boxes))
    f_none = ft.flicker(make_track(none, boxes))
    key = f"{kind}_d2"
    assert float(f_face[key]) > 0.005
    assert float(f_none[key]) == 0.0
    assert float(f_face[f"{kind}_hf"]) > 0.5
    if kind == "luma":
        assert float(f_face["flicker"]) > 3.0
    if kind == "detail":
        assert float(f_face["flicker_detail"]) > 3.0
        assert float(f_face["luma_d2"]) < 0.2 * float(f_face["detail_d2"])
    if whole is not None:
        f_whole = ft.flicker(make_track(whole, boxes))
        assert float(f_whole[key]) < 0.05 * float(f_face[key])
        if kind == "luma":
            assert abs(float(f_whole["flicker"])) < 0.2
            assert float(f_whole["luma_d2"]) < 0.05 * float(f_face["luma_d2"])


def test_flicker_is_small_on_a_moving_clean_face():
    # head motion (slow) must not look like flicker
    frames, boxes = synth_video(m=64, move=True, noise=0.0)
    gains = alternating(64, 0.03)
    frames_f, _ = synth_video(m=64, move=True, noise=0.0, face_gain=gains)
    clean, flick = ft.flicker(make_track(frames, boxes)), ft.flicker(make_track(frames_f, boxes))
    assert float(flick["luma_d2"]) > 5 * float(clean["luma_d2"])


# --------------------------------------------------------------------------- missing data, registry


def test_missing_or_short_dense_window_gives_nan():
    frames, boxes = synth_video(m=40, move=False, noise=1.0)
    no_dense = build_track(frames[:3], boxes[:3], size=64)
    short = make_track(frames[:6], boxes[:6], n_sparse=3)
    mid = make_track(frames[:20], boxes[:20], n_sparse=3)  # enough for flicker, too short for the pulse
    for track in (no_dense, short):
        for calc in (ft.flicker, ft.rppg, ft.box_motion):
            assert all(math.isnan(float(v)) for v in calc(track).values())
    assert all(math.isnan(float(v)) for v in ft.rppg(mid).values())
    assert all(np.isfinite(float(v)) for v in ft.flicker(mid).values())


def test_background_too_small_gives_nan_flicker_but_pulse_runs():
    m = 64
    frames, boxes = synth_video(m=m, h=60, w=60, move=False, noise=1.0, pulse_hz=1.2)
    big = np.tile([[-5.0, -5.0, 65.0, 65.0]], (m, 1))  # surround covers the whole frame
    out = {**ft.flicker(make_track(frames, big)), **ft.rppg(make_track(frames, big))}
    assert math.isnan(float(out["luma_d2"])) and math.isnan(float(out["flicker"]))
    assert np.isfinite(float(out["pulse_share"]))


def test_registry_and_aggregation():
    calcs = select("temporal")
    assert {c.name for c in calcs} == {"flicker", "rppg", "box", "mouth", "landmarks"}
    assert all(c.needs_dense for c in calcs if c.name != "landmarks")
    frames, boxes = synth_video(m=64, noise=2.0, pulse_hz=1.2)
    lm = np.stack([boxes[:, None, :2] + np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
                   * (boxes[:, None, 2:] - boxes[:, None, :2])], axis=0)[0]
    row, errors = run_calculators(make_track(frames, boxes, landmarks=lm, n_sparse=6), calcs)
    assert not errors
    assert "temporal__pulse_rate__value" in row and "temporal__lm_jitter__mean" in row
    assert "temporal__mouth_motion__value" in row
    assert row["temporal__lm_jitter__mean"] < 0.01  # landmarks move rigidly with the box
    assert all(np.isfinite(v) for v in row.values())


# --------------------------------------------------------------------------- GPU parity


@pytest.mark.gpu
def test_numpy_cupy_agree():
    cupy = pytest.importorskip("cupy")
    if not cupy_usable():
        pytest.skip("no usable CUDA device")
    frames, boxes = synth_video(m=64, noise=2.0, pulse_hz=1.2, face_gain=alternating(64, 0.01))
    lm = np.tile(np.array([[30.0, 40.0], [50, 40], [40, 50], [32, 60], [48, 60]]), (64, 1, 1))
    lm = lm + np.random.default_rng(0).normal(0, 0.5, lm.shape) + boxes[:, None, :2]
    calcs = select("temporal")
    row_np, e1 = run_calculators(make_track(frames, boxes, landmarks=lm, n_sparse=6), calcs)
    row_cp, e2 = run_calculators(make_track(frames, boxes, landmarks=lm, n_sparse=6, xp=cupy), calcs)
    assert not e1 and not e2 and row_np.keys() == row_cp.keys()
    for k in row_np:
        assert row_cp[k] == pytest.approx(row_np[k], rel=1e-3, abs=1e-6), k
