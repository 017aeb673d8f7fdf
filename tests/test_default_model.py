"""The shipped default model: loads without pickle, is honest about its data, scores the demo clip."""
import json
import os

import numpy as np
import pytest


from features.registry import all_calculators
from modeling.calibration import apply_platt
from modeling.detector import DetectorModel, default_model_dir


def test_default_model_is_text_plus_card_and_loads():
    d = default_model_dir()
    assert sorted(f for f in os.listdir(d) if f in ("model.txt", "model_card.json")) == ["model.txt", "model_card.json"]
    assert not [f for f in os.listdir(d) if f.endswith((".pkl", ".pickle", ".joblib"))]
    m = DetectorModel.load()
    assert m.booster.num_feature() == len(m.feature_names)
    known = {c.key for c in all_calculators()}
    assert set(m.card["calculators"]) <= known


def test_default_model_never_trained_on_research_only_data():
    card = json.load(open(os.path.join(default_model_dir(), "model_card.json")))
    sources = card["data_sources"]
    assert sources, "the model card must list every training source"
    for s in sources:
        text = f"{s['source']} {s['licence']}".lower()
        assert "research-only" not in text and "faceforensics" not in text and "uadfv" not in text, s
        assert s["licence"] and s["licence"] != "unknown", s
    assert "cv" in card and "calibration" in card


def test_card_command_rebuilds_the_shipped_training_setup():
    """The card's command is what bench scripts parse to rebuild the model's folds: it must name the
    model's own feature set, frames, rows and CV groups, and no research-only data."""
    from cli.train import args_from_card
    from features.registry import select

    card = json.load(open(os.path.join(default_model_dir(), "model_card.json")))
    args = args_from_card(card)
    assert args.features == card["feature_set"]
    assert [c.key for c in select(args.features)] == card["calculators"]
    assert (args.frames, args.dense, args.rows) == (card["frames"], card["dense"], card["rows"])
    assert args.cv_groups == card["training"]["cv_groups"]
    assert not [d for d in args.data if "labelled" in d]


def test_readme_demo_command_scores_carphone(carphone_path, tmp_path):
    from cli.predict import main as predict_main

    out, feats = tmp_path / "predictions.csv", tmp_path / "features.csv"
    assert predict_main([carphone_path, "-o", str(out), "--workers", "1", "--features-out", str(feats)]) == 0
    import csv

    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 1 and rows[0]["status"] == "ok", rows
    assert rows[0]["filename"] == "carphone_pristine.mp4"
    # the CSV's P(fake) is the shipped model's calibrated score of the track it wrote
    model = DetectorModel.load()
    cal = model.card["calibration"]
    raw = float(rows[0]["raw_score"])
    assert float(rows[0]["label"]) == pytest.approx(float(apply_platt([raw], cal["a"], cal["b"])[0]), abs=1e-6)
    row = next(csv.DictReader(open(feats)))
    x = model.matrix([{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items() if k != "path"}])
    if model.rows == "video":  # the feature row is the model's input itself
        assert raw == pytest.approx(float(model.raw_score(x)[0]), abs=1e-6)
    else:  # segment rows: the raw score is the mean of the segments' scores, the row their mean values
        from cli.predict import _model
        from pipeline.extract import extract_video

        _, calcs = _model(None)
        track = extract_video(carphone_path, calculators=calcs, n_frames=model.card["frames"],
                              dense=model.card.get("dense", 64))[0].tracks[0]
        sc = model.score_track(track.values, track.features)
        assert raw == pytest.approx(sc.raw, abs=1e-6)
        # float32 features; the worker runs single-threaded, this process may not (FFT summation order)
        bad = ~np.isclose(sc.values, x[0], equal_nan=True, rtol=1e-4, atol=1e-6)
        assert not bad.any(), [(model.feature_names[i], sc.values[i], x[0][i]) for i in np.flatnonzero(bad)][:5]
    assert rows[0]["top_fake_features"].split(";")[0].split("=")[0] in model.feature_names


#: research-only datasets on which the shipped model's card claims a cross-dataset AUC that it must keep; the
#: others in labelled/ (DeepFaceLive, GHOST, roop) are what the detection work is still to catch
HELD_DATASETS = ("FF++ c40", "UADFV")


@pytest.mark.shared_data
def test_shipped_model_detects_research_deepfakes_it_never_saw(shared_data, tmp_path):
    """The product's main job, run as a user would: predict.py on the research-only clips of FF++ c40 and UADFV
    (never trained on), listed by the manifest. Each dataset's AUC must be what the model card records (within
    0.02) and clearly above chance; a model that guesses lands near 0.5, the card recorded 0.66 and 0.81."""
    import csv

    from cli.predict import main as predict_main
    from modeling.metrics import roc_auc

    with open(os.path.join(shared_data, "manifest.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["dataset"] in HELD_DATASETS]
    listed = tmp_path / "clips.txt"
    listed.write_text("".join(os.path.join(shared_data, r["path"]) + "\n" for r in rows))
    out = tmp_path / "p.csv"
    assert predict_main([str(listed), "-o", str(out), "--workers", "2"]) == 0
    prob = {os.path.realpath(r["path"]): float(r["label"]) for r in csv.DictReader(open(out))}
    card = DetectorModel.load().card["evaluation"]["per_dataset"]
    for name in HELD_DATASETS:
        sel = [r for r in rows if r["dataset"] == name]
        y = [r["label"] == "FAKE" for r in sel]
        p = [prob[os.path.realpath(os.path.join(shared_data, r["path"]))] for r in sel]
        auc = roc_auc(y, p)
        assert len(p) == len(sel) > 0, name
        assert auc >= max(card[name]["auc"] - 0.02, 0.65), (name, auc, card[name]["auc"])
