"""The ``blending`` family and forensics/blending.py: planted truths and invariants."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from features import blending as fb
from features.aggregate import run_calculators
from features.registry import FAMILY_MODULES, parse_column
from features.track import build_track, ellipse_masks
from forensics import blending as B

T, SIDE = 3, 384
BOX = (128.0, 128.0, 256.0, 256.0)  # 128-px face; the 256-px crop is an integer shift of the frame
SKIN = np.array([200.0, 150.0, 120.0])  # Cr ~ 155, Cb ~ 105: inside the skin box


def texture(seed, *, blur=0.0, noise=6.0, t=T, side=SIDE, colour=SKIN):
    """Skin-coloured random texture (smooth structure + white noise), float (t, side, side, 3)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (side, side)).astype(np.float32), (0, 0), 3.0)
    base = base / base.std() * 15.0
    img = colour + base[..., None] * np.array([1.0, 0.8, 0.7])
    img = np.repeat(img[None], t, axis=0)
    if blur > 0:
        img = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), blur) for f in img])
    return img + rng.normal(0, noise, img.shape) if noise > 0 else img


def to_u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def paste(outer, inner):
    """Hard blend of ``inner`` into ``outer`` through the track's face ellipse of BOX."""
    m = ellipse_masks(np.array([BOX] * len(outer)), outer.shape[1:3], scale=1.0)[..., None]
    return outer * (1 - m) + inner * m


def track_of(frames):
    return build_track(to_u8(frames), np.array([BOX] * len(frames)))


# --------------------------------------------------------------------------- planted truths


def test_blend_of_two_textures_is_flagged_and_untouched_is_not():
    real = texture(1, noise=6.0)
    fake = paste(real, texture(2, blur=1.2, noise=1.5))  # smoother, less noisy face
    f_real, f_fake = fb.texture(track_of(real)), fb.texture(track_of(fake))
    for key, cut in (("grad_band", -0.2), ("lap_band", -0.5), ("noise_band", -1.0),
                     ("grad_inner", -0.2), ("lap_inner", -0.5), ("noise_inner", -1.0)):
        assert np.all(np.abs(f_real[key]) < 0.15), (key, f_real[key])
        assert np.all(f_fake[key] < cut), (key, f_fake[key])
    # noise sigma: 6 -> 1.5 is log(1/4) = -1.39; the uint8 rounding and texture add a little
    assert np.all(np.abs(f_fake["noise_band"] + 1.39) < 0.4)
    # the noise level of an untouched frame is the planted sigma: 6 per channel, 4.0 in BT.601 luma
    assert np.all(np.abs(np.exp(f_real["noise_level"]) - 6.0 * np.linalg.norm([0.299, 0.587, 0.114])) < 0.3)
    assert np.all(f_fake["sharpness"] < f_real["sharpness"] - 0.5)


def test_colour_mismatch_of_the_face_is_measured():
    real = texture(3, noise=2.0)
    fake = paste(real, real + np.array([12.0, -6.0, -6.0]))  # redder face: Cr up ~12
    c_real, c_fake = fb.colour(track_of(real)), fb.colour(track_of(fake))
    assert np.all(np.abs(c_real["d_cr"]) < 1.0) and np.all(c_real["chroma_dist"] < 1.5)
    # +12 R, -6 G, -6 B is +9 in Cr (BT.601) and -3 in Cb
    assert np.all(np.abs(c_fake["d_cr"] - c_real["d_cr"] - 9.0) < 1.0)
    assert np.all(np.abs(c_fake["d_cb"] - c_real["d_cb"] + 3.0) < 1.0)
    assert np.all(np.abs(c_fake["contrast"]) < 0.1)  # a shift, not a contrast change
    assert np.all(c_real["ring_skin"] > 0.9)


def test_step_along_the_contour_aligns_edges_with_the_normal():
    real = texture(4, noise=3.0)
    fake = paste(real, real + 25.0)  # brighter face: a step all around the contour
    e_real, e_fake = fb.edges(track_of(real)), fb.edges(track_of(fake))
    assert np.all(np.abs(e_real["align_band"] - 0.5) < 0.08)  # isotropic texture
    assert np.all(np.abs(e_real["align_excess"]) < 0.08)
    assert np.all(e_fake["align_band"] > 0.6) and np.all(e_fake["align_excess"] > 0.1)
    assert np.all(e_fake["sector_evenness"] > 0.8)  # the step runs all the way round


