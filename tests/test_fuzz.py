"""Fuzzing: mutated real clips (byte flips, truncations, header-field edits) never crash, hang or blow up memory.

Hypothesis draws the mutations (``derandomize``: the same cases on every run, so CI is reproducible); they run
through the same supervised workers as ``predict.py`` (per-video deadline, memory cap), each through the whole
pipeline: decode, face detection, features, scoring. The default run makes :data:`N_CASES` cases within
:data:`BUDGET_S` seconds; ``pytest -m slow tests/test_fuzz.py`` runs :data:`N_CASES_SLOW` more, randomised.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cli.predict import ORCHESTRATION_STATUSES, _predict_item  # noqa: E402
from pipeline.batch import supervised_map  # noqa: E402
from pipeline.extract import STATUSES  # noqa: E402
from pipeline.video import VIDEO_ERRORS  # noqa: E402

from .badcorpus import encode  # noqa: E402
from .conftest import write_video  # noqa: E402
from .test_bad_inputs import tiny  # noqa: E402,F401 - the shared tiny-model fixture

N_CASES = 40
N_CASES_SLOW = 400
BUDGET_S = 60.0
#: per-video deadline and memory cap in the fuzz run (a 24-frame 176x144 clip takes well under a second)
TIMEOUT_S = 20.0
MAX_MEMORY_MB = 2048
#: MP4 boxes whose fields steer the demuxer (sizes, counts, offsets, time scales, codec parameters)
BOXES = (b"ftyp", b"moov", b"mvhd", b"tkhd", b"mdhd", b"hdlr", b"stsd", b"avcC", b"stts", b"stss", b"stsc", b"stsz",
         b"stco", b"mdat")


@st.composite
def mutation(draw):
    """A list of edits: ('flip', where, xor), ('cut', where), ('field', box, offset, 32-bit value)."""
    edits = draw(st.lists(st.one_of(
        st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
        st.tuples(st.just("cut"), st.floats(0, 1)),
        st.tuples(st.just("field"), st.sampled_from(BOXES), st.integers(0, 40),
                  st.sampled_from([0, 1, 0xFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, 8192, 65535])
                  | st.integers(0, 2**32 - 1)),
    ), min_size=1, max_size=6))
    base = draw(st.sampled_from(["h264", "mjpeg"]))
    return base, edits


def apply(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for e in edits:
        if not b:
            break
        if e[0] == "flip":
            b[min(len(b) - 1, int(e[1] * len(b)))] ^= e[2]
        elif e[0] == "cut":
            del b[max(1, int(e[1] * len(b))):]
        else:
            k = b.find(e[1])
            if k >= 0 and k + 4 + e[2] + 4 <= len(b):
                b[k + 4 + e[2]:k + 8 + e[2]] = int(e[3]).to_bytes(4, "big")
    return bytes(b)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, carphone_frames):
    d = tmp_path_factory.mktemp("seeds")
    clip = np.ascontiguousarray(carphone_frames[:24])
    h264 = open(encode(d / "seed.mp4", clip), "rb").read()
    mjpeg = open(write_video(str(d / "seed.avi"), clip, fourcc="MJPG"), "rb").read()
    return {"h264": (h264, ".mp4"), "mjpeg": (mjpeg, ".avi")}


DOCUMENTED = set(STATUSES) | set(VIDEO_ERRORS) | set(ORCHESTRATION_STATUSES)


def _fuzz(cases, seeds, model, root):
    os.makedirs(root, exist_ok=True)
    items = []
    for i, (base, edits) in enumerate(cases):
        data, ext = seeds[base]
        p = os.path.join(root, f"case{i:04d}{ext}")
        with open(p, "wb") as f:
            f.write(apply(data, edits))
        items.append((p, {"model": model, "frames": 8, "dense": 0, "device": "cpu", "explain": None}))
    t0 = time.monotonic()
    outcomes = list(supervised_map(_predict_item, items, 2, timeout=TIMEOUT_S, max_memory_mb=MAX_MEMORY_MB))
    took = time.monotonic() - t0
    assert len(outcomes) == len(cases)
    bad = []
    for oc in outcomes:
        base, edits = cases[oc.index]
        if oc.status != "done":  # timeout, out_of_memory, crashed, or an exception escaped predict_one
            bad.append((oc.status, oc.message, base, edits))
            continue
        row, _ = oc.value
        if row["status"] not in DOCUMENTED or row["status"] == "error" \
                or row["status"] not in ("ok", "partial") and not row["message"]:
            bad.append((row["status"], row["message"], base, edits))
        if not oc.peak_rss_mb < MAX_MEMORY_MB:
            bad.append(("memory", f"{oc.peak_rss_mb:.0f} MB", base, edits))
    assert not bad, bad[:5]
    return outcomes, took


def draw_cases(n: int, *, derandomize: bool = True) -> list:
    """``n`` mutations drawn by Hypothesis (the same ones every run when ``derandomize``)."""
    cases: list = []

    @settings(max_examples=n, deadline=None, derandomize=derandomize, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(mutation())
    def collect(case):
        cases.append(case)

    collect()
    return cases[:n]


def test_fuzz_mutated_clips_within_budget(seeds, tiny, tmp_path):  # noqa: F811
    t0 = time.monotonic()
    cases = draw_cases(N_CASES)
    outcomes, took = _fuzz(cases, seeds, tiny, str(tmp_path / "cases"))
    statuses = sorted({oc.value[0]["status"] for oc in outcomes})
    assert len(cases) == N_CASES and time.monotonic() - t0 < BUDGET_S, (took, statuses)
    assert len(statuses) >= 3, statuses  # the mutations reach more than one code path


@pytest.mark.slow
def test_fuzz_longer(seeds, tiny, tmp_path):  # noqa: F811
    _fuzz(draw_cases(N_CASES_SLOW, derandomize=False), seeds, tiny, str(tmp_path / "cases"))
