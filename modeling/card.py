"""The model card: what trained a model, how, on which data and licences, and how it did.

Built here, by the model layer, so that every model folder carries the same
fields; the training CLI only passes what it knows.
"""
from __future__ import annotations

import datetime
import os
import platform
import warnings
from collections import Counter

import numpy as np

from .calibration import CLIP

__all__ = ["build_card", "card_sampling", "data_sources", "feature_ranges", "library_versions", "training_hashes",
           "HASH_NOTE"]

#: how the card's training-video hashes are made (:func:`pipeline.cache.file_hash`)
HASH_NOTE = "SHA-256 of the file's bytes, first 16 hex digits (pipeline.cache.file_hash)"


def training_hashes(card: dict) -> set[str]:
    """Content hashes of the videos a model was trained on (empty when its card predates them)."""
    return set((card.get("training_videos") or {}).get("content_hashes") or [])


def library_versions() -> dict:
    """Versions of the libraries that shape a model's numbers."""
    import cv2
    import lightgbm
    import pywt
    import scipy

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "opencv": cv2.__version__, "lightgbm": lightgbm.__version__, "pywavelets": pywt.__version__}


def data_sources(records, *, synthesized: str | None = None) -> list[dict]:
    """Training sources with licence and label, one entry per (source, licence, label).

    ``synthesized`` names the synthetic fakes made from the REAL records (None: none were).
    """
    agg: Counter = Counter()
    for r in records:
        agg[(r.source or os.path.dirname(r.path), r.licence or "unknown", "REAL" if r.label == 0 else "FAKE")] += 1
    out = [{"source": s, "licence": lic, "label": lab, "n_videos": n} for (s, lic, lab), n in sorted(agg.items())]
    if synthesized:
        out.append({"source": synthesized, "licence": "derived from the REAL sources above", "label": "FAKE",
                    "n_videos": sum(1 for r in records if r.label == 0)})
    return out


def feature_ranges(X, y, columns, *, quantiles=(0.1, 0.5, 0.9)) -> dict:
    """Typical values of each feature per class: ``{column: {"real": [q...], "fake": [q...]}}``.

    Quantiles of the training table (missing values ignored; ``None`` where a
    class has no value), so an explanation can say whether a video's value is
    unusual for a real video.
    """
    X = np.asarray(X, dtype=np.float64).reshape(-1, len(columns))
    y = np.asarray(y, dtype=np.float64)
    out: dict = {c: {} for c in columns}
    for name, cls in (("real", 0), ("fake", 1)):
        sub = X[y == cls]
        if not len(sub):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            q = np.nanquantile(sub, quantiles, axis=0)  # (n_quantiles, n_features)
        for j, c in enumerate(columns):
            out[c][name] = [None if not np.isfinite(v) else float(v) for v in q[:, j]]
    return out


def card_sampling(card: dict) -> dict:
    """How a model's frames are sampled, as keyword arguments of :func:`pipeline.batch.extract_table`:
    ``frames``, ``dense`` and ``stride`` (cards saved before a field existed get the value they were made with)."""
    return {"frames": int(card["frames"]), "dense": int(card.get("dense", 64)), "stride": int(card.get("stride", 0))}


def build_card(*, name: str, features: list[str], feature_set: str, calculators: list[str], frames: int,
               dense: int, calibration: tuple[float, float], cv: dict, training: dict, sources: list[dict],
               params: dict, rows: str = "video", X=None, y=None, notes: str = "",
               content_hashes=None, stride: int = 0) -> dict:
    """A model card (JSON-serialisable dict) with every field a model folder carries.

    ``content_hashes`` are the training videos' content hashes (:func:`pipeline.cache.file_hash`), so that
    ``predict.py`` and ``evaluate.py`` can say when a scored clip was in the training set. The hash of
    ``model.txt`` is added when the model is saved (:meth:`modeling.detector.DetectorModel.save`).
    """
    card = {
        "name": name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "features": list(features),
        "feature_set": feature_set,
        "calculators": list(calculators),
        "frames": int(frames),
        "dense": int(dense),
        "stride": int(stride),  # 0: frames spread over the whole video (pipeline.video.sampling_plan)
        "rows": rows,
        "calibration": {"method": "platt", "a": calibration[0], "b": calibration[1],
                        "fitted_on": "out-of-fold raw scores of whole tracks (the mean over a track's rows)"},
        "clip": list(CLIP),
        "cv": cv,
        "training": training,
        "data_sources": sources,
        "params": params,
        "library_versions": library_versions(),
        "notes": notes,
    }
    if content_hashes is not None:
        card["training_videos"] = {"hash": HASH_NOTE, "content_hashes": sorted(set(content_hashes))}
    if X is not None and y is not None:
        card["feature_ranges"] = feature_ranges(X, y, features)  # typical real/fake values, for explanations
    return card
