"""Family experts: one LightGBM per feature family, combined by a non-negative logistic stacker.

One model over every column learns whatever separates most of its training fakes, which in this pool are
synthetic blends: blend-boundary columns explain them, and a cue that only the few real generator outputs
carry (their temporal behaviour) is left unused and does not transfer to the next generator. An expert per
family has to find its own family's evidence; a stacker then weighs the experts by their out-of-fold margins
(stacked generalisation: D. Wolpert, "Stacked generalization", Neural Networks 5, 1992; non-negative
weights as in L. Breiman, "Stacked regressions", Machine Learning 24, 1996), so that each family can only
vote in the direction it learned.

The combination is stored as one ordinary LightGBM text model: the experts' trees, each tree's leaf values
multiplied by its expert's weight, the intercept added to the first tree. Its margin is exactly
``intercept + sum_f weight_f * margin_f``, its TreeSHAP contributions are the experts' scaled by their
weights, and loading it executes no code, like any other model file.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

__all__ = ["STACK_BALANCE", "Stacker", "family_columns", "expert_columns", "expert_rows", "only_columns", "fit_stacker",
           "merge_experts", "stacked_cv", "stacked_fold_models"]


class Stacker(NamedTuple):
    """The experts (in model order: ``all`` or a family name each), their weights and the intercept, as the
    card stores them."""
    experts: list
    coef: list
    intercept: float

    def to_dict(self) -> dict:
        return {"experts": list(self.experts), "coef": [float(c) for c in self.coef],
                "intercept": float(self.intercept)}

    @classmethod
    def from_dict(cls, d: dict) -> "Stacker":
        return cls(list(d["experts"]), [float(c) for c in d["coef"]], float(d["intercept"]))


def family_columns(names) -> dict:
    """``{family: [column index, ...]}`` in the order families first appear."""
    from features.registry import family_of

    out: dict = {}
    for j, n in enumerate(names):
        out.setdefault(family_of(n), []).append(j)
    return out


def expert_columns(names, spec: str = "families") -> dict:
    """``{expert: [column index, ...]}``: ``"families"`` gives one expert per family; otherwise ``spec`` lists
    experts, each ``all`` (every column) or a family name, optionally with ``@collected`` (trained on the
    reals and the collected fakes only, no synthetic ones), e.g. ``"all,temporal@collected"``: a model on
    everything plus a temporal expert whose only target is the real generators' output."""
    fams = family_columns(names)
    if spec == "families":
        return fams
    out = {}
    for e in [e.strip() for e in spec.split(",") if e.strip()]:
        base, _, rows = e.partition("@")
        if base != "all" and base not in fams:
            raise ValueError(f"expert {e!r}: no such family among the columns ({', '.join(fams)})")
        if rows not in ("", "collected"):
            raise ValueError(f"expert {e!r}: the only row filter is @collected")
        out[e] = list(range(len(names))) if base == "all" else fams[base]
    if len(out) < 2:
        raise ValueError(f"stacking needs two experts or more, got {spec!r}")
    return out


def expert_rows(experts, kinds) -> list:
    """Per expert, a boolean mask of the rows it trains on (``None``: all rows). ``kinds``: each row's
    :func:`modeling.training.fake_kind`."""
    out = []
    for e in experts:
        if e.endswith("@collected"):
            if kinds is None:
                raise ValueError(f"expert {e!r} needs each row's kind of fake")
            out.append(np.isin(np.asarray(kinds, dtype=object), ["real", "collected"]))
        else:
            out.append(None)
    return out


def only_columns(X: np.ndarray, cols) -> np.ndarray:
    """A copy of ``X`` with every column outside ``cols`` set to 0: LightGBM cannot split on a constant
    column, so a model trained on it uses only ``cols`` while keeping the full column order."""
    out = np.zeros_like(X)
    out[:, cols] = X[:, cols]
    return out


