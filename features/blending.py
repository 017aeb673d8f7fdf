"""``blending`` family: mismatches across the face's blending boundary (Face X-ray, Li et al. 2020).

Zones come from the track's crop masks: the ``boundary_mask`` band straddles the
face ellipse (scale 0.85 to 1.15); its inner half (inside ``face_mask``) and
outer half are compared, and the face with the ``ring_mask`` around it. The
seam of a real manipulation need not lie in that band (FakeApp and many swaps
replace only the inner face), so texture is also compared between the inner
face (elliptic radius < 0.5: eyes, nose, mouth) and the ring.
Comparisons are log ratios or differences, inside over (minus) outside, so that
0 means "no mismatch" for an untouched image of uniform statistics; a few
levels (noise, sharpness, blocking strength, skin share) give them context.
All calculators work on the part of the 256-px crops that the zones cover,
batched over the frames, except ``compression_grid``, which needs the native
pixels of up to 8 full-resolution frames.
"""
from __future__ import annotations

import numpy as np

from forensics.backend import ndimage_for, to_numpy
from forensics.blending import (
    block_grid,
    colour_by_zone,
    contour_edges,
    elliptic_coords,
    fit_ellipse,
    laplacian,
    texture_by_zone,
)
from forensics.color import luma

from .maps import MapImage, MapSpec, crop_context
from .registry import CHEAP, MODERATE, Calculator

from .track import ellipse_masks

#: frames and window side (pixels) used by the full-resolution block-grid measure
GRID_MAX_FRAMES = 8
GRID_MAX_SIDE = 512
GRID_PERIOD = 8
#: elliptic radius (1 = the face ellipse) within which the "inner face" zone lies
INNER_RHO = 0.5
#: statistics below this (8-bit levels) are flat regions, not evidence: their ratios are NaN
FLOOR = 1e-3


def _log_ratio(a, b, xp):
    ok = (a > FLOOR) & (b > FLOOR)
    return xp.where(ok, xp.log(xp.where(ok, a, 1.0) / xp.where(ok, b, 1.0)), xp.nan)


def _roi(track):
    """The part of the crops that the zones cover, computed once per track.

    Rows and columns that no face, boundary or ring mask touches in any frame
    are cut away (with a 2-pixel margin, so that the local operators see the
    same neighbours as on the whole crop); the window starts on an even pixel
    and has even sides, so the Haar blocks are the whole crop's. Returns a dict
    of sliced ``gray``, ``rgb``, ``face``, ``band``, ``ring``, the face's
    elliptic ``coords`` and the texture ``zones`` ``[inner face, inner band,
    outer band, ring beyond the band]``.
    """
    return track.memo("blending_roi", lambda: _compute_roi(track))


def _compute_roi(track) -> dict:
    xp = track.xp
    face, band, ring = track.face_mask, track.boundary_mask, track.ring_mask
    used = ((face + band + ring) > 0).any(axis=0)
    size = used.shape
    sl = []
    for ax, n in ((1, size[0]), (0, size[1])):
        idx = np.flatnonzero(to_numpy(used.any(axis=ax)))
        lo = max(int(idx[0]) - 2, 0) // 2 * 2 if idx.size else 0
        hi = min(int(idx[-1]) + 3, n) if idx.size else n
        hi += (hi - lo) % 2 if hi < n else 0  # even side (the crop side itself is even)
        sl.append(slice(lo, hi))
    ys, xs = sl
    f, b, r = (xp.ascontiguousarray(m[:, ys, xs]) for m in (face, band, ring))
    coords = elliptic_coords(fit_ellipse(f), f.shape[-2:])
    inner = (coords.rho < INNER_RHO).astype(f.dtype)
    return {
        "gray": xp.ascontiguousarray(track.gray_crops()[:, ys, xs]),
        "rgb": xp.ascontiguousarray(track.crops[:, ys, xs]),
        "face": f,
        "band": b,
        "ring": r,
        "coords": coords,
        "zones": xp.stack([inner, f * b, b * (1 - f), r * (1 - b)], axis=1),
    }


def texture(track) -> dict:
    """Sharpness and noise of the face against its surround.

    Across the contour, log ratios inner band / outer band of the mean gradient magnitude
    (``grad_band``), of the Laplacian's spread (``lap_band``) and of the Haar-HH MAD noise
    sigma (``noise_band``); the same three for the inner face (eyes, nose, mouth: elliptic
    radius < 0.5) against the ring beyond the band (``grad_inner``, ``lap_inner``,
    ``noise_inner``), where a generated face shows its own sharpness wherever its seam lies;
    and two levels, the log noise sigma of the band (``noise_level``) and the log Laplacian
    spread of the inner face (``sharpness``)."""
    xp = track.xp
    roi = _roi(track)
    tz = texture_by_zone(roi["gray"], roi["zones"])
    g, lap, n = tz.gradient, tz.laplacian_std, tz.noise
    return {
        "grad_band": _log_ratio(g[:, 1], g[:, 2], xp),
        "lap_band": _log_ratio(lap[:, 1], lap[:, 2], xp),
        "noise_band": _log_ratio(n[:, 1], n[:, 2], xp),
        "grad_inner": _log_ratio(g[:, 0], g[:, 3], xp),
        "lap_inner": _log_ratio(lap[:, 0], lap[:, 3], xp),
        "noise_inner": _log_ratio(n[:, 0], n[:, 3], xp),
        "noise_level": 0.5 * xp.log(xp.maximum(n[:, 1] * n[:, 2], FLOOR**2)),
        "sharpness": xp.log(xp.maximum(lap[:, 0], FLOOR)),
    }


