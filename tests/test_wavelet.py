"""forensics.wavelet and the ``wavelet`` family: planted moments, exact predictors, invariances."""
import cv2
import numpy as np
import pytest
import scipy.stats

from features import wavelet as fam
from features.registry import SEP, select
from forensics.backend import cupy_usable
from forensics.dwt import wavedec2
from forensics.wavelet import (
    ORIENTATIONS,
    detail_stack,
    pool_weights,
    prediction_error,
    wavelet_statistics,
    weighted_moments,
)

from .test_spectral import face_track, per_frame, scene, upsampled_scene


# ---------------------------------------------------------------- moments
def test_weighted_moments_equal_scipy_and_subsets():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, size=(3, 40, 50))  # skewed, heavy-tailed
    m = weighted_moments(x)
    flat = x.reshape(3, -1)
    np.testing.assert_allclose(m.mean, flat.mean(axis=1))
    np.testing.assert_allclose(m.var, flat.var(axis=1))
    np.testing.assert_allclose(m.skewness, scipy.stats.skew(flat, axis=1))
    np.testing.assert_allclose(m.kurtosis, scipy.stats.kurtosis(flat, axis=1, fisher=False))
    w = (rng.random((40, 50)) > 0.5).astype(float)
    mw = weighted_moments(x, w)
    sub = x[:, w > 0]
    np.testing.assert_allclose(mw.var, sub.var(axis=1))
    np.testing.assert_allclose(mw.kurtosis, scipy.stats.kurtosis(sub, axis=1, fisher=False))


def test_weighted_moments_degenerate_cases():
    m = weighted_moments(np.full((2, 8, 8), 5.0))
    np.testing.assert_allclose(m.mean, 5.0)
    np.testing.assert_allclose(m.var, 0.0)
    assert np.isnan(m.skewness).all() and np.isnan(m.kurtosis).all()
    assert np.isnan(weighted_moments(np.ones((8, 8)), np.zeros((8, 8))).mean)


def test_pool_weights():
    w = np.zeros((1, 16, 16))
    w[:, :8, :] = 1
    p = pool_weights(w, 2)
    assert p.shape == (1, 4, 4)
    np.testing.assert_array_equal(p[0, :2], 1.0)
    np.testing.assert_array_equal(p[0, 2:], 0.0)


# ---------------------------------------------------------------- planted coefficient statistics
def test_gaussian_white_noise_moments_at_every_scale():
    x = np.random.default_rng(1).normal(7.0, 3.0, size=(8, 128, 128))
    st = wavelet_statistics(wavedec2(x, "db4", level=4))
    assert st.coefficient.var.shape == (8, 3, 3)
    # an orthonormal transform of iid Gaussian pixels gives iid Gaussian coefficients of the same variance
    np.testing.assert_allclose(st.coefficient.var.mean(axis=0), 9.0, rtol=0.06)
    np.testing.assert_allclose(st.coefficient.mean.mean(axis=0), 0.0, atol=0.15)
    np.testing.assert_allclose(st.coefficient.skewness.mean(axis=0), 0.0, atol=0.1)
    n = 8 * np.array([64 * 64, 32 * 32, 16 * 16])  # coefficients per level in the batch
    sd = np.sqrt(24.0 / n)[:, None]  # standard error of a Gaussian sample kurtosis
    assert (np.abs(st.coefficient.kurtosis.mean(axis=0) - 3.0) < 4 * sd).all()


def test_haar_kurtosis_of_laplacian_pixels():
    """A level-l Haar detail is a +-1/2**l sum of 4**l iid pixels: excess kurtosis 3 / 4**l for Laplacian ones."""
    x = np.random.default_rng(2).laplace(0.0, 5.0, size=(16, 128, 128))
    kurt = wavelet_statistics(wavedec2(x, "haar", level=3)).coefficient.kurtosis.mean(axis=(0, 2))
    np.testing.assert_allclose(kurt, [3.75, 3.1875], atol=0.06)


def test_exactly_predictable_magnitudes_give_zero_error():
    rng = np.random.default_rng(3)
    parent = rng.normal(0, 5, size=(2, 3, 8, 8))
    up = np.repeat(np.repeat(parent, 2, axis=-2), 2, axis=-1)
    child = 2.0 * np.abs(up) * rng.choice([-1.0, 1.0], size=up.shape)  # |child| = 2 |parent|, random signs
    err = prediction_error([child, parent])
    assert len(err) == 1 and err[0].shape == child.shape
    # exact up to the ridge term, which the near-collinear neighbours of an up-sampled parent amplify a little
    assert np.median(np.abs(err[0])) < 1e-3 and np.abs(err[0]).max() < 0.02
    # an unpredictable child (independent of everything) is not
    noise = rng.normal(0, 5, size=up.shape)
    assert prediction_error([noise, parent])[0].var() > 0.5


