"""``colour`` family: the face's skin chroma against the neck's in the same frame (colour-transfer residue).

DeepFaceLab and its kin colour-match a swapped face to its target by a per-channel
affine map in Lab (Reinhard et al. 2001, "Color transfer between images"; DeepFaceLab's
RCT and LCT, Perov et al. 2020). The map sets the face's chroma mean and spread to the
target's, but an affine map keeps the shape of each channel's distribution (skewness,
kurtosis) and the channel's correlation with luma (how chroma follows the shading) as the
donor face had them. The neck of the same frame keeps the target's own. Each column is a
difference, face minus neck (or minus the whole ring around the face), over skin pixels
only (the YCrCb box of Chai & Ngan 1999), so the scene's light and the camera's white
balance cancel: 0 means "the face's skin is coloured like the skin around it".

Zones come from the face ellipse's normalised radius on 16-px native tiles
(:func:`forensics.context.zone_tiles`): the face core ``r <= 0.85``, the ring
``1.05 < r <= 1.6`` and, within the ring, the neck (tiles whose centre lies more
than one vertical semi-axis below the ellipse centre). A frame with fewer than 64
skin pixels in a zone gives NaN.

Not in the named sets ``all`` and ``fast`` (``train.py --features all,colour`` adds it);
``docs/results.md`` (2026-12-07, "Colour-transfer residue") has what it measured.
"""
from __future__ import annotations

from forensics.blending import rgb_to_ycrcb, skin_mask
from forensics.color import chroma_moments
from forensics.context import TILE, gather_tiles, zone_tiles

from .registry import CHEAP, Calculator

__all__ = ["CALCULATORS", "ZONES", "NECK_DY"]

#: (lo, hi] normalised-radius ranges: the face core and the ring around it (as in the context family)
ZONES = ((0.0, 0.85), (1.05, 1.6))
CORE, RING = 0, 1
#: ring tiles whose centre lies this many vertical semi-axes below the ellipse centre are the neck
NECK_DY = 1.0
#: most tiles per zone and frame
CAP = 96
#: fewest skin pixels for a zone's moments
MIN_PIXELS = 64.0
CHANNELS = ("cr", "cb")


def colour_residue(track) -> dict:
    """Face minus neck and face minus ring, for Cr and Cb: mean offset, log spread ratio, skewness, excess
    kurtosis and correlation with luma, over skin pixels."""
    xp = track.xp
    tiles = zone_tiles(track.boxes, track.frames.shape[1:3], ZONES, tile=TILE, cap=CAP)
    ycc = rgb_to_ycrcb(xp.asarray(gather_tiles(track.frames, tiles, tile=TILE), dtype=xp.float32))
    skin = skin_mask(ycc)  # (T, K, S, S)
    zone, below = xp.asarray(tiles.zone), xp.asarray(tiles.dy > NECK_DY)
    # zone z's tiles sit in slots z * CAP ... (z + 1) * CAP (forensics.context.zone_tiles): read only those
    core, ring = slice(CORE * CAP, (CORE + 1) * CAP), slice(RING * CAP, (RING + 1) * CAP)
    where = {"face": (core, zone[:, core] == CORE), "ring": (ring, zone[:, ring] == RING),
             "neck": (ring, (zone[:, ring] == RING) & below[:, ring])}
    m = {k: chroma_moments(ycc[:, sl], skin[:, sl] & v[:, :, None, None], min_weight=MIN_PIXELS)
         for k, (sl, v) in where.items()}
    out = {}
    face = m["face"]
    for other in ("neck", "ring"):
        o = m[other]
        for i, ch in enumerate(CHANNELS):
            out[f"{ch}_offset_face_{other}"] = face.mean[:, i] - o.mean[:, i]
            out[f"{ch}_spread_face_{other}"] = xp.log(face.std[:, i] + 1e-3) - xp.log(o.std[:, i] + 1e-3)
            out[f"{ch}_skew_face_{other}"] = face.skew[:, i] - o.skew[:, i]
            out[f"{ch}_kurt_face_{other}"] = face.kurt[:, i] - o.kurt[:, i]
            out[f"{ch}_luma_corr_face_{other}"] = face.luma_corr[:, i] - o.luma_corr[:, i]
    return out


_PHRASES = {}
for _other, _where in (("neck", "the neck"), ("ring", "the skin around the face")):
    for _ch, _name in (("cr", "red chroma (Cr)"), ("cb", "blue chroma (Cb)")):
        _PHRASES.update({
            f"{_ch}_offset_face_{_other}": f"mean {_name} of the face's skin minus that of {_where} (levels)",
            f"{_ch}_spread_face_{_other}": f"log spread of the face's {_name} minus that of {_where}",
            f"{_ch}_skew_face_{_other}": f"skewness of the face's {_name} minus that of {_where}",
            f"{_ch}_kurt_face_{_other}": f"excess kurtosis of the face's {_name} minus that of {_where}",
            f"{_ch}_luma_corr_face_{_other}": f"shading correlation of the face's {_name} minus that of {_where}",
        })

CALCULATORS = [
    # measured, not in the shipped model (docs/results.md, 2026-12-07): ``all,colour`` adds it
    Calculator("colour", "residue", colour_residue, cost=CHEAP, gpu=True, in_all=False,
               description="skin chroma of the face against the neck's and the surrounding skin's: mean, "
                           "spread, skewness, kurtosis and shading correlation (colour-transfer residue)",
               features=_PHRASES),
]
