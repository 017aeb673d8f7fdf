"""Self-blended fake synthesis (forensics/selfblend.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from features import blending as fb
from features.track import build_track
from synthesis.selfblend import (
    SelfBlend,
    blend_contour,
    feathered_mask,
    sample_blend_params,
    self_blend,
    self_blend_frames,
)

H, W = 240, 320
BOX = np.array([110.0, 60.0, 210.0, 180.0])
# eyes, nose, mouth corners of a face in BOX
LANDMARKS = np.array([[138.0, 100.0], [182.0, 100.0], [160.0, 125.0], [142.0, 150.0], [178.0, 150.0]])


def frame(seed=0, noise=5.0):
    """Textured, skin-coloured RGB frame, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 3.0)
    img = np.array([190.0, 140.0, 115.0]) + (base / base.std() * 15.0)[..., None] + rng.normal(0, noise, (H, W, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_outside_the_mask_is_bit_identical_and_inside_changes(seed):
    f = frame(seed)
    rng = np.random.default_rng(seed)
    out = self_blend(f, BOX, LANDMARKS, params=sample_blend_params(rng), rng=rng)
    assert isinstance(out, SelfBlend)
    assert out.frame.dtype == np.uint8 and out.frame.shape == f.shape
    assert out.mask.dtype == np.float32 and out.mask.shape == (H, W)
    outside = out.mask == 0
    assert outside.mean() > 0.5
    assert np.array_equal(out.frame[outside], f[outside])
    core = out.mask > 0.5
    assert core.sum() > 2000
    changed = (out.frame != f).any(axis=-1)
    assert changed[core].mean() > 0.9


def test_same_seed_same_fake_and_other_seed_other_fake():
    frames = np.stack([frame(1), frame(2), frame(3)])
    boxes = np.stack([BOX, BOX + 2, BOX - 3])
    lms = np.stack([LANDMARKS, LANDMARKS + 2, LANDMARKS - 3])
    a = self_blend_frames(frames, boxes, lms, seed=7)
    b = self_blend_frames(frames, boxes, lms, seed=7)
    c = self_blend_frames(frames, boxes, lms, seed=8)
    assert a.frames.shape == frames.shape and a.masks.shape == frames.shape[:3]
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, c.frames)
    for i in range(len(frames)):  # the one-call helper keeps the per-frame guarantee
        out = a.masks[i] == 0
        assert np.array_equal(a.frames[i][out], frames[i][out])


def test_alteration_is_consistent_across_the_frames_of_a_video():
    f = frame(4)
    static = np.repeat(f[None], 6, axis=0)
    # fresh per-frame noise is part of some alterations; look at seeds whose draw has none
    seeds = [s for s in range(20) if sample_blend_params(np.random.default_rng(s))["noise"] == 0][:4]
    for seed in seeds:
        fake = self_blend_frames(static, np.repeat(BOX[None], 6, 0), np.repeat(LANDMARKS[None], 6, 0), seed=seed)
        core = (fake.masks > 0.5).all(axis=0)
        alteration = np.abs(fake.frames[0].astype(float) - f)[core].mean()
        between = np.abs(fake.frames[1:].astype(float) - fake.frames[0])[:, core].mean()
        assert between < 0.35 * alteration, (seed, between, alteration)
        # the mask moves a little from frame to frame, never a lot
        supp = fake.masks > 0
        iou = (supp[0] & supp[1:]).sum(axis=(1, 2)) / (supp[0] | supp[1:]).sum(axis=(1, 2))
        assert np.all(iou > 0.85) and np.any(iou < 1.0)


def test_mask_is_feathered_and_bounded():
    rng = np.random.default_rng(5)
    params = sample_blend_params(rng)
    params["feather"], params["ratio"] = 0.1, 0.75
    m = self_blend(frame(5), BOX, None, params=params, rng=rng).mask
    assert m.min() == 0.0 and m.max() == pytest.approx(0.75, abs=1e-6)
    assert ((m > 0.05) & (m < 0.7)).sum() > 200  # a ramp, not a step
    x0, y0, x1, y1 = BOX
    dx, dy = 0.3 * (x1 - x0), 0.3 * (y1 - y0)
    far = np.ones_like(m, bool)
    far[int(y0 - dy):int(y1 + dy), int(x0 - dx):int(x1 + dx)] = False
    assert (m[far] == 0).all()


def test_feathered_mask_ramps_inwards_from_the_contour():
    theta = np.linspace(-np.pi, np.pi, 200, endpoint=False)
    contour = np.stack([50 + 30 * np.cos(theta), 50 + 30 * np.sin(theta)], axis=1)
    m = feathered_mask(contour, (100, 100), feather_px=10)
    yy, xx = np.mgrid[:100, :100]
    r = np.hypot(yy - 50, xx - 50)
    assert (m[r > 30.5] == 0).all()
    assert (m[r < 19] == 1).all()
    ring = (r > 22) & (r < 28)
    assert (m[ring] > 0).all() and (m[ring] < 1).all()
    # monotone in depth: mean mask falls with radius
    prof = [m[(r >= a) & (r < a + 2)].mean() for a in range(16, 30, 2)]
    assert all(p >= q for p, q in zip(prof, prof[1:]))


def test_hull_mask_follows_the_landmarks_and_falls_back_to_the_ellipse():
    rng = np.random.default_rng(6)
    params = sample_blend_params(rng)
    params.update(mask="hull", scale=1.0, harmonics=np.zeros_like(params["harmonics"]))
    tilted = LANDMARKS.copy()
    tilted[:, 0] += 40  # the landmarks say the face sits 40 px right of the box
    c = blend_contour(BOX, tilted, params=params)
    assert c.mean(axis=0)[0] > (BOX[0] + BOX[2]) / 2 + 25
    nan = np.full((5, 2), np.nan)
    e1 = blend_contour(BOX, nan, params=params)
    params["mask"] = "ellipse"
    e2 = blend_contour(BOX, tilted, params=params)
    np.testing.assert_allclose(e1, e2)  # no landmarks: the box ellipse
    # the ellipse at scale 1 is the track's face ellipse
    np.testing.assert_allclose(e2.mean(axis=0), [(BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2 + 0.05 * 120], atol=1e-6)
    assert np.ptp(e2[:, 0]) == pytest.approx(BOX[2] - BOX[0], rel=0.01)
    assert np.ptp(e2[:, 1]) == pytest.approx(1.2 * (BOX[3] - BOX[1]), rel=0.01)


def test_degenerate_box_leaves_the_frame_alone():
    f = frame(7)
    rng = np.random.default_rng(0)
    out = self_blend(f, (10, 10, 11, 11), None, params=sample_blend_params(rng), rng=rng)
    assert np.array_equal(out.frame, f) and not out.mask.any()
    out = self_blend(f, (-50, -40, 60, 70), None, params=sample_blend_params(rng), rng=rng)  # off the corner
    assert np.array_equal(out.frame[out.mask == 0], f[out.mask == 0])


def test_blending_features_see_a_blurring_self_blend():
    """A self-blend that blurs the face through the track's own ellipse lowers the noise and
    sharpness inside the boundary band relative to outside: planted truth for both halves."""
    f = frame(8, noise=6.0)
    rng = np.random.default_rng(8)
    params = sample_blend_params(rng)
    params.update(mask="ellipse", scale=1.0, harmonics=np.zeros_like(params["harmonics"]), jitter=0.0,
                  sharpen=-1.5, noise=0.0, resample=1.0, feather=0.02, ratio=1.0)
    frames = np.stack([f, self_blend(f, BOX, None, params=params, rng=rng).frame])
    feats = fb.texture(build_track(frames, np.stack([BOX, BOX])))
    real, fake = {k: v[0] for k, v in feats.items()}, {k: v[1] for k, v in feats.items()}
    assert abs(real["noise_band"]) < 0.2 and fake["noise_band"] < real["noise_band"] - 0.5
    assert fake["lap_band"] < real["lap_band"] - 0.3
