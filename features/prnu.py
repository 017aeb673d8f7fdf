"""``prnu`` family: sensor-noise (PRNU) consistency of the face against its own video.

Every frame of a camera carries the sensor's multiplicative pattern ``K``
(:mod:`forensics.prnu`). A face pasted in or re-synthesised in every frame
carries another pattern, none, or the noise of a generator and re-encoding.

Where it is computed
--------------------
PRNU lives in sensor pixels and dies under resampling, so nothing here uses
the resized 256-px crops: one fixed window of the full-resolution luminance
(:func:`forensics.prnu.face_window`: ``2 x`` the median face side, at most
``MAX_SIDE`` px, a multiple of 16, centred on the median face position and
*not* following the face) is cut from every sampled frame. Inside it, per
frame: the face ellipse (``scale 1``), the background outside the ``1.3``
ellipse, and two bands either side of the face contour (``0.85-1`` inside,
``1-1.15`` outside). Regions too small give NaN, never an error.

Camera motion
-------------
Global motion is measured by phase correlation of the background (the face
weighted out with a soft ellipse edge) on a decimated copy of the whole frame
(long side ``MOTION_SIDE``), against the middle frame. Frames the camera moved
in are **left out** of every fingerprint feature (their values are NaN); they
are *not* registered. The largest set of frames whose shifts agree within
``max(1, stride / 2)`` full-res pixels is kept
(:func:`forensics.prnu.static_frames`); when it holds fewer than
``min(MIN_STATIC, T)`` frames every fingerprint feature is NaN.
``static_fraction`` reports the share kept. Residual statistics and SRM
features do not depend on alignment and use every frame.

Why not register: when a camera physically pans, the PRNU stays in sensor
(frame) coordinates, so shifting frames by the scene motion would misalign
it; only digital re-framing (crop or zoom edits, stabilisation) moves the
PRNU with the scene. Leaving moved frames out is safe in both cases. The
price: much handheld footage loses its fingerprint features. Using every
frame unregistered instead did not score better in grouped cross-validation
on the labelled clips, so the safe choice stays.

Features
--------
``fingerprint``: per frame, NCC of the frame's residual with the
leave-one-out ML fingerprint of the same region (``ncc_face``, ``ncc_bg`` and
their difference), NCC of the face residual with the *background*
fingerprint where the face moved over pixels that were background in other
frames (``ncc_face_bgfp``); per track, signed ``log10(1 + |PCE|)`` of the
face-region fingerprint against the background fingerprint on their common
pixels (``pce_face_bgfp``) and, as the video's reference level, of the two
background fingerprints of the even and odd frames (``pce_bg_split``).
``groups``: Koopman et al. (2018) temporal consistency: mean NCC between
the fingerprints of 4 groups of frames, face and background, and the difference.
``residual_stats``: residual energy (face), log variance ratios face/background
and across the face contour, excess kurtosis of face and background.
``srm``: for three SRM residuals (first order, second order, 3x3 square;
Fridrich & Kodovsky 2012) the entropy of the symmetrised co-occurrence in the
face, its difference to the background, and their Jensen-Shannon divergence.

The face correlations (``fingerprint``, ``groups``) use the face ellipse
shrunk to 0.85: the wavelet residual near the contour mixes in the
background's pattern, so a face with no pattern of its own still correlates
with its fingerprint over the full ellipse, far less over the core.

Only luminance is used: per-channel residuals would triple the dominant cost
(the DWT), and after 4:2:0 chroma subsampling the chroma planes carry no
independent sensor noise.

Cost
----
Dominated by the noise residual (4-level db8 DWT, Wiener shrinkage, DFT
Wiener filter) of ``T`` windows of at most ``MAX_SIDE`` x ``MAX_SIDE`` px; on
the CPU the DWT runs in PyWavelets, faster than the array DWT of
:mod:`forensics.dwt`. The window side is the main knob: the cost grows with
the window's area.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from forensics import prnu as fp
from forensics.backend import to_numpy
from forensics.color import luma

from forensics import geometry as geo
from forensics.geometry import ellipse_radius2

from .maps import MapImage, MapSpec
from .registry import EXPENSIVE, MODERATE, Calculator

__all__ = ["PrnuRegions", "prnu_regions", "prnu_residuals", "CALCULATORS"]

#: largest side (px) of the analysis window; the DWT cost grows with its area
MAX_SIDE = 256
#: ellipse scales of the face, the background boundary and the contour bands (forensics.geometry)
FACE_SCALE, BG_SCALE, INNER_SCALE, OUTER_SCALE = geo.FACE, geo.RING_OUTER, geo.BAND_INNER, geo.BAND_OUTER
#: background weight of the camera-motion estimate: 0 inside the background ellipse, ramping to 1 beyond it
MOTION_BG_SCALE, MOTION_TAPER = geo.BACKGROUND, 0.25
#: long side (px) of the decimated frame used for the camera-motion estimate
MOTION_SIDE = 320
#: fewest static frames for fingerprint features
MIN_STATIC = 8
#: fewest other frames behind a leave-one-out fingerprint pixel
MIN_FRAMES = 3
#: fewest pixels for a per-frame correlation or statistic
MIN_PIXELS = 512
#: wavelet denoiser noise sigma (8-bit units), as in Lukas et al. 2006
SIGMA = 5.0


class PrnuRegions(NamedTuple):
    """The fixed full-resolution window of a track and its per-frame regions.

    Attributes
    ----------
    window : forensics.prnu.Window or None (None: frame too small; then all arrays are None)
    luma : float32 (T, h, w) on the device
    face, core, background, inner, outer : float32 (T, h, w) 0/1 masks (``core``: the face
        ellipse shrunk to 0.85, for correlations, away from residual leaking across the contour)
    static : bool NumPy (T,), frames without camera motion
    shift : float NumPy (T, 2), global shift of each frame (full-res pixels)
    """

    window: object
    luma: object
    face: object
    core: object
    background: object
    inner: object
    outer: object
    static: np.ndarray
    shift: np.ndarray


def _camera_motion(track, xp):
    """Global shift (full-res px) of every frame and the static subset (see module docstring)."""
    frames = track.frames
    t, hh, ww = frames.shape[:3]
    stride = max(1, math.ceil(max(hh, ww) / MOTION_SIDE))
    small = frames[:, ::stride, ::stride]
    h, w = small.shape[1:3]
    r = xp.sqrt(ellipse_radius2(track.boxes, (h, w), xp, stride=stride))
    bg = xp.clip((r - MOTION_BG_SCALE) / MOTION_TAPER, 0, 1)  # soft edge: 0 on the face, 1 beyond the ramp
    motion = fp.global_motion(luma(xp.asarray(small)), bg)
    shift = to_numpy(motion.shift).astype(np.float64) * stride
    static = fp.static_frames(shift, tol=max(1.0, stride / 2))
    return static, shift


def prnu_regions(track) -> PrnuRegions:
    """Window, luma, region masks and static frames of a track; computed once per track."""
    return track.memo(("prnu", "regions", MAX_SIDE), lambda: _regions(track))


def _regions(track) -> PrnuRegions:
    xp = track.xp
    t = track.n_frames
    win = fp.face_window(track.boxes, track.frames.shape[1:3], max_side=MAX_SIDE)
    if win is None:
        return PrnuRegions(None, None, None, None, None, None, None, np.zeros(t, bool), np.full((t, 2), np.nan))
    sub = track.frames[:, win.y0:win.y0 + win.h, win.x0:win.x0 + win.w]
    r2 = ellipse_radius2(track.boxes, (win.h, win.w), xp, offset=(win.y0, win.x0))
    m = lambda lo, hi: ((r2 > lo**2) & (r2 <= hi**2)).astype(xp.float32)  # noqa: E731
    static, shift = _camera_motion(track, xp)
    return PrnuRegions(
        window=win,
        luma=luma(xp.asarray(sub)),
        face=(r2 <= FACE_SCALE**2).astype(xp.float32),
        core=(r2 <= INNER_SCALE**2).astype(xp.float32),
        background=(r2 > BG_SCALE**2).astype(xp.float32),
        inner=m(INNER_SCALE, FACE_SCALE),
        outer=m(FACE_SCALE, OUTER_SCALE),
        static=static,
        shift=shift,
    )


def prnu_residuals(track):
    """PRNU noise residuals of the window luma (:func:`forensics.prnu.noise_residual`), (T, h, w); computed once."""
    def compute():
        reg = prnu_regions(track)
        return None if reg.window is None else fp.noise_residual(reg.luma, sigma=SIGMA)

    return track.memo(("prnu", "residuals", MAX_SIDE), compute)


def _nan(t):
    return np.full(t, np.nan)


def _slog(x, xp):
    return xp.sign(x) * xp.log10(1 + xp.abs(x))


def _loo_ncc(w, i, mask):
    """Per-frame NCC of each frame's residual with the leave-one-out fingerprint of ``mask``."""
    f = fp.fingerprint(w, i, mask, leave_one_out=True)
    sel = mask * (f.count_loo >= MIN_FRAMES)
    out = fp.ncc(w, i * f.k_loo, sel, min_pixels=MIN_PIXELS)
    return out, f


