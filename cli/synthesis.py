"""Command line of the synthesis package (``python -m synthesis ...``).

``python -m synthesis perturb IN OUT --kinds all --seed 0``
    Perturbed copies of every video under ``IN`` (recursive):
    ``OUT/<kind>/<relative path>.mp4``, H.264 (libx264) at CRF 18 unless the
    kind ends with its own H.264 step (then encoded once at that CRF), at the
    perturbed frame rate (``fps15`` really halves a 30-fps video's frames).
    A file that fails is reported and skipped; ``OUT/perturbations.csv`` lists
    every output with its status. Exit status 1 when anything failed.

``python -m synthesis donors DATA... -o BANK``
    A donor bank for face-swap-like training fakes: for every real video in
    the datasets (any layout ``train.py --data`` reads), face crops and
    landmarks of its main face track (:func:`synthesis.donors.make_donor_entry`),
    one ``.npz`` per video, with the identity group that keeps a donor off its
    own identity; ``BANK/donors.csv`` lists them.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import zlib

import numpy as np

from dataformats import list_videos, read_labels
from synthesis.codec import read_video_frames, write_video_frames
from synthesis.perturb import PERTURBATIONS, expand_kinds, perturb_frames, split_final_codec
from synthesis.variants import stable_seed

from .common import cli_errors


def _videos(root: str, exclude: str) -> list[str]:
    """Videos under ``root`` (or ``root`` itself), leaving out anything under ``exclude`` (the output)."""
    if os.path.isfile(root):
        return [root]
    ex = os.path.abspath(exclude) + os.sep
    return [v for v in list_videos(root) if not os.path.abspath(v).startswith(ex)]


def perturb_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synthesis perturb",
                                 description="Write perturbed copies of every video under IN to OUT/<kind>/.")
    ap.add_argument("input", metavar="IN", help="a folder (searched recursively) or one video")
    ap.add_argument("output", metavar="OUT")
    ap.add_argument("--kinds", nargs="+", default=["all"],
                    help="perturbations: names, a+b combinations, 'all' (every single kind), 'pairs'; "
                         f"names: {', '.join(PERTURBATIONS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crf", type=float, default=18, help="CRF of the output encode (kinds ending in h264_crfN use N)")
    ap.add_argument("--preset", default="veryfast", help="x264 preset of the output encode")
    ap.add_argument("--max-frames", type=int, default=None, help="decode at most this many frames per video")
    args = ap.parse_args(argv)
    try:
        kinds = expand_kinds(args.kinds)
    except ValueError as e:
        ap.error(str(e))
    videos = _videos(args.input, args.output)
    if not videos:
        print(f"no videos under {args.input}", file=sys.stderr)
        return 1
    os.makedirs(args.output, exist_ok=True)
    base = args.input if os.path.isdir(args.input) else os.path.dirname(args.input)
    rows, failed = [], 0
    for n, path in enumerate(videos, 1):
        rel = os.path.relpath(path, base)
        stem = os.path.splitext(rel)[0]
        seed = stable_seed(rel, args.seed)  # the relative path: same-named files in two folders differ
        t0 = time.perf_counter()
        try:
            frames, fps = read_video_frames(path, max_frames=args.max_frames)
        except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
            failed += 1
            msg = f"{type(e).__name__}: {e}"
            print(f"[{n}/{len(videos)}] {rel}: cannot decode ({msg}); skipped", file=sys.stderr)
            rows += [{"kind": k, "source": rel, "output": "", "status": "unreadable", "message": msg, "seed": seed}
                     for k in kinds]
            continue
        for kind in kinds:
            out = os.path.join(args.output, kind, stem + ".mp4")
            row = {"kind": kind, "source": rel, "output": os.path.relpath(out, args.output), "seed": seed,
                   "frames_in": len(frames), "fps_in": round(fps, 3)}
            try:
                rest, crf = split_final_codec(kind)
                pf, pfps = perturb_frames(frames, rest, seed=seed, fps=fps) if rest else (frames, fps)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                write_video_frames(out, pf, fps=pfps, crf=args.crf if crf is None else crf, preset=args.preset)
                row.update(status="ok", message="", frames_out=len(pf), fps_out=round(pfps, 3),
                           crf=args.crf if crf is None else crf)
            except Exception as e:  # noqa: BLE001
                failed += 1
                row.update(status="error", message=f"{type(e).__name__}: {e}")
                print(f"[{n}/{len(videos)}] {rel} {kind}: {row['message']}", file=sys.stderr)
            rows.append(row)
        print(f"[{n}/{len(videos)}] {rel}: {len(kinds)} kinds in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    cols = ["kind", "source", "output", "status", "message", "frames_in", "frames_out", "fps_in", "fps_out", "crf",
            "seed"]
    with open(os.path.join(args.output, "perturbations.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"wrote {ok} perturbed videos to {args.output}; {failed} failures", file=sys.stderr)
    return 1 if failed else 0


def donors_main(argv=None) -> int:
    from pipeline.faces import FaceDetector, link_tracks
    from pipeline.video import read_video
    from synthesis.donors import make_donor_entry, save_donor

    ap = argparse.ArgumentParser(prog="python -m synthesis donors",
                                 description="Face crops + landmarks of real videos, for swap training fakes.")
    ap.add_argument("data", nargs="+", metavar="DATA", help="datasets in any layout train.py reads")
    ap.add_argument("-o", "--output", required=True, metavar="BANK")
    ap.add_argument("--frames", type=int, default=32, help="frames sampled per video")
    ap.add_argument("--crops", type=int, default=12, help="crops kept per video")
    ap.add_argument("--size", type=int, default=256, help="crop side in pixels")
    ap.add_argument("--include-unlabelled", action="store_true", help="use videos without a label as real")
    args = ap.parse_args(argv)
    records = [r for d in args.data for r in read_labels(d)]
    records = [r for r in records if r.label == 0 or (r.label is None and args.include_unlabelled)]
    os.makedirs(args.output, exist_ok=True)
    det = FaceDetector()
    rows, failed = [], 0
    for n, r in enumerate(records, 1):
        name = f"{zlib.crc32(os.path.abspath(r.path).encode()):08x}_{os.path.splitext(os.path.basename(r.path))[0]}"
        row = {"file": name + ".npz", "source": r.path, "identity": r.group, "crops": 0}
        try:
            video = read_video(r.path, n_frames=args.frames)
            tracks = link_tracks([det.detect(f) for f in video.frames])
            if not tracks:
                raise ValueError("no face track")
            tr = tracks[0]
            pos = np.array([p for p, _ in tr])
            entry = make_donor_entry(video.frames[pos], np.stack([d.box for _, d in tr]),
                                     np.stack([d.landmarks for _, d in tr]), identity=r.group,
                                     source=os.path.basename(r.path), n=args.crops, size=args.size)
            if len(entry.crops) == 0:
                raise ValueError("no frame with landmarks")
            save_donor(os.path.join(args.output, name + ".npz"), entry)
            row.update(status="ok", crops=len(entry.crops))
        except Exception as e:  # noqa: BLE001
            failed += 1
            row.update(status="error", message=f"{type(e).__name__}: {e}")
            print(f"[{n}/{len(records)}] {r.path}: {row['message']}", file=sys.stderr)
        rows.append(row)
    with open(os.path.join(args.output, "donors.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, ["file", "source", "identity", "crops", "status", "message"])
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows) - failed} donor entries to {args.output}; {failed} failures", file=sys.stderr)
    return 1 if failed else 0


COMMANDS = {"perturb": perturb_main, "donors": donors_main}


@cli_errors("python -m synthesis")
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m synthesis {{{','.join(COMMANDS)}}} ...\n\n{__doc__}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
