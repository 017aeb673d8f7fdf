"""From a video file to one feature row per face track.

One decode, one detection pass, then every selected calculator on every
track. Training variants (self-blended fakes, re-encoded copies) are made
from the same decode, so a synthetic fake is always compared with its own
original. Every failure becomes a per-file status; nothing here raises for a
bad file.

Statuses (every row of ``predict.py`` carries one; the README's table gives the messages)
--------
``ok``            features computed
``partial``       scored, but some calculators failed on the scored face (message names their families)
``not_found``     path does not exist
``not_a_file``    a folder, a device or a symbolic-link loop, not a video file
``empty_file``    zero-byte file
``unreadable``    not a video, or no decoder for it
``no_video``      a container with no video stream (e.g. audio only)
``still_image``   a picture (JPEG, PNG...) or a video whose sampled frames are all identical
``too_small``     frames too small to hold a face
``too_large``     frames too large to decode within the memory limit
``too_short``     fewer frames than the analysis needs
``no_frames``     opens but no frame decodes (corrupt or truncated)
``no_face``       frames decode but no face track was found, upright or turned
``feature_error`` every calculator failed (message says why)
``timeout``       the video ran past its deadline and its worker was stopped
``out_of_memory`` its worker went over the memory limit
``crashed``       its worker died (a crash in a native decoder)
``error``         anything unexpected (message holds the exception)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from features.aggregate import compute_values, video_row
from features.registry import Calculator
from features.track import DenseWindow, FaceTrack, build_track
from forensics.backend import array_module, to_device

from synthesis.variants import needs_donor, variant_frames, video_seed

from .audio import read_audio_window
from .faces import FaceDetector, box_iou, key_every, link_tracks
from .video import DecodedVideo, VideoError, read_video

__all__ = ["VideoResult", "TrackResult", "extract_video", "face_detector", "detect_tracks", "STATUSES", "SCORED",
           "CalculatorFailure"]

STATUSES = ("ok", "partial", "not_found", "not_a_file", "empty_file", "unreadable", "no_video", "still_image",
            "too_small", "too_large", "too_short", "no_frames", "no_face", "feature_error", "timeout",
            "out_of_memory", "crashed", "error")
#: statuses whose rows carry a score
SCORED = ("ok", "partial")


class CalculatorFailure(RuntimeError):
    """A calculator failed and the caller asked for ``strict`` extraction."""


#: stride (frames) of the extra detections inside the dense window
DENSE_DETECT_STRIDE = 16

_DETECTOR: FaceDetector | None = None


def face_detector() -> FaceDetector:
    """The process's one MTCNN detector (loaded on first use)."""
    global _DETECTOR  # one per process: the orchestration runs one process per worker
    if _DETECTOR is None:
        _DETECTOR = FaceDetector()
    return _DETECTOR


@dataclass
class TrackResult:
    """Features of one face track; ``track`` is kept only when asked (for explanations).

    ``features`` is the track's row (:func:`features.aggregate.video_row`); ``values`` the calculators'
    raw per-frame values, from which segment rows are made.
    """

    features: dict
    n_frames: int
    errors: dict = field(default_factory=dict)
    track: FaceTrack | None = None
    values: dict = field(default_factory=dict)


@dataclass
class VideoResult:
    path: str
    variant: str = "orig"
    status: str = "ok"
    message: str = ""
    n_frames: int = 0
    n_faces: int = 0
    tracks: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def _interp_boxes(knots_idx: np.ndarray, knots_box: np.ndarray, at: np.ndarray) -> np.ndarray:
    order = np.argsort(knots_idx)
    ki, kb = knots_idx[order], knots_box[order]
    return np.stack([np.interp(at, ki, kb[:, j]) for j in range(4)], axis=1).astype(np.float32)


def _dense_window(video: DecodedVideo, track_knots: tuple[np.ndarray, np.ndarray],
                  dense_dets: dict[int, list]) -> DenseWindow | None:
    """The dense frames with this track's box interpolated through sparse and dense detections."""
    if video.dense_frames is None or len(video.dense_frames) < 2:
        return None
    m = len(video.dense_frames)
    s = video.dense_scale
    idx, boxes = track_knots
    idx, boxes = list(idx), [b * s for b in boxes]
    at = video.dense_start + np.arange(m)
    guess = _interp_boxes(np.asarray(idx, float), np.asarray(boxes), at.astype(float))
    for k, dets in dense_dets.items():  # snap to dense detections that overlap the guess
        best = max(dets, key=lambda d: box_iou(d.box, guess[k]), default=None)
        if best is not None and box_iou(best.box, guess[k]) > 0.3:
            idx.append(video.dense_start + k)
            boxes.append(best.box)
    box_arr = _interp_boxes(np.asarray(idx, float), np.asarray(boxes), at.astype(float))
    return DenseWindow(frames=video.dense_frames, boxes=box_arr, fps=video.fps,
                       start_index=video.dense_start, scale=s)


