"""Refactors change nothing: features and shipped-model predictions on fixed clips equal the recorded ones.

Regenerate with ``python -m tests.golden`` only when a change is intended (new features, a retrained model).
"""
from __future__ import annotations

import json
import math

import pytest

from .golden import GOLDEN, predict_clips


@pytest.fixture(scope="module")
def golden_now(tmp_path_factory, carphone_path):
    return predict_clips(str(tmp_path_factory.mktemp("golden")))


def test_predictions_and_features_equal_the_recorded_ones(golden_now):
    with open(GOLDEN) as f:
        recorded = json.load(f)
    assert set(golden_now) == set(recorded)
    for name, rec in recorded.items():
        now = golden_now[name]
        assert now["status"] == rec["status"] == "ok", name
        assert now["label"] == pytest.approx(rec["label"], abs=1e-9), name
        assert set(now["features"]) == set(rec["features"]), name
        for col, v in rec["features"].items():
            w = now["features"][col]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                assert w is None or math.isnan(w), (name, col)
            else:
                assert w == pytest.approx(v, rel=1e-6, abs=1e-9), (name, col)
