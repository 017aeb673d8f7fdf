"""forensics/contour.py: planted seams, invariances, precision, backends."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from forensics import contour as C
from forensics.backend import cupy_usable

S = 256
T = 2
#: face ellipse in crop pixels (cy, cx, ay, ax), centred so that flips and transposes map it onto itself
ELL = np.array([[(S - 1) / 2, (S - 1) / 2, 70.0, 70.0]] * T)
SEAM = 0.85  # the planted seam lies on the face ellipse scaled by this (one of DEFAULT_GRID.scales)


def texture(seed, *, noise=5.0, blur=0.0, t=T):
    """Smooth random structure plus white noise, skin-ish RGB, float64 (t, S, S, 3)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (S, S)).astype(np.float32), (0, 0), 3.0)
    img = np.array([190.0, 140.0, 115.0]) + (base / base.std() * 12.0)[..., None] * np.array([1.0, 0.8, 0.7])
    img = np.repeat(img[None], t, axis=0)
    img = img + rng.normal(0, noise, img.shape)
    if blur > 0:
        img = np.stack([cv2.GaussianBlur(f, (0, 0), blur) for f in img])
    return img


def seam_mask(scale=SEAM, feather=0.0):
    yy, xx = np.mgrid[0:S, 0:S]
    r = np.hypot((yy - ELL[0, 0]) / ELL[0, 2], (xx - ELL[0, 1]) / ELL[0, 3])
    if feather <= 0:
        m = (r <= scale).astype(np.float64)
    else:
        m = np.clip((scale - r) / feather, 0, 1)
    return np.repeat(m[None], T, axis=0)


def features(rgb, ellipse=ELL, grid=C.DEFAULT_GRID):
    xp = np
    maps = C.measurement_maps(rgb, sigmas=grid.sigmas)
    smp, valid, pr = C.sample_profiles(maps, xp.asarray(ellipse), grid)
    return C.profile_features(smp, valid, pr, grid)


def curve(scale, grid=C.DEFAULT_GRID):
    return int(np.argmin(np.abs(np.asarray(grid.scales) - scale)))


def test_pasted_blurred_face_is_flagged_on_its_seam_and_nowhere_else():
    outer = texture(1, noise=6.0)
    inner = texture(2, noise=1.0, blur=1.0) + np.array([8.0, -4.0, -4.0])  # smoother, quieter, redder
    m = seam_mask()[..., None]
    f = features(outer * (1 - m) + inner * m)
    f0 = features(outer)
    k = curve(SEAM)
    noise = f["d_noise_s0_1"]  # log noise inside - outside at the middle offset
    # about log(1/6) on the seam, at every angle; local estimates from ~15 pixels scatter by ~0.2
    assert np.all(noise[:, k] < -0.8) and np.median(noise[:, k]) < -1.2, noise[:, k].max()
    others = [i for i in range(len(C.DEFAULT_GRID.scales)) if abs(C.DEFAULT_GRID.scales[i] - SEAM) > 0.15]
    assert np.median(np.abs(noise[:, others])) < 0.25 and np.quantile(np.abs(noise[:, others]), 0.95) < 0.75
    assert np.median(np.abs(f0["d_noise_s0_1"])) < 0.25  # the untouched image: no seam anywhere
    cr = f["d_cr_s1_1"]
    # +8 R, -4 G, -4 B is +6 in Cr; the window (3 px) and offset (4 px) see part of it
    assert np.median(cr[:, k]) > 4.0 and np.quantile(np.abs(cr[:, others]), 0.95) < 2.5, (
        np.median(cr[:, k]), np.quantile(np.abs(cr[:, others]), 0.95))
    # control-normalised: the seam stands out by far against the control curves' typical contrast
    assert np.median(np.abs(f["d_noise_s0_1@ctl"][:, k])) > 5 * np.median(np.abs(f["d_noise_s0_1@ctl"][:, others]))


def test_feathered_blend_of_independent_noises_dips_the_noise_on_the_seam():
    # M A + (1 - M) B of two independent noises of equal sigma: sigma * sqrt(M^2 + (1-M)^2), lowest at M = 1/2
    a, b = texture(3, noise=8.0), texture(4, noise=8.0)
    m = seam_mask(scale=SEAM, feather=0.12)[..., None]
    f = features(a * m + b * (1 - m))
    grid = C.DEFAULT_GRID
    k = curve(SEAM - 0.06)  # where M is 1/2
    others = [i for i in range(len(grid.scales)) if abs(grid.scales[i] - (SEAM - 0.06)) > 0.25]
    # the map noise sigma is the luma's: a dip of up to log(1/sqrt 2) at M = 1/2
    assert np.median(f["d_noise_s0_2"][:, k]) == pytest.approx(0.0, abs=0.2)  # symmetric on both sides
    # the widest bump (points at +-0.12 face radii, where M is 0 or 1): about -0.3
    dip = np.median(f["bump_noise_s0_2"][:, curve(SEAM - 0.05)])
    assert dip < -0.1 and dip < np.median(f["bump_noise_s0_2"][:, others]) - 0.1


