"""Tests of the ``prnu`` family (forensics/prnu.py, features/prnu.py) with planted truth.

The synthetic camera: every frame is a scene times ``(1 + K1)`` plus read
noise, rounded to 8 bits, with ``K1`` a known white pattern fixed to the
sensor. A face-shaped region that moves across the frames is either left
alone (a real video) or replaced by content carrying another pattern ``K2``,
no pattern, or a resampled (scaled 1.1x) copy of a camera frame.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from features import prnu as fprnu
from features.aggregate import aggregate_values
from features.registry import EXPENSIVE, MODERATE, SEP, select
from features.track import build_track, ellipse_masks
from forensics.geometry import ellipse_radius2
from forensics import prnu as fp
from forensics.backend import cupy_usable, to_numpy

# pywt (the reference in one test) warns that 4 levels of a 64-px image see boundary effects; periodization is exact
pytestmark = pytest.mark.filterwarnings("ignore:Level value")

# --------------------------------------------------------------------------- synthetic camera


def _smooth(rng, shape, sigma, lo, hi):
    f = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    f = (f - f.min()) / (np.ptp(f) + 1e-12)
    return lo + (hi - lo) * f


def _resampled(img, scale, cy, cx):
    """``img`` magnified by ``scale`` about ``(cy, cx)`` (bilinear): a copy whose pixel grid no longer matches."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return ndi.map_coordinates(img, [cy + (yy - cy) / scale, cx + (xx - cx) / scale], order=1, mode="nearest")


def synth_video(paste="real", *, t=24, h=160, w=224, face=56, k_std=0.01, noise=1.5, seed=0, shifts=None,
                pan="digital"):
    """Frames (T, h, w, 3) uint8, face boxes (T, 4) and the planted sensor pattern K1 (h, w).

    ``shifts``: optional (T, 2) integer (dy, dx): frame t views the scene at that offset.
    ``pan="digital"``: the frame is cut from a larger sensor image (re-framing: scene *and*
    PRNU move together); ``"physical"``: the camera turned, the scene moves over a fixed sensor.
    """
    rng = np.random.default_rng(seed)
    pad = 0 if shifts is None else int(np.abs(shifts).max())
    sh, sw = h + 2 * pad, w + 2 * pad
    k1 = rng.standard_normal((sh, sw)) * k_std
    k2 = rng.standard_normal((sh, sw)) * k_std
    scene = _smooth(rng, (sh, sw), 10, 50, 200) + _smooth(rng, (sh, sw), 2, -10, 10)
    yy, xx = np.mgrid[0:sh, 0:sw]
    frames = np.empty((t, h, w, 3), np.uint8)
    boxes = np.empty((t, 4))
    for i in range(t):
        dy, dx = (0, 0) if shifts is None else shifts[i]
        view = (slice(pad + dy, pad + dy + h), slice(pad + dx, pad + dx + w))
        sensor = view if pan == "digital" else (slice(pad, pad + h), slice(pad, pad + w))
        cx = sw / 2 + 0.6 * face * np.sin(2 * np.pi * i / t)  # the face moves over the background
        cy = sh / 2
        ell = (((xx - cx) / (face / 2)) ** 2 + ((yy - cy - 0.05 * face) / (0.6 * face)) ** 2 <= 1)[view]
        img = (np.where(ell, _smooth(rng, (sh, sw), 3, 90, 170)[view], scene[view])) * rng.uniform(0.95, 1.05)
        cam = img * (1 + k1[sensor])
        fy, fx = cy - pad - dy, cx - pad - dx  # face centre in the frame
        if paste == "real":
            face_px = cam
        elif paste == "k2":
            face_px = img * (1 + k2[sensor])
        elif paste == "none":
            face_px = img
        elif paste == "resampled":
            face_px = _resampled(cam, 1.1, fy, fx)
        else:
            raise ValueError(paste)
        y = np.where(ell, face_px, cam) + rng.normal(0, noise, (h, w))
        frames[i] = np.clip(np.rint(y), 0, 255).astype(np.uint8)[..., None]
        boxes[i] = [fx - face / 2, fy - face / 2, fx + face / 2, fy + face / 2]
    return frames, boxes, k1[pad:pad + h, pad:pad + w]


