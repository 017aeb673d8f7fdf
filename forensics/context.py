"""The face's texture measured against its own frame: native-resolution tile statistics per zone.

A swapped or re-rendered face is smoother than the footage it sits in: it was
rendered at 128-320 px and scaled, denoised by the generator, and colour-matched
to the frame, while the neck, hair and background keep the camera's noise and the
codec's treatment of this very frame. Absolute texture levels vary more between
cameras and encodes than between real and fake; the same measurement taken on the
face and on the rest of the frame, and compared, does not (the paired analysis of
``bench/paired_columns.py``: a DeepFaceLive swap has less fine detail and a lower
noise level than its own original in 48 of 54 pairs, yet the absolute levels
separate unpaired clips at AUC 0.62-0.64).

The frame is cut into ``tile x tile`` native-pixel tiles on a grid aligned to the
frame origin (so to the codec's 8- and 16-pixel blocks); each tile is assigned to a
zone by the face ellipse's normalised radius at its centre
(:func:`forensics.geometry.ellipse_radius2`): the face core, the ring around the
face (neck, hair, near background) and the rest of the frame. Each zone keeps at
most ``cap`` tiles, evenly spaced in grid order, so the cost does not grow with the
frame. Per tile, on a one-level and a two-level orthonormal Haar transform
(Mallat 1989):

* ``noise``: RMS of the finest diagonal (HH1) coefficients of luma, which natural
  content barely reaches and sensor noise dominates (Donoho & Johnstone 1994); the
  tile median is the zone's noise level, a low quantile over the frame's tiles the
  frame's noise floor (flat regions);
* ``detail1`` / ``detail2``: log mean energy of the three detail subbands at levels 1
  and 2; their difference is the spectral fall-off at the finest octave, which
  resampling from a lower rendering resolution lowers (Popescu & Farid 2005 for the
  resampling trace; Durall et al. 2020 for the spectral deficit of generated faces);
* ``chroma``: RMS of HH2 of the Cr and Cb planes (second level: 4:2:0 video keeps chroma at
  half resolution), the demosaicing and chroma noise a colour-transferred face does not carry.

Arrays in, arrays out; NumPy or CuPy (tile statistics follow the tiles' module).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .backend import get_namespace
from .blending import rgb_to_ycrcb
from .dwt import wavedec2
from .geometry import ellipse_params

__all__ = ["TILE", "ZoneTiles", "zone_tiles", "gather_tiles", "TileTexture", "tile_texture", "zone_quantile"]

#: tile side in native pixels (two 8-pixel codec blocks; level-2 Haar leaves 4 x 4 coefficients)
TILE = 16


class ZoneTiles(NamedTuple):
    """Tile origins per frame and zone.

    Attributes
    ----------
    origins : int64 (T, K, 2), ``(y, x)`` of each tile's top-left pixel (0 where unused)
    zone : int8 (T, K), index of the tile's zone, -1 where the slot is unused
    dy : float64 (T, K), the tile centre's height below the ellipse centre in units of its vertical
        semi-axis (negative above; NaN where unused): splits a zone into upper and lower parts
    """

    origins: np.ndarray
    zone: np.ndarray
    dy: np.ndarray


def zone_tiles(boxes, frame_shape, zones, *, tile: int = TILE, cap: int = 192) -> ZoneTiles:
    """Grid tiles of each frame that fall in each radial zone of the frame's face ellipse.

    Parameters
    ----------
    boxes : (T, 4) face boxes ``(x0, y0, x1, y1)`` in frame pixels (a non-finite box gives no tiles)
    frame_shape : ``(H, W)``
    zones : sequence of ``(lo, hi)`` normalised-radius ranges, ``lo < r <= hi`` (``hi`` may be ``inf``);
        a tile belongs to the first zone that holds its centre
    tile : tile side (pixels)
    cap : most tiles per zone and frame, evenly spaced in grid order when more qualify

    Returns
    -------
    ZoneTiles with ``K = cap * len(zones)`` slots per frame
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = int(frame_shape[0]), int(frame_shape[1])
    ny, nx = h // tile, w // tile
    t, k = len(b), cap * len(zones)
    origins = np.zeros((t, k, 2), np.int64)
    zone = np.full((t, k), -1, np.int8)
    dy = np.full((t, k), np.nan)
    if ny == 0 or nx == 0:
        return ZoneTiles(origins, zone, dy)
    gy, gx = np.meshgrid(np.arange(ny) * tile, np.arange(nx) * tile, indexing="ij")
    gy, gx = gy.ravel(), gx.ravel()
    cy_t, cx_t = gy + tile / 2 - 0.5, gx + tile / 2 - 0.5
    cx, cy, ax, ay = ellipse_params(b)
    for i in range(t):
        if not np.isfinite(b[i]).all():
            continue
        v = (cy_t - cy[i]) / ay[i]
        r = np.sqrt(((cx_t - cx[i]) / ax[i]) ** 2 + v**2)
        taken = np.zeros(r.shape, bool)
        for z, (lo, hi) in enumerate(zones):
            idx = np.flatnonzero((r > lo) & (r <= hi) & ~taken)
            taken[idx] = True
            if len(idx) > cap:
                idx = idx[np.linspace(0, len(idx) - 1, cap).round().astype(np.int64)]
            s = slice(z * cap, z * cap + len(idx))
            origins[i, s, 0], origins[i, s, 1] = gy[idx], gx[idx]
            zone[i, s] = z
            dy[i, s] = v[idx]
    return ZoneTiles(origins, zone, dy)


