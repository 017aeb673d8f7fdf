"""What a feature calculator receives: one face track of one video.

The orchestration layer (``pipeline.extract``) decodes a video once, detects
and tracks faces, and builds one :class:`FaceTrack` per track with every
region that the feature families need, already on the chosen device (NumPy or
CuPy arrays; ``track.xp`` is the module). Calculators never read files.

Coordinates: ``crops`` are square, fixed-size (``S x S``) views centred on the
face with a margin, so each crop holds the face, the skin ring around it and
some background. ``boxes`` are in full-resolution frame pixels
``(x0, y0, x1, y1)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FaceTrack", "DenseWindow", "ellipse_masks", "CROP_SIZE", "CROP_MARGIN"]

#: side of the fixed-size face crop, in pixels
CROP_SIZE = 256
#: crop side = CROP_MARGIN x the larger side of the face box
CROP_MARGIN = 2.0


@dataclass
class DenseWindow:
    """Consecutive frames at the native rate (for temporal features).

    Attributes
    ----------
    frames : uint8 array (M, h, w, 3), RGB, possibly downscaled from full resolution
    boxes : float array (M, 4), this track's face box in ``frames`` pixels
        (interpolated between detections)
    fps : float
    start_index : int, index of the first frame in the video
    scale : float, ``frames`` pixels per full-resolution pixel
    """

    frames: Any
    boxes: Any
    fps: float
    start_index: int
    scale: float = 1.0


@dataclass
class FaceTrack:
    """One tracked face over the sparsely sampled frames of a video.

    Attributes
    ----------
    crops : float32 (T, S, S, 3), RGB in [0, 255], resized face crops
    face_mask : float32 (T, S, S), 1 inside the face ellipse, 0 outside
    ring_mask : float32 (T, S, S), band of skin/hair just outside the face ellipse
    boundary_mask : float32 (T, S, S), thin band straddling the ellipse contour
    background_mask : float32 (T, S, S), crop pixels well outside the face
    landmarks : float32 (T, 5, 2), (x, y) in crop pixels: eyes, nose, mouth corners
        (NaN where the detector gave none)
    boxes : float32 (T, 4), face box in full-resolution pixels
    frames : uint8 (T, H, W, 3), the full-resolution RGB frames the face is in
        (NumPy, host memory; use :meth:`full_luma` for device arrays)
    frame_index : int (T,), index of each frame in the video
    fps : float
    crop_scale : float (T,), crop pixels per full-resolution pixel
    dense : DenseWindow or None
    video_info : dict, container facts: ``width``, ``height``, ``fps``, ``n_frames``,
        ``bits_per_pixel`` (file bits / (pixels x frames), a compression estimate), ``codec``
    xp : the array module (numpy or cupy)
    """

    crops: Any
    face_mask: Any
    ring_mask: Any
    boundary_mask: Any
    background_mask: Any
    landmarks: Any
    boxes: Any
    frames: np.ndarray
    frame_index: np.ndarray
    fps: float
    crop_scale: np.ndarray
    xp: Any = np
    dense: DenseWindow | None = None
    video_info: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.crops.shape[0])

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.frame_index, dtype=np.float64) / max(self.fps, 1e-6)

    def gray_crops(self):
        """Luminance (ITU-R BT.601) of ``crops``, float32 (T, S, S); cached."""
        if "gray_crops" not in self._cache:
            c = self.crops
            self._cache["gray_crops"] = (0.299 * c[..., 0] + 0.587 * c[..., 1] + 0.114 * c[..., 2]).astype(
                self.xp.float32
            )
        return self._cache["gray_crops"]

    def full_luma(self):
        """Full-resolution luminance on the device, float32 (T, H, W); cached."""
        if "full_luma" not in self._cache:
            f = self.xp.asarray(self.frames)
            y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
            self._cache["full_luma"] = y.astype(self.xp.float32)
        return self._cache["full_luma"]

    def full_face_masks(self, *, scale: float = 1.0):
        """Face-ellipse masks at full resolution, float32 (T, H, W), on the device; cached.

        ``scale`` grows (>1) or shrinks (<1) the ellipse about its centre.
        """
        key = ("full_face_masks", float(scale))
        if key not in self._cache:
            t, h, w = self.frames.shape[:3]
            self._cache[key] = self.xp.asarray(ellipse_masks(np.asarray(self.boxes), (h, w), scale=scale))
        return self._cache[key]


def ellipse_masks(boxes: np.ndarray, shape: tuple[int, int], *, scale: float = 1.0) -> np.ndarray:
    """Binary ellipses inscribed in face boxes, float32 (T, H, W).

    The ellipse is centred on the box, with semi-axes of half the box width and
    0.6 of its height (MTCNN boxes cut the chin and forehead a little), times
    ``scale``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((len(boxes), h, w), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0)
        ax, ay = max((x1 - x0) / 2 * scale, 1.0), max((y1 - y0) * 0.6 * scale, 1.0)
        out[i] = (((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0).astype(np.float32)
    return out