def _features(track):
    out = {}
    for calc in fprnu.CALCULATORS:
        out.update(calc.func(track))
    return {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in out.items()}


_FEATS: dict = {}


def synth_features(paste):
    """Features of the synthetic video ``paste`` (cached: four videos serve several tests)."""
    if paste not in _FEATS:
        frames, boxes, _ = synth_video(paste)
        _FEATS[paste] = _features(build_track(frames, boxes))
    return _FEATS[paste]


# --------------------------------------------------------------------------- residuals


def _pywt_wavelet_noise(img, sigma=5.0):
    """Straight reference: pywt + scipy, one image, the recipe of Lukas et al. / prnu-python."""
    import pywt

    coeffs = pywt.wavedec2(img, "db8", mode="periodization", level=4)
    out = [np.zeros_like(coeffs[0])]
    for bands in coeffs[1:]:
        filt = []
        for c in bands:
            var = np.min([ndi.uniform_filter(c * c, w, mode="reflect") for w in (3, 5, 7, 9)], axis=0)
            var = np.maximum(var - sigma**2, 0)
            filt.append(c * sigma**2 / (var + sigma**2))
        out.append(tuple(filt))
    return pywt.waverec2(out, "db8", mode="periodization")


def test_wavelet_noise_matches_reference_and_is_batched():
    rng = np.random.default_rng(0)
    imgs = _smooth(rng, (3, 64, 80), 3, 30, 220) + rng.normal(0, 3, (3, 64, 80))
    got = fp.wavelet_noise(imgs)
    for k in range(3):
        np.testing.assert_allclose(got[k], _pywt_wavelet_noise(imgs[k]), atol=1e-9)


def test_residual_of_constant_is_zero_and_noise_passes():
    flat = np.full((2, 64, 64), 117.0)
    assert np.abs(fp.noise_residual(flat)).max() < 1e-9
    # white noise well below sigma is almost all "noise": the residual keeps it
    rng = np.random.default_rng(1)
    n = rng.normal(0, 1.0, (64, 64))
    r = fp.wavelet_noise(100 + n)
    assert np.corrcoef(r.ravel(), n.ravel())[0, 1] > 0.95


def test_float32_float64_agree():
    rng = np.random.default_rng(2)
    x = _smooth(rng, (4, 64, 96), 4, 20, 230) + rng.normal(0, 2, (4, 64, 96))
    r64 = fp.noise_residual(x)
    r32 = fp.noise_residual(x.astype(np.float32))
    assert r32.dtype == np.float32 and r64.dtype == np.float64
    assert np.abs(r32 - r64).max() < 1e-3 * np.abs(r64).max()
    k32 = fp.fingerprint(r32, x.astype(np.float32)).k
    k64 = fp.fingerprint(r64, x).k
    assert np.corrcoef(k32.ravel(), k64.ravel())[0, 1] > 0.9999


def test_zero_mean_rows_and_columns_of_each_sublattice():
    rng = np.random.default_rng(3)
    z = fp.zero_mean(rng.normal(size=(2, 32, 48)) + np.arange(48) * 0.1)
    for dy in (0, 1):
        for dx in (0, 1):
            s = z[:, dy::2, dx::2]
            assert np.abs(s.sum(axis=-1)).max() < 1e-9
            assert np.abs(s.sum(axis=-2)).max() < 1e-9


