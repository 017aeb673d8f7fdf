"""predict.py --scheduler: the same per-video task on a Dask cluster (loopback only) gives the same rows."""
from __future__ import annotations

import csv

import pytest

from cli.predict import main as predict_main

from .conftest import write_video
from .test_bad_inputs import tiny  # noqa: F401 - the shared tiny-model fixture

pytest.importorskip("distributed")

COMPARED = ("filename", "label", "status", "message", "n_frames", "n_faces", "n_tracks", "raw_score", "track",
            "top_fake_features", "path", "content_hash")


def _rows(p):
    with open(p, newline="") as f:
        return sorted(tuple(r[k] for k in COMPARED) for r in csv.DictReader(f))


def test_local_cluster_with_two_workers_matches_the_single_process_output(tmp_path, carphone_frames,
                                                                          tiny):  # noqa: F811
    from distributed import Client, LocalCluster

    d = tmp_path / "v"
    d.mkdir()
    for i in range(3):
        write_video(str(d / f"c{i}.mp4"), carphone_frames[i * 20:i * 20 + 24])
    (d / "broken.mp4").write_text("not a video")
    single = tmp_path / "single.csv"
    assert predict_main([str(d), "-o", str(single), "--model", tiny, "--workers", "1", "--timeout", "0",
                         "--max-memory", "0"]) == 1
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster):
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        on_dask = tmp_path / "dask.csv"
        assert predict_main([str(d), "-o", str(on_dask), "--model", tiny,
                             "--scheduler", cluster.scheduler_address]) == 1
    assert _rows(on_dask) == _rows(single)
    assert len(_rows(single)) == 4
