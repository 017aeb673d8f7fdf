"""``predict.py``: score videos, one CSV row per video, written as each finishes.

Exit codes: 0 every input scored (``ok`` or ``partial``); 1 some inputs not scored; 2 none scored, or a
usage/setup error (nothing done); 3 the output exists (use --force or --resume); 4 --strict stopped at a
calculator failure; 130 interrupted (Ctrl-C). See the README, "Bad input, exit codes and resuming".
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

import numpy as np

from modeling.card import training_hashes
from modeling.detector import DetectorModel
from modeling.reliability import RELIABILITY_CALCULATORS, reliability
from pipeline.batch import DEFAULT_MAX_MEMORY_MB, DEFAULT_TIMEOUT, DaskCluster, default_workers, supervised_map
from pipeline.cache import file_hash
from pipeline.extract import SCORED, CalculatorFailure, extract_video
from pipeline.video import native_log
from reporting.outputs import (PRED_COLUMNS, UNSCORED, FeatureWriter, NotAPredictionsFile, PredictionWriter,
                               keep_feature_rows, read_prediction_rows, replace_file)

from .common import (EXIT_EXISTS, EXIT_NONE, EXIT_OK, EXIT_SOME, EXIT_STRICT, Progress, UsageError,
                     calculators_by_key, cli_errors, collect_inputs, interrupt_code, interrupt_word)

__all__ = ["predict_one", "main", "RETRY_STATUSES", "ORCHESTRATION_STATUSES"]

_MODEL_CACHE: dict = {}
#: statuses the orchestration gives (pipeline.batch.supervised_map): the video's worker was stopped or died
ORCHESTRATION_STATUSES = ("timeout", "out_of_memory", "crashed")
#: statuses a --resume run tries again (the failure may not recur); every other row with an unchanged file stays
RETRY_STATUSES = ("error", "timeout", "out_of_memory", "crashed")


#: problem lines printed on stderr before the rest go to the CSV only (-v prints all)
MAX_PROBLEM_LINES = 50


def _model(model_dir: str | None) -> tuple[DetectorModel, list]:
    if model_dir not in _MODEL_CACHE:  # one load per worker process
        model = DetectorModel.load(model_dir)
        keys = list(model.card["calculators"])
        keys += [k for k in RELIABILITY_CALCULATORS if k not in keys]  # the reliability column needs these
        _MODEL_CACHE[model_dir] = (model, calculators_by_key(keys))
    return _MODEL_CACHE[model_dir]


def _top_features(names, contrib, k=3) -> str:
    order = np.argsort(-contrib)
    return ";".join(f"{names[i]}={contrib[i]:+.2f}" for i in order[:k] if contrib[i] > 0)


def _filename(path: str) -> str:
    """The CSV's ``filename``: the base name, never empty (``videos/`` gives ``videos``)."""
    return os.path.basename(os.path.normpath(path)) or path or "(empty path)"


def _content_hash(path: str) -> str:
    try:
        return file_hash(path) if os.path.isfile(path) else ""
    except OSError:
        return ""


def _join(*parts) -> str:
    return "; ".join(p for p in parts if p)


