"""forensics.spectral and the ``spectral`` family: planted spectra, invariances, up-sampling traces."""
import cv2
import numpy as np
import pytest
import scipy.fft

from features import spectral as fam
from features.registry import SEP, select
from features.track import build_track
from forensics.backend import cupy_usable
from forensics.spectral import (
    azimuthal_spectrum,
    block_dct,
    block_mean,
    dct_band_statistics,
    high_frequency_share,
    peak_prominence,
    periodogram,
    radial_bin_index,
    radial_bins,
    radial_power,
)

FRAME_SHAPE = (384, 512)


# ---------------------------------------------------------------- synthetic data (also used by test_wavelet)
def pink_noise(rng, n, shape):
    """``n`` images of unit-variance noise with amplitude ~ 1/f (power ~ 1/f^2, like natural images)."""
    h, w = shape
    f = np.fft.fft2(rng.normal(size=(n, h, w)))
    r = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    img = np.fft.ifft2(f / np.maximum(r, 1.0 / max(h, w))).real
    return (img - img.mean(axis=(1, 2), keepdims=True)) / img.std(axis=(1, 2), keepdims=True)


def scene(rng, n, shape=FRAME_SHAPE):
    """Natural-looking gray frames: 1/f texture plus a little sensor noise, inside 0..255 with room to spare."""
    return np.clip(128 + 25 * pink_noise(rng, n, shape) + rng.normal(0, 2, (n,) + shape), 20, 235)


def upsampled_scene(rng, n, interpolation, shape=FRAME_SHAPE, shift=0):
    """Frames synthesised at half resolution and up-sampled 2x (what a generator's last stage does),
    then shifted by ``shift`` pixels (an odd shift puts the 2x2 pixel blocks off the crop's even grid)."""
    small = scene(rng, n, (shape[0] // 2, shape[1] // 2))
    up = np.stack([cv2.resize(s.astype(np.float32), shape[::-1], interpolation=interpolation) for s in small])
    return np.roll(up, shift, axis=(1, 2))


def face_track(gray, xp=np):
    """A track whose 256x256 crop is exactly the frames' central 256x256 pixels (scale 1)."""
    t, h, w = gray.shape
    box = np.tile([[w / 2 - 64, h / 2 - 64, w / 2 + 64, h / 2 + 64]], (t, 1))
    frames = np.repeat(np.round(gray)[..., None], 3, axis=-1).astype(np.uint8)
    return build_track(frames, box, xp=xp)


def per_frame(features):
    return {k: np.asarray(v) for k, v in features.items() if np.asarray(v).ndim == 1}


# ---------------------------------------------------------------- radial averaging
def _reference_azimuthal(images, n_bins, window):
    """Independent implementation: full fft2, fftshift, per-image bincount."""
    x = images.astype(np.float64)
    h, w = x.shape[-2:]
    win = np.outer(np.hanning(h), np.hanning(w)) if window else np.ones((h, w))
    x = (x - (x * win).sum(axis=(-2, -1), keepdims=True) / win.sum()) * win
    p = np.abs(np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))) ** 2
    idx = radial_bin_index((h, w), n_bins)
    v = idx >= 0
    counts = np.bincount(idx[v], minlength=n_bins)
    out = [np.bincount(idx[v], weights=im[v], minlength=n_bins) / counts for im in p.reshape(-1, h, w)]
    return np.log10(np.array(out) + 1e-8).reshape(x.shape[:-2] + (n_bins,))


@pytest.mark.parametrize("shape", [(64, 64), (48, 64), (33, 65)])
@pytest.mark.parametrize("window", [True, False])
def test_batched_binning_equals_bincount_reference(shape, window):
    x = np.random.default_rng(0).normal(100, 20, size=(2, 3) + shape)
    got = azimuthal_spectrum(x, n_bins=12, window=window)
    assert got.spectrum.shape == (2, 3, 12)
    np.testing.assert_allclose(got.spectrum, _reference_azimuthal(x, 12, window), atol=1e-9)
    np.testing.assert_allclose(got.radius, (np.arange(12) + 0.5) / 12)


@pytest.mark.parametrize("shape", [(64, 64), (33, 65)])
def test_bin_counts_are_the_two_sided_frequency_counts(shape):
    idx = radial_bin_index(shape, 10)
    want = np.bincount(idx[idx >= 0], minlength=10)
    _, counts = radial_bins(shape, n_bins=10)
    np.testing.assert_array_equal(counts, want)
    # the one-sided (rfft2) path counts each mirrored column twice and must land on the same totals
    np.testing.assert_array_equal(radial_power(np.zeros((1,) + shape), n_bins=10).counts, want)


