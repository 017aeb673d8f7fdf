"""Video reading: one straight-through decode per file.

Frames are reached with ``grab()`` (demux + decode, no colour conversion) and
only the wanted ones are ``retrieve()``-d; the file is never seeked per frame
(seeking costs several times more: ../shared/docs/REFERENCES.md). The same pass
collects the sparse sample (``n_frames`` spread evenly, or every k-th frame of one
block a few seconds in: :func:`sampling_plan`) and, when asked, a dense window of
consecutive frames for temporal features.

Anything a user may point the tool at is checked before FFmpeg sees it (folders,
pipes, link loops, pictures and text named like videos), and what OpenCV and
FFmpeg print while a file is opened and decoded is captured into the file's
warnings (:func:`native_log`) instead of landing on the terminal. Frames whose
longer side exceeds :data:`MAX_SIDE` are downscaled as they are decoded, so a
4K or 8K clip costs the memory of a 1080p one (``info["decode_scale"]``).

Codes of :class:`VideoError` (the per-file status written to the CSV):

``not_found``   no such file, or a symbolic link to nothing
``not_a_file``  a folder, pipe, device or symbolic-link loop named like a video
``empty_file``  zero bytes
``unreadable``  not a video (text, random bytes, an unknown format), a damaged container, or no permission
``no_video``    a valid container without a video stream (audio only, or no stream at all)
``still_image`` a picture (JPEG, PNG, ...) named like a video, or a video whose frames are all identical
``too_small``   frames smaller than :data:`MIN_SIDE` px on a side: no face fits
``too_large``   frames over :data:`MAX_PIXELS` pixels (the decoder alone would need gigabytes)
``no_frames``   opens but no frame decodes (corrupt or truncated)
``too_short``   fewer than :data:`MIN_FRAMES` frames decode: a single picture is not a video
"""
from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["VideoError", "DecodedVideo", "sample_indices", "sampling_plan", "read_video", "check_file", "native_log",
           "set_open_hook", "VIDEO_EXTENSIONS", "VIDEO_ERRORS", "MAX_SIDE", "MIN_SIDE", "MIN_FRAMES", "MAX_PIXELS"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")

#: every code a :class:`VideoError` carries (see the module docstring)
VIDEO_ERRORS = ("not_found", "not_a_file", "empty_file", "unreadable", "no_video", "still_image", "too_small",
                "too_large", "no_frames", "too_short")
#: decoded frames whose longer side exceeds this many pixels are downscaled to it (INTER_AREA) as they are read
MAX_SIDE = 1920
#: frames with a side shorter than this cannot hold a face the detector keeps (its smallest face is 24 px)
MIN_SIDE = 32
#: fewest decodable frames that make a video (temporal features need motion between frames)
MIN_FRAMES = 2
#: frames larger than this are refused before decoding (8192 x 4352: every 8K format fits)
MAX_PIXELS = 8192 * 4352
#: frame rates outside this range are treated as missing (temporal features then assume 25 fps)
FPS_RANGE = (1.0, 240.0)
#: with a sampling stride, the block of sampled frames starts at most this many seconds into the video
#: (centred in shorter videos): past most intros and fades, and decoding stops soon after the block
STRIDE_LEAD_S = 2.0
class VideoError(Exception):
    """A file that cannot be used; ``code`` (one of :data:`VIDEO_ERRORS`) is the per-file status written to the CSV."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class DecodedVideo:
    """Frames and facts from one decode.

    Attributes
    ----------
    frames : uint8 (N, H, W, 3) RGB, the sparse sample at full resolution
    indices : int (N,), their frame numbers
    fps : float
    n_total : int, frames decoded in the whole pass
    dense_frames : uint8 (M, h, w, 3) RGB or None, consecutive frames, downscaled
    dense_start : int, frame number of the first dense frame
    dense_scale : float, dense pixels per full-resolution pixel
    info : dict, container facts (``width``, ``height``, ``fps``, ``n_frames``, ``codec``,
        ``bits_per_pixel``, ``rotation``)
    warnings : list of str
    """

    frames: np.ndarray
    indices: np.ndarray
    fps: float
    n_total: int
    dense_frames: np.ndarray | None = None
    dense_start: int = 0
    dense_scale: float = 1.0
    info: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


def sample_indices(n_total: int, n: int) -> np.ndarray:
    """``n`` frame numbers spread evenly over ``[0, n_total)``, first and last included.

    Fewer than ``n`` come back when the video is shorter.
    """
    if n_total <= 0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n >= n_total:
        return np.arange(n_total, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_total - 1, n)).astype(np.int64))


def sampling_plan(n_total: int, n: int, dense: int, *, stride: int = 0, fps: float = 25.0) -> tuple[np.ndarray, int]:
    """The sampled frame numbers and the first frame of the dense window of a video of ``n_total`` frames.

    ``stride`` 0 spreads the ``n`` frames over the whole video (:func:`sample_indices`) and centres the
    ``dense`` window in it. ``stride`` k > 0 takes every k-th frame of one block of ``(n - 1) * k + 1``
    frames that starts :data:`STRIDE_LEAD_S` seconds in (or is centred, when the video is shorter than
    twice that lead plus the block), with the dense window centred in the block. The decoder must pass every
    reference frame up to the last one needed, so a block costs the same for any video long enough to hold
    it, where spreading decodes the whole video; the price is that the frames see only those seconds. A
    video too short for the block is spread as with ``stride`` 0.
    """
    dense = int(max(0, min(dense, n_total)))
    block = (n - 1) * stride + 1
    if stride <= 0 or n <= 0 or block > n_total:
        return sample_indices(n_total, n), max(0, n_total // 2 - dense // 2)
    start = min((n_total - block) // 2, int(round(STRIDE_LEAD_S * fps)))
    dense_start = min(max(0, start + block // 2 - dense // 2), n_total - dense)
    return start + stride * np.arange(n, dtype=np.int64), int(dense_start)


# ----------------------------------------------------------------------------- what native code prints

_LOG_LOCK = threading.RLock()
_OPENCV_PREFIX = re.compile(r"^\[\s*(WARN|ERROR|INFO|DEBUG)[^\]]*\]\s*(global\s+)?\S+:\d+\s+")
_POINTER = re.compile(r"\s*@\s*0x[0-9a-fA-F]+")


def _summarise_log(text: str, *, max_lines: int = 3, max_len: int = 160) -> list[str]:
    """Distinct lines of native log output, cleaned (no addresses, no timestamps), most frequent first."""
    counts: Counter = Counter()
    for line in text.splitlines():
        line = _POINTER.sub("", _OPENCV_PREFIX.sub("OpenCV: ", line.strip()))
        if line:
            counts[line[:max_len]] += 1
    return [f"{ln} (x{n})" if n > 1 else ln for ln, n in counts.most_common(max_lines)]


@contextmanager
def native_log(lines: list | None = None):
    """Capture what C/C++ libraries (OpenCV, FFmpeg) write to file descriptor 2 while the block runs.

    Yields a list that, after the block, holds the distinct cleaned lines (:func:`_summarise_log`).
    Nested use is fine; threads of one process take turns (the descriptor is process-wide).
    """
    out = [] if lines is None else lines
    with _LOG_LOCK:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no descriptor 2 at all (a daemon): nothing to capture
            yield out
            return
        tmp = _LOG_FILES.pop() if _LOG_FILES else tempfile.TemporaryFile()
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(1 << 20)
            tmp.seek(0)
            tmp.truncate()
            _LOG_FILES.append(tmp)  # reused: creating a file per video costs more than the rest of a bad file's row
            out.extend(_summarise_log(text.decode("utf-8", "replace")))


#: capture files kept for reuse by :func:`native_log` (one per nesting level in use)
_LOG_FILES: list = []


def _quiet_opencv() -> None:
    """OpenCV's own log lines ('[ WARN:0@2.79] global cap.cpp...') only for errors; FFmpeg's through ours."""
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # very old OpenCV builds
        pass


_quiet_opencv()

# ----------------------------------------------------------------------------- checks before decoding

_OPEN_HOOK = None


def set_open_hook(fn) -> None:
    """Call ``fn(n_frames, width, height)`` each time :func:`read_video` has opened a file (the orchestration
    uses it to give long videos a longer deadline); None removes it."""
    global _OPEN_HOOK
    _OPEN_HOOK = fn


_IMAGE_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
                (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _sniff(head: bytes) -> tuple[str, str] | None:
    """(code, message) when the first bytes show the file is plainly not a video; None otherwise."""
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic) and not (name == "BMP" and len(head) > 14 and head[6:10] != b"\x00" * 4):
            return "still_image", f"a {name} picture, not a video (named like one); a single picture is not scored"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "still_image", "a WebP picture, not a video (named like one); a single picture is not scored"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"avif", b"msf1"):
        return "still_image", "a HEIF/AVIF picture, not a video (named like one); a single picture is not scored"
    if head and b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and sum(c.isprintable() or c.isspace() for c in text) >= 0.95 * len(text):
            low = text.lstrip().lower()
            if low.startswith(("<!doctype html", "<html", "<?xml", "<head")):
                return "unreadable", "an HTML or XML page, not a video (a failed download?)"
            return "unreadable", "a text file, not a video"
    return None


def check_file(path: str) -> int:
    """Size in bytes of ``path`` when it is a readable, non-empty regular file; :class:`VideoError` otherwise.

    Never opens a pipe or a device (that could block for ever), follows no link loop, and names what the
    path is instead of a generic failure.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise VideoError("not_a_file", f"a symbolic link loop (the link leads back to itself): {path}") from None
        if os.path.islink(path):
            raise VideoError("not_found", f"a broken symbolic link (to {os.readlink(path)}, which does not exist)") \
                from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise VideoError("unreadable", f"permission denied: {path}") from None
        if e.errno == errno.ENAMETOOLONG:
            raise VideoError("not_found", "the file name is too long for this file system") from None
        raise VideoError("not_found", f"no such file: {path}") from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoError("not_a_file", "a folder, not a video file (its name looks like a video's)")
    if not stat.S_ISREG(st.st_mode):
        kind = "pipe" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "device"
        raise VideoError("not_a_file", f"a {kind}, not a regular file; it is not read (reading could block)")
    if st.st_size == 0:
        raise VideoError("empty_file", "zero-byte file (nothing was written to it, or the copy failed)")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise VideoError("unreadable", f"cannot read the file: {e.strerror or e}") from None
    sniffed = _sniff(head)
    if sniffed:
        raise VideoError(*sniffed)
    return int(st.st_size)


def _why_unopenable(path: str, log: list[str]) -> VideoError:
    """The most specific reason FFmpeg cannot open ``path`` (probing the container with PyAV)."""
    detail = "; ".join(log)
    try:
        import av

        with av.open(path, "r") as cont:
            kinds = [f"{s.type} ({s.codec_context.name if s.codec_context else '?'})" for s in cont.streams]
            has_video = bool(cont.streams.video)
    except Exception:  # noqa: BLE001 - PyAV cannot open it either: say what FFmpeg said
        with open(path, "rb") as f:
            head = f.read(16)
        if "moov atom not found" in detail and head[4:8] == b"ftyp":
            return VideoError("unreadable", "the MP4 index (moov atom) is missing: the file was cut short or never "
                                            "finished writing")
        return VideoError("unreadable", "not a video (FFmpeg recognises no container format in it)")
    if not has_video:
        if not kinds:
            return VideoError("no_video", "no video stream: the container holds no stream at all")
        what = "audio only" if all(k.startswith("audio") for k in kinds) else "no video"
        return VideoError("no_video", f"no video stream ({what}: {', '.join(kinds)})")
    return VideoError("unreadable", "the video stream cannot be decoded (no decoder for it, or it is damaged)"
                      + (f"; decoder: {detail}" if detail else ""))


# ----------------------------------------------------------------------------- decoding


def _open(path: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if cap.isOpened():
        # Honour rotation metadata (phone videos); on by default in OpenCV >= 4.5, set explicitly.
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _to_rgb(frame: np.ndarray, scale: float = 1.0, out: np.ndarray | None = None, *,
            rgb: bool = False) -> np.ndarray:
    """RGB of a decoded BGR(A)/gray frame (or of an RGB one, ``rgb``), downscaled by ``scale`` first (the
    conversion then costs less), written into ``out`` when given (a slot of the array the frames are collected
    in: no second copy)."""
    if scale != 1.0:
        h, w = frame.shape[:2]
        frame = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    elif rgb and out is None:
        frame = frame.copy()  # not a view of the decoder's buffer
    if rgb:
        if out is not None and out.shape == frame.shape:
            np.copyto(out, frame)
            return out
        return frame
    code = cv2.COLOR_GRAY2RGB if frame.ndim == 2 else cv2.COLOR_BGRA2RGB if frame.shape[2] == 4 else cv2.COLOR_BGR2RGB
    if out is not None and out.shape == frame.shape[:2] + (3,):
        return cv2.cvtColor(frame, code, dst=out)
    return cv2.cvtColor(frame, code)


def _count_frames(path: str) -> int:
    cap = _open(path)
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


class _Collected:
    """The sampled and dense frames of one pass, kept as they come (the same rules whichever decoder feeds
    them): the first frame fixes the downscale, sampled frames go straight into one preallocated array, a
    dense-only frame is resized before its colour conversion."""

    def __init__(self, n_wanted, wanted, dense_start, dense_stop, max_side, dense_max_side):
        self.n_wanted, self.wanted = n_wanted, wanted
        self.dense_start, self.dense_stop = dense_start, dense_stop
        self.max_side, self.dense_max_side = max_side, dense_max_side
        self.reset()

    def reset(self) -> None:
        self.sparse, self.got_idx, self.dense_frames = [], [], []
        self.slab = None
        self.dense_scale = self.scale = 1.0
        self.src_shape = None
        self.n_out = 0  # frames the decoder gave (PyAV path: fewer than the file holds where it skipped)

    def needs(self, i: int) -> bool:
        return i in self.wanted or self.dense_start <= i < self.dense_stop

    def add(self, i: int, frame: np.ndarray, *, rgb: bool) -> None:
        """Keep frame ``i`` (BGR from OpenCV, or RGB when ``rgb``)."""
        max_side = self.max_side
        fh, fw = frame.shape[:2]
        if self.src_shape is None:  # the first frame fixes the scale, so the frames of a video share one size
            self.src_shape = (fh, fw)
            self.scale = min(1.0, max_side / max(fh, fw)) if max_side else 1.0
        s = self.scale if (fh, fw) == self.src_shape else (min(1.0, max_side / max(fh, fw)) if max_side else 1.0)
        wanted = i in self.wanted
        if not wanted and s == 1.0:  # a dense-only frame: resize, then convert the small copy
            self.dense_scale = min(1.0, self.dense_max_side / max(fh, fw))
            self.dense_frames.append(_to_rgb(frame, self.dense_scale, rgb=rgb))
            return
        if self.slab is None:  # the sampled frames go straight into one array (no list to stack)
            shape = (round(fh * s), round(fw * s), 3) if s != 1.0 else (fh, fw, 3)
            self.slab = np.empty((self.n_wanted,) + shape, np.uint8)
        slot = self.slab[len(self.sparse)] if wanted and len(self.sparse) < len(self.slab) else None
        out = _to_rgb(frame, s, out=slot, rgb=rgb)
        if wanted:
            self.sparse.append(out)
            self.got_idx.append(i)
        if self.dense_start <= i < self.dense_stop:
            h, w = out.shape[:2]
            self.dense_scale = min(1.0, self.dense_max_side / max(h, w))
            small = out if self.dense_scale == 1.0 else cv2.resize(
                out, (max(1, round(w * self.dense_scale)), max(1, round(h * self.dense_scale))),
                interpolation=cv2.INTER_AREA)
            self.dense_frames.append(small)


#: decode through PyAV where it gives OpenCV's frames (``DFF_DECODE=opencv`` turns it off, for comparisons)
_PYAV_DECODE = os.environ.get("DFF_DECODE", "pyav").strip().lower() != "opencv"
#: codecs and pixel formats whose PyAV RGB frames were checked bit-identical to OpenCV's on every clip of
#: ../shared/data, the golden clips and the bench clips (tests/test_video_decode.py checks them on each run)
_PYAV_CODECS = ("h264", "hevc", "mpeg4", "vp9")
_PYAV_PIX_FMTS = ("yuv420p", "yuvj420p", "yuv444p")


def _ffmpeg_threads() -> int:
    """FFmpeg decoding threads, as OpenCV takes them (``OPENCV_FFMPEG_THREADS``; 0: FFmpeg's own choice)."""
    try:
        return max(0, int(os.environ.get("OPENCV_FFMPEG_THREADS", "0")))
    except ValueError:
        return 0


def _decode_pyav(path: str, st: _Collected, *, n_header: int, last_needed: int):
    """The pass of :func:`_read` through PyAV, decoding only what the kept frames need.

    A frame nothing refers to (a non-reference B-frame) is not decoded unless it is kept
    (``skip_frame=NONREF`` for its packet); reference frames are decoded and dropped. Frame numbers are
    display ranks of the packets' timestamps, which are OpenCV's frame numbers when every packet carries a
    distinct timestamp and as many packets exist as the container announces frames. ``(st, n_decoded,
    t_first, t_last)``, or None wherever that is not so (another codec or pixel format, missing, repeated or
    discarded timestamps, a damaged packet, any message of the decoder, a kept frame that does not come out, a
    size change): the caller then decodes with OpenCV from the start, so such files keep their old frames,
    warnings and status codes.
    """
    try:
        import av
    except ImportError:
        return None
    # FFmpeg's messages: its own C logger to file descriptor 2 while this pass runs (captured below; PyAV's
    # Python logger can deadlock against threaded decoding), PyAV's setting again afterwards
    level = av.logging.get_level()
    lines: list[str] = []
    try:
        with native_log(lines):
            av.logging.restore_default_callback()
            try:
                res = _pyav_pass(av, path, st, n_header=n_header, last_needed=last_needed)
            finally:
                av.logging.set_level(level)
    except Exception:  # noqa: BLE001 - anything PyAV cannot do, OpenCV does as before
        return None
    return None if lines else res  # a decoder message: OpenCV's pass reports it as it always did


def _pyav_pass(av, path: str, st: _Collected, *, n_header: int, last_needed: int):
    with av.open(path, "r") as cont:
        if len(cont.streams.video) != 1:
            return None
        vs = cont.streams.video[0]
        if vs.codec_context.name not in _PYAV_CODECS or vs.codec_context.pix_fmt not in _PYAV_PIX_FMTS:
            return None
        pts = []
        for pkt in cont.demux(vs):  # packets only, nothing decoded: timestamps give the display order
            if not pkt.size:
                continue
            if pkt.pts is None or pkt.is_corrupt or pkt.is_discard:
                return None
            pts.append(int(pkt.pts))
        time_base = float(vs.time_base) if vs.time_base else 0.0
    order = sorted(pts)
    rank = {p: k for k, p in enumerate(order)}
    if len(pts) != n_header or len(rank) != len(pts) or last_needed >= len(pts):
        return None
    needed = {k for k in range(last_needed + 1) if st.needs(k)}
    got, prev, size = set(), -1, None
    with av.open(path, "r") as cont:
        vs = cont.streams.video[0]
        cc = vs.codec_context
        cc.thread_count = _ffmpeg_threads()
        cc.thread_type = "AUTO"
        for pkt in cont.demux(vs):
            if pkt.size:
                k = rank.get(int(pkt.pts)) if pkt.pts is not None else None
                if k is None:
                    return None
                cc.skip_frame = "DEFAULT" if k in needed else "NONREF"
            for fr in cc.decode(pkt):  # the empty packet at the end flushes the decoder
                k = rank.get(fr.pts)
                if k is None or k <= prev:
                    return None
                prev = k
                st.n_out += 1
                if size is None:
                    size = (fr.width, fr.height)
                elif (fr.width, fr.height) != size:
                    return None
                if k in needed:
                    st.add(k, fr.to_ndarray(format="rgb24"), rgb=True)
                    got.add(k)
                if k >= last_needed:
                    break
            if prev >= last_needed:
                break
    if got != needed:
        return None
    return st, last_needed + 1, order[0] * time_base * 1000.0, order[last_needed] * time_base * 1000.0


def read_video(path: str, *, n_frames: int = 32, dense: int = 0, stride: int = 0, dense_max_side: int = 320,
               max_side: int = MAX_SIDE) -> DecodedVideo:
    """Decode ``path`` once, keeping ``n_frames`` sampled frames and an optional dense window.

    Parameters
    ----------
    path : str
    n_frames : int
        Frames in the sparse sample.
    dense : int
        Length of the window of consecutive frames; 0 for none.
    stride : int
        0: the sample is spread evenly over the whole video and the dense window centred in it; k > 0:
        every k-th frame of a block a few seconds in, the dense window inside it (:func:`sampling_plan`).
    dense_max_side : int
        Dense frames are downscaled so that their larger side is at most this.
    max_side : int
        Sparse frames whose larger side exceeds this are downscaled to it as they are decoded (the file's own
        size stays in ``info["source_width"]``/``["source_height"]``, the factor in ``info["decode_scale"]``,
        and the warnings say so); 0 keeps full resolution.

    Raises
    ------
    VideoError
        with one of :data:`VIDEO_ERRORS` as ``code`` (see the module docstring).
    """
    size = check_file(path)
    log: list[str] = []
    err = video = None
    with native_log(log):
        try:
            video = _read(path, size, n_frames=n_frames, dense=dense, stride=stride,
                          dense_max_side=dense_max_side, max_side=max_side)
        except VideoError as e:
            err = e
    if isinstance(err, _Unopenable):
        with native_log([]):  # PyAV's probe may print too
            err = _why_unopenable(path, log)
    elif err is not None:
        if log and err.code in ("no_frames", "too_short"):
            err = VideoError(err.code, f"{err}; decoder: {'; '.join(log)}")
    if err is not None:
        raise err
    if log:
        video.warnings.append("decoder: " + "; ".join(log))
    return video


class _Unopenable(VideoError):
    """OpenCV cannot open the file; :func:`_why_unopenable` finds out why once FFmpeg's lines are read."""

    def __init__(self):
        super().__init__("unreadable", "OpenCV/FFmpeg cannot open this file as a video")


def _read(path: str, size: int, *, n_frames: int, dense: int, stride: int, dense_max_side: int, max_side: int,
          n_known: int | None = None) -> DecodedVideo:
    cap = _open(path)
    if not cap.isOpened():
        cap.release()
        raise _Unopenable()
    fps_raw = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    fps_ok = bool(np.isfinite(fps_raw) and FPS_RANGE[0] <= fps_raw < 1000)
    fps = fps_raw if fps_ok else 25.0
    n_header = n_known or int(max(0, min(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0, 2 ** 31)))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ") if fourcc else ""
    rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0)
    w0, h0 = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    warnings: list[str] = []
    if w0 and h0 and min(w0, h0) < MIN_SIDE:
        cap.release()
        raise VideoError("too_small", f"frames are {w0}x{h0} px: too small to hold a face (a face needs at least "
                                      f"{MIN_SIDE} px on each side of the frame)")
    if w0 * h0 > MAX_PIXELS:
        cap.release()
        raise VideoError("too_large", f"frames are {w0}x{h0} px, more than the {MAX_PIXELS / 1e6:.0f} megapixels "
                                      "this tool decodes (8K at most)")
    if not fps_ok:
        warnings.append(f"the file gives a frame rate of {fps_raw:g} fps (not plausible); temporal features "
                        "assume 25 fps")
    counted = n_header <= 0
    if counted:
        cap.release()
        n_header = _count_frames(path)
        if n_header == 0:
            raise VideoError("no_frames", "the file opens but no frame decodes (corrupt or truncated)")
        warnings.append("frame count missing from the container; counted by decoding")
        cap = _open(path)
    if _OPEN_HOOK is not None:
        _OPEN_HOOK(n_header, w0, h0)

    wanted, dense_start = sampling_plan(n_header, n_frames, dense, stride=stride, fps=fps)
    dense = int(max(0, min(dense, n_header)))
    dense_stop = dense_start + dense
    last_needed = max(int(wanted[-1]) if wanted.size else -1, dense_stop - 1)

    wanted_set = set(int(i) for i in wanted)
    st = _Collected(len(wanted), wanted_set, dense_start, dense_stop, max_side, dense_max_side)
    fast = None
    if n_known is None and not counted and rotation == 0 and _PYAV_DECODE:
        fast = _decode_pyav(path, st, n_header=n_header, last_needed=last_needed)
    if fast is not None:
        st, n_decoded, t_first, t_last = fast
    else:
        st.reset()
        t_first = t_last = None
        i = 0
        while i <= last_needed:
            if not cap.grab():
                break
            t = cap.get(cv2.CAP_PROP_POS_MSEC)
            t_first = t if t_first is None else t_first
            t_last = t
            if i in wanted_set or dense_start <= i < dense_stop:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    st.add(i, frame, rgb=False)
            i += 1
        n_decoded = i
    cap.release()
    sparse, got_idx, dense_frames, slab = st.sparse, st.got_idx, st.dense_frames, st.slab
    dense_scale, scale, src_shape = st.dense_scale, st.scale, st.src_shape

    if sparse and n_decoded < MIN_FRAMES:
        raise VideoError("too_short", f"only {n_decoded} frame decodes"
                         + (f" of {n_header} announced" if n_header > n_decoded else "")
                         + f": a single picture, not a video (temporal features need at least {MIN_FRAMES} frames); "
                           "not scored")
    if not sparse:
        raise VideoError("no_frames", "no frame could be decoded (corrupt or truncated file)")
    if n_decoded <= last_needed:
        if n_known is None and len(sparse) < 0.75 * min(n_frames, n_decoded):
            # the container announced far more frames than it holds: sample again over the frames that exist
            video = _read(path, size, n_frames=n_frames, dense=dense, stride=stride, dense_max_side=dense_max_side,
                          max_side=max_side, n_known=n_decoded)
            video.warnings.insert(0, f"the container announces {n_header} frames but {n_decoded} decode; "
                                     f"sampled over those {n_decoded}")
            return video
        warnings.append(f"stream ended at frame {n_decoded} of {n_header} announced (truncated?); "
                        f"kept {len(sparse)} sampled frames")
    shapes = {f.shape for f in sparse}
    if len(shapes) > 1:  # resolution changes mid-stream: keep the most common size
        common = max(shapes, key=lambda s: sum(f.shape == s for f in sparse))
        keep = [k for k, f in enumerate(sparse) if f.shape == common]
        sparse = [sparse[k] for k in keep]
        got_idx = [got_idx[k] for k in keep]
        warnings.append("frame size changes within the video; kept frames of the most common size")
    n = len(sparse)
    if slab is not None and all(np.may_share_memory(f, slab[k]) for k, f in enumerate(sparse)):
        frames = slab[:n]  # every kept frame sits in its own slot (not so after dropping frames of another size)
    else:
        frames = np.stack(sparse)
    if len(frames) >= MIN_FRAMES and all(np.array_equal(frames[0], f) for f in frames[1:]):
        raise VideoError("still_image", f"all {len(frames)} sampled frames are identical: a still picture shown as "
                                        "a video (nothing moves); not scored")
    h, w = frames.shape[1:3]
    sh, sw = src_shape or (h, w)
    if scale < 1.0:
        warnings.append(f"frames downscaled from {sw}x{sh} to {w}x{h} px for decoding (at most {max_side} px a side)")
    if t_first is not None and t_last is not None and n_decoded > 2 and t_last > t_first:
        ts_fps = (n_decoded - 1) / ((t_last - t_first) / 1000.0)
        if not FPS_RANGE[0] <= ts_fps <= 1000 and fps_ok:
            warnings.append(f"frame timestamps give a frame rate of {ts_fps:.3g} fps against {fps:g} fps announced; "
                            f"temporal features assume {fps:g} fps")
    n_total = max(n_decoded, n_header) if n_decoded > last_needed else n_decoded
    info = {
        "width": int(w),
        "height": int(h),
        "fps": fps,
        "n_frames": int(n_total),
        "codec": codec,
        "rotation": rotation,
        "file_bytes": int(size),
        # bits per pixel per frame, of the file as stored: a container-level compression estimate
        "bits_per_pixel": float(8.0 * size / max(1, sw * sh * max(n_total, 1))),
        "source_width": int(sw),
        "source_height": int(sh),
        "decode_scale": float(scale),
    }
    dense_arr = None
    if dense_frames and len({f.shape for f in dense_frames}) == 1:
        dense_arr = np.stack(dense_frames)
    return DecodedVideo(frames=frames, indices=np.asarray(got_idx, dtype=np.int64), fps=fps, n_total=int(n_total),
                        dense_frames=dense_arr, dense_start=dense_start, dense_scale=dense_scale,
                        info=info, warnings=warnings)
