"""modeling.metrics against scikit-learn on fixed inputs, and properties of the bootstrap interval."""
from __future__ import annotations

import numpy as np
import pytest

from modeling import metrics

sk = pytest.importorskip("sklearn.metrics")


def _cases():
    rng = np.random.default_rng(20240101)
    out = [
        (np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])),  # scikit-learn's doc example
        (np.array([1, 0, 1, 0, 1, 1, 0]), np.array([0.5, 0.5, 0.5, 0.2, 0.9, 0.5, 0.2])),  # ties across classes
    ]
    for n in (12, 57, 300):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = rng.random(n) * 0.7 + 0.3 * y
        out.append((y, s))
        out.append((y, np.round(s, 1)))  # many ties
    return out


CASES = _cases()


@pytest.mark.parametrize("y,s", CASES)
def test_roc_auc_ap_logloss_accuracy_match_sklearn(y, s):
    assert metrics.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)
    p = np.clip(s, 0.01, 0.99)
    assert metrics.log_loss(y, p) == pytest.approx(sk.log_loss(y, p), abs=1e-12)
    assert metrics.accuracy(y, s) == pytest.approx(sk.accuracy_score(y, (s >= 0.5).astype(int)), abs=1e-12)


@pytest.mark.parametrize("y,s", CASES)
def test_roc_curve_matches_sklearn(y, s):
    fpr, tpr, thr = metrics.roc_curve(y, s)
    f2, t2, th2 = sk.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])


@pytest.mark.parametrize("y,s", CASES)
def test_eer_is_where_roc_meets_the_anti_diagonal(y, s):
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq

    fpr, tpr, _ = sk.roc_curve(y, s)
    ref = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
    assert metrics.eer(y, s) == pytest.approx(ref, abs=1e-9)


def test_log_loss_clipping():
    y = np.array([1, 0])
    p = np.array([0.0, 1.0])  # two certain mistakes
    assert metrics.log_loss(y, p, eps=0.01) == pytest.approx(-np.log(0.01))
    assert metrics.log_loss(y, p, eps=0.01) == pytest.approx(sk.log_loss(y, np.clip(p, 0.01, 0.99)))


def test_weighted_auc_equals_auc_of_repeated_data():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 80)
    s = np.round(rng.random(80), 1) + 0.2 * y
    w = rng.integers(0, 4, size=(6, 80))
    got = metrics.weighted_auc(y, s, w)
    for k in range(6):
        yy, ss = np.repeat(y, w[k]), np.repeat(s, w[k])
        assert got[k] == pytest.approx(sk.roc_auc_score(yy, ss), abs=1e-12)
    assert metrics.weighted_auc(y, s, np.ones(80)) == pytest.approx(sk.roc_auc_score(y, s))
    # a weighting without negatives has no AUC
    assert np.isnan(metrics.weighted_auc(y, s, y.astype(float)))


def test_bootstrap_auc_ci_properties():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    s = rng.normal(size=400) + 1.0 * y
    ci = metrics.bootstrap_auc_ci(y, s, n_boot=1000, seed=1)
    assert ci.lo < ci.auc < ci.hi
    assert ci.auc == pytest.approx(sk.roc_auc_score(y, s))
    assert ci.n_boot == 1000
    # deterministic for a seed
    assert metrics.bootstrap_auc_ci(y, s, n_boot=1000, seed=1) == ci
    # the interval shrinks roughly as 1/sqrt(n): 4x the data, about half the width
    big = metrics.bootstrap_auc_ci(np.tile(y, 4), np.tile(s, 4), n_boot=1000, seed=1)
    ratio = (big.hi - big.lo) / (ci.hi - ci.lo)
    assert 0.35 < ratio < 0.65
    # the percentile interval matches the textbook loop over explicit resamples (within Monte Carlo error)
    aucs = []
    r2 = np.random.default_rng(2)
    for _ in range(600):
        i = r2.integers(0, 400, 400)
        aucs.append(sk.roc_auc_score(y[i], s[i]))
    lo, hi = np.quantile(aucs, [0.025, 0.975])
    assert abs(lo - ci.lo) < 0.02 and abs(hi - ci.hi) < 0.02


def test_grouped_bootstrap_is_wider_for_correlated_groups():
    rng = np.random.default_rng(11)
    # 30 identities, 10 near-copies each: the effective sample is the identities
    g = np.repeat(np.arange(30), 10)
    y = np.repeat(rng.integers(0, 2, 30), 10)
    s = np.repeat(rng.normal(size=30) + 0.8 * y[::10], 10) + 0.01 * rng.normal(size=300)
    plain = metrics.bootstrap_auc_ci(y, s, n_boot=800, seed=0)
    grouped = metrics.bootstrap_auc_ci(y, s, n_boot=800, seed=0, groups=g)
    assert (grouped.hi - grouped.lo) > 2 * (plain.hi - plain.lo)


