"""quality family: planted compression, blur and upscaling are measured where they are."""
import cv2
import numpy as np

from features.quality import quality, upscale
from features.track import build_track


def _frames(seed=0, t=4, h=240, w=320):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 1.2)
    frames = []
    for _ in range(t):
        f = np.clip(base + rng.normal(0, 4, (h, w)), 0, 255).astype(np.uint8)
        frames.append(np.repeat(f[..., None], 3, -1))
    return np.stack(frames), np.tile([110.0, 60.0, 210.0, 180.0], (t, 1))


def _jpeg(frames, q):
    out = []
    for f in frames:
        ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, q])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    return np.stack(out)


def test_jpeg_blocking_raises_blockiness():
    frames, boxes = _frames()
    clean = quality(build_track(frames, boxes))["blockiness"]
    blocky = quality(build_track(_jpeg(frames, 15), boxes))["blockiness"]
    assert np.all(blocky > clean + 0.1), (clean, blocky)


def test_blur_lowers_sharpness_and_noise():
    frames, boxes = _frames()
    sharp = quality(build_track(frames, boxes))
    blurred = quality(build_track(np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in frames]), boxes))
    assert np.all(blurred["sharpness"] < sharp["sharpness"] - 0.5)
    assert np.all(blurred["noise"] < sharp["noise"])


def test_upscale_is_log2_of_crop_enlargement():
    frames, boxes = _frames()
    small = upscale(build_track(frames, boxes / 2))["upscale"]  # half the face side: one more octave
    big = upscale(build_track(frames, boxes))["upscale"]
    np.testing.assert_allclose(small - big, 1.0, atol=0.05)


def test_float32_brightness_offset_does_not_change_blockiness_much():
    frames, boxes = _frames()
    a = quality(build_track(frames, boxes))["blockiness"]
    b = quality(build_track(np.clip(frames.astype(int) + 10, 0, 255).astype(np.uint8), boxes))["blockiness"]
    np.testing.assert_allclose(a, b, atol=0.02)
