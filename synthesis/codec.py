"""Real video-codec round trips (H.264 through FFmpeg's libx264, via PyAV).

Training copies degraded by JPEG alone teach a detector JPEG's 8x8 blocks,
not the artefacts of the codecs videos are actually shared with: H.264's
4x4/8x8 integer transforms, deblocking filter, intra and motion-compensated
prediction, and rate control that spends bits unevenly across a frame. These
functions put frames through the real encoder and decoder, in memory, so a
training sample can be degraded the way a platform would degrade it.

Colour conversion is done here, not by FFmpeg's scaler: RGB to YUV 4:2:0 and
back with OpenCV's BT.601 limited-range ``I420`` conversions (the matrix most
decoders assume for streams that do not say otherwise, and the one the files
written here declare). The encoder runs single-threaded by default, so the
same frames give the same bytes on any machine (x264's output depends on its
thread count).

References
----------
T. Wiegand, G. J. Sullivan, G. Bjøntegaard, A. Luthra, "Overview of the
H.264/AVC video coding standard", IEEE TCSVT 13(7), 2003.
L. Merritt, R. Vanam, "x264: a high performance H.264/AVC encoder", 2006.
"""
from __future__ import annotations

import io
from fractions import Fraction

import cv2
import numpy as np

__all__ = [
    "h264_roundtrip",
    "encode_h264",
    "decode_video",
    "read_video_frames",
    "write_video_frames",
    "resize_frames",
]

#: x264 settings that make the stream say how its colours were converted (BT.601, limited range)
_COLOUR_PARAMS = "colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m:range=tv"


def _as_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if len(frames) == 0:
        raise ValueError("no frames")
    return frames