def test_wiener_dft_equals_full_spectrum_and_removes_periodic_grid():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 64, 48))
    # reference: the same filter on the full (not half) spectrum
    f = np.fft.fft2(x)
    mag = np.abs(f) / np.sqrt(64 * 48)
    kept = fp.wiener_shrink(mag, x.var(axis=(-2, -1), keepdims=True), mode="wrap")
    ref = np.real(np.fft.ifft2(f * kept / mag))
    np.testing.assert_allclose(fp.wiener_dft(x), ref, atol=1e-10)
    # an 8x8-periodic block pattern (codec-like) loses weight against the white noise
    tile = np.tile(rng.normal(size=(8, 8)), (8, 6))
    tile -= tile.mean()
    noisy = x[0] + tile
    y = fp.wiener_dft(noisy, sigma=1.0)
    corr = lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1]  # noqa: E731
    assert corr(y, tile) < corr(noisy, tile) - 0.15
    assert corr(y, x[0]) > corr(noisy, x[0]) + 0.1


# --------------------------------------------------------------------------- fingerprints


@pytest.mark.parametrize("n_frames,bound", [(30, 0.75)])
def test_thirty_frames_recover_k1(n_frames, bound):
    """~30 frames of varied content recover the planted PRNU: corr(K_hat, K1) > 0.75 at K std 0.005."""
    rng = np.random.default_rng(5)
    k1 = rng.standard_normal((128, 128)) * 0.005
    scenes = np.stack([_smooth(rng, (128, 128), 6, 40, 220) for _ in range(n_frames)])
    imgs = np.clip(np.rint(scenes * (1 + k1) + rng.normal(0, 1.5, scenes.shape)), 0, 255).astype(np.float32)
    w = fp.noise_residual(imgs)
    corr = [np.corrcoef(fp.fingerprint(w[:n], imgs[:n]).k.ravel(), k1.ravel())[0, 1] for n in (5, n_frames)]
    assert corr[1] > bound
    assert corr[1] > corr[0] + 0.05  # more frames, better estimate


def test_leave_one_out_equals_refit_without_the_frame():
    rng = np.random.default_rng(6)
    w, i = rng.normal(size=(5, 16, 16)), rng.uniform(10, 200, (5, 16, 16))
    m = (rng.uniform(size=(5, 16, 16)) > 0.3).astype(float)
    f = fp.fingerprint(w, i, m, leave_one_out=True)
    for t in range(5):
        rest = np.arange(5) != t
        ref = fp.fingerprint(w[rest], i[rest], m[rest])
        np.testing.assert_allclose(f.k_loo[t], ref.k, atol=1e-12)
        np.testing.assert_array_equal(f.count_loo[t], ref.count)


def test_ncc_and_pce_on_matched_and_unrelated_noise():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(96, 96))
    b = a + rng.normal(size=(96, 96)) * 3  # weak shared component
    c = rng.normal(size=(96, 96))
    assert np.isclose(fp.ncc(a, a), 1) and np.isclose(fp.ncc(a, -a), -1)
    assert fp.pce(a, b) > 50 and abs(fp.pce(a, c)) < 20
    # shifted copies do not match at zero shift
    assert abs(fp.pce(a, np.roll(a, 5, axis=1))) < 20
    small = np.zeros((96, 96))
    small[:10, :10] = 1
    assert np.isnan(fp.ncc(a, b, small)) and np.isnan(fp.pce(a, b, small))


def test_group_consistency_is_high_for_a_fixed_pattern_only():
    rng = np.random.default_rng(8)
    i = rng.uniform(50, 200, (16, 64, 64))
    k = rng.normal(size=(64, 64)) * 0.05
    fixed = fp.group_consistency(i * k + rng.normal(size=i.shape), i)
    fresh = fp.group_consistency(rng.normal(size=i.shape), i)
    assert fixed.n_groups == 4 and len(fixed.pairs) == 6
    assert fixed.mean > 0.5 and abs(float(fresh.mean)) < 0.05
    assert np.isnan(fp.group_consistency(i[:3], i[:3]).mean)  # too few frames for two groups


# --------------------------------------------------------------------------- planted pastes


def test_untouched_face_matches_background_fingerprint():
    f = synth_features("real")
    assert np.nanmean(f["ncc_face_bgfp"]) > 0.4
    assert f["pce_face_bgfp"] > 2.5  # log10 PCE: > 300
    assert f["static_fraction"] == 1.0


