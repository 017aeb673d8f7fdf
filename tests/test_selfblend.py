"""Self-blended fake synthesis (synthesis/selfblend.py)."""
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


# ----------------------------------------------------------------------------- regions, rims, generator

from synthesis.selfblend import (  # noqa: E402
    PROFILES,
    REGIONS,
    box_landmarks,
    generator_frames,
    region_points,
    render_lowres,
    sample_generator_params,
    sample_region_params,
    transposed_upsample,
)

NOSE_Y, MOUTH_Y, EYE_Y = LANDMARKS[2, 1], LANDMARKS[3, 1], LANDMARKS[0, 1]


def neutral(params, **kw):
    """Region params with the random shape switched off (scale 1, no stretch, turn, shift or wobble)."""
    params.update(scale=1.0, aspect=1.0, angle=0.0, mask_shift=np.zeros(2), jitter=0.0,
                  harmonics=np.zeros_like(params["harmonics"]), **kw)
    return params


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("seed", range(4))
def test_region_and_generator_blends_keep_the_outside_bit_identical(region, seed):
    f = frame(seed)
    for sampler in (sample_region_params, sample_generator_params):
        rng = np.random.default_rng(seed)
        params = sampler(rng, region=region)
        out = self_blend(f, BOX, LANDMARKS, params=params, rng=rng)
        outside = out.mask == 0
        assert np.array_equal(out.frame[outside], f[outside])
        assert out.mask.max() <= 1.0 and out.mask.max() > 0.3
        # the mask is exact: where it is 1 nothing of the original is left, where 0 < m < 1 a mix
        changed = (out.frame != f).any(axis=-1)
        assert changed[out.mask > 0.5].mean() > 0.5


def test_lower_region_lies_below_the_nose_and_eyes_region_above_the_mouth():
    rng = np.random.default_rng(0)
    for lms in (LANDMARKS, None):  # without landmarks: typical positions in the box
        ref = LANDMARKS if lms is not None else box_landmarks(BOX)
        nose_y, mouth_y = ref[2, 1], ref[3, 1]
        p = neutral(sample_region_params(rng, region="lower"), top=0.1, profile="linear", feather=0.02)
        m = self_blend(frame(1), BOX, lms, params=p, rng=rng).mask
        ys, xs = np.nonzero(m)
        assert ys.min() > nose_y and ys.max() > mouth_y + 10
        for x, y in ref[3:]:  # both mouth corners are inside, well within
            assert m[int(y), int(x)] > 0.5
        for x, y in ref[:2]:
            assert m[int(y), int(x)] == 0
        p = neutral(sample_region_params(rng, region="eyes"), profile="linear", feather=0.02)
        m = self_blend(frame(1), BOX, lms, params=p, rng=rng).mask
        ys, xs = np.nonzero(m)
        for x, y in ref[:3]:  # eyes and nose in, mouth out
            assert m[int(y), int(x)] > 0.5
        assert ys.max() < mouth_y and ys.min() < ref[0, 1] - 5


def test_region_points_follow_head_roll():
    c = LANDMARKS.mean(axis=0)
    a = np.deg2rad(30)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    turned = (LANDMARKS - c) @ rot.T + c
    for region in REGIONS:
        np.testing.assert_allclose(region_points(turned, region), (region_points(LANDMARKS, region) - c) @ rot.T + c,
                                   atol=1e-9)
    with pytest.raises(ValueError):
        region_points(LANDMARKS, "ears")


def test_masks_vary_in_size_shape_feather_position_and_rim():
    f = frame(2)
    areas, ramps, centres, profiles, feathers = [], [], [], set(), []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        p = sample_region_params(rng, region="face")
        m = self_blend(f, BOX, LANDMARKS, params=p, rng=rng).mask
        supp = m > 0
        areas.append(supp.sum())
        ramps.append(((m > 0) & (m < 0.99 * m.max())).sum() / supp.sum())
        centres.append(np.argwhere(supp).mean(axis=0))
        profiles.add(p["profile"])
        feathers.append(p["feather"])
    assert max(areas) > 1.8 * min(areas)
    assert min(ramps) < 0.15 and max(ramps) > 0.6  # from a near step to a rim that is all ramp
    assert np.ptp(np.array(centres), axis=0).min() > 8  # the mask's centre moves, in x and in y
    assert profiles == set(PROFILES)
    assert max(feathers) > 8 * min(feathers)


