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

Zones are the context family's (:func:`features.context.zone_pixels`: the same tiles,
gathered once per track): the face core ``r <= 0.85``, the ring ``1.05 < r <= 1.6``
and, within the ring, the neck (tiles whose centre lies more than one vertical
semi-axis below the ellipse centre). A frame with fewer than 64 skin pixels in a
zone gives NaN.

Not in the named sets ``all`` and ``fast`` (``train.py --features all,colour`` adds it);
``docs/results.md`` (2026-12-07, "Colour-transfer residue") has what it measured.
"""
from __future__ import annotations

from forensics.blending import rgb_to_ycrcb, skin_mask
from forensics.color import chroma_moments

from .context import CAP, CORE, RING, zone_pixels
from .registry import CHEAP, Calculator

__all__ = ["CALCULATORS", "NECK_DY"]

#: ring tiles whose centre lies this many vertical semi-axes below the ellipse centre are the neck
NECK_DY = 1.0
#: fewest skin pixels for a zone's moments
MIN_PIXELS = 64.0
CHANNELS = ("cr", "cb")


def colour_residue(track) -> dict:
    """Face minus neck and face minus ring, for Cr and Cb: mean offset, log spread ratio, skewness, excess
    kurtosis and correlation with luma, over skin pixels."""
    xp = track.xp
    tiles, pixels = zone_pixels(track)  # the context family's tiles, gathered once per track
    # zone z's tiles sit in slots z * CAP ... (z + 1) * CAP (forensics.context.zone_tiles): read only those
    core, ring = slice(CORE * CAP, (CORE + 1) * CAP), slice(RING * CAP, (RING + 1) * CAP)
    zone, below = xp.asarray(tiles.zone), xp.asarray(tiles.dy > NECK_DY)
    ycc_core, ycc_ring = (rgb_to_ycrcb(xp.asarray(pixels[:, sl], dtype=xp.float32)) for sl in (core, ring))
    skin_core, skin_ring = skin_mask(ycc_core), skin_mask(ycc_ring)  # (T, CAP, S, S)
    in_core, in_ring = (zone[:, core] == CORE)[..., None, None], (zone[:, ring] == RING)[..., None, None]
    m = {"face": chroma_moments(ycc_core, skin_core & in_core, min_weight=MIN_PIXELS),
         "ring": chroma_moments(ycc_ring, skin_ring & in_ring, min_weight=MIN_PIXELS),
         "neck": chroma_moments(ycc_ring, skin_ring & in_ring & below[:, ring, None, None], min_weight=MIN_PIXELS)}
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
