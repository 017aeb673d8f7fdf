"""The trained detector and its folder: the one place that reads and writes a model directory.

A model directory holds

``model.txt``
    the LightGBM booster in its text format (loading it executes no code);
``model_card.json``
    the card (:mod:`modeling.card`): features, frames, calibration, CV metrics,
    data sources and licences, library versions;
``oof.csv``
    from training: each training row's out-of-fold raw score and probability;
``features.csv``
    from training: the training table (bookkeeping columns, then the features).

Nothing is pickled.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

import numpy as np

from .calibration import CLIP, apply_platt

__all__ = ["DetectorModel", "TrackScore", "ModelFolder", "TrainingTable", "default_model_dir", "load_model_folder",
           "read_oof", "read_training_table", "write_oof", "write_training_table",
           "MODEL_FILE", "CARD_FILE", "OOF_FILE", "TABLE_FILE", "OOF_COLUMNS", "TABLE_META_COLUMNS"]

MODEL_FILE, CARD_FILE, OOF_FILE, TABLE_FILE = "model.txt", "model_card.json", "oof.csv", "features.csv"
#: columns of ``oof.csv``
OOF_COLUMNS = ["filename", "label", "group", "method", "dataset", "variant", "fold", "raw", "prob"]
#: bookkeeping columns that lead ``features.csv``
TABLE_META_COLUMNS = ["filename", "label", "group", "method", "dataset", "variant"]


def default_model_dir() -> str:
    """The shipped default model, inside the installed package."""
    return str(resources.files("modeling") / "default_model")


@dataclass
class DetectorModel:
    """A trained model: the LightGBM booster plus its card."""

    booster: object
    card: dict

    @property
    def feature_names(self) -> list[str]:
        return list(self.card["features"])

    @classmethod
    def load(cls, model_dir: str | None = None) -> "DetectorModel":
        import lightgbm as lgb

        model_dir = model_dir or default_model_dir()
        txt = os.path.join(model_dir, MODEL_FILE)
        card_path = os.path.join(model_dir, CARD_FILE)
        if not (os.path.isfile(txt) and os.path.isfile(card_path)):
            raise FileNotFoundError(f"{model_dir}: a model directory needs {MODEL_FILE} and {CARD_FILE}")
        with open(card_path) as f:
            card = json.load(f)
        booster = lgb.Booster(model_file=txt)
        if booster.feature_name() != card["features"]:
            raise ValueError(f"{model_dir}: {MODEL_FILE} and {CARD_FILE} list different features")
        return cls(booster, card)

    def save(self, model_dir: str) -> None:
        os.makedirs(model_dir, exist_ok=True)
        self.booster.save_model(os.path.join(model_dir, MODEL_FILE))
        with open(os.path.join(model_dir, CARD_FILE), "w") as f:
            json.dump(self.card, f, indent=2, sort_keys=False, default=float)

    def matrix(self, rows: list[dict]) -> np.ndarray:
        """Rows of ``{column: value}`` as the model's input matrix (missing columns are NaN)."""
        from .training import feature_matrix

        return feature_matrix(rows, self.feature_names)[0]

    def raw_score(self, X) -> np.ndarray:
        return self.booster.predict(np.asarray(X, float), raw_score=True)

    def predict_proba(self, X) -> np.ndarray:
        cal = self.card["calibration"]
        return apply_platt(self.raw_score(X), cal["a"], cal["b"], tuple(self.card.get("clip", CLIP)))

    def contributions(self, X) -> np.ndarray:
        """Per-feature contributions to the raw score (TreeSHAP); the last column is the expected value."""
        return self.booster.predict(np.asarray(X, float), pred_contrib=True)

    @property
    def rows(self) -> str:
        """What one row is for this model: ``video`` or ``segment:K`` (:mod:`modeling.rows`)."""
        return self.card.get("rows", "video")

    def score_track(self, values: dict | None = None, features: dict | None = None) -> "TrackScore":
        """Score one face track from its raw per-frame ``values`` (or, for video-row models, its row).

        The track's raw score is the mean of its rows' raw scores, its contributions the mean of theirs
        (so ``expected + sum(contributions) == raw`` still holds), its shown values the mean of its rows.
        """
        from .rows import track_rows

        if self.rows == "video" and features is not None:
            rows = [features]
        elif values is not None:
            rows = track_rows(values, self.rows)
        else:
            raise ValueError(f"a {self.rows!r} model needs the track's per-frame values")
        X = self.matrix(rows)
        contrib = self.contributions(X).mean(axis=0)
        raw = float(self.raw_score(X).mean())
        cal = self.card["calibration"]
        prob = float(apply_platt([raw], cal["a"], cal["b"], tuple(self.card.get("clip", CLIP)))[0])
        with np.errstate(all="ignore"):
            shown = np.nanmean(X, axis=0) if len(X) > 1 else X[0]
        return TrackScore(raw, prob, contrib[:-1], float(contrib[-1]), shown, len(rows))