def _fp_pce(f1, f2, xp):
    """Signed log PCE of two fingerprints on the pixels both cover (track level)."""
    common = (f1.count >= MIN_FRAMES) & (f2.count >= MIN_FRAMES)
    return _slog(fp.pce(f1.k, f2.k, common, min_pixels=MIN_PIXELS), xp)


def fingerprint_features(track) -> dict:
    """NCC / PCE of face residuals against the face and background fingerprints (see module docstring)."""
    t = track.n_frames
    reg = prnu_regions(track)
    names = ("ncc_face", "ncc_bg", "ncc_face_minus_bg", "ncc_face_bgfp")
    scal = ("pce_face_bgfp", "pce_bg_split")
    static_fraction = np.float64(reg.static.mean()) if t else np.float64(np.nan)
    nan_out = {**{n: _nan(t) for n in names}, **{n: np.float64(np.nan) for n in scal},
               "static_fraction": static_fraction}
    if reg.window is None or reg.static.sum() < min(MIN_STATIC, t):
        return nan_out
    xp = track.xp
    w_all = prnu_residuals(track)
    keep = np.flatnonzero(reg.static)
    kx = slice(None) if len(keep) == t else xp.asarray(keep)  # no copies in the usual all-static case
    w, i = w_all[kx], reg.luma[kx]
    face, bg = reg.core[kx], reg.background[kx]
    ncc_face, f_face = _loo_ncc(w, i, face)
    ncc_bg, f_bg = _loo_ncc(w, i, bg)
    # face residual against the background fingerprint (face and background never overlap in one frame)
    sel = face * (f_bg.count >= MIN_FRAMES)
    ncc_face_bgfp = fp.ncc(w, i * f_bg.k, sel, min_pixels=MIN_PIXELS)
    # reference level: background fingerprints of alternate frames against each other
    even, odd = slice(0, None, 2), slice(1, None, 2)
    f_even = fp.fingerprint(w[even], i[even], bg[even])
    f_odd = fp.fingerprint(w[odd], i[odd], bg[odd])

    def full(v):
        out = _nan(t)
        out[keep] = np.asarray(to_numpy(v), dtype=np.float64)
        return out

    return {
        "ncc_face": full(ncc_face),
        "ncc_bg": full(ncc_bg),
        "ncc_face_minus_bg": full(ncc_face - ncc_bg),
        "ncc_face_bgfp": full(ncc_face_bgfp),
        "pce_face_bgfp": _fp_pce(f_face, f_bg, xp),
        "pce_bg_split": _fp_pce(f_even, f_odd, xp),
        "static_fraction": static_fraction,
    }