def test_constant_image_has_zero_contrast_everywhere():
    f = features(np.full((T, S, S, 3), 117.0))
    for k, v in f.items():
        if k == "_valid":
            assert v.all()
            continue
        assert np.allclose(v, 0.0, atol=1e-9), k


def test_float32_and_float64_agree():
    rgb = texture(5) * (1 - seam_mask()[..., None]) + texture(6, blur=1.0)[...] * seam_mask()[..., None]
    f64, f32 = features(rgb), features(rgb.astype(np.float32))
    for k in f64:
        if k == "_valid":
            assert np.array_equal(f64[k], f32[k])
            continue
        assert f32[k].dtype == np.float32 and f64[k].dtype == np.float64
        a, b = f64[k], f32[k].astype(np.float64)
        assert np.allclose(a, b, atol=2e-3 * (1 + np.nanmax(np.abs(a))), equal_nan=True), k


def _index_map(kind, n):
    j = np.arange(n)
    return {"flip_x": (n // 2 - j) % n, "flip_y": (-j) % n, "transpose": (n // 4 - j) % n}[kind]


@pytest.mark.parametrize("kind", ["flip_x", "flip_y", "transpose"])
def test_mirror_and_transpose_permute_the_angles_only(kind):
    rgb = texture(7) * (1 - seam_mask()[..., None]) + (texture(8, blur=0.8) + 6.0) * seam_mask()[..., None]
    moved = {"flip_x": rgb[:, :, ::-1], "flip_y": rgb[:, ::-1], "transpose": rgb.transpose(0, 2, 1, 3)}[kind]
    f, g = features(rgb), features(np.ascontiguousarray(moved))
    idx = _index_map(kind, C.DEFAULT_GRID.n_angles)
    for k in f:
        if k == "_valid":
            continue
        a, b = f[k], g[k][..., idx]
        assert np.allclose(a, b, atol=1e-6 * (1 + np.abs(a).max())), (k, np.abs(a - b).max())


def test_brightness_offset_changes_nothing_and_gain_keeps_log_ratios():
    rgb = texture(9) * (1 - seam_mask()[..., None]) + texture(10, blur=0.8) * seam_mask()[..., None]
    f = features(rgb)
    g = features(rgb + 20.0)  # no clipping: float images
    for k in f:
        if k != "_valid":
            assert np.allclose(f[k], g[k], atol=1e-6), k
    h = features(rgb * 1.5)
    for k in f:
        if k.startswith(("d_noise", "d_laplacian", "d_gradient")) and "@" not in k:
            # log(1.5 a + floor) - log(1.5 b + floor): the floor makes it nearly, not exactly, invariant
            d = np.abs(f[k] - h[k])
            assert np.median(d) < 0.03 and np.quantile(d, 0.99) < 0.15, k


def test_profiles_outside_the_frame_are_invalid():
    rgb = texture(11)
    maps = C.measurement_maps(rgb)
    boxes = np.array([[10.0, 10.0, 110.0, 110.0]] * T)  # a face near the top-left corner of a 200x300 frame
    scale = np.full(T, S / 200.0)  # crop side 200 px of frame
    inside = C.inside_frame(boxes, scale, (200, 300), S)
    _, valid, _ = C.sample_profiles(maps, np.asarray(C.ellipse_in_crop(boxes, scale, S)), inside=inside)
    # the crop starts at frame (-40, -40): up and left of the face centre is overhang
    a = C.DEFAULT_GRID.n_angles
    up_left = (3 * a) // 8  # phi = -3 pi / 4
    down_right = (7 * a) // 8  # phi = pi / 4
    assert not valid[:, -1, up_left].any() and valid[:, 0, down_right].all()


def test_segment_target_marks_the_curves_that_cross_the_mask_edge():
    m = seam_mask(scale=SEAM, feather=0.1)
    t = C.segment_target(m, ELL)
    k = curve(SEAM - 0.05)
    assert np.all(t[:, k] > 0.9)
    assert np.all(t[:, curve(0.55)] < 0.05) and np.all(t[:, curve(1.15)] < 0.05)


@pytest.mark.skipif(not cupy_usable(), reason="no usable CUDA device")
def test_cupy_matches_numpy():
    import cupy

    rgb = (texture(12) * (1 - seam_mask()[..., None]) + texture(13, blur=1.0) * seam_mask()[..., None])
    rgb = rgb.astype(np.float32)
    f = features(rgb)
    maps = C.measurement_maps(cupy.asarray(rgb))
    smp, valid, pr = C.sample_profiles(maps, cupy.asarray(ELL))
    g = C.profile_features(smp, valid, pr)
    for k in f:
        assert np.allclose(f[k], cupy.asnumpy(g[k]), atol=1e-3 * (1 + np.nanmax(np.abs(f[k]))), equal_nan=True), k
