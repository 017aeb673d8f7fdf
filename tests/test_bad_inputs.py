"""Hostile and broken inputs (issue 11): every input gets an honest row, a clear message and the right exit code.

The corpus is made by the tests (tests/badcorpus.py: FFmpeg through PyAV, OpenCV's writer, byte edits); a tiny
``meta``-only model keeps the scoring cheap, since statuses do not depend on the model.
"""
from __future__ import annotations

import csv
import os
import re
import time

import pytest

from cli.predict import ORCHESTRATION_STATUSES
from cli.predict import main as predict_main
from pipeline.extract import STATUSES
from pipeline.video import VIDEO_ERRORS

from .badcorpus import EXPECTED, make_corpus, tiny_model

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def read_rows(p):
    with open(p, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, carphone_frames, tiny):
    root = tmp_path_factory.mktemp("corpus")
    kinds = make_corpus(root / "videos", carphone_frames)
    out = root / "predictions.csv"
    rc = predict_main([str(root / "videos"), "-o", str(out), "--model", tiny, "--workers", "2"])
    rows = {os.path.abspath(r["path"]): r for r in read_rows(out)}
    return kinds, rows, rc


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_bad_input_gets_its_documented_status_and_a_plain_message(corpus_run, kind):
    kinds, rows, _ = corpus_run
    row = rows[os.path.abspath(kinds[kind])]
    status, words = EXPECTED[kind]
    assert row["filename"], row  # never empty
    assert row["status"] == status, (kind, row["status"], row["message"])
    for w in words:
        assert w in row["message"].lower(), (kind, row["message"])
    if status not in ("ok", "partial"):
        assert row["message"] and float(row["label"]) == 0.5
        assert "Traceback" not in row["message"] and "Error:" not in row["message"], row["message"]


def test_the_corpus_run_has_one_row_per_input_and_exit_code_1(corpus_run):
    kinds, rows, rc = corpus_run
    assert rc == 1  # some inputs scored, some not
    assert {os.path.abspath(p) for p in kinds.values()} == set(rows)
    # OpenCV's '[ WARN:0@...] global cap.cpp' prefixes never reach the CSV raw
    assert not any(re.search(r"\[ WARN:\d", r["message"]) for r in rows.values())


def test_every_status_a_row_can_have_is_in_the_readme_table():
    text = open(README, encoding="utf-8").read()
    table = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M))
    assert set(STATUSES) | set(VIDEO_ERRORS) | set(ORCHESTRATION_STATUSES) <= table


def test_missing_folder_is_a_usage_error_and_writes_nothing(tmp_path, capsys, tiny):
    out = tmp_path / "p.csv"
    rc = predict_main([str(tmp_path / "videos") + "/", "-o", str(out), "--model", tiny])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert "no such file or folder" in err and "Traceback" not in err


def test_existing_output_is_never_overwritten_without_force(tmp_path, capsys, carphone_path, tiny):
    out = tmp_path / "p.csv"
    out.write_text("precious\n")
    rc = predict_main([carphone_path, "-o", str(out), "--model", tiny, "--workers", "1", "--timeout", "0"])
    assert rc == 3 and out.read_text() == "precious\n"
    assert "--force" in capsys.readouterr().err
    assert predict_main([carphone_path, "-o", str(out), "--model", tiny, "--workers", "1", "--timeout", "0",
                         "--force"]) == 0
    assert read_rows(out)[0]["status"] == "ok"
    feats = tmp_path / "f.csv"
    feats.write_text("precious\n")
    assert predict_main([carphone_path, "-o", str(tmp_path / "new.csv"), "--features-out", str(feats),
                         "--model", tiny]) == 3
    assert feats.read_text() == "precious\n" and not (tmp_path / "new.csv").exists()


def test_nothing_readable_exits_2_and_leading_dash_names_work_after_double_dash(tmp_path, monkeypatch, tiny):
    (tmp_path / "-rf.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("hello")
    monkeypatch.chdir(tmp_path)
    rc = predict_main(["-o", "p.csv", "--model", tiny, "--workers", "1", "--timeout", "0", "--", "-rf.mp4",
                       "notes.mp4"])
    rows = read_rows(tmp_path / "p.csv")
    assert rc == 2
    assert [(r["filename"], r["status"]) for r in rows] == [("-rf.mp4", "empty_file"), ("notes.mp4", "unreadable")]


def test_a_folder_of_10000_entries(tmp_path, tiny):
    """10,000 zero-byte '.mp4' files: a row each, in bounded time, exit code 2 (none could be read)."""
    d = tmp_path / "many"
    d.mkdir()
    for i in range(10_000):
        open(d / f"v{i:05d}.mp4", "wb").close()
    out = tmp_path / "p.csv"
    t0 = time.perf_counter()
    rc = predict_main([str(d), "-o", str(out), "--model", tiny, "--workers", "2"])
    took = time.perf_counter() - t0
    rows = read_rows(out)
    assert rc == 2 and len(rows) == 10_000 and {r["status"] for r in rows} == {"empty_file"}
    assert all(r["filename"] for r in rows)
    assert took < 60, took


def test_frames_over_the_cap_are_downscaled_on_decode(carphone_path):
    from pipeline.video import read_video

    full = read_video(carphone_path, n_frames=4, dense=8)
    small = read_video(carphone_path, n_frames=4, dense=8, max_side=88)
    assert full.info["decode_scale"] == 1.0 and not full.warnings
    assert small.frames.shape[1:3] == (72, 88) and small.info["decode_scale"] == pytest.approx(0.5)
    assert (small.info["source_width"], small.info["source_height"]) == (176, 144)
    assert small.info["bits_per_pixel"] == full.info["bits_per_pixel"]  # a fact of the file, not of the decode
    assert "downscaled from 176x144 to 88x72" in small.warnings[0]
    assert small.dense_frames.shape[1:3] == (72, 88)


def test_native_log_takes_what_c_libraries_write_to_fd_2(capfd):
    from pipeline.video import native_log

    with native_log() as lines:
        os.write(2, b"[h264 @ 0x55d1c0de] error while decoding MB 3 4\n" * 3)
        os.write(2, b"[ WARN:0@2.793] global cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally available\n")
    assert capfd.readouterr().err == ""
    assert lines == ["[h264] error while decoding MB 3 4 (x3)", "OpenCV: open VIDEOIO(FFMPEG): backend is generally "
                                                                 "available"]


def test_every_status_a_row_can_carry_is_declared_once():
    """Statuses come from VideoError codes, the extraction and the worker pool: all in pipeline.extract.STATUSES."""
    import re as _re

    from pipeline.extract import STATUSES

    codes = set(_re.findall(r'VideoError\("([a-z_]+)"', open(os.path.join(os.path.dirname(__file__), "..", "pipeline",
                                                                            "video.py")).read()))
    assert codes and codes <= set(STATUSES), codes - set(STATUSES)
    assert {s for s, _ in EXPECTED.values()} <= set(STATUSES)
    assert {"timeout", "out_of_memory", "crashed", "partial"} <= set(STATUSES)