def predict_one(path: str, cfg: dict) -> tuple[dict, dict | None]:
    """Score one video (runs inside a worker). Returns (CSV row, feature row of the scored track or None).

    With ``cfg["strict"]`` a calculator failure gives a row with ``_strict`` set (the batch stops).
    """
    t0 = time.perf_counter()
    model, calcs = _model(cfg["model"])
    row = {"filename": _filename(path), "path": path, "label": UNSCORED, "status": "error", "message": "",
           "n_frames": 0, "n_faces": 0, "n_tracks": 0, "raw_score": "", "track": "", "top_fake_features": "",
           "content_hash": ""}
    feats = None
    native: list[str] = []
    try:
        explain = cfg.get("explain")
        with native_log(native):  # what OpenCV/FFmpeg/ONNX print goes into the message, not over the output
            results = extract_video(path, calculators=calcs, n_frames=cfg["frames"], dense=cfg["dense"],
                                    stride=cfg.get("stride", 0), device=cfg["device"], keep_tracks=bool(explain),
                                    strict=cfg.get("strict", False))
        r = results[0]
        row.update(status=r.status, message=r.message, n_frames=r.n_frames, n_faces=r.n_faces, n_tracks=len(r.tracks))
        if r.status in SCORED:
            scores = [model.score_track(t.values, t.features) for t in r.tracks]
            best = int(np.argmax([sc.prob for sc in scores]))  # two people: the most suspicious face decides
            sc = scores[best]
            row.update(label=sc.prob, raw_score=sc.raw, track=best,
                       top_fake_features=_top_features(model.feature_names, sc.contrib))
            feats = dict(zip(model.feature_names, sc.values.tolist()))
            rel = reliability(r.tracks[best].features)  # the track's video row holds the quality measurements
            row.update(reliability=rel.score, reliability_note=rel.reason)
            if explain:
                try:
                    from reporting.explain import write_explanation

                    write_explanation(explain, cfg.get("names", {}).get(path, os.path.basename(path)),
                                      model=model, features=feats, score=sc, track=r.tracks[best].track)
                except Exception as e:  # noqa: BLE001 - an explanation failure never costs the score
                    row["message"] = _join(row["message"], f"explain: {type(e).__name__}: {e}")
    except CalculatorFailure as e:
        row.update(status="error", message=f"stopped by --strict: {e}", _strict=True)
    except Exception as e:  # noqa: BLE001
        row.update(status="error", message=f"{type(e).__name__}: {e}")
    if native:
        row["message"] = _join(row["message"], "native: " + "; ".join(native))
    if row["status"] not in ("not_found", "not_a_file"):
        row["content_hash"] = _content_hash(path)
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row, feats


def _predict_item(item):
    return predict_one(*item)


def _failure_row(path: str, status: str, message: str, seconds: float) -> dict:
    return {"filename": _filename(path), "path": path, "label": UNSCORED, "status": status, "message": message,
            "n_frames": 0, "n_faces": 0, "n_tracks": 0, "raw_score": "", "track": "", "top_fake_features": "",
            "seconds": round(seconds, 3), "content_hash": _content_hash(path)}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="predict.py", description="Score videos: P(fake) per video, as CSV.",
        epilog="exit codes: 0 all inputs scored; 1 some not scored; 2 none scored, or a usage error; "
               "3 output exists (use --force or --resume); 4 stopped by --strict; 130 interrupted. "
               "A file whose name starts with '-' needs '--' before it, or a path such as ./-name.mp4.")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="video files, folders (recursive) or .txt lists")
    ap.add_argument("-o", "--output", default="predictions.csv", help="CSV to write (default predictions.csv)")
    ap.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    ap.add_argument("--resume", action="store_true",
                    help="continue an existing output: videos already in it (same path and content hash) are not "
                         "done again, except rows with status error/timeout/out_of_memory/crashed")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    ap.add_argument("--features-out", default=None, help="also write each video's feature row to this CSV")
    ap.add_argument("--frames", type=int, default=None, help="frames sampled per video (default: the model's)")
    ap.add_argument("--dense", type=int, default=None, help="dense-window length for temporal features")
    ap.add_argument("--workers", type=int, default=None, help="parallel worker processes (default: all cores)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--explain", default=None, metavar="DIR", help="write a per-video explanation to DIR")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                    help="stop a video after this many seconds, plus an allowance for long videos (status timeout; "
                         "default %(default)g; 0 = none, and with --workers 1 the videos then run in this process)")
    ap.add_argument("--max-memory", type=float, default=DEFAULT_MAX_MEMORY_MB, metavar="MB",
                    help="stop a worker that needs more memory than this (status out_of_memory; default "
                         "%(default)g; 0 = no limit)")
    ap.add_argument("--strict", action="store_true",
                    help="stop at the first feature calculator that fails (default: score with the others, status "
                         "partial)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on a Dask cluster: tcp://HOST:PORT of its scheduler, or 'local' for a LocalCluster "
                         "of --workers processes (needs the [cluster] extra)")
    ap.add_argument("-v", "--verbose", action="store_true", help="a line per video (default: only the problems)")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return ap


