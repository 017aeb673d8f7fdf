"""Family experts and their stacker: the merged text model is exactly the weighted sum of the experts, each
expert sees only its family, and the stacker cannot turn a family's vote around."""
import numpy as np
import pytest

from modeling.metrics import roc_auc
from modeling.stacking import (Stacker, expert_columns, family_columns, fit_stacker, merge_experts, only_columns, stacked_cv,
                               stacked_fold_models)

lgb = pytest.importorskip("lightgbm")

NAMES = ["spectral__a__mean", "spectral__b__mean", "temporal__c__mean", "temporal__d__mean"]


def _data(seed=0, n_groups=40, per=6):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per)
    y = np.tile([0, 1], n_groups * per // 2).astype(float)
    X = rng.normal(size=(y.size, 4))
    X[:, 2] += 1.5 * y  # only a temporal column carries the label
    return X, y, groups


def test_family_columns_and_only_columns():
    assert family_columns(NAMES) == {"spectral": [0, 1], "temporal": [2, 3]}
    assert expert_columns(NAMES) == family_columns(NAMES)
    assert expert_columns(NAMES, "all,temporal") == {"all": [0, 1, 2, 3], "temporal": [2, 3]}
    for bad in ("all", "all,prnu"):
        with pytest.raises(ValueError):
            expert_columns(NAMES, bad)
    X = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(only_columns(X, [2, 3]), [[0, 0, 2, 3], [0, 0, 6, 7]])


def test_merged_model_is_the_weighted_sum_of_its_experts_and_round_trips_as_text():
    X, y, _ = _data()
    params = dict(objective="binary", verbosity=-1, num_leaves=7, seed=0, deterministic=True)
    experts = [lgb.train(params, lgb.Dataset(only_columns(X, c), y, feature_name=NAMES), num_boost_round=15)
               for c in ([0, 1], [2, 3])]
    merged = merge_experts(experts, [0.7, 1.3], -0.4)
    want = 0.7 * experts[0].predict(X, raw_score=True) + 1.3 * experts[1].predict(X, raw_score=True) - 0.4
    np.testing.assert_allclose(merged.predict(X, raw_score=True), want, atol=1e-12)
    # TreeSHAP of the merged model: the experts' contributions scaled by their weights, summing to the margin
    contrib = merged.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), want, atol=1e-9)
    np.testing.assert_allclose(contrib[:, 2], 1.3 * experts[1].predict(X, pred_contrib=True)[:, 2], atol=1e-9)
    again = lgb.Booster(model_str=merged.model_to_string())
    np.testing.assert_array_equal(again.predict(X, raw_score=True), merged.predict(X, raw_score=True))
    assert again.feature_name() == NAMES


def test_stacker_weights_are_non_negative():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500).astype(float)
    good = 2.0 * (y - 0.5) + rng.normal(size=500)
    coef, _ = fit_stacker(np.c_[good, -good], y)  # the second expert votes the wrong way
    assert coef[0] > 0.5 and coef[1] == 0.0


def test_stacked_cv_weighs_the_informative_family_and_fold_models_reproduce_its_oof():
    X, y, groups = _data()
    booster, oof, folds, params, st = stacked_cv(X, y, groups, feature_names=NAMES, n_folds=4, seed=1, rounds=30)
    assert st.experts == ["spectral", "temporal"]
    assert st.coef[1] > st.coef[0] and st.coef[1] > 0.3
    assert roc_auc(y, oof) > 0.8
    # the merged model keeps the full column order (which expert splits where: the test below)
    assert booster.feature_name() == NAMES
    again = np.full(len(y), np.nan)
    models = stacked_fold_models(X, y, folds, feature_names=NAMES, params=params, rounds=30,
                                 stacker=Stacker.from_dict(st.to_dict()))
    for f, b in models.items():
        again[folds == f] = b.predict(X[folds == f], raw_score=True)
    np.testing.assert_allclose(again, oof, atol=1e-9)


def test_an_expert_never_splits_on_another_family():
    """The merged model's trees come expert by expert (families in column order), each splitting only on its
    own family's columns."""
    X, y, groups = _data()
    booster, *_ = stacked_cv(X, y, groups, feature_names=NAMES, n_folds=4, seed=1, rounds=30)
    trees = booster.dump_model()["tree_info"]
    assert len(trees) == 60

    def split_features(node):
        if "split_feature" not in node:
            return set()
        return {node["split_feature"]} | split_features(node["left_child"]) | split_features(node["right_child"])

    used = [set().union(*(split_features(t["tree_structure"]) for t in part)) for part in (trees[:30], trees[30:])]
    assert used[0] <= {0, 1} and used[1] <= {2, 3} and used[1]


