"""forensics.dwt: the batched periodization DWT equals PyWavelets and inverts exactly."""
import numpy as np
import pytest
import pywt

from forensics.backend import cupy_usable
from forensics.dwt import filter_bank, wavedec2, waverec2

WAVELETS = ("haar", "db4", "db8")


@pytest.fixture(params=["auto", "filterbank"])
def engine(request):
    """``auto`` takes PyWavelets on NumPy; ``filterbank`` is the array code the GPU runs, checked here on NumPy."""
    return request.param

# pywt warns that deep levels of small test images see boundary effects; periodization makes them exact
pytestmark = pytest.mark.filterwarnings("ignore:Level value")


def _images(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(100.0, 30.0, size=shape).astype(dtype)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("level", [1, 2, 4])
def test_equals_pywt_periodization(wavelet, level, engine):
    x = _images((2, 64, 48), seed=level)
    ours = wavedec2(x, wavelet, level=level, engine=engine)
    ref = pywt.wavedec2(x, wavelet, mode="periodization", level=level, axes=(-2, -1))
    assert len(ours) == len(ref) == level + 1
    np.testing.assert_allclose(ours[0], ref[0], rtol=0, atol=1e-9)
    for got, want in zip(ours[1:], ref[1:]):
        for g, w in zip(got, want):  # cH, cV, cD in pywt order
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-9)


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_perfect_reconstruction(wavelet, engine):
    x = _images((3, 32, 64), seed=7)
    rec = waverec2(wavedec2(x, wavelet, level=3, engine=engine), wavelet, engine=engine)
    np.testing.assert_allclose(rec, x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        rec, pywt.waverec2(pywt.wavedec2(x, wavelet, mode="periodization", level=3), wavelet, mode="periodization"),
        atol=1e-9,
    )


def test_energy_preserved_orthonormal(engine):
    """An orthogonal wavelet in periodization mode is an orthonormal transform: Parseval holds."""
    x = _images((2, 64, 64), seed=3)
    c = wavedec2(x, "db4", level=3, engine=engine)
    energy = (c[0] ** 2).sum(axis=(-2, -1)) + sum((d**2).sum(axis=(-2, -1)) for lvl in c[1:] for d in lvl)
    np.testing.assert_allclose(energy, (x**2).sum(axis=(-2, -1)), rtol=1e-12)


def test_batch_shapes_and_batching_equals_single_images(engine):
    x = _images((2, 3, 32, 32), seed=11)
    c = wavedec2(x, "db4", level=2, engine=engine)
    assert c[0].shape == (2, 3, 8, 8)
    assert [d.shape for d in c[1]] == [(2, 3, 8, 8)] * 3
    assert [d.shape for d in c[2]] == [(2, 3, 16, 16)] * 3
    single = wavedec2(x[1, 2], "db4", level=2, engine=engine)
    np.testing.assert_array_equal(c[0][1, 2], single[0])
    for lvl in (1, 2):
        for k in range(3):
            np.testing.assert_array_equal(c[lvl][k][1, 2], single[lvl][k])


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_float32_stays_float32_and_agrees(wavelet, engine):
    x64 = _images((2, 64, 64), seed=5)
    c32 = wavedec2(x64.astype(np.float32), wavelet, level=3, engine=engine)
    c64 = wavedec2(x64, wavelet, level=3, engine=engine)
    assert c32[0].dtype == np.float32 and all(d.dtype == np.float32 for d in c32[1])
    scale = np.abs(x64).max()
    np.testing.assert_allclose(c32[0], c64[0], rtol=0, atol=1e-5 * scale * 8)
    for a, b in zip(c32[1:], c64[1:]):
        for g, w in zip(a, b):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * scale * 8)


def test_integer_input_is_promoted(engine):
    x = np.random.default_rng(0).integers(0, 256, size=(1, 16, 16), dtype=np.uint8)
    c = wavedec2(x, "haar", level=1, engine=engine)
    assert c[0].dtype == np.float64
    np.testing.assert_allclose(c[0], pywt.wavedec2(x.astype(np.float64), "haar", mode="periodization", level=1)[0])


def test_indivisible_shape_raises():
    with pytest.raises(ValueError):
        wavedec2(np.zeros((30, 32)), "haar", level=2)


def test_filter_bank_is_pywt():
    lo, hi, rlo, rhi = filter_bank("db4")
    np.testing.assert_array_equal(lo, pywt.Wavelet("db4").dec_lo)
    assert lo.dtype == np.float64 and len(hi) == len(rlo) == len(rhi) == 8


@pytest.mark.gpu
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_cupy_equals_numpy(wavelet):
    cp = pytest.importorskip("cupy")
    if not cupy_usable():
        pytest.skip("no usable CUDA device")
    x = _images((2, 64, 64), seed=9)
    cn = wavedec2(x, wavelet, level=3)
    cg = wavedec2(cp.asarray(x), wavelet, level=3)
    np.testing.assert_allclose(cg[0].get(), cn[0], atol=1e-9)
    for a, b in zip(cg[1:], cn[1:]):
        for g, w in zip(a, b):
            np.testing.assert_allclose(g.get(), w, atol=1e-9)
    np.testing.assert_allclose(waverec2(cg, wavelet).get(), x, atol=1e-9)
