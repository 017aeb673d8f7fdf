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

Pixels outside the mask's support are returned bit-identical, and every
blend returns its exact blend mask (the per-pixel weight of the source), the
pixel-level truth a boundary model can be trained on.

Regions and richer masks
------------------------
:func:`sample_blend_params` is the original draw (the shipped model was
trained on it; it is kept bit-for-bit). :func:`sample_region_params` draws
from a wider family so that no typical rim can be learned: a region
(``face``; ``lower``: mouth, chin and lower cheeks below the nose, which
lip-sync fakes alter; ``eyes``: eyes, brows and nose band), a size,
aspect, rotation and offset of the mask, a per-video contour roughness, a
feather width spread over an order of magnitude, and a rim profile
(smoothstep, linear, convex, concave ramps inwards, or a Gaussian-blurred
edge across the contour as in Face X-ray).

Generator-like alterations
--------------------------
:func:`sample_generator_params` replaces sharpening and resampling by a
re-rendering of the face at 64-256 px, optionally smoothed edge-preservingly
(the plastic skin of GAN faces), and upsampled bilinearly or by a transposed
convolution whose uneven kernel overlap leaves a checkerboard (Odena et al.
2016), the up-sampling traces that spectral detectors see (Durall et al.
2020; Frank et al. 2020). :func:`generator_frames` blends such a face back.

References
----------
K. Shiohara, T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022. L. Li et al., "Face X-ray for More General Face Forgery
Detection", CVPR 2020. A. Odena, V. Dumoulin, C. Olah, "Deconvolution and
Checkerboard Artifacts", Distill 2016. R. Durall, M. Keuper, J. Keuper,
"Watch your Up-Convolution", CVPR 2020. J. Frank et al., "Leveraging
Frequency Analysis for Deep Fake Image Recognition", ICML 2020.
K. R. Prajwal et al., "A Lip Sync Expert Is All You Need for Speech to Lip
Generation In the Wild" (Wav2Lip: the lower face only, at 96 px), ACM MM 2020.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from forensics.geometry import ellipse_params

__all__ = [
    "SelfBlend",
    "SelfBlendFrames",
    "REGIONS",
    "PROFILES",
    "sample_blend_params",
    "sample_region_params",
    "sample_generator_params",
    "self_blend",
    "self_blend_frames",
    "generator_frames",
    "blend_source",
    "blend_contour",
    "region_points",
    "box_landmarks",
    "feathered_mask",
    "alter_face",
    "render_lowres",
    "transposed_upsample",
]

#: points on the mask contour
N_CONTOUR = 96
#: harmonics k = 2 .. 1 + N_HARMONICS of the radial deformation
N_HARMONICS = 5

#: mask regions of :func:`sample_region_params`
REGIONS = ("face", "lower", "eyes")
#: rim profiles of :func:`feathered_mask`
PROFILES = ("smoothstep", "linear", "convex", "concave", "blur")
#: a face box's five landmarks (eyes, nose, mouth corners) as fractions of the box, for frames without them
BOX_LANDMARKS = np.array([[0.31, 0.37], [0.69, 0.37], [0.50, 0.56], [0.35, 0.77], [0.65, 0.77]])

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


