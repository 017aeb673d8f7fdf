"""A corpus of hostile and broken inputs, made on the fly (FFmpeg through PyAV, OpenCV's writer).

:func:`make_corpus` writes one file (or folder, or link) per kind into a folder and returns
``{kind: path}``; :data:`EXPECTED` says which status and which words of the message each kind must get.
:func:`tiny_model` writes a small model folder (``meta`` features only, random trees) so that tests
which check statuses, exit codes and resuming do not pay for the full feature set.
"""
from __future__ import annotations

import io
import json
import os
import struct
from fractions import Fraction

import av
import cv2
import numpy as np

__all__ = ["make_corpus", "EXPECTED", "encode", "tiny_model", "faststart_clip", "mp4_with_rotation"]


def encode(path, frames, *, fps=25, codec="libx264", pix_fmt="yuv420p", container=None, pts=None,
           time_base=None, options=None, faststart=False, audio=False):
    """Encode RGB uint8 frames (T, H, W, 3) (or gray (T, H, W)) with PyAV; ``pts`` for variable frame rates."""
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container, options=opts) as out:
        st = out.add_stream(codec, rate=Fraction(fps).limit_denominator(100000) if fps else None)
        st.width, st.height, st.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            st.codec_context.time_base = time_base
            st.time_base = time_base
        if options:
            st.options = dict(options)
        ast = out.add_stream("aac", rate=16000) if audio else None
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="gray" if f.ndim == 2 else "rgb24")
            if pts is not None:
                vf.pts = int(pts[i])
                vf.time_base = time_base
            for p in st.encode(vf):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
        if ast is not None:
            _audio(out, ast, seconds=len(frames) / (fps or 25))
    return str(path)


def _audio(out, st, seconds=1.0):
    n = int(16000 * seconds)
    t = np.arange(n) / 16000
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    for k in range(0, n, 1024):
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, k:k + 1024]), format="fltp", layout="mono")
        af.sample_rate = 16000
        af.pts = k
        for p in st.encode(af):
            out.mux(p)
    for p in st.encode():
        out.mux(p)