def detect_tracks(video: DecodedVideo, det: FaceDetector, *, stride: int = 0):
    """Detections per sampled frame, face tracks, their (frame index, box) knots, and dense-window detections;
    ``stride`` is the sample's (:func:`pipeline.video.sampling_plan`), which sets the key-frame interval."""
    detections = det.detect_frames(video.frames, key_every=key_every(stride))
    tracks = link_tracks(detections)
    knots = [(video.indices[[p for p, _ in tr]], np.stack([d.box for _, d in tr])) for tr in tracks]
    dense_dets = {}
    if video.dense_frames is not None and tracks:
        # searched near where the tracks are expected (the whole frame when that is most of it)
        at = (video.dense_start + np.arange(len(video.dense_frames))).astype(float)
        guesses = [_interp_boxes(idx.astype(float), boxes * video.dense_scale, at) for idx, boxes in knots]
        for k in range(0, len(video.dense_frames), DENSE_DETECT_STRIDE):
            dense_dets[k] = det.detect_tracked(video.dense_frames[k], [], [g[k] for g in guesses])
    return detections, tracks, knots, dense_dets


#: quarter turns tried when no face is found upright (90 degrees either way first, then upside down)
ROTATIONS = (1, 3, 2)
#: sampled frames probed per rotation
ROTATION_PROBES = 6


def _find_rotation(video: DecodedVideo, det: FaceDetector) -> int:
    """Quarter turns (``np.rot90``) under which faces appear in a few sampled frames; 0 when none does."""
    probe = video.frames[np.unique(np.linspace(0, len(video.frames) - 1, ROTATION_PROBES).round().astype(int))]
    for k in ROTATIONS:
        if sum(bool(det.detect(np.ascontiguousarray(np.rot90(f, k)))) for f in probe) >= 2:
            return k
    return 0


def _rotated(video: DecodedVideo, k: int) -> DecodedVideo:
    """``video`` with its sampled and dense frames turned by ``k`` quarter turns."""
    import dataclasses

    def turn(a):
        return None if a is None else np.ascontiguousarray(np.rot90(a, k, axes=(1, 2)))

    info = dict(video.info, rotation_applied=90 * k)
    if k % 2:
        info["width"], info["height"] = video.info.get("height"), video.info.get("width")
    return dataclasses.replace(video, frames=turn(video.frames), dense_frames=turn(video.dense_frames), info=info,
                               warnings=list(video.warnings))


def _faces(video: DecodedVideo, det: FaceDetector, *, stride: int):
    """``(video, detect_tracks(...))``, turning the frames when no face is found upright (a sideways or
    upside-down video whose rotation metadata is missing); the video comes back turned if that found one."""
    found = detect_tracks(video, det, stride=stride)
    turned = 0 if found[1] else _find_rotation(video, det)
    if turned:
        video = _rotated(video, turned)
        found = detect_tracks(video, det, stride=stride)
        if found[1]:
            video.warnings.append(f"no face upright; found after turning the frames {90 * turned} degrees "
                                  "(rotation metadata missing?)")
    return video, found


def _donor(track, donors, identity: str, seed: int):
    """The donor entry for this video's swap variants (None when the bank has no other identity)."""
    from synthesis.donors import choose_donor, load_donor

    if not donors:
        return None
    i = choose_donor(np.stack([d.landmarks for _, d in track]), [load_donor(p, with_crops=False) for p in donors],
                     identity=identity, rng=np.random.default_rng(seed))
    return load_donor(donors[i]) if i >= 0 else None


