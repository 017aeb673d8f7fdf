"""Binary-classification metrics for P(fake) scores (label 1 = fake).

Written out rather than imported so that the runtime needs no scikit-learn;
tests check them against scikit-learn on fixed inputs.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "roc_auc",
    "log_loss",
    "accuracy",
    "eer",
    "average_precision",
    "roc_curve",
    "summary",
    "weighted_auc",
    "bootstrap_auc_ci",
    "bootstrap_auc_diff_ci",
    "AucInterval",
    "calibration_curve",
    "Reliability",
    "method_vs_real",
    "breakdown",
]

#: DFDC-style clipping of probabilities before log loss
CLIP = 1e-15


def _check(y, p):
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError("labels and scores differ in length")
    return y, p


def roc_curve(y, s):
    """False- and true-positive rates at every distinct threshold (descending), ties handled."""
    y, s = _check(y, s)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = (1 + distinct) - tps
    pos, neg = tps[-1], fps[-1]
    tpr = np.r_[0.0, tps / pos] if pos else np.full(distinct.size + 1, np.nan)
    fpr = np.r_[0.0, fps / neg] if neg else np.full(distinct.size + 1, np.nan)
    thr = np.r_[np.inf, s[distinct]]
    return fpr, tpr, thr


def roc_auc(y, s) -> float:
    """Area under the ROC curve (NaN when only one class is present)."""
    y, s = _check(y, s)
    if y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.trapezoid(tpr, fpr))


def log_loss(y, p, *, eps: float = CLIP) -> float:
    """Mean binary cross-entropy with probabilities clipped to [eps, 1 - eps]."""
    y, p = _check(y, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def accuracy(y, p, *, threshold: float = 0.5) -> float:
    y, p = _check(y, p)
    return float(np.mean((p >= threshold) == (y == 1)))


def eer(y, s) -> float:
    """Equal error rate: where the false-positive rate meets the false-negative rate."""
    y, s = _check(y, s)
    if y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1 - tpr
    i = int(np.argmin(np.abs(fnr - fpr)))
    # interpolate between the neighbouring points that bracket the crossing
    d = fnr - fpr
    for j in range(1, d.size):
        if d[j - 1] >= 0 >= d[j]:
            a = d[j - 1] / (d[j - 1] - d[j]) if d[j - 1] != d[j] else 0.0
            return float(fpr[j - 1] + a * (fpr[j] - fpr[j - 1]))
    return float((fpr[i] + fnr[i]) / 2)


def average_precision(y, s) -> float:
    """Average precision (step-wise area under precision-recall, as scikit-learn)."""
    y, s = _check(y, s)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = (1 + distinct) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def summary(y, p) -> dict[str, float]:
    """AUC, log loss, accuracy at 0.5, EER and AP in one dict."""
    return {
        "auc": roc_auc(y, p),
        "log_loss": log_loss(y, p),
        "accuracy": accuracy(y, p),
        "eer": eer(y, p),
        "average_precision": average_precision(y, p),
        "n": int(np.asarray(y).size),
        "n_fake": int(np.sum(np.asarray(y) == 1)),
    }


def weighted_auc(y, s, w):
    """ROC AUC with per-sample weights, for one or many weight vectors at once.

    Equal to :func:`roc_auc` on the data with sample ``i`` repeated ``w[i]``
    times (for integer weights); ties count one half (Mann-Whitney U).

    Parameters
    ----------
    y : (n,) labels 0/1
    s : (n,) scores
    w : (n,) or (B, n) non-negative weights

    Returns
    -------
    float or (B,) array; NaN where a weighting leaves one class without weight.
    """
    y, s = _check(y, s)
    w = np.asarray(w, dtype=np.float64)
    single = w.ndim == 1
    w = np.atleast_2d(w)
    if w.shape[1] != y.size:
        raise ValueError("weights and labels differ in length")
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]  # last index of each run of equal scores
    pos = np.cumsum(w[:, order] * y[order], axis=1)[:, ends]
    neg = np.cumsum(w[:, order] * (1 - y[order]), axis=1)[:, ends]
    pos_k = np.diff(pos, axis=1, prepend=0.0)  # positive weight at each distinct score
    neg_k = np.diff(neg, axis=1, prepend=0.0)
    neg_below = neg - neg_k
    num = np.sum(pos_k * (neg_below + 0.5 * neg_k), axis=1)
    den = pos[:, -1] * neg[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(auc[0]) if single else auc


class AucInterval(NamedTuple):
    """Bootstrap percentile interval of the ROC AUC."""

    auc: float  #: AUC on the data as given
    lo: float  #: lower bound
    hi: float  #: upper bound
    level: float  #: coverage, e.g. 0.95
    n_boot: int  #: resamples that had both classes (the others are dropped)


def bootstrap_auc_ci(y, s, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95, groups=None) -> AucInterval:
    """Percentile bootstrap interval for the ROC AUC (Efron & Tibshirani 1993, ch. 13).

    Each resample is drawn as multinomial counts, used as weights in
    :func:`weighted_auc`, so all resamples are scored in one vectorised pass.
    With ``groups`` the resampling unit is the group (cluster bootstrap):
    videos that share an identity, e.g. a fake and its original, enter or
    leave a resample together, which widens the interval honestly when they
    are correlated (Field & Welsh 2007, "Bootstrapping clustered data").

    Parameters
    ----------
    y : (n,) labels 0/1
    s : (n,) scores
    n_boot : number of resamples
    seed : seed of ``numpy.random.default_rng``
    level : coverage of the interval
    groups : (n,) hashable group labels or None (resample videos)

    Returns
    -------
    AucInterval
    """
    y, s = _check(y, s)
    auc = roc_auc(y, s)
    if not np.isfinite(auc) or n_boot < 1:
        return AucInterval(auc, float("nan"), float("nan"), level, 0)
    w = _resample_weights(y.size, groups, n_boot=n_boot, seed=seed)
    return _percentile_interval(auc, weighted_auc(y, s, w), level)


def bootstrap_auc_diff_ci(y, s_ref, s_new, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                          groups=None) -> AucInterval:
    """Paired percentile bootstrap interval for ``AUC(s_new) - AUC(s_ref)`` on the same videos.

    Both scores are evaluated on the same resamples (the same weights), so the
    interval reflects the change itself rather than the spread of either AUC:
    a perturbation that shifts every video alike gives a narrow interval even
    on a small set, where the two separate AUC intervals overlap widely
    (paired comparison of correlated ROC curves; DeLong et al. 1988 give the
    analytic version). ``groups`` as in :func:`bootstrap_auc_ci`.

    Returns
    -------
    AucInterval
        ``auc`` holds the observed difference.
    """
    y, s_ref = _check(y, s_ref)
    _, s_new = _check(y, s_new)
    diff = roc_auc(y, s_new) - roc_auc(y, s_ref)
    if not np.isfinite(diff) or n_boot < 1:
        return AucInterval(diff, float("nan"), float("nan"), level, 0)
    w = _resample_weights(y.size, groups, n_boot=n_boot, seed=seed)
    return _percentile_interval(diff, weighted_auc(y, s_new, w) - weighted_auc(y, s_ref, w), level)


def _resample_weights(n: int, groups, *, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) multinomial resampling counts of ``n`` items, or of their ``groups`` (cluster bootstrap)."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    g = int(inv.max()) + 1
    return rng.multinomial(g, np.full(g, 1.0 / g), size=n_boot)[:, inv]


def _percentile_interval(value: float, boots: np.ndarray, level: float) -> AucInterval:
    """``value`` with the percentile interval of its finite bootstrap replicates ``boots``."""
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return AucInterval(value, float("nan"), float("nan"), level, 0)
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
    return AucInterval(value, float(lo), float(hi), level, int(boots.size))


class Reliability(NamedTuple):
    """Reliability (calibration) curve over equal-width probability bins."""

    mean_predicted: np.ndarray  #: mean predicted probability in each non-empty bin
    fraction_positive: np.ndarray  #: observed fraction of label 1 in each non-empty bin
    count: np.ndarray  #: videos in each non-empty bin
    edges: np.ndarray  #: the ``n_bins + 1`` bin edges (all bins, empty ones included)


def calibration_curve(y, p, *, n_bins: int = 10) -> Reliability:
    """Reliability diagram data (DeGroot & Fienberg 1983): observed frequency vs predicted probability.

    Binning equals ``sklearn.calibration.calibration_curve(strategy="uniform")``:
    ``n_bins`` equal-width bins on [0, 1], a value on an inner edge going to the
    lower bin. Empty bins are left out.
    """
    y, p = _check(y, p)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], p, side="left")
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    keep = count > 0
    return Reliability(sum_p[keep] / count[keep], sum_y[keep] / count[keep], count[keep], edges)


def method_vs_real(labels, methods, datasets) -> dict[str, np.ndarray]:
    """The one definition of "a method's fakes against which reals", used everywhere.

    For each manipulation method with fakes, a boolean mask selecting that
    method's fakes plus every real video of the dataset(s) those fakes come
    from (like with like: FF++ c40 Deepfakes against FF++ c40 originals, not
    against lightly compressed reals of another source). Rows without a
    dataset form one dataset ``""``. A method whose datasets hold no real
    video (a folder of generator outputs) is compared with every real video.
    """
    y = np.asarray(labels, dtype=np.float64)
    methods = np.asarray([m or "(none)" for m in methods], dtype=object)
    datasets = np.asarray([d or "" for d in datasets], dtype=object)
    out = {}
    for m in sorted(set(methods[y == 1].tolist())):
        fakes = (methods == m) & (y == 1)
        reals = (y == 0) & np.isin(datasets, sorted(set(datasets[fakes].tolist())))
        out[m] = fakes | (reals if reals.any() else y == 0)
    return out


def breakdown(y, p, *, methods, datasets) -> dict:
    """Overall summary plus ``per_dataset`` and ``per_method_vs_real`` (:func:`method_vs_real`) summaries."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    ds = np.asarray([d or "" for d in datasets], dtype=object)
    rep = summary(y, p)
    rep["per_dataset"] = {d or "(none)": summary(y[ds == d], p[ds == d]) for d in sorted(set(ds.tolist()))}
    rep["per_method_vs_real"] = {m: summary(y[sel], p[sel]) for m, sel in method_vs_real(y, methods, ds).items()}
    return rep
