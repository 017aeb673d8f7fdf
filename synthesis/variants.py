"""Training variants of one decoded video.

A variant name is ``BASE[#N][:REGION]`` followed by any number of
``+AUG[#N]`` augmentations, applied in order:

==============================  ==============================================================
``orig``                        the decode itself (label: the video's own)
``selfblend``                   today's self-blended fake (:func:`~synthesis.selfblend.self_blend_frames`
                                with the original mask draw); bit-identical to what trained the
                                shipped model
``selfblend#N``                 the same with the N-th seed (``#1`` is ``selfblend``)
``selfblend:REGION``            self-blend through the wider mask family in ``face``, ``lower``
                                (mouth and chin below the nose: lip-sync) or ``eyes`` (eyes and
                                nose band)
``swap[:REGION]``               another real person's face blended in (Face X-ray's blended
                                images; needs ``donor=``, :mod:`synthesis.donors`)
``dfswap[:REGION]``             a swap made the way DeepFaceLab and its kin make one: the donor
                                face rendered at 128-320 px and upsampled, colour-matched by
                                Reinhard transfer in Lab, blended on an eroded, feathered
                                landmark hull (needs ``donor=``)
``rswap[:REGION]``              ``dfswap``'s rendered, colour-matched face merged through ``swap``'s
                                mask family instead of the hull (the same draw otherwise; needs
                                ``donor=``)
``generator[:REGION]``          the face (region) re-rendered at 64-256 px, smoothed or not,
                                upsampled bilinearly or with a transposed-convolution checkerboard
``+reencode``                   half the time resampled down-up by 0.35-0.75, then JPEG q35-90
                                (unchanged: the shipped model was trained with it)
``+h264``                       a real H.264 round trip (libx264, CRF 18-40, half the time
                                downscaled by 0.4-0.9 first)
``+perturb:KIND``               a perturbation of :mod:`synthesis.perturb` that keeps geometry;
                                ``+perturb:random`` draws one per video (the same for its copies)
==============================  ==============================================================

Every variant of a video is made from the same decode, so a synthetic fake is
always compared with its own original. Augmentations draw their parameters
from the video's seed and their own name (and ``#N``), never from the base,
so a video's real and fake copies are degraded alike (compression is no
label cue). The sparse sample is encoded as a sequence of its frames, which
are far apart in time, so ``+h264`` codes them mostly intra; the dense window
is consecutive video and gets real inter prediction.
"""
from __future__ import annotations

import re
import zlib
from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    "VARIANTS",
    "BASES",
    "AUGMENTATIONS",
    "VariantSpec",
    "VariantFrames",
    "parse_variant",
    "variant_frames",
    "reencode_frames",
    "draw_augmentation",
    "video_seed",
    "stable_seed",
    "is_synthetic_fake",
    "synthetic_method",
    "needs_donor",
    "SYNTHESIS_VERSION",
    "CODEC_VERSION",
    "variant_cache_key",
]

#: training variants: the decoded video, a self-blended fake of it, and degraded copies of both
#: (``+reencode``: half the time resampled down and up by 0.35-0.75, then JPEG at quality 35-90)
VARIANTS = ("orig", "selfblend", "orig+reencode", "selfblend+reencode")
#: variant bases; all but ``orig`` are synthetic fakes
BASES = ("orig", "selfblend", "swap", "dfswap", "rswap", "generator")
#: bases that blend in another identity's face from the donor bank
DONOR_BASES = ("swap", "dfswap", "rswap")
#: augmentation names (``perturb`` takes ``:KIND``)
AUGMENTATIONS = ("reencode", "h264", "perturb")
#: version of every variant outside :data:`VARIANTS`; bump it when their output changes, so that
#: feature caches keyed by :func:`variant_cache_key` are not served stale
SYNTHESIS_VERSION = 1
#: version of the H.264 pass (:mod:`synthesis.codec`) inside variants whose augmentations encode (``h264``,
#: ``perturb``); 2: macroblock-tree rate control off in every encode, which made the bytes reproducible
CODEC_VERSION = 2