# ---------------------------------------------------------------- planted spectra
def test_white_noise_gives_a_flat_spectrum_at_its_variance():
    x = np.random.default_rng(1).normal(50, 10, size=(16, 128, 128))
    rp = radial_power(x, n_bins=16)
    mean_log = np.log10(rp.power).mean(axis=0)
    # normalised by the taper energy, white noise of variance 100 has power 100 at every radius
    np.testing.assert_allclose(mean_log[1:], 2.0, atol=0.05)
    assert abs(np.polyfit(np.log10(rp.radius[1:]), mean_log[1:], 1)[0]) < 0.05
    # the unnormalised azimuthal spectrum is flat too
    spec = azimuthal_spectrum(x, n_bins=16).spectrum.mean(axis=0)
    assert np.ptp(spec[1:]) < 0.1
    # high-frequency share of a flat spectrum is the share of frequencies above the cut-off
    share = high_frequency_share(rp.power, counts=rp.counts, radius=rp.radius, cutoff=0.5)
    np.testing.assert_allclose(share, np.log10(rp.counts[8:].sum() / rp.counts.sum()), atol=0.03)


def test_power_law_slope_is_recovered():
    x = 128 + 30 * pink_noise(np.random.default_rng(2), 8, (128, 128))
    rp = radial_power(x, n_bins=16)
    slope = np.polyfit(np.log10(rp.radius[2:]), np.log10(rp.power[:, 2:]).mean(axis=0), 1)[0]
    assert -2.3 < slope < -1.7  # amplitude 1/f -> power 1/f^2


def test_masked_taper_measures_only_its_region():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 3, (4, 64, 32)), rng.normal(0, 30, (4, 64, 32))], axis=-1)
    mask = np.zeros((64, 64))
    mask[:, :32] = 1
    for region, sigma in ((mask, 3.0), (1 - mask, 30.0)):
        rp = radial_power(x, weights=np.outer(np.hanning(64), np.hanning(64)) * region, n_bins=8)
        # the mask's edge leaks a little; the level is the region's own variance
        np.testing.assert_allclose(np.log10(rp.power[:, 2:]).mean(), 2 * np.log10(sigma), atol=0.1)
    assert np.isnan(periodogram(x, weights=np.zeros((64, 64)))).all()


def test_periodic_pattern_gives_a_prominent_peak_at_its_frequency():
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 10, size=(4, 64, 64))
    # period 4 px = 0.5 x Nyquist, as weak as the noise (invisible in any one pixel)
    grid = 10 * np.cos(2 * np.pi * np.arange(64) / 4)[None, None, :]
    plain = peak_prominence(periodogram(noise, onesided=False))
    peaked = peak_prominence(periodogram(noise + grid, onesided=False))
    assert (peaked.prominence > 1.7).all() and (plain.prominence < 1.5).all()
    np.testing.assert_allclose(peaked.radius, 0.5, atol=1e-9)


# ---------------------------------------------------------------- block DCT
def test_block_dct_equals_scipy_per_block():
    x = np.random.default_rng(5).normal(size=(2, 16, 24))
    c = block_dct(x, block=8)
    assert c.shape == (2, 2, 3, 8, 8)
    np.testing.assert_allclose(c[1, 1, 2], scipy.fft.dctn(x[1, 8:16, 16:24], norm="ortho"), atol=1e-12)


def test_dct_band_statistics_of_gaussian_noise():
    rng = np.random.default_rng(6)
    x = rng.normal(0, 2.0, size=(2, 128, 128))
    st = dct_band_statistics(block_dct(x))
    # an orthonormal DCT maps iid Gaussian pixels to iid Gaussian coefficients of the same variance
    np.testing.assert_allclose(st.log_energy, np.log10(4.0), atol=0.03)
    np.testing.assert_allclose(st.log_kurtosis, np.log10(3.0), atol=0.05)
    from scipy.stats import norm

    np.testing.assert_allclose(st.zero_fraction, 2 * norm.cdf(0.5 / 2.0) - 1, atol=0.02)


def test_dct_block_weights_select_their_blocks():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 1, (1, 64, 32)), rng.normal(0, 8, (1, 64, 32))], axis=-1)
    w = np.zeros((64, 64))
    w[:, 32:] = 1
    st = dct_band_statistics(block_dct(x), weights=block_mean(w, 8))
    np.testing.assert_allclose(st.log_energy, np.log10(64.0), atol=0.08)
    assert np.isnan(dct_band_statistics(block_dct(x), weights=np.zeros((8, 8))).log_energy).all()


def test_block_mean():
    a = np.arange(2 * 6 * 9, dtype=float).reshape(2, 6, 9)
    np.testing.assert_allclose(block_mean(a, 3), a.reshape(2, 2, 3, 3, 3).mean(axis=(2, 4)))


# ---------------------------------------------------------------- invariances and precision
@pytest.fixture(scope="module")
def scene_frames():
    return scene(np.random.default_rng(10), 4)


