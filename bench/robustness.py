#!/usr/bin/env python
"""Score models on a labelled set under each perturbation of the DFDC black-box kind.

    python bench/robustness.py --model DIR [DIR ...] --data ../shared/data/labelled [--kinds all,pairs]

Writes perturbed copies under ``--work`` (default ``.cache/robustness``), extracts the features of
each copy once through the feature cache (the models' calculators and the reliability rule's: a second model
with the same calculators, or a rerun, costs no decoding), and writes
``DIR/robustness.json`` for each model (shown by ``python report.py DIR``): AUC with a bootstrap interval,
log loss and their change from clean, per perturbation. A video is scored as ``evaluate.py`` scores it
(its primary face track, its rows' mean raw score, the model's calibration).

By default each copy holds a clip's first 64 frames (``--max-frames``; whole FF++ clips at 1080p cost a
minute each to re-encode), and the clean reference is those same frames re-encoded at CRF 18, so every
row differs from clean by its perturbation alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from dataformats import read_labels  # noqa: E402
from modeling.card import card_sampling  # noqa: E402
from modeling.detector import DetectorModel, update_card  # noqa: E402
from modeling.reliability import LIMITS  # noqa: E402
from pipeline.batch import extract_table, parallel_map  # noqa: E402
from pipeline.cache import file_hash  # noqa: E402
from reporting.robustness import ROBUSTNESS_FILE, robustness_table  # noqa: E402
from synthesis.codec import read_video_frames, write_video_frames  # noqa: E402
from synthesis.perturb import expand_kinds, perturb_file  # noqa: E402
from synthesis.variants import stable_seed  # noqa: E402


def make_copy(item):
    """Write one copy ``(src, dst, kind, seed, max_frames)``: ``kind`` ``"clean"`` re-encodes the opening
    frames at :data:`CLEAN_CRF`, anything else perturbs them (:func:`synthesis.perturb.perturb_file`).
    Returns ``(dst, error message or "")``; an existing ``dst`` is kept."""
    src, dst, kind, seed, max_frames = item
    try:
        if not os.path.isfile(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if kind == "clean":  # the same opening frames through the same encoder, nothing else changed
                frames, fps = read_video_frames(src, max_frames=max_frames)
                write_video_frames(dst + ".tmp.mp4", frames, fps=fps, crf=CLEAN_CRF)
            else:
                perturb_file(src, dst + ".tmp.mp4", kind, seed=seed, crf=CLEAN_CRF, max_frames=max_frames)
            os.replace(dst + ".tmp.mp4", dst)
        return dst, ""
    except Exception as e:  # noqa: BLE001 - a failed copy is left out of its kind, never fatal
        return dst, f"{type(e).__name__}: {e}"


#: the CRF at which the clean copy and every perturbation without a codec step of its own are encoded
CLEAN_CRF = 18


def scoring_calculators(models) -> list:
    """The calculators every model named uses, plus the reliability rule's (:func:`reliability_bins` reads
    them), each once. Not ``select("all")``: that set leaves out families outside ``all`` (``context``), which
    would score such a model with those columns missing, and holds ``prnu``, which costs the most and no
    shipped model uses."""
    from cli.common import calculators_by_key
    from modeling.reliability import RELIABILITY_CALCULATORS

    keys = [k for m in models for k in m.card["calculators"]] + list(RELIABILITY_CALCULATORS)
    return calculators_by_key(list(dict.fromkeys(keys)))


def _probs(model: DetectorModel, rows: list[dict]) -> dict:
    """``copy path -> P(fake)`` for the videos in ``rows``."""
    return {v["_path"]: v["_prob"] for v in model.score_videos(rows)}


def reliability_bins(table: list[dict], probs: dict, labels: dict, *, n_bins: int = 4) -> dict:
    """For each measurement the reliability rule reads (:data:`modeling.reliability.LIMITS`): the model's AUC
    within quantile bins of it, pooled over clean and perturbed copies. This is the evidence for the limits.

    ``table``: feature rows with ``_path``; ``probs``: copy path -> P(fake); ``labels``: copy path -> 0/1.
    """
    import numpy as np

    from modeling.metrics import roc_auc

    out = {}
    for col, *_ in LIMITS:
        per = {}
        for row in table:
            v = row.get(col)
            if row["_path"] in probs and v is not None and np.isfinite(v):
                per.setdefault(row["_path"], []).append(float(v))
        paths = sorted(per)
        x = np.array([np.median(per[p]) for p in paths])
        if x.size < 4 * n_bins:
            continue
        edges = np.quantile(x, np.linspace(0, 1, n_bins + 1))
        bins = []
        for i in range(n_bins):
            sel = (x >= edges[i]) & ((x <= edges[i + 1]) if i == n_bins - 1 else (x < edges[i + 1]))
            y = np.array([labels[p] for p, s in zip(paths, sel) if s])
            q = np.array([probs[p] for p, s in zip(paths, sel) if s])
            bins.append({"lo": float(edges[i]), "hi": float(edges[i + 1]), "n": int(sel.sum()),
                         "auc": roc_auc(y, q) if 0 < y.sum() < y.size else float("nan")})
        out[col] = bins
    return out


def record_in_card(model_dir: str, result: dict) -> None:
    """A summary of ``result`` (what ``robustness.json`` holds) in the model card's ``robustness``, so the card
    alone says how the model held up."""
    rows = result["rows"]
    worst = min(rows[1:], key=lambda r: r["d_auc"]) if len(rows) > 1 else rows[0]
    update_card(model_dir, "robustness", {
        "file": ROBUSTNESS_FILE, "data": result["data"], "max_frames": result.get("max_frames"),
        "clean_auc": rows[0]["auc"], "worst_kind": worst["kind"], "worst_d_auc": worst["d_auc"],
        "worst_d_auc_ci": [worst.get("d_auc_lo"), worst.get("d_auc_hi")],
        "d_auc": {r["kind"]: round(r["d_auc"], 4) for r in rows[1:]}})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", default=[None], help="model folders (default: the shipped model)")
    ap.add_argument("--data", required=True, nargs="+", help="labelled data (any layout train.py reads)")
    ap.add_argument("--kinds", default="all", help="perturbations: all, pairs, names or a+b (comma-separated)")
    ap.add_argument("--work", default=os.path.join(".cache", "robustness"))
    ap.add_argument("--cache", default=os.path.join(".cache", "features"), help="feature cache folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-frames", type=int, default=64,
                    help="copies hold the first N frames (0: whole clips, compared with the original files); "
                         "the clean reference is then those frames re-encoded at CRF 18")
    args = ap.parse_args(argv)
    models = {m: DetectorModel.load(m) for m in args.model}
    first = next(iter(models.values()))
    sampling = card_sampling(first.card)
    if any(card_sampling(m.card) != sampling for m in models.values()):
        ap.error("the models sample frames differently; score them in separate runs")
    records = [r for d in args.data for r in read_labels(d) if r.label is not None]
    kinds = expand_kinds(args.kinds.split(","))

    t0 = time.time()
    made = (["clean"] if args.max_frames else []) + kinds
    jobs, copies = [], {k: [] for k in made}
    for r in records:
        h = file_hash(r.path)
        for kind in made:
            dst = os.path.join(args.work, f"first{args.max_frames}" if args.max_frames else "whole", kind, f"{h}.mp4")
            jobs.append((r.path, dst, kind, stable_seed(os.path.basename(r.path), args.seed), args.max_frames or None))
            copies[kind].append(dataclasses.replace(r, path=dst))
    failed = {dst: msg for dst, msg in parallel_map(make_copy, jobs, args.workers) if msg}
    print(f"  {len(jobs) - len(failed)}/{len(jobs)} perturbed copies ({time.time() - t0:.0f} s)", file=sys.stderr)
    origin = {c.path: r.path for k in made for c, r in zip(copies[k], records)}
    sets = {"clean": records, **{k: [c for c in copies[k] if c.path not in failed] for k in made}}
    everything = [r for rs in sets.values() for r in rs]
    calcs = scoring_calculators(models.values())
    per_rows = {}
    for rows_kind in sorted({m.rows for m in models.values()}):
        table, failures = extract_table(everything, calculators=calcs, **sampling, device="cpu", seed=0,
                                        cache_dir=args.cache, workers=args.workers, rows=rows_kind,
                                        log=lambda *a: print(*a, file=sys.stderr))
        per_rows[rows_kind] = (table, failures)
    print(f"  features of {len(everything)} videos ({time.time() - t0:.0f} s)", file=sys.stderr)

    labels = {r.path: r.label for r in records}
    groups = {r.path: r.group or r.path for r in records}  # a fake and its original resampled together
    copy_labels = {r.path: r.label for rs in sets.values() for r in rs}
    for name, model in models.items():
        table, failures = per_rows[model.rows]
        copy_probs = _probs(model, table)  # every copy scored once
        by_kind = {kind: {origin.get(r.path, r.path): copy_probs[r.path] for r in rs if r.path in copy_probs}
                   for kind, rs in sets.items()}
        rows = robustness_table(labels, by_kind["clean"], {k: by_kind[k] for k in kinds}, groups=groups)
        out = {"model": name or "shipped default", "data": ", ".join(args.data), "kinds": kinds, "rows": rows,
               "failures": len(failed) + sum(failures.values()), "seed": args.seed, "max_frames": args.max_frames,
               "reliability_bins": reliability_bins(table, copy_probs, copy_labels),
               "note": "Each copy is scored against the same videos' clean scores"
                       + (f" (clean: their first {args.max_frames} frames re-encoded at CRF {CLEAN_CRF}; other "
                          f"copies start from the same frames)." if args.max_frames else ".")}
        path = os.path.join(name or os.path.join(ROOT, "modeling", "default_model"), ROBUSTNESS_FILE)
        with open(path, "w") as f:
            json.dump(out, f, indent=1, default=float)
        record_in_card(os.path.dirname(path), out)
        print(f"== {out['model']}")
        for r in rows:
            print(f"{r['kind']:<28} AUC {r['auc']:.3f} [{r['auc_lo']:.2f}, {r['auc_hi']:.2f}]  "
                  f"dAUC {r['d_auc']:+.3f} [{r['d_auc_lo']:+.3f}, {r['d_auc_hi']:+.3f}]  "
                  f"log loss {r['log_loss']:.3f} ({r['d_log_loss']:+.3f})  n={r['n']}")
        for col, bins in out["reliability_bins"].items():
            print(f"  {col}: " + "  ".join(f"[{b['lo']:.2f},{b['hi']:.2f}] AUC {b['auc']:.3f} (n={b['n']})"
                                           for b in bins))
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
