"""Explanation maps: each feature family declares the spatial maps behind its numbers.

A family module lists ``MAPS = [MapSpec(...)]`` next to its ``CALCULATORS``;
:func:`features.registry.all_maps` collects them, and the explanation pages
draw the maps of the families a model uses. A map function takes a
:class:`~features.track.FaceTrack` and returns a :class:`MapImage` (host NumPy
arrays) or None when the track does not allow one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from forensics.backend import to_numpy

__all__ = ["MapImage", "MapSpec", "crop_context", "host_array"]


class MapImage(NamedTuple):
    """A spatial map and what to draw it over."""

    values: np.ndarray  #: (H, W) the map
    description: str  #: one paragraph for the analyst
    base: np.ndarray | None = None  #: (H, W) gray image under the map, or None
    outline: np.ndarray | None = None  #: (H, W) face mask, outlined at 0.5 (solid line)
    band: np.ndarray | None = None  #: (H, W) blending band, outlined at 0.5 (dashed line)
    cmap: str = "inferno"
    symmetric: bool = False  #: colour scale centred on 0


@dataclass(frozen=True)
class MapSpec:
    """A map a family offers: ``func(track) -> MapImage | None``."""

    family: str
    name: str
    func: Callable


def host_array(a):
    """``a`` in host memory as a NumPy array (a CuPy array is copied over; NumPy or None pass through).

    What an explanation page draws (crops, masks, landmarks next to the maps) comes from a
    :class:`~features.track.FaceTrack` whose arrays may live on the GPU; reporting takes them through this
    call and never touches the array backend itself.
    """
    return None if a is None else to_numpy(a)


def crop_context(track) -> dict:
    """``base``, ``outline`` and ``band`` of a map drawn over the face crop (means over frames)."""
    return {"base": to_numpy(track.gray_crops()).mean(axis=0), "outline": to_numpy(track.face_mask).mean(axis=0),
            "band": to_numpy(track.boundary_mask).mean(axis=0)}