def jpeg(frames_float, quality=30, shift=0):
    """JPEG each frame, its 8x8 grid shifted by ``shift`` pixels."""
    out = []
    for f in to_u8(frames_float):
        f = np.roll(f, (shift, shift), axis=(0, 1))
        ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(np.roll(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), (-shift, -shift), axis=(0, 1)))
    return np.stack(out).astype(np.float64)


def test_face_compressed_on_a_shifted_grid_breaks_grid_consistency():
    src = texture(5, noise=4.0)
    real = jpeg(src)
    fake = paste(real, jpeg(src, shift=4))
    g_real, g_fake = fb.compression_grid(track_of(real)), fb.compression_grid(track_of(fake))
    assert np.all(g_real["grid_level"] > 0.2)  # a visible grid
    assert np.all(g_real["grid_corr"] > 0.8) and np.all(np.abs(g_real["grid_ratio"]) < 0.2)
    assert np.all(g_fake["grid_corr"] < 0.2)
    raw = fb.compression_grid(track_of(src))  # never compressed: no grid
    assert np.all(np.abs(raw["grid_level"]) < 0.1)


# --------------------------------------------------------------------------- zone statistics


def random_zones(rng, t=3, k=4, h=20, w=22):
    lab = rng.integers(-1, k, size=(t, h, w))
    lab[:, :, 0] = 0  # zone 0 never empty
    lab[1, lab[1] == 2] = -1  # zone 2 empty in frame 1
    return lab, (lab[:, None] == np.arange(k)[None, :, None, None]).astype(np.float32)


def test_zone_statistics_match_a_loop_reference():
    rng = np.random.default_rng(0)
    lab, zones = random_zones(rng)
    v = rng.normal(100.0, 5.0, lab.shape)
    med = B.zone_median(v, zones)
    mom = B.zone_moments(v, zones)
    for t in range(lab.shape[0]):
        for k in range(zones.shape[1]):
            sel = v[t][lab[t] == k]
            if sel.size == 0:
                assert np.isnan(med[t, k]) and np.isnan(mom.mean[t, k]) and mom.weight[t, k] == 0
                continue
            assert med[t, k] == pytest.approx(np.median(sel), abs=1e-9)
            assert mom.mean[t, k] == pytest.approx(sel.mean(), abs=1e-9)
            assert mom.std[t, k] == pytest.approx(sel.std(), rel=1e-6)
            assert B.zone_mean(v, zones)[t, k] == pytest.approx(sel.mean(), abs=1e-9)


def test_float32_and_float64_agree():
    rng = np.random.default_rng(1)
    _, zones = random_zones(rng, h=32, w=32)
    g = texture(6, t=3, side=32)[..., 0]
    a = B.texture_by_zone(g.astype(np.float64), zones.astype(np.float64))
    b = B.texture_by_zone(g.astype(np.float32), zones)
    assert b.gradient.dtype == np.float32
    for x, y in zip(a, b):
        np.testing.assert_allclose(y, x, rtol=2e-4, equal_nan=True)
    m64 = B.zone_moments(g.astype(np.float64), zones)
    m32 = B.zone_moments(g.astype(np.float32), zones)
    np.testing.assert_allclose(m32.std, m64.std, rtol=1e-3, equal_nan=True)


def test_texture_measures_scale_with_contrast_and_ignore_brightness():
    rng = np.random.default_rng(2)
    _, zones = random_zones(rng, h=64, w=64)
    g = texture(7, t=3, side=64)[..., 0]
    a = B.texture_by_zone(g, zones)
    b = B.texture_by_zone(2.0 * g + 17.0, zones)
    for x, y in zip(a, b):
        np.testing.assert_allclose(y, 2.0 * x, rtol=1e-6, equal_nan=True)


def test_constant_frames_give_no_infinities():
    flat = np.full((2, SIDE, SIDE, 3), 128.0)
    tr = track_of(flat)
    for calc in fb.CALCULATORS:
        for key, v in calc.func(tr).items():
            v = np.asarray(v, dtype=float)
            assert not np.isinf(v).any(), (calc.name, key)
    f = fb.texture(tr)
    assert np.isnan(f["noise_band"]).all() and np.isnan(f["grad_band"]).all()  # 0 / 0 is no evidence


