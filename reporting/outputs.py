"""What ``predict.py`` writes: the per-video CSV (DFDC submission compatible) and the feature CSV."""
from __future__ import annotations

import csv
import math
import os

__all__ = ["PRED_COLUMNS", "UNSCORED", "PredictionWriter", "FeatureWriter", "keep_feature_rows", "replace_file",
           "read_prediction_rows", "NotAPredictionsFile"]

PRED_COLUMNS = ["filename", "label", "status", "message", "reliability", "reliability_note", "n_frames", "n_faces",
                "n_tracks", "raw_score", "track", "top_fake_features", "path", "seconds", "content_hash", "in_training"]
#: P(fake) written for files that could not be scored: the uninformative prior
UNSCORED = 0.5


class NotAPredictionsFile(ValueError):
    """An existing file that ``predict.py --resume`` cannot continue."""


class PredictionWriter:
    """Writes one row per video and flushes it at once, so a crash or Ctrl-C never loses finished rows.

    ``header=False`` appends to a file that already has the header (``--resume``).
    """

    def __init__(self, fh, *, header: bool = True):
        self._fh = fh
        self._w = csv.DictWriter(fh, fieldnames=PRED_COLUMNS, extrasaction="ignore")
        if header:
            self._w.writeheader()
        fh.flush()

    def write(self, row: dict) -> None:
        self._w.writerow({k: (f"{float(v):.6f}" if k == "label" and v != "" else v) for k, v in row.items()})
        self._fh.flush()


def read_prediction_rows(path: str) -> list[dict]:
    """The complete rows of an existing predictions CSV (for ``--resume``).

    A last line cut short by a kill (missing fields, or a label that is not a number) is dropped, so its video
    is done again. Raises :class:`NotAPredictionsFile` when the file is not one ``predict.py`` wrote.
    """
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if not {"filename", "label", "status", "path"} <= set(fields):
                raise NotAPredictionsFile(f"{path} is not a predictions CSV written by predict.py (its header is "
                                          f"{','.join(fields)[:80] or 'empty'}); use --force to overwrite it")
            rows = []
            for r in reader:
                if None in r or any(r.get(k) is None for k in fields):
                    continue  # a row cut short (or with extra cells): do it again
                try:
                    if not math.isfinite(float(r["label"])):
                        continue
                except ValueError:
                    continue
                rows.append(r)
    except UnicodeDecodeError:
        raise NotAPredictionsFile(f"{path} is not a predictions CSV (not UTF-8 text); use --force to overwrite it") \
            from None
    return rows


class FeatureWriter:
    """The scored face track's feature row per video (``--features-out``), opened on the first row.

    With ``append`` (``--resume``), rows are added to an existing file with the same columns.
    """

    def __init__(self, path: str, names: list[str], *, append: bool = False):
        self.path, self.names = path, list(names)
        self._fh = self._w = None
        self.append = append

    def write(self, path: str, features: dict) -> None:
        if self._w is None:
            header = True
            mode = "w"
            if self.append and os.path.isfile(self.path) and os.path.getsize(self.path) > 0:
                with open(self.path, newline="") as fh:
                    old = next(csv.reader(fh), [])
                if old == ["path"] + self.names:
                    mode, header = "a", False
            self._fh = open(self.path, mode, newline="")
            self._w = csv.DictWriter(self._fh, fieldnames=["path"] + self.names, extrasaction="ignore")
            if header:
                self._w.writeheader()
        self._w.writerow(dict(features, path=path))
        self._fh.flush()

    def close(self) -> None:
        if self._fh:
            self._fh.close()


def replace_file(path: str, write) -> None:
    """Replace ``path`` atomically with what ``write(fh)`` writes to a text file handle: a kill halfway leaves
    the old file, never half of the new one."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def keep_feature_rows(path: str, keep_paths) -> None:
    """Rewrite a ``--features-out`` CSV in place (atomically) with only the rows of videos in ``keep_paths``
    (compared as absolute paths): what ``--resume`` scores again is appended afresh, not twice."""
    if not (os.path.isfile(path) and os.path.getsize(path) > 0):
        return
    keep = {os.path.abspath(p) for p in keep_paths}
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = [r for r in reader if r and os.path.abspath(r[0]) in keep]

    def write(fh):
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)

    replace_file(path, write)