class TrackScore(NamedTuple):
    """One track's score (:meth:`DetectorModel.score_track`)."""

    raw: float  #: raw score (log-odds margin), the mean over the track's rows
    prob: float  #: calibrated P(fake)
    contrib: np.ndarray  #: (n_features,) mean contribution of each feature
    expected: float  #: expected value (TreeSHAP bias)
    values: np.ndarray  #: (n_features,) the track's feature values (mean over its rows)
    n_rows: int


# ----------------------------------------------------------------------------- training outputs

def _write_csv(path: str, header: list[str], rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _read_csv_columns(path: str) -> dict[str, list[str]]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return {}
        rows = list(reader)
    return {h: [r[i] if i < len(r) else "" for r in rows] for i, h in enumerate(header)}


def _floats(values) -> np.ndarray:
    out = np.empty(len(values), np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            out[i] = np.nan
    return out


def write_oof(model_dir: str, rows: list[dict]) -> None:
    """``oof.csv`` from training rows carrying ``_path, _label, _group, _method, _dataset, _variant,
    _fold, _raw, _prob``."""
    keys = ["_path", "_label", "_group", "_method", "_dataset", "_variant", "_fold", "_raw", "_prob"]
    _write_csv(os.path.join(model_dir, OOF_FILE), OOF_COLUMNS, ([r.get(k, "") for k in keys] for r in rows))


def write_training_table(model_dir: str, rows: list[dict], names: list[str]) -> None:
    """``features.csv``: the bookkeeping columns, then every feature in ``names`` order."""
    keys = ["_path", "_label", "_group", "_method", "_dataset", "_variant"]
    _write_csv(os.path.join(model_dir, TABLE_FILE), TABLE_META_COLUMNS + list(names),
               ([r.get(k, "") for k in keys] + [r.get(n, "") for n in names] for r in rows))


def read_oof(model_dir: str) -> dict:
    """``oof.csv`` as ``{column: array}`` (``label``, ``raw``, ``prob``, ``fold`` float; others str); {} if absent."""
    path = os.path.join(model_dir, OOF_FILE)
    if not os.path.isfile(path):
        return {}
    return {k: _floats(v) if k in ("label", "raw", "prob", "fold") else np.asarray(v, dtype=object)
            for k, v in _read_csv_columns(path).items()}


class TrainingTable(NamedTuple):
    """``features.csv`` read back in a model's column order."""

    meta: dict  #: bookkeeping column -> str array
    labels: np.ndarray  #: (n,) float
    X: np.ndarray  #: (n, n_features) float, in the requested order
    missing_columns: list  #: requested columns absent from the file


def read_training_table(model_dir: str, names: list[str]) -> TrainingTable | None:
    """``features.csv`` with its features in ``names`` order; None when the folder has none."""
    path = os.path.join(model_dir, TABLE_FILE)
    if not os.path.isfile(path):
        return None
    cols = _read_csv_columns(path)
    n = len(next(iter(cols.values()))) if cols else 0
    X = np.column_stack([_floats(cols[c]) if c in cols else np.full(n, np.nan) for c in names]) \
        if n and names else np.empty((n, len(names)))
    return TrainingTable({k: np.asarray(cols[k], dtype=object) for k in TABLE_META_COLUMNS if k in cols},
                         _floats(cols["label"]) if "label" in cols else np.full(n, np.nan), X,
                         [c for c in names if c not in cols])


class ModelFolder(NamedTuple):
    """Everything a model directory holds, read into memory."""

    model: DetectorModel
    oof: dict  #: :func:`read_oof`
    table: TrainingTable | None  #: :func:`read_training_table`


def load_model_folder(model_dir: str) -> ModelFolder:
    """The model, its out-of-fold scores and its training table."""
    model = DetectorModel.load(model_dir)
    return ModelFolder(model, read_oof(model_dir), read_training_table(model_dir, model.feature_names))
