"""Decoding through PyAV (only the frames the kept ones need) gives exactly OpenCV's frames and facts.

``pipeline.video`` decodes eligible files with PyAV and skips non-reference frames that are not kept; every
other file, and every file where PyAV disagrees in any way, goes through OpenCV as before. These tests hold
the two paths to bit-identical output and the fallback to the old path.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import pipeline.video as video
from tests.conftest import moving_texture, write_video

av = pytest.importorskip("av")


def _h264(path: str, frames: np.ndarray, *, fps: int = 30, bframes: int = 3, pix_fmt: str = "yuv420p",
          rotate: int = 0) -> str:
    """libx264 with B-frames (and B-pyramid: some B-frames are references, some are not)."""
    with av.open(path, "w") as out:
        st = out.add_stream("libx264", rate=Fraction(fps))
        st.width, st.height, st.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        # mbtree off: libx264's macroblock-tree reads uninitialised memory at widths of an odd number of
        # macroblocks (176 px; synthesis/codec.py), so the bytes, and a damaged copy's errors, would vary by run
        st.options = {"crf": "23", "preset": "veryfast", "bf": str(bframes), "g": "48", "mbtree": "0"}
        if rotate:
            st.metadata["rotate"] = str(rotate)
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


def _read(path: str, *, pyav: bool, monkeypatch, **kw):
    """read_video with the PyAV path on or off; (result or VideoError code, whether PyAV gave the frames)."""
    used = []
    real = video._decode_pyav

    def spy(*a, **k):
        r = real(*a, **k)
        used.append(r is not None)
        return r

    monkeypatch.setattr(video, "_PYAV_DECODE", pyav)
    monkeypatch.setattr(video, "_decode_pyav", spy)
    try:
        out = video.read_video(path, **kw)
    except video.VideoError as e:
        out = (e.code, str(e))
    return out, bool(used and used[0])


def _same(a, b, *, decoder_text: bool = True) -> None:
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.indices, b.indices)
    assert (a.dense_frames is None) == (b.dense_frames is None)
    if a.dense_frames is not None:
        assert np.array_equal(a.dense_frames, b.dense_frames)
    assert (a.dense_start, a.dense_scale, a.fps, a.n_total) == (b.dense_start, b.dense_scale, b.fps, b.n_total)
    assert a.info == b.info
    if decoder_text:
        assert a.warnings == b.warnings
    else:  # PyAV and OpenCV bundle different FFmpeg builds, which may word the same corruption differently
        def split(w):
            return [x for x in w if not x.startswith("decoder:")], [x.split(";")[0] for x in w if x.startswith("decoder:")]

        assert split(a.warnings) == split(b.warnings)


@pytest.fixture(scope="module")
def scene():
    return moving_texture(t=90, h=120, w=176, seed=3)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
@pytest.mark.parametrize("n_frames,dense", [(32, 64), (8, 0), (32, 16), (120, 8)])
def test_pyav_path_is_bit_identical_to_opencv(tmp_path, monkeypatch, scene, pix_fmt, n_frames, dense):
    path = _h264(str(tmp_path / f"b_{pix_fmt}.mp4"), scene, pix_fmt=pix_fmt)
    new, used = _read(path, pyav=True, monkeypatch=monkeypatch, n_frames=n_frames, dense=dense)
    old, _ = _read(path, pyav=False, monkeypatch=monkeypatch, n_frames=n_frames, dense=dense)
    assert used, "the H.264 clip should be decoded through PyAV"
    _same(new, old)


def test_downscaled_frames_identical(tmp_path, monkeypatch, scene):
    """Frames over max_side are downscaled as before (INTER_AREA on RGB equals it on BGR, channel by channel)."""
    path = _h264(str(tmp_path / "b.mp4"), scene)
    new, used = _read(path, pyav=True, monkeypatch=monkeypatch, n_frames=16, dense=32, max_side=100,
                      dense_max_side=64)
    old, _ = _read(path, pyav=False, monkeypatch=monkeypatch, n_frames=16, dense=32, max_side=100, dense_max_side=64)
    assert used
    _same(new, old)
    assert new.info["decode_scale"] < 1


def test_mpeg4_part2_identical(tmp_path, monkeypatch, scene):
    """The golden clips' codec (OpenCV's mp4v writer)."""
    path = write_video(str(tmp_path / "m.mp4"), scene, fps=25)
    new, used = _read(path, pyav=True, monkeypatch=monkeypatch, n_frames=32, dense=64)
    old, _ = _read(path, pyav=False, monkeypatch=monkeypatch, n_frames=32, dense=64)
    assert used
    _same(new, old)


def test_same_frames_whatever_the_thread_count(tmp_path, monkeypatch, scene):
    path = _h264(str(tmp_path / "b.mp4"), scene)
    runs = []
    for n in ("1", "2", "0"):
        monkeypatch.setenv("OPENCV_FFMPEG_THREADS", n)
        runs.append(_read(path, pyav=True, monkeypatch=monkeypatch, n_frames=32, dense=64))
    assert all(u for _, u in runs)
    for r, _ in runs[1:]:
        _same(r, runs[0][0])


def test_rotated_file_goes_through_opencv(tmp_path, monkeypatch, scene):
    """OpenCV turns frames by the rotation metadata; PyAV does not, so a file announcing a rotation keeps the
    old path (the metadata is faked: this FFmpeg's muxer writes none through PyAV)."""
    path = _h264(str(tmp_path / "r.mp4"), scene)
    real_open = video._open

    class Rotated:
        def __init__(self, cap):
            self.cap = cap

        def get(self, prop):
            return 90.0 if prop == video.cv2.CAP_PROP_ORIENTATION_META else self.cap.get(prop)

        def __getattr__(self, k):
            return getattr(self.cap, k)

    monkeypatch.setattr(video, "_open", lambda p: Rotated(real_open(p)))
    new, used = _read(path, pyav=True, monkeypatch=monkeypatch, n_frames=16, dense=16)
    assert not used
    assert new.info["rotation"] == 90


def test_damaged_file_falls_back_with_the_same_outcome(tmp_path, monkeypatch, scene):
    """Bytes flipped inside the stream: PyAV refuses or disagrees, OpenCV decodes as before (same frames,
    warnings or status code)."""
    path = _h264(str(tmp_path / "b.mp4"), scene)
    data = bytearray(open(path, "rb").read())
    for off in range(len(data) // 3, len(data) // 3 + 4000, 37):
        data[off] ^= 0xFF
    bad = str(tmp_path / "bad.mp4")
    with open(bad, "wb") as f:
        f.write(data)
    new, _ = _read(bad, pyav=True, monkeypatch=monkeypatch, n_frames=32, dense=64)
    old, _ = _read(bad, pyav=False, monkeypatch=monkeypatch, n_frames=32, dense=64)
    if isinstance(old, tuple):
        assert new == old
    else:
        _same(new, old, decoder_text=False)


def test_truncated_file_falls_back(tmp_path, monkeypatch, scene):
    """Cut in the middle (a header announcing more frames than the file holds): the old path's outcome."""
    path = _h264(str(tmp_path / "b.mkv"), scene)
    data = open(path, "rb").read()
    cut = str(tmp_path / "cut.mkv")
    with open(cut, "wb") as f:
        f.write(data[: len(data) * 2 // 3])
    new, _ = _read(cut, pyav=True, monkeypatch=monkeypatch, n_frames=32, dense=64)
    old, _ = _read(cut, pyav=False, monkeypatch=monkeypatch, n_frames=32, dense=64)
    if isinstance(old, tuple):
        assert new == old
    else:
        _same(new, old)


def test_skipping_decodes_fewer_frames(tmp_path, monkeypatch, scene):
    """The point of the PyAV path: with B-frames, frames neither kept nor referenced are not decoded."""
    path = _h264(str(tmp_path / "b.mp4"), scene)
    out = []
    real = video._decode_pyav
    monkeypatch.setattr(video, "_decode_pyav", lambda *a, **k: out.append(real(*a, **k)) or out[-1])
    res = video.read_video(path, n_frames=8, dense=8)
    assert out and out[0] is not None
    assert 16 <= out[0][0].n_out < len(scene)
    old, _ = _read(path, pyav=False, monkeypatch=monkeypatch, n_frames=8, dense=8)
    _same(res, old)
