"""NumPy-vs-CuPy parity of every feature column (``pytest -m gpu``; skipped without a usable CUDA device).

The same tracks as the device-mode tests (``tests/test_device_mode.py``: still, panned camera, no dense
window, two frames) are built on NumPy and on CuPy; every calculator runs on both, and every raw per-frame
value must agree within ``rtol=1e-3, atol=1e-4``, with the same NaN pattern. The pulse features
(``pulse_rate``, ``pulse_share``, ``pulse_share_regions``, ``pulse_rate_spread``) are compared for their NaN
pattern only: they follow the argmax of a spectrum, which a float32 rounding difference can move to a
neighbouring peak. Then ``extract_video(device="cuda")`` on a two-face clip against the CPU.

Why these tolerances: on the GPU the arithmetic is float32 as on the CPU, but FFTs (cuFFT vs pocketfft),
reduction orders and the array DWT (instead of PyWavelets) round differently; 1e-3 relative is 30x the
differences the CPU stand-in shows for the DWT alone, and far below any difference a model notices.
"""
from __future__ import annotations

import numpy as np
import pytest

from features.aggregate import compute_values
from features.registry import all_calculators, all_maps
from forensics.backend import cupy_usable
from pipeline.extract import extract_video

from .test_device_mode import compare_values, detections, make_tracks, two_face_clip  # noqa: F401 - fixture

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cupy_usable(), reason="needs CuPy and a usable CUDA device")]

RTOL, ATOL = 1e-3, 1e-4
#: argmax-driven features: NaN pattern only
LOOSE = ("pulse_rate", "pulse_share", "pulse_share_regions", "pulse_rate_spread")


@pytest.fixture(scope="module")
def gpu_track_pairs(carphone_frames):
    import cupy

    dets = detections(carphone_frames)
    host, dev = make_tracks(carphone_frames, np, dets), make_tracks(carphone_frames, cupy, dets)
    return {k: (host[k], dev[k]) for k in host}


@pytest.mark.parametrize("case", ["still", "panned", "no_dense", "two_frames"])
def test_every_feature_column_matches_numpy_on_cupy(gpu_track_pairs, case):
    import cupy

    host, dev = gpu_track_pairs[case]
    assert isinstance(dev.crops, cupy.ndarray)
    calcs = all_calculators()
    v_host, e_host = compute_values(host, calcs)
    v_dev, e_dev = compute_values(dev, calcs)
    assert not e_dev, e_dev
    assert e_host == e_dev
    bad = compare_values(v_host, v_dev, rtol=RTOL, atol=ATOL, loose=LOOSE)
    assert bad == [], "\n".join(bad)


def test_every_map_matches_numpy_on_cupy(gpu_track_pairs):
    host, dev = gpu_track_pairs["still"]
    for spec in all_maps():
        a, b = spec.func(host), spec.func(dev)
        assert (a is None) == (b is None), spec.name
        if a is not None:
            np.testing.assert_allclose(b.values, a.values, rtol=RTOL, atol=1e-3, err_msg=spec.name)


def test_extract_video_on_cuda_matches_the_cpu(two_face_clip):  # noqa: F811 - the fixture
    calcs = all_calculators()
    cpu = extract_video(two_face_clip, calculators=calcs, device="cpu")[0]
    gpu = extract_video(two_face_clip, calculators=calcs, device="cuda")[0]
    assert cpu.status == gpu.status == "ok", gpu.message
    assert len(gpu.tracks) == len(cpu.tracks)
    for tc, tg in zip(cpu.tracks, gpu.tracks):
        assert not tg.errors, tg.errors
        bad = compare_values(tc.values, tg.values, rtol=RTOL, atol=ATOL, loose=LOOSE)
        assert bad == [], "\n".join(bad)