def colour(track) -> dict:
    """Colour and illumination of the face's skin against the ring of skin around it (YCrCb,
    skin pixels only): differences face minus ring of mean Y, Cr, Cb (``d_y, d_cr, d_cb``,
    8-bit levels), their chroma distance (``chroma_dist``), the log ratio of the luma spread
    (``contrast``), and the ring's skin share (``ring_skin``, how reliable the comparison is)."""
    xp = track.xp
    roi = _roi(track)
    cz = colour_by_zone(roi["rgb"], xp.stack([roi["face"], roi["ring"]], axis=1))
    d = cz.mean[:, 0] - cz.mean[:, 1]  # (T, 3)
    return {
        "d_y": d[:, 0],
        "d_cr": d[:, 1],
        "d_cb": d[:, 2],
        "chroma_dist": xp.sqrt(d[:, 1] ** 2 + d[:, 2] ** 2),
        "contrast": _log_ratio(cz.std[:, 0, 0], cz.std[:, 1, 0], xp),
        "ring_skin": cz.skin_fraction[:, 1],
    }


def edges(track) -> dict:
    """Edges along the mask contour: the share of gradient energy along the contour normal
    in the boundary band (``align_band``, 0.5 for isotropic texture) and its excess over the
    face core inside the band (``align_excess``); the evenness of normal-aligned energy around the contour, median /
    mean over 24 angular sectors (``sector_evenness``: a seam runs all the way round)."""
    xp = track.xp
    roi = _roi(track)
    face, band = roi["face"], roi["band"]
    ce = contour_edges(roi["gray"], xp.stack([band, face * (1 - band)], axis=1), roi["coords"], sector_zone=0)
    e = ce.sector_energy
    mean = e.mean(axis=1)
    evenness = xp.where(mean > 0, xp.median(e, axis=1) / xp.where(mean > 0, mean, 1.0), xp.nan)
    return {
        "align_band": ce.alignment[:, 0],
        "align_excess": ce.alignment[:, 0] - ce.alignment[:, 1],
        "sector_evenness": evenness,
    }


