"""Blends of a different real person's face: Face X-ray's blended images for videos.

A self-blend keeps the identity, so the blended face agrees with its
surroundings in everything but the alteration. A face swap does not: face
shape, skin texture, the camera and light of another recording end at the
blending boundary. Face X-ray (Li et al. 2020) builds such training fakes
from real images only: for a target face, take the real face (of another
person) whose landmarks are closest, align it to the target, match its
colours, and blend it through a mask.

Here the donors come from *other* real videos of another identity group: a
:class:`DonorEntry` holds a few face crops of one video and their five
landmarks (:func:`make_donor_entry`), small uint8 arrays that
:func:`save_donor` / :func:`load_donor` store with ``np.savez`` (no pickle).
For a target video, :func:`choose_donor` picks one entry (one donor identity
per video, as a real swap has), :func:`match_donor_frames` picks per frame
the donor crop with the closest normalised landmarks (pose and expression),
:func:`similarity_transform` aligns it on the five landmarks, and
:func:`colour_transfer` matches its colour statistics to the target face
(Reinhard et al. 2001). :func:`swap_frames` does all of that for a video,
blending through the region masks of :mod:`synthesis.selfblend`, and returns
the exact blend masks.

References
----------
L. Li, J. Bao, T. Zhang, H. Yang, D. Chen, F. Wen, B. Guo, "Face X-ray for
More General Face Forgery Detection", CVPR 2020. E. Reinhard, M. Ashikhmin,
B. Gooch, P. Shirley, "Color Transfer between Images", IEEE CG&A 21(5), 2001.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .selfblend import (
    SelfBlend,
    SelfBlendFrames,
    alter_face,
    blend_source,
    box_landmarks,
    sample_region_params,
)

__all__ = [
    "DonorEntry",
    "make_donor_entry",
    "save_donor",
    "load_donor",
    "normalise_landmarks",
    "landmark_distances",
    "match_donor_frames",
    "choose_donor",
    "similarity_transform",
    "colour_transfer",
    "sample_swap_params",
    "sample_dfl_params",
    "swap_blend",
    "swap_frames",
]

#: side of a donor crop (pixels) and its extent around the face box (crop side = box side x CROP_EXTENT)
CROP_SIZE = 256
CROP_EXTENT = 1.6


class DonorEntry(NamedTuple):
    """Face crops of one real video, ready to be blended onto other people's faces.

    Attributes
    ----------
    crops : uint8 (K, S, S, 3) RGB face crops
    landmarks : float32 (K, 5, 2) eyes, nose, mouth corners in crop pixels
    identity : the identity group of the video (a donor is never used on its own group)
    source : where the crops come from (a file name), for model cards
    """

    crops: np.ndarray
    landmarks: np.ndarray
    identity: str = ""
    source: str = ""


def make_donor_entry(frames, boxes, landmarks, *, identity: str, source: str = "", n: int = 12,
                     size: int = CROP_SIZE, extent: float = CROP_EXTENT) -> DonorEntry:
    """A donor entry from one video's frames and face detections.

    Parameters
    ----------
    frames : uint8 (T, H, W, 3) RGB
    boxes : (T, 4) face boxes; landmarks : (T, 5, 2), frame pixels (NaN rows allowed)
    identity : identity group of the video; source : its name, for the record
    n : at most this many crops, spread evenly over the frames with a finite face
    size : crop side in pixels
    extent : crop side as a multiple of the box's larger side, centred on the box

    Returns
    -------
    DonorEntry
        Crops are square, axis-aligned and resampled with ``INTER_AREA``
        (``INTER_LINEAR`` when enlarging); edges outside the frame are
        replicated. An entry with zero crops comes back when no frame has a
        finite box and landmarks.
    """
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    lms = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    if not (len(frames) == len(boxes) == len(lms)):
        raise ValueError("one box and one set of landmarks per frame are needed")
    ok = np.isfinite(boxes).all(axis=1) & np.isfinite(lms).all(axis=(1, 2))
    ok &= (boxes[:, 2] - boxes[:, 0] >= 4) & (boxes[:, 3] - boxes[:, 1] >= 4)
    idx = np.flatnonzero(ok)
    if len(idx) > n:
        idx = idx[np.unique(np.round(np.linspace(0, len(idx) - 1, n)).astype(int))]
    crops = np.zeros((len(idx), size, size, 3), np.uint8)
    out_lm = np.zeros((len(idx), 5, 2), np.float32)
    for j, i in enumerate(idx):
        x0, y0, x1, y1 = boxes[i]
        side = max(x1 - x0, y1 - y0) * extent
        s = size / side
        tx, ty = size / 2 - s * (x0 + x1) / 2, size / 2 - s * (y0 + y1) / 2
        m = np.array([[s, 0, tx], [0, s, ty]])
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        if interp == cv2.INTER_AREA:  # warpAffine has no area kernel: cut the window, then resize
            crops[j] = _crop_area(frames[i], (x0 + x1) / 2, (y0 + y1) / 2, side, size)
        else:
            crops[j] = cv2.warpAffine(frames[i], m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
        out_lm[j] = lms[i] * s + [tx, ty]
    return DonorEntry(crops, out_lm, str(identity), str(source))


def _crop_area(frame, cx, cy, side, size):
    """A square of ``side`` px centred on (cx, cy), edges replicated, area-resampled to ``size``."""
    h, w = frame.shape[:2]
    half = side / 2
    x0, y0 = int(np.floor(cx - half)), int(np.floor(cy - half))
    n = int(np.ceil(side)) + 1
    pad = max(0, -x0, -y0, x0 + n - w, y0 + n - h)
    src = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else frame
    win = src[y0 + pad:y0 + pad + n, x0 + pad:x0 + pad + n]
    # the window starts at the integer corner; resize it so that ``side`` px map to ``size``
    big = cv2.resize(win, (round(n * size / side), round(n * size / side)), interpolation=cv2.INTER_AREA)
    ox, oy = round((cx - half - x0) * size / side), round((cy - half - y0) * size / side)
    out = big[oy:oy + size, ox:ox + size]
    if out.shape[:2] != (size, size):  # rounding at the far edge
        out = cv2.copyMakeBorder(out, 0, size - out.shape[0], 0, size - out.shape[1], cv2.BORDER_REPLICATE)
    return out


def save_donor(path: str, entry: DonorEntry) -> None:
    """Write ``entry`` to ``path`` (``.npz``, compressed; strings as unicode arrays, nothing pickled)."""
    np.savez_compressed(path, crops=np.asarray(entry.crops, np.uint8),
                        landmarks=np.asarray(entry.landmarks, np.float32),
                        identity=np.array(str(entry.identity)), source=np.array(str(entry.source)),
                        version=np.array(1))


def load_donor(path: str, *, with_crops: bool = True) -> DonorEntry:
    """Read a :func:`save_donor` file (``allow_pickle=False``).

    ``with_crops=False`` reads only landmarks, identity and source (crops
    come back as an empty (0, 0, 0, 3) array): enough for :func:`choose_donor`
    over a whole bank without holding every crop in memory.
    """
    with np.load(path, allow_pickle=False) as z:
        crops = z["crops"] if with_crops else np.zeros((0, 0, 0, 3), np.uint8)
        return DonorEntry(crops, z["landmarks"].astype(np.float32), str(z["identity"]), str(z["source"]))


def normalise_landmarks(landmarks) -> np.ndarray:
    """Five-point landmarks without position, size and roll: (..., 5, 2) float64.

    Centred on their mean, rotated so that the eyes lie on a horizontal line,
    and scaled to unit root-mean-square radius; what is left is pose (yaw,
    pitch) and expression. NaN stays NaN.
    """
    lm = np.asarray(landmarks, np.float64)
    c = lm - lm.mean(axis=-2, keepdims=True)
    eye = c[..., 1, :] - c[..., 0, :]
    ang = np.arctan2(eye[..., 1], eye[..., 0])
    cos, sin = np.cos(-ang)[..., None], np.sin(-ang)[..., None]
    rot = np.stack([c[..., 0] * cos - c[..., 1] * sin, c[..., 0] * sin + c[..., 1] * cos], axis=-1)
    rms = np.sqrt((rot ** 2).sum(axis=(-2, -1)) / 5)[..., None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return rot / rms


def landmark_distances(a, b) -> np.ndarray:
    """Euclidean distances (N, K) between normalised landmarks of ``a`` (N, 5, 2) and ``b`` (K, 5, 2)."""
    na = normalise_landmarks(np.asarray(a, np.float64).reshape(-1, 5, 2)).reshape(-1, 10)
    nb = normalise_landmarks(np.asarray(b, np.float64).reshape(-1, 5, 2)).reshape(-1, 10)
    return np.sqrt(((na[:, None, :] - nb[None, :, :]) ** 2).sum(axis=-1))


def _fill_landmarks(landmarks, boxes) -> np.ndarray:
    lms = np.asarray(landmarks, np.float64).reshape(-1, 5, 2).copy()
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    for i in np.flatnonzero(~np.isfinite(lms).all(axis=(1, 2))):
        lms[i] = box_landmarks(boxes[i])
    return lms


def match_donor_frames(target_landmarks, donor_landmarks) -> np.ndarray:
    """For each target frame, the index of the donor crop whose normalised landmarks are closest.

    ``target_landmarks`` (T, 5, 2) must be finite (fill gaps with
    :func:`synthesis.selfblend.box_landmarks`); ``donor_landmarks`` (K, 5, 2).
    Returns int (T,).
    """
    d = landmark_distances(target_landmarks, donor_landmarks)
    if d.shape[1] == 0:
        raise ValueError("the donor has no crops")
    return np.argmin(np.where(np.isfinite(d), d, np.inf), axis=1)


def choose_donor(target_landmarks, entries: Sequence[DonorEntry], *, identity: str, rng: np.random.Generator,
                 k: int = 3) -> int:
    """Index in ``entries`` of the donor for one target video, or -1 when none qualifies.

    Entries of the target's own ``identity`` group and entries without
    landmarks are excluded (crops are not needed: entries read with
    ``load_donor(path, with_crops=False)`` will do); each remaining entry is scored by the median, over the
    target's frames with finite landmarks, of its closest crop's landmark
    distance, and one of the ``k`` best is drawn with ``rng`` (Face X-ray
    searches nearest neighbours and samples among them).
    """
    tl = np.asarray(target_landmarks, np.float64).reshape(-1, 5, 2)
    tl = tl[np.isfinite(tl).all(axis=(1, 2))]
    cand, score = [], []
    for i, e in enumerate(entries):
        if e.identity == identity or len(e.landmarks) == 0:
            continue
        cand.append(i)
        score.append(float(np.median(landmark_distances(tl, e.landmarks).min(axis=1))) if len(tl) else 0.0)
    if not cand:
        return -1
    order = np.argsort(score, kind="stable")[:max(1, k)]
    return int(cand[int(order[int(rng.integers(len(order)))])])


def similarity_transform(src, dst) -> np.ndarray:
    """2x3 similarity (rotation, uniform scale, translation) taking landmarks ``src`` (5, 2) onto ``dst``.

    Least squares over all five points: ``cv2.estimateAffinePartial2D`` with a
    reprojection threshold as large as the face, so that every point is an
    inlier and the final Levenberg-Marquardt refinement uses them all (a face
    of another person never fits within a few pixels). Falls back to the
    closed-form Umeyama solution if OpenCV returns nothing.
    """
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    span = float(np.ptp(dst, axis=0).max()) + 1.0
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32), method=cv2.RANSAC,
                                       ransacReprojThreshold=4 * span, maxIters=100, confidence=0.99,
                                       refineIters=20)
    if m is not None and np.isfinite(m).all():
        return m.astype(np.float64)
    # Umeyama (1991), no reflection
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, sv, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    r = u @ d @ vt
    s = (sv * np.diag(d)).sum() / max((a ** 2).sum() / len(src), 1e-12)
    return np.hstack([s * r, (md - s * r @ ms)[:, None]])


def colour_transfer(source, reference, *, source_weight=None, reference_weight=None, space: str = "lab",
                    strength: float = 1.0) -> np.ndarray:
    """``source`` (h, w, 3) RGB recoloured so that its per-channel mean and standard deviation match ``reference``'s.

    Statistics are weighted by ``source_weight`` / ``reference_weight`` (h, w)
    (e.g. the blend mask: the face, not the background). ``space`` is
    ``"lab"`` (CIE L*a*b*, Reinhard et al. 2001) or ``"rgb"``; ``strength``
    in [0, 1] moves from the source (0) to the full transfer (1). Inputs on
    the 0-255 scale (any dtype); returns float32 RGB on that scale, not clipped.
    """
    src = np.asarray(source, np.float32)
    ref = np.asarray(reference, np.float32)

    def to(x):
        return cv2.cvtColor(np.clip(x, 0, 255) / 255.0, cv2.COLOR_RGB2LAB) if space == "lab" else x

    def back(x):
        return cv2.cvtColor(x.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0 if space == "lab" else x

    if space not in ("lab", "rgb"):
        raise ValueError(f"unknown colour space {space!r}")
    s, r = to(src), to(ref)

    def stats(x, wt):
        wt = np.ones(x.shape[:2], np.float64) if wt is None else np.asarray(wt, np.float64)
        tot = wt.sum()
        if tot <= 0:
            wt, tot = np.ones(x.shape[:2]), float(x.shape[0] * x.shape[1])
        mu = (x * wt[..., None]).reshape(-1, 3).sum(axis=0) / tot
        sd = np.sqrt((((x - mu) ** 2) * wt[..., None]).reshape(-1, 3).sum(axis=0) / tot)
        return mu, np.maximum(sd, 1e-3)

    mu_s, sd_s = stats(s, source_weight)
    mu_r, sd_r = stats(r, reference_weight)
    moved = ((s - mu_s) * (sd_r / sd_s) + mu_r).astype(np.float32)
    out = back(moved)
    if strength != 1.0:
        out = src + np.float32(strength) * (out - src)
    return np.asarray(out, np.float32)


def sample_swap_params(rng: np.random.Generator, *, region: str = "face") -> dict:
    """One video's swap: the mask family of :func:`synthesis.selfblend.sample_region_params`, plus
    ``space`` (colour space of the transfer), ``strength`` (of the transfer) and a halved colour
    jitter (the residual mismatch after colour matching); no geometric jitter of the source (the
    landmark alignment is the geometry), resampling and sharpening as drawn (the donor's resolution).
    """
    p = sample_region_params(rng, region=region)
    p.update(src_scale=1.0, src_shift=np.zeros(2), gain=1.0 + (np.asarray(p["gain"]) - 1.0) / 2,
             offset=np.asarray(p["offset"]) / 2, contrast=1.0 + (p["contrast"] - 1.0) / 2,
             space=str(rng.choice(["lab", "rgb"])), strength=float(rng.uniform(0.6, 1.0)))
    return p


def sample_dfl_params(rng: np.random.Generator, *, region: str = "face") -> dict:
    """One video's swap as DeepFaceLab-style tools make it (Perov et al. 2020, DeepFaceLab; DeepFaceLive).

    The face is rendered by the swap model at its own resolution (``render["size"]`` 128-320 px, the
    resolutions DeepFaceLab's SAEHD and DFM models are trained at) and scaled to the frame (bilinear),
    with the model's skin smoothing half the time (bilateral filter); its colour is matched to the frame's
    face by Reinhard transfer in L*a*b* at nearly full strength (DeepFaceLab's ``rct`` mode); the merge mask
    is the landmark hull, eroded (``scale`` 0.8-1.0) and blurred (``feather`` 3-12 % of the face size);
    the face replaces the frame's fully inside the mask (``ratio`` 1); the residual colour mismatch is a
    quarter of :func:`sample_region_params`'s. Keys as in
    :func:`sample_swap_params` plus ``render`` (:func:`synthesis.selfblend.render_lowres`).
    """
    p = sample_swap_params(rng, region=region)
    p.update(
        mask="hull", scale=float(rng.uniform(0.8, 1.0)), ratio=1.0,
        feather=float(np.exp(rng.uniform(np.log(0.03), np.log(0.12)))),
        sharpen=0.0, resample=1.0, noise=0.0,
        gain=1.0 + (np.asarray(p["gain"]) - 1.0) / 2, offset=np.asarray(p["offset"]) / 2,
        contrast=1.0 + (p["contrast"] - 1.0) / 2,
        space="lab", strength=float(rng.uniform(0.85, 1.0)),
        render={"size": int(rng.choice([128, 160, 192, 224, 256, 320])), "upsample": "bilinear", "delta": 0.0,
                "smooth": float(rng.uniform(8.0, 25.0)) if rng.random() < 0.5 else 0.0,
                "smooth_space": float(rng.uniform(1.0, 2.0))},
    )
    return p


#: the keys of a swap draw that say how the face is merged (mask family, erosion, feather, blend ratio): what
#: ``rswap`` takes from :func:`sample_swap_params` and ``dfswap`` draws its own way
SWAP_MERGE_KEYS = ("mask", "scale", "ratio", "feather")


def sample_rendered_swap_params(rng: np.random.Generator, *, region: str = "face") -> dict:
    """:func:`sample_dfl_params` merged as :func:`sample_swap_params` merges: the face rendered at 128-320 px,
    smoothed half the time and Reinhard-matched in L*a*b* as DeepFaceLab-style tools do, but blended through the
    swap's own mask family, erosion, feather and ratio instead of the eroded landmark hull (the ``rswap`` variant).

    The draw is ``dfswap``'s, so a video's ``rswap`` and ``dfswap`` differ by the merge alone. Of the four
    ``dfswap`` ingredients, the hull merge is the one that made its paired column changes least like those of
    real swaps (``bench/experiments/dfswap_ingredients.py``: Spearman with the DeepFaceLive pairs 0.32 with
    it, 0.42 without; FF++ c40 0.42 / 0.49; UADFV 0.32 / 0.42).
    """
    import copy

    swap = sample_swap_params(copy.deepcopy(rng), region=region)  # the draw dfswap starts from
    p = sample_dfl_params(rng, region=region)
    p.update({k: swap[k] for k in SWAP_MERGE_KEYS})
    return p


def _border_weight(size: int, ramp: float) -> np.ndarray:
    """1 inside a square crop, falling linearly to 0 over ``ramp`` px at its edges (no step where a crop ends)."""
    x = np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5) / max(ramp, 1.0)
    x = np.clip(x, 0, 1).astype(np.float32)
    return np.minimum(x[:, None], x[None, :])


def swap_blend(frame, box, landmarks, donor_crop, donor_landmarks, *, params: dict,
               rng: np.random.Generator | None) -> SelfBlend:
    """Blend a donor face crop onto ``frame``'s face.

    Parameters
    ----------
    frame : uint8 (H, W, 3) RGB
    box : face box; landmarks : (5, 2) target landmarks (missing: typical
        positions in the box)
    donor_crop : uint8 (S, S, 3); donor_landmarks : (5, 2) in crop pixels
    params : from :func:`sample_swap_params`
    rng : per-frame mask jitter and noise

    Returns
    -------
    SelfBlend
        The frame with the aligned, colour-matched donor face blended in
        through the region mask, and the exact blend mask (the region mask
        times the donor crop's coverage); outside it the frame is untouched.
    """
    lm = None if landmarks is None else np.asarray(landmarks, np.float64).reshape(5, 2)
    if lm is None or not np.isfinite(lm).all():
        lm = box_landmarks(box)
    m = similarity_transform(donor_landmarks, lm)
    crop = np.asarray(donor_crop, np.float32)
    cover = _border_weight(crop.shape[0], 0.03 * crop.shape[0])

    def source(window, *, origin, face_size, centre, mask):
        h, w = window.shape[:2]
        mw = m.copy()
        mw[:, 2] -= origin
        warped = cv2.warpAffine(crop, mw, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        weight = cv2.warpAffine(cover, mw, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        core = mask * (weight > 0.99)
        warped = colour_transfer(warped, window, source_weight=core, reference_weight=core,
                                 space=params.get("space", "lab"), strength=float(params.get("strength", 1.0)))
        alt = alter_face(warped, params=params, face_size=face_size, centre=centre, rng=rng)
        return alt, weight

    return blend_source(frame, box, lm, params=params, rng=rng, source=source)


def swap_frames(frames, boxes, landmarks, donor: DonorEntry, *, seed, region: str = "face",
                style: str = "blend") -> SelfBlendFrames:
    """A face-swap-like fake video sample: ``donor``'s faces blended onto every frame.

    One draw from ``seed`` for the video (``style="blend"``: :func:`sample_swap_params`, Face X-ray's
    blended images; ``"dfl"``: :func:`sample_dfl_params`, rendered at low resolution as swap models do;
    ``"rendered"``: :func:`sample_rendered_swap_params`, rendered so but merged as ``"blend"``); per frame,
    the donor crop with the closest normalised landmarks
    (:func:`match_donor_frames`), aligned by :func:`similarity_transform` and
    colour-matched. Frames without landmarks use typical positions in their
    box. Returns frames uint8 (T, H, W, 3) and exact masks float32 (T, H, W).
    """
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) != len(frames):
        raise ValueError("one box per frame is needed")
    if donor is None or len(donor.crops) == 0:
        raise ValueError("a donor entry with at least one crop is needed")
    lms = _fill_landmarks(np.full((len(frames), 5, 2), np.nan) if landmarks is None else landmarks, boxes)
    pick = match_donor_frames(lms, donor.landmarks)
    rng = np.random.default_rng(seed)
    samplers = {"blend": sample_swap_params, "dfl": sample_dfl_params, "rendered": sample_rendered_swap_params}
    if style not in samplers:
        raise ValueError(f"unknown swap style {style!r}; choose from {tuple(samplers)}")
    params = samplers[style](rng, region=region)
    out = np.empty_like(frames)
    masks = np.zeros(frames.shape[:3], np.float32)
    for i in range(len(frames)):
        out[i], masks[i] = swap_blend(frames[i], boxes[i], lms[i], donor.crops[pick[i]], donor.landmarks[pick[i]],
                                      params=params, rng=rng)
    return SelfBlendFrames(out, masks)
