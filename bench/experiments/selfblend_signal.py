#!/usr/bin/env python
"""Which part of a self-blend's difference from its original survives each perturbation? (pixels, no model)

    python bench/experiments/selfblend_signal.py [--data ../shared/data/real] [--clips 30] [--frames 6] [--kinds all]

For each of ``--clips`` real clips (evenly spread over the folder's sorted list), ``--frames`` sampled frames,
the shipped model's ``selfblend`` variant and its original are made from the same decode, and each
geometry-keeping perturbation of :mod:`synthesis.perturb` is applied to both alike (the training variants
``orig+perturb:K`` and ``selfblend+perturb:K``: the same draw). The planted signal is ``D = fake - original``
(float RGB) inside the blend's support (mask > 0.01, grown by a tenth of the face). It is split into two
bands with a Gaussian of sigma 2 % of the face width: the **low band** (colour and brightness steps, the
blend's plateau) and the **texture band** (the rest: seam, sharpening, resampling, noise). Reported per kind,
as medians over clips:

``low kept`` / ``texture kept``   the share of the planted pattern still there: the projection of the band
                                  of ``D_K = fake_K - orig_K`` on the same band of ``D`` (1 = intact, 0 =
                                  erased; a contrast change scales it, codec errors that differ between the
                                  two copies do not count);
``texture SNR``                   the kept texture pattern's energy (``kept² |D_tex|²``) over the energy of
                                  what the perturbation adds to the original's texture band in the same
                                  region (``orig_K - orig``): how loud the kept cue is against the change.
                                  The clean row gives ``|D_tex|²`` over the original face's own texture
                                  energy instead.

This is about the fakes, not about any model: a pattern projected away is gone for every detector, and one
that is kept but drowned (low SNR) can only be found by pooling far more pixels than a seam offers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from dataformats import read_labels  # noqa: E402
from pipeline.batch import parallel_map  # noqa: E402
from synthesis.perturb import PERTURBATIONS, expand_kinds  # noqa: E402


def band_split(d: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``(low, texture)`` of float frames ``d`` (T, H, W, C): a spatial Gaussian of ``sigma`` px and the rest."""
    import cv2

    low = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in d])
    return low, d - low


def clip_measures(job) -> dict | None:
    """The per-kind band energies of one clip (``None`` when it has no face track)."""
    import cv2

    from pipeline.extract import detect_tracks, face_detector
    from pipeline.video import read_video
    from synthesis.perturb import perturb_frames
    from synthesis.variants import draw_augmentation, variant_frames, video_seed

    path, kinds, n_frames = job
    video = read_video(path, n_frames=n_frames)
    _, tracks, _, _ = detect_tracks(video, face_detector())
    if not tracks:
        return None
    tr = tracks[0]
    pos = np.array([p for p, _ in tr])
    boxes = np.stack([d.box for _, d in tr])
    marks = np.stack([d.landmarks for _, d in tr])
    vseed = video_seed(path, 0)
    fake = variant_frames(video.frames, None, "selfblend", return_masks=True, positions=pos, boxes=boxes,
                          landmarks=marks, dense_boxes=None, seed=vseed, fps=video.fps)
    face_w = float(np.median(boxes[:, 2] - boxes[:, 0]))
    grow = max(1, int(round(0.1 * face_w)))
    support = np.stack([cv2.dilate((m > 0.01).astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0
                        for m in fake.masks])[pos]
    sigma = max(1.0, 0.02 * face_w)

    def bands(frames):
        return band_split(frames[pos].astype(np.float32), sigma)

    def dot(a, b):
        return float((a * b)[support].sum())

    o_low, o_tex = bands(video.frames)
    f_low, f_tex = bands(fake.frames)
    d_low, d_tex = f_low - o_low, f_tex - o_tex
    e_low, e_tex = dot(d_low, d_low), dot(d_tex, d_tex)
    out = {"path": path, "face_px": face_w, "tex_share": e_tex / (e_tex + e_low),
           "clean": {"low": 1.0, "tex": 1.0, "snr": e_tex / dot(o_tex, o_tex)}}
    for k in kinds:
        # the draw of the training variants orig+perturb:K and selfblend+perturb:K, applied to the fake made once
        p = draw_augmentation(f"perturb:{k}", vseed)
        ok_low, ok_tex = bands(perturb_frames(video.frames, p["kind"], seed=p["seed"], fps=video.fps)[0])
        fk_low, fk_tex = bands(perturb_frames(fake.frames, p["kind"], seed=p["seed"], fps=video.fps)[0])
        # the share of the planted pattern that is still there: projection of the new difference on the old
        beta_low = dot(fk_low - ok_low, d_low) / e_low
        beta_tex = dot(fk_tex - ok_tex, d_tex) / e_tex
        own = dot(ok_tex - o_tex, ok_tex - o_tex)  # what the perturbation itself adds to the original's texture
        # a change that never reaches the blend's region (a corner logo) has no SNR: None, left out of the median
        snr = beta_tex ** 2 * e_tex / own if own > 1e-6 * e_tex else None
        out[k] = {"low": beta_low, "tex": beta_tex, "snr": snr}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "real"))
    ap.add_argument("--clips", type=int, default=30)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--kinds", default="all")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "selfblend_signal.json"))
    args = ap.parse_args(argv)
    t0 = time.time()
    kinds = [k for k in expand_kinds(args.kinds.split(",")) if "+" not in k and PERTURBATIONS[k].keeps_geometry]
    paths = sorted(r.path for r in read_labels(args.data) if r.label == 0)
    paths = [paths[i] for i in np.linspace(0, len(paths) - 1, min(args.clips, len(paths))).round().astype(int)]
    clips = [c for c in parallel_map(clip_measures, [(p, kinds, args.frames) for p in paths], args.workers) if c]
    rows = []
    for k in ["clean"] + kinds:
        snr = [c[k]["snr"] for c in clips if c[k]["snr"] is not None]
        rows.append({"kind": k, "n": len(clips), "low_kept": float(np.median([c[k]["low"] for c in clips])),
                     "texture_kept": float(np.median([c[k]["tex"] for c in clips])),
                     "texture_snr": float(np.median(snr)) if snr else None, "n_snr": len(snr)})
    out = {"data": args.data, "clips": len(clips), "frames": args.frames,
           "face_px_median": float(np.median([c["face_px"] for c in clips])),
           "texture_share_clean": float(np.median([c["tex_share"] for c in clips])), "rows": rows}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(clips)} clips, face {out['face_px_median']:.0f} px (median); texture band holds "
          f"{out['texture_share_clean']:.0%} of the clean difference's energy")
    print("| perturbation | low band kept | texture band kept | texture SNR |\n|---|---|---|---|")
    for r in rows:
        snr = "does not reach the face" if r["texture_snr"] is None else f"{r['texture_snr']:.3g} (n={r['n_snr']})"
        print(f"| {r['kind']} | {r['low_kept']:.2f} | {r['texture_kept']:.2f} | {snr} |")
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
