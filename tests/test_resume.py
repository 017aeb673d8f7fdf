"""--resume: a killed batch loses nothing and redoes nothing (rows matched by path and content hash)."""
from __future__ import annotations

import csv

import pytest

import cli.predict as predict_mod
from cli.predict import main as predict_main

from .conftest import write_video
from .test_bad_inputs import tiny  # noqa: F401 - the shared tiny-model fixture

COMPARED = ("filename", "label", "status", "message", "n_frames", "n_faces", "n_tracks", "raw_score", "track",
            "path", "content_hash")


def _rows(p):
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def _key(rows):
    return sorted(tuple(r[k] for k in COMPARED) for r in rows)


@pytest.fixture
def videos(tmp_path, carphone_frames):
    d = tmp_path / "v"
    d.mkdir()
    for i in range(4):
        write_video(str(d / f"c{i}.mp4"), carphone_frames[i * 10:i * 10 + 20])
    (d / "broken.mp4").write_bytes(b"")
    return d


def _counting(monkeypatch):
    seen = []
    real = predict_mod.predict_one

    def spy(path, cfg):
        seen.append(path)
        return real(path, cfg)

    monkeypatch.setattr(predict_mod, "predict_one", spy)
    return seen


def test_resume_after_a_kill_redoes_only_what_is_missing(tmp_path, videos, monkeypatch, tiny):  # noqa: F811
    args = ["--model", tiny, "--workers", "1", "--timeout", "0", "--max-memory", "0"]  # in-process: spy sees calls
    full = tmp_path / "full.csv"
    assert predict_main([str(videos), "-o", str(full)] + args) == 1
    # a batch killed after two rows, in the middle of writing the third
    lines = full.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    done_before = {r["path"] for r in _rows(full)[:2]}
    seen = _counting(monkeypatch)
    assert predict_main([str(videos), "-o", str(cut), "--resume"] + args) == 1
    assert set(seen) == {r["path"] for r in _rows(full)} - done_before  # nothing redone, nothing lost
    assert _key(_rows(cut)) == _key(_rows(full))  # same rows as the uninterrupted run, each once
    seen.clear()
    assert predict_main([str(videos), "-o", str(cut), "--resume"] + args) == 1
    assert seen == []  # complete: nothing to do


def test_resume_redoes_changed_files_and_retryable_failures(tmp_path, videos, carphone_frames, monkeypatch,
                                                            tiny):  # noqa: F811
    args = ["--model", tiny, "--workers", "1", "--timeout", "0", "--max-memory", "0"]
    out = tmp_path / "p.csv"
    assert predict_main([str(videos), "-o", str(out)] + args) == 1
    rows = _rows(out)
    for r in rows:
        if r["filename"] == "c1.mp4":
            r["status"], r["message"] = "timeout", "still running after 300 s"
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_video(str(videos / "c2.mp4"), carphone_frames[60:90])  # same name, new content
    seen = _counting(monkeypatch)
    assert predict_main([str(videos), "-o", str(out), "--resume"] + args) == 1
    assert sorted(p.rsplit("/", 1)[1] for p in seen) == ["c1.mp4", "c2.mp4"]
    after = {r["filename"]: r for r in _rows(out)}
    assert len(after) == len(rows) == 5 and after["c1.mp4"]["status"] == "ok"


def test_resume_refuses_a_file_it_did_not_write(tmp_path, videos, capsys, tiny):  # noqa: F811
    out = tmp_path / "notes.csv"
    out.write_text("name,age\nx,3\n")
    assert predict_main([str(videos), "-o", str(out), "--resume", "--model", tiny]) == 2
    assert "not a predictions CSV" in capsys.readouterr().err and out.read_text() == "name,age\nx,3\n"


def test_resume_keeps_one_feature_row_per_video(tmp_path, videos, tiny):  # noqa: F811
    """--features-out follows the predictions: a resumed batch re-scores the cut rows and appends their features
    once, and keeps the features of the rows it kept (it used to append the re-scored ones a second time)."""
    args = ["--model", tiny, "--workers", "1", "--timeout", "0", "--max-memory", "0"]
    out, feats = tmp_path / "p.csv", tmp_path / "f.csv"
    assert predict_main([str(videos), "-o", str(out), "--features-out", str(feats)] + args) == 1
    full = _rows(feats)
    assert len(full) == 4  # four scored videos; the broken one has no features
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:3]))  # killed after two rows: the features file already had more
    assert predict_main([str(videos), "-o", str(out), "--features-out", str(feats), "--resume"] + args) == 1
    again = _rows(feats)
    assert sorted(r["path"] for r in again) == sorted(r["path"] for r in full)  # each video once
    by_path = {r["path"]: r for r in full}
    assert all(r == by_path[r["path"]] for r in again)  # the same values (deterministic extraction)
