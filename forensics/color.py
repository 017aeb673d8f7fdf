"""Colour conversions shared by every family (NumPy or CuPy)."""
from __future__ import annotations

from .backend import get_namespace

__all__ = ["LUMA_WEIGHTS", "luma"]

#: ITU-R BT.601 luma weights for (R, G, B)
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def luma(rgb):
    """BT.601 luma of ``rgb`` (..., 3) on its own backend.

    Floating input keeps its precision; integer input (uint8 frames) becomes float32.
    """
    xp = get_namespace(rgb)
    rgb = xp.asarray(rgb)
    dt = rgb.dtype if rgb.dtype in (xp.float32, xp.float64) else xp.float32
    return rgb.astype(dt, copy=False) @ xp.asarray(LUMA_WEIGHTS, dtype=dt)
