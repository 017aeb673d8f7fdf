"""``context`` family: the face's noise and detail against the rest of its own frame, at native resolution.

Every column is a difference of logs, face minus surround, measured on the same
frame with the same tile statistics (:mod:`forensics.context`), so a camera's noise
level, an encode's quantiser and the scene's sharpness cancel and what is left is
how the face differs from the footage it sits in. 0 means "the face is like its
frame"; a swap rendered at low resolution, denoised or colour-matched sits below 0
in noise, fine detail, fall-off and chroma noise.

Zones by the face ellipse's normalised radius ``r`` (1 on the contour): the face
core ``r <= 0.85`` (inside any blend seam), the ring ``1.05 < r <= 1.6`` (neck,
hair, near background) and the frame ``r > 1.8`` (everything else, a sample of
tiles over the whole frame). Frames whose face or surround holds fewer than 4
tiles (a face under about 40 px, a face filling the frame) give NaN. The core's
tiles below and above its centre (mouth and chin; eyes and brows) are compared
too, for lip-sync tools, which regenerate only the lower face.

Not in the named sets ``all`` and ``fast`` until a shipped model uses it (``train.py --features all,context``);
``docs/results.md`` (2026-12-03) has what it did to the training pool and to ``labelled/``.
"""
from __future__ import annotations

import numpy as np

from forensics.context import TILE, gather_tiles, tile_texture, zone_quantile, zone_tiles

from .registry import CHEAP, Calculator

__all__ = ["CALCULATORS", "ZONES", "CAP", "zone_pixels"]

#: (lo, hi] normalised-radius ranges of the zones: face core, ring, rest of the frame
ZONES = ((0.0, 0.85), (1.05, 1.6), (1.8, np.inf))
CORE, RING, FRAME = 0, 1, 2
#: the core's lower part (mouth, chin) and upper part (eyes, brows): tile centres this far below / above the
#: ellipse centre, in units of its vertical semi-axis
LOWER, UPPER, HALF_GAP = 3, 4, 0.15
#: most tiles per zone and frame
CAP = 96
#: noise and chroma RMS below this (8-bit levels) are flat, fully quantised tiles: clipped before the log
FLOOR = 0.05
#: quantile of the frame's tile noise taken as its noise floor (its flattest regions)
FLOOR_Q = 0.1


def zone_pixels(track):
    """The frames' zone tiles (:data:`ZONES`, :data:`CAP` per zone) and their RGB pixels on the track's device,
    computed once per track: the ``context`` and ``colour`` families read the same tiles."""
    def compute():
        tiles = zone_tiles(track.boxes, track.frames.shape[1:3], ZONES, tile=TILE, cap=CAP)
        return tiles, track.xp.asarray(gather_tiles(track.frames, tiles, tile=TILE))

    return track.memo("context.zone_pixels", compute)


def context_texture(track) -> dict:
    """Face-core minus ring and minus frame: log noise, fine and coarse detail, fall-off, chroma noise; the
    core's lower part minus its upper part."""
    xp = track.xp
    tiles, pixels = zone_pixels(track)
    tex = tile_texture(pixels)
    zone = xp.asarray(tiles.zone)

    def logq(v, z, q=0.5, zone=zone):
        return xp.log(xp.maximum(zone_quantile(v, zone, z, q), FLOOR))

    def med(v, z, zone=zone):
        return zone_quantile(v, zone, z, 0.5)

    falloff = tex.detail1 - tex.detail2
    out = {}
    # lip-sync tools regenerate the mouth and jaw only: the core's lower part against its upper part
    core = tiles.zone == CORE
    halves = xp.asarray(np.select([core & (tiles.dy > HALF_GAP), core & (tiles.dy < -HALF_GAP)], [LOWER, UPPER], -1))
    out["noise_lower_upper"] = logq(tex.noise, LOWER, zone=halves) - logq(tex.noise, UPPER, zone=halves)
    out["detail_lower_upper"] = med(tex.detail1, LOWER, zone=halves) - med(tex.detail1, UPPER, zone=halves)
    out["falloff_lower_upper"] = med(falloff, LOWER, zone=halves) - med(falloff, UPPER, zone=halves)
    for name, other in (("frame", FRAME), ("ring", RING)):
        out[f"noise_face_{name}"] = logq(tex.noise, CORE) - logq(tex.noise, other)
        out[f"detail_face_{name}"] = med(tex.detail1, CORE) - med(tex.detail1, other)
        out[f"coarse_face_{name}"] = med(tex.detail2, CORE) - med(tex.detail2, other)
        out[f"falloff_face_{name}"] = med(falloff, CORE) - med(falloff, other)
        out[f"chroma_face_{name}"] = logq(tex.chroma, CORE) - logq(tex.chroma, other)
        out[f"aniso_face_{name}"] = med(tex.aniso, CORE) - med(tex.aniso, other)
    out["noise_face_floor"] = logq(tex.noise, CORE) - logq(tex.noise, FRAME, FLOOR_Q)
    return out


_PHRASES = {}
for _name, _where in (("frame", "the frame"), ("ring", "the neck and hair")):
    _PHRASES.update({
        f"noise_face_{_name}": f"log noise level of the face minus that of {_where} (low: a smoothed face)",
        f"detail_face_{_name}": f"fine detail energy of the face minus that of {_where}, in log units",
        f"coarse_face_{_name}": f"second-octave detail energy of the face minus that of {_where}, in log units",
        f"falloff_face_{_name}": f"finest-octave fall-off of the face minus that of {_where} (low: resampled)",
        f"chroma_face_{_name}": f"log chroma noise of the face minus that of {_where} (low: recoloured)",
        f"aniso_face_{_name}": f"horizontal over vertical fine edges in the face minus in {_where}",
    })
_PHRASES.update({
    "noise_lower_upper": "log noise level of the mouth and chin minus that of the eyes and brows (lip-sync)",
    "detail_lower_upper": "fine detail energy of the mouth and chin minus that of the eyes and brows, log units",
    "falloff_lower_upper": "fall-off of the mouth and chin minus that of the eyes and brows (low: re-rendered)",
})
_PHRASES["noise_face_floor"] = "log noise level of the face minus the frame's noise floor (its flattest parts)"

CALCULATORS = [
    # measured, not in the shipped model yet (docs/results.md, 2026-12-03): ``all,context`` adds it
    Calculator("context", "texture", context_texture, cost=CHEAP, gpu=True, in_all=False,
               description="noise, detail, spectral fall-off and chroma noise of the face against the rest of "
                           "its own frame, native-resolution tiles",
               features=_PHRASES),
]
