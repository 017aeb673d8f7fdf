"""Grouped cross-validation: folds keep groups whole, and the per-fold models are the ones train_cv scores with."""
import numpy as np
import pytest

from modeling.training import fake_kind, feature_matrix, fold_models, grouped_folds, train_cv, training_weights

pytest.importorskip("lightgbm")


def _data(seed=0, n_groups=30, per=6):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per)
    y = np.tile([0, 1], n_groups * per // 2).astype(float)
    X = rng.normal(size=(y.size, 4))
    X[:, 0] += 1.5 * y  # one informative column
    return X, y, groups


def test_grouped_folds_never_split_a_group_and_keep_both_classes():
    X, y, groups = _data()
    folds = grouped_folds(groups, y, n_folds=5, seed=3)
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    for f in np.unique(folds):
        assert set(y[folds == f]) == {0.0, 1.0}


def test_fold_models_give_back_train_cv_out_of_fold_scores():
    """bench/selfblend_robustness.py rebuilds a model's fold models to score perturbed copies out of fold;
    they must be exactly the models behind the card's out-of-fold scores."""
    X, y, groups = _data()
    names = ["a", "b", "c", "d"]
    _, oof, folds, params = train_cv(X, y, groups, feature_names=names, n_folds=4, seed=1, rounds=30)
    models = fold_models(X, y, folds, feature_names=names, params=params, rounds=30)
    assert sorted(models) == sorted(np.unique(folds).tolist())
    again = np.full(len(y), np.nan)
    for f, b in models.items():
        again[folds == f] = b.predict(X[folds == f], raw_score=True)
    np.testing.assert_array_equal(again, oof)
    # and they learned something: the informative column separates the classes out of fold
    assert np.mean(oof[y == 1]) > np.mean(oof[y == 0]) + 0.5


def test_feature_matrix_orders_columns_and_fills_missing_with_nan():
    X, names = feature_matrix([{"b": 1.0, "a": 2.0, "_path": "x"}, {"a": 3.0}])
    assert names == ["a", "b"]
    assert X[0].tolist() == [2.0, 1.0] and X[1, 0] == 3.0 and np.isnan(X[1, 1])


def test_kind_weights_balance_classes_and_each_kind_of_fake():
    """Two reals, six self-blends (two variants of one method), two swaps, one collected fake: each class weighs
    half, and the three fake kinds a third of the fakes each, however many rows each kind has."""
    rows = ([{"_label": 0, "_variant": "orig"}] * 2 + [{"_label": 1, "_variant": "selfblend"}] * 3
            + [{"_label": 1, "_variant": "selfblend#2+h264"}] * 3 + [{"_label": 1, "_variant": "swap"}] * 2
            + [{"_label": 1, "_variant": "orig"}])
    kinds = [fake_kind(r) for r in rows]
    assert kinds[:2] == ["real"] * 2 and set(kinds[2:8]) == {"selfblend"} and kinds[-1] == "collected"
    w = training_weights(rows, "kinds")
    assert w.sum() == pytest.approx(len(rows))
    fake = np.array([k != "real" for k in kinds])
    assert w[~fake].sum() == pytest.approx(w[fake].sum())
    for k in ("selfblend", "swap", "collected"):
        assert w[np.array(kinds) == k].sum() == pytest.approx(w[fake].sum() / 3)
    assert training_weights(rows, "none") is None
    with pytest.raises(ValueError):
        training_weights(rows, "classes")


def test_train_cv_uses_the_row_weights():
    """Weighting the fakes ten times moves every out-of-fold margin towards FAKE; ignoring weights would not."""
    X, y, groups = _data()
    names = ["a", "b", "c", "d"]
    _, plain, _, _ = train_cv(X, y, groups, feature_names=names, n_folds=4, seed=1, rounds=30)
    _, heavy, _, _ = train_cv(X, y, groups, feature_names=names, n_folds=4, seed=1, rounds=30,
                              weights=np.where(y == 1, 10.0, 1.0))
    assert np.mean(heavy) > np.mean(plain) + 0.5


def test_grouped_folds_spread_the_collected_fakes_sources_when_given_kinds():
    """Real sources of unequal size whose synthetic fakes outnumber their reals, then two big generators
    (g0, g1: collected fakes): by the labels alone both generators go to the fold with the fewest fakes, the
    same one (the pool's AniTalker and EDTalk did); with kinds, each source of collected fakes goes to the
    fold with the fewest collected fakes."""
    groups, y, kinds = [], [], []
    for s, n in enumerate((120, 90, 90, 90, 30)):  # a third reals, two thirds synthetic fakes
        groups += [f"r{s}"] * n
        y += [0] * (n // 3) + [1] * (n - n // 3)
        kinds += ["real"] * (n // 3) + ["selfblend"] * (n - n // 3)
    for g, n in (("g0", 40), ("g1", 38), ("g2", 3)):
        groups += [g] * n
        y += [1] * n
        kinds += ["collected"] * n
    groups, y = np.array(groups), np.array(y, float)
    by_label = grouped_folds(groups, y, n_folds=5, seed=0)
    assert by_label[groups == "g0"][0] == by_label[groups == "g1"][0]
    by_kind = grouped_folds(groups, y, n_folds=5, seed=0, kinds=kinds)
    assert len({by_kind[groups == g][0] for g in ("g0", "g1", "g2")}) == 3
    for g in np.unique(groups):
        assert len(set(by_kind[groups == g])) == 1
    for f in np.unique(by_kind):
        assert set(y[by_kind == f]) == {0.0, 1.0}
