"""Training: the feature matrix, grouped folds, grouped cross-validation of LightGBM.

Rows are feature dicts (``{column: value}`` plus bookkeeping keys starting
with ``_``); a video's rows, its fakes and its original share a group, and a
group never spans two folds.
"""
from __future__ import annotations

import numpy as np

from . import metrics
from .calibration import apply_platt, balanced_weights

__all__ = ["DEFAULT_PARAMS", "NUM_ROUNDS", "WEIGHTS", "feature_matrix", "grouped_folds", "fake_kind",
           "training_weights", "resolve_params", "final_model", "fold_models", "train_cv", "cv_report", "per_video",
           "FOLD_STRATA"]

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


def feature_matrix(rows: list[dict], names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Rows of ``{column: value}`` as a float matrix in ``names`` order (missing: NaN).

    With ``names=None`` the columns are every non-bookkeeping key, sorted.
    """
    if names is None:
        names = sorted({k for r in rows for k in r if not k.startswith("_")})
    X = np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64).reshape(-1, len(names))
    return X, list(names)


def grouped_folds(groups, labels, *, n_folds: int = 5, seed: int = 0, kinds=None) -> np.ndarray:
    """Fold number per row; every group lies in exactly one fold.

    Groups are shuffled (seeded), then each is placed in the fold that has the
    fewest rows of its majority stratum so far, which keeps both classes in each
    fold when the groups allow it. The strata are the labels; with ``kinds`` (each
    row's :func:`fake_kind`) the collected fakes are a stratum of their own, so the
    sources of collected fakes spread over the folds instead of sharing one. Without
    that, the two largest generators of the pool (AniTalker, EDTalk) fell in the
    same fold, and an expert of the collected fakes was scored out of fold only on
    generators held out together with their nearest kin, so the stacker gave it
    weight 0 (docs/paired-analysis.md section 6).
    """
    groups = np.asarray(groups)
    strata = np.asarray(labels).astype(int)
    if kinds is not None:
        strata = np.where(np.asarray(kinds, dtype=object) == "collected", 2, strata)
    uniq = np.unique(groups)
    n_folds = int(max(2, min(n_folds, len(uniq))))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    sizes = {g: (groups == g).sum() for g in uniq}
    order = sorted(order, key=lambda i: -sizes[uniq[i]])  # big groups first, ties in random order
    counts = np.zeros((n_folds, 3))
    fold_of = {}
    for i in order:
        g = uniq[i]
        m = strata[groups == g]
        n_per = np.bincount(m, minlength=3)
        if kinds is None:  # the label majority, a tie going to the fakes (as before kinds existed)
            cls = int(n_per[1] >= n_per[0])
        else:
            cls = int(2 - np.argmax(n_per[::-1]))  # ties go to the collected fakes, then the other fakes
        f = int(np.lexsort((counts.sum(1), counts[:, cls]))[0])
        fold_of[g] = f
        counts[f] += n_per
    return np.array([fold_of[g] for g in groups])


#: how :func:`train_cv` and :func:`modeling.stacking.stacked_cv` stratify their folds (``kinds`` given), as
#: the card's ``cv.fold_strata`` records it; a card without it used the labels alone
FOLD_STRATA = "labels, collected fakes apart"

#: row-weighting schemes of ``train.py --weights``
WEIGHTS = ("none", "kinds")


def fake_kind(row: dict) -> str:
    """``"real"``, a synthesis method (``selfblend``, ``swap``, ``generator``...), or ``"collected"`` for the
    fakes that came with the data (a generator's outputs, a dataset's deepfakes)."""
    from synthesis.variants import is_synthetic_fake, synthetic_method

    if row["_label"] == 0:
        return "real"
    return synthetic_method(row["_variant"]) if is_synthetic_fake(row["_variant"]) else "collected"


def training_weights(rows: list[dict], scheme: str = "none"):
    """Row weights for LightGBM (``None``: all 1).

    ``"kinds"``: the two classes weigh the same, and within the fakes each kind of :func:`fake_kind` does,
    so the collected fakes (e.g. 36 generator outputs) are not outweighed by several synthetic fakes per
    real video; the synthetic kinds otherwise teach mostly blend boundaries, and a generator's look is a
    different cue.
    """
    if scheme in (None, "none"):
        return None
    if scheme != "kinds":
        raise ValueError(f"unknown weighting {scheme!r} (choose from {', '.join(WEIGHTS)})")
    return balanced_weights(np.array([r["_label"] for r in rows]), [fake_kind(r) for r in rows])


def resolve_params(n_rows: int, seed: int, threads: int, overrides: dict | None = None) -> dict:
    """The complete LightGBM parameters for ``n_rows`` training rows: :data:`DEFAULT_PARAMS`, the seed and
    threads, a leaf size that scales with the rows, then ``overrides``."""
    p = dict(DEFAULT_PARAMS, seed=seed, num_threads=max(1, threads))
    p["min_data_in_leaf"] = int(max(2, min(20, n_rows // 20)))
    return dict(p, **(overrides or {}))


def train_cv(X: np.ndarray, y: np.ndarray, groups, *, feature_names, n_folds: int = 5, seed: int = 0,
             threads: int = 1, rounds: int = NUM_ROUNDS, params: dict | None = None, weights=None, kinds=None):
    """Grouped cross-validation, then a final model on all rows.

    ``params`` override :data:`DEFAULT_PARAMS`; ``weights`` (one per row, optional) weight the rows'
    losses; ``kinds`` (optional) spread the collected fakes' sources over the folds (:func:`grouped_folds`).
    Returns ``(booster, oof_raw, folds, params)``; ``oof_raw`` holds each row's margin from the
    model that did not see its group.
    """
    y = np.asarray(y, dtype=np.float64)
    folds = grouped_folds(groups, y, n_folds=n_folds, seed=seed, kinds=kinds)
    params = resolve_params(len(y), seed, threads, params)
    oof = np.full(len(y), np.nan)
    for f, b in fold_models(X, y, folds, feature_names=feature_names, params=params, rounds=rounds,
                            weights=weights).items():
        oof[folds == f] = b.predict(X[folds == f], raw_score=True)
    booster = final_model(X, y, feature_names=feature_names, params=params, rounds=rounds, weights=weights)
    return booster, oof, folds, params


def final_model(X: np.ndarray, y, *, feature_names, params: dict, rounds: int = NUM_ROUNDS, weights=None):
    """LightGBM trained on every row with ``params`` (complete: :func:`resolve_params`) and optional row
    ``weights``."""
    import lightgbm as lgb

    ds = lgb.Dataset(X, np.asarray(y, dtype=np.float64), weight=weights, feature_name=list(feature_names),
                     free_raw_data=False)
    return lgb.train(params, ds, num_boost_round=rounds)


def fold_models(X: np.ndarray, y: np.ndarray, folds, *, feature_names, params: dict,
                rounds: int = NUM_ROUNDS, weights=None) -> dict:
    """``{fold: booster}``: for each fold, LightGBM trained on every row outside it with ``params`` (complete,
    as :func:`train_cv` resolves them) and the rows' ``weights`` (optional). A fold whose complement lacks a
    class gets no model."""
    y = np.asarray(y, dtype=np.float64)
    folds = np.asarray(folds)
    out = {}
    for f in np.unique(folds):
        tr = folds != f
        if len(np.unique(y[tr])) < 2:
            continue
        out[int(f)] = final_model(X[tr], y[tr], feature_names=feature_names, params=params, rounds=rounds,
                                  weights=None if weights is None else np.asarray(weights, float)[tr])
    return out


def cv_report(y, oof_raw, a, b, methods, datasets, n_folds) -> dict:
    """Metrics of the calibrated out-of-fold predictions: overall, per dataset, per method against its reals."""
    ok = np.isfinite(oof_raw)
    rep = metrics.breakdown(np.asarray(y)[ok], apply_platt(oof_raw[ok], a, b),
                            methods=np.asarray(methods)[ok], datasets=np.asarray(datasets)[ok])
    rep["folds"] = int(n_folds)
    return rep


def per_video(rows: list[dict], raw, folds=None) -> list[dict]:
    """One entry per (video, variant): the bookkeeping of its rows and the mean of their raw scores.

    With segment rows (:mod:`modeling.rows`) this is how a track's score is formed from its segments';
    with video rows it is the identity. Order follows the first appearance of each (path, variant).
    """
    raw = np.asarray(raw, dtype=np.float64)
    out: dict = {}
    for i, r in enumerate(rows):
        key = (r["_path"], r["_variant"])
        if key not in out:
            out[key] = {k: v for k, v in r.items() if k.startswith("_") and k not in ("_segment",)}
            out[key]["_scores"] = []
            if folds is not None:
                out[key]["_fold"] = int(folds[i])
        out[key]["_scores"].append(raw[i])
    for v in out.values():
        s = np.asarray(v.pop("_scores"))
        v["_raw"] = float(np.mean(s)) if np.isfinite(s).all() else float("nan")
        v["_n_rows"] = int(s.size)
    return list(out.values())
