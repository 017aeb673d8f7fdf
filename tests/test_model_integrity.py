"""Model loading is safe and checked: the card holds the hash of model.txt and of the feature list; a tampered or
mismatched model stops with one clear line; nothing a user supplies is unpickled; training clips are flagged."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from cli.evaluate import main as evaluate_main
from cli.predict import main as predict_main
from modeling.card import training_hashes
from modeling.detector import DetectorModel, ModelError, default_model_dir
from pipeline.cache import file_hash

from .test_bad_inputs import tiny  # noqa: F401 - the shared tiny-model fixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def model_copy(tmp_path, tiny):  # noqa: F811
    d = tmp_path / "m"
    shutil.copytree(tiny, d)
    return d


def test_saved_card_records_hashes_and_loads(model_copy):
    card = json.load(open(model_copy / "model_card.json"))
    assert set(card["integrity"]) >= {"model_txt", "features"} and len(card["integrity"]["model_txt"]) == 64
    assert DetectorModel.load(str(model_copy)).unverified is False


def test_tampered_model_txt_stops_with_a_clear_error(model_copy, capsys, carphone_path):
    txt = model_copy / "model.txt"
    text = txt.read_text()
    txt.write_text(re.sub(r"leaf_value=(\S+)", "leaf_value=9.5", text, count=1))
    with pytest.raises(ModelError, match="does not match its card"):
        DetectorModel.load(str(model_copy))
    assert predict_main([carphone_path, "-o", str(model_copy / "p.csv"), "--model", str(model_copy)]) == 2
    err = capsys.readouterr().err
    assert "does not match its card" in err and "Traceback" not in err
    assert not (model_copy / "p.csv").exists()


def test_edited_feature_list_or_swapped_model_is_refused(model_copy, tmp_path, tiny):  # noqa: F811
    card = json.load(open(model_copy / "model_card.json"))
    card["features"] = card["features"][::-1]
    json.dump(card, open(model_copy / "model_card.json", "w"))
    with pytest.raises(ModelError, match="feature list was changed"):
        DetectorModel.load(str(model_copy))
    # an old card (no integrity block) with another model's model.txt: the feature lists disagree
    card = json.load(open(os.path.join(tiny, "model_card.json")))
    del card["integrity"]
    card["features"] = card["features"][:-1] + ["meta__other__x"]
    json.dump(card, open(model_copy / "model_card.json", "w"))
    shutil.copy(os.path.join(tiny, "model.txt"), model_copy / "model.txt")
    with pytest.raises(ModelError, match="list different features"):
        DetectorModel.load(str(model_copy))


@pytest.mark.parametrize("damage,match", [
    (lambda d: os.remove(d / "model_card.json"), "missing model_card.json"),
    (lambda d: (d / "model_card.json").write_text("{not json"), "not valid JSON"),
    (lambda d: (d / "model_card.json").write_text('{"features": []}'), "lacks calibration"),
    (lambda d: (d / "model.txt").write_bytes(b"\x80\x04pickle?"), "does not match its card"),
])
def test_broken_model_folders_say_what_is_wrong(model_copy, damage, match):
    damage(model_copy)
    with pytest.raises(ModelError, match=match):
        DetectorModel.load(str(model_copy))


@pytest.mark.parametrize("edit,field", [
    (lambda c: c["calibration"].update(a=c["calibration"]["a"] * 1.01), "calibration"),
    (lambda c: c.update(clip=[0.2, 0.8]), "clip"),
    (lambda c: c.update(frames=c["frames"] + 1), "frames"),
    (lambda c: c.update(rows="video" if c.get("rows") != "video" else "segment:4"), "rows"),
    (lambda c: c["calculators"].pop(), "calculators"),
])
def test_an_edited_scoring_setting_is_refused_and_named(model_copy, edit, field):
    """The card's settings that change every score (how frames are sampled, which calculators run, how rows
    become a track score, the calibration) are hashed at save time: an edit stops loading and names the field,
    while an edit elsewhere in the card (notes) does not."""
    path = model_copy / "model_card.json"
    card = json.load(open(path))
    assert set(card["integrity"]["scoring"]) >= {"calibration", "clip", "frames", "rows", "calculators"}
    card["notes"] = "annotated by an analyst"
    path.write_text(json.dumps(card, indent=2))
    assert not DetectorModel.load(str(model_copy)).unverified  # notes are not a scoring setting
    edit(card)
    path.write_text(json.dumps(card, indent=2))
    with pytest.raises(ModelError, match=rf"{re.escape(field)} changed after training"):
        DetectorModel.load(str(model_copy))


def test_a_card_saved_before_scoring_hashes_still_loads(model_copy):
    path = model_copy / "model_card.json"
    card = json.load(open(path))
    del card["integrity"]["scoring"]
    card["calibration"]["a"] *= 1.01  # not detectable without the hashes: checked on the rest, as before
    path.write_text(json.dumps(card, indent=2))
    assert not DetectorModel.load(str(model_copy)).unverified


def test_shipped_default_model_is_verified_and_knows_its_training_clips():
    m = DetectorModel.load()
    assert not m.unverified
    # the shipped card records its scoring settings' hashes too, so editing its calibration is caught
    assert {"calibration", "training.stacker"} <= set(m.card["integrity"]["scoring"])
    # every training video (104 redistributable reals + 52 generated clips) is known by its content hash
    assert len(training_hashes(m.card)) == m.card["training"]["n_videos"] == 156


def test_no_pickle_or_joblib_load_in_the_code():
    pat = re.compile(r"pickle\.loads?\(|joblib\.load\(|allow_pickle\s*=\s*True|cloudpickle\.loads?\(")
    hits = []
    for top in ("cli", "pipeline", "features", "forensics", "modeling", "reporting", "dataformats", "synthesis"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py") and pat.search(open(os.path.join(d, f), encoding="utf-8").read()):
                    hits.append(os.path.join(d, f))
    assert hits == []


def test_evaluate_warns_when_labelled_clips_were_in_training(tmp_path, carphone_path, model_copy, capsys):
    card = json.load(open(model_copy / "model_card.json"))
    card["training_videos"] = {"content_hashes": [file_hash(carphone_path)]}
    json.dump(card, open(model_copy / "model_card.json", "w"))  # the card is not covered by the hash of model.txt
    pred = tmp_path / "p.csv"
    assert predict_main([carphone_path, "-o", str(pred), "--model", str(model_copy), "--workers", "1",
                         "--timeout", "0"]) == 0
    err = capsys.readouterr().err
    assert "1 of these videos were in this model's training set" in err
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\n{carphone_path},REAL\n")
    assert evaluate_main([str(pred), "--labels", str(labels)]) == 0
    assert "WARNING: 1 of the 1 labelled videos were in this model's own training set" in capsys.readouterr().out
    # a CSV without the column (an older predict.py): --model checks the labelled files' hashes
    rows = pred.read_text().splitlines()
    head = rows[0].split(",")
    keep = [i for i, h in enumerate(head) if h not in ("in_training", "content_hash")]
    pred.write_text("\n".join(",".join(c for i, c in enumerate(r.split(",")) if i in keep) for r in rows) + "\n")
    assert evaluate_main([str(pred), "--labels", str(labels)]) == 0
    assert "WARNING" not in capsys.readouterr().out
    assert evaluate_main([str(pred), "--labels", str(labels), "--model", str(model_copy)]) == 0
    assert "WARNING: 1 of the 1 labelled videos" in capsys.readouterr().out
    assert default_model_dir()


def test_an_old_card_without_hashes_warns_and_a_damaged_model_txt_still_stops(model_copy, capsys, carphone_path):
    card = json.load(open(model_copy / "model_card.json"))
    del card["integrity"]
    json.dump(card, open(model_copy / "model_card.json", "w"))
    out = model_copy / "p.csv"
    assert predict_main([carphone_path, "-o", str(out), "--model", str(model_copy), "--workers", "1",
                         "--timeout", "0"]) == 0
    assert "records no hash of model.txt" in capsys.readouterr().err
    (model_copy / "model.txt").write_text("tree\nversion=v4\nnum_class=1\nfeature_names=" +
                                          " ".join(card["features"]) + "\nTree=0\nnum_leaves=banana\n")
    with pytest.raises(ModelError, match="not a readable LightGBM text model"):
        DetectorModel.load(str(model_copy))
    assert predict_main([carphone_path, "-o", str(out), "--model", str(model_copy), "--force"]) == 2
    err = capsys.readouterr().err
    assert "not a readable LightGBM text model" in err and "Traceback" not in err


def test_update_card_merges_a_section_and_keeps_the_model_loadable(tmp_path):
    """Benches add summaries to a trained model's card (robustness on labelled data, the self-blend CV); one
    must not erase the other, and the integrity check must still pass."""
    import numpy as np

    from modeling.detector import update_card

    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d)
    update_card(str(d), "robustness", {"clean_auc": np.float64(0.7), "d_auc": {"blur": -0.01}})
    update_card(str(d), "robustness", {"selfblend_cv": {"clean_auc": 0.9}})
    update_card(str(d), "robustness", {"clean_auc": 0.71})
    card = json.load(open(d / "model_card.json"))
    assert card["robustness"]["clean_auc"] == 0.71
    assert card["robustness"]["selfblend_cv"] == {"clean_auc": 0.9}
    assert card["robustness"]["d_auc"] == {"blur": -0.01}
    m = DetectorModel.load(str(d))
    assert not m.unverified and m.card["robustness"]["selfblend_cv"]["clean_auc"] == 0.9
    with pytest.raises(ValueError, match="retrain"):  # a section with scoring settings is not a bench's to edit
        update_card(str(d), "calibration", {"a": 2.0})
