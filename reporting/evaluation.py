"""Score a predictions CSV against ground-truth labels.

``predict.py -o predictions.csv`` writes one row per video (``filename,label,
status,message,n_frames,n_faces,n_tracks,raw_score,...``) where ``label`` is the
calibrated P(fake). :func:`evaluate` joins those rows to labels read with
:func:`dataformats.read_labels` (any label format ``train.py`` reads),
and returns overall metrics, a bootstrap interval for the AUC and breakdowns
by identity group, manipulation method and dataset.

Prediction file names are matched to label paths by the longest common tail
of their path components, so ``183_253.mp4``, ``videos/183_253.mp4`` and
``/data/FFpp_c40/manipulated_sequences/Deepfakes/c40/videos/183_253.mp4``
all match a label ``manipulated_sequences/Deepfakes/c40/videos/183_253.mp4``
when that tail is unique among the labels; a name that fits several labels
equally well (the same ``183_253.mp4`` under four methods) is reported as
ambiguous and left out rather than guessed.
"""
from __future__ import annotations

import csv
import math
import os
from collections import Counter, defaultdict
from pathlib import PurePosixPath, PureWindowsPath

import numpy as np

from dataformats import Record, read_labels
from modeling import metrics

__all__ = [
    "read_predictions",
    "match_predictions",
    "group_metrics",
    "method_metrics",
    "evaluate",
    "format_text",
    "strip_common_prefix",
    "jsonable",
]

#: probabilities are clipped to [CLIP, 1 - CLIP] for the log loss (the shipped model clips to [0.01, 0.99])
DEFAULT_CLIP = 0.01


def read_predictions(path) -> list[dict]:
    """Rows of a ``predict.py`` CSV: ``filename``, ``prob`` (the ``label`` column), ``raw_score``, ``status``,
    and ``key``, the name matched against the labels (the ``path`` column when there is one)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "filename" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise ValueError(f"{path}: a predictions CSV needs the columns filename and label (= P(fake))")
        rows = []
        for r in reader:
            rows.append(
                {
                    "filename": r["filename"].strip(),
                    "key": (r.get("path") or "").strip() or r["filename"].strip(),
                    "prob": _float(r.get("label")),
                    "raw_score": _float(r.get("raw_score")),
                    "status": (r.get("status") or "").strip() or "ok",
                    "content_hash": (r.get("content_hash") or "").strip(),
                    "in_training": (r.get("in_training") or "").strip().lower() == "yes",
                }
            )
    return rows


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _parts(path: str) -> tuple[str, ...]:
    p = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
    return tuple(x for x in p.parts if x not in ("/", "\\", ".", "") and not x.endswith(":\\"))


def match_predictions(pred_names: list[str], records: list[Record]):
    """Match prediction file names to label records by the longest common path tail.

    Returns
    -------
    matches : list of int or None, the record index for each prediction
    ambiguous : list of str, names whose best tail fits several records
    """
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        parts = _parts(rec.path)
        for k in range(1, len(parts) + 1):
            index[parts[-k:]].append(i)
    matches: list[int | None] = []
    ambiguous: list[str] = []
    for name in pred_names:
        parts = _parts(name)
        hit = None
        for k in range(len(parts), 0, -1):
            cands = index.get(parts[-k:])
            if cands:
                hit = cands
                break
        if hit is None:
            matches.append(None)
        elif len(set(hit)) == 1:
            matches.append(hit[0])
        else:
            matches.append(None)
            ambiguous.append(name)
    return matches, ambiguous


def jsonable(obj):
    """``obj`` with NumPy scalars/arrays turned into Python ones and NaN/inf into ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def strip_common_prefix(names) -> tuple[str, np.ndarray]:
    """Strip the folder that all path-like ``names`` share: ``(prefix, shorter names)``, for display."""
    names = np.asarray([str(v) for v in names], dtype=object)
    paths = [v for v in names if "/" in v or "\\" in v]
    if len(paths) < 2:
        return "", names
    try:
        prefix = os.path.commonpath(paths)
    except ValueError:
        return "", names
    if not prefix or prefix in ("/", "."):
        return "", names
    cut = len(prefix.rstrip("/\\")) + 1
    return prefix, np.asarray([v[cut:] if v.startswith(prefix) and len(v) > cut else v for v in names], dtype=object)


def _metrics(y: np.ndarray, p: np.ndarray, clip: float) -> dict:
    out = metrics.summary(y, p)
    out["log_loss"] = metrics.log_loss(y, p, eps=clip)
    out["mean_prob"] = float(np.mean(p)) if p.size else math.nan
    return out


