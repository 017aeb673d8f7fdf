"""Perturbation library and its CLI (synthesis/perturb.py, python -m synthesis perturb)."""
from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

pytest.importorskip("av")

from cli.synthesis import main as synthesis_main  # noqa: E402
from .conftest import moving_texture, psnr  # noqa: E402
from synthesis.codec import read_video_frames, write_video_frames  # noqa: E402
from synthesis.perturb import (  # noqa: E402
    PAIRS,
    PERTURBATIONS,
    change_fps,
    downscale_frames,
    expand_kinds,
    overlay_logo,
    overlay_text,
    parse_kind,
    paste_patch,
    perturb_frames,
    split_final_codec,
)

T, H, W, FPS = 8, 96, 128, 30.0
#: kinds whose result does not depend on the seed
SEEDLESS = {"h264_crf23", "h264_crf30", "h264_crf35", "h264_crf40", "downscale", "fps15", "flip"}


def clip(t=T, h=H, w=W, seed=0):
    """A textured scene panning 2 px per frame, luma detail and smooth colour."""
    return moving_texture(t, h, w, seed, colour_sigma=10.0, ramp=0.0)


@pytest.fixture(scope="module")
def video():
    return clip()


@pytest.mark.parametrize("kind", list(PERTURBATIONS))
def test_each_perturbation_is_deterministic_and_changes_the_video(video, kind):
    a, fa = perturb_frames(video, kind, seed=3, fps=FPS)
    b, fb = perturb_frames(video, kind, seed=3, fps=FPS)
    assert np.array_equal(a, b) and fa == fb
    assert a.dtype == np.uint8 and a.shape[1:] == video.shape[1:]
    if kind != "fps15":
        assert len(a) == len(video) and fa == FPS
        assert (a != video).any(axis=-1).mean() > 0.002, kind  # it did something
    if kind not in SEEDLESS:
        c, _ = perturb_frames(video, kind, seed=4, fps=FPS)
        assert not np.array_equal(a, c), kind  # the seed draws the parameters


def test_h264_kinds_lose_more_with_higher_crf(video):
    p = [psnr(perturb_frames(video, f"h264_crf{c}", seed=0, fps=FPS)[0], video) for c in (23, 30, 35, 40)]
    assert all(x > y for x, y in zip(p, p[1:])), p
    assert p[-1] < 25 and p[0] > 30, p


def test_downscale_is_a_quarter_of_the_area_and_back(video):
    small = downscale_frames(video, factor=0.5)
    assert small.shape == (T, H // 2, W // 2, 3)
    out, _ = perturb_frames(video, "downscale", seed=0, fps=FPS)
    assert out.shape == video.shape
    back = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in small])
    assert np.array_equal(out, back)
    assert psnr(out, video) < 35  # the texture's finest detail is gone


def test_fps15_halves_a_30fps_video_and_keeps_every_second_frame(video):
    out, fps = perturb_frames(video, "fps15", seed=0, fps=30.0)
    assert fps == 15.0 and len(out) == T // 2
    assert np.array_equal(out, video[::2])
    out, fps = change_fps(clip(t=25), fps=25.0, target=15.0)
    assert len(out) == 15 and fps == 15.0
    out, fps = change_fps(video, fps=12.0, target=15.0)  # already slower: unchanged
    assert np.array_equal(out, video) and fps == 12.0


def test_flip_is_its_own_inverse(video):
    once, _ = perturb_frames(video, "flip", seed=0, fps=FPS)
    twice, _ = perturb_frames(once, "flip", seed=0, fps=FPS)
    assert np.array_equal(twice, video) and not np.array_equal(once, video)
    assert np.array_equal(once[:, :, 0], video[:, :, -1])


def test_tone_curves_are_monotone_and_go_the_drawn_way(video):
    flat = np.tile(np.arange(256, dtype=np.uint8)[None, None, :, None], (1, 1, 1, 3))
    for kind in ("brightness", "contrast", "gamma"):
        for seed in range(6):
            out, _ = perturb_frames(flat, kind, seed=seed, fps=FPS)
            curve = out[0, 0, :, 0].astype(int)
            assert np.all(np.diff(curve) >= 0), (kind, seed)  # order of grey levels kept
            assert np.abs(curve - np.arange(256)).max() >= 10, (kind, seed)
            if kind == "gamma":
                assert curve[0] == 0 and curve[255] == 255
            if kind == "contrast":
                assert abs(curve[128] - 128) <= 1
            if kind == "brightness":
                d = curve[40:216] - np.arange(40, 216)
                assert np.ptp(d) == 0  # one shift for every unclipped level