@pytest.mark.parametrize("paste", ["k2", "none", "resampled"])
def test_pasted_face_fails_background_fingerprint_by_wide_margin(paste):
    real, fake = synth_features("real"), synth_features(paste)
    assert np.nanmean(fake["ncc_face_bgfp"]) < 0.1
    assert np.nanmean(real["ncc_face_bgfp"]) > 4 * max(np.nanmean(fake["ncc_face_bgfp"]), 0.05)
    assert real["pce_face_bgfp"] - fake["pce_face_bgfp"] > 1.0  # at least 10x in PCE
    # the background of the same videos is untouched and equally consistent
    assert abs(np.nanmean(real["ncc_bg"]) - np.nanmean(fake["ncc_bg"])) < 0.05


@pytest.mark.parametrize("paste", ["none", "resampled"])
def test_face_without_fixed_pattern_loses_temporal_consistency(paste):
    real, fake = synth_features("real"), synth_features(paste)
    assert real["group_ncc_face"] > 0.5
    assert fake["group_ncc_face"] < real["group_ncc_face"] - 0.3
    assert np.nanmean(fake["ncc_face_minus_bg"]) < np.nanmean(real["ncc_face_minus_bg"]) - 0.3


def test_unprocessed_paste_has_lower_residual_energy_and_different_srm():
    real, none = synth_features("real"), synth_features("none")
    assert np.nanmean(none["log_var_face_bg"]) < np.nanmean(real["log_var_face_bg"])
    assert np.nanmean(none["srm_first_js"]) > np.nanmean(real["srm_first_js"])


# --------------------------------------------------------------------------- camera motion


def test_global_motion_finds_planted_shifts_and_moved_frames_are_left_out():
    t = 24
    shifts = np.zeros((t, 2), int)
    shifts[:5] = [3, -4]  # the first five frames re-framed: scene and sensor pattern shifted
    frames, boxes, _ = synth_video("real", t=t, shifts=shifts, seed=3)
    track = build_track(frames, boxes)
    reg = fprnu.prnu_regions(track)
    # content moved by +shift means the frame was cut at +shift: the scene appears at -shift
    np.testing.assert_allclose(reg.shift[:5], -shifts[:5] + 0.0, atol=0.5)
    np.testing.assert_allclose(reg.shift[5:], 0, atol=0.5)
    np.testing.assert_array_equal(reg.static, np.arange(t) >= 5)
    f = fprnu.fingerprint_features(track)
    assert np.isnan(f["ncc_bg"][:5]).all() and np.isfinite(f["ncc_bg"][5:]).all()
    assert np.isclose(f["static_fraction"], 19 / 24)
    assert np.nanmean(f["ncc_face_bgfp"]) > 0.4


def test_continuous_reframing_leaves_too_few_frames_and_gives_nan():
    t = 16
    shifts = np.stack([np.zeros(t, int), 2 * np.arange(t) - t], 1)  # digital pan, 2 px per frame
    frames, boxes, _ = synth_video("real", t=t, shifts=shifts, seed=4)
    track = build_track(frames, boxes)
    np.testing.assert_allclose(np.diff(fprnu.prnu_regions(track).shift[:, 1]), -2, atol=0.5)
    f = fprnu.fingerprint_features(track)
    assert f["static_fraction"] < 0.2 and np.isnan(f["ncc_bg"]).all() and np.isnan(f["pce_bg_split"])
    assert np.isnan(fprnu.group_features(track)["group_ncc_face"])
    assert np.isfinite(fprnu.residual_stats(track)["kurt_face"]).all()  # alignment-free features remain


def test_static_frames_picks_the_largest_agreeing_set():
    s = np.array([[0, 0], [0, 0.4], [5, 5], [5, 5.2], [5, 4.9], [0, 0.1], [5.3, 5]])
    np.testing.assert_array_equal(fp.static_frames(s), [False, False, True, True, True, False, True])
    np.testing.assert_array_equal(fp.static_frames(s[:6]), [True, True, False, False, False, True])  # tie: earliest


# --------------------------------------------------------------------------- robustness and registry