def group_features(track) -> dict:
    """Koopman et al. (2018) group-fingerprint consistency of the face and the background (track level)."""
    reg = prnu_regions(track)
    nan = np.float64(np.nan)
    if reg.window is None or reg.static.sum() < min(MIN_STATIC, track.n_frames):
        return {"group_ncc_face": nan, "group_ncc_bg": nan, "group_ncc_face_minus_bg": nan}
    xp = track.xp
    kx = slice(None) if reg.static.all() else xp.asarray(np.flatnonzero(reg.static))
    w, i = prnu_residuals(track)[kx], reg.luma[kx]
    g_face = fp.group_consistency(w, i, reg.core[kx], min_pixels=MIN_PIXELS).mean
    g_bg = fp.group_consistency(w, i, reg.background[kx], min_pixels=MIN_PIXELS).mean
    return {"group_ncc_face": g_face, "group_ncc_bg": g_bg, "group_ncc_face_minus_bg": g_face - g_bg}


def residual_stats(track) -> dict:
    """Residual energy, variance and kurtosis inside vs outside the face and across its contour, per frame."""
    t = track.n_frames
    reg = prnu_regions(track)
    names = ("log_energy_face", "log_var_face_bg", "log_var_contour", "kurt_face", "kurt_bg")
    if reg.window is None:
        return {n: _nan(t) for n in names}
    xp = track.xp
    w = prnu_residuals(track)
    mf = fp.masked_moments(w, reg.face, min_pixels=MIN_PIXELS)
    mb = fp.masked_moments(w, reg.background, min_pixels=MIN_PIXELS)
    mi = fp.masked_moments(w, reg.inner, min_pixels=MIN_PIXELS // 4)
    mo = fp.masked_moments(w, reg.outer, min_pixels=MIN_PIXELS // 4)
    return {
        "log_energy_face": xp.log10(mf.energy + 1e-12),
        "log_var_face_bg": xp.log10((mf.variance + 1e-12) / (mb.variance + 1e-12)),
        "log_var_contour": xp.log10((mi.variance + 1e-12) / (mo.variance + 1e-12)),
        "kurt_face": mf.kurtosis,
        "kurt_bg": mb.kurtosis,
    }


def srm_features(track) -> dict:
    """Co-occurrence entropy of three SRM residuals in the face, vs the background, per frame."""
    t = track.n_frames
    reg = prnu_regions(track)
    out = {}
    if reg.window is None:
        for name in fp.SRM_RESIDUALS:
            out.update({f"srm_{name}_entropy": _nan(t), f"srm_{name}_entropy_diff": _nan(t),
                        f"srm_{name}_js": _nan(t)})
        return out
    xp = track.xp
    # region labels on the residual grid: 0 elsewhere, 1 face, 2 background
    labels = (reg.face + 2 * reg.background)[:, 1:-1, 1:-1].astype(xp.int32)
    for name, pairs in fp.srm_residuals(reg.luma).items():
        q = fp.SRM_RESIDUALS[name]
        c = sum(fp.cooccurrence(r, labels, n_labels=3, q=q, axis=ax) for r, ax in pairs)
        c = c * xp.where(c.sum(axis=-1, keepdims=True) >= MIN_PIXELS, 1.0, xp.nan)
        cf, cb = c[:, 1], c[:, 2]
        hf, hb = fp.entropy(cf), fp.entropy(cb)
        out[f"srm_{name}_entropy"] = hf
        out[f"srm_{name}_entropy_diff"] = hf - hb
        out[f"srm_{name}_js"] = fp.js_divergence(cf, cb)
    return out


FINGERPRINT_PHRASES = {
    "ncc_face": "correlation (NCC) of the face's sensor noise with its pattern in the other frames",
    "ncc_bg": "correlation (NCC) of the background's sensor noise with its pattern in the other frames",
    "ncc_face_minus_bg": "face-minus-background correlation (NCC) of sensor noise with its pattern in other frames",
    "ncc_face_bgfp": "correlation (NCC) of the face's sensor noise with the background pattern on the same pixels",
    "pce_face_bgfp": "signed log match strength (PCE) of the face and background sensor-noise patterns",
    "pce_bg_split": "signed log match strength (PCE) of background noise patterns from even vs odd frames",
    "static_fraction": "share of frames without camera motion (the frames the noise patterns use)",
}
GROUP_PHRASES = {
    "group_ncc_face": "agreement (mean NCC) of the face's sensor-noise pattern between frame groups",
    "group_ncc_bg": "agreement (mean NCC) of the background's sensor-noise pattern between frame groups",
    "group_ncc_face_minus_bg":
        "face-minus-background agreement (mean NCC) of sensor-noise patterns between frame groups",
}
_RESIDUAL = "sensor-noise residual"
RESIDUAL_PHRASES = {
    "log_energy_face": f"log energy of the {_RESIDUAL} in the face",
    "log_var_face_bg": f"log variance ratio of the {_RESIDUAL}, face vs background",
    "log_var_contour": f"log variance ratio of the {_RESIDUAL} just inside vs outside the face contour",
    "kurt_face": f"peakedness (excess kurtosis) of the {_RESIDUAL} in the face",
    "kurt_bg": f"peakedness (excess kurtosis) of the {_RESIDUAL} in the background",
}
#: the SRM residuals of :data:`forensics.prnu.SRM_RESIDUALS` in plain words
_SRM_WORDS = {"first": "first-difference", "second": "second-difference", "square": "3x3 high-pass"}
SRM_PHRASES = {}
for _name, _words in _SRM_WORDS.items():
    _patterns = f"3-pixel patterns of {_words} noise"
    SRM_PHRASES.update({
        f"srm_{_name}_entropy": f"variety (entropy) of {_patterns} in the face",
        f"srm_{_name}_entropy_diff": f"face-minus-background variety (entropy) of {_patterns}",
        f"srm_{_name}_js": f"face-vs-background difference (Jensen-Shannon) in {_patterns}",
    })

CALCULATORS = [
    Calculator("prnu", "fingerprint", fingerprint_features, cost=EXPENSIVE, gpu=True,
               description="face residual vs face/background PRNU fingerprints: NCC, PCE (Lukas 2006, Chen 2008)",
               features=FINGERPRINT_PHRASES),
    Calculator("prnu", "groups", group_features, cost=EXPENSIVE, gpu=True,
               description="PRNU consistency between groups of frames, face vs background (Koopman 2018)",
               features=GROUP_PHRASES),
    Calculator("prnu", "residual_stats", residual_stats, cost=EXPENSIVE, gpu=True,
               description="PRNU residual energy/variance/kurtosis, face vs background and across the contour",
               features=RESIDUAL_PHRASES),
    Calculator("prnu", "srm", srm_features, cost=MODERATE, gpu=True,
               description="SRM residual co-occurrence entropy, face vs background (Fridrich & Kodovsky 2012)",
               features=SRM_PHRASES),
]


def prnu_agreement_map(track, *, size: int = 24) -> MapImage | None:
    """Local correlation of each frame's PRNU residual with the other frames' fingerprint.

    In the fixed full-resolution window, over the frames without camera
    motion: the leave-one-out fingerprint of the whole window (Chen et al.
    2008) times the frame, correlated with the frame's residual in ``size`` x
    ``size`` windows (:func:`forensics.prnu.local_ncc`), averaged over frames.
    The same statistic as ``ncc_face``/``ncc_bg``, mapped.
    """
    reg = prnu_regions(track)
    if reg.window is None or int(np.sum(reg.static)) < max(MIN_FRAMES, 3):
        return None
    xp = track.xp
    keep = xp.asarray(np.flatnonzero(reg.static))
    w, img = prnu_residuals(track)[keep], reg.luma[keep]
    f = fp.fingerprint(w, img, leave_one_out=True)
    values = to_numpy(xp.nanmean(fp.local_ncc(w, img * f.k_loo, size=size), axis=0))
    return MapImage(values, f"PRNU (sensor noise) agreement: local correlation ({size}-px windows) of each frame's "
                    "noise residual with the fingerprint estimated from the other frames, averaged over the "
                    f"{int(np.sum(reg.static))} frames without camera motion, in a fixed full-resolution window. "
                    "A real face carries the camera's pattern like its surround; a synthesised face shows low "
                    "agreement inside the outline. Heavy compression weakens it everywhere.",
                    base=to_numpy(reg.luma[keep]).mean(axis=0), outline=to_numpy(reg.face[keep]).mean(axis=0),
                    cmap="RdBu_r", symmetric=True)


MAPS = [MapSpec("prnu", "prnu_agreement", prnu_agreement_map)]