def test_paired_auc_difference_interval():
    """The paired interval of AUC(new) - AUC(ref): zero for identical scores, narrower than the separate
    intervals when the two scores move together, centred on the observed change, and excluding zero for a
    change that erases the evidence."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 80)
    s = rng.normal(size=80) + 1.2 * y
    same = metrics.bootstrap_auc_diff_ci(y, s, s.copy(), n_boot=500, seed=0)
    assert same.auc == 0.0 and same.lo == 0.0 and same.hi == 0.0
    # a small shared shift in every video's score: the separate intervals are wide, the paired one is not
    nudged = s - 0.1 * y + 0.02 * rng.normal(size=80)
    d = metrics.bootstrap_auc_diff_ci(y, s, nudged, n_boot=1000, seed=0)
    assert d.auc == pytest.approx(sk.roc_auc_score(y, nudged) - sk.roc_auc_score(y, s))
    assert d.lo <= d.auc <= d.hi
    a = metrics.bootstrap_auc_ci(y, s, n_boot=1000, seed=0)
    assert (d.hi - d.lo) < 0.5 * (a.hi - a.lo)
    # a loose consistency check: the change lies within the span the two separate intervals allow
    b = metrics.bootstrap_auc_ci(y, nudged, n_boot=1000, seed=0)
    assert d.lo >= a.lo - b.hi and d.hi <= a.hi - b.lo + 1e-12
    # pairing itself: a monotone rescaling keeps every resample's AUC, so each replicate's change is exactly 0
    # (independent resamples for the two scores would spread it)
    rescaled = metrics.bootstrap_auc_diff_ci(y, s, 3.0 * s + 1.0, n_boot=500, seed=0)
    assert rescaled.lo == 0.0 and rescaled.hi == 0.0
    # evidence erased: the interval lies clearly below zero
    erased = metrics.bootstrap_auc_diff_ci(y, s, rng.normal(size=80), n_boot=1000, seed=0)
    assert erased.hi < -0.1


def test_bootstrap_single_class_is_nan():
    ci = metrics.bootstrap_auc_ci(np.ones(10), np.arange(10.0), n_boot=50)
    assert np.isnan(ci.auc) and np.isnan(ci.lo) and ci.n_boot == 0


def test_calibration_curve_matches_sklearn():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(3)
    p = np.r_[rng.random(200), [0.0, 0.1, 0.5, 1.0]]  # values on the edges too
    y = (rng.random(p.size) < p).astype(int)
    for n_bins in (5, 10):
        rel = metrics.calibration_curve(y, p, n_bins=n_bins)
        frac, mean = calibration_curve(y, p, n_bins=n_bins)
        np.testing.assert_allclose(rel.fraction_positive, frac)
        np.testing.assert_allclose(rel.mean_predicted, mean)
        assert rel.count.sum() == p.size


def test_balanced_platt_does_not_take_the_class_mix_as_prior():
    """Five synthetic fakes per real: unweighted Platt learns a fake prior, balanced weights do not."""
    from modeling.calibration import apply_platt, balanced_weights, fit_platt

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(100), np.ones(500)]
    raw = rng.normal(0, 1, y.size)  # scores that carry no evidence
    a, b = fit_platt(raw, y)
    assert apply_platt([0.0], a, b)[0] > 0.75  # the 5:1 mix became the prior
    a, b = fit_platt(raw, y, weights=balanced_weights(y))
    assert abs(apply_platt([0.0], a, b)[0] - 0.5) < 0.05
    w = balanced_weights(y, groups=["s1"] * 90 + ["s2"] * 10 + ["f"] * 500)
    assert w[:90].sum() == pytest.approx(w[90:100].sum()) and w[:100].sum() == pytest.approx(w[100:].sum())


def test_method_vs_real_compares_like_with_like_and_falls_back_to_every_real():
    from modeling.metrics import method_vs_real

    y = [1, 1, 0, 0, 1, 0]
    methods = ["DF", "DF", "real", "real", "GAN", "real"]
    datasets = ["ff", "ff", "ff", "other", "gen", "other"]
    sel = method_vs_real(y, methods, datasets)
    assert sel["DF"].tolist() == [True, True, True, False, False, False]  # only the reals of its dataset
    assert sel["GAN"].tolist() == [False, False, True, True, True, True]  # its folder has no reals: all reals