def fit_stacker(Z: np.ndarray, y, *, weights=None, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Non-negative weights and an intercept for the experts' margins ``Z`` (rows x experts).

    Minimises the weighted log loss of ``sigmoid(Z @ coef + intercept)`` plus ``l2 / 2 * |coef|^2`` (weights
    normalised to mean 1) with ``coef >= 0``.
    """
    from scipy.optimize import minimize

    Z = np.asarray(Z, float)
    y = np.asarray(y, float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, float) / np.mean(weights)
    k = Z.shape[1]

    def loss(p):
        z = Z @ p[:k] + p[k]
        s = 1.0 / (1.0 + np.exp(-z))
        value = np.sum(w * (np.logaddexp(0, z) - y * z)) + 0.5 * l2 * np.sum(p[:k] ** 2)
        grad = np.r_[Z.T @ (w * (s - y)) + l2 * p[:k], np.sum(w * (s - y))]
        return float(value), grad

    res = minimize(loss, np.r_[np.full(k, 0.1), 0.0], jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * k + [(None, None)])
    return res.x[:k], float(res.x[k])


def _split_model(text: str) -> tuple[str, list[str], str]:
    head, rest = text.split("\nTree=0\n", 1)
    trees, tail = rest.split("\nend of trees\n", 1)
    return head, [t for t in ("Tree=0\n" + trees).split("\n\n\n") if t.strip()], tail


def _scaled_tree(tree: str, factor: float, add: float) -> str:
    lines = []
    for line in tree.split("\n"):
        key, _, values = line.partition("=")
        if key in ("leaf_value", "internal_value"):
            line = key + "=" + " ".join(repr(float(v) * factor + add) for v in values.split())
        lines.append(line)
    return "\n".join(lines)


def merge_experts(boosters, coef, intercept: float):
    """One LightGBM booster whose raw margin is ``intercept + sum_i coef[i] * boosters[i]`` (same columns)."""
    import lightgbm as lgb

    heads, trees, tail = [], [], ""
    for i, (b, c) in enumerate(zip(boosters, coef)):
        head, ts, tail = _split_model(b.model_to_string())
        heads.append(head)
        for k, t in enumerate(ts):  # the intercept goes into every leaf of the very first tree
            trees.append(_scaled_tree(t, float(c), float(intercept) if i == 0 and k == 0 else 0.0))
    infos = [re.search(r"^feature_infos=(.*)$", h, re.M).group(1).split() for h in heads]
    merged_infos = [next((inf[j] for inf in infos if inf[j] != "none"), "none") for j in range(len(infos[0]))]
    head = [("feature_infos=" + " ".join(merged_infos)) if line.startswith("feature_infos=") else line
            for line in heads[0].split("\n") if not line.startswith("tree_sizes=")]
    body = [re.sub(r"^Tree=\d+", f"Tree={k}", t) for k, t in enumerate(trees)]
    return lgb.Booster(model_str="\n".join(head) + "\n" + "\n\n\n".join(body) + "\n\n\nend of trees\n" + tail)


def _expert_fold_models(Xe, y, folds, rows, *, feature_names, params, rounds, weights) -> dict:
    """The expert's model per fold, trained outside the fold on ``Xe`` (:func:`only_columns` of its columns)
    and its ``rows`` (a mask; None: every row)."""
    from .training import fold_models

    sel = slice(None) if rows is None else rows
    return fold_models(Xe[sel], y[sel], np.asarray(folds)[sel], feature_names=feature_names, params=params,
                       rounds=rounds, weights=None if weights is None else np.asarray(weights)[sel])


def stacked_cv(X: np.ndarray, y, groups, *, feature_names, n_folds: int = 5, seed: int = 0, threads: int = 1,
               rounds: int | None = None, params: dict | None = None, weights=None, experts: str = "families",
               kinds=None, balance: str = "kinds"):
    """Grouped CV of the experts (:func:`expert_columns`) and their stacker, then the merged final model.

    Like :func:`modeling.training.train_cv`, plus the :class:`Stacker`. Each expert's out-of-fold margins come
    from models that did not see the row's group; the stacker is fitted on them, and the out-of-fold margin
    of a row is the stacker applied to its experts' out-of-fold margins. ``weights`` weigh the experts' rows;
    with ``kinds`` (each row's :func:`modeling.training.fake_kind`) the folds spread the collected fakes'
    sources (:func:`modeling.training.grouped_folds`) and the stacker weighs each kind of fake alike
    (how the experts combine is not decided by the most numerous synthetic kind), else it uses ``weights``.
    ``balance="origin"``: the stacker weighs the synthetic fakes together as one kind, so the collected
    fakes (the real generators the pool holds) weigh half the fakes instead of one kind in seven.
    Returns ``(booster, oof_raw, folds, params, stacker)``.
    """
    from .calibration import balanced_weights
    from .training import NUM_ROUNDS, final_model, grouped_folds, resolve_params

    rounds = rounds or NUM_ROUNDS
    y = np.asarray(y, dtype=np.float64)
    folds = grouped_folds(groups, y, n_folds=n_folds, seed=seed, kinds=kinds)
    params = resolve_params(len(y), seed, threads, params)
    cols_of = expert_columns(feature_names, experts)
    rows_of = expert_rows(list(cols_of), kinds)
    for e, rows in zip(cols_of, rows_of):
        if rows is not None and len(np.unique(y[rows])) < 2:
            raise ValueError(f"expert {e!r} has no {'fake' if y[rows].min() == 0 else 'real'} rows to learn from "
                             "(@collected needs labelled fakes in --data, not only synthetic ones)")
    Z = np.full((len(y), len(cols_of)), np.nan)
    finals = []
    for i, (cols, rows) in enumerate(zip(cols_of.values(), rows_of)):
        Xe = only_columns(X, cols)
        for f, b in _expert_fold_models(Xe, y, folds, rows, feature_names=feature_names, params=params,
                                        rounds=rounds, weights=weights).items():
            Z[folds == f, i] = b.predict(Xe[folds == f], raw_score=True)
        sel = slice(None) if rows is None else rows
        finals.append(final_model(Xe[sel], y[sel], feature_names=feature_names, params=params, rounds=rounds,
                                  weights=None if weights is None else np.asarray(weights)[sel]))
    ok = np.isfinite(Z).all(axis=1)
    if balance not in STACK_BALANCE:
        raise ValueError(f"unknown stacker balance {balance!r} (choose from {', '.join(STACK_BALANCE)})")
    if kinds is not None and balance == "origin":
        sw = balanced_weights(y, [k if k in ("real", "collected") else "synthetic" for k in kinds])
    else:
        sw = balanced_weights(y, kinds) if kinds is not None else weights
    coef, intercept = fit_stacker(Z[ok], y[ok], weights=None if sw is None else np.asarray(sw)[ok])
    stacker = Stacker(list(cols_of), coef.tolist(), intercept)
    return merge_experts(finals, coef, intercept), Z @ coef + intercept, folds, params, stacker


#: how :func:`stacked_cv`'s stacker weighs the fakes (``train.py --stack-balance``)
STACK_BALANCE = ("kinds", "origin")


def stacked_fold_models(X: np.ndarray, y, folds, *, feature_names, params: dict, rounds: int, stacker: Stacker,
                        weights=None, kinds=None) -> dict:
    """``{fold: merged booster}``: each fold's experts (trained outside the fold) combined with ``stacker``'s
    weights: the models behind :func:`stacked_cv`'s out-of-fold margins."""
    cols_of = expert_columns(feature_names, ",".join(stacker.experts))
    rows_of = expert_rows(list(cols_of), kinds)
    per_expert = [_expert_fold_models(only_columns(X, cols), np.asarray(y, float), folds, rows,
                                      feature_names=feature_names, params=params, rounds=rounds, weights=weights)
                  for cols, rows in zip(cols_of.values(), rows_of)]
    return {f: merge_experts([m[f] for m in per_expert], stacker.coef, stacker.intercept)
            for f in per_expert[0] if all(f in m for m in per_expert)}
