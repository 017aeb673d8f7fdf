"""Every command turns expected failures into one line on stderr (no traceback unless --debug); Ctrl-C is clean;
library warnings land in the rows, not on the terminal."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from cli.evaluate import main as evaluate_main
from cli.predict import main as predict_main
from cli.report import main as report_main
from cli.train import main as train_main

from .conftest import write_video
from .test_bad_inputs import tiny  # noqa: F401 - the shared tiny-model fixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _one_clean_line(err: str, *words):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("call,words", [
    (lambda d: predict_main(["x.mp4", "--model", str(d / "nomodel"), "-o", str(d / "p.csv")]),
     ["no such model folder"]),
    (lambda d: evaluate_main([str(d / "missing.csv"), "--labels", str(d)]), ["No such file", "missing.csv"]),
    (lambda d: train_main(["--data", str(d / "nodata"), "-o", str(d / "m")]), ["no such file or folder", "nodata"]),
    (lambda d: train_main(["--data", str(d), "--features", "spectrall", "-o", str(d / "m")]),
     ["unknown feature set 'spectrall'"]),
    (lambda d: report_main([str(d / "nomodel")]), ["no such model folder"]),
])
def test_expected_failures_are_one_line_with_exit_code_2(tmp_path, capsys, call, words):
    assert call(tmp_path) == 2
    _one_clean_line(capsys.readouterr().err, *words)


def test_collected_expert_without_collected_fakes_stops_before_extraction(tmp_path, capsys, carphone_frames,
                                                                          monkeypatch):
    import pipeline.batch as batch

    monkeypatch.setattr(batch, "extract_video", lambda *a, **k: pytest.fail("extracted before the check"))
    (tmp_path / "reals").mkdir()
    write_video(str(tmp_path / "reals" / "a.mp4"), carphone_frames[:10])
    assert train_main(["--data", str(tmp_path / "reals"), "--synthesize", "--stack", "all,temporal@collected",
                       "-o", str(tmp_path / "m")]) == 2
    _one_clean_line(capsys.readouterr().err, "@collected", "no", "labelled fakes")


def test_bad_csv_for_evaluate_and_debug_shows_the_traceback(tmp_path, capsys):
    bad = tmp_path / "notpredictions.csv"
    bad.write_text("a,b\n1,2\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\nx.mp4,FAKE\n")
    assert evaluate_main([str(bad), "--labels", str(labels)]) == 2
    _one_clean_line(capsys.readouterr().err, "needs the columns filename and label")
    assert evaluate_main([str(bad), "--labels", str(labels), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_opencv_and_ffmpeg_lines_go_into_the_rows_not_the_terminal(tmp_path, capfd, carphone_path, tiny):  # noqa: F811
    data = open(carphone_path, "rb").read()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])  # moov atom lost: FFmpeg and OpenCV complain
    (tmp_path / "random.mp4").write_bytes(os.urandom(50_000))
    out = tmp_path / "p.csv"
    assert predict_main([str(tmp_path), "-o", str(out), "--model", tiny, "--workers", "1"]) == 2
    err = capfd.readouterr().err
    assert "[ WARN:" not in err and "cap.cpp" not in err and "@ 0x" not in err, err
    rows = {r["filename"]: r for r in csv.DictReader(open(out))}
    assert "index (moov atom) is missing" in rows["cut.mp4"]["message"]


def _group_members(pgid: int) -> list[int]:
    """Processes of the process group ``pgid`` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ...
                out.append(int(entry))
    return out


def _signal_if_alive(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="holds the batch through /proc (Linux)")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_ends_with_a_count_and_no_traceback(tmp_path, carphone_frames, tiny, how):  # noqa: F811
    """A real SIGINT to the process group, as a terminal sends it, in the middle of a 2-worker batch; or a
    SIGTERM to the main process only, as ``timeout`` or a job scheduler sends it: the same clean stop.

    The batch is held in the middle whatever the machine's speed: once the first row is written, every other
    process of the batch (its workers) is stopped with SIGSTOP, so the batch cannot finish before the signal
    lands; they are let go (SIGCONT) right after it."""
    vids = tmp_path / "v"
    vids.mkdir()
    for i in range(18):
        write_video(str(vids / f"c{i:02d}.mp4"), carphone_frames[(i % 6) * 8:(i % 6) * 8 + 40])
    out = tmp_path / "p.csv"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "predict.py"), str(vids), "-o", str(out), "--model",
                             tiny, "--workers", "2", "--frames", "16"], cwd=ROOT, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len(out.read_text().splitlines()) >= 2:
                break
            time.sleep(0.005)
        held = [pid for pid in _group_members(proc.pid) if pid != proc.pid]
        for pid in held:
            _signal_if_alive(pid, signal.SIGSTOP)
        assert held and proc.poll() is None, "finished before it could be interrupted"
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        for pid in held:
            _signal_if_alive(pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == (130 if how == "ctrl-c" else 143), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    n = len(list(csv.DictReader(open(out))))
    word = "interrupted" if how == "ctrl-c" else "terminated"
    assert n < 18 and f"{word}: {n} of 18 videos written to {out}" in err, err
    deadline = time.monotonic() + 20  # and no worker outlives it (they got no signal of their own)
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("worker processes outlived the stopped batch")
