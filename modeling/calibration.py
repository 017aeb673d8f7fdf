"""Calibration: raw LightGBM margins to honest probabilities (log loss is the DFDC metric)."""
from __future__ import annotations

import numpy as np

__all__ = ["CLIP", "fit_platt", "apply_platt"]

#: P(fake) is clipped to this range (DFDC practice: one confident mistake costs at most -log(0.01))
CLIP = (0.01, 0.99)


def fit_platt(raw, y) -> tuple[float, float]:
    """Platt scaling: ``P = sigmoid(a * raw + b)`` fitted by regularised log loss.

    Uses Platt's target smoothing ((n+ + 1)/(n+ + 2), 1/(n- + 2)) so that tiny
    training sets do not give infinite slopes (J. Platt, "Probabilistic outputs
    for support vector machines", 1999).
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
    """``sigmoid(a * raw + b)`` clipped to ``clip``."""
    p = 1.0 / (1.0 + np.exp(-(a * np.asarray(raw, float) + b)))
    return np.clip(p, *clip)
