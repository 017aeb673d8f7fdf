"""Refactors change nothing: features and shipped-model predictions on fixed clips equal the recorded ones,
within tolerances measured between CPU dispatch paths (tests/golden.py says how they were set).

Regenerate with ``python -m tests.golden`` only when a change is intended (new features, a retrained model).
"""
from __future__ import annotations

import json

import pytest

from .golden import (GOLDEN, LABEL_TOLERANCE, LABEL_TOLERANCE_SAME_BLAS, TOLERANCE, blas_kernel, column_scales,
                     deviations, predict_clips, tolerance_key)


@pytest.fixture(scope="module")
def golden_now(tmp_path_factory, carphone_path):
    return predict_clips(str(tmp_path_factory.mktemp("golden")))


@pytest.fixture(scope="module")
def recorded():
    with open(GOLDEN) as f:
        return json.load(f)


def test_predictions_and_features_equal_the_recorded_ones(golden_now, recorded):
    meta = recorded.pop("_meta", {})
    assert set(golden_now) == set(recorded)
    assert all(rec["status"] == now["status"] == "ok" for rec, now in zip(recorded.values(), golden_now.values()))
    dev = deviations(recorded, golden_now, column_scales())
    assert not dev["mismatch"], dev["mismatch"]
    assert set(dev["families"]) <= set(TOLERANCE)
    for fam, (value, clip, col) in dev["families"].items():
        assert value <= TOLERANCE[fam], (fam, clip, col, value)
    same_blas = meta.get("blas_kernel") is not None and meta["blas_kernel"] == blas_kernel()
    assert dev["label"][0] <= (LABEL_TOLERANCE_SAME_BLAS if same_blas else LABEL_TOLERANCE), (dev["label"], meta)


def test_the_tolerances_catch_a_real_change(recorded):
    """A change the size of a small real one (one family's values moved by 1 % of their spread, the threshold counts
    by 10 %, or a golden clip's P(fake) by 0.02) is outside the tolerances, so the comparison above can fail."""
    recorded = {k: v for k, v in recorded.items() if k != "_meta"}
    scales = column_scales()
    for fam in TOLERANCE:
        step = 0.1 if fam == "counts" else 0.01
        moved = {name: {**rec, "features": {c: (v + step * max(scales.get(c, 0.0), 1e-6)
                                                if tolerance_key(c) == fam and isinstance(v, float) else v)
                                            for c, v in rec["features"].items()}}
                 for name, rec in recorded.items()}
        assert deviations(recorded, moved, scales)["families"][fam][0] > TOLERANCE[fam], fam
    shifted = {name: {**rec, "label": rec["label"] + 0.02} for name, rec in recorded.items()}
    assert deviations(recorded, shifted, scales)["label"][0] > LABEL_TOLERANCE