_BASE_RE = re.compile(r"^(?P<base>[a-z]+)(?:#(?P<n1>\d+))?(?::(?P<region>[a-z]+))?(?:#(?P<n2>\d+))?$")
_AUG_RE = re.compile(r"^(?P<name>[a-z0-9]+)(?::(?P<arg>[a-z0-9_]+))?(?:#(?P<n>\d+))?$")


class VariantSpec(NamedTuple):
    """A parsed variant name: ``base``, seed ``index`` (1 = the plain name), ``region`` (None: the
    base's default) and ``augs``, a tuple of ``(name, arg, index)``."""

    base: str
    index: int
    region: str | None
    augs: tuple


class VariantFrames(NamedTuple):
    """:func:`variant_frames` with ``return_masks=True``: frames, dense frames, and the exact blend
    masks float32 aligned with them (zeros where nothing was blended; ``dense_masks`` None when
    ``dense`` is None)."""

    frames: np.ndarray
    dense: np.ndarray | None
    masks: np.ndarray
    dense_masks: np.ndarray | None


def parse_variant(variant: str) -> VariantSpec:
    """Parse a variant name (see the module notes); ``ValueError`` for anything malformed or unknown."""
    from .perturb import PERTURBATIONS
    from .selfblend import REGIONS

    head, *augs = str(variant).split("+")
    m = _BASE_RE.match(head)
    if not m or m.group("base") not in BASES:
        raise ValueError(f"unknown variant {variant!r}; bases are {BASES}, e.g. {VARIANTS}")
    if m.group("n1") and m.group("n2"):
        raise ValueError(f"{variant!r}: give the seed index once")
    index = int(m.group("n1") or m.group("n2") or 1)
    region = m.group("region")
    base = m.group("base")
    if index < 1:
        raise ValueError(f"{variant!r}: seed indices start at 1")
    if base == "orig" and (region or index != 1):
        raise ValueError(f"{variant!r}: orig takes no region or seed")
    if region is not None and region not in REGIONS:
        raise ValueError(f"{variant!r}: unknown region {region!r}; choose from {REGIONS}")
    parsed = []
    for a in augs:
        am = _AUG_RE.match(a)
        if not am or am.group("name") not in AUGMENTATIONS:
            raise ValueError(f"{variant!r}: unknown augmentation {a!r}; choose from {AUGMENTATIONS}")
        name, arg, n = am.group("name"), am.group("arg"), int(am.group("n") or 1)
        if (name == "perturb") != (arg is not None):
            raise ValueError(f"{variant!r}: {'perturb needs :KIND' if name == 'perturb' else name + ' takes no :arg'}")
        if name == "perturb" and arg != "random":
            if arg not in PERTURBATIONS:
                raise ValueError(f"{variant!r}: unknown perturbation {arg!r}; combine with +perturb:a+perturb:b")
            if not PERTURBATIONS[arg].keeps_geometry:
                raise ValueError(f"{variant!r}: {arg} changes frame count or geometry; face boxes would not fit")
        if n < 1:
            raise ValueError(f"{variant!r}: seed indices start at 1")
        parsed.append((name, arg, n))
    return VariantSpec(base, index, region, tuple(parsed))


def is_synthetic_fake(variant: str) -> bool:
    """True for variants whose label is FAKE whatever the source video's label."""
    return parse_variant(variant).base != "orig"


def synthetic_method(variant: str) -> str | None:
    """The manipulation a variant stands for, for per-method metrics: ``"selfblend"``,
    ``"selfblend:lower"``, ``"swap"``, ``"generator:eyes"``...; None for ``orig``."""
    spec = parse_variant(variant)
    if spec.base == "orig":
        return None
    return spec.base + (f":{spec.region}" if spec.region else "")


def needs_donor(variant: str) -> bool:
    """True when :func:`variant_frames` needs ``donor=`` (``swap``, ``dfswap`` and ``rswap`` variants)."""
    return parse_variant(variant).base in DONOR_BASES


