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