def test_rim_profiles_order_and_the_blurred_rim_crosses_the_contour():
    theta = np.linspace(-np.pi, np.pi, 200, endpoint=False)
    contour = np.stack([60 + 30 * np.cos(theta), 60 + 30 * np.sin(theta)], axis=1)
    yy, xx = np.mgrid[:120, :120]
    r = np.hypot(yy - 60, xx - 60)
    m = {p: feathered_mask(contour, (120, 120), feather_px=12, profile=p, ratio=0.8) for p in PROFILES}
    for p, v in m.items():
        assert v.dtype == np.float32 and v.min() == 0 and v.max() == pytest.approx(0.8, abs=1e-6), p
        assert np.allclose(v[r < 15], 0.8, atol=1e-3), p
    ring = (r > 21) & (r < 27)
    assert (m["convex"][ring] < m["linear"][ring]).all() and (m["linear"][ring] < m["concave"][ring]).all()
    for p in ("smoothstep", "linear", "convex", "concave"):
        assert (m[p][r > 30.5] == 0).all()
    assert (m["blur"][(r > 31) & (r < 34)] > 0).all()  # Face X-ray's blurred edge reaches outside
    assert (m["blur"][r > 30 + 1.3 * 12] == 0).all()  # but its support stays compact
    with pytest.raises(ValueError):
        feathered_mask(contour, (120, 120), feather_px=12, profile="zigzag")


def test_transposed_upsampling_leaves_the_predicted_checkerboard():
    flat = np.full((8, 8, 1), 100.0, np.float32)
    up = transposed_upsample(flat, factor=2, delta=0.05)[2:-2, 2:-2, 0]
    assert up.shape == (12, 12)
    np.testing.assert_allclose(up[::2, ::2], 100 * 1.05 ** 2, rtol=1e-5)
    np.testing.assert_allclose(up[1::2, 1::2], 100 * 0.95 ** 2, rtol=1e-5)
    np.testing.assert_allclose(up[::2, 1::2], 100 * 1.05 * 0.95, rtol=1e-5)
    # delta 0 is bilinear: a linear ramp stays exactly linear inside
    ramp = np.tile(np.arange(8, dtype=np.float32)[None, :, None], (8, 1, 1))
    lin = transposed_upsample(ramp, factor=4, delta=0.0)[8:-8, 8:-8, 0]
    np.testing.assert_allclose(np.diff(lin, axis=1), 0.25, atol=1e-5)
    with pytest.raises(ValueError):
        transposed_upsample(flat, factor=3, delta=0.0)


def _nyquist_peak(img):
    """Power at the 2x2 checkerboard frequency over the median power of the high-frequency band
    (about 1 for noise-like texture, large for a checkerboard)."""
    g = img.mean(axis=-1) - img.mean()
    h, w = g.shape
    g = g * np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
    fy, fx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(h)), np.fft.fftshift(np.fft.fftfreq(w)), indexing="ij")
    band = np.maximum(np.abs(fy), np.abs(fx)) > 0.3
    return p[0, 0] / np.median(p[band])  # fftshift puts (-1/2, -1/2), the Nyquist corner, at [0, 0]


def test_render_lowres_loses_detail_and_transposed_adds_a_checkerboard():
    rng = np.random.default_rng(0)
    region = (128 + 30 * rng.normal(0, 1, (128, 128, 1)) + np.zeros((1, 1, 3))).astype(np.float32)
    bil = render_lowres(region, face_size=256, size=64, upsample="bilinear")
    tr = render_lowres(region, face_size=256, size=64, upsample="transposed", delta=0.05)
    assert bil.shape == tr.shape == region.shape
    hf = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert hf(bil) < 0.3 * hf(region)
    assert _nyquist_peak(tr) > 20 * _nyquist_peak(bil)
    smooth = render_lowres(region, face_size=100, size=128, smooth=30.0, smooth_space=2.0)  # small face: no resampling
    assert smooth.shape == region.shape and hf(smooth) < hf(region)
    assert np.array_equal(render_lowres(region, face_size=100, size=128), region)