def test_detail_stack_order():
    x = np.random.default_rng(4).normal(size=(2, 32, 32))
    c = wavedec2(x, "haar", level=2)
    d = detail_stack(c)
    assert [a.shape for a in d] == [(2, 3, 16, 16), (2, 3, 8, 8)]
    np.testing.assert_array_equal(d[0][:, 1], c[2][1])  # finest first, orientations h, v, d
    assert ORIENTATIONS == ("h", "v", "d")


def test_weights_restrict_statistics_to_their_region():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 1, (4, 64, 32)), rng.normal(0, 10, (4, 64, 32))], axis=-1)
    w = np.zeros((64, 64))
    w[:, 40:] = 1  # right half, away from the texture edge
    st = wavelet_statistics(wavedec2(x, "haar", level=3), weights=w)
    np.testing.assert_allclose(st.coefficient.var[:, 0].mean(), 100.0, rtol=0.1)


# ---------------------------------------------------------------- family: invariances, precision, up-sampling
@pytest.fixture(scope="module")
def scene_frames():
    return scene(np.random.default_rng(10), 4)


def test_brightness_offset_leaves_every_feature_unchanged(scene_frames):
    a = fam.farid_lyu(face_track(scene_frames))
    b = fam.farid_lyu(face_track(scene_frames + 17))
    assert a.keys() == b.keys() and len(a) == 2 * 4 * 3 * 3
    for k in a:
        np.testing.assert_allclose(b[k], a[k], atol=2e-3, rtol=3e-3, err_msg=k)


def test_float32_and_float64_agree(scene_frames):
    x64 = scene_frames[:, 64:192, 64:192]
    s32 = wavelet_statistics(wavedec2(x64.astype(np.float32), "db4", level=4))
    s64 = wavelet_statistics(wavedec2(x64, "db4", level=4))
    for group32, group64 in zip(s32, s64):
        np.testing.assert_allclose(np.log10(group32.var), np.log10(group64.var), atol=1e-4)
        for field in ("mean", "skewness", "kurtosis"):
            np.testing.assert_allclose(getattr(group32, field), getattr(group64, field), atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize(
    "interpolation, shift, features",
    [
        (cv2.INTER_LINEAR, 0, ("c_l1d_logvar", "c_l1h_logvar", "c_l1v_logvar", "c_l2d_logvar")),
        (cv2.INTER_LINEAR, 1, ("c_l1d_logvar", "c_l1h_logvar", "c_l1v_logvar", "c_l2d_logvar")),
        # 2x2 blocks on the crop's even grid: the finest Haar details vanish
        (cv2.INTER_NEAREST, 0, ("c_l1d_logvar", "c_l1h_logvar", "c_l1v_logvar")),
        # blocks straddling the grid: the finest details stay, the next scale's diagonal loses energy
        (cv2.INTER_NEAREST, 1, ("c_l2d_logvar",)),
    ],
)
def test_upsampled_frames_are_separated_from_originals(interpolation, shift, features):
    rng = np.random.default_rng(11)
    orig = per_frame(fam.farid_lyu(face_track(scene(rng, 6))))
    up = per_frame(fam.farid_lyu(face_track(upsampled_scene(rng, 6, interpolation, shift=shift))))
    for k in features:
        assert up[k].max() < orig[k].min() - 0.3, k  # energy at that scale drops by more than 2x


def test_face_window_holds_the_face_ellipse(scene_frames):
    tr = face_track(scene_frames)
    rows, cols = fam.face_window(256)
    assert (rows.stop - rows.start) % 16 == 0 and (cols.stop - cols.start) % 16 == 0
    inside = np.asarray(tr.face_mask)[:, rows, cols].sum()
    assert inside == np.asarray(tr.face_mask).sum()


def test_registry_and_feature_names(scene_frames):
    assert [c.key for c in select("wavelet")] == ["wavelet.hos"]
    out = fam.farid_lyu(face_track(scene_frames))
    for k, v in out.items():
        assert SEP not in k
        assert np.asarray(v).shape == (4,) and np.isfinite(v).all(), k


# ---------------------------------------------------------------- GPU parity
@pytest.mark.gpu
def test_cupy_equals_numpy(scene_frames):
    cp = pytest.importorskip("cupy")
    if not cupy_usable():
        pytest.skip("no usable CUDA device")
    a = fam.farid_lyu(face_track(scene_frames))
    b = fam.farid_lyu(face_track(scene_frames, xp=cp))
    for k in a:
        np.testing.assert_allclose(cp.asnumpy(b[k]), a[k], atol=2e-3, rtol=1e-3, err_msg=k)
    x = np.random.default_rng(0).normal(size=(2, 64, 64))
    sn = wavelet_statistics(wavedec2(x, "db4", level=3))
    sg = wavelet_statistics(wavedec2(cp.asarray(x), "db4", level=3))
    for gn, gg in zip(sn, sg):
        for fn, fg in zip(gn, gg):
            np.testing.assert_allclose(cp.asnumpy(fg), fn, atol=1e-8)