def gather_tiles(frames, tiles: ZoneTiles, *, tile: int = TILE) -> np.ndarray:
    """The pixels of every tile slot, ``frames[t, y:y+tile, x:x+tile]``: (T, K, tile, tile, C), ``frames``' dtype.

    ``frames`` is (T, H, W, C) or (T, H, W) in host memory; unused slots hold the frame's top-left tile
    (their ``zone`` is -1, so no statistic reads them).
    """
    f = np.asarray(frames)
    t, k = tiles.zone.shape
    d = np.arange(tile)
    ys = tiles.origins[..., 0][..., None, None] + d[:, None]
    xs = tiles.origins[..., 1][..., None, None] + d[None, :]
    ti = np.arange(t)[:, None, None, None]
    return f[ti, ys, xs]


class TileTexture(NamedTuple):
    """Per-tile statistics, each (T, K), float32.

    Attributes
    ----------
    noise : RMS of luma HH1 (8-bit levels)
    detail1, detail2 : log mean detail energy at Haar levels 1 and 2 (log of squared levels)
    aniso : log of the level-1 energy of the band that differences rows (LH: horizontal edges) over the band
        that differences columns (HL: vertical edges); a frame resampled or deinterlaced along one axis only
        departs from the scene's own balance
    chroma : RMS of Cr and Cb HH2 together (levels)
    """

    noise: object
    detail1: object
    detail2: object
    chroma: object
    aniso: object


def tile_texture(tiles) -> TileTexture:
    """Noise, detail energy at two scales and chroma noise of each RGB tile.

    Chroma is measured at the second level (HH2 of Cr and Cb): 4:2:0 video stores chroma at half
    resolution, so its finest level holds only the upsampling filter.

    Parameters
    ----------
    tiles : array (T, K, S, S, 3) RGB on the 0-255 scale, S divisible by 4 (NumPy or CuPy)

    Returns
    -------
    TileTexture
    """
    xp = get_namespace(tiles)
    if tiles.shape[-3] % 4 or tiles.shape[-2] % 4:
        raise ValueError("tile sides must be divisible by 4")
    ycc = rgb_to_ycrcb(xp.asarray(tiles, dtype=xp.float32))  # the offsets of Cr, Cb do not reach the details
    planes = xp.ascontiguousarray(xp.moveaxis(ycc, -1, 2))  # (T, K, 3, S, S): contiguous blocks are faster
    _, d2, d1 = wavedec2(planes, "haar", level=2)
    # level 2 on the scale of the 2 x 2 block means (the orthonormal LL doubles them)
    d2 = tuple(b / 2 for b in d2)

    def meansq(v):
        return xp.mean(v * v, axis=(-2, -1))

    def energy(bands):
        return xp.log((meansq(bands[0]) + meansq(bands[1]) + meansq(bands[2])) / 3 + xp.float32(1e-4))

    y1 = tuple(b[:, :, 0] for b in d1)
    y2 = tuple(b[:, :, 0] for b in d2)
    hh2 = meansq(d2[2][:, :, 1:])  # (T, K, 2): Cr, Cb
    eps = xp.float32(1e-4)
    aniso = xp.log((meansq(y1[0]) + eps) / (meansq(y1[1]) + eps))
    return TileTexture(xp.sqrt(meansq(y1[2])), energy(y1), energy(y2), xp.sqrt(hh2.mean(axis=-1)), aniso)


#: stands in for the tiles outside the zone: sorted after every statistic, and finite so that differences stay 0
_LAST = 1e300


def zone_quantile(values, zone, z: int, q: float, *, min_tiles: int = 4):
    """``q``-quantile (linear interpolation, as ``numpy.quantile``) of ``values`` (T, K) over the tiles of zone
    ``z`` in each frame, (T,) float64; NaN for frames with fewer than ``min_tiles`` tiles in the zone."""
    xp = get_namespace(values)
    v = xp.asarray(values, dtype=xp.float64)
    sel = xp.asarray(zone) == z
    s = xp.sort(xp.where(sel, v, _LAST), axis=1)  # the zone's tiles first, in order (finite: no inf - inf)
    n = sel.sum(axis=1)
    pos = q * xp.maximum(n - 1, 0)
    lo = xp.floor(pos).astype(xp.int64)
    hi = xp.minimum(lo + 1, xp.maximum(n - 1, 0))
    rows = xp.arange(v.shape[0])
    a, b = s[rows, lo], s[rows, hi]
    out = a + (pos - lo) * (b - a)
    return xp.where(n >= min_tiles, out, xp.nan)
