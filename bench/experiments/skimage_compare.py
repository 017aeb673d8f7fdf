#!/usr/bin/env python
"""Would scikit-image's calls do what the project writes by hand? Values and cost on real face crops (issue 25).

    python bench/experiments/skimage_compare.py [--data ../shared/data/real] [--clips A.mp4,B.mp4] [--out FILE]

Needs ``pip install scikit-image``. For each candidate it measures, on face crops cut by
``features.track.build_track`` from real clips (256 px, and 128 px resized from them), the largest relative
difference between the project's value and the library's, and the median time of each (``timeit``, one thread):

``noise``   the ``quality`` / ``blending`` noise level, median |finest Haar HH| / 0.6745 over a zone
            (``forensics.blending``), against ``skimage.restoration.estimate_sigma`` (db2 wavelet, whole image);
``cooc``    ``forensics.prnu.cooccurrence`` (SRM: third-order, per region, symmetrised) against
            ``skimage.feature.graycomatrix`` (second-order pairs over a whole image) on the same quantised
            residual: the pair counts agree exactly, but the SRM triples per region are not what it computes;
``simil``   ``synthesis.donors.similarity_transform`` (OpenCV, least squares over the five landmarks) and its
            Umeyama fallback against ``skimage.transform.SimilarityTransform`` (Umeyama);
``warp``    the crop warp of ``features.track.build_track`` (``cv2.warpAffine``) against
            ``skimage.transform.warp`` (bilinear, edge mode) with the same affine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import timeit

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

os.environ.setdefault("OMP_NUM_THREADS", "1")


def best_ms(fn, number=20, repeat=5) -> float:
    return 1000 * float(np.median(timeit.repeat(fn, number=number, repeat=repeat))) / number


def face_tracks(paths, n_frames=8):
    """(frames, boxes, landmarks, track) of the first face track of each clip."""
    from features.track import build_track
    from pipeline.faces import FaceDetector, link_tracks
    from pipeline.video import read_video

    det = FaceDetector()
    out = []
    for p in paths:
        v = read_video(p, n_frames=n_frames)
        dets = det.detect_frames(v.frames)
        tracks = link_tracks(dets)
        if not tracks:
            continue
        tr = max(tracks, key=len)
        pos = np.array([i for i, _ in tr])
        boxes = np.stack([d.box for _, d in tr])
        lms = np.stack([d.landmarks for _, d in tr])
        frames = v.frames[pos]
        out.append((frames, boxes, lms, build_track(frames, boxes, landmarks=lms)))
    return out


def native_windows(tracks, size):
    """Luma windows of ``size`` px centred on the face at native resolution (no resampling), where they fit."""
    from forensics.color import luma

    out = []
    for frames, boxes, _, _ in tracks:
        for f, b in zip(frames, boxes):
            cx, cy = int((b[0] + b[2]) / 2), int((b[1] + b[3]) / 2)
            x0, y0 = cx - size // 2, cy - size // 2
            if x0 >= 0 and y0 >= 0 and x0 + size <= f.shape[1] and y0 + size <= f.shape[0]:
                out.append(np.asarray(luma(f[y0:y0 + size, x0:x0 + size].astype(np.float64)), np.float64))
    return out


def noise(crops, report):
    from skimage.restoration import estimate_sigma

    from forensics.blending import MAD_TO_SIGMA, finest_diagonal, zone_median

    def ours(g):
        hh = np.abs(finest_diagonal(g[None]))
        return float(zone_median(hh, np.ones((1, 1) + hh.shape[1:], np.float32))[0, 0] * MAD_TO_SIGMA)

    for size, gs in crops.items():
        if not gs:
            continue
        a = np.array([ours(g) for g in gs])
        b = np.array([estimate_sigma(g) for g in gs])
        haar = np.array([np.median(np.abs(finest_diagonal(g))) / 0.6744897501960817 for g in gs])
        nz = a > 1e-6  # 8-bit luma: a clean face can have median |HH| exactly 0 (ours 0, estimate_sigma drops zeros)
        rel = np.abs(b[nz] - a[nz]) / a[nz]
        report[f"noise_{size}"] = {
            "rel_diff_max": float(rel.max()), "rel_diff_p90": float(np.percentile(rel, 90)), "rel_diff_median": float(np.median(rel)),
            "abs_diff_median": float(np.median(np.abs(b - a))),
            "ours_median": float(np.median(a)), "skimage_median": float(np.median(b)),
            "ours_zero_share": float(np.mean(~nz)),
            "constant_only_rel_diff": float(np.max(np.abs(haar[nz] - a[nz]) / a[nz])),
            "ours_ms": best_ms(lambda: ours(gs[0])), "skimage_ms": best_ms(lambda: estimate_sigma(gs[0])),
            "n": len(gs)}


def cooc(tracks, report):
    from skimage.feature import graycomatrix

    from forensics.prnu import cooccurrence, srm_residuals

    tr = tracks[0][3]
    gray = np.asarray(tr.gray_crops(), np.float64)
    r = srm_residuals(gray)["first"][0][0]  # horizontal first-order residual, (T, h, w)
    labels = np.zeros(r.shape, np.int8)
    q = 1.0
    # the same quantisation as cooccurrence: thresholds at +-0.5 q
    qr = (1 + (r >= 0.5 * q).astype(np.int8) - (r <= -0.5 * q).astype(np.int8)).astype(np.uint8)
    pairs_ours = np.stack([np.bincount((qr[t, :, :-1].astype(int) * 3 + qr[t, :, 1:]).ravel(), minlength=9)
                           for t in range(len(qr))]).reshape(-1, 3, 3)
    pairs_sk = np.stack([graycomatrix(qr[t], [1], [0], levels=3)[:, :, 0, 0] for t in range(len(qr))])
    report["cooc"] = {
        "pair_counts_equal": bool(np.array_equal(pairs_ours, pairs_sk.transpose(0, 1, 2))),
        "srm_triples_ms (T frames, 1 call)": best_ms(lambda: cooccurrence(r, labels, n_labels=3, q=q), 5, 3),
        "graycomatrix_pairs_ms (T calls)": best_ms(lambda: [graycomatrix(qr[t], [1], [0], levels=3)
                                                            for t in range(len(qr))], 5, 3),
        "frames": int(len(qr)), "side": int(qr.shape[-1])}


def simil(tracks, report):
    from skimage.transform import SimilarityTransform

    from synthesis.donors import similarity_transform

    def umeyama(src, dst):  # the fallback of similarity_transform, as written there
        ms, md = src.mean(axis=0), dst.mean(axis=0)
        a, b = src - ms, dst - md
        u, sv, vt = np.linalg.svd(b.T @ a / len(src))
        d = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
        rot = u @ d @ vt
        s = float((sv * np.diag(d)).sum() / (a * a).sum(axis=1).mean())
        return np.hstack([s * rot, (md - s * rot @ ms)[:, None]])

    def sk(src, dst):
        return SimilarityTransform.from_estimate(src, dst).params[:2] if hasattr(SimilarityTransform, "from_estimate") \
            else _sk_estimate(src, dst)

    def _sk_estimate(src, dst):
        t = SimilarityTransform()
        t.estimate(src, dst)
        return t.params[:2]

    lms = [lm.astype(np.float64) for _, _, ls, _ in tracks for lm in ls]
    pairs = [(lms[i], lms[(i + 7) % len(lms)]) for i in range(len(lms))]  # another face (or frame) as donor
    d_cv, d_um, scale = [], [], []
    for src, dst in pairs:
        m_sk = sk(src, dst)
        scale.append(np.abs(m_sk).max())
        d_cv.append(np.abs(similarity_transform(src, dst) - m_sk).max())
        d_um.append(np.abs(umeyama(src, dst) - m_sk).max())
    src, dst = pairs[0]
    report["similarity"] = {
        "opencv_vs_skimage_abs_max": float(np.max(d_cv)), "umeyama_fallback_vs_skimage_abs_max": float(np.max(d_um)),
        "matrix_entry_abs_max": float(np.max(scale)), "n_pairs": len(pairs),
        "opencv_ms": best_ms(lambda: similarity_transform(src, dst), 50), "umeyama_ms": best_ms(lambda: umeyama(src, dst), 50),
        "skimage_ms": best_ms(lambda: sk(src, dst), 50)}


def warp(tracks, report):
    import cv2
    from skimage.transform import AffineTransform
    from skimage.transform import warp as sk_warp

    from features.track import CROP_MARGIN, CROP_SIZE, crop_geometry

    frames, boxes, _, tr = max(tracks, key=lambda t: t[0].shape[1] * t[0].shape[2])
    cx, cy, side = crop_geometry(boxes[0], CROP_MARGIN)
    s = CROP_SIZE / side
    m = np.array([[s, 0, -s * (cx - side / 2)], [0, s, -s * (cy - side / 2)]], np.float64)
    f = frames[0]
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    ours = cv2.warpAffine(f, m, (CROP_SIZE, CROP_SIZE), flags=interp, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    inv = AffineTransform(matrix=np.vstack([m, [0, 0, 1]])).inverse
    theirs = sk_warp(f, inv, output_shape=(CROP_SIZE, CROP_SIZE), order=1, mode="edge", preserve_range=True)
    report["warp"] = {
        "scale": float(s), "frame": list(f.shape), "abs_diff_max": float(np.abs(theirs - ours).max()),
        "abs_diff_mean": float(np.abs(theirs - ours).mean()),
        "opencv_ms": best_ms(lambda: cv2.warpAffine(f, m, (CROP_SIZE, CROP_SIZE), flags=interp,
                                                    borderMode=cv2.BORDER_REPLICATE), 20),
        "skimage_ms": best_ms(lambda: sk_warp(f, inv, output_shape=(CROP_SIZE, CROP_SIZE), order=1, mode="edge",
                                              preserve_range=True), 5)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "real"))
    ap.add_argument("--clips", default="KwaiVGI__LivePortrait/s18.mp4,ai-forever__ghost/nggyup.mp4,"
                    "bytedance__LatentSync/demo1_video.mp4,timesler__facenet-pytorch/video.mp4,"
                    "OpenTalker__video-retalking/2.mp4,ai-forever__ghost/dirtydancing.mp4",
                    help="clips under --data (comma-separated): large frames, so faces fit 256-px native windows")
    ap.add_argument("--out", default=os.path.join(HERE, "skimage_compare.json"))
    args = ap.parse_args(argv)
    import cv2
    import skimage

    cv2.setNumThreads(1)
    paths = [os.path.join(args.data, c) for c in args.clips.split(",")]
    tracks = face_tracks(paths)
    report = {"skimage": skimage.__version__, "clips": [os.path.relpath(p, args.data) for p in paths]}
    crops = {size: native_windows(tracks, size) for size in (128, 256)}
    # the 256-px crops of build_track are resampled: an enlarged face leaves most Haar HH coefficients at
    # exactly 0, where the two estimators differ by construction (estimate_sigma drops the zeros)
    crops["256_resampled_crop"] = [np.asarray(g, np.float64) for _, _, _, tr in tracks for g in tr.gray_crops()]
    report["crops"] = {str(k): len(v) for k, v in crops.items()}
    noise(crops, report)
    cooc(tracks, report)
    simil(tracks, report)
    warp(tracks, report)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