def variant_cache_key(variant: str, donor=None) -> str:
    """What a feature cache should key a variant's features by.

    The original :data:`VARIANTS` keep their plain names (existing caches stay
    valid: their output is unchanged); every other variant adds
    :data:`SYNTHESIS_VERSION`, those that go through the H.264 encoder :data:`CODEC_VERSION`, and ``swap``
    variants the donor (its source,
    identity and a CRC of its crops), since another donor is another fake.
    """
    spec = parse_variant(variant)
    if variant in VARIANTS:
        return variant
    key = f"{variant}|synthesis-v{SYNTHESIS_VERSION}"
    if any(name in ("h264", "perturb") for name, _, _ in spec.augs):
        key += f"|codec-v{CODEC_VERSION}"
    if spec.base in DONOR_BASES:
        if donor is None:
            raise ValueError(f"{variant!r} needs a donor entry")
        crc = zlib.crc32(np.ascontiguousarray(donor.crops).tobytes()) if len(donor.crops) else 0
        key += f"|donor={donor.source}:{donor.identity}:{crc:08x}"
    return key


def stable_seed(text: str, seed: int) -> int:
    """A seed from a string and a run's seed, the same on every machine and Python (CRC-32, not hash())."""
    return (zlib.crc32(str(text).replace("\\", "/").encode()) + 7919 * int(seed)) % (2**31)


def video_seed(path: str, seed: int) -> int:
    """A per-video seed that depends on the file name and the run's seed only (reproducible)."""
    return stable_seed(str(path).replace("\\", "/").split("/")[-1], seed)


def _sub_seed(seed: int, *keys) -> np.random.SeedSequence:
    words = [int(seed) & 0xFFFFFFFF]
    for k in keys:
        words.append(zlib.crc32(k.encode()) if isinstance(k, str) else int(k) & 0xFFFFFFFF)
    return np.random.SeedSequence(words)


def _base_seed(spec: VariantSpec, seed: int):
    if spec.base == "selfblend" and spec.region is None and spec.index == 1:
        return seed  # the original self-blend: the seed itself, as it always was
    return _sub_seed(seed, spec.base, spec.region or "", spec.index)


