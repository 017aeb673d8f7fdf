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

#: column, value where the score is 0, value where it reaches 1 (a linear ramp between), and the cause.
#: Set from ``bench/robustness.py`` (shipped model, 79 labelled clips x 16 clean and perturbed copies,
#: bench/RESULTS.md "reliability"): the model's AUC by quartile of face side was 0.59 (125-221 px), 0.65,
#: 0.77, 0.79 (286-357 px), and by enlargement 0.79, 0.77, 0.65, 0.59 (log2 -1.5 to 0): the ramps put 0.5
#: where the AUC is about halfway from chance to its best. Neither blocking (up to 0.61, CRF 40 copies
#: included) nor blur (sharpness down to 0.71) lowered the AUC there, so those two limits sit beyond what
#: was measured: they flag only faces more degraded than any seen in that evaluation.
LIMITS = (
    ("meta__side_px__q50", 100.0, 280.0, "small face ({:.0f} px)"),
    ("quality__upscale__q50", 0.0, -1.1, "little native detail in the face ({:+.1f} octaves of enlargement)"),
    ("quality__blockiness__q50", 1.2, 0.6, "heavy compression blocking ({:.2f})"),
    ("quality__sharpness__q50", 0.3, 0.7, "blurred face (log Laplacian spread {:.2f})"),
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
