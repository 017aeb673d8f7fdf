"""Device mode without a GPU: every calculator, every map and the whole ``extract_video`` on arrays that,
like CuPy's, refuse every implicit move to host memory (:mod:`forensics.devicecheck`).

A CuPy-only bug (a device array handed to OpenCV, SciPy or PyWavelets, ``np.asarray`` on it, a host array
mixed into a device expression) fails here, on the CPU, instead of turning into missing columns on a GPU.
The parity helpers are shared with the CuPy tests (``tests/test_gpu.py``).

Tolerance against NumPy: ``rtol=1e-3, atol=1e-5``. On the stand-in the numbers are NumPy's except where the
device path itself differs (the array DWT instead of PyWavelets): measured differences are below 3e-5
relative, or 1e-6 absolute for values near zero.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from features.aggregate import compute_values
from features.registry import Calculator, all_calculators, all_maps
from features.track import DenseWindow, build_track
from forensics import backend
from forensics import devicecheck as dc
from pipeline.extract import extract_video

RTOL, ATOL = 1e-3, 1e-5

dc.register()


# --------------------------------------------------------------------------- parity helpers (also for CuPy)


def detections(frames: np.ndarray) -> list:
    """The face in each of the frames :func:`make_tracks` uses."""
    from pipeline.faces import FaceDetector

    det = FaceDetector()
    return [det.detect(f)[0] for f in frames[::4][:30]]


def make_tracks(frames: np.ndarray, xp, dets=None) -> dict:
    """Tracks that take the calculators through their branches, built with arrays of ``xp``.

    ``still``: carphone with a dense window; ``panned``: the camera moves in a third of the frames (PRNU
    keeps a static subset); ``no_dense``: no dense window (temporal features NaN); ``two_frames``: too
    short for most statistics. ``dets``: :func:`detections` of ``frames``, when already known.
    """
    sparse = frames[::4][:30]
    dets = dets or detections(frames)
    boxes = np.stack([d.box for d in dets])
    lms = np.stack([d.landmarks for d in dets])
    dense = DenseWindow(xp.asarray(frames[30:94]), np.repeat(boxes[7:8], 64, axis=0), 25.0, 30)
    panned = sparse.copy()
    for k in range(0, len(panned), 3):
        panned[k] = np.roll(panned[k], (3, 5), axis=(0, 1))
    kw = dict(fps=25.0, xp=xp, video_info={"bits_per_pixel": 0.4, "width": 176, "height": 144})
    return {
        "still": build_track(sparse, boxes, landmarks=lms, frame_index=np.arange(0, 120, 4)[:30], dense=dense, **kw),
        "panned": build_track(panned, boxes, landmarks=lms, **kw),
        "no_dense": build_track(sparse[:12], boxes[:12], landmarks=lms[:12], **kw),
        "two_frames": build_track(sparse[:2], boxes[:2], landmarks=lms[:2], **kw),
    }


def compare_values(host: dict, device: dict, *, rtol: float, atol: float, loose=()) -> list[str]:
    """Columns (raw per-frame values) that differ: NaN where the other is not, or beyond the tolerance.
    ``loose`` names features compared only for their NaN pattern (discontinuous ones, such as an argmax)."""
    bad = []
    assert set(host) == set(device), set(host) ^ set(device)
    for k, a in host.items():
        a = np.atleast_1d(np.asarray(a, np.float64))
        b = np.atleast_1d(np.asarray(device[k], np.float64))
        if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
            bad.append(f"{k}: NaN pattern or shape {a} vs {b}")
        elif k.split("__")[-1] not in loose and not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            err = np.nanmax(np.abs(a - b) / (atol + rtol * np.abs(a)))
            bad.append(f"{k}: {err:.1f}x the tolerance, {a[:4]} vs {b[:4]}")
    return bad


# --------------------------------------------------------------------------- the stand-in itself


def test_the_stand_in_refuses_implicit_host_conversion_as_cupy_does():
    import pywt
    import scipy.ndimage

    a = dc.xp.asarray(np.arange(16, dtype=np.float32).reshape(4, 4))
    for leak in (lambda: np.asarray(a), lambda: np.array(a), lambda: cv2.GaussianBlur(a, (3, 3), 0),
                 lambda: scipy.ndimage.uniform_filter(a, 3), lambda: pywt.dwt2(a, "haar"), lambda: float(a),
                 lambda: int(a[0]), lambda: a + np.ones(4), lambda: np.ones(4) * a,
                 lambda: np.stack([a, np.ones((4, 4))]),
                 lambda: dc.xp.where(np.ones((4, 4)) > 0, a, 0), lambda: dc.ndimage.uniform_filter(np.ones((4, 4)), 3)):
        with pytest.raises((TypeError, cv2.error)):  # OpenCV: "src is not a numpy array"
            leak()
    # what CuPy allows: device math, NumPy functions and scalars on device arrays, 0-d to Python, explicit moves
    s = (np.float32(2) * a + 1).sum()
    assert isinstance(s, dc.DeviceArray) and s.ndim == 0 and float(s) == 2 * 120 + 16
    assert isinstance(np.log1p(a), dc.DeviceArray) and isinstance(np.mean(a, axis=0), dc.DeviceArray)
    assert isinstance(dc.xp.fft.rfft2(a), dc.DeviceArray)
    assert isinstance(dc.ndimage.uniform_filter(a, 3), dc.DeviceArray)
    assert backend.get_namespace(np.ones(2), a) is dc.xp and backend.ndimage_for(dc.xp) is dc.ndimage
    assert backend.array_module("hostcheck") is dc.xp
    assert isinstance(backend.to_device(np.ones(3), "hostcheck"), dc.DeviceArray)
    np.testing.assert_array_equal(backend.to_numpy(a), np.arange(16).reshape(4, 4))
    a[0] = np.zeros(4)  # an upload into a device array, as CuPy allows
    assert float(a[0].sum()) == 0


def test_a_host_leak_in_a_calculator_is_caught(carphone_frames):
    """The point of device mode: a calculator that hands a device array to OpenCV fails here."""
    leaky = Calculator("spectral", "leaky",
                       lambda t: {"x": cv2.Laplacian(t.gray_crops(), cv2.CV_32F).mean(axis=(1, 2))})
    track = build_track(carphone_frames[:4], np.tile([40, 20, 120, 110], (4, 1)), xp=dc.xp)
    _, errors = compute_values(track, [leaky])
    assert "spectral.leaky" in errors


# --------------------------------------------------------------------------- every calculator, every map


@pytest.fixture(scope="module")
def track_pairs(carphone_frames):
    dets = detections(carphone_frames)
    host, dev = make_tracks(carphone_frames, np, dets), make_tracks(carphone_frames, dc.xp, dets)
    return {k: (host[k], dev[k]) for k in host}


@pytest.mark.parametrize("case", ["still", "panned", "no_dense", "two_frames"])
def test_every_calculator_runs_in_device_mode_and_matches_numpy(track_pairs, case):
    host, dev = track_pairs[case]
    calcs = all_calculators()
    v_host, e_host = compute_values(host, calcs)
    v_dev, e_dev = compute_values(dev, calcs)
    assert not e_dev, e_dev  # no calculator fails on device arrays
    assert e_host == e_dev
    assert compare_values(v_host, v_dev, rtol=RTOL, atol=ATOL) == []


def test_host_calculators_get_the_host_view_and_device_ones_the_device_arrays(track_pairs):
    _, dev = track_pairs["no_dense"]
    seen = {}
    probe = [Calculator("meta", "host_probe", lambda t: seen.setdefault("host", type(t.crops)) and {}, gpu=False),
             Calculator("meta", "dev_probe", lambda t: seen.setdefault("dev", type(t.crops)) and {}, gpu=True)]
    compute_values(dev, probe)
    assert seen == {"host": np.ndarray, "dev": dc.DeviceArray}
    assert dev.on_host() is dev.on_host() and dev.on_host().xp is np


def test_every_map_runs_in_device_mode_and_matches_numpy(track_pairs):
    host, dev = track_pairs["still"]
    for spec in all_maps():
        a, b = spec.func(host), spec.func(dev)
        assert (a is None) == (b is None), spec.name
        if a is None:
            continue
        assert isinstance(b.values, np.ndarray), spec.name  # maps come back in host memory
        np.testing.assert_allclose(b.values, a.values, rtol=RTOL, atol=1e-4, err_msg=spec.name)


# --------------------------------------------------------------------------- the whole pipeline


@pytest.fixture(scope="module")
def two_face_clip(tmp_path_factory, carphone_frames):
    from .conftest import write_video

    frames = np.concatenate([carphone_frames, carphone_frames[:, :, ::-1]], axis=2)[:90]  # two faces
    return write_video(str(tmp_path_factory.mktemp("dev") / "two.mp4"), frames, fps=25)


@pytest.mark.parametrize("variant", ["orig", "selfblend"])
def test_extract_video_in_device_mode_matches_the_cpu(two_face_clip, variant):
    calcs = all_calculators()
    cpu = extract_video(two_face_clip, calculators=calcs, device="cpu", variants=(variant,))[0]
    dev = extract_video(two_face_clip, calculators=calcs, device="hostcheck", variants=(variant,))[0]
    assert cpu.status == dev.status == "ok", dev.message
    assert len(dev.tracks) == len(cpu.tracks) == 2
    for tc, td in zip(cpu.tracks, dev.tracks):
        assert not td.errors, td.errors
        assert compare_values(tc.values, td.values, rtol=RTOL, atol=ATOL) == []
        assert all(isinstance(v, float) or type(v) is np.ndarray for v in td.values.values())
        assert all(isinstance(v, float) for v in td.features.values())
        assert not any(math.isnan(v) for k, v in td.features.items() if k.startswith("spectral"))