def group_metrics(y, p, keys, *, clip: float = DEFAULT_CLIP) -> dict[str, dict]:
    """Metrics for each value of ``keys``, each subset as it is (AUC only where it holds both classes)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    keys = np.asarray([k if k else "(none)" for k in keys], dtype=object)
    return {key: _metrics(y[keys == key], p[keys == key], clip) for key in sorted(set(keys.tolist()))}


def method_metrics(y, p, methods, datasets, *, clip: float = DEFAULT_CLIP) -> dict[str, dict]:
    """Each method's fakes against the reals of the same dataset(s) (:func:`modeling.metrics.method_vs_real`)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    return {m: _metrics(y[sel], p[sel], clip) for m, sel in metrics.method_vs_real(y, methods, datasets).items()}


def evaluate(
    predictions_csv,
    labels_source,
    *,
    clip: float = DEFAULT_CLIP,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    by: tuple[str, ...] = ("method", "dataset", "group"),
    training_hashes: set | None = None,
) -> dict:
    """Score ``predictions_csv`` against the labels in ``labels_source``.

    Returns
    -------
    dict with ``overall`` (AUC, clipped log loss, accuracy at 0.5, EER,
    average precision, n, n_fake), ``auc_ci`` (percentile bootstrap over
    videos, and over identity groups when groups are known), one breakdown per
    name in ``by`` (``per_method`` scores each method's fakes against all real
    videos; ``per_group`` and ``per_dataset`` score each subset as it is), and
    the bookkeeping of the join: ``n_predictions``, ``n_matched``,
    ``unmatched``, ``ambiguous``, ``status_counts``, ``n_missing_prob``, and
    ``in_training``: the matched videos that were in the model's own training
    set (marked so by ``predict.py``, or whose content hash is in
    ``training_hashes``, the model card's list).
    """
    preds = read_predictions(predictions_csv)
    records = [r for r in read_labels(str(labels_source)) if r.label is not None]
    matches, ambiguous = match_predictions([r["key"] for r in preds], records)
    seen: set[int] = set()
    rows = []
    duplicates = []
    unmatched = []
    ambiguous_set = set(ambiguous)
    for pr, m in zip(preds, matches):
        if m is None:
            if pr["key"] not in ambiguous_set:
                unmatched.append(pr["key"])
            continue
        if m in seen:
            duplicates.append(pr["key"])
            continue
        seen.add(m)
        rows.append((pr, records[m]))
    y = np.array([rec.label for _, rec in rows], dtype=np.float64)
    p_raw = np.array([pr["prob"] for pr, _ in rows], dtype=np.float64)
    missing = ~np.isfinite(p_raw)
    # a video the tool could not score counts as undecided (0.5), as a DFDC submission would
    p = np.where(missing, 0.5, p_raw)
    groups = [rec.group for _, rec in rows]
    result: dict = {
        "predictions": str(predictions_csv),
        "labels": str(labels_source),
        "clip": clip,
        "n_predictions": len(preds),
        "n_labels": len(records),
        "n_matched": len(rows),
        "unmatched": unmatched,
        "ambiguous": ambiguous,
        "duplicates": duplicates,
        "n_missing_prob": int(missing.sum()),
        "status_counts": dict(Counter(pr["status"] for pr, _ in rows)),
        "labels_without_prediction": len(records) - len(seen),
        "in_training": _in_training(rows, training_hashes),
    }
    if not rows:
        result["overall"] = {}
        return result
    result["overall"] = _metrics(y, p, clip)
    ci = metrics.bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed, level=level)
    result["auc_ci"] = {"lo": ci.lo, "hi": ci.hi, "level": level, "n_boot": ci.n_boot, "unit": "video"}
    if any(groups) and len(set(groups)) > 1:
        gci = metrics.bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed, level=level, groups=groups)
        result["auc_ci_grouped"] = {"lo": gci.lo, "hi": gci.hi, "level": level, "n_boot": gci.n_boot, "unit": "group"}
    for name in by:
        keys = [getattr(rec, name) for _, rec in rows]
        if not any(keys):
            continue
        if name == "group":  # groups are often named after a file: show them relative to the shared folder
            prefix, short = strip_common_prefix(keys)
            keys = short.tolist()
            if prefix:
                result["group_prefix"] = prefix
        if name == "method":
            result["per_method"] = method_metrics(y, p, keys, [rec.dataset for _, rec in rows], clip=clip)
        else:
            result[f"per_{name}"] = group_metrics(y, p, keys, clip=clip)
    return result


