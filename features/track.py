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

from forensics import geometry as geo
from forensics.color import luma
from forensics.geometry import ellipse_radius2

__all__ = ["FaceTrack", "DenseWindow", "ellipse_masks", "build_track", "crop_geometry", "CROP_SIZE", "CROP_MARGIN"]

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
    audio : ``(samples, rate)`` or None, the soundtrack under the window (mono float32, sample 0 at
        the first frame), read only when a calculator needs it (``needs_audio``); None without audio
    """

    frames: Any
    boxes: Any
    fps: float
    start_index: int
    scale: float = 1.0
    audio: Any = None


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
        (NumPy, host memory)
    frame_index : int (T,), index of each frame in the video
    fps : float
    crop_scale : float (T,), crop pixels per full-resolution pixel
    dense : DenseWindow or None
    video_info : dict, container facts: ``width``, ``height``, ``fps``, ``n_frames``,
        ``bits_per_pixel`` (file bits / (pixels x frames), a compression estimate), ``codec``
    xp : the array module (numpy or cupy)

    Full-resolution regions (noise features) are cut from ``frames`` by the family that
    needs them, around ``boxes`` with :func:`forensics.geometry.ellipse_radius2`: converting whole 1080p
    frames would cost more than every feature together.
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

    def memo(self, key, compute):
        """``compute()`` once per track: intermediate results that several calculators of a family share
        (PRNU residuals, a region of interest) are computed on first use and reused."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def on_host(self) -> "FaceTrack":
        """This track with every array in host (NumPy) memory; itself when it already is.

        Calculators that declare ``gpu=False`` get this view when the pipeline runs on a GPU.
        """
        if self.xp is np:
            return self

        def convert():
            from forensics.backend import to_numpy

            dense = self.dense
            if dense is not None:
                dense = DenseWindow(to_numpy(dense.frames), to_numpy(dense.boxes), dense.fps, dense.start_index,
                                    dense.scale)
            return FaceTrack(crops=to_numpy(self.crops), face_mask=to_numpy(self.face_mask),
                             ring_mask=to_numpy(self.ring_mask), boundary_mask=to_numpy(self.boundary_mask),
                             background_mask=to_numpy(self.background_mask), landmarks=to_numpy(self.landmarks),
                             boxes=self.boxes, frames=self.frames, frame_index=self.frame_index, fps=self.fps,
                             crop_scale=self.crop_scale, xp=np, dense=dense, video_info=self.video_info)

        return self.memo("on_host", convert)

    def gray_crops(self):
        """Luminance (ITU-R BT.601) of ``crops``, float32 (T, S, S); computed once."""
        return self.memo("gray_crops", lambda: luma(self.crops))


def ellipse_masks(boxes: np.ndarray, shape: tuple[int, int], *, scale: float = 1.0) -> np.ndarray:
    """Binary face ellipses (:func:`forensics.geometry.ellipse_radius2`) grown by ``scale``, float32 (T, H, W)."""
    return (ellipse_radius2(boxes, shape) <= scale**2).astype(np.float32)


def crop_geometry(box, margin: float = CROP_MARGIN) -> tuple[float, float, float]:
    """``(cx, cy, side)`` in frame pixels of the square that :func:`build_track` cuts around ``box``.

    The crop is centred on the box and its side is ``margin`` times the box's longer side (at least 4 px);
    :func:`build_track` maps it onto the ``size`` x ``size`` crop with the affine
    ``crop pixel = size / side * (frame pixel - (c - side / 2))``, so anything cut the same way (a mask, a
    map) lines up with the crops.
    """
    x0, y0, x1, y1 = [float(v) for v in box]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * margin
    return cx, cy, max(side, 4.0)


def build_track(
    frames,
    boxes,
    *,
    landmarks=None,
    frame_index=None,
    fps: float = 25.0,
    xp=np,
    size: int = CROP_SIZE,
    margin: float = CROP_MARGIN,
    dense: DenseWindow | None = None,
    video_info: dict | None = None,
) -> FaceTrack:
    """Cut fixed-size crops and region masks for one face track.

    Parameters
    ----------
    frames : uint8 (T, H, W, 3) RGB full-resolution frames (NumPy)
    boxes : (T, 4) face boxes ``(x0, y0, x1, y1)`` in frame pixels
    landmarks : (T, 5, 2) or None, in frame pixels
    frame_index : (T,) ints or None (defaults to 0..T-1)
    xp : numpy or cupy, where the crops and masks are placed

    Returns
    -------
    FaceTrack
    """
    import cv2

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    t = len(frames)
    if len(boxes) != t:
        raise ValueError("one box per frame is needed")
    lm = np.full((t, 5, 2), np.nan, np.float32) if landmarks is None else np.asarray(landmarks, np.float32)
    crops = np.empty((t, size, size, 3), np.float32)
    scales = np.empty(t, np.float64)
    origin = np.empty((t, 2), np.float64)  # frame pixel at crop pixel (0, 0), (x, y)
    for i in range(t):
        cx, cy, side = crop_geometry(boxes[i], margin)
        s = size / side
        # affine: crop pixel = s * (frame pixel - (c - side/2))
        m = np.array([[s, 0, -s * (cx - side / 2)], [0, s, -s * (cy - side / 2)]], np.float64)
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        crops[i] = cv2.warpAffine(frames[i], m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
        scales[i] = s
        origin[i] = cx - side / 2, cy - side / 2
    # boxes and landmarks in crop pixels (float32 arithmetic, as per frame before), then every region mask
    # from one squared-radius map of all frames
    s32, o32 = scales.astype(np.float32), origin.astype(np.float32)
    crop_boxes = s32[:, None] * (boxes - np.tile(o32, 2))
    lm_crop = s32[:, None, None] * (lm - o32[:, None, :])
    r2 = ellipse_radius2(crop_boxes, (size, size))
    within = {sc: (r2 <= sc**2).astype(np.float32)
              for sc in (geo.FACE, geo.BAND_INNER, geo.BAND_OUTER, geo.RING_OUTER, geo.BACKGROUND)}
    masks = {"face": within[geo.FACE],
             "ring": within[geo.RING_OUTER] * (1 - within[geo.FACE]),
             "boundary": within[geo.BAND_OUTER] * (1 - within[geo.BAND_INNER]),
             "background": 1 - within[geo.BACKGROUND]}
    return FaceTrack(
        crops=xp.asarray(crops),
        face_mask=xp.asarray(masks["face"]),
        ring_mask=xp.asarray(masks["ring"]),
        boundary_mask=xp.asarray(masks["boundary"]),
        background_mask=xp.asarray(masks["background"]),
        landmarks=xp.asarray(lm_crop),
        boxes=boxes,
        frames=frames,
        frame_index=np.arange(t) if frame_index is None else np.asarray(frame_index),
        fps=float(fps),
        crop_scale=scales,
        xp=xp,
        dense=dense,
        video_info=dict(video_info or {}),
    )