def test_collected_expert_learns_from_reals_and_collected_fakes_only():
    """A temporal column that rises for collected fakes but falls for synthetic ones: the ``@collected`` expert
    never sees the synthetic rows, so it learns "high = fake" and gives them no fake evidence."""
    from modeling.stacking import expert_rows

    rng = np.random.default_rng(2)
    kinds = np.array(["real"] * 120 + ["selfblend"] * 120 + ["collected"] * 60, dtype=object)
    y = (kinds != "real").astype(float)
    X = rng.normal(size=(len(y), 4))
    X[kinds == "collected", 2] += 2.5
    X[kinds == "selfblend", 2] -= 2.5
    X[kinds == "selfblend", 0] += 2.0  # the synthetic fakes' own cue, in a spectral column
    groups = np.arange(len(y)) // 3
    masks = expert_rows(["spectral", "temporal@collected"], list(kinds))
    assert masks[0] is None and masks[1].sum() == 180 and not masks[1][kinds == "selfblend"].any()
    booster, oof, folds, params, st = stacked_cv(X, y, groups, feature_names=NAMES, n_folds=4, seed=0, rounds=30,
                                                 experts="spectral,temporal@collected", kinds=list(kinds))
    assert st.experts == ["spectral", "temporal@collected"] and min(st.coef) > 0
    contrib = booster.predict(X, pred_contrib=True)[:, 2]
    assert contrib[kinds == "selfblend"].mean() < 0 < contrib[kinds == "collected"].mean()
    assert roc_auc(y, oof) > 0.7  # both kinds found, out of fold
    models = stacked_fold_models(X, y, folds, feature_names=NAMES, params=params, rounds=30, stacker=st,
                                 kinds=list(kinds))
    again = np.full(len(y), np.nan)
    for f, b in models.items():
        again[folds == f] = b.predict(X[folds == f], raw_score=True)
    np.testing.assert_allclose(again, oof, atol=1e-9)
    with pytest.raises(ValueError):
        expert_rows(["temporal@collected"], None)
    with pytest.raises(ValueError):
        expert_columns(NAMES, "all,temporal@synthetic")


def test_collected_expert_without_collected_fakes_is_a_clear_error():
    X, y, groups = _data()
    kinds = ["real" if v == 0 else "selfblend" for v in y]  # only synthetic fakes
    with pytest.raises(ValueError, match="no fake rows"):
        stacked_cv(X, y, groups, feature_names=NAMES, n_folds=4, experts="all,temporal@collected", kinds=kinds)


def test_origin_balance_gives_the_collected_fakes_expert_more_weight():
    """Three synthetic kinds carry a spectral cue, the collected fakes a temporal one. Weighing each kind alike,
    the collected fakes are one kind of four; with ``balance="origin"`` they are half the fakes, so the stacker
    leans more on the expert that finds them."""
    rng = np.random.default_rng(5)
    kinds = np.array(["real"] * 160 + ["selfblend"] * 80 + ["swap"] * 80 + ["generator"] * 80 + ["collected"] * 60,
                     dtype=object)
    y = (kinds != "real").astype(float)
    X = rng.normal(size=(len(y), 4))
    synthetic = np.isin(kinds, ["selfblend", "swap", "generator"])
    X[synthetic, 0] += 1.5
    X[kinds == "collected", 2] += 1.5
    groups = np.arange(len(y)) // 4
    ratio = {}
    for balance in ("kinds", "origin"):
        _, _, _, _, st = stacked_cv(X, y, groups, feature_names=NAMES, n_folds=4, seed=0, rounds=30,
                                    experts="spectral,temporal@collected", kinds=list(kinds), balance=balance)
        ratio[balance] = st.coef[1] / max(st.coef[0], 1e-9)
    assert ratio["origin"] > 1.2 * ratio["kinds"]
    with pytest.raises(ValueError, match="balance"):
        stacked_cv(X, y, groups, feature_names=NAMES, n_folds=4, rounds=5, experts="spectral,temporal@collected",
                   kinds=list(kinds), balance="sources")
