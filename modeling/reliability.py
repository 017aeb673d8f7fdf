"""How far to trust one video's score: a transparent rule over the face's measured quality.

Every forensic trace this detector reads fades with a small face, heavy
compression or blur (the DFDC black-box set was re-encoded, downscaled and
blurred; classical cues suffer most). ``reliability`` is in [0, 1]: 1 when the
face is large, sharp and lightly compressed, falling linearly to 0 as any one of
them crosses its limit, and the CSV names the limiting cause. It is a rule
a person can check, not a learned number; ``bench/robustness.py`` measures
how the detector's AUC falls under each degradation, which is where the
limits come from.
"""
from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["Reliability", "LIMITS", "RELIABILITY_CALCULATORS", "reliability"]

#: column, value where the score is 0, value where it reaches 1 (a linear ramp between), and the cause
LIMITS = (
    ("meta__side_px__q50", 40.0, 120.0, "small face ({:.0f} px)"),
    ("quality__upscale__q50", 2.0, 0.5, "face enlarged {:.1f} octaves to the analysis crop"),
    ("quality__blockiness__q50", 0.9, 0.35, "heavy compression blocking ({:.2f})"),
    ("quality__sharpness__q50", 0.4, 1.6, "blurred face (log Laplacian spread {:.2f})"),
)


#: the calculators whose measurements the rule reads (``predict.py`` runs them whatever the model uses)
RELIABILITY_CALCULATORS = ("meta.face_size", "quality.native", "quality.resolution")


class Reliability(NamedTuple):
    score: float  #: in [0, 1]
    reason: str  #: the limiting cause when below 1 ("" otherwise)


def _ramp(x: float, zero: float, one: float) -> float:
    t = (x - zero) / (one - zero)
    return float(min(1.0, max(0.0, t)))


def reliability(features: dict) -> Reliability:
    """The reliability of a score from the scored track's feature row (missing measurements are ignored)."""
    best, reason = 1.0, ""
    for col, zero, one, text in LIMITS:
        v = features.get(col)
        if v is None or not math.isfinite(float(v)):
            continue
        r = _ramp(float(v), zero, one)
        if r < best:
            best, reason = r, text.format(float(v))
    return Reliability(round(best, 3), reason if best < 1 else "")
