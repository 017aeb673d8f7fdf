"""The trained detector and its folder: the one place that reads and writes a model directory.

A model directory holds

``model.txt``
    the LightGBM booster in its text format (loading it executes no code);
``model_card.json``
    the card (:mod:`modeling.card`): features, frames, calibration, CV metrics,
    data sources and licences, library versions, the content hashes of the
    training videos, and ``integrity``: the SHA-256 of ``model.txt`` and of the
    feature list, checked at every load (a changed or swapped ``model.txt``, or an
    edited feature list, stops with :class:`ModelError`);
``oof.csv``
    from training: each training row's out-of-fold raw score and probability;
``features.csv``
    from training: the training table (bookkeeping columns, then the features).

Nothing is pickled, and nothing a user supplies is unpickled: the booster is
parsed from text, the card and the tables are JSON and CSV.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

import numpy as np

from .calibration import CLIP, apply_platt

__all__ = ["DetectorModel", "ModelError", "model_integrity", "TrackScore", "ModelFolder", "TrainingTable",
           "default_model_dir", "load_model_folder",
           "read_oof", "read_training_table", "write_oof", "write_training_table",
           "update_card", "MODEL_FILE", "CARD_FILE", "OOF_FILE", "TABLE_FILE", "OOF_COLUMNS", "TABLE_META_COLUMNS"]

MODEL_FILE, CARD_FILE, OOF_FILE, TABLE_FILE = "model.txt", "model_card.json", "oof.csv", "features.csv"
#: columns of ``oof.csv``
OOF_COLUMNS = ["filename", "label", "group", "method", "dataset", "variant", "fold", "raw", "prob"]
#: bookkeeping columns that lead ``features.csv``
TABLE_META_COLUMNS = ["filename", "label", "group", "method", "dataset", "variant"]


#: card fields no use of a model folder can do without (scoring videos also needs ``calculators`` and ``frames``)
REQUIRED_CARD_FIELDS = ("features", "calibration")


class ModelError(ValueError):
    """A model folder that cannot be used: missing, incomplete, damaged, tampered with or inconsistent."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: card entries, besides the trees and the feature list, that change the score ``predict.py`` gives a video:
#: how it samples and extracts (``frames``, ``dense``, ``stride``, ``calculators``), forms track scores from rows
#: (``rows``), calibrates them (``calibration``, ``clip``) and splits a stacked model into its experts
#: (``training.stacker``, ``params.num_boost_round``)
SCORING_FIELDS = ("frames", "dense", "stride", "rows", "calculators", "calibration", "clip", "training.stacker",
                  "params.num_boost_round")


def _card_value(card: dict, dotted: str):
    v = card
    for part in dotted.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def _canonical(value) -> bytes:
    """JSON of ``value`` as the card file holds it (through one save and load), keys sorted."""
    return json.dumps(json.loads(json.dumps(value, default=float)), sort_keys=True).encode("utf-8")


def model_integrity(model_text: bytes, features: list[str], card: dict | None = None) -> dict:
    """The card's ``integrity`` block: SHA-256 of ``model.txt``'s bytes, of the feature list (one per line) and,
    given the ``card``, of each of its :data:`SCORING_FIELDS` (``scoring``)."""
    out = {"algorithm": "sha256", "model_txt": _sha256(model_text),
           "features": _sha256("\n".join(features).encode("utf-8")), "n_features": len(features)}
    if card is not None:
        out["scoring"] = {f: _sha256(_canonical(_card_value(card, f))) for f in SCORING_FIELDS}
    return out


def _text_feature_names(text: bytes) -> list[str] | None:
    """The ``feature_names=`` line of a LightGBM text model (None when there is none)."""
    k = text.find(b"\nfeature_names=")
    if k < 0:
        return None
    end = text.find(b"\n", k + 1)
    try:
        return text[k + len(b"\nfeature_names="):end if end > 0 else None].decode("utf-8").split()
    except UnicodeDecodeError:
        return None


def default_model_dir() -> str:
    """The shipped default model, inside the installed package."""
    return str(resources.files("modeling") / "default_model")