def _in_training(rows, hashes) -> list[str]:
    """Matched predictions whose video the model was trained on: marked by predict.py, or by content hash."""
    from pipeline.cache import file_hash

    out = []
    for pr, rec in rows:
        hit = pr["in_training"] or (hashes and pr["content_hash"] in hashes)
        if not hit and hashes and not pr["content_hash"] and os.path.isfile(rec.path):
            try:
                hit = file_hash(rec.path) in hashes
            except OSError:
                hit = False
        if hit:
            out.append(pr["key"])
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return "  nan " if math.isnan(v) else f"{v:6.3f}"
    return str(v)


def format_text(result: dict) -> str:
    """The human-readable summary ``evaluate.py`` prints."""
    lines = [
        f"predictions: {result['predictions']}",
        f"labels:      {result['labels']}",
        f"matched {result['n_matched']} of {result['n_predictions']} predictions "
        f"({result['n_labels']} labels, {result['labels_without_prediction']} without a prediction)",
    ]
    if result["unmatched"]:
        lines.append(f"  no label for {len(result['unmatched'])}: {', '.join(result['unmatched'][:5])}"
                     + (" ..." if len(result["unmatched"]) > 5 else ""))
    if result["ambiguous"]:
        lines.append(f"  ambiguous (several labels fit; use paths): {len(result['ambiguous'])}: "
                     f"{', '.join(result['ambiguous'][:5])}" + (" ..." if len(result["ambiguous"]) > 5 else ""))
    if result["duplicates"]:
        lines.append(f"  duplicate predictions ignored: {len(result['duplicates'])}")
    if result.get("status_counts"):
        lines.append("  status: " + ", ".join(f"{k}={v}" for k, v in sorted(result["status_counts"].items())))
    if result["n_missing_prob"]:
        lines.append(f"  {result['n_missing_prob']} videos without a probability were scored 0.5")
    if result.get("in_training"):
        n = len(result["in_training"])
        lines.append(f"WARNING: {n} of the {result['n_matched']} labelled videos were in this model's own training "
                     f"set (same content): the metrics below overstate how well it does on new videos "
                     f"({', '.join(result['in_training'][:3])}{' ...' if n > 3 else ''})")
    o = result.get("overall")
    if not o:
        lines.append("nothing to score")
        return "\n".join(lines)
    lines.append("")
    rows = [("AUC", _fmt(o["auc"]))]
    for key, unit in (("auc_ci", "videos resampled"), ("auc_ci_grouped", "identity groups resampled")):
        ci = result.get(key)
        if ci:
            rows.append((f"  {ci['level']:.0%} bootstrap CI", f"[{ci['lo']:.3f}, {ci['hi']:.3f}]  ({unit}, "
                                                              f"{ci['n_boot']} resamples)"))
    rows += [(f"log loss (clip {result['clip']:g})", _fmt(o["log_loss"])), ("accuracy @ 0.5", _fmt(o["accuracy"])),
             ("EER", _fmt(o["eer"])), ("average precision", _fmt(o["average_precision"]))]
    width = max(len(k) for k, _ in rows) + 2
    lines += [f"{k:<{width}}{v}" for k, v in rows]
    n_real = o["n"] - o["n_fake"]
    lines.append(f"n = {o['n']} ({o['n_fake']} fake, {n_real} real)")
    if min(o["n_fake"], n_real) < 10:
        lines.append("  (fewer than 10 videos in a class: the numbers and the interval mean little)")
    for name, note in (("method", "fakes of each method vs the real videos of the same dataset"),
                       ("dataset", "each subset as is"), ("group", "each identity group as is")):
        table = result.get(f"per_{name}")
        if not table:
            continue
        width = max(8, *(len(k) for k in table)) + 1
        lines.append("")
        lines.append(f"per {name} ({note})")
        if name == "group" and result.get("group_prefix"):
            lines.append(f"  group names relative to {result['group_prefix']}")
        lines.append(f"{name:<{width}}{'n':>5}{'fake':>6}{'AUC':>8}{'logloss':>9}{'acc':>8}{'EER':>8}{'mean P':>8}")
        for k, m in table.items():
            lines.append(f"{k:<{width}}{m['n']:>5}{m['n_fake']:>6}{_fmt(m['auc']):>8}{_fmt(m['log_loss']):>9}"
                         f"{_fmt(m['accuracy']):>8}{_fmt(m['eer']):>8}{_fmt(m['mean_prob']):>8}")
    return "\n".join(lines)