def extract_video(
    path: str,
    *,
    calculators: list[Calculator],
    n_frames: int = 32,
    dense: int = 64,
    stride: int = 0,
    device: str = "cpu",
    variants: tuple[str, ...] = ("orig",),
    seed: int = 0,
    keep_tracks: bool = False,
    donors: tuple[str, ...] = (),
    identity: str = "",
    strict: bool = False,
) -> list[VideoResult]:
    """Features of every face track of ``path``, one :class:`VideoResult` per variant.

    ``n_frames`` are sampled with ``stride`` (:func:`pipeline.video.sampling_plan`); ``dense`` frames are
    decoded only when a selected calculator needs them. Training variants
    (:mod:`synthesis.variants`) are made from the same decode; ``swap`` variants blend in a donor face
    from the bank files ``donors`` (:mod:`synthesis.donors`), never one of this video's ``identity`` group.
    With ``strict``, the first calculator failure raises :class:`CalculatorFailure` instead of costing only
    its own features (status ``partial``).
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    needs_dense = any(c.needs_dense for c in calculators)
    try:
        video = read_video(path, n_frames=n_frames, dense=dense if needs_dense else 0, stride=stride)
    except VideoError as e:
        return [VideoResult(path, v, e.code, str(e)) for v in variants]
    except Exception as e:  # noqa: BLE001 - never let one file stop a batch
        return [VideoResult(path, v, "error", f"decode: {type(e).__name__}: {e}") for v in variants]
    timings["decode"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    try:
        det = face_detector()
        video, (detections, tracks, knots, dense_dets) = _faces(video, det, stride=stride)
        if not tracks and stride and (n_frames - 1) * stride + 1 <= video.n_total:
            # no face in the block (a late entrance, a long intro): sample the whole video as a spread sample does
            t1 = time.perf_counter()
            try:
                whole = read_video(path, n_frames=n_frames, dense=dense if needs_dense else 0)
            except Exception:  # noqa: BLE001 - the block's own result stands
                whole = None
            timings["decode"] += time.perf_counter() - t1
            if whole is not None:
                whole, found = _faces(whole, det, stride=0)
                if found[1]:
                    a, b = video.indices[0], video.indices[-1]
                    video, (detections, tracks, knots, dense_dets) = whole, found
                    video.warnings.append(f"no face in the sampled block (frames {a}-{b}); sampled over the whole "
                                          "video instead")
    except Exception as e:  # noqa: BLE001
        return [VideoResult(path, v, "error", f"face detection: {type(e).__name__}: {e}", len(video.frames))
                for v in variants]
    timings["detect"] = time.perf_counter() - t0
    n_faces = sum(len(d) for d in detections)
    base_msg = "; ".join(video.warnings)
    if not tracks:
        return [VideoResult(path, v, "no_face", ("no face found in any sampled frame, upright or turned"
                                                 if n_faces == 0 else
                                                 f"{n_faces} scattered detections but no stable face track")
                            + (f"; {base_msg}" if base_msg else ""), len(video.frames), n_faces, info=video.info,
                            timings=timings) for v in variants]

    windows = [_dense_window(video, k, dense_dets) for k in knots]
    if any(c.needs_audio for c in calculators) and any(w is not None for w in windows):
        t0 = time.perf_counter()
        fps = video.fps or 25.0
        audio = read_audio_window(path, video.dense_start / fps, len(video.dense_frames) / fps)
        windows = [None if w is None else replace(w, audio=audio) for w in windows]
        timings["audio"] = time.perf_counter() - t0
    results = []
    vseed = video_seed(path, seed)
    donor = _donor(tracks[0], donors, identity, vseed) if any(needs_donor(v) for v in variants) else None
    for variant in variants:
        timings_v = dict(timings)
        try:
            t0 = time.perf_counter()
            primary = tracks[0]
            frames, dense_frames = variant_frames(
                video.frames, video.dense_frames, variant, positions=np.array([p for p, _ in primary]),
                boxes=np.stack([d.box for _, d in primary]), landmarks=np.stack([d.landmarks for _, d in primary]),
                dense_boxes=windows[0].boxes if windows[0] else None, seed=vseed, donor=donor, fps=video.fps)
            if variant != "orig":
                timings_v["variant"] = time.perf_counter() - t0
            dense_dev = None if dense_frames is None else to_device(dense_frames, device)  # once per variant
            out_tracks, errors_all = [], {}
            for tr, win in zip(tracks, windows):
                t0 = time.perf_counter()
                pos = np.array([p for p, _ in tr])
                if win is not None and dense_dev is not None:
                    win = replace(win, frames=dense_dev)
                # a track through every sampled frame takes them as they are: no copy of 32 full frames
                whole = len(pos) == len(frames) and bool((pos == np.arange(len(frames))).all())
                ft = build_track(frames if whole else frames[pos], np.stack([d.box for _, d in tr]),
                                 landmarks=np.stack([d.landmarks for _, d in tr]),
                                 frame_index=video.indices[pos], fps=video.fps, xp=array_module(device), dense=win,
                                 video_info=video.info)
                timings_v["crops"] = timings_v.get("crops", 0.0) + time.perf_counter() - t0
                values, errors = compute_values(ft, calculators, timings=timings_v)
                if strict and errors:
                    key, err = next(iter(errors.items()))
                    raise CalculatorFailure(f"{key} failed on {path} ({variant}): {err}")
                out_tracks.append(TrackResult(video_row(values), len(tr), errors, ft if keep_tracks else None,
                                              values))
                errors_all.update(errors)
            status, msg = "ok", base_msg
            failed = out_tracks[0].errors
            if len(failed) == len(calculators):  # nothing at all computed for the main face
                status = "feature_error"
            elif failed:
                status = "partial"
                fams = sorted({k.split(".")[0] for k in failed})
                msg = "; ".join(filter(None, [f"failed families: {', '.join(fams)}", msg]))
            if errors_all:
                msg = "; ".join(filter(None, [msg] + [f"{k}: {v}" for k, v in sorted(errors_all.items())]))
            results.append(VideoResult(path, variant, status, msg, len(video.frames), n_faces, out_tracks,
                                       video.info, timings_v))
        except CalculatorFailure:
            raise
        except Exception as e:  # noqa: BLE001
            results.append(VideoResult(path, variant, "error", f"{variant}: {type(e).__name__}: {e}",
                                       len(video.frames), n_faces, info=video.info, timings=timings))
    return results
