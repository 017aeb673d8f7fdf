"""The same input and model give bit-identical features and predictions, whatever the number of workers."""
from __future__ import annotations

import csv

import pytest

from cli.predict import main as predict_main

from .conftest import write_video


def _table(p, drop=("seconds",)):
    with open(p, newline="") as f:
        return sorted(tuple((k, v) for k, v in r.items() if k not in drop) for r in csv.DictReader(f))


@pytest.fixture(scope="module")
def clips(tmp_path_factory, carphone_frames):
    d = tmp_path_factory.mktemp("det")
    for i, (a, b) in enumerate([(0, 24), (70, 94)]):
        f = carphone_frames[a:b] if i != 1 else carphone_frames[a:b, :, ::-1]
        write_video(str(d / f"c{i}.mp4"), f)
    return d


def test_full_feature_set_is_bit_identical_across_runs_and_worker_counts(clips, tmp_path):
    """The shipped model (all families) on two short clips: once with one worker, once with two."""
    runs = []
    for workers in (1, 2):
        out, feats = tmp_path / f"p{workers}.csv", tmp_path / f"f{workers}.csv"
        assert predict_main([str(clips), "-o", str(out), "--features-out", str(feats), "--frames", "8",
                             "--workers", str(workers)]) == 0
        runs.append((_table(out), _table(feats)))
    (p1, f1), (p2, f2) = runs
    assert len(p1) == 2 and len(f1) == 2
    assert p1 == p2  # labels, raw scores, top features: the same strings, so the same floats
    assert f1 == f2  # every feature value, written with repr precision
