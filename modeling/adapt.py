"""Adapting a trained model to a user's own fakes: a few regularised trees continued from the base's margin.

A newsroom that has caught a handful of fakes of one kind has neither the base model's training data nor a
GPU. ``train.py --adapt-from BASE --data MY_CLIPS -o NEW`` keeps everything the base knows and adds an
*adapter*: a small LightGBM (:data:`ADAPTER_PARAMS`, :data:`ADAPTER_ROUNDS`, fixed beforehand, not tuned on
any evaluation data) boosted from the base's calibrated log-odds of each row (LightGBM ``init_score``), so
it only learns what the base gets wrong on the user's clips. Two things keep it from forgetting:

* its trees are few, shallow, shrunk and need many rows per leaf;
* it rehearses on the base folder's own ``features.csv`` sample (the rows that already ship with every model
  folder for explanations, with their labels and the base's margin): a split that would move the base's
  training rows is paid for in their loss, so the adapter is pushed to change only what the user's clips ask.

The adapted model is an ordinary model folder (:mod:`modeling.detector`): the base's trees and the adapter's
trees, the latter scaled by ``1 / a`` (``a`` the base's Platt slope) and merged into one text model by
:func:`modeling.stacking.merge_experts`, so that ``a * raw + b`` is exactly the base's calibrated log-odds
plus the adapter's. The base's features, frames, rows and calibration are kept; the card's
``training.stacker`` lists the base's experts and ``adapter`` with each one's tree count, so explanations show
the base and the adapter apart (:meth:`modeling.detector.DetectorModel.expert_scores`), and the card's
``adaptation`` block names the base (the SHA-256 of its ``model.txt``), the adaptation data's sources and
licences, and these settings.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

__all__ = ["ADAPTER_PARAMS", "ADAPTER_ROUNDS", "AdaptError", "check_adaptation_data", "base_stacker",
           "fit_adapter", "adapt_model", "adapted_card", "anchor_rows", "adapter_cv", "MIN_PER_CLASS_ADVISED"]

#: LightGBM settings of the adapter, fixed a priori: depth-2 trees (a threshold and one refinement, enough for
#: "smoother than usual" rules), strong shrinkage and L2, a leaf needs a tenth of the rows
#: (:func:`fit_adapter` sets ``min_data_in_leaf``), half the columns per tree so no single chance column of a
#: handful of clips carries it
ADAPTER_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 4,
    "max_depth": 2,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "min_sum_hessian_in_leaf": 1e-3,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}
#: boosting rounds of the adapter
ADAPTER_ROUNDS = 40
#: below this many clips of a class the adapter is still trained, with a warning that it rests on very little
MIN_PER_CLASS_ADVISED = 5


class AdaptError(ValueError):
    """Adaptation data that cannot teach an adapter (one line, saying what to add)."""


def check_adaptation_data(labels, paths=None) -> list[str]:
    """Refuse data with no REAL or no FAKE clip (:class:`AdaptError`); return warnings for too few.

    ``labels``: one per clip (0/1). An adapter taught fakes without any real clip of the same footage can only
    learn "this kind of footage is fake", which is the shortcut it must not learn.
    """
    y = np.asarray(labels, int)
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    if n_fake == 0:
        raise AdaptError(f"the adaptation data has {n_real} REAL clip(s) and no FAKE clip: give the fakes you want "
                         "the model to learn (a fake/ folder, or label FAKE in a CSV)")
    if n_real == 0:
        raise AdaptError(f"the adaptation data has {n_fake} FAKE clip(s) and no REAL clip: add at least one real "
                         "clip of the same footage (the fakes' own originals, or other real clips from the same "
                         "camera, platform or app), or the adapter would learn that this kind of footage is fake")
    out = []
    if min(n_real, n_fake) < MIN_PER_CLASS_ADVISED:
        out.append(f"only {n_real} REAL and {n_fake} FAKE clip(s): the adapter is kept small, but with fewer than "
                   f"{MIN_PER_CLASS_ADVISED} of each it rests on very little; check it on clips it did not see")
    return out


def base_stacker(card: dict, booster) -> dict:
    """The base model's experts as an adapted model's stacker starts them: ``{"experts", "coef", "intercept",
    "rounds"}`` (a single model is one expert, ``base``)."""
    st = (card.get("training") or {}).get("stacker")
    if not st:
        return {"experts": ["base"], "coef": [1.0], "intercept": 0.0, "rounds": [int(booster.num_trees())]}
    rounds = st.get("rounds") or [int(card["params"]["num_boost_round"])] * len(st["experts"])
    return {"experts": list(st["experts"]), "coef": [float(c) for c in st["coef"]],
            "intercept": float(st["intercept"]), "rounds": [int(r) for r in rounds]}


def anchor_rows(base_dir: str, names) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of the base folder's training-table sample (``features.csv``) in ``names`` order; empty
    arrays when the folder has none or its labels are missing."""
    from .detector import read_training_table

    t = read_training_table(base_dir, list(names))
    if t is None or t.missing_columns or not len(t.labels):
        return np.empty((0, len(names))), np.empty(0)
    ok = np.isfinite(t.labels)
    return t.X[ok], t.labels[ok]


