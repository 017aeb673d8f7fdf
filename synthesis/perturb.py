"""Perturbations of decoded videos, for robustness evaluation and training augmentation.

A detector that is right on the files it was developed on can still fail on
the same videos after a platform re-encodes, downscales or re-times them,
after an editor adds a caption or a logo, or after the simplest edits
(a mirror image, a brightness change). Each perturbation here is a plain
function of decoded frames, deterministic from a seed; the codec ones go
through the real encoder (:mod:`synthesis.codec`, libx264), as a platform
would. The registry :data:`PERTURBATIONS` names them; ``"a+b"`` applies
``a`` then ``b``; :func:`expand_kinds` turns ``"all"`` into every single
kind and ``"pairs"`` into a set of realistic combinations of two.

Every function has the signature ``f(frames, *, rng, fps) -> (frames, fps)``
with frames uint8 RGB (T, H, W, 3). Only ``fps15`` changes the number of
frames and only ``flip`` moves content, so only those two are refused as
training augmentations (face boxes would no longer fit;
:attr:`Perturbation.keeps_geometry`).

References
----------
B. Dolhansky et al., "The DeepFake Detection Challenge (DFDC) Dataset",
2020 (its test set's augmentations: re-encoding, resolution and frame-rate
changes, overlays, flips, brightness and contrast, noise, blur).
A. Rössler et al., "FaceForensics++", ICCV 2019 (H.264 at CRF 23 and 40).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .codec import h264_roundtrip, resize_frames

__all__ = [
    "Perturbation",
    "PERTURBATIONS",
    "PAIRS",
    "perturb_frames",
    "split_final_codec",
    "parse_kind",
    "expand_kinds",
    "downscale_frames",
    "change_fps",
    "overlay_text",
    "overlay_logo",
    "paste_patch",
    "perturb_file",
]


@dataclass(frozen=True)
class Perturbation:
    """One named perturbation.

    Attributes
    ----------
    name : registry key
    func : ``func(frames, *, rng, fps) -> (frames, fps)``
    description : one line, for reports
    crf : the CRF of its H.264 round trip for codec kinds (a writer can encode
        once at this CRF instead of round-tripping and re-encoding), else None
    keeps_geometry : False when the frame count changes or content moves
        (``fps15``, ``flip``), which face boxes of the original would not follow
    """

    name: str
    func: Callable
    description: str
    crf: int | None = None
    keeps_geometry: bool = True


# ----------------------------------------------------------------------------- building blocks

def downscale_frames(frames, *, factor: float = 0.5) -> np.ndarray:
    """Frames resized by ``factor`` per side (``INTER_AREA``): 0.5 is a quarter of the area."""
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    return resize_frames(frames, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)


def change_fps(frames, *, fps: float, target: float) -> tuple[np.ndarray, float]:
    """Frames re-timed to ``target`` fps by dropping frames (nearest earlier source frame).

    Output frame ``k`` shows the time ``k / target``: source frame
    ``floor(k * fps / target)``. 30 -> 15 fps keeps every second frame. A video
    at or below ``target`` is returned unchanged, with its own rate.
    """
    frames = np.asarray(frames)
    if fps <= target:
        return frames.copy(), float(fps)
    n = int(np.floor(len(frames) * target / fps + 1e-9))
    idx = np.floor(np.arange(max(n, 1)) * fps / target + 1e-9).astype(int)
    return frames[np.minimum(idx, len(frames) - 1)].copy(), float(target)


def overlay_text(frames, text: str, *, org, font_scale: float, colour=(255, 255, 255), thickness: int = 2,
                 outline: int = 2) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Frames with ``text`` drawn at ``org`` (x, y of the baseline's left end), outlined in black.

    Returns the frames and the box ``(x0, y0, x1, y1)`` (exclusive ends) that
    bounds every changed pixel.
    """
    frames = np.asarray(frames).copy()
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, font_scale, thickness + 2 * outline)
    x, y = int(org[0]), int(org[1])
    pad = thickness + 2 * outline + 2
    for f in frames:
        if outline:
            cv2.putText(f, text, (x, y), font, font_scale, (0, 0, 0), thickness + 2 * outline, cv2.LINE_AA)
        cv2.putText(f, text, (x, y), font, font_scale, tuple(int(c) for c in colour), thickness, cv2.LINE_AA)
    h, w = frames.shape[1:3]
    return frames, (max(x - pad, 0), max(y - th - pad, 0), min(x + tw + pad, w), min(y + base + pad, h))