def _plan_resume(output: str, videos: list[str]) -> tuple[list[dict], list[str]]:
    """(rows of ``output`` to keep, videos still to do) for ``--resume``."""
    try:
        old = read_prediction_rows(output)
    except NotAPredictionsFile as e:
        raise UsageError(str(e)) from None
    by_path: dict[str, dict] = {}
    for r in old:
        by_path[os.path.abspath(r["path"])] = r  # the last row of a path wins
    wanted = {os.path.abspath(v) for v in videos}
    keep, todo = [], []
    for v in videos:
        r = by_path.get(os.path.abspath(v))
        if r is not None and r.get("status") not in RETRY_STATUSES and r.get("content_hash", "") \
                and r.get("content_hash") == _content_hash(v):
            keep.append(r)
        else:
            todo.append(v)
    # rows of videos not asked for this time stay in the file untouched
    keep += [r for p, r in by_path.items() if p not in wanted]
    return keep, todo


def _rewrite(output: str, rows: list[dict]) -> None:
    """Replace ``output`` atomically with ``rows`` (the kept part of a resumed output)."""
    def write(fh):
        w = PredictionWriter(fh)
        for r in rows:
            w.write({k: r.get(k, "") for k in PRED_COLUMNS})

    replace_file(output, write)


def _summary(statuses: Counter) -> tuple[str, int, int]:
    scored = sum(statuses[s] for s in SCORED)
    unscored = sum(statuses.values()) - scored
    parts = [f"{scored} scored" + (f" ({statuses['partial']} partial: some feature families failed)"
                                   if statuses["partial"] else "")]
    if unscored:
        parts.append(f"{unscored} not scored (" + ", ".join(f"{k} {v}" for k, v in statuses.most_common()
                                                          if k not in SCORED) + ")")
    return ", ".join(parts), scored, unscored