@dataclass
class DetectorModel:
    """A trained model: the LightGBM booster plus its card."""

    booster: object
    card: dict
    #: True when the card records no hash of model.txt (saved before integrity checks existed)
    unverified: bool = False

    @property
    def feature_names(self) -> list[str]:
        return list(self.card["features"])

    @staticmethod
    def read_checked(model_dir: str | None = None) -> tuple[dict, bytes, bool]:
        """``(card, model.txt bytes, unverified)`` of a model folder after every check that needs no LightGBM.

        Raises :class:`ModelError` (one line, saying what is wrong) for a missing or incomplete folder, a card
        that is not JSON or lacks :data:`REQUIRED_CARD_FIELDS`, a ``model.txt``, feature list or scoring setting
        (:data:`SCORING_FIELDS`) whose hash differs from the card's ``integrity`` block, or a ``model.txt`` that
        names other features. A card without ``integrity`` (saved before it existed) passes with ``unverified``
        True; one whose ``integrity`` predates the scoring hashes is checked on the rest.
        """
        model_dir = str(model_dir or default_model_dir())
        if not os.path.exists(model_dir):
            raise ModelError(f"no such model folder: {model_dir}")
        if not os.path.isdir(model_dir):
            raise ModelError(f"{model_dir}: a model is a folder (with {MODEL_FILE} and {CARD_FILE}), not a file")
        txt = os.path.join(model_dir, MODEL_FILE)
        card_path = os.path.join(model_dir, CARD_FILE)
        missing = [n for n, p in ((MODEL_FILE, txt), (CARD_FILE, card_path)) if not os.path.isfile(p)]
        if missing:
            raise ModelError(f"{model_dir}: not a model folder (missing {' and '.join(missing)}; train.py -o writes "
                             "one)")
        try:
            with open(card_path, encoding="utf-8") as f:
                card = json.load(f)
            with open(txt, "rb") as f:
                text = f.read()
        except (ValueError, UnicodeDecodeError) as e:
            raise ModelError(f"{card_path} is not valid JSON ({e})") from None
        except OSError as e:
            raise ModelError(f"{model_dir}: cannot read the model ({e.strerror or e})") from None
        if not isinstance(card, dict):
            raise ModelError(f"{card_path} is not a model card (a JSON object is expected)")
        lacking = [k for k in REQUIRED_CARD_FIELDS if k not in card]
        if lacking:
            raise ModelError(f"{card_path} lacks {', '.join(lacking)}: not a card written by train.py")
        if not (isinstance(card["features"], list) and all(isinstance(x, str) for x in card["features"])):
            raise ModelError(f"{card_path}: 'features' must be a list of column names")
        integrity = card.get("integrity")
        if integrity:
            want = model_integrity(text, card["features"])
            if integrity.get("model_txt") != want["model_txt"]:
                raise ModelError(f"{txt} does not match its card: its SHA-256 is {want['model_txt'][:16]}..., the card "
                                 f"records {str(integrity.get('model_txt'))[:16]}... (the file was changed, or comes "
                                 "from another model); restore it or retrain")
            if integrity.get("features") != want["features"]:
                raise ModelError(f"{card_path}: the feature list was changed after training (its hash differs from "
                                 "the one recorded at save time)")
            recorded = integrity.get("scoring") or {}  # cards saved before it existed have none
            edited = [f for f, h in recorded.items() if h != _sha256(_canonical(_card_value(card, f)))]
            if edited:
                raise ModelError(f"{card_path}: {', '.join(edited)} changed after training (the card records their "
                                 "hashes because they change every score); restore the card or retrain")
        named = _text_feature_names(text)
        if named is not None and named != card["features"]:
            raise ModelError(f"{model_dir}: {MODEL_FILE} and {CARD_FILE} list different features (they come from "
                             "different models)")
        return card, text, not integrity

    @classmethod
    def load(cls, model_dir: str | None = None) -> "DetectorModel":
        """Read a model folder (:meth:`read_checked`); the booster is parsed from the very bytes whose hash was
        checked. :class:`ModelError` for anything unusable."""
        import lightgbm as lgb

        card, text, unverified = cls.read_checked(model_dir)
        try:
            booster = lgb.Booster(model_str=text.decode("utf-8"))
        except Exception as e:  # noqa: BLE001 - LightGBM's own error for a damaged file
            raise ModelError(f"{os.path.join(str(model_dir or default_model_dir()), MODEL_FILE)} is not a readable "
                             f"LightGBM text model ({str(e).strip()[:200]})") from None
        if booster.feature_name() != card["features"]:
            raise ModelError(f"{model_dir}: {MODEL_FILE} and {CARD_FILE} list different features (they come from "
                             "different models)")
        model = cls(booster, card)
        model.unverified = unverified
        return model

    def save(self, model_dir: str) -> None:
        """Write ``model.txt``, then the card with the hash of exactly those bytes (``integrity``)."""
        os.makedirs(model_dir, exist_ok=True)
        text = self.booster.model_to_string().encode("utf-8")
        with open(os.path.join(model_dir, MODEL_FILE), "wb") as f:
            f.write(text)
        self.card["integrity"] = model_integrity(text, self.feature_names, self.card)
        with open(os.path.join(model_dir, CARD_FILE), "w") as f:
            json.dump(self.card, f, indent=2, sort_keys=False, default=float)

    def matrix(self, rows: list[dict]) -> np.ndarray:
        """Rows of ``{column: value}`` as the model's input matrix (missing columns are NaN)."""
        from .training import feature_matrix

        return feature_matrix(rows, self.feature_names)[0]

    def raw_score(self, X) -> np.ndarray:
        return self.booster.predict(np.asarray(X, float), raw_score=True)

    def calibrate(self, raw) -> np.ndarray:
        """Calibrated, clipped P(fake) of raw scores (the card's Platt parameters and clip)."""
        cal = self.card["calibration"]
        return apply_platt(raw, cal["a"], cal["b"], tuple(self.card.get("clip", CLIP)))

    def predict_proba(self, X) -> np.ndarray:
        return self.calibrate(self.raw_score(X))

    def score_videos(self, rows: list[dict], raw=None) -> list[dict]:
        """One entry per (video, variant) of feature ``rows`` (:func:`modeling.training.per_video`: the mean raw
        score of its rows) with its calibrated ``_prob``: how ``train.py --eval-data`` and the benches score.

        ``raw``: the rows' raw scores when they come from elsewhere (out-of-fold models of this model's
        cross-validation); by default this model's own."""
        from .training import per_video

        if not rows:
            return []
        videos = per_video(rows, self.raw_score(self.matrix(rows)) if raw is None else raw)
        for v, p in zip(videos, self.calibrate([v["_raw"] for v in videos])):
            v["_prob"] = float(p)
        return videos

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
        experts = self.expert_scores(X)
        prob = float(self.calibrate([raw])[0])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column missing in every segment stays NaN
            shown = np.nanmean(X, axis=0) if len(X) > 1 else X[0]
        return TrackScore(raw, prob, contrib[:-1], float(contrib[-1]), shown, len(rows),
                          None if experts is None else {k: float(np.mean(v)) for k, v in experts.items()})

    def expert_scores(self, X) -> dict | None:
        """For a stacked model, ``{expert: weighted raw score per row}`` plus ``"intercept"`` (they add up to
        :meth:`raw_score`): the merged model holds each expert's trees in turn, ``num_boost_round`` each, the
        intercept in the very first tree; an adapted model (:mod:`modeling.adapt`) records each expert's tree
        count in the stacker's ``rounds``. None for a single model."""
        st = (self.card.get("training") or {}).get("stacker")
        if not st:
            return None
        X = np.asarray(X, float)
        rounds = [int(r) for r in st.get("rounds") or [self.card["params"]["num_boost_round"]] * len(st["experts"])]
        starts = np.r_[0, np.cumsum(rounds)[:-1]]
        out = {e: self.booster.predict(X, raw_score=True, start_iteration=int(s), num_iteration=r)
               for e, s, r in zip(st["experts"], starts, rounds)}
        out[st["experts"][0]] = out[st["experts"][0]] - st["intercept"]
        out["intercept"] = np.full(len(X), float(st["intercept"]))
        return out