def _logo(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic logo: RGB float32 (size, size, 3) and its alpha shape float32 (size, size) in [0, 1]."""
    img = np.zeros((size, size, 3), np.float32)
    a = np.zeros((size, size), np.float32)
    c1 = rng.uniform(0, 255, 3)
    c2 = 255 - c1
    r = size // 2
    cv2.circle(img, (r, r), r - 1, tuple(float(v) for v in c1), -1, cv2.LINE_AA)
    cv2.circle(a, (r, r), r - 1, 1.0, -1, cv2.LINE_AA)
    k = int(rng.integers(3, 7))  # a k-pointed star inside
    ang = rng.uniform(0, 2 * np.pi) + np.arange(2 * k) * np.pi / k
    rad = np.where(np.arange(2 * k) % 2 == 0, 0.8 * r, 0.35 * r)
    star = np.stack([r + rad * np.cos(ang), r + rad * np.sin(ang)], axis=1)
    cv2.fillPoly(img, [np.round(star * 16).astype(np.int32)], tuple(float(v) for v in c2), cv2.LINE_AA, shift=4)
    return img, a


def overlay_logo(frames, *, box, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Frames with a semi-transparent synthetic logo (opacity ``alpha``) in the square ``box`` (x0, y0, x1, y1).

    Only pixels inside ``box`` can change.
    """
    frames = np.asarray(frames)
    x0, y0, x1, y1 = [int(v) for v in box]
    size = min(x1 - x0, y1 - y0)
    img, a = _logo(size, rng)
    a = (a * np.float32(alpha))[..., None]
    out = frames.copy()
    win = out[:, y0:y0 + size, x0:x0 + size].astype(np.float32)
    out[:, y0:y0 + size, x0:x0 + size] = np.clip(np.rint(win * (1 - a) + img * a), 0, 255).astype(np.uint8)
    return out


def paste_patch(frames, patch, *, at) -> np.ndarray:
    """Frames with the uint8 image ``patch`` (h, w, 3) pasted with its top-left at ``at`` = (x, y)."""
    frames = np.asarray(frames)
    out = frames.copy()
    x, y = int(at[0]), int(at[1])
    ph, pw = patch.shape[:2]
    out[:, y:y + ph, x:x + pw] = patch[: out.shape[1] - y, : out.shape[2] - x]
    return out


def _random_image(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random natural-looking image: smooth colour blobs, edges and fine texture, uint8 (h, w, 3)."""
    blobs = cv2.resize(rng.uniform(0, 255, (max(h // 12, 2), max(w // 12, 2), 3)).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    img = blobs + rng.normal(0, 12, (h, w, 1)).astype(np.float32)
    for _ in range(int(rng.integers(2, 5))):  # a few hard-edged shapes
        c = tuple(float(v) for v in rng.uniform(0, 255, 3))
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, p, int(rng.integers(2, max(3, min(h, w) // 3))), c, -1, cv2.LINE_AA)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- the perturbations

def _h264(crf: int):
    def f(frames, *, rng, fps):
        return h264_roundtrip(frames, crf=crf, fps=fps), fps

    return f


def _downscale(frames, *, rng, fps):
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    return resize_frames(downscale_frames(frames, factor=0.5), (w, h), interpolation=cv2.INTER_LINEAR), fps


def _fps15(frames, *, rng, fps):
    return change_fps(frames, fps=fps, target=15.0)


def _lut(frames, table) -> np.ndarray:
    table = np.clip(np.rint(table), 0, 255).astype(np.uint8)
    return np.stack([cv2.LUT(np.ascontiguousarray(f), table) for f in np.asarray(frames)])


def _blur(frames, *, rng, fps):
    sigma = float(rng.uniform(1.0, 2.5))
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in np.asarray(frames)]), fps


def _noise(frames, *, rng, fps):
    sigma = float(rng.uniform(3.0, 10.0))
    out = np.empty_like(frames)
    buf = np.empty(np.shape(frames)[1:], np.float32)
    for i, f in enumerate(np.asarray(frames)):  # fresh noise per frame, as sensor or dither noise is
        rng.standard_normal(buf.shape, dtype=np.float32, out=buf)  # float32: 4x faster than normal() on HD
        buf *= sigma
        buf += f
        np.rint(buf, out=buf)
        np.clip(buf, 0, 255, out=buf)
        out[i] = buf
    return out, fps


def _signed(rng, lo, hi):
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(lo, hi))


def _brightness(frames, *, rng, fps):
    return _lut(frames, np.arange(256.0) + _signed(rng, 15, 40)), fps


def _contrast(frames, *, rng, fps):
    g = float(rng.uniform(0.6, 0.8)) if rng.random() < 0.5 else float(rng.uniform(1.2, 1.4))
    return _lut(frames, (np.arange(256.0) - 128) * g + 128), fps


def _gamma(frames, *, rng, fps):
    g = float(rng.uniform(0.6, 0.85)) if rng.random() < 0.5 else float(rng.uniform(1.2, 1.7))
    return _lut(frames, 255.0 * (np.arange(256.0) / 255.0) ** g), fps


def _flip(frames, *, rng, fps):
    return np.ascontiguousarray(np.asarray(frames)[:, :, ::-1]), fps


_WORDS = ["BREAKING", "LIVE", "NEWS", "exclusive", "watch", "today", "2024", "interview", "@channel", "HD",
          "official", "clip", "#viral", "report", "update"]


def _text(frames, *, rng, fps):
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    text = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 4))))
    scale = float(rng.uniform(0.6, 1.2)) * h / 360.0
    thick = max(1, int(round(scale * 2)))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick + 4)
    x = int(rng.integers(0, max(w - tw, 1)))
    y = int(rng.integers(min(th + 4, h - 1), h)) if rng.random() < 0.5 else int(h - rng.uniform(0.03, 0.12) * h)
    colour = [(255, 255, 255), (255, 255, 0), (255, 255, 255), (0, 255, 255)][int(rng.integers(4))]
    return overlay_text(frames, text, org=(x, y), font_scale=scale, colour=colour, thickness=thick)[0], fps


def _logo_kind(frames, *, rng, fps):
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    size = max(4, int(round(min(h, w) * rng.uniform(0.1, 0.2))))
    m = int(round(min(h, w) * 0.03))
    corner = int(rng.integers(4))
    x0 = m if corner in (0, 2) else w - m - size
    y0 = m if corner in (0, 1) else h - m - size
    return overlay_logo(frames, box=(x0, y0, x0 + size, y0 + size), alpha=float(rng.uniform(0.4, 0.85)), rng=rng), fps


def _patch(frames, *, rng, fps):
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    ph = max(2, int(round(h * rng.uniform(0.1, 0.25))))
    pw = max(2, int(round(w * rng.uniform(0.1, 0.25))))
    x, y = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
    return paste_patch(frames, _random_image(ph, pw, rng), at=(x, y)), fps


def _registry() -> dict[str, Perturbation]:
    items = [Perturbation(f"h264_crf{c}", _h264(c), f"H.264 (libx264, veryfast) re-encode at CRF {c}", crf=c)
             for c in (23, 30, 35, 40)]
    items += [
        Perturbation("downscale", _downscale, "downscale to 1/4 of the area (INTER_AREA) and back (bilinear)"),
        Perturbation("fps15", _fps15, "frame rate to 15 fps by dropping frames (30 fps: every second frame)",
                     keeps_geometry=False),
        Perturbation("blur", _blur, "Gaussian blur, sigma 1-2.5 px"),
        Perturbation("noise", _noise, "additive Gaussian noise, sigma 3-10 levels, fresh per frame"),
        Perturbation("brightness", _brightness, "brightness shift by 15-40 levels up or down"),
        Perturbation("contrast", _contrast, "contrast about mid-grey x0.6-0.8 or x1.2-1.4"),
        Perturbation("gamma", _gamma, "gamma 0.6-0.85 or 1.2-1.7"),
        Perturbation("flip", _flip, "horizontal flip (mirror image)", keeps_geometry=False),
        Perturbation("text", _text, "overlaid caption text, outlined, fixed position"),
        Perturbation("logo", _logo_kind, "semi-transparent synthetic logo in a corner, 10-20 % of the short side"),
        Perturbation("patch", _patch, "a random image patch, 10-25 % of each side, pasted at a random place"),
    ]
    return {p.name: p for p in items}


#: every single perturbation, by name
PERTURBATIONS: dict[str, Perturbation] = _registry()

#: realistic combinations of two (``expand_kinds("pairs")``): a platform or an editor after another edit
PAIRS = ("downscale+h264_crf30", "fps15+h264_crf35", "noise+h264_crf23", "blur+h264_crf30", "text+h264_crf23",
         "logo+downscale", "gamma+h264_crf35", "flip+h264_crf30", "brightness+contrast", "patch+noise")


def parse_kind(kind: str) -> list[Perturbation]:
    """The steps of ``kind`` (``"a"`` or ``"a+b"``...), in order; ``ValueError`` for unknown names."""
    names = [k.strip() for k in str(kind).split("+")]
    bad = [k for k in names if k not in PERTURBATIONS]
    if bad or not names:
        raise ValueError(f"unknown perturbation {'+'.join(bad) or kind!r}; choose from {sorted(PERTURBATIONS)}")
    return [PERTURBATIONS[k] for k in names]


def expand_kinds(kinds) -> list[str]:
    """A list of kinds from ``"all"`` (every single kind), ``"pairs"`` (:data:`PAIRS`), names and ``a+b``
    combinations, comma-separated or as a list; each is checked, duplicates dropped, order kept."""
    if isinstance(kinds, str):
        kinds = [kinds]
    out: list[str] = []
    for item in kinds:
        for k in str(item).split(","):
            k = k.strip()
            if not k:
                continue
            expanded = list(PERTURBATIONS) if k == "all" else list(PAIRS) if k == "pairs" else [k]
            for e in expanded:
                parse_kind(e)
                if e not in out:
                    out.append(e)
    return out


def _step_rng(seed: int, name: str) -> np.random.Generator:
    # keyed by the step's name, not its position: "a+b" is exactly b applied to a's result
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def perturb_frames(frames, kind: str, *, seed: int, fps: float = 25.0) -> tuple[np.ndarray, float]:
    """Apply the perturbation ``kind`` (``"a"`` or ``"a+b"``) to uint8 RGB frames (T, H, W, 3).

    Deterministic: each step draws its parameters from a generator seeded by
    ``seed`` and its own name, so ``"a+b"`` equals ``b`` applied to the result
    of ``a`` with the same seed. Returns the frames and their frame rate.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    for step in parse_kind(kind):
        frames, fps = step.func(frames, rng=_step_rng(seed, step.name), fps=float(fps))
    return frames, float(fps)


def split_final_codec(kind: str) -> tuple[str | None, int | None]:
    """``(rest, crf)`` when ``kind`` ends with an H.264 step: a writer applies ``rest`` (None: nothing)
    and encodes once at ``crf``, rather than round-tripping and encoding again; ``(kind, None)`` otherwise."""
    steps = parse_kind(kind)
    if steps[-1].crf is None:
        return kind, None
    rest = "+".join(s.name for s in steps[:-1])
    return (rest or None), steps[-1].crf


def perturb_file(src: str, dst: str, kind: str, *, seed: int, crf: float = 18, preset: str = "veryfast",
                 max_frames: int | None = None) -> dict:
    """Write a perturbed copy of the video ``src`` to ``dst`` (H.264): ``kind`` is applied to the decoded
    frames, then the copy is encoded once, at the CRF of a final ``h264_crfN`` step or else at ``crf``.

    Returns ``frames_in, frames_out, fps_in, fps_out, crf`` of the copy.
    """
    import os

    from .codec import read_video_frames, write_video_frames

    frames, fps = read_video_frames(src, max_frames=max_frames)
    rest, final_crf = split_final_codec(kind)
    out, out_fps = perturb_frames(frames, rest, seed=seed, fps=fps) if rest else (frames, fps)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    use_crf = crf if final_crf is None else final_crf
    write_video_frames(dst, out, fps=out_fps, crf=use_crf, preset=preset)
    return {"frames_in": len(frames), "frames_out": len(out), "fps_in": fps, "fps_out": out_fps, "crf": use_crf}
