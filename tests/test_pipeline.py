"""End to end: bad inputs get statuses; train -> predict separates held-out fakes."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from synthesis.selfblend import sample_blend_params, self_blend
from cli.predict import main as predict_main
from cli.train import main as train_main
from pipeline.extract import extract_video
from features.registry import select

from .conftest import write_video

FEATURES = "spectral,meta"


def _read_csv(p):
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, carphone_path, carphone_frames):
    d = tmp_path_factory.mktemp("bad")
    (d / "zero.mp4").write_bytes(b"")
    (d / "text.mp4").write_bytes(b"definitely not a video\n" * 200)
    data = open(carphone_path, "rb").read()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (12, 120, 160, 3), dtype=np.uint8)
    write_video(str(d / "noface.mp4"), noise)
    # odd resolution, good face: carphone cut to 175x143
    write_video(str(d / "odd.avi"), np.ascontiguousarray(carphone_frames[:20, :143, :175]), fourcc="MJPG")
    return d


def test_every_bad_input_gets_a_row_with_a_status(bad_inputs, trained, tmp_path):
    out = tmp_path / "pred.csv"
    missing = str(bad_inputs / "missing.mp4")
    rc = predict_main([str(bad_inputs), missing, "-o", str(out), "--workers", "2", "--model", str(trained[1])])
    assert rc == 1  # some inputs could not be scored
    rows = {r["filename"]: r for r in _read_csv(out)}
    assert set(rows) == {"zero.mp4", "text.mp4", "truncated.mp4", "noface.mp4", "odd.avi", "missing.mp4"}
    assert rows["zero.mp4"]["status"] == "empty_file"
    assert rows["missing.mp4"]["status"] == "not_found"
    assert rows["text.mp4"]["status"] in ("unreadable", "no_frames")
    assert rows["noface.mp4"]["status"] == "no_face"
    assert rows["odd.avi"]["status"] == "ok"
    # carphone's index (moov atom) is at the end: cut to a third, the container cannot be opened at all
    assert rows["truncated.mp4"]["status"] == "unreadable"
    for r in rows.values():
        if r["status"] != "ok":
            assert r["message"], r  # every failure says why
            assert float(r["label"]) == 0.5


def _make_clip_pairs(root, frames, n, *, seed):
    """n (real, self-blended fake) pairs of short clips cut from carphone, each pair one group."""
    from pipeline.faces import FaceDetector

    det = FaceDetector()
    rng = np.random.default_rng(seed)
    os.makedirs(root / "real", exist_ok=True)
    os.makedirs(root / "fake", exist_ok=True)
    for i in range(n):
        start = int(rng.integers(0, len(frames) - 24))
        clip = frames[start:start + 24].astype(np.float32)
        clip = np.clip(clip * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        if i % 2:
            clip = np.ascontiguousarray(clip[:, :, ::-1])
        params = sample_blend_params(rng)
        params["sharpen"] = -1.5  # always a visible blur, so that a small test set separates
        fake = []
        for f in clip:
            faces = det.detect(f)
            fake.append(self_blend(f, faces[0].box, params=params, rng=rng).frame if faces else f)
        write_video(str(root / "real" / f"c{seed}_{i:02d}.mp4"), clip)
        write_video(str(root / "fake" / f"c{seed}_{i:02d}_fake.mp4"), np.stack(fake))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, carphone_frames):
    root = tmp_path_factory.mktemp("train")
    _make_clip_pairs(root / "data", carphone_frames, 12, seed=1)
    _make_clip_pairs(root / "heldout", carphone_frames, 3, seed=2)
    model_dir = root / "model"
    rc = train_main(["--data", str(root / "data"), "--features", FEATURES, "-o", str(model_dir), "--frames", "8",
                     "--workers", "1", "--folds", "4", "--cache", str(root / "cache")])
    assert rc == 0
    return root, model_dir


def test_train_writes_text_model_and_card_and_cv_beats_chance(trained):
    root, model_dir = trained
    card = json.load(open(model_dir / "model_card.json"))
    assert open(model_dir / "model.txt").read().startswith("tree")  # LightGBM text format, not a pickle
    assert card["frames"] == 8 and card["feature_set"] == FEATURES
    assert card["cv"]["auc"] > 0.75, card["cv"]
    assert {"a", "b"} <= set(card["calibration"])
    groups = {r["group"]: set() for r in _read_csv(model_dir / "oof.csv")}
    for r in _read_csv(model_dir / "oof.csv"):
        groups[r["group"]].add(r["fold"])
    assert all(len(f) == 1 for f in groups.values())  # a fake and its original never split across folds


def test_predict_separates_held_out_fakes(trained, tmp_path):
    root, model_dir = trained
    out = tmp_path / "p.csv"
    assert predict_main([str(root / "heldout"), "--model", str(model_dir), "-o", str(out), "--workers", "1"]) == 0
    rows = _read_csv(out)
    assert all(r["status"] == "ok" for r in rows), rows
    fake = [float(r["label"]) for r in rows if "_fake" in r["filename"]]
    real = [float(r["label"]) for r in rows if "_fake" not in r["filename"]]
    assert len(fake) == len(real) == 3
    assert np.mean(fake) > np.mean(real)
    assert sum(f > r for f in fake for r in real) >= 7  # pairwise AUC >= 7/9 on groups never seen


def test_cache_makes_retraining_skip_decoding(trained, tmp_path, monkeypatch):
    root, model_dir = trained
    import pipeline.batch as batch

    def boom(*a, **k):
        raise AssertionError("decoded again despite a warm cache")

    monkeypatch.setattr(batch, "extract_video", boom)
    assert train_main(["--data", str(root / "data"), "--features", FEATURES, "-o", str(tmp_path / "m2"),
                       "--frames", "8", "--workers", "1", "--folds", "4", "--cache", str(root / "cache")]) == 0


def test_two_faces_give_two_tracks(carphone_frames, tmp_path):
    both = np.concatenate([carphone_frames[:16], carphone_frames[:16, :, ::-1]], axis=2)  # two people side by side
    p = write_video(str(tmp_path / "two.mp4"), np.ascontiguousarray(both))
    r = extract_video(p, calculators=select("meta"), n_frames=8)[0]
    assert r.status == "ok" and len(r.tracks) == 2


def test_segment_rows_train_and_score_tracks_by_their_segments(trained, tmp_path):
    """--rows segment:K: K-frame rows in training, one out-of-fold score per video, tracks scored as the mean
    of their segments, explanations still additive."""
    root, _ = trained
    model_dir = tmp_path / "seg"
    assert train_main(["--data", str(root / "data"), "--features", FEATURES, "-o", str(model_dir), "--frames", "8",
                       "--workers", "1", "--folds", "4", "--cache", str(root / "cache"), "--rows", "segment:4"]) == 0
    card = json.load(open(model_dir / "model_card.json"))
    assert card["rows"] == "segment:4"
    table = _read_csv(model_dir / "features.csv")
    oof = _read_csv(model_dir / "oof.csv")
    # 8 frames -> two 4-frame segments per video (one where the face track is short)
    per_video = __import__("collections").Counter(r["filename"] + r["variant"] for r in table)
    assert set(per_video.values()) <= {1, 2} and sum(v == 2 for v in per_video.values()) >= 0.8 * len(per_video)
    assert len({r["filename"] for r in oof}) == len(oof)
    from modeling.detector import DetectorModel
    from reporting.explain import write_explanation

    model = DetectorModel.load(str(model_dir))
    r = extract_video(str(root / "heldout" / "real" / "c2_00.mp4"), calculators=select(FEATURES), n_frames=8)[0]
    assert r.tracks[0].n_frames == 8
    sc = model.score_track(r.tracks[0].values)
    assert sc.n_rows == 2
    rows = [dict(zip(model.feature_names, x)) for x in model.matrix(
        __import__("modeling.rows", fromlist=["track_rows"]).track_rows(r.tracks[0].values, "segment:4"))]
    assert sc.raw == pytest.approx(float(np.mean(model.raw_score(model.matrix(rows)))), abs=1e-9)
    res = write_explanation(tmp_path / "ex", "v.mp4", model=model, features=dict(zip(model.feature_names, sc.values)),
                            score=sc)
    assert res["raw_score"] == pytest.approx(sc.raw) and abs(res["additivity_error"]) < 1e-9
    out = tmp_path / "p.csv"
    assert predict_main([str(root / "heldout"), "--model", str(model_dir), "-o", str(out), "--workers", "1"]) == 0
    assert all(r["status"] == "ok" for r in _read_csv(out))


def test_cache_entries_serve_any_subset_of_their_calculators(carphone_path, tmp_path, monkeypatch):
    """An extraction with more families fills the cache; a later one with fewer reads it, columns cut to its own."""
    import pipeline.batch as batch

    kw = dict(n_frames=6, dense=0, device="cpu", variants=("orig",), seed=0, cache_dir=str(tmp_path / "c"))
    full = batch.extract_cached(carphone_path, calculators=select("meta,spectral"), **kw)[0]

    def boom(*a, **k):
        raise AssertionError("decoded again although the cache holds a superset")

    monkeypatch.setattr(batch, "extract_video", boom)
    sub = batch.extract_cached(carphone_path, calculators=select("meta"), **kw)[0]
    cols = set(sub["tracks"][0]["features"])
    assert cols and {c.split("__")[0] for c in cols} == {"meta"}
    assert all(sub["tracks"][0]["features"][c] == full["tracks"][0]["features"][c] for c in cols)
    assert {k.split("__")[0] for k in sub["tracks"][0]["values"]} == {"meta"}
    with pytest.raises(AssertionError, match="decoded again"):  # a family the entry lacks must be computed
        batch.extract_cached(carphone_path, calculators=select("wavelet"), **kw)


def test_a_new_family_adds_to_a_cache_entry_and_never_narrows_it(carphone_path, tmp_path, monkeypatch):
    """Asking for a family the entry lacks computes it with the entry's own families, so the entry grows: the
    families it was filled with are still served without decoding again, with the same values."""
    import pipeline.batch as batch

    kw = dict(n_frames=6, dense=0, device="cpu", variants=("orig",), seed=0, cache_dir=str(tmp_path / "c"))
    first = batch.extract_cached(carphone_path, calculators=select("meta,spectral"), **kw)[0]
    new = batch.extract_cached(carphone_path, calculators=select("wavelet"), **kw)[0]
    assert {c.split("__")[0] for c in new["tracks"][0]["features"]} == {"wavelet"}  # only what was asked

    def boom(*a, **k):
        raise AssertionError("decoded again although the cache holds a superset")

    monkeypatch.setattr(batch, "extract_video", boom)
    for spec, ref in (("meta,spectral", first), ("wavelet", new)):
        again = batch.extract_cached(carphone_path, calculators=select(spec), **kw)[0]
        assert again["tracks"][0]["features"] == ref["tracks"][0]["features"]


def test_eval_data_is_scored_never_trained_and_carries_an_interval(trained, tmp_path):
    root, _ = trained
    model_dir = tmp_path / "ev"
    assert train_main(["--data", str(root / "data"), "--features", FEATURES, "-o", str(model_dir), "--frames", "8",
                       "--workers", "1", "--folds", "4", "--cache", str(root / "cache"),
                       "--eval-data", str(root / "heldout")]) == 0
    card = json.load(open(model_dir / "model_card.json"))
    ev = card["evaluation"]["overall"]
    assert ev["n"] == 6 and ev["n_fake"] == 3
    assert ev["auc"] >= 7 / 9  # the held-out pairs separate, as predict.py finds
    lo, hi = ev["auc_ci95"]
    assert 0.0 <= lo <= ev["auc"] <= hi <= 1.0
    from pipeline.cache import file_hash

    held = {file_hash(str(p)) for p in (root / "heldout").rglob("*.mp4")}
    assert not held & set(card["training_videos"]["content_hashes"])
    assert "--eval-data" in card["training"]["command"]


def test_stacked_family_experts_train_load_and_explain(trained, tmp_path):
    """--stack --weights kinds: a card with the stacker's families and non-negative weights, one text model that
    loads like any other, and explanations that still add up to the score."""
    root, _ = trained
    model_dir = tmp_path / "st"
    assert train_main(["--data", str(root / "data"), "--features", FEATURES, "-o", str(model_dir), "--frames", "8",
                       "--workers", "1", "--folds", "4", "--cache", str(root / "cache"), "--stack",
                       "--weights", "kinds"]) == 0
    card = json.load(open(model_dir / "model_card.json"))
    st = card["training"]["stacker"]
    assert sorted(st["experts"]) == ["meta", "spectral"]
    assert len(st["coef"]) == len(st["experts"]) and min(st["coef"]) >= 0 and max(st["coef"]) > 0
    assert card["training"]["weights"] == "kinds" and "--stack" in card["training"]["command"]
    assert card["cv"]["auc"] > 0.75, card["cv"]
    from modeling.detector import DetectorModel
    from reporting.explain import write_explanation

    model = DetectorModel.load(str(model_dir))
    assert model.booster.num_trees() == len(st["experts"]) * card["params"]["num_boost_round"]
    r = extract_video(str(root / "heldout" / "fake" / "c2_00_fake.mp4"), calculators=select(FEATURES),
                      n_frames=8)[0]
    sc = model.score_track(r.tracks[0].values)
    res = write_explanation(tmp_path / "ex", "v.mp4", model=model, features=dict(zip(model.feature_names, sc.values)),
                            score=sc)
    assert abs(res["additivity_error"]) < 1e-9
    # each expert's share of the score, read from its own trees, adds up to the score
    assert list(sc.experts) == st["experts"] + ["intercept"]
    assert sum(sc.experts.values()) == pytest.approx(sc.raw, abs=1e-9)
    assert sc.experts["intercept"] == pytest.approx(st["intercept"])
    assert res["experts"] == sc.experts
    page = next((tmp_path / "ex").rglob("*.html")).read_text()
    assert "Per expert" in page
    out = tmp_path / "p.csv"
    assert predict_main([str(root / "heldout"), "--model", str(model_dir), "-o", str(out), "--workers", "1"]) == 0
    rows = _read_csv(out)
    assert all(r["status"] == "ok" for r in rows)
    fake = [float(r["label"]) for r in rows if "_fake" in r["filename"]]
    real = [float(r["label"]) for r in rows if "_fake" not in r["filename"]]
    assert np.mean(fake) > np.mean(real)
    from reporting.model_report import build_report

    page = open(build_report(str(model_dir), str(tmp_path / "rep"))).read()
    assert "Experts" in page and "Stacked experts" in page


def test_a_strided_sample_is_cached_apart_and_detects_with_its_own_key_frames(carphone_path, tmp_path, monkeypatch):
    """A spread and a strided sample of one file never share a cache entry, and each detects with its own
    key-frame interval (pipeline.faces.key_every)."""
    import pipeline.batch as batch
    from pipeline import faces

    seen = []
    plain = faces.FaceDetector.detect_frames
    monkeypatch.setattr(faces.FaceDetector, "detect_frames",
                        lambda self, frames, key_every=None: seen.append(key_every) or plain(self, frames,
                                                                                              key_every=key_every))
    kw = dict(calculators=select("meta"), n_frames=12, dense=0, device="cpu", variants=("orig",), seed=0,
              cache_dir=str(tmp_path / "c"))
    spread = batch.extract_cached(carphone_path, **kw)[0]
    strided = batch.extract_cached(carphone_path, stride=3, **kw)[0]  # decoded again: not the spread's entry
    assert seen == [faces.KEY_EVERY, faces.KEY_EVERY_STRIDED]
    assert spread["status"] == strided["status"] == "ok"

    def boom(*a, **k):
        raise AssertionError("decoded again although the cache holds this sample")

    monkeypatch.setattr(batch, "extract_video", boom)
    assert batch.extract_cached(carphone_path, stride=3, **kw)[0]["tracks"] == strided["tracks"]
    assert batch.extract_cached(carphone_path, **kw)[0]["tracks"] == spread["tracks"]


def test_the_card_records_the_stride_and_predict_samples_with_it(trained, tmp_path, monkeypatch):
    root, _ = trained
    model_dir = tmp_path / "strided"
    assert train_main(["--data", str(root / "data"), "--features", FEATURES, "-o", str(model_dir), "--frames", "8",
                       "--stride", "2", "--workers", "1", "--folds", "4", "--cache", str(root / "cache")]) == 0
    card = json.load(open(model_dir / "model_card.json"))
    assert card["stride"] == 2 and "stride" in card["integrity"]["scoring"]
    import cli.predict as cp

    strides = []
    plain = cp.extract_video
    monkeypatch.setattr(cp, "extract_video", lambda *a, **k: strides.append(k.get("stride")) or plain(*a, **k))
    out = tmp_path / "p.csv"  # one worker, no deadline and no memory limit: the videos run in this process
    assert predict_main([str(root / "heldout"), "--model", str(model_dir), "-o", str(out), "--workers", "1",
                         "--timeout", "0", "--max-memory", "0"]) == 0
    assert len(strides) == 6 and set(strides) == {2}
    from modeling.detector import DetectorModel, ModelError

    card["stride"] = 0  # the sampling changes every score: an edited stride is refused
    json.dump(card, open(model_dir / "model_card.json", "w"))
    with pytest.raises(ModelError, match="stride"):
        DetectorModel.load(str(model_dir))


def test_no_face_in_the_block_falls_back_to_the_whole_video(carphone_frames, tmp_path):
    """A face that enters after the strided block is still found: the whole video is sampled instead."""
    blank = np.stack([np.full(carphone_frames.shape[1:], 60 + k, np.uint8) for k in range(100)])  # no face
    late = np.concatenate([blank, carphone_frames[:100]])  # the face enters at frame 100 of 200
    p = write_video(str(tmp_path / "late.mp4"), late, fps=25.0)
    r = extract_video(p, calculators=select("meta"), n_frames=8, dense=0, stride=3)[0]  # block: frames 50-71
    assert r.status == "ok", r.message
    assert "no face in the sampled block" in r.message
    again = extract_video(p, calculators=select("meta"), n_frames=8, dense=0, stride=3)[0]
    assert again.tracks[0].features == r.tracks[0].features  # deterministic
    spread = extract_video(p, calculators=select("meta"), n_frames=8, dense=0)[0]
    assert spread.status == "ok" and "block" not in spread.message