def test_brightness_offset_leaves_every_feature_unchanged(scene_frames):
    base = face_track(scene_frames)
    shifted = face_track(scene_frames + 17)
    for calc in fam.CALCULATORS:
        a, b = calc.func(base), calc.func(shifted)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(np.asarray(b[k]), np.asarray(a[k]), atol=2e-3, err_msg=f"{calc.key}.{k}")


def test_float32_and_float64_agree(scene_frames):
    x64 = scene_frames[:, :128, :128]
    x32 = x64.astype(np.float32)
    np.testing.assert_allclose(azimuthal_spectrum(x32).spectrum, azimuthal_spectrum(x64).spectrum, atol=1e-3)
    p64 = periodogram(x64[:, :64, :64], onesided=False)
    p32 = periodogram(x32[:, :64, :64], onesided=False)
    assert p32.dtype == np.float32 and p64.dtype == np.float64
    a, b = peak_prominence(p32), peak_prominence(p64)
    np.testing.assert_allclose(a.prominence, b.prominence, atol=1e-3)
    s32, s64 = dct_band_statistics(block_dct(x32)), dct_band_statistics(block_dct(x64))
    for f32, f64 in zip(s32, s64):
        np.testing.assert_allclose(f32, f64, atol=1e-3)


# ---------------------------------------------------------------- up-sampling traces
@pytest.mark.parametrize("shift", [0, 1])
@pytest.mark.parametrize(
    "interpolation, features",
    [
        (cv2.INTER_LINEAR, ("hf50", "hf75", "hf_minus_lf", "az15", "dct_high_low", "dct_mid_low")),
        (cv2.INTER_NEAREST, ("dct_high_low", "az09")),
    ],
)
def test_upsampled_frames_are_separated_from_originals(interpolation, features, shift):
    rng = np.random.default_rng(11)
    orig_track = face_track(scene(rng, 6))
    orig = per_frame({**fam.azimuthal(orig_track), **fam.block_dct_stats(orig_track)})
    up_track = face_track(upsampled_scene(rng, 6, interpolation, shift=shift))
    up = per_frame({**fam.azimuthal(up_track), **fam.block_dct_stats(up_track)})
    for k in features:
        # up-sampling removes (bilinear) or replaces by attenuated replicas (nearest) the top octave
        assert up[k].max() < orig[k].min(), k


def test_upsampled_face_in_a_real_background_is_separated():
    rng = np.random.default_rng(12)
    real = scene(rng, 6)
    fake = scene(rng, 6)
    h, w = FRAME_SHAPE
    face = upsampled_scene(rng, 6, cv2.INTER_LINEAR)
    sl = (slice(None), slice(h // 2 - 64, h // 2 + 64), slice(w // 2 - 64, w // 2 + 64))
    fake[sl] = face[sl]  # the face box holds synthesised, up-sampled content; the rest is untouched
    r, f = per_frame(fam.regions(face_track(real))), per_frame(fam.regions(face_track(fake)))
    for k in ("fb_hf50", "face_hf50", "fb06", "fb07"):
        assert f[k].max() < r[k].min(), k
    # real frames: face and background share one spectrum, so the differences sit near zero
    assert np.abs(r["fb_hf50"]).max() < 0.15


def test_region_patches_layout():
    x = np.arange(256 * 256, dtype=float).reshape(1, 256, 256)
    face, bg = fam.region_patches(x, patch=64)
    assert face.shape == bg.shape == (1, 4, 64, 64)
    assert face[0, 0, 0, 0] == x[0, 64, 64] and face[0, 3, -1, -1] == x[0, 191, 191]
    assert bg[0, 0, 0, 0] == x[0, 0, 0] and bg[0, 3, -1, -1] == x[0, 255, 255]


def test_registry_and_feature_names(scene_frames):
    calcs = select("spectral")
    assert [c.name for c in calcs] == ["azimuthal", "regions", "blockdct"]
    tr = face_track(scene_frames)
    for c in calcs:
        out = c.func(tr)
        for k, v in out.items():
            assert SEP not in k
            v = np.asarray(v)
            assert v.shape in ((), (tr.n_frames,)), (k, v.shape)
            assert np.isfinite(v).all(), k
    assert np.asarray(fam.regions(tr)["track_peak"]).ndim == 0


# ---------------------------------------------------------------- GPU parity
@pytest.mark.gpu
def test_cupy_equals_numpy(scene_frames):
    cp = pytest.importorskip("cupy")
    if not cupy_usable():
        pytest.skip("no usable CUDA device")
    tn, tg = face_track(scene_frames), face_track(scene_frames, xp=cp)
    for calc in fam.CALCULATORS:
        a, b = calc.func(tn), calc.func(tg)
        for k in a:
            np.testing.assert_allclose(cp.asnumpy(cp.asarray(b[k])), np.asarray(a[k]), atol=2e-3, err_msg=k)
