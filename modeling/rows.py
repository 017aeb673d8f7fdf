"""What one training row is: a whole face track (``video``) or a run of its sampled frames (``segment:K``).

With ``segment:K`` a model learns from many short rows (a 32-frame track gives 32/K rows, all in one
cross-validation group) and scores a track by the mean of its segments' raw scores; LightGBM's
contributions are additive, so the track's contributions are the mean of its segments'.
"""
from __future__ import annotations

from features.aggregate import segment_rows, video_row

__all__ = ["parse_rows", "track_rows"]


def parse_rows(spec: str | None) -> int | None:
    """``video`` -> None; ``segment:K`` -> K (frames per row; ``frame`` is ``segment:1``)."""
    spec = (spec or "video").strip().lower()
    if spec == "video":
        return None
    if spec == "frame":
        return 1
    kind, _, k = spec.partition(":")
    if kind == "segment" and k.isdigit() and int(k) >= 1:
        return int(k)
    raise ValueError(f"rows must be video, frame or segment:K (K >= 1), not {spec!r}")


def track_rows(values: dict, spec: str | None) -> list[dict]:
    """The rows of one track's raw values (:func:`features.aggregate.compute_values`) for a row spec."""
    size = parse_rows(spec)
    return [video_row(values)] if size is None else segment_rows(values, size)
