"""Face geometry shared by every family and by synthesis: the face ellipse and its regions.

The face ellipse of a detector box ``(x0, y0, x1, y1)``: centre lowered by
:data:`CENTRE_DROP` of the box height (MTCNN boxes cut the chin), semi-axes
:data:`HALF_WIDTH` of the box width and :data:`HALF_HEIGHT` of its height. A
region is a range of the ellipse's normalised radius ``r`` (``r = 1`` on the
contour), so every family and the masks of :mod:`features.track` agree on
where the face, its contour band, the skin ring and the background are.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CENTRE_DROP", "HALF_WIDTH", "HALF_HEIGHT", "FACE", "BAND_INNER", "BAND_OUTER", "RING_OUTER",
           "BACKGROUND", "ellipse_params", "ellipse_radius2"]

#: centre drop, semi-axes (fractions of the box height, width, height)
CENTRE_DROP, HALF_WIDTH, HALF_HEIGHT = 0.05, 0.5, 0.6
#: normalised radii of the regions: face ``r <= FACE``; contour band ``BAND_INNER < r <= BAND_OUTER``;
#: skin ring ``FACE < r <= RING_OUTER``; background ``r > BACKGROUND``
FACE, BAND_INNER, BAND_OUTER, RING_OUTER, BACKGROUND = 1.0, 0.85, 1.15, 1.3, 1.5


def ellipse_params(boxes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre ``(cx, cy)`` and semi-axes ``(ax, ay)`` of each box's face ellipse, float64 (T,) each."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx = (b[:, 0] + b[:, 2]) / 2
    cy = (b[:, 1] + b[:, 3]) / 2 + CENTRE_DROP * (b[:, 3] - b[:, 1])
    ax = np.maximum((b[:, 2] - b[:, 0]) * HALF_WIDTH, 1.0)
    ay = np.maximum((b[:, 3] - b[:, 1]) * HALF_HEIGHT, 1.0)
    return cx, cy, ax, ay


def ellipse_radius2(boxes, shape, xp=np, *, stride: int = 1, offset=(0, 0)):
    """Squared normalised radius of each pixel in each face ellipse, float32 (T, h, w).

    ``r2 <= s**2`` is the ellipse grown by ``s``, so all region masks come from
    one computation. Pixel ``(i, j)`` of the grid sits at frame pixel
    ``offset + stride * (i, j)``; ``xp`` (NumPy or CuPy) holds the result.
    """
    cx, cy, ax, ay = ellipse_params(boxes)
    h, w = shape
    ys = xp.asarray(offset[0] + stride * np.arange(h), dtype=xp.float32)
    xs = xp.asarray(offset[1] + stride * np.arange(w), dtype=xp.float32)
    f = lambda v: xp.asarray(v, dtype=xp.float32)[:, None, None]  # noqa: E731
    return ((xs[None, None, :] - f(cx)) / f(ax)) ** 2 + ((ys[None, :, None] - f(cy)) / f(ay)) ** 2
