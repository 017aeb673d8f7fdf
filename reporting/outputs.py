"""What ``predict.py`` writes: the per-video CSV (DFDC submission compatible) and the feature CSV."""
from __future__ import annotations

import csv

__all__ = ["PRED_COLUMNS", "UNSCORED", "PredictionWriter", "FeatureWriter"]

PRED_COLUMNS = ["filename", "label", "status", "message", "n_frames", "n_faces", "n_tracks", "raw_score",
                "track", "top_fake_features", "path", "seconds"]
#: P(fake) written for files that could not be scored: the uninformative prior
UNSCORED = 0.5


class PredictionWriter:
    """Writes one row per video and flushes it at once, so a crash or Ctrl-C never loses finished rows."""

    def __init__(self, fh):
        self._fh = fh
        self._w = csv.DictWriter(fh, fieldnames=PRED_COLUMNS, extrasaction="ignore")
        self._w.writeheader()
        fh.flush()

    def write(self, row: dict) -> None:
        self._w.writerow({k: (f"{v:.6f}" if k == "label" else v) for k, v in row.items()})
        self._fh.flush()


class FeatureWriter:
    """The scored face track's feature row per video (``--features-out``), opened on the first row."""

    def __init__(self, path: str, names: list[str]):
        self.path, self.names = path, list(names)
        self._fh = self._w = None

    def write(self, path: str, features: dict) -> None:
        if self._w is None:
            self._fh = open(self.path, "w", newline="")
            self._w = csv.DictWriter(self._fh, fieldnames=["path"] + self.names, extrasaction="ignore")
            self._w.writeheader()
        self._w.writerow(dict(features, path=path))
        self._fh.flush()

    def close(self) -> None:
        if self._fh:
            self._fh.close()