def test_generator_frames_are_consistent_and_deterministic():
    f = frame(9, noise=8.0)
    static = np.repeat(f[None], 4, axis=0)
    boxes, lms = np.repeat(BOX[None], 4, 0), np.repeat(LANDMARKS[None], 4, 0)
    for seed in range(3):
        a = generator_frames(static, boxes, lms, seed=seed)
        b = generator_frames(static, boxes, lms, seed=seed)
        assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
        out = a.masks == 0
        assert np.array_equal(a.frames[out], static[out])
        core = (a.masks > 0.5).all(axis=0)
        assert core.sum() > 300
        between = np.abs(a.frames[1:].astype(float) - a.frames[0])[:, core].mean()
        alteration = np.abs(a.frames[0].astype(float) - f)[core].mean()
        assert between < 0.35 * alteration  # one alteration for the video, only the rim jitters


def test_lower_face_generator_re_renders_the_mouth_and_leaves_the_eyes_untouched():
    """``generator:lower`` (the lip-sync-like fake): every draw covers both mouth corners and
    never reaches the eyes; the frame above the mask's top row is bit-identical."""
    f = frame(3, noise=8.0)
    static = np.repeat(f[None], 3, axis=0)
    boxes, lms = np.repeat(BOX[None], 3, 0), np.repeat(LANDMARKS[None], 3, 0)
    eye_y = LANDMARKS[:2, 1].max()
    for seed in range(10):
        out = generator_frames(static, boxes, lms, seed=seed, region="lower")
        for m, g in zip(out.masks, out.frames):
            ys, _ = np.nonzero(m)
            assert ys.min() > eye_y
            assert all(m[int(y), int(x)] == 0 for x, y in LANDMARKS[:2])
            assert all(m[int(y), int(x)] > 0.1 for x, y in LANDMARKS[3:])
            assert np.array_equal(g[: ys.min()], f[: ys.min()])
            assert (g[m > 0.5] != f[m > 0.5]).any(axis=-1).mean() > 0.5


@pytest.mark.parametrize("upsample", ["bilinear", "transposed"])
def test_a_face_rendered_at_64_px_loses_its_fine_detail_or_gains_a_checkerboard(upsample):
    big = cv2.resize(frame(10, noise=0.0), (2 * W, 2 * H), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big + np.random.default_rng(0).normal(0, 8, big.shape), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(1)
    p = neutral(sample_generator_params(rng), profile="linear", feather=0.05, ratio=1.0)
    p["render"].update(size=64, upsample=upsample, smooth=0.0, delta=0.03)
    out = self_blend(big, 2 * BOX, 2 * LANDMARKS, params=p, rng=rng)
    core = out.mask == 1.0
    assert core.sum() > 5000

    def detail(x):  # mid-band detail: blurred first, so a Nyquist checkerboard does not count
        g = cv2.GaussianBlur(x.mean(axis=-1).astype(np.float32), (0, 0), 1.0)
        return np.abs(cv2.Laplacian(g, cv2.CV_32F))[core].mean()

    if upsample == "bilinear":  # (a transposed convolution adds its own periodic detail: next check)
        assert detail(out.frame) < 0.5 * detail(big)
    y, x = np.argwhere(core).mean(axis=0).astype(int) - 24
    assert core[y:y + 48, x:x + 48].all()
    crop = lambda a: a[y:y + 48, x:x + 48].astype(np.float32)  # noqa: E731
    ratio = _nyquist_peak(crop(out.frame)) / _nyquist_peak(crop(big))
    assert (ratio > 20) == (upsample == "transposed"), ratio


def test_region_params_keep_the_original_alteration_draw():
    for seed in range(5):
        a = sample_blend_params(np.random.default_rng(seed))
        b = sample_region_params(np.random.default_rng(seed), region="lower")
        for k in ("gain", "offset", "contrast", "sharpen", "src_scale", "src_shift", "interp", "resample", "noise",
                  "ratio", "jitter"):
            np.testing.assert_array_equal(a[k], b[k])
        assert "region" not in a and b["region"] == "lower"
    with pytest.raises(ValueError):
        sample_region_params(np.random.default_rng(0), region="ears")
