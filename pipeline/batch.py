"""Many videos: worker processes, the feature cache, and training tables.

Parallelism lives here (one video per worker process), never inside a
numeric function; results come back as each video finishes.
"""
from __future__ import annotations

import os
from collections import Counter

import numpy as np

from features.track import CROP_MARGIN, CROP_SIZE
from modeling.rows import track_rows
from synthesis.variants import is_synthetic_fake, needs_donor, synthetic_method, variant_cache_key

from .cache import FeatureCache, file_hash
from .extract import SCORED, VideoResult, extract_video
from .faces import FaceDetector

__all__ = ["PIPELINE_VERSION", "parallel_map", "default_workers", "result_to_json", "extract_cached",
           "training_variants", "extract_table"]

#: bump when the extraction's output changes in a way the calculator versions do not capture
PIPELINE_VERSION = 2


def default_workers(n: int | None) -> int:
    """``n``, or every core when ``n`` is None or 0."""
    return max(1, n if n else (os.cpu_count() or 1))


def parallel_map(func, items, workers: int):
    """Yield ``func(item)`` results as they finish (unordered), in worker processes when workers > 1."""
    if workers <= 1 or len(items) <= 1:
        for it in items:
            yield func(it)
        return
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=workers, return_as="generator_unordered")(delayed(func)(it) for it in items)


def result_to_json(r: VideoResult) -> dict:
    """A :class:`VideoResult` as the JSON-able dict the cache stores (tracks' features only)."""
    return {"status": r.status, "message": r.message, "n_frames": r.n_frames, "n_faces": r.n_faces,
            "tracks": [{"features": t.features, "n_frames": t.n_frames,
                        "values": {k: (v.tolist() if hasattr(v, "tolist") and np.ndim(v) else float(v))
                                   for k, v in t.values.items()}} for t in r.tracks],
            "info": r.info, "timings": r.timings, "variant": r.variant}


def _bank_digest(donors) -> str:
    """What identifies a donor bank in cache keys: its files' names and sizes."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(donors):
        h.update(f"{os.path.basename(p)}:{os.path.getsize(p)};".encode())
    return h.hexdigest()[:12]


def extract_cached(path: str, *, calculators, n_frames, dense, device, variants, seed, cache_dir,
                   donors: tuple = (), identity: str = "") -> list[dict]:
    """:func:`extract_video` for one video with the JSON cache in front; one dict per variant."""
    cache = FeatureCache(cache_dir)
    try:
        h = file_hash(path) if os.path.isfile(path) else None
    except OSError:
        h = None
    config = {"pipeline": PIPELINE_VERSION, "frames": n_frames, "dense": dense, "seed": seed,
              "calculators": sorted(f"{c.key}@{c.version}" for c in calculators),
              # anything upstream of the calculators that changes their input invalidates the entry too
              "detector": FaceDetector.settings(), "crop": [CROP_SIZE, CROP_MARGIN]}

    def key(v):
        vk = variant_cache_key(v) if not needs_donor(v) else f"{v}|bank={_bank_digest(donors)}|id={identity}"
        return FeatureCache.key(h, dict(config, variant=vk))

    out, todo = {}, []
    for v in variants:
        hit = cache.get(key(v)) if h else None
        if hit is not None:
            out[v] = hit
        else:
            todo.append(v)
    if todo:
        for r in extract_video(path, calculators=calculators, n_frames=n_frames, dense=dense, device=device,
                               variants=tuple(todo), seed=seed, donors=tuple(donors), identity=identity):
            d = result_to_json(r)
            out[r.variant] = d
            if h and r.status in SCORED + ("no_face",):
                cache.put(key(r.variant), d)
    return [dict(out[v], path=path) for v in variants]


def _extract_item(item):
    path, kw = item
    return extract_cached(path, **kw)


def training_variants(label: int, *, fakes=(), augment=()) -> list[str]:
    """The variants extracted for a training video of ``label``: the video itself, the synthetic fakes
    ``fakes`` made from it when it is REAL (``selfblend``, ``swap``, ``generator:lower``...), and a degraded
    copy of each of those per augmentation in ``augment`` (``reencode``, ``h264``, ``perturb:random``...)."""
    variants = ["orig"] + (list(fakes) if label == 0 else [])
    return variants + [f"{v}+{a}" for a in augment for v in variants]


def extract_table(records, *, calculators, frames, dense, device, seed, cache_dir, workers,
                  fakes=(), augment=(), donors=(), rows: str = "video", log=print):
    """Feature rows (primary face track) for every record and training variant, plus per-status failure counts.

    Each row is ``{column: value}`` plus bookkeeping keys ``_path, _variant, _label, _group, _method,
    _dataset, _segment``; synthetic fakes (:func:`training_variants`) carry label 1 and their kind as
    method; ``swap`` fakes take donor faces from the bank files ``donors``. ``rows`` is
    ``video`` (one row per variant) or ``segment:K`` (:mod:`modeling.rows`). Rows come back sorted by
    path, variant and segment, so training is reproducible whatever order the workers finish in.
    """
    out, failures = [], Counter()
    items = [(r.path, {"calculators": calculators, "n_frames": frames, "dense": dense, "device": device,
                       "variants": tuple(training_variants(r.label, fakes=fakes, augment=augment)),
                       "seed": seed, "cache_dir": cache_dir, "donors": tuple(donors), "identity": r.group})
             for r in records]
    by_path = {r.path: r for r in records}
    done = 0
    for results in parallel_map(_extract_item, items, workers):
        done += 1
        for res in results:
            rec = by_path[res["path"]]
            if res["status"] not in SCORED:
                failures[res["status"]] += 1
                log(f"  [{done}/{len(items)}] {res['status']}: {rec.path}: {res['message']}")
                continue
            synth = is_synthetic_fake(res["variant"])
            track = res["tracks"][0]
            meta = dict(_path=rec.path, _variant=res["variant"], _label=1 if synth else rec.label, _group=rec.group,
                        _method=synthetic_method(res["variant"]) if synth else
                        (rec.method or ("fake" if rec.label else "real")),
                        _dataset=rec.dataset)
            parts = [track["features"]] if rows == "video" else track_rows(track["values"], rows)
            out += [dict(row, **meta, _segment=k) for k, row in enumerate(parts)]
        if done % 10 == 0 or done == len(items):
            log(f"  extracted {done}/{len(items)} videos")
    out.sort(key=lambda r: (r["_path"], r["_variant"], r["_segment"]))
    return out, failures
