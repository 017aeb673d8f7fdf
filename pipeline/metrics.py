"""Binary-classification metrics for P(fake) scores (label 1 = fake).

Written out rather than imported so that the runtime needs no scikit-learn;
tests check them against scikit-learn on fixed inputs.
"""
from __future__ import annotations

import numpy as np

__all__ = ["roc_auc", "log_loss", "accuracy", "eer", "average_precision", "roc_curve", "summary"]

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
