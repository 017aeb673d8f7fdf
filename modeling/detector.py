"""The classifier: LightGBM over per-video feature rows, grouped CV, Platt calibration.

A model directory holds ``model.txt`` (LightGBM's text format, loaded without
executing code), ``model_card.json`` (features, frames, calibration, CV
metrics, data sources and licences, library versions), and, from training,
``oof.csv`` (out-of-fold scores) and ``features.csv`` (the training table).
Nothing is pickled.
"""
from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from importlib import resources

import numpy as np

from . import metrics

__all__ = ["DetectorModel", "grouped_folds", "fit_platt", "apply_platt", "train_cv", "default_model_dir",
           "DEFAULT_PARAMS"]

#: P(fake) is clipped to this range (DFDC practice: one confident mistake costs at most -log(0.01))
CLIP = (0.01, 0.99)

DEFAULT_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 5,
    "min_data_in_leaf": 5,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 0,
}
NUM_ROUNDS = 200


def default_model_dir() -> str:
    """The shipped default model, inside the installed package."""
    return str(resources.files("modeling") / "default_model")


def grouped_folds(groups, labels, *, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number per row; every group lies in exactly one fold.

    Groups are shuffled (seeded), then each is placed in the fold that has the
    fewest rows of its majority label so far, which keeps both classes in each
    fold when the groups allow it.
    """
    groups = np.asarray(groups)
    labels = np.asarray(labels)
    uniq = np.unique(groups)
    n_folds = int(max(2, min(n_folds, len(uniq))))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    sizes = {g: (groups == g).sum() for g in uniq}
    order = sorted(order, key=lambda i: -sizes[uniq[i]])  # big groups first, ties in random order
    counts = np.zeros((n_folds, 2))
    fold_of = {}
    for i in order:
        g = uniq[i]
        m = labels[groups == g]
        fake_share = m.mean() if m.size else 0.5
        cls = int(fake_share >= 0.5)
        f = int(np.lexsort((counts.sum(1), counts[:, cls]))[0])
        fold_of[g] = f
        counts[f, 1] += m.sum()
        counts[f, 0] += m.size - m.sum()
    return np.array([fold_of[g] for g in groups])


def fit_platt(raw, y) -> tuple[float, float]:
    """Platt scaling: ``P = sigmoid(a * raw + b)`` fitted by regularised log loss.

    Uses Platt's target smoothing ((n+ + 1)/(n+ + 2), 1/(n- + 2)) so that tiny
    training sets do not give infinite slopes.
    """
    from scipy.optimize import minimize

    raw = np.asarray(raw, float)
    y = np.asarray(y, float)
    n_pos, n_neg = y.sum(), y.size - y.sum()
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(ab):
        z = ab[0] * raw + ab[1]
        return float(np.sum(np.logaddexp(0, z) - t * z))

    res = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def apply_platt(raw, a: float, b: float, clip=CLIP) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-(a * np.asarray(raw, float) + b)))
    return np.clip(p, *clip)


def _params(n_rows: int, seed: int, threads: int) -> dict:
    p = dict(DEFAULT_PARAMS, seed=seed, num_threads=max(1, threads))
    p["min_data_in_leaf"] = int(max(2, min(20, n_rows // 20)))
    return p


def train_cv(X: np.ndarray, y: np.ndarray, groups, *, feature_names, n_folds: int = 5, seed: int = 0,
             threads: int = 1, rounds: int = NUM_ROUNDS):
    """Grouped cross-validation, then a final model on all rows.

    Returns ``(booster, oof_raw, folds, params)``; ``oof_raw`` holds each row's
    margin from the model that did not see its group.
    """
    import lightgbm as lgb

    y = np.asarray(y, dtype=np.float64)
    folds = grouped_folds(groups, y, n_folds=n_folds, seed=seed)
    params = _params(len(y), seed, threads)
    oof = np.full(len(y), np.nan)
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        if len(np.unique(y[tr])) < 2:
            continue
        ds = lgb.Dataset(X[tr], y[tr], feature_name=list(feature_names), free_raw_data=False)
        b = lgb.train(params, ds, num_boost_round=rounds)
        oof[te] = b.predict(X[te], raw_score=True)
    ds = lgb.Dataset(X, y, feature_name=list(feature_names), free_raw_data=False)
    booster = lgb.train(params, ds, num_boost_round=rounds)
    return booster, oof, folds, params


def library_versions() -> dict:
    import cv2
    import lightgbm
    import pywt
    import scipy
    import skimage

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "opencv": cv2.__version__, "lightgbm": lightgbm.__version__, "pywavelets": pywt.__version__,
            "scikit-image": skimage.__version__}


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
        txt = os.path.join(model_dir, "model.txt")
        card_path = os.path.join(model_dir, "model_card.json")
        if not (os.path.isfile(txt) and os.path.isfile(card_path)):
            raise FileNotFoundError(f"{model_dir}: a model directory needs model.txt and model_card.json")
        with open(card_path) as f:
            card = json.load(f)
        booster = lgb.Booster(model_file=txt)
        if booster.feature_name() != card["features"]:
            raise ValueError(f"{model_dir}: model.txt and model_card.json list different features")
        return cls(booster, card)

    def save(self, model_dir: str) -> None:
        os.makedirs(model_dir, exist_ok=True)
        self.booster.save_model(os.path.join(model_dir, "model.txt"))
        with open(os.path.join(model_dir, "model_card.json"), "w") as f:
            json.dump(self.card, f, indent=2, sort_keys=False, default=float)

    def matrix(self, rows: list[dict]) -> np.ndarray:
        """Rows of ``{column: value}`` as the model's input matrix (missing columns are NaN)."""
        names = self.feature_names
        return np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64).reshape(-1, len(names))

    def raw_score(self, X) -> np.ndarray:
        return self.booster.predict(np.asarray(X, float), raw_score=True)

    def predict_proba(self, X) -> np.ndarray:
        cal = self.card["calibration"]
        return apply_platt(self.raw_score(X), cal["a"], cal["b"], tuple(self.card.get("clip", CLIP)))

    def contributions(self, X) -> np.ndarray:
        """Per-feature contributions to the raw score (TreeSHAP); the last column is the expected value."""
        return self.booster.predict(np.asarray(X, float), pred_contrib=True)


def cv_report(y, oof_raw, a, b, methods, datasets, n_folds) -> dict:
    """Metrics of the calibrated out-of-fold predictions, overall and per method and dataset."""
    ok = np.isfinite(oof_raw)
    p = apply_platt(oof_raw[ok], a, b)
    y = np.asarray(y)[ok]
    rep = metrics.summary(y, p)
    rep["folds"] = int(n_folds)
    methods = np.asarray(methods)[ok]
    datasets = np.asarray(datasets)[ok]
    for key, col in (("per_method", methods), ("per_dataset", datasets)):
        rep[key] = {}
        for m in sorted(set(col)):
            sel = col == m
            rep[key][m or "?"] = metrics.summary(y[sel], p[sel])
    # each fake method against the reals of the same dataset(s): the like-with-like AUC
    rep["per_method_vs_real"] = {}
    for m in sorted(set(methods[y == 1])):
        sel_f = (methods == m) & (y == 1)
        ds = set(datasets[sel_f])
        sel = sel_f | ((y == 0) & np.isin(datasets, list(ds)))
        rep["per_method_vs_real"][m or "?"] = metrics.summary(y[sel], p[sel])
    return rep