def sample_region_params(rng: np.random.Generator, *, region: str = "face") -> dict:
    """Draw one video's alteration with the wider mask family (see the module notes).

    The alteration of the source face (colour, sharpening, resampling, noise)
    is drawn as in :func:`sample_blend_params`; the mask is redrawn.

    Parameters
    ----------
    rng : numpy.random.Generator
    region : ``"face"``, ``"lower"`` or ``"eyes"`` (:data:`REGIONS`)

    Returns
    -------
    dict
        The keys of :func:`sample_blend_params` and: ``region``; ``aspect``
        (stretch of the mask along its rotated x axis, 1/aspect along y);
        ``angle`` (radians); ``mask_shift`` (2,) centre shift as a fraction of
        the face size; ``top`` (``lower`` only: where the mask starts below the
        nose tip, as a fraction of the eye-to-mouth distance); ``profile``
        (:data:`PROFILES`); ``feather`` log-uniform over 1-20 % of the face size
        (1-12 % for the smaller regions).
    """
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose from {REGIONS}")
    p = sample_blend_params(rng)
    k = np.arange(2, 2 + N_HARMONICS)
    roughness = float(rng.uniform(0.01, 0.1))  # per video: from a smooth oval to a wobbly contour
    whole = region == "face"
    p.update(
        region=region,
        mask=str(rng.choice(["ellipse", "hull"])) if whole else "hull",
        scale=float(rng.uniform(0.75, 1.12) if whole else rng.uniform(0.85, 1.25)),
        aspect=float(np.exp(rng.uniform(-0.2, 0.2))),
        angle=float(rng.normal(0.0, 0.12)),
        mask_shift=rng.uniform(-0.05, 0.05, size=2),
        harmonics=np.stack([rng.normal(0.0, roughness, size=N_HARMONICS) / np.sqrt(k - 1),
                            rng.uniform(0, 2 * np.pi, size=N_HARMONICS)], axis=1),
        feather=float(np.exp(rng.uniform(np.log(0.01), np.log(0.2 if whole else 0.12)))),
        profile=str(rng.choice(PROFILES)),
    )
    if region == "lower":
        p["top"] = float(rng.uniform(-0.05, 0.3))
    return p


def sample_generator_params(rng: np.random.Generator, *, region: str = "face") -> dict:
    """Draw one video's generator-like alteration: the face re-rendered at low resolution.

    The mask is drawn as in :func:`sample_region_params`; sharpening,
    resampling and noise are replaced by ``render``: a dict with ``size`` (the
    face's rendered size, 64-256 px), ``upsample`` (``"bilinear"`` or
    ``"transposed"``), ``delta`` (the transposed kernel's centre-to-side
    imbalance, 0.006-0.03: the checkerboard's relative amplitude per axis) and
    ``smooth`` (bilateral-filter colour sigma for GAN-like skin smoothing, 0
    for none) with ``smooth_space`` (its spatial sigma in rendered pixels).
    Colour mismatch is halved: a generator is trained to match the face.
    """
    p = sample_region_params(rng, region=region)
    p.update(
        sharpen=0.0, resample=1.0, noise=0.0,
        gain=1.0 + (np.asarray(p["gain"]) - 1.0) / 2, offset=np.asarray(p["offset"]) / 2,
        contrast=1.0 + (p["contrast"] - 1.0) / 2,
        render={
            "size": int(rng.choice([64, 96, 128, 160, 192, 224, 256])),
            "upsample": str(rng.choice(["bilinear", "transposed"])),
            "delta": float(rng.uniform(0.006, 0.03)),
            "smooth": float(rng.uniform(8.0, 30.0)) if rng.random() < 0.6 else 0.0,
            "smooth_space": float(rng.uniform(1.0, 2.5)),
        },
    )
    return p


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


def box_landmarks(box) -> np.ndarray:
    """Typical five landmarks (eyes, nose, mouth corners) of a frontal face in ``box``, (5, 2) pixels.

    A stand-in for frames without detected landmarks (the dense window), so
    that region masks still sit on the mouth or the eyes.
    """
    x0, y0, x1, y1 = [float(v) for v in box]
    return np.array([x0, y0]) + BOX_LANDMARKS * np.array([x1 - x0, y1 - y0])