def resize_frames(frames, size, *, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Every frame resized to ``size`` = (width, height); uint8 (T, height, width, 3)."""
    frames = _as_frames(frames)
    w, h = int(size[0]), int(size[1])
    out = np.empty((len(frames), h, w, 3), np.uint8)
    for i, f in enumerate(frames):
        cv2.resize(f, (w, h), dst=out[i], interpolation=interpolation)
    return out


def _fraction(fps: float) -> Fraction:
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1001)


def encode_h264(frames, *, crf: float, fps: float = 25.0, preset: str = "veryfast", threads: int = 1,
                container: str = "mp4") -> bytes:
    """Encode uint8 RGB frames (T, H, W, 3) as H.264 (libx264, yuv420p) in an in-memory container.

    Parameters
    ----------
    frames : uint8 (T, H, W, 3) RGB; H and W must be even (yuv420p)
    crf : constant rate factor, 0 (lossless in YUV) to 51; 18 is visually
        transparent, 23 is x264's default, 35-40 is heavy
    fps : frame rate written to the stream
    preset : x264 speed preset (``ultrafast`` ... ``veryslow``)
    threads : encoder threads; keep it fixed for byte-identical output across machines
        (frames an odd number of macroblocks wide are encoded without macroblock-tree rate
        control, which reads uninitialised memory there; see the comment in the code)
    container : ``"mp4"`` (default) or any muxer FFmpeg knows that takes H.264

    Returns
    -------
    bytes
        The encoded file.
    """
    buf = io.BytesIO()
    _encode(buf, frames, crf=crf, fps=fps, preset=preset, threads=threads, container=container)
    return buf.getvalue()


def _encode(target, frames, *, crf, fps, preset, threads, container) -> None:
    import av  # deferred: only training-time degradation needs PyAV

    frames = _as_frames(frames)
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs even width and height, got {w}x{h} (h264_roundtrip pads)")
    # No macroblock-tree rate control. In the libx264 that PyAV's wheels bundle it reads an uninitialised stack
    # value inside x264_encoder_encode (valgrind memcheck: "Use of uninitialised value of size 8 ... created by a
    # stack allocation"), so the bytes depend on what earlier calls left on the stack. First seen at an odd count
    # of macroblocks across (widths 78, 80, 112: 12 of 15 runs of the round-trip determinism test failed), then,
    # 2026-12-07, at even widths too: 96x80, 160x120, 192x144 and 224x176 gave two different outputs in six
    # identical calls, and 14 % of the training pool's H.264 copies came out different in a second extraction.
    # mbtree=0 gave one output at every size tried. (Padding to an even count was tried before: it keeps mbtree
    # but lets the padding steer it, so a real and a self-blended copy differed far from the blend at CRF 40.)
    params = _COLOUR_PARAMS + ":mbtree=0"
    with av.open(target, mode="w", format=container) as out:
        stream = out.add_stream("libx264", rate=_fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.thread_count = int(threads)
        stream.options = {"crf": str(float(crf)), "preset": preset, "threads": str(int(threads)),
                          "x264-params": params}
        for f in frames:
            yuv = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2YUV_I420)
            for packet in stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _frame_to_rgb(frame, dst=None) -> np.ndarray:
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        # the common case, converted with the same matrix as the encoder side
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420, dst=dst)
    rgb = frame.to_ndarray(format="rgb24")
    if dst is None:
        return rgb
    dst[...] = rgb
    return dst


def _rotate(img: np.ndarray, rotation: float) -> np.ndarray:
    k = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def _iter_decode(source):
    """(frame, fps) for each decoded frame of ``source``."""
    import av

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    with av.open(source, mode="r") as cont:
        if not cont.streams.video:
            raise ValueError("no video stream")
        stream = cont.streams.video[0]
        stream.thread_type = "AUTO"  # decoding is exact whatever the thread count
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 25.0
        for frame in cont.decode(stream):
            yield frame, fps


def decode_video(source, *, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Every frame of a video as uint8 RGB (T, H, W, 3), and its frame rate.

    ``source`` is a file path, ``bytes`` or a binary file object. Display
    rotation metadata (phone videos) is applied. ``max_frames`` stops early.
    Raises ``ValueError`` when no frame decodes.
    """
    out, fps = [], 0.0
    for frame, fps in _iter_decode(source):
        out.append(_rotate(_frame_to_rgb(frame), getattr(frame, "rotation", 0) or 0))
        if max_frames is not None and len(out) >= max_frames:
            break
    if not out:
        raise ValueError("no frame decodes")
    return np.stack(out), fps


def h264_roundtrip(frames, *, crf: float, fps: float = 25.0, preset: str = "veryfast", scale: float = 1.0,
                   threads: int = 1) -> np.ndarray:
    """Frames as they come back from an H.264 encode and decode, at the input's size.

    The frames are optionally downscaled by ``scale`` (``INTER_AREA``, as a
    platform's transcoder would), padded to even width and height by edge
    replication (yuv420p subsamples chroma 2x2), encoded with libx264 at the
    given CRF into an in-memory MP4, decoded, cropped back, and upscaled
    (bilinear) to the original size, so face boxes stay valid.

    Parameters
    ----------
    frames : uint8 (T, H, W, 3) RGB, consecutive frames of one video (the
        encoder predicts each frame from its neighbours; unrelated frames are
        coded mostly intra)
    crf : x264 constant rate factor (18 near-transparent ... 40 heavy)
    fps : frame rate of the stream (x264's rate control uses frame durations)
    preset : x264 speed preset
    scale : 0 < scale <= 1, linear downscale before encoding
    threads : encoder threads (fixed for reproducible bytes)

    Returns
    -------
    uint8 (T, H, W, 3)
        Deterministic: the same input and options give the same output.
    """
    frames = _as_frames(frames)
    t, h, w = frames.shape[:3]
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    work = frames
    if scale < 1:
        work = resize_frames(frames, (max(2, round(w * scale)), max(2, round(h * scale))),
                             interpolation=cv2.INTER_AREA)
    sh, sw = work.shape[1:3]
    ph, pw = sh % 2, sw % 2
    if ph or pw:
        work = np.pad(work, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    data = encode_h264(work, crf=crf, fps=fps, preset=preset, threads=threads)
    out = np.empty((t, sh, sw, 3), np.uint8)
    n = 0
    for frame, _ in _iter_decode(data):  # straight into the output: no list of frames, no stack
        if n >= t:
            n += 1
            break
        if ph or pw:
            out[n] = _frame_to_rgb(frame)[:sh, :sw]
        else:
            _frame_to_rgb(frame, dst=out[n])
        n += 1
    if n != t:
        raise RuntimeError(f"H.264 round trip returned {n} frames for {t}")
    if (sh, sw) != (h, w):
        out = resize_frames(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def read_video_frames(path: str, *, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """All frames of the video file ``path`` (uint8 RGB, T x H x W x 3) and its frame rate."""
    return decode_video(str(path), max_frames=max_frames)


def write_video_frames(path: str, frames, *, fps: float, crf: float = 18, preset: str = "veryfast",
                       threads: int = 1) -> None:
    """Write uint8 RGB frames to ``path`` as H.264 (libx264, yuv420p) at ``crf``.

    The container follows the file name (``.mp4``, ``.mkv``, ``.mov``...).
    Odd sizes are padded by one replicated row or column (yuv420p needs even
    sizes); the padding is written, not cropped, so such files are one pixel
    larger.
    """
    frames = _as_frames(frames)
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    _encode(str(path), frames, crf=crf, fps=fps, preset=preset, threads=threads, container=_container_for(path))


def _container_for(path: str) -> str:
    ext = str(path).lower().rsplit(".", 1)[-1]
    return {"mkv": "matroska", "mov": "mov", "m4v": "mp4"}.get(ext, "mp4")
