"""From calculator outputs to rows of named columns: one per track, or one per segment of frames.

Calculators return ``{feature: (T,) per-frame array | scalar}``. :func:`compute_values` runs them and
keeps those raw values under ``family__feature`` keys (host NumPy); :func:`video_row` reduces them to one
row per track (statistics over all frames), :func:`segment_rows` to one row per run of consecutive
sampled frames, with the same column names, so a model can learn from many short rows and score a video
by averaging over its segments.
"""
from __future__ import annotations

import math
import time

import numpy as np

from forensics.backend import to_numpy

from .registry import SEP, Calculator, column_name

__all__ = ["FRAME_STATS", "aggregate_values", "compute_values", "video_row", "segment_rows", "run_calculators",
           "segment_bounds"]

#: statistics of a per-frame feature; a track-level scalar gets the single stat ``value``
FRAME_STATS = ("mean", "std", "q10", "q50", "q90")


def _stats(a: np.ndarray) -> dict[str, float]:
    a = a[np.isfinite(a)]
    if a.size == 0:
        return dict.fromkeys(FRAME_STATS, math.nan)
    q10, q50, q90 = np.quantile(a, [0.1, 0.5, 0.9])
    return {"mean": float(a.mean()), "std": float(a.std()), "q10": float(q10), "q50": float(q50),
            "q90": float(q90)}


def aggregate_values(family: str, values: dict) -> dict[str, float]:
    """Turn ``{feature: (T,) array | scalar}`` into ``{family__feature__stat: float}``.

    Non-finite per-frame values are ignored; an all-NaN feature gives NaN
    statistics (LightGBM treats NaN as missing).
    """
    row: dict[str, float] = {}
    for feature, v in values.items():
        a = np.asarray(to_numpy(v), dtype=np.float64)
        if a.ndim == 0:
            row[column_name(family, feature, "value")] = float(a)
            continue
        if a.ndim != 1:
            raise ValueError(f"{family}.{feature}: expected a scalar or a (T,) array, got shape {a.shape}")
        for stat, x in _stats(a).items():
            row[column_name(family, feature, stat)] = x
    return row


def compute_values(track, calculators: list[Calculator], *,
                   timings: dict | None = None) -> tuple[dict, dict[str, str]]:
    """Run each calculator on one track; a failing calculator costs its own features only.

    A calculator that does not declare ``gpu=True`` runs on the track's host (NumPy) view.

    Returns ``(values, errors)``: ``values`` maps ``family__feature`` to a float64 (T,) array or a float
    (host memory); ``errors`` maps calculator key to message. When ``timings`` is given, seconds per
    family are added to it under ``features:FAMILY``.
    """
    values: dict = {}
    errors: dict[str, str] = {}
    for calc in calculators:
        t0 = time.perf_counter()
        try:
            out = calc.func(track if calc.gpu else track.on_host())
            got = {}
            for feature, v in out.items():
                a = np.asarray(to_numpy(v), dtype=np.float64)
                if a.ndim > 1:
                    raise ValueError(f"{calc.key}.{feature}: expected a scalar or a (T,) array, got {a.shape}")
                got[f"{calc.family}{SEP}{feature}"] = float(a) if a.ndim == 0 else a
            values.update(got)
        except Exception as exc:  # noqa: BLE001 - reported per calculator, never fatal
            errors[calc.key] = f"{type(exc).__name__}: {exc}"
        if timings is not None:
            key = f"features:{calc.family}"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
    return values, errors


def _row(values: dict, sel) -> dict[str, float]:
    row: dict[str, float] = {}
    for key, v in values.items():
        a = np.asarray(v, dtype=np.float64)
        if a.ndim == 0:
            row[f"{key}{SEP}value"] = float(a)
        else:
            for stat, x in _stats(a if sel is None else a[sel]).items():
                row[f"{key}{SEP}{stat}"] = x
    return row


def video_row(values: dict) -> dict[str, float]:
    """One row for the whole track: every per-frame feature's statistics over all frames."""
    return _row(values, None)


def segment_bounds(n_frames: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of consecutive runs of ``size`` frames covering ``n_frames`` (the last run
    absorbs a remainder shorter than half a run)."""
    if n_frames <= 0:
        return []
    size = max(1, min(size, n_frames))
    starts = list(range(0, n_frames, size))
    bounds = [(s, min(s + size, n_frames)) for s in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < max(1, size // 2):
        bounds[-2] = (bounds[-2][0], bounds[-1][1])
        bounds.pop()
    return bounds


def segment_rows(values: dict, size: int) -> list[dict[str, float]]:
    """One row per run of ``size`` consecutive sampled frames (:func:`segment_bounds`), with the columns of
    :func:`video_row`: per-frame features summarised over the segment, track-level scalars repeated."""
    n = max((np.asarray(v).shape[0] for v in values.values() if np.ndim(v) == 1), default=0)
    if n == 0:
        return [video_row(values)] if values else []
    return [_row(values, slice(a, b)) for a, b in segment_bounds(n, size)]


def run_calculators(track, calculators: list[Calculator], *,
                    timings: dict | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """:func:`compute_values` reduced to one :func:`video_row`: ``(row, errors)``."""
    values, errors = compute_values(track, calculators, timings=timings)
    return video_row(values), errors
