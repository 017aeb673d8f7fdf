import numpy as np
import pytest

from pipeline.video import STRIDE_LEAD_S, VideoError, read_video, sample_indices, sampling_plan

from .conftest import decode_all, write_video


@pytest.mark.parametrize("total,n", [(120, 32), (10, 32), (100, 1), (1000, 7), (33, 32)])
def test_sample_indices_spread_and_bounds(total, n):
    idx = sample_indices(total, n)
    assert len(idx) == min(total, n)
    assert idx[0] == 0 and (n == 1 or idx[-1] == total - 1)
    assert np.all(np.diff(idx) > 0)
    if n < total and n > 1:  # evenly spread: gaps differ by at most one frame
        gaps = np.diff(idx)
        assert gaps.max() - gaps.min() <= 1


@pytest.mark.parametrize("total,n,dense", [(300, 32, 64), (120, 32, 64), (1000, 7, 0), (40, 32, 64)])
def test_sampling_plan_without_stride_is_the_even_spread(total, n, dense):
    idx, dense_start = sampling_plan(total, n, dense, stride=0, fps=30.0)
    np.testing.assert_array_equal(idx, sample_indices(total, n))
    assert dense_start == max(0, total // 2 - min(dense, total) // 2)


@pytest.mark.parametrize("total,fps", [(300, 30.0), (1800, 30.0), (18000, 25.0), (200, 60.0), (126, 30.0)])
def test_strided_plan_is_one_block_a_few_seconds_in(total, fps):
    n, stride, dense = 32, 4, 64
    idx, dense_start = sampling_plan(total, n, dense, stride=stride, fps=fps)
    block = (n - 1) * stride + 1
    assert len(idx) == n and np.all(np.diff(idx) == stride)
    assert idx[0] >= 0 and idx[-1] < total
    assert idx[0] <= round(STRIDE_LEAD_S * fps)  # past the lead at most: decoding stops soon after
    assert idx[0] == min((total - block) // 2, round(STRIDE_LEAD_S * fps))
    # the dense window lies inside the block, so the decode ends with the block whatever the video's length
    assert idx[0] <= dense_start and dense_start + dense - 1 <= idx[-1]
    assert max(idx[-1], dense_start + dense - 1) < round(STRIDE_LEAD_S * fps) + block


def test_strided_plan_falls_back_to_the_spread_when_the_block_does_not_fit():
    for total in (40, 124):
        idx, dense_start = sampling_plan(total, 32, 64, stride=4, fps=30.0)
        np.testing.assert_array_equal(idx, sample_indices(total, 32))
        assert dense_start == max(0, total // 2 - min(64, total) // 2)


def test_read_video_with_stride_keeps_the_planned_frames(carphone_path, carphone_frames):
    v = read_video(carphone_path, n_frames=16, dense=24, stride=3, dense_max_side=10_000)
    want, dense_start = sampling_plan(len(carphone_frames), 16, 24, stride=3, fps=v.fps)
    assert np.all(np.diff(want) == 3) and want[0] > 0  # a block, not the spread
    np.testing.assert_array_equal(v.indices, want)
    np.testing.assert_array_equal(v.frames, carphone_frames[want])
    assert v.dense_start == dense_start
    np.testing.assert_array_equal(v.dense_frames, carphone_frames[dense_start:dense_start + 24])


def test_read_video_returns_exactly_requested_frames(carphone_path, carphone_frames):
    v = read_video(carphone_path, n_frames=32)
    want = sample_indices(len(carphone_frames), 32)
    np.testing.assert_array_equal(v.indices, want)
    # the frames are the sequential decode's frames at those indices, bit for bit
    np.testing.assert_array_equal(v.frames, carphone_frames[want])
    assert v.n_total == len(carphone_frames)


def test_dense_window_is_consecutive_and_from_same_pass(carphone_path, carphone_frames):
    v = read_video(carphone_path, n_frames=8, dense=40, dense_max_side=10_000)
    assert v.dense_frames.shape[0] == 40
    start = v.dense_start
    np.testing.assert_array_equal(v.dense_frames, carphone_frames[start:start + 40])


def test_dense_window_downscaled(carphone_path):
    v = read_video(carphone_path, n_frames=4, dense=16, dense_max_side=88)
    assert max(v.dense_frames.shape[1:3]) == 88
    assert v.dense_scale == pytest.approx(0.5)


def test_odd_resolution_and_gray_content(tmp_path):
    rng = np.random.default_rng(0)
    g = rng.integers(0, 255, (20, 143, 175), dtype=np.uint8)
    p = write_video(str(tmp_path / "odd.avi"), np.repeat(g[..., None], 3, -1), fourcc="MJPG")
    v = read_video(p, n_frames=5)
    seq = decode_all(p)
    assert v.frames.shape == (5,) + seq.shape[1:]  # whatever size the codec kept, odd or even


@pytest.mark.parametrize("content,code", [(b"", "empty_file"), (b"this is not a video" * 100, "unreadable")])
def test_bad_files_raise_coded_errors(tmp_path, content, code):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(VideoError) as e:
        read_video(str(p))
    assert e.value.code in (code, "no_frames", "unreadable")
    if code == "empty_file":
        assert e.value.code == "empty_file"


def test_missing_file(tmp_path):
    with pytest.raises(VideoError) as e:
        read_video(str(tmp_path / "nope.mp4"))
    assert e.value.code == "not_found"


class _SizeChangingCapture:
    """A stand-in for cv2.VideoCapture: 40 frames whose size changes at frame 10 for 4 frames, each frame
    filled with its own index (so a frame in the wrong place is visible)."""

    def __init__(self):
        self.i = -1

    def isOpened(self):
        return True

    def get(self, prop):
        import cv2

        return {cv2.CAP_PROP_FPS: 25.0, cv2.CAP_PROP_FRAME_COUNT: 40, cv2.CAP_PROP_FRAME_WIDTH: 64,
                cv2.CAP_PROP_FRAME_HEIGHT: 48, cv2.CAP_PROP_POS_MSEC: 40.0 * self.i}.get(prop, 0)

    def grab(self):
        self.i += 1
        return self.i < 40

    def retrieve(self):
        h, w = (60, 80) if 10 <= self.i < 14 else (48, 64)
        return True, np.full((h, w, 3), self.i, np.uint8)

    def release(self):
        pass


def test_frames_of_another_size_are_dropped_and_the_rest_kept_in_order(monkeypatch, tmp_path):
    import pipeline.video as video

    path = tmp_path / "changes.mp4"
    path.write_bytes(b"\x00" * 64)  # a file to open; its frames come from the stand-in capture
    monkeypatch.setattr(video, "_open", lambda p: _SizeChangingCapture())
    v = read_video(str(path), n_frames=20)
    assert "frame size changes" in " ".join(v.warnings)
    assert v.frames.shape[1:] == (48, 64, 3) and len(v.frames) == len(v.indices) < 20
    assert not any(10 <= i < 14 for i in v.indices)
    assert [int(f[0, 0, 0]) for f in v.frames] == [int(i) for i in v.indices]  # each frame is its own
