"""Self-blended fakes: a frame's own face, altered, blended back onto it.

A self-blended image (SBI) carries the blending artefacts of a face swap (a
mask contour across which noise, sharpness, colour and geometry disagree) but
no identity change, so a detector trained on SBIs against the untouched
frames learns the artefacts from real footage alone (Shiohara & Yamasaki
2022; Face X-ray blends two real faces for the same reason, Li et al. 2020).

Videos need one more thing than images: a real deepfake is a consistent face,
so :func:`sample_blend_params` draws one alteration per video, and
:func:`self_blend` adds only a small per-frame jitter of the mask.
Everything is deterministic given the random generator, and any frame can be
blended, real or already fake (self-blending labelled data adds a second
boundary).

The alteration, per video:

* colour and contrast: per-channel gain and offset, contrast about the face mean;
* sharpen (unsharp mask) or blur (Gaussian);
* geometry and resampling: the source face is scaled and shifted by a few
  percent of the face size with a chosen interpolation, optionally through a
  down-and-up resize (the lower resolution of a generated face);
* optional additive Gaussian noise (fresh per frame, same sigma);
* the mask: an ellipse from the face box or the hull of points derived from the
  five landmarks, deformed by random low-order Fourier modes of its radius
  (a smooth elastic deformation of the contour), feathered inwards over a
  chosen width, scaled by a blend ratio.

Pixels outside the mask's support are returned bit-identical.

References
----------
K. Shiohara, T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022. L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    "SelfBlend",
    "SelfBlendFrames",
    "sample_blend_params",
    "self_blend",
    "self_blend_frames",
    "blend_contour",
    "feathered_mask",
    "alter_face",
]

#: points on the mask contour
N_CONTOUR = 96
#: harmonics k = 2 .. 1 + N_HARMONICS of the radial deformation
N_HARMONICS = 5

_INTERP = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}


class SelfBlend(NamedTuple):
    """Result of :func:`self_blend`: the blended frame (uint8 RGB) and the blend mask (float32 in [0, 1])."""

    frame: np.ndarray
    mask: np.ndarray


class SelfBlendFrames(NamedTuple):
    """Result of :func:`self_blend_frames`: frames uint8 (T, H, W, 3) and masks float32 (T, H, W)."""

    frames: np.ndarray
    masks: np.ndarray


def sample_blend_params(rng: np.random.Generator) -> dict:
    """Draw one video's alteration, so that every frame of a fake is altered alike.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``gain`` (3,), ``offset`` (3,), ``contrast``: colour and contrast jitter;
        ``sharpen``: > 0 unsharp-mask amount, < 0 blur (sigma = -sharpen px,
        times face size / 256 for faces larger than 256 px); ``src_scale``,
        ``src_shift`` (2,), ``interp``, ``resample``: geometry of the source
        face (fractions of the face size) and its resampling (down-up factor,
        1 = none); ``noise``: additive noise sigma;
        ``mask``: ``"ellipse"`` or ``"hull"``; ``scale``: mask size; ``harmonics``
        (N, 2): amplitude and phase of radial modes k = 2, 3, ...; ``feather``:
        feather width (fraction of the face size); ``ratio``: blend ratio;
        ``jitter``: per-frame mask jitter (fraction).
    """
    gain = rng.uniform(0.9, 1.1, size=3)
    offset = rng.uniform(-10.0, 10.0, size=3)
    # never an invisible alteration: at least 3 levels of offset on one channel
    j = int(rng.integers(3))
    offset[j] = np.sign(offset[j] or 1.0) * max(abs(offset[j]), 3.0)
    k = np.arange(2, 2 + N_HARMONICS)
    return {
        "gain": gain,
        "offset": offset,
        "contrast": float(rng.uniform(0.85, 1.15)),
        "sharpen": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.5)),
        "src_scale": float(rng.uniform(0.96, 1.04)),
        "src_shift": rng.uniform(-0.02, 0.02, size=2),
        "interp": str(rng.choice(["linear", "cubic", "area"])),
        "resample": float(rng.uniform(0.4, 0.9)) if rng.random() < 0.5 else 1.0,
        "noise": float(rng.uniform(1.0, 4.0)) if rng.random() < 0.3 else 0.0,
        "mask": str(rng.choice(["ellipse", "hull"])),
        "scale": float(rng.uniform(0.8, 1.05)),
        "harmonics": np.stack([rng.normal(0.0, 0.05, size=N_HARMONICS) / np.sqrt(k - 1),
                               rng.uniform(0, 2 * np.pi, size=N_HARMONICS)], axis=1),
        "feather": float(rng.uniform(0.02, 0.1)),
        "ratio": float(rng.choice([0.6, 0.75, 0.9, 1.0, 1.0, 1.0])),
        "jitter": float(rng.uniform(0.005, 0.02)),
    }


def _landmark_hull_points(landmarks) -> np.ndarray:
    """Face-outline points from five landmarks (eyes, nose, mouth corners).

    The five points span only eyes to mouth, so brow, cheek, jaw and chin
    points are extrapolated along the eye line ``u`` and the eye-to-mouth axis
    ``v``; this follows head roll, unlike the box ellipse.
    """
    le, re, nose, lm, rm = np.asarray(landmarks, np.float64)
    e, m = (le + re) / 2, (lm + rm) / 2
    u, v = re - le, m - e
    extra = [
        le - 0.55 * v - 0.2 * u, re - 0.55 * v + 0.2 * u,  # brows
        e - 0.75 * v,  # mid-brow
        le + 0.4 * v - 0.45 * u, re + 0.4 * v + 0.45 * u,  # cheeks
        lm + 0.55 * v - 0.25 * u, rm + 0.55 * v + 0.25 * u,  # jaw
        m + 0.8 * v,  # chin
    ]
    return np.vstack([le, re, nose, lm, rm, np.array(extra)])


def _radial_profile(points, centre, n: int) -> np.ndarray:
    """Radius of the convex hull of ``points`` about ``centre`` at ``n`` equal angles."""
    hull = cv2.convexHull(np.asarray(points, np.float32)).reshape(-1, 2).astype(np.float64)
    # walk the hull's edges densely and read radius against angle
    nxt = np.roll(hull, -1, axis=0)
    s = np.linspace(0.0, 1.0, 32, endpoint=False)
    dense = (hull[:, None, :] * (1 - s[None, :, None]) + nxt[:, None, :] * s[None, :, None]).reshape(-1, 2)
    d = dense - centre
    ang = np.arctan2(d[:, 1], d[:, 0])
    rad = np.hypot(d[:, 0], d[:, 1])
    order = np.argsort(ang)
    theta = np.linspace(-np.pi, np.pi, n, endpoint=False)
    return np.interp(theta, ang[order], rad[order], period=2 * np.pi)


def blend_contour(box, landmarks=None, *, params: dict, rng: np.random.Generator | None = None,
                  n: int = N_CONTOUR) -> np.ndarray:
    """Contour of the blending mask, (n, 2) ``(x, y)`` frame pixels.

    The base shape is the face-box ellipse (semi-axes 0.5 x box width and 0.6 x
    box height, centred 5 % of the height below the box centre, as the track's
    face mask) or the hull of landmark-derived face points; its radius about the
    centre is scaled by ``params["scale"]`` and modulated by
    ``1 + sum_k a_k cos(k theta + phi_k)`` (``params["harmonics"]``). With ``rng``
    the harmonics, scale and centre are jittered by ``params["jitter"]``.
    """
    x0, y0, x1, y1 = [float(v) for v in box]
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    size = max(w, h)
    theta = np.linspace(-np.pi, np.pi, n, endpoint=False)
    lm = None if landmarks is None else np.asarray(landmarks, np.float64).reshape(5, 2)
    if params.get("mask") == "hull" and lm is not None and np.isfinite(lm).all():
        pts = _landmark_hull_points(lm)
        centre = pts.mean(axis=0)
        radius = _radial_profile(pts, centre, n)
    else:
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * h])
        a, b = w / 2, 0.6 * h
        radius = a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
    harm = np.asarray(params.get("harmonics", np.zeros((0, 2))), np.float64).reshape(-1, 2)
    amp, phase = harm[:, 0].copy(), harm[:, 1]
    scale = float(params.get("scale", 1.0))
    if rng is not None:
        jit = float(params.get("jitter", 0.01))
        amp = amp + rng.normal(0.0, jit / 2, size=amp.shape)
        scale *= 1.0 + rng.normal(0.0, jit)
        centre = centre + rng.normal(0.0, jit * size, size=2)
    k = np.arange(2, 2 + len(amp))
    mod = 1.0 + (amp[:, None] * np.cos(k[:, None] * theta[None, :] + phase[:, None])).sum(axis=0)
    r = radius * scale * np.clip(mod, 0.5, 1.5)
    return centre + r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)


def feathered_mask(contour, shape, *, feather_px: float, ratio: float = 1.0) -> np.ndarray:
    """Blend mask inside a polygon, feathered inwards: float32 (H, W) in [0, ratio].

    The mask rises from exactly 0 on and outside the contour to ``ratio`` at
    ``feather_px`` pixels inside it (smoothstep of the Euclidean distance), so
    nothing outside the contour is touched and the seam has no step.
    """
    h, w = shape
    binary = np.zeros((h, w), np.uint8)
    pts = np.round(np.asarray(contour, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(binary, [pts], 1, lineType=cv2.LINE_8, shift=4)
    if feather_px < 1:
        return binary.astype(np.float32) * np.float32(ratio)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    t = np.clip(dist / np.float32(feather_px), 0, 1)
    return (t * t * (3 - 2 * t) * np.float32(ratio)).astype(np.float32)


def alter_face(region, *, params: dict, face_size: float, centre, rng: np.random.Generator | None = None) -> np.ndarray:
    """The altered source face: ``region`` (h, w, 3) float32 resampled, recoloured,
    sharpened or blurred, and noised as ``params`` says; float32, not clipped.

    ``face_size`` (pixels) sets the scale of shifts and blurs; ``centre`` (x, y)
    in region pixels is the fixed point of the source scaling.
    """
    h, w = region.shape[:2]
    interp = _INTERP.get(params.get("interp", "linear"), cv2.INTER_LINEAR)
    s = float(params.get("src_scale", 1.0))
    dx, dy = np.asarray(params.get("src_shift", (0.0, 0.0)), np.float64) * face_size
    cx, cy = centre
    m = np.array([[s, 0, (1 - s) * cx + dx], [0, s, (1 - s) * cy + dy]], np.float64)
    warp_interp = cv2.INTER_LINEAR if interp == cv2.INTER_AREA else interp  # AREA is not a warp kernel
    alt = cv2.warpAffine(region, m, (w, h), flags=warp_interp, borderMode=cv2.BORDER_REFLECT)
    f = float(params.get("resample", 1.0))
    if f < 1.0:
        small = cv2.resize(alt, (max(int(round(w * f)), 1), max(int(round(h * f)), 1)), interpolation=cv2.INTER_AREA)
        alt = cv2.resize(small, (w, h), interpolation=interp if interp != cv2.INTER_AREA else cv2.INTER_LINEAR)
    mean = alt.reshape(-1, 3).mean(axis=0)
    alt = (alt - mean) * np.float32(params.get("contrast", 1.0)) + mean
    alt = alt * np.asarray(params.get("gain", 1.0), np.float32) + np.asarray(params.get("offset", 0.0), np.float32)
    sharp = float(params.get("sharpen", 0.0))
    # a generated face is rendered at ~256 px and scaled to the face: blur grows with larger faces
    sigma = max(abs(sharp) * max(face_size / 256.0, 1.0), 0.5)
    if sharp > 0:
        alt = alt + sharp * (alt - cv2.GaussianBlur(alt, (0, 0), sigma))
    elif sharp < 0:
        alt = cv2.GaussianBlur(alt, (0, 0), sigma)
    noise = float(params.get("noise", 0.0))
    if noise > 0 and rng is not None:
        alt = alt + rng.normal(0.0, noise, size=alt.shape).astype(np.float32)
    return alt.astype(np.float32)


def self_blend(frame: np.ndarray, box, landmarks=None, *, params: dict, rng: np.random.Generator) -> SelfBlend:
    """Blend an altered copy of ``frame``'s face back onto ``frame``.

    Parameters
    ----------
    frame : uint8 (H, W, 3) RGB, full resolution
    box : (x0, y0, x1, y1) face box in frame pixels
    landmarks : (5, 2) or None
        Eyes, nose, mouth corners in frame pixels; used by the ``hull`` mask
        (the box ellipse is used when they are missing or not finite).
    params : dict
        One video's alteration, from :func:`sample_blend_params`; missing keys
        take neutral defaults (no deformation, blend ratio 1, 10 % feather).
    rng : numpy.random.Generator
        Per-frame mask jitter and noise.

    Returns
    -------
    SelfBlend
        ``frame`` uint8 (H, W, 3) and ``mask`` float32 (H, W) in [0, 1]; pixels
        where the mask is 0 are bit-identical to the input.
    """
    frame = np.asarray(frame)
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = [float(v) for v in box]
    size = max(x1 - x0, y1 - y0)
    if not np.isfinite([x0, y0, x1, y1]).all() or size < 4:
        return SelfBlend(frame.copy(), np.zeros((h, w), np.float32))
    contour = blend_contour(box, landmarks, params=params, rng=rng)
    # work on a window around the mask, wide enough for the source shift and blur
    pad = int(np.ceil(0.1 * size)) + 8
    cx0 = int(max(np.floor(contour[:, 0].min()) - pad, 0))
    cy0 = int(max(np.floor(contour[:, 1].min()) - pad, 0))
    cx1 = int(min(np.ceil(contour[:, 0].max()) + pad + 1, w))
    cy1 = int(min(np.ceil(contour[:, 1].max()) + pad + 1, h))
    mask = np.zeros((h, w), np.float32)
    out = frame.copy()
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return SelfBlend(out, mask)
    region = frame[cy0:cy1, cx0:cx1].astype(np.float32)
    m = feathered_mask(contour - [cx0, cy0], region.shape[:2], feather_px=params.get("feather", 0.1) * size,
                       ratio=params.get("ratio", 1.0))
    centre = np.array([(x0 + x1) / 2 - cx0, (y0 + y1) / 2 - cy0])  # the face's, not the jittered mask's
    alt = alter_face(region, params=params, face_size=size, centre=centre, rng=rng)
    blended = np.clip(np.rint(region + m[..., None] * (alt - region)), 0, 255).astype(np.uint8)
    inside = m > 0
    out[cy0:cy1, cx0:cx1][inside] = blended[inside]
    mask[cy0:cy1, cx0:cx1] = m
    return SelfBlend(out, mask)


def self_blend_frames(frames, boxes, landmarks=None, *, seed) -> SelfBlendFrames:
    """A whole self-blended fake video sample from one real (or fake) one.

    Draws one alteration (:func:`sample_blend_params`) from ``seed`` and blends
    every frame with it (:func:`self_blend`), the masks jittered per frame.

    Parameters
    ----------
    frames : uint8 (T, H, W, 3) RGB
    boxes : (T, 4) face boxes in frame pixels
    landmarks : (T, 5, 2) or None, in frame pixels (NaN rows allowed)
    seed : int or numpy.random.SeedSequence; the same seed gives the same fake

    Returns
    -------
    SelfBlendFrames
        ``frames`` uint8 (T, H, W, 3), ``masks`` float32 (T, H, W).
    """
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) != len(frames):
        raise ValueError("one box per frame is needed")
    rng = np.random.default_rng(seed)
    params = sample_blend_params(rng)
    out = np.empty_like(frames)
    masks = np.zeros(frames.shape[:3], np.float32)
    for i in range(len(frames)):
        lm = None if landmarks is None else landmarks[i]
        out[i], masks[i] = self_blend(frames[i], boxes[i], lm, params=params, rng=rng)
    return SelfBlendFrames(out, masks)