@cli_errors("predict.py")
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from forensics.backend import resolve_device

    out_path = args.output
    if os.path.isdir(out_path):
        raise UsageError(f"the output {out_path} is a folder; give a file name such as {out_path}/predictions.csv")
    if args.force and args.resume:
        raise UsageError("--force and --resume contradict each other: --force starts afresh, --resume continues")
    exists = os.path.exists(out_path) and os.path.getsize(out_path) > 0
    for p in filter(None, (out_path, args.features_out)):
        if os.path.exists(p) and os.path.getsize(p) > 0 and not (args.force or args.resume):
            print(f"predict.py: {p} exists; use --force to overwrite it or --resume to continue it", file=sys.stderr)
            return EXIT_EXISTS
    if args.frames is not None and args.frames < 1 or args.dense is not None and args.dense < 0:
        raise UsageError("--frames must be at least 1 and --dense at least 0")

    # the card and every integrity check, without LightGBM: the workers load the booster themselves
    card, _, unverified = DetectorModel.read_checked(args.model)
    lacking = [k for k in ("calculators", "frames") if k not in card]
    if lacking:
        raise UsageError(f"{args.model}: the model card lacks {', '.join(lacking)}, which scoring videos needs "
                         "(a card written by train.py has them)")
    calculators_by_key(card["calculators"])  # a model this installation cannot run stops here, once
    if unverified:
        DetectorModel.load(args.model)  # no hash vouches for model.txt: parse it here, so a damaged one stops here
        print("predict.py: warning: this model's card records no hash of model.txt (saved by an older version), "
              "so its integrity cannot be checked; save it again with this version to add one", file=sys.stderr)
    videos = collect_inputs(args.paths)
    if not videos:
        raise UsageError("no videos found in " + ", ".join(args.paths) + " (extensions looked for: "
                         ".mp4 .avi .mov .mkv .webm .m4v .mpg .mpeg .wmv .flv)")
    device = resolve_device(args.device)
    cfg = {"model": args.model, "frames": args.frames or card["frames"],
           "dense": args.dense if args.dense is not None else card.get("dense", 64),
           "stride": card.get("stride", 0),  # cards before strided sampling spread their frames
           "device": device, "explain": args.explain, "strict": args.strict}
    if args.explain:
        os.makedirs(args.explain, exist_ok=True)
        # unique page names: FF++ reuses file names across methods
        common = os.path.commonpath([os.path.abspath(v) for v in videos]) if len(videos) > 1 else ""
        cfg["names"] = {v: (os.path.relpath(os.path.abspath(v), common) if common else os.path.basename(v))
                        for v in videos}

    dask = None
    if args.scheduler:  # connect before the output is touched: an unreachable cluster leaves it as it was
        dask = DaskCluster(args.scheduler, workers=min(len(videos), args.workers) if args.workers else 0)
    keep: list[dict] = []
    todo = videos
    try:
        if args.resume and exists:
            keep, todo = _plan_resume(out_path, videos)
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        if args.resume and exists:
            _rewrite(out_path, keep)
        if args.resume and args.features_out:  # the feature rows follow the kept predictions
            keep_feature_rows(args.features_out, [r["path"] for r in keep])
    except BaseException:
        if dask is not None:
            dask.close()
        raise
    trained_on = training_hashes(card)
    statuses = Counter(r["status"] for r in keep)
    in_training = sum(r.get("in_training") == "yes" for r in keep)

    workers = 1 if device == "cuda" else min(default_workers(args.workers), max(1, len(todo)))
    where = f"on Dask ({args.scheduler})" if args.scheduler else f"with {workers} worker(s) on {device}"
    print(f"scoring {len(todo)} video(s) {where}; frames={cfg['frames']}"
          + (f"; {len(keep)} already in {out_path} (--resume)" if keep else ""), file=sys.stderr)
    feat_writer = FeatureWriter(args.features_out, card["features"], append=args.resume) \
        if args.features_out else None
    items = [(v, cfg) for v in todo]
    if dask is not None:
        outcomes = dask.map(_predict_item, items)
    else:
        outcomes = supervised_map(_predict_item, items, workers, timeout=args.timeout or None,
                                  max_memory_mb=args.max_memory or None)
    written = len(keep)
    total = len(keep) + len(todo)
    progress = Progress(total, "scoring", initial=len(keep))
    stopped = None
    problems = 0
    try:
        with open(out_path, "a" if (args.resume and exists) else "w", newline="", encoding="utf-8") as out:
            writer = PredictionWriter(out, header=not (args.resume and exists))
            for oc in outcomes:
                path = todo[oc.index]
                if oc.status == "done":
                    row, feats = oc.value
                else:
                    row, feats = _failure_row(path, oc.status, oc.message, oc.seconds), None
                if row.get("content_hash") and row["content_hash"] in trained_on:
                    row["in_training"] = "yes"
                    in_training += 1
                writer.write(row)
                written += 1
                statuses[row["status"]] += 1
                if feat_writer and feats is not None:
                    feat_writer.write(row["path"], feats)
                progress.update()
                problems += row["status"] != "ok"
                if args.verbose or row["status"] != "ok" and problems <= MAX_PROBLEM_LINES:
                    label = f"{float(row['label']):.3f}" if row["status"] in SCORED else ""
                    msg = f"  {row['status']:<13} {label:<6} {row['path']}"
                    if row["status"] != "ok" and row["message"]:
                        msg += f": {row['message'][:300]}"
                    progress.write(msg)
                    if problems == MAX_PROBLEM_LINES and not args.verbose:
                        progress.write(f"  (more problems are in {out_path} only; -v shows every video)")
                if row.get("_strict"):
                    stopped = row["message"]
                    break
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (cli.common.Terminated)
        progress.close()
        print(f"{interrupt_word(e)}: {written} of {total} videos written to {out_path} (--resume continues)",
              file=sys.stderr)
        return interrupt_code(e)
    finally:
        close = getattr(outcomes, "close", None)
        if close:
            close()  # ends the worker processes
        if dask is not None:
            dask.close()
        progress.close()
        if feat_writer:
            feat_writer.close()
    if args.explain:
        from reporting.explain import write_index

        print(f"explanations: {write_index(args.explain)}", file=sys.stderr)
    text, scored, unscored = _summary(statuses)
    print(f"wrote {out_path}: {text}", file=sys.stderr)
    if in_training:
        print(f"warning: {in_training} of these videos were in this model's training set (same content hash): "
              "their scores say nothing about how well it detects fakes", file=sys.stderr)
    if stopped:
        print(f"predict.py: {stopped}", file=sys.stderr)
        return EXIT_STRICT
    if unscored == 0:
        return EXIT_OK
    return EXIT_NONE if scored == 0 else EXIT_SOME