def _changed_box(a, b):
    ys, xs = np.nonzero((a != b).any(axis=(0, -1)))
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def test_overlays_change_only_their_region(video):
    out, (x0, y0, x1, y1) = overlay_text(video, "LIVE 2024", org=(10, 60), font_scale=0.8)
    changed = (out != video).any(axis=(0, -1))
    assert changed.any() and not changed[:y0].any() and not changed[y1:].any()
    assert not changed[:, :x0].any() and not changed[:, x1:].any()
    rng = np.random.default_rng(0)
    out = overlay_logo(video, box=(90, 5, 120, 35), alpha=0.7, rng=rng)
    changed = (out != video).any(axis=(0, -1))
    outside = np.ones_like(changed)
    outside[5:35, 90:120] = False
    assert changed.any() and not changed[outside].any()
    patch = np.full((20, 30, 3), 7, np.uint8)
    out = paste_patch(video, patch, at=(50, 40))
    assert (out[:, 40:60, 50:80] == 7).all()
    rest = np.ones((H, W), bool)
    rest[40:60, 50:80] = False
    assert np.array_equal(out[:, rest], video[:, rest])
    # the registry's overlays: one fixed, compact region for the whole video
    for kind in ("text", "logo", "patch"):
        for seed in range(4):
            out, _ = perturb_frames(video, kind, seed=seed, fps=FPS)
            y0, y1, x0, x1 = _changed_box(out, video)
            assert (y1 - y0) * (x1 - x0) < 0.35 * H * W, (kind, seed)
            per_frame = (out != video).any(axis=-1)
            assert (per_frame.any(axis=0) == per_frame.all(axis=0)).mean() > 0.97  # same place in every frame


def test_combinations_apply_both_in_order(video):
    ab, _ = perturb_frames(video, "noise+blur", seed=9, fps=FPS)
    a, _ = perturb_frames(video, "noise", seed=9, fps=FPS)
    b_of_a, _ = perturb_frames(a, "blur", seed=9, fps=FPS)
    assert np.array_equal(ab, b_of_a)
    assert not np.array_equal(ab, a) and not np.array_equal(ab, perturb_frames(video, "blur", seed=9, fps=FPS)[0])
    out, fps = perturb_frames(video, "fps15+flip", seed=0, fps=FPS)
    assert fps == 15.0 and np.array_equal(out, video[::2, :, ::-1])


def test_kind_lists_and_the_final_codec():
    assert expand_kinds("all") == list(PERTURBATIONS)
    assert expand_kinds(["blur,flip", "blur", "pairs"]) == ["blur", "flip"] + list(PAIRS)
    for k in PAIRS:
        assert len(parse_kind(k)) == 2
    with pytest.raises(ValueError):
        expand_kinds("blur+sepia")
    assert split_final_codec("downscale+h264_crf30") == ("downscale", 30)
    assert split_final_codec("h264_crf40") == (None, 40)
    assert split_final_codec("h264_crf40+blur") == ("h264_crf40+blur", None)


def test_cli_writes_every_kind_and_survives_a_bad_file(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_video_frames(str(src / "sub" / "a.mp4"), clip(t=10, h=64, w=80), fps=30.0, crf=12)
    write_video_frames(str(src / "b.mkv"), clip(t=6, h=48, w=64, seed=1), fps=25.0, crf=12)
    (src / "broken.mp4").write_bytes(b"not a video at all" * 50)
    out = tmp_path / "out"
    rc = synthesis_main(["perturb", str(src), str(out), "--kinds", "fps15", "h264_crf40", "flip+noise",
                         "--seed", "1"])
    assert rc == 1  # the broken file is reported, the rest written
    rows = list(csv.DictReader(open(out / "perturbations.csv")))
    status = {(r["kind"], r["source"]): r for r in rows}
    assert {r["status"] for r in rows if r["source"] == "broken.mp4"} == {"unreadable"}
    frames, fps = read_video_frames(str(out / "fps15" / "sub" / "a.mp4"))
    assert len(frames) == 5 and fps == pytest.approx(15.0)  # really half the frames
    assert status[("fps15", "sub/a.mp4")]["crf"] == "18"
    crf40, _ = read_video_frames(str(out / "h264_crf40" / "sub" / "a.mp4"))
    assert status[("h264_crf40", "sub/a.mp4")]["crf"] == "40" and len(crf40) == 10
    orig, _ = read_video_frames(str(src / "sub" / "a.mp4"))
    assert psnr(crf40, orig) < psnr(read_video_frames(str(out / "flip+noise" / "sub" / "a.mp4"))[0][:, :, ::-1], orig)
    assert (out / "flip+noise" / "b.mp4").is_file()  # the container becomes mp4
    # the same run again writes the same bytes
    again = tmp_path / "again"
    synthesis_main(["perturb", str(src), str(again), "--kinds", "flip+noise", "--seed", "1"])
    assert (again / "flip+noise" / "b.mp4").read_bytes() == (out / "flip+noise" / "b.mp4").read_bytes()
