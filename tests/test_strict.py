"""A failing calculator is visible: status partial (scored, exit code 0, named families), --strict stops (exit 4)."""
from __future__ import annotations

import csv

import pytest

import pipeline.extract as extract
from cli.predict import main as predict_main
from cli.train import main as train_main

from .conftest import write_video
from .test_bad_inputs import tiny  # noqa: F401 - the shared tiny-model fixture

IN_PROCESS = ["--workers", "1", "--timeout", "0", "--max-memory", "0"]  # so that the patch below reaches the run


@pytest.fixture
def broken_compression(monkeypatch):
    real = extract.compute_values

    def compute(track, calculators, **kw):
        values, errors = real(track, calculators, **kw)
        values = {k: v for k, v in values.items() if not k.startswith("meta__bits_per_pixel")}
        return values, dict(errors, **{"meta.compression": "RuntimeError: simulated failure"})

    monkeypatch.setattr(extract, "compute_values", compute)


def test_partial_rows_count_as_scored_and_strict_stops(tmp_path, carphone_path, tiny,  # noqa: F811
                                                       broken_compression, capsys):
    out = tmp_path / "p.csv"
    assert predict_main([carphone_path, "-o", str(out), "--model", tiny] + IN_PROCESS) == 0
    row = next(csv.DictReader(open(out)))
    assert row["status"] == "partial" and "failed families: meta" in row["message"]
    assert "1 scored (1 partial" in capsys.readouterr().err
    assert predict_main([carphone_path, "-o", str(out), "--model", tiny, "--force", "--strict"] + IN_PROCESS) == 4
    err = capsys.readouterr().err
    assert "stopped by --strict" in err and "meta.compression" in err and "Traceback" not in err


def test_train_strict_stops_at_the_first_failure(tmp_path, carphone_frames, broken_compression, capsys):
    for sub in ("real", "fake"):
        (tmp_path / "data" / sub).mkdir(parents=True)
        write_video(str(tmp_path / "data" / sub / "a.mp4"), carphone_frames[:16])
    rc = train_main(["--data", str(tmp_path / "data"), "--features", "meta", "-o", str(tmp_path / "m"), "--frames",
                     "4", "--workers", "1", "--cache", "", "--strict"])
    err = capsys.readouterr().err
    assert rc == 4 and "stopped by --strict: meta.compression failed" in err, err
    assert not (tmp_path / "m").exists()