def _weights(y, clips, anchor_y) -> np.ndarray:
    """Row weights: each adaptation clip weighs alike within its class, both classes alike, and the anchors
    together as much as the adaptation rows (each anchor class half of that); mean 1."""
    y, clips = np.asarray(y, float), np.asarray(clips, dtype=object)
    w = np.empty(len(y))
    for cls in (0, 1):
        sel = np.where(y == cls)[0]
        for c in set(clips[sel]):
            rows = sel[clips[sel] == c]
            w[rows] = 1.0 / (len(rows) * len(set(clips[sel])))
    w *= 0.5  # each class half of 1
    if len(anchor_y):
        a = np.empty(len(anchor_y))
        for cls in (0, 1):
            m = anchor_y == cls
            a[m] = 0.5 / max(1, m.sum()) if (anchor_y == 1 - cls).any() else 1.0 / max(1, m.sum())
        w = np.r_[w, a]
    return w / w.mean()


def fit_adapter(X, y, init, *, clips, feature_names, anchors=None, seed: int = 0, threads: int = 1,
                rounds: int = ADAPTER_ROUNDS, params: dict | None = None):
    """The adapter: LightGBM boosted from ``init`` (each row's base calibrated log-odds) on the adaptation rows
    ``X, y`` (``clips``: each row's clip, for the weights) plus ``anchors`` ``(X, y, init)`` rehearsal rows.
    Returns ``(booster, params)``; the booster's margin is the log-odds *added* to ``init``."""
    import lightgbm as lgb

    X, y, init = np.asarray(X, float), np.asarray(y, float), np.asarray(init, float)
    ax, ay, ai = anchors if anchors is not None else (np.empty((0, X.shape[1])), np.empty(0), np.empty(0))
    w = _weights(y, clips, np.asarray(ay, float))
    n_adapt = len(y)
    p = dict(ADAPTER_PARAMS, seed=seed, num_threads=max(1, threads),
             min_data_in_leaf=int(max(3, n_adapt // 10)), **(params or {}))
    ds = lgb.Dataset(np.r_[X, ax], np.r_[y, ay], weight=w, init_score=np.r_[init, ai],
                     feature_name=list(feature_names), free_raw_data=False)
    return lgb.train(p, ds, num_boost_round=rounds), p


def adapt_model(base, X, y, *, clips, anchors=None, seed: int = 0, threads: int = 1):
    """``(booster, stacker, params)`` of the adapted model: ``base`` (a :class:`DetectorModel`) plus an adapter
    fitted on rows ``X, y`` (``clips``: each row's clip). ``anchors``: ``(X, y)`` rehearsal rows, or None."""
    from .stacking import merge_experts

    a, b = float(base.card["calibration"]["a"]), float(base.card["calibration"]["b"])
    init = a * base.raw_score(X) + b
    anc = None
    if anchors is not None and len(anchors[1]):
        anc = (anchors[0], anchors[1], a * base.raw_score(anchors[0]) + b)
    adapter, params = fit_adapter(X, y, init, clips=clips, feature_names=base.feature_names, anchors=anc, seed=seed,
                                  threads=threads)
    st = base_stacker(base.card, base.booster)
    booster = merge_experts([base.booster, adapter], [1.0, 1.0 / a], 0.0)
    st = {"experts": st["experts"] + ["adapter"], "coef": st["coef"] + [1.0 / a], "intercept": st["intercept"],
          "rounds": st["rounds"] + [int(adapter.num_trees())]}
    return booster, st, params


def adapter_cv(base, X, y, *, clips, groups, anchors=None, seed: int = 0, threads: int = 1) -> np.ndarray | None:
    """Leave-one-group-out raw scores of the adaptation rows (each group's rows scored by an adapted model that
    did not see it); None when there are fewer than 3 groups or a left-out group's complement lacks a class."""
    groups, y = np.asarray(groups, dtype=object), np.asarray(y, float)
    uniq = list(dict.fromkeys(groups))
    if len(uniq) < 3:
        return None
    out = np.full(len(y), np.nan)
    for g in uniq:
        te = groups == g
        if len(np.unique(y[~te])) < 2:
            return None
        booster, _, _ = adapt_model(base, X[~te], y[~te], clips=np.asarray(clips, dtype=object)[~te],
                                    anchors=anchors, seed=seed, threads=threads)
        out[te] = booster.predict(X[te], raw_score=True)
    return out


def adapted_card(base_card: dict, base_model_txt: bytes, *, base_dir: str, name: str, stacker: dict, params: dict,
                 command: str, sources: list, records, cv: dict, n_rows: int, n_fake_rows: int, n_anchor_rows: int,
                 content_hashes, extract_seconds: float, notes: str = "") -> dict:
    """The adapted model's card: the base's features and scoring settings (frames, dense, rows, calculators,
    stride, calibration, clip), the base's training record under ``base``, and ``adaptation``: the base's hash, the
    adaptation data's sources and licences and the adapter's settings."""
    import datetime

    from .card import HASH_NOTE, library_versions

    keep = ("features", "feature_set", "calculators", "frames", "dense", "stride", "rows", "calibration", "clip",
            "feature_ranges")
    card = {"name": name, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    card.update({k: base_card[k] for k in keep if k in base_card})
    base_training = dict(base_card.get("training") or {})
    card["cv"] = cv
    card["training"] = {"command": command, "adapted_from": os.path.normpath(base_dir), "n_rows": int(n_rows),
                        "n_videos": len(records), "n_fake_rows": int(n_fake_rows), "rows": base_card.get("rows", "video"),
                        "stacker": stacker, "extract_seconds": round(float(extract_seconds), 1),
                        "base_command": base_training.get("command")}
    card["data_sources"] = [dict(s, role="base model training") for s in base_card.get("data_sources") or []] + \
                           [dict(s, role="adaptation") for s in sources]
    card["params"] = dict(base_card.get("params") or {})
    card["adaptation"] = {
        "base_model": {"name": base_card.get("name"), "path": os.path.normpath(base_dir),
                       "model_txt_sha256": hashlib.sha256(base_model_txt).hexdigest(),
                       "card_created": base_card.get("created"),
                       "integrity": base_card.get("integrity")},
        "method": "LightGBM continued from the base's calibrated log-odds (init_score); the adapter's trees "
                  "scaled by 1/a and appended to the base's in one text model; the base's calibration kept",
        "adapter_params": {k: v for k, v in params.items() if k not in ("num_threads",)},
        "adapter_rounds": int(stacker["rounds"][-1]),
        "rehearsal_rows": int(n_anchor_rows),
        "rehearsal": "the base folder's features.csv sample with its labels and the base's margin, weighing as "
                     "much as the adaptation rows" if n_anchor_rows else "none (the base folder has no "
                                                                         "features.csv)",
        "data_sources": sources,
        "n_clips": {"REAL": sum(1 for r in records if r.label == 0),
                    "FAKE": sum(1 for r in records if r.label == 1)},
        "base_cv": base_card.get("cv"),
    }
    card["library_versions"] = library_versions()
    card["notes"] = notes
    hashes = set((base_card.get("training_videos") or {}).get("content_hashes") or []) | set(content_hashes)
    card["training_videos"] = {"hash": HASH_NOTE, "content_hashes": sorted(hashes)}
    return card
