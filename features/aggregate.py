"""Reduce calculator outputs to one row of named columns per track."""
from __future__ import annotations

import math
import time

import numpy as np

from forensics.backend import to_numpy

from .registry import Calculator, column_name

__all__ = ["FRAME_STATS", "aggregate_values", "run_calculators"]

#: statistics of a per-frame feature; a track-level scalar gets the single stat ``value``
FRAME_STATS = ("mean", "std", "q10", "q50", "q90")


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
        a = a[np.isfinite(a)]
        if a.size == 0:
            stats = dict.fromkeys(FRAME_STATS, math.nan)
        else:
            q10, q50, q90 = np.quantile(a, [0.1, 0.5, 0.9])
            stats = {"mean": a.mean(), "std": a.std(), "q10": q10, "q50": q50, "q90": q90}
        for stat in FRAME_STATS:
            row[column_name(family, feature, stat)] = float(stats[stat])
    return row


def run_calculators(track, calculators: list[Calculator], *,
                    timings: dict | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """Run each calculator on one track; a failing calculator costs its own columns only.

    A calculator that does not declare ``gpu=True`` runs on the track's host (NumPy) view.

    Returns ``(row, errors)`` where ``errors`` maps calculator key to message. When
    ``timings`` is given, seconds per family are added to it under ``features:FAMILY``.
    """
    row: dict[str, float] = {}
    errors: dict[str, str] = {}
    for calc in calculators:
        t0 = time.perf_counter()
        try:
            row.update(aggregate_values(calc.family, calc.func(track if calc.gpu else track.on_host())))
        except Exception as exc:  # noqa: BLE001 - reported per calculator, never fatal
            errors[calc.key] = f"{type(exc).__name__}: {exc}"
        if timings is not None:
            key = f"features:{calc.family}"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
    return row, errors
