"""Video reading: one straight-through decode per file.

Frames are reached with ``grab()`` (demux + decode, no colour conversion) and
only the wanted ones are ``retrieve()``-d; the file is never seeked per frame
(seeking costs several times more: ../shared/docs/REFERENCES.md). The same pass
collects the sparse sample (``n_frames`` spread evenly) and, when asked, a
dense window of consecutive frames for temporal features.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["VideoError", "DecodedVideo", "sample_indices", "read_video", "VIDEO_EXTENSIONS"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


class VideoError(Exception):
    """A file that cannot be used; ``code`` is the per-file status written to the CSV."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class DecodedVideo:
    """Frames and facts from one decode.

    Attributes
    ----------
    frames : uint8 (N, H, W, 3) RGB, the sparse sample at full resolution
    indices : int (N,), their frame numbers
    fps : float
    n_total : int, frames decoded in the whole pass
    dense_frames : uint8 (M, h, w, 3) RGB or None, consecutive frames, downscaled
    dense_start : int, frame number of the first dense frame
    dense_scale : float, dense pixels per full-resolution pixel
    info : dict, container facts (``width``, ``height``, ``fps``, ``n_frames``, ``codec``,
        ``bits_per_pixel``, ``rotation``)
    warnings : list of str
    """

    frames: np.ndarray
    indices: np.ndarray
    fps: float
    n_total: int
    dense_frames: np.ndarray | None = None
    dense_start: int = 0
    dense_scale: float = 1.0
    info: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


def sample_indices(n_total: int, n: int) -> np.ndarray:
    """``n`` frame numbers spread evenly over ``[0, n_total)``, first and last included.

    Fewer than ``n`` come back when the video is shorter.
    """
    if n_total <= 0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n >= n_total:
        return np.arange(n_total, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_total - 1, n)).astype(np.int64))


def _open(path: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if cap.isOpened():
        # Honour rotation metadata (phone videos); on by default in OpenCV >= 4.5, set explicitly.
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _count_frames(path: str) -> int:
    cap = _open(path)
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def read_video(path: str, *, n_frames: int = 32, dense: int = 0, dense_max_side: int = 320) -> DecodedVideo:
    """Decode ``path`` once, keeping ``n_frames`` evenly spread frames and an optional dense window.

    Parameters
    ----------
    path : str
    n_frames : int
        Frames in the sparse sample.
    dense : int
        Length of the window of consecutive frames (centred in the video); 0 for none.
    dense_max_side : int
        Dense frames are downscaled so that their larger side is at most this.

    Raises
    ------
    VideoError
        ``not_found``, ``empty_file``, ``unreadable`` (not a video / no decoder),
        ``no_frames`` (opens but yields no frame: corrupt or truncated).
    """
    if not os.path.exists(path):
        raise VideoError("not_found", f"no such file: {path}")
    size = os.path.getsize(path)
    if size == 0:
        raise VideoError("empty_file", "zero-byte file")
    cap = _open(path)
    if not cap.isOpened():
        raise VideoError("unreadable", "OpenCV/FFmpeg cannot open this file as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    fps = float(fps) if np.isfinite(fps) and 0 < fps < 1000 else 25.0
    n_header = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ") if fourcc else ""
    rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0)
    warnings: list[str] = []
    if n_header <= 0:
        cap.release()
        n_header = _count_frames(path)
        if n_header == 0:
            raise VideoError("no_frames", "the file opens but no frame decodes (corrupt or truncated)")
        warnings.append("frame count missing from the container; counted by decoding")
        cap = _open(path)

    wanted = sample_indices(n_header, n_frames)
    dense = int(max(0, min(dense, n_header)))
    dense_start = max(0, n_header // 2 - dense // 2)
    dense_stop = dense_start + dense
    last_needed = max(int(wanted[-1]) if wanted.size else -1, dense_stop - 1)
    wanted_set = set(int(i) for i in wanted)

    sparse, got_idx, dense_frames = [], [], []
    dense_scale = 1.0
    i = 0
    while i <= last_needed:
        if not cap.grab():
            break
        in_dense = dense_start <= i < dense_stop
        if i in wanted_set or in_dense:
            ok, frame = cap.retrieve()
            if ok and frame is not None:
                rgb = _to_rgb(frame)
                if i in wanted_set:
                    sparse.append(rgb)
                    got_idx.append(i)
                if in_dense:
                    h, w = rgb.shape[:2]
                    dense_scale = min(1.0, dense_max_side / max(h, w))
                    small = rgb if dense_scale == 1.0 else cv2.resize(
                        rgb, (max(1, round(w * dense_scale)), max(1, round(h * dense_scale))),
                        interpolation=cv2.INTER_AREA)
                    dense_frames.append(small)
        i += 1
    n_decoded = i
    cap.release()

    if not sparse:
        raise VideoError("no_frames", "no frame could be decoded (corrupt or truncated file)")
    if n_decoded <= last_needed:
        warnings.append(f"stream ended at frame {n_decoded} of {n_header} announced (truncated?); "
                        f"kept {len(sparse)} sampled frames")
    shapes = {f.shape for f in sparse}
    if len(shapes) > 1:  # resolution changes mid-stream: keep the most common size
        common = max(shapes, key=lambda s: sum(f.shape == s for f in sparse))
        keep = [k for k, f in enumerate(sparse) if f.shape == common]
        sparse = [sparse[k] for k in keep]
        got_idx = [got_idx[k] for k in keep]
        warnings.append("frame size changes within the video; kept frames of the most common size")
    frames = np.stack(sparse)
    h, w = frames.shape[1:3]
    n_total = max(n_decoded, n_header) if n_decoded > last_needed else n_decoded
    info = {
        "width": int(w),
        "height": int(h),
        "fps": fps,
        "n_frames": int(n_total),
        "codec": codec,
        "rotation": rotation,
        "file_bytes": int(size),
        # bits per pixel per frame: a container-level compression estimate
        "bits_per_pixel": float(8.0 * size / max(1, w * h * max(n_total, 1))),
    }
    dense_arr = None
    if dense_frames and len({f.shape for f in dense_frames}) == 1:
        dense_arr = np.stack(dense_frames)
    return DecodedVideo(frames=frames, indices=np.asarray(got_idx, dtype=np.int64), fps=fps, n_total=int(n_total),
                        dense_frames=dense_arr, dense_start=dense_start, dense_scale=dense_scale,
                        info=info, warnings=warnings)