def reencode_frames(frames: np.ndarray, *, quality: int, scale: float) -> np.ndarray:
    """Lose resolution (down- and up-sample by ``scale``, geometry kept) and re-compress as JPEG."""
    out = np.empty_like(frames)
    h, w = frames.shape[1:3]
    for i, f in enumerate(frames):
        if scale < 1:
            small = cv2.resize(f, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
            f = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        out[i] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def draw_augmentation(aug: str, seed: int) -> dict:
    """The parameters augmentation ``aug`` (``"reencode"``, ``"h264#2"``, ``"perturb:blur"``...) draws
    for the video seed ``seed``: the same for every base, so for a video's real and fake copies.

    ``reencode``: ``quality``, ``scale``; ``h264``: ``crf`` (18-40), ``scale``
    (0.4-0.9 half the time, else 1); ``perturb``: ``kind`` and ``seed`` for
    :func:`synthesis.perturb.perturb_frames`.
    """
    spec = parse_variant("orig+" + aug)
    (name, arg, n), = spec.augs
    if name == "reencode":
        rng = np.random.default_rng(seed + 1 if n == 1 else _sub_seed(seed, "reencode", n))
        q = int(rng.integers(35, 90))
        scale = float(rng.uniform(0.35, 0.75)) if rng.random() < 0.5 else 1.0
        return {"quality": q, "scale": scale}
    if name == "h264":
        rng = np.random.default_rng(_sub_seed(seed, "h264", n))
        crf = int(rng.integers(18, 41))
        scale = float(rng.uniform(0.4, 0.9)) if rng.random() < 0.5 else 1.0
        return {"crf": crf, "scale": scale}
    if arg == "random":  # one geometry-keeping perturbation drawn per video (training augmentation)
        from .perturb import PERTURBATIONS

        kinds = sorted(k for k, v in PERTURBATIONS.items() if v.keeps_geometry)
        arg = kinds[int(np.random.default_rng(_sub_seed(seed, "perturb-random", n)).integers(len(kinds)))]
    return {"kind": arg, "seed": int(_sub_seed(seed, "perturb", n).generate_state(1)[0])}


def _augment(frames, aug, seed, fps):
    name, arg, n = aug
    key = name + (f":{arg}" if arg else "") + (f"#{n}" if n != 1 else "")
    p = draw_augmentation(key, seed)
    if name == "reencode":
        return reencode_frames(frames, quality=p["quality"], scale=p["scale"])
    if name == "h264":
        from .codec import h264_roundtrip

        return h264_roundtrip(frames, crf=p["crf"], fps=fps, scale=p["scale"])
    from .perturb import perturb_frames

    return perturb_frames(frames, p["kind"], seed=p["seed"], fps=fps)[0]


def _fake(spec: VariantSpec, frames, boxes, landmarks, seed, donor):
    if spec.base == "selfblend":
        from .selfblend import self_blend_frames

        return self_blend_frames(frames, boxes, landmarks, seed=seed, region=spec.region)
    if spec.base == "generator":
        from .selfblend import generator_frames

        return generator_frames(frames, boxes, landmarks, seed=seed, region=spec.region or "face")
    from .donors import swap_frames

    return swap_frames(frames, boxes, landmarks, donor, seed=seed, region=spec.region or "face",
                       style={"dfswap": "dfl", "rswap": "rendered"}.get(spec.base, "blend"))


def variant_frames(frames: np.ndarray, dense: np.ndarray | None, variant: str, *, boxes: np.ndarray,
                   landmarks: np.ndarray, positions: np.ndarray, dense_boxes: np.ndarray | None, seed: int,
                   donor=None, fps: float = 25.0, return_masks: bool = False):
    """Sparse and dense frames of one training variant (the inputs themselves for ``orig``).

    Parameters
    ----------
    frames : uint8 (N, H, W, 3), the sparse sample; dense : uint8 (M, h, w, 3) or None
    variant : a variant name (module notes), e.g. one of :data:`VARIANTS`
    boxes, landmarks : the primary face track's boxes (T, 4) and landmarks (T, 5, 2), at ``positions``
        (T,) in ``frames``; dense_boxes : (M, 4) the same face in ``dense`` pixels, or None (the dense
        frames then stay real, and their masks zero)
    seed : the video's seed (:func:`video_seed`)
    donor : :class:`synthesis.donors.DonorEntry` of another identity, needed by ``swap`` and ``dfswap``
    fps : the video's frame rate (H.264 rate control, perturbations)
    return_masks : also return the exact blend masks

    Returns
    -------
    (frames, dense), or :class:`VariantFrames` with ``return_masks=True``: masks float32 (N, H, W)
    aligned with ``frames`` (the blend weight per pixel, zero off ``positions`` and for ``orig``),
    dense_masks (M, h, w) or None. Masks are the truth of the blend; augmentations (codec, overlays)
    are applied to the frames after it and leave the masks as they are.
    """
    spec = parse_variant(variant)
    if spec.base in DONOR_BASES and (donor is None or len(donor.crops) == 0):
        raise ValueError(f"{variant!r} needs a donor entry (donor=DonorEntry of another identity)")
    masks = np.zeros(frames.shape[:3], np.float32) if return_masks else None
    dense_masks = np.zeros(dense.shape[:3], np.float32) if return_masks and dense is not None else None
    if spec.base != "orig":
        bseed = _base_seed(spec, seed)
        frames = frames.copy()
        fake = _fake(spec, frames[positions], boxes, landmarks, bseed, donor)
        frames[positions] = fake.frames
        if return_masks:
            masks[positions] = fake.masks
        if dense is not None and dense_boxes is not None:
            dfake = _fake(spec, dense, dense_boxes, None, bseed, donor)
            dense = dfake.frames
            if return_masks:
                dense_masks = dfake.masks
    for aug in spec.augs:
        frames = _augment(frames, aug, seed, fps)
        if dense is not None:
            dense = _augment(dense, aug, seed, fps)
    if return_masks:
        return VariantFrames(frames, dense, masks, dense_masks)
    return frames, dense