def _grid_windows(frames, boxes, *, max_frames, max_side, period):
    """Native-resolution windows around the face whose origins lie on the block grid.

    Returns ``(windows uint8 (n, s, s, 3), boxes in window pixels (n, 4), frame rows (n,))``.
    """
    t, h, w = frames.shape[:3]
    rows = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    b = np.asarray(boxes, np.float64)[rows]
    face = np.max(np.maximum(b[:, 2:] - b[:, :2], 1), axis=1)
    side = int(np.ceil(1.8 * face.max() / period) * period)
    side = min(side, max_side, h // period * period, w // period * period)
    if side < 4 * period:
        return None
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    x0 = np.clip(np.floor((cx - side / 2) / period) * period, 0, (w - side) // period * period).astype(int)
    y0 = np.clip(np.floor((cy - side / 2) / period) * period, 0, (h - side) // period * period).astype(int)
    win = np.stack([frames[r, y:y + side, x:x + side] for r, y, x in zip(rows, y0, x0)])
    rel = b - np.stack([x0, y0, x0, y0], axis=1)
    return win, rel, rows


def compression_grid(track) -> dict:
    """JPEG/MPEG block-grid consistency at native resolution, face ellipse against the ring
    around it (up to 8 frames, a window of at most 512 px): difference of their log
    peak-to-median blocking ratios (``grid_ratio``), correlation of their 8-phase blocking
    profiles (``grid_corr``: 1 when both sit on the same grid, low when the face was
    compressed on another grid or its grid was resampled away), and their mean blocking
    strength (``grid_level``)."""
    xp = track.xp
    t = track.n_frames
    out = {k: np.full(t, np.nan) for k in ("grid_ratio", "grid_corr", "grid_level")}
    got = _grid_windows(track.frames, track.boxes, max_frames=GRID_MAX_FRAMES, max_side=GRID_MAX_SIDE,
                        period=GRID_PERIOD)
    if got is None:
        return out
    win, rel, rows = got
    s = win.shape[1]
    e10 = ellipse_masks(rel, (s, s), scale=1.0)
    e13 = ellipse_masks(rel, (s, s), scale=1.3)
    zones = xp.asarray(np.stack([e10, e13 * (1 - e10)], axis=1))
    w = xp.asarray(win, dtype=xp.float32)
    bg = block_grid(luma(w), zones, period=GRID_PERIOD)
    p = bg.profile.reshape(bg.profile.shape[:2] + (-1,))  # (n, K, 2 * period)
    mean = p.mean(axis=-1, keepdims=True)
    p = xp.where(mean > FLOOR, p / xp.where(mean > FLOOR, mean, 1.0), xp.nan) - 1
    num = (p[:, 0] * p[:, 1]).sum(axis=-1)
    den = xp.sqrt((p[:, 0] ** 2).sum(axis=-1) * (p[:, 1] ** 2).sum(axis=-1))
    corr = xp.where(den > 0, num / xp.where(den > 0, den, 1.0), xp.nan)
    out["grid_ratio"][rows] = to_numpy(bg.strength[:, 0] - bg.strength[:, 1])
    out["grid_corr"][rows] = to_numpy(corr)
    out["grid_level"][rows] = to_numpy(bg.strength.mean(axis=1))
    return out


#: the three texture measures of :func:`texture`, and the two zone pairs they are compared over
_TEXTURE_WORDS = {"grad": "edge strength (mean gradient)", "lap": "sharpness (Laplacian spread)",
                  "noise": "wavelet noise level"}
_TEXTURE_PAIRS = {"band": "just inside vs just outside the face contour",
                  "inner": "in the inner face vs the ring around the face"}
TEXTURE_PHRASES = {
    **{f"{m}_{z}": f"log ratio of {mw} {zw}" for z, zw in _TEXTURE_PAIRS.items() for m, mw in _TEXTURE_WORDS.items()},
    "noise_level": "log wavelet noise level on both sides of the face contour",
    "sharpness": "log sharpness (Laplacian spread) of the inner face (eyes, nose, mouth)",
}
_VS_RING = "the skin ring around it"
COLOUR_PHRASES = {
    "d_y": f"skin brightness (Y) of the face minus {_VS_RING}",
    "d_cr": f"skin redness (Cr) of the face minus {_VS_RING}",
    "d_cb": f"skin blueness (Cb) of the face minus {_VS_RING}",
    "chroma_dist": f"skin colour distance (Cr, Cb) between the face and {_VS_RING}",
    "contrast": f"log ratio of skin brightness spread (contrast), face vs {_VS_RING}",
    "ring_skin": "share of skin-coloured pixels in the ring around the face",
}
EDGE_PHRASES = {
    "align_band": "share of edge energy running along the face contour, in the contour band",
    "align_excess": "excess of contour-following edge energy in the contour band over the face inside it",
    "sector_evenness": "evenness of contour-following edges all round the face (median over mean of sectors)",
}
GRID_PHRASES = {
    "grid_ratio": "log blocking strength (8-px compression grid), face minus the ring around it",
    "grid_corr": "agreement of the 8-px compression-grid pattern between the face and the ring around it",
    "grid_level": "log blocking strength (8-px compression grid), mean of the face and the ring around it",
}

CALCULATORS = [
    Calculator("blending", "texture", texture, cost=CHEAP, gpu=True,
               description="gradient, Laplacian and wavelet-noise ratios across the face contour and "
                           "inner face vs ring (Face X-ray)",
               features=TEXTURE_PHRASES),
    Calculator("blending", "colour", colour, cost=CHEAP, gpu=True,
               description="YCrCb skin colour/illumination of the face against its skin ring",
               features=COLOUR_PHRASES),
    Calculator("blending", "edges", edges, cost=CHEAP, gpu=True,
               description="alignment of edges with the face contour, evenness around it",
               features=EDGE_PHRASES),
    Calculator("blending", "compression_grid", compression_grid, cost=MODERATE, gpu=True,
               description="block-grid (JPEG/MPEG) strength and phase, face vs surround, native pixels",
               features=GRID_PHRASES),
]


def hf_energy_map(track) -> MapImage:
    """Local high-frequency energy of the face crop: log10 mean |Laplacian| in a 9-px window, median over frames."""
    xp = track.xp
    local = ndimage_for(xp).uniform_filter(xp.abs(laplacian(track.gray_crops())), size=(1, 9, 9), mode="nearest")
    values = np.log10(to_numpy(xp.median(local, axis=0)) + 1e-3)
    return MapImage(values, "Local high-frequency energy of the face crop (log10 mean |Laplacian| in a 9-px window, "
                    "median over frames). A pasted face often differs in sharpness and noise from its surround, and "
                    "a blend leaves a seam along the dashed band.", **crop_context(track))


MAPS = [MapSpec("blending", "hf_energy", hf_energy_map)]
