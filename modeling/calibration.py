"""Calibration: raw LightGBM margins to honest probabilities (log loss is the DFDC metric)."""
from __future__ import annotations

import numpy as np

__all__ = ["CLIP", "fit_platt", "apply_platt", "balanced_weights"]

#: P(fake) is clipped to this range (DFDC practice: one confident mistake costs at most -log(0.01))
CLIP = (0.01, 0.99)


def fit_platt(raw, y, *, weights=None) -> tuple[float, float]:
    """Platt scaling: ``P = sigmoid(a * raw + b)`` fitted by regularised log loss.

    Uses Platt's target smoothing ((n+ + 1)/(n+ + 2), 1/(n- + 2)) so that tiny
    training sets do not give infinite slopes (J. Platt, "Probabilistic outputs
    for support vector machines", 1999). ``weights`` (one per score) weigh the
    loss, e.g. :func:`balanced_weights` so that the class mix of the training
    pool (several synthetic fakes per real video) does not become the prior.
    """
    from scipy.optimize import minimize

    raw = np.asarray(raw, float)
    y = np.asarray(y, float)
    w = np.ones_like(raw) if weights is None else np.asarray(weights, float)
    n_pos, n_neg = y.sum(), y.size - y.sum()
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(ab):
        z = ab[0] * raw + ab[1]
        return float(np.sum(w * (np.logaddexp(0, z) - t * z)))

    res = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def balanced_weights(y, groups=None) -> np.ndarray:
    """Weights that give each class the same total weight and, with ``groups`` (e.g. the source of
    each video), each group the same weight within its class: no class and no source dominates."""
    y = np.asarray(y)
    w = np.ones(y.size, float)
    for cls in (0, 1):
        sel = y == cls
        if not sel.any():
            continue
        if groups is not None:
            g = np.asarray(groups, dtype=object)[sel]
            _, inv, counts = np.unique(g.astype(str), return_inverse=True, return_counts=True)
            w[sel] = 1.0 / (counts[inv] * len(counts))
        else:
            w[sel] = 1.0 / sel.sum()
    return w * y.size / w.sum()


def apply_platt(raw, a: float, b: float, clip=CLIP) -> np.ndarray:
    """``sigmoid(a * raw + b)`` clipped to ``clip``."""
    p = 1.0 / (1.0 + np.exp(-(a * np.asarray(raw, float) + b)))
    return np.clip(p, *clip)
