import numpy as np

from pipeline.faces import Detection, FaceDetector, link_tracks


def test_carphone_face_found_in_95_percent_of_frames(carphone_frames):
    det = FaceDetector()
    found = [len(det.detect(f)) > 0 for f in carphone_frames]
    assert np.mean(found) >= 0.95, np.mean(found)


def test_detection_on_upscaled_frame_maps_back_to_full_resolution(carphone_frames):
    import cv2

    det = FaceDetector(max_side=176)
    small = det.detect(carphone_frames[0])[0].box
    big_frame = cv2.resize(carphone_frames[0], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big = det.detect(big_frame)[0].box  # detected on a 4x downscaled copy
    np.testing.assert_allclose(big / 4, small, atol=6)


def test_noise_has_no_face():
    rng = np.random.default_rng(0)
    assert FaceDetector().detect(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)) == []


def _det(x, y, s=50):
    return Detection(np.array([x, y, x + s, y + s], np.float32), 0.99, np.zeros((5, 2), np.float32))


def test_two_people_make_two_tracks_and_spurious_hits_are_dropped():
    frames = []
    for t in range(10):
        dets = [_det(10 + 2 * t, 20), _det(200 - 2 * t, 30)]
        if t == 4:
            dets.append(_det(120, 150, 20))  # a one-off false positive
        frames.append(dets)
    tracks = link_tracks(frames)
    assert len(tracks) == 2
    for tr in tracks:
        xs = [d.box[0] for _, d in tr]
        assert len(tr) == 10 and np.all(np.abs(np.diff(xs)) == 2)  # each track follows one person


def _canvas(frames, offsets, size=(720, 1280)):
    """Carphone frames (2x) pasted on a larger noisy canvas at per-frame offsets: a small face in a big frame."""
    import cv2

    rng = np.random.default_rng(1)
    out = []
    for f, (x, y) in zip(frames, offsets):
        c = rng.integers(90, 110, size + (3,), dtype=np.uint8)
        big = cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        c[y:y + big.shape[0], x:x + big.shape[1]] = big
        out.append(c)
    return np.stack(out)


def test_detection_on_fewer_frames_keeps_every_face_and_runs_fewer_full_detections(carphone_frames):
    from pipeline import faces
    from pipeline.faces import box_iou

    # a drifting face, and one jump further than its search window (frame 13): found again by a full detection
    offsets = [(100 + 12 * k, 80 + 5 * k) for k in range(24)]
    offsets[13] = (800, 300)
    frames = _canvas(carphone_frames[::5][:24], offsets)
    det = FaceDetector()
    full = [det.detect(f) for f in frames]
    calls = []
    plain = det.detect
    det.detect = lambda f, **kw: calls.append(kw) or plain(f, **kw)
    reduced = det.detect_frames(frames)
    det.detect = plain
    keys = set(range(0, len(frames), faces.KEY_EVERY)) | {len(frames) - 1}
    assert sum(not kw for kw in calls) < len(frames) / 2  # full detections: the key frames and the jump
    for k, (a, b) in enumerate(zip(full, reduced)):
        assert len(a) == len(b) == 1, k
        if k in keys:  # key frames: exactly the full detection
            np.testing.assert_array_equal(a[0].box, b[0].box)
        assert box_iou(a[0].box, b[0].box) > 0.8, k
        side = a[0].box[2] - a[0].box[0]
        assert np.abs(a[0].landmarks - b[0].landmarks).max() < 0.1 * side, k


def test_small_frames_always_get_the_full_detection(carphone_frames):
    frames = carphone_frames[::4][:12]
    det = FaceDetector()
    full = [det.detect(f) for f in frames]
    reduced = det.detect_frames(frames)
    for a, b in zip(full, reduced):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.box, y.box)
            np.testing.assert_array_equal(x.landmarks, y.landmarks)
