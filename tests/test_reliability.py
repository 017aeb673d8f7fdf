"""Reliability: a small, blocky or blurred face lowers it and the CSV says why."""
import csv

import pytest

from modeling.reliability import LIMITS, reliability

GOOD = {"meta__side_px__q50": 300.0, "quality__upscale__q50": -1.3, "quality__blockiness__q50": 0.1,
        "quality__sharpness__q50": 2.0}


def test_a_large_sharp_lightly_compressed_face_is_fully_reliable():
    assert reliability(GOOD) == (1.0, "")


@pytest.mark.parametrize("col,bad,word", [("meta__side_px__q50", 45.0, "small face"),
                                          ("quality__blockiness__q50", 1.15, "blocking"),
                                          ("quality__sharpness__q50", 0.32, "blurred"),
                                          ("quality__upscale__q50", -0.05, "native detail")])
def test_each_limit_lowers_reliability_and_is_named(col, bad, word):
    r = reliability(dict(GOOD, **{col: bad}))
    assert r.score < 0.15 and word in r.reason


def test_reliability_falls_monotonically_with_face_size_and_ignores_missing_measurements():
    scores = [reliability(dict(GOOD, meta__side_px__q50=s)).score for s in (30, 60, 120, 200, 300)]
    assert scores == sorted(scores) and scores[0] == 0.0 and scores[-1] == 1.0
    assert reliability({"quality__sharpness__q50": float("nan")}) == (1.0, "")
    assert {c for c, *_ in LIMITS} == set(GOOD)


def test_predict_writes_reliability_for_scored_rows(carphone_path, tmp_path):
    from cli.predict import main as predict_main

    out = tmp_path / "p.csv"
    assert predict_main([carphone_path, "-o", str(out), "--workers", "1"]) == 0
    row = next(csv.DictReader(open(out)))
    rel = float(row["reliability"])
    # carphone: a 176x144 clip whose face is about 60 px: well below the size where the traces survive
    assert 0.0 <= rel < 0.5 and "small face" in row["reliability_note"]