def test_finest_diagonal_is_pywt_haar():
    pywt = pytest.importorskip("pywt")
    x = np.random.default_rng(3).normal(size=(2, 16, 24))
    ref = pywt.dwt2(x, "haar", mode="periodization", axes=(-2, -1))[1][2]
    np.testing.assert_allclose(B.finest_diagonal(x), ref, atol=1e-12)


def test_ycrcb_matches_opencv():
    x = np.random.default_rng(4).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    ref = cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(float)
    assert np.abs(B.rgb_to_ycrcb(x.astype(np.float64)) - ref).max() <= 1.0


def test_ellipse_fit_recovers_the_face_ellipse():
    tr = track_of(texture(8, t=2))
    coords = B.elliptic_coords(B.fit_ellipse(tr.face_mask), tr.face_mask.shape[1:])
    edge = (tr.boundary_mask > 0) & (np.abs(np.asarray(tr.face_mask) - 0.5) < 1)  # band pixels
    inside = coords.rho[tr.face_mask > 0]
    assert inside.max() == pytest.approx(1.0, abs=0.03)
    assert coords.rho[edge].min() > 0.8
    np.testing.assert_allclose(np.hypot(coords.ny, coords.nx), 1.0, atol=1e-5)


def test_block_grid_finds_the_jpeg_phase():
    src = texture(9, t=2, side=128, noise=4.0)[..., 0]
    comp = jpeg(np.repeat(src[..., None], 3, -1))[..., 0]
    zones = np.ones((2, 1, 128, 128), np.float32)
    bg = B.block_grid(comp, zones)
    assert np.all(bg.strength > 0.2)
    assert np.all(bg.profile.argmax(axis=-1) == 7)  # between pixel 7 and 8 of each block
    bg = B.block_grid(comp[:, 3:, 5:], zones[..., 3:, 5:], origin=(3, 5))
    assert np.all(bg.profile.argmax(axis=-1) == 7)  # the origin keeps phases on the frame grid
    assert np.all(np.abs(B.block_grid(src, zones).strength) < 0.1)


# --------------------------------------------------------------------------- registry and pipeline


def test_family_is_registered_and_runs_through_the_aggregator():
    assert "features.blending" in FAMILY_MODULES
    tr = build_track(to_u8(texture(10, t=4)), np.array([BOX] * 4))
    row, errors = run_calculators(tr, fb.CALCULATORS)
    assert not errors
    assert {parse_column(c)[0] for c in row} == {"blending"}
    assert len(row) == 5 * 20  # 8 texture, 6 colour, 3 edge and 3 grid features, 5 statistics each
    assert all(np.isfinite(v) for v in row.values())


def test_face_near_the_frame_corner_and_tiny_frames():
    frames = to_u8(texture(11, t=2, side=96))
    tr = build_track(frames, np.array([[0.0, 0.0, 40.0, 44.0]] * 2))  # crop reaches outside the frame
    row, errors = run_calculators(tr, fb.CALCULATORS)
    assert not errors
    tr = build_track(to_u8(texture(12, t=1, side=24)), np.array([[4.0, 4.0, 20.0, 20.0]]))
    out = fb.compression_grid(tr)  # too small for a grid window: NaN, not an error
    assert np.isnan(out["grid_corr"]).all()


@pytest.mark.gpu
def test_gpu_matches_cpu():
    cp = pytest.importorskip("cupy")
    from forensics.backend import cupy_usable

    if not cupy_usable():
        pytest.skip("no usable CUDA device")
    frames = to_u8(paste(texture(13), texture(14, blur=1.0, noise=2.0)))
    boxes = np.array([BOX] * len(frames))
    cpu = build_track(frames, boxes)
    gpu = build_track(frames, boxes, xp=cp)
    for calc in fb.CALCULATORS:
        a, b = calc.func(cpu), calc.func(gpu)
        for key in a:
            np.testing.assert_allclose(cp.asnumpy(cp.asarray(b[key])), np.asarray(a[key]), rtol=1e-3, atol=1e-3,
                                       err_msg=f"{calc.name}.{key}")