def test_small_regions_give_nan_not_errors():
    rng = np.random.default_rng(9)
    tiny = rng.integers(0, 255, (6, 24, 24, 3), dtype=np.uint8)  # smaller than one window
    out = _features(build_track(tiny, np.tile([6, 6, 18, 18], (6, 1))))
    assert all(np.isnan(v).all() for k, v in out.items() if k != "static_fraction")
    # a face filling the whole frame: no background, background features NaN
    frames, _, _ = synth_video("real", t=10, h=96, w=96)
    out = _features(build_track(frames, np.tile([-40, -40, 136, 136], (10, 1))))
    assert np.isnan(out["ncc_bg"]).all() and np.isnan(out["kurt_bg"]).all()
    assert np.isfinite(out["kurt_face"]).all()


def test_masks_match_track_ellipses():
    boxes = np.array([[30.5, 20, 90, 95], [10, 40, 70, 100]])
    r2 = ellipse_radius2(boxes, (64, 80), np, offset=(16, 8))
    for s in (0.85, 1.0, 1.3):
        ref = ellipse_masks(boxes, (80, 88), scale=s)[:, 16:, 8:]
        assert ((r2 <= s * s) != ref).mean() < 1e-3  # float32 rounding on the contour only


def test_cooccurrence_classes_and_symmetry():
    assert fp._cooc_classes(1).shape == (27, 10)
    rng = np.random.default_rng(10)
    img = _smooth(rng, (2, 40, 40), 2, 0, 255) + rng.normal(0, 2, (2, 40, 40))
    lab = np.ones((2, 38, 38), np.int32)
    for name, pairs in fp.srm_residuals(img).items():
        q = fp.SRM_RESIDUALS[name]
        c = sum(fp.cooccurrence(r, lab, n_labels=2, q=q, axis=a) for r, a in pairs)
        neg = sum(fp.cooccurrence(r, lab, n_labels=2, q=q, axis=a) for r, a in fp.srm_residuals(-img)[name])
        np.testing.assert_array_equal(c, neg)  # sign-symmetric
        assert c[:, 0].sum() == 0 and c[:, 1].sum() == 2 * 2 * 38 * 36
    flat = fp.cooccurrence(np.zeros((1, 8, 8)), np.zeros((1, 8, 8), int), n_labels=1, q=1.0)
    assert flat[0, 0].max() == flat[0, 0].sum() == 8 * 6  # all in the "0 0 0" class
    assert fp.entropy(flat[0]) == 0


def test_masked_moments_of_gaussian_noise():
    rng = np.random.default_rng(11)
    x = rng.normal(0, 2.0, (2, 128, 128))
    m = np.zeros_like(x)
    m[:, 10:100, 20:120] = 1
    mo = fp.masked_moments(x, m)
    np.testing.assert_allclose(mo.variance, 4.0, rtol=0.05)
    np.testing.assert_allclose(mo.kurtosis, 0.0, atol=0.15)
    assert np.isnan(fp.masked_moments(x, m * 0).energy).all()


def test_registered_and_aggregates():
    calcs = select("prnu")
    assert {c.name for c in calcs} == {"fingerprint", "groups", "residual_stats", "srm"}
    assert all(c.cost in (MODERATE, EXPENSIVE) for c in calcs)
    row = aggregate_values("prnu", synth_features("real"))
    assert all(SEP not in k.split(SEP, 1)[1].rsplit(SEP, 1)[0] for k in row)
    assert len(row) > 50 and all(np.isfinite(v) for k, v in row.items() if "bgfp" not in k)


@pytest.mark.gpu
def test_numpy_and_cupy_agree():
    cp = pytest.importorskip("cupy")
    if not cupy_usable():
        pytest.skip("no usable CUDA device")
    frames, boxes, _ = synth_video("k2", t=12)
    cpu = _features(build_track(frames, boxes))
    gpu = _features(build_track(frames, boxes, xp=cp))
    for k in cpu:
        np.testing.assert_allclose(gpu[k], cpu[k], rtol=2e-3, atol=2e-3, err_msg=k)