def region_points(landmarks, region: str, *, top: float = 0.1) -> np.ndarray:
    """Outline points of a face region from five landmarks, (k, 2) frame pixels.

    Points are placed along the eye line ``u`` (left to right eye) and the
    eye-to-mouth axis ``v``, so they follow head roll and scale.

    Parameters
    ----------
    landmarks : (5, 2) eyes, nose, mouth corners
    region : ``"face"`` (brows to chin, cheek to cheek), ``"lower"`` (from
        ``top`` x |v| below the nose tip down to the chin, cheek to cheek: what
        lip-sync fakes re-render) or ``"eyes"`` (brows, eyes and the nose down
        to the nostrils)
    top : ``lower`` only; negative values start above the nose tip
    """
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    if region == "face":
        return _landmark_hull_points(lm)
    le, re, nose, ml, mr = lm
    e, m = (le + re) / 2, (ml + mr) / 2
    u, v = re - le, m - e
    if region == "lower":
        t = nose + top * v
        pts = [t - 0.5 * u, t + 0.5 * u,  # under the nose, cheek to cheek
               ml - 0.4 * u + 0.1 * v, mr + 0.4 * u + 0.1 * v,  # cheeks at the mouth
               ml + 0.5 * v - 0.2 * u, mr + 0.5 * v + 0.2 * u,  # jaw
               m + 0.75 * v]  # chin
    elif region == "eyes":
        pts = [le - 0.45 * u - 0.45 * v, re + 0.45 * u - 0.45 * v,  # outer brows
               e - 0.55 * v,  # above the mid-brow
               le - 0.5 * u + 0.2 * v, re + 0.5 * u + 0.2 * v,  # under the eyes, outer
               nose - 0.3 * u + 0.15 * v, nose + 0.3 * u + 0.15 * v]  # nostrils
    else:
        raise ValueError(f"unknown region {region!r}; choose from {REGIONS}")
    return np.vstack(pts)


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

    The base shape is the face-box ellipse (:func:`forensics.geometry.ellipse_params`, as the
    track's face mask) or the hull of landmark-derived face points; its radius about the
    centre is scaled by ``params["scale"]`` and modulated by
    ``1 + sum_k a_k cos(k theta + phi_k)`` (``params["harmonics"]``). With ``rng``
    the harmonics, scale and centre are jittered by ``params["jitter"]``.

    Parameters with a ``region`` key (:func:`sample_region_params`) take the
    hull of :func:`region_points` for ``lower`` and ``eyes`` (with
    :func:`box_landmarks` when landmarks are missing), then stretch the
    contour by ``aspect``, rotate it by ``angle`` and shift it by
    ``mask_shift`` (a fraction of the face size). Without ``region`` the result is the
    original, bit for bit.
    """
    x0, y0, x1, y1 = [float(v) for v in box]
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    size = max(w, h)
    theta = np.linspace(-np.pi, np.pi, n, endpoint=False)
    lm = None if landmarks is None else np.asarray(landmarks, np.float64).reshape(5, 2)
    have_lm = lm is not None and bool(np.isfinite(lm).all())
    region = params.get("region")
    if region in ("lower", "eyes"):
        pts = region_points(lm if have_lm else box_landmarks(box), region, top=float(params.get("top", 0.1)))
        centre = pts.mean(axis=0)
        radius = _radial_profile(pts, centre, n)
    elif params.get("mask") == "hull" and have_lm:
        pts = _landmark_hull_points(lm)
        centre = pts.mean(axis=0)
        radius = _radial_profile(pts, centre, n)
    else:
        cx, cy, ax, ay = ellipse_params(box)
        centre = np.array([cx[0], cy[0]])
        a, b = ax[0], ay[0]
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
    if region is None:
        return centre + r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    st = np.sqrt(float(params.get("aspect", 1.0)))
    ang = float(params.get("angle", 0.0))
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    local = r[:, None] * np.stack([np.cos(theta) * st, np.sin(theta) / st], axis=1)
    return centre + np.asarray(params.get("mask_shift", (0.0, 0.0)), np.float64) * size + local @ rot.T


def feathered_mask(contour, shape, *, feather_px: float, ratio: float = 1.0,
                   profile: str = "smoothstep") -> np.ndarray:
    """Blend mask of a polygon, feathered: float32 (H, W) in [0, ratio].

    With the ramp profiles the mask rises from exactly 0 on and outside the
    contour to ``ratio`` at ``feather_px`` pixels inside it, as a function of
    the Euclidean distance ``d`` to the outside with ``t = min(d / feather_px,
    1)``: ``smoothstep`` 3t^2 - 2t^3 (the default, and the original),
    ``linear`` t, ``convex`` t^2 (a soft rim) or ``concave`` t(2 - t) (a
    hard rim); nothing outside the contour is touched and the seam has no
    step. ``blur`` is the filled polygon blurred by a Gaussian of sigma
    ``feather_px / 3`` (Face X-ray's mask), which reaches out across the
    contour by about ``1.2 x feather_px``; values below 1/1024 are set to 0 so
    that the support is compact.
    """
    h, w = shape
    binary = np.zeros((h, w), np.uint8)
    pts = np.round(np.asarray(contour, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(binary, [pts], 1, lineType=cv2.LINE_8, shift=4)
    if feather_px < 1:
        return binary.astype(np.float32) * np.float32(ratio)
    if profile == "blur":
        m = cv2.GaussianBlur(binary.astype(np.float32), (0, 0), feather_px / 3.0, borderType=cv2.BORDER_CONSTANT)
        m[m < 1.0 / 1024] = 0
        return (np.minimum(m, 1.0) * np.float32(ratio)).astype(np.float32)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    t = np.clip(dist / np.float32(feather_px), 0, 1)
    if profile == "smoothstep":
        t = t * t * (3 - 2 * t)
    elif profile == "convex":
        t = t * t
    elif profile == "concave":
        t = t * (2 - t)
    elif profile != "linear":
        raise ValueError(f"unknown profile {profile!r}; choose from {PROFILES}")
    return (t * np.float32(ratio)).astype(np.float32)


def transposed_upsample(img, *, factor: int, delta: float) -> np.ndarray:
    """Upsample float32 (h, w, C) by ``factor`` (a power of 2) as a stride-2 transposed convolution does.

    Each 2x stage inserts zeros and convolves with the separable kernel
    ``[(1 - delta) / 2, 1 + delta, (1 - delta) / 2]``: with ``delta = 0`` this
    is exact bilinear interpolation; otherwise the kernel's uneven overlap
    gives the even output phase a gain of ``1 + delta`` and the odd one
    ``1 - delta`` per axis, the checkerboard of Odena et al. (2016), and
    earlier stages leave it at periods 4, 8, ... Output (h * factor, w * factor, C).
    """
    k = int(round(np.log2(factor)))
    if factor < 1 or 2 ** k != factor:
        raise ValueError(f"factor must be a power of 2, got {factor}")
    x = np.asarray(img, np.float32)
    shape = x.shape
    k1 = np.array([(1 - delta) / 2, 1 + delta, (1 - delta) / 2], np.float32)
    for _ in range(k):
        up = np.zeros((2 * x.shape[0], 2 * x.shape[1]) + x.shape[2:], np.float32)
        up[::2, ::2] = x
        x = cv2.sepFilter2D(up, -1, k1, k1, borderType=cv2.BORDER_REFLECT_101).reshape(up.shape)
    return x.reshape((shape[0] * factor, shape[1] * factor) + shape[2:])


def render_lowres(region, *, face_size: float, size: int, upsample: str = "bilinear", delta: float = 0.0,
                  smooth: float = 0.0, smooth_space: float = 1.5) -> np.ndarray:
    """``region`` (h, w, 3) float32 as a generator would render it: the face at ``size`` px, then upsampled.

    The region is downscaled (``INTER_AREA``) so that a face of ``face_size``
    pixels spans ``size`` pixels, optionally smoothed by a bilateral filter
    (colour sigma ``smooth`` in levels, spatial sigma ``smooth_space`` in
    rendered pixels: flat, plastic skin with edges kept), and upsampled back
    bilinearly or by :func:`transposed_upsample` (``factor`` the power of 2
    nearest to ``face_size / size``, at least 2; the downscale then uses that
    factor). A face no larger than 1.25 x ``size`` is only smoothed. Returns
    float32 (h, w, 3).
    """
    region = np.asarray(region, np.float32)
    h, w = region.shape[:2]
    ratio = float(face_size) / float(size)
    if ratio < 1.25:
        small, factor = region, 1
    elif upsample == "transposed":
        factor = 2 ** max(1, int(round(np.log2(ratio))))
        small = cv2.resize(region, (-(-w // factor), -(-h // factor)), interpolation=cv2.INTER_AREA)
    elif upsample == "bilinear":
        factor = 0
        small = cv2.resize(region, (max(2, round(w / ratio)), max(2, round(h / ratio))), interpolation=cv2.INTER_AREA)
    else:
        raise ValueError(f"unknown upsampling {upsample!r}")
    if smooth > 0:
        small = cv2.bilateralFilter(np.ascontiguousarray(small), -1, float(smooth), float(smooth_space))
    if factor == 1:
        return small
    if factor == 0:
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(transposed_upsample(small, factor=factor, delta=delta)[:h, :w])


def alter_face(region, *, params: dict, face_size: float, centre, rng: np.random.Generator | None = None) -> np.ndarray:
    """The altered source face: ``region`` (h, w, 3) float32 resampled, recoloured,
    sharpened or blurred, and noised as ``params`` says; float32, not clipped.

    ``face_size`` (pixels) sets the scale of shifts and blurs; ``centre`` (x, y)
    in region pixels is the fixed point of the source scaling. ``params["render"]``
    (:func:`sample_generator_params`), when present, re-renders the face at low
    resolution (:func:`render_lowres`) after the geometric jitter.
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
    render = params.get("render")
    if render:
        alt = render_lowres(alt, face_size=face_size, **render)
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


def blend_source(frame: np.ndarray, box, landmarks=None, *, params: dict, rng: np.random.Generator | None,
                 source) -> SelfBlend:
    """Blend a source face onto ``frame`` through the mask that ``params`` describes.

    The mask contour (:func:`blend_contour`, jittered by ``rng``) is feathered
    (:func:`feathered_mask`) inside a window around it; ``source`` makes the
    face to blend in, in that window.

    Parameters
    ----------
    frame : uint8 (H, W, 3) RGB
    box : (x0, y0, x1, y1) face box in frame pixels
    landmarks : (5, 2) or None
    params : dict of :func:`sample_blend_params`, :func:`sample_region_params`
        or :func:`sample_generator_params`
    rng : numpy.random.Generator or None (no per-frame jitter)
    source : callable ``source(window, *, origin, face_size, centre, mask)``
        with ``window`` float32 (h, w, 3) the frame's pixels there, ``origin``
        the window's top-left (x, y) in the frame, ``face_size`` the box's
        larger side, ``centre`` the face box centre in window pixels and
        ``mask`` the feathered mask (h, w) in the window; returns float32
        (h, w, 3), or a pair of it and a float32 (h, w) weight in [0, 1] that
        multiplies the mask (where the source has no pixels, e.g. outside a
        warped donor crop)

    Returns
    -------
    SelfBlend
        ``frame`` uint8 and ``mask`` float32 (H, W): the exact weight of the
        source in every pixel, ``out = round(frame + mask * (source - frame))``;
        pixels where it is 0 are bit-identical to the input.
    """
    frame = np.asarray(frame)
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = [float(v) for v in box]
    size = max(x1 - x0, y1 - y0)
    if not np.isfinite([x0, y0, x1, y1]).all() or size < 4:
        return SelfBlend(frame.copy(), np.zeros((h, w), np.float32))
    contour = blend_contour(box, landmarks, params=params, rng=rng)
    feather_px = params.get("feather", 0.1) * size
    profile = params.get("profile", "smoothstep")
    # work on a window around the mask, wide enough for the source shift and blur (and a blurred rim)
    pad = int(np.ceil(0.1 * size)) + 8 + (int(np.ceil(1.3 * feather_px)) if profile == "blur" else 0)
    cx0 = int(max(np.floor(contour[:, 0].min()) - pad, 0))
    cy0 = int(max(np.floor(contour[:, 1].min()) - pad, 0))
    cx1 = int(min(np.ceil(contour[:, 0].max()) + pad + 1, w))
    cy1 = int(min(np.ceil(contour[:, 1].max()) + pad + 1, h))
    mask = np.zeros((h, w), np.float32)
    out = frame.copy()
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return SelfBlend(out, mask)
    region = frame[cy0:cy1, cx0:cx1].astype(np.float32)
    m = feathered_mask(contour - [cx0, cy0], region.shape[:2], feather_px=feather_px,
                       ratio=params.get("ratio", 1.0), profile=profile)
    centre = np.array([(x0 + x1) / 2 - cx0, (y0 + y1) / 2 - cy0])  # the face's, not the jittered mask's
    alt = source(region, origin=(cx0, cy0), face_size=size, centre=centre, mask=m)
    if isinstance(alt, tuple):
        alt, weight = alt
        m = (m * np.clip(np.asarray(weight, np.float32), 0, 1)).astype(np.float32)
    blended = np.clip(np.rint(region + m[..., None] * (alt - region)), 0, 255).astype(np.uint8)
    inside = m > 0
    out[cy0:cy1, cx0:cx1][inside] = blended[inside]
    mask[cy0:cy1, cx0:cx1] = m
    return SelfBlend(out, mask)


def self_blend(frame: np.ndarray, box, landmarks=None, *, params: dict, rng: np.random.Generator) -> SelfBlend:
    """Blend an altered copy of ``frame``'s face back onto ``frame``.

    Parameters
    ----------
    frame : uint8 (H, W, 3) RGB, full resolution
    box : (x0, y0, x1, y1) face box in frame pixels
    landmarks : (5, 2) or None
        Eyes, nose, mouth corners in frame pixels; used by the ``hull`` mask
        (the box ellipse is used when they are missing or not finite) and the
        region masks (typical positions in the box when missing).
    params : dict
        One video's alteration, from :func:`sample_blend_params`,
        :func:`sample_region_params` or :func:`sample_generator_params`;
        missing keys take neutral defaults (no deformation, blend ratio 1,
        10 % feather).
    rng : numpy.random.Generator
        Per-frame mask jitter and noise.

    Returns
    -------
    SelfBlend
        ``frame`` uint8 (H, W, 3) and ``mask`` float32 (H, W) in [0, 1]; pixels
        where the mask is 0 are bit-identical to the input.
    """
    def source(window, *, origin, face_size, centre, mask):
        return alter_face(window, params=params, face_size=face_size, centre=centre, rng=rng)

    return blend_source(frame, box, landmarks, params=params, rng=rng, source=source)


def _blend_video(frames, boxes, landmarks, params, rng) -> SelfBlendFrames:
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) != len(frames):
        raise ValueError("one box per frame is needed")
    out = np.empty_like(frames)
    masks = np.zeros(frames.shape[:3], np.float32)
    for i in range(len(frames)):
        lm = None if landmarks is None else landmarks[i]
        out[i], masks[i] = self_blend(frames[i], boxes[i], lm, params=params, rng=rng)
    return SelfBlendFrames(out, masks)


def self_blend_frames(frames, boxes, landmarks=None, *, seed, region: str | None = None) -> SelfBlendFrames:
    """A whole self-blended fake video sample from one real (or fake) one.

    Draws one alteration from ``seed`` and blends every frame with it
    (:func:`self_blend`), the masks jittered per frame.

    Parameters
    ----------
    frames : uint8 (T, H, W, 3) RGB
    boxes : (T, 4) face boxes in frame pixels
    landmarks : (T, 5, 2) or None, in frame pixels (NaN rows allowed)
    seed : int or numpy.random.SeedSequence; the same seed gives the same fake
    region : None for the original draw (:func:`sample_blend_params`, what the
        shipped model was trained on), or ``"face"``, ``"lower"``, ``"eyes"``
        for the wider mask family of :func:`sample_region_params`

    Returns
    -------
    SelfBlendFrames
        ``frames`` uint8 (T, H, W, 3), ``masks`` float32 (T, H, W).
    """
    rng = np.random.default_rng(seed)
    params = sample_blend_params(rng) if region is None else sample_region_params(rng, region=region)
    return _blend_video(frames, boxes, landmarks, params, rng)


def generator_frames(frames, boxes, landmarks=None, *, seed, region: str = "face") -> SelfBlendFrames:
    """A fake video sample whose face (or ``region``) is re-rendered as a generator would.

    Draws one :func:`sample_generator_params` alteration from ``seed`` (the
    face rendered at 64-256 px, optionally smoothed, upsampled bilinearly or
    with a transposed-convolution checkerboard) and blends it onto every
    frame through a jittered region mask. Same arguments and result as
    :func:`self_blend_frames`.
    """
    rng = np.random.default_rng(seed)
    return _blend_video(frames, boxes, landmarks, sample_generator_params(rng, region=region), rng)