class TrackScore(NamedTuple):
    """One track's score (:meth:`DetectorModel.score_track`)."""

    raw: float  #: raw score (log-odds margin), the mean over the track's rows
    prob: float  #: calibrated P(fake)
    contrib: np.ndarray  #: (n_features,) mean contribution of each feature
    expected: float  #: expected value (TreeSHAP bias)
    values: np.ndarray  #: (n_features,) the track's feature values (mean over its rows)
    n_rows: int
    #: stacked models (``train.py --stack``): each expert's weighted share of ``raw`` (mean over the rows), in
    #: model order, plus ``"intercept"``; they add up to ``raw``. None for a single model.
    experts: dict | None = None


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


def update_card(model_dir: str, section: str, values: dict) -> None:
    """Merge ``values`` into the card's ``section`` in place (what benches add after training, e.g.
    ``robustness``); other entries of the section are kept. A section that holds a scoring setting
    (:data:`SCORING_FIELDS`) is refused: changing one means retraining, and the card's integrity hashes say so."""
    if any(f.split(".")[0] == section for f in SCORING_FIELDS):
        raise ValueError(f"{section!r} holds settings that change every score; retrain instead of editing the card")
    path = os.path.join(model_dir, CARD_FILE)
    with open(path) as f:
        card = json.load(f)
    card.setdefault(section, {}).update(values)
    with open(path, "w") as f:
        json.dump(card, f, indent=2, default=float)


def write_oof(model_dir: str, rows: list[dict]) -> None:
    """``oof.csv`` from training rows carrying ``_path, _label, _group, _method, _dataset, _variant,
    _fold, _raw, _prob``."""
    keys = ["_path", "_label", "_group", "_method", "_dataset", "_variant", "_fold", "_raw", "_prob"]
    _write_csv(os.path.join(model_dir, OOF_FILE), OOF_COLUMNS, ([r.get(k, "") for k in keys] for r in rows))


def write_training_table(model_dir: str, rows: list[dict], names: list[str]) -> None:
    """``features.csv``: the bookkeeping columns, then every feature in ``names`` order."""
    keys = ["_path", "_label", "_group", "_method", "_dataset", "_variant"]

    def value(v):  # 7 significant digits: float32 precision, half the characters of repr
        return f"{v:.7g}" if isinstance(v, float) else v

    _write_csv(os.path.join(model_dir, TABLE_FILE), TABLE_META_COLUMNS + list(names),
               ([r.get(k, "") for k in keys] + [value(r.get(n, "")) for n in names] for r in rows))


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