def _audio_only(path):
    with av.open(str(path), "w", format="mp4") as out:
        _audio(out, out.add_stream("aac", rate=16000), seconds=1.0)
    return str(path)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _no_video_stream(path):
    """A valid MP4 container (``ftyp`` + ``moov`` with its movie header) that holds no track at all."""
    matrix = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
    mvhd = struct.pack(">IIIIIIH", 0, 0, 0, 1000, 0, 0x00010000, 0x0100) + bytes(10) + matrix + bytes(24) \
        + struct.pack(">I", 1)
    with open(path, "wb") as f:
        f.write(_box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isommp42") + _box(b"moov", _box(b"mvhd", mvhd)))
    return str(path)


def faststart_clip(path, frames, fps=25):
    """H.264 MP4 with its index (moov atom) at the front: a cut file still opens."""
    return encode(path, frames, fps=fps, faststart=True)


def mp4_with_rotation(path, frames, degrees: int):
    """An MP4 whose track header asks players to rotate by ``degrees`` (display matrix in ``tkhd``)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=25)
        h, w = np.asarray(frames).shape[1:3]
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    data = bytearray(buf.getvalue())
    k = data.find(b"tkhd")
    assert k > 0 and data[k + 4] == 0, "expected a version-0 tkhd box"
    one, minus = 0x00010000, 0xFFFF0000
    mats = {90: (0, one, 0, minus, 0, 0), 180: (minus, 0, 0, 0, minus, 0), 270: (0, minus, 0, one, 0, 0)}
    a, b, u, c, d, v = mats[degrees % 360]
    off = k + 4 + 4 + 4 * 5 + 8 + 2 * 4  # version/flags, 5 x 32-bit fields, 8 reserved, layer..reserved
    data[off:off + 36] = struct.pack(">9I", a, b, u, c, d, v, 0, 0, 0x40000000)
    with open(path, "wb") as f:
        f.write(bytes(data))
    return str(path)


def _mp4_non_faststart(path, frames):
    return encode(path, frames, fps=25)


#: kind -> (status, words that must appear in the message, lower case)
EXPECTED = {
    "zero_byte": ("empty_file", ["zero-byte"]),
    "truncated_mid_stream": ("ok", ["announces 48 frames"]),
    "truncated_before_index": ("unreadable", ["index"]),
    "random_bytes": ("unreadable", ["not a video"]),
    "text_as_mp4": ("unreadable", ["text"]),
    "jpeg_as_mp4": ("still_image", ["jpeg"]),
    "png_as_mov": ("still_image", ["png"]),
    "no_video_stream": ("no_video", ["no video stream"]),
    "audio_only": ("no_video", ["audio"]),
    "frame_1x1": ("too_small", ["1x1"]),
    "frame_16x16": ("too_small", ["16x16"]),
    "frame_90x1600": ("no_face", ["no face"]),
    "single_frame": ("too_short", ["1 frame"]),
    "still_video": ("still_image", ["identical"]),
    "frame_8k": ("no_face", ["downscaled"]),
    "fps_absurd": ("ok", ["frame rate"]),
    "fps_zero": ("ok", ["frame rate"]),
    "fps_one_frame_an_hour": ("ok", ["frame rate"]),
    "rotated_metadata": ("ok", []),
    "rotated_no_metadata": ("ok", ["rotat"]),
    "grayscale": ("ok", []),
    "variable_frame_rate": ("ok", []),
    "name_with_spaces": ("ok", []),
    "name_unicode": ("ok", []),
    "name_leading_dash": ("ok", []),
    "directory_named_mp4": ("not_a_file", ["folder"]),
    "symlink_loop": ("not_a_file", ["link loop"]),
    "broken_symlink": ("not_found", ["broken symbolic link"]),
}


def make_corpus(root, face_frames: np.ndarray) -> dict[str, str]:
    """Write every kind of :data:`EXPECTED` under ``root`` from RGB frames of a real face (T >= 24)."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    clip = np.ascontiguousarray(face_frames[:24])
    j = lambda name: os.path.join(root, name)  # noqa: E731
    rng = np.random.default_rng(0)
    out = {}

    open(j("zero.mp4"), "wb").close()
    out["zero_byte"] = j("zero.mp4")

    full = open(faststart_clip(j("_fs.tmp.mp4"), np.concatenate([clip, clip])), "rb").read()
    os.remove(j("_fs.tmp.mp4"))
    with open(j("truncated_mid.mp4"), "wb") as f:
        f.write(full[: int(len(full) * 0.6)])
    out["truncated_mid_stream"] = j("truncated_mid.mp4")

    late = open(_mp4_non_faststart(j("_late.tmp.mp4"), clip), "rb").read()
    os.remove(j("_late.tmp.mp4"))
    with open(j("truncated_index.mp4"), "wb") as f:
        f.write(late[: len(late) // 3])
    out["truncated_before_index"] = j("truncated_index.mp4")

    with open(j("random.mp4"), "wb") as f:
        f.write(rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    out["random_bytes"] = j("random.mp4")

    with open(j("notes.mp4"), "w") as f:
        f.write("these are meeting notes, not a video\n" * 100)
    out["text_as_mp4"] = j("notes.mp4")

    with open(j("photo.mp4"), "wb") as f:
        f.write(cv2.imencode(".jpg", cv2.cvtColor(clip[0], cv2.COLOR_RGB2BGR))[1].tobytes())
    out["jpeg_as_mp4"] = j("photo.mp4")
    with open(j("picture.mov"), "wb") as f:
        f.write(cv2.imencode(".png", cv2.cvtColor(clip[0], cv2.COLOR_RGB2BGR))[1].tobytes())
    out["png_as_mov"] = j("picture.mov")

    out["no_video_stream"] = _no_video_stream(j("empty_container.mp4"))
    out["audio_only"] = _audio_only(j("audio.mp4"))

    out["frame_1x1"] = encode(j("one_pixel.mkv"), rng.integers(0, 255, (10, 1, 1, 3), dtype=np.uint8), codec="ffv1",
                              pix_fmt="bgr0")
    out["frame_16x16"] = encode(j("tiny.mp4"), cv2.resize(clip[0], (16, 16))[None].repeat(10, 0) +
                                np.arange(10, dtype=np.uint8)[:, None, None, None])
    tall = np.zeros((10, 1600, 90, 3), np.uint8)
    tall[:, 700:900] = rng.integers(0, 255, (10, 200, 90, 3), dtype=np.uint8)
    out["frame_90x1600"] = encode(j("tall.mp4"), tall)
    out["single_frame"] = encode(j("single.mp4"), clip[:1])
    out["still_video"] = encode(j("still.avi"), clip[:1].repeat(12, 0), codec="ffv1", pix_fmt="bgr0")
    big = cv2.resize(rng.integers(0, 255, (54, 96, 3), dtype=np.uint8), (7680, 4320), interpolation=cv2.INTER_LINEAR)
    out["frame_8k"] = encode(j("eight_k.mp4"), np.stack([big, big[:, ::-1]]),
                             options={"preset": "ultrafast", "crf": "40"})
    out["fps_absurd"] = _avi_rate(j("fps_absurd.avi"), clip, scale=1, rate=100_000)  # 100,000 fps
    out["fps_zero"] = _avi_rate(j("fps_zero.avi"), clip, scale=1_000_000, rate=1)  # one frame in 11.6 days
    out["fps_one_frame_an_hour"] = encode(j("hourly.mkv"), clip, fps=None, time_base=Fraction(1, 1000),
                                          pts=np.arange(len(clip)) * 3_600_000, container="matroska")
    out["rotated_metadata"] = mp4_with_rotation(j("rotated_meta.mp4"), np.ascontiguousarray(np.rot90(clip, 1, (1, 2))),
                                                90)
    out["rotated_no_metadata"] = encode(j("rotated_raw.mp4"), np.ascontiguousarray(np.rot90(clip, 1, (1, 2))))
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip])
    out["grayscale"] = encode(j("gray.mkv"), gray, codec="ffv1", pix_fmt="gray")
    steps = np.cumsum(rng.choice([20, 40, 120], len(clip)))
    out["variable_frame_rate"] = encode(j("vfr.mkv"), clip, fps=None, time_base=Fraction(1, 1000),
                                        pts=steps - steps[0], container="matroska")
    good = open(encode(j("_good.tmp.mp4"), clip), "rb").read()
    os.remove(j("_good.tmp.mp4"))
    for kind, name in (("name_with_spaces", "my holiday  clip (1).mp4"), ("name_unicode", "vidéo 视频 ✓.mp4"),
                       ("name_leading_dash", "-rf --force.mp4")):
        with open(j(name), "wb") as f:
            f.write(good)
        out[kind] = j(name)
    os.makedirs(j("folder.mp4"), exist_ok=True)
    out["directory_named_mp4"] = j("folder.mp4")
    os.symlink("loop.mp4", j("loop.mp4"))
    out["symlink_loop"] = j("loop.mp4")
    os.symlink("gone-away.mp4", j("dangling.mp4"))
    out["broken_symlink"] = j("dangling.mp4")
    return out


def _avi_rate(path, clip, *, scale: int, rate: int):
    """An MJPEG AVI whose stream header gives ``rate / scale`` frames per second (frames themselves intact)."""
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, clip.shape[2:0:-1])
    for f in clip:
        wr.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    wr.release()
    data = bytearray(open(path, "rb").read())
    k = data.find(b"strh")
    off = k + 8 + 4 + 4 + 4 + 2 + 2 + 4  # fccType, fccHandler, flags, priority, language, initial frames
    data[off:off + 8] = struct.pack("<II", scale, rate)
    k = data.find(b"avih")
    data[k + 8:k + 12] = struct.pack("<I", 0)  # microseconds per frame: unknown
    with open(path, "wb") as f:
        f.write(bytes(data))
    return str(path)


def tiny_model(model_dir, *, frames: int = 8, seed: int = 0) -> str:
    """A model folder with ``meta`` features only and trees fitted to random labels (fast; scores mean nothing)."""
    import lightgbm as lgb

    from features.registry import select
    from modeling.card import build_card
    from modeling.detector import DetectorModel

    calcs = select("meta")
    names = ["meta__bits_per_pixel__value", "meta__side_px__mean", "meta__side_px__std", "meta__side_rel__mean"]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, len(names)))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4, "seed": seed,
                         "deterministic": True, "min_data_in_leaf": 5}, lgb.Dataset(X, y, feature_name=names),
                        num_boost_round=5)
    card = build_card(name="tiny", features=names, feature_set="meta", calculators=[c.key for c in calcs],
                      frames=frames, dense=0, calibration=(1.0, 0.0), cv={}, training={}, sources=[], params={})
    DetectorModel(booster, card).save(str(model_dir))
    json.loads(open(os.path.join(str(model_dir), "model_card.json")).read())
    return str(model_dir)
