"""train.py --adapt-from: the adapted model is an ordinary model folder that keeps the base's settings and
records the base, moves scores towards the user's fakes while leaving unrelated rows alone, explains base and
adapter apart, and refuses data that cannot teach it (no REAL clip, no FAKE clip)."""
import hashlib
import json
import os

import numpy as np
import pytest

from modeling.adapt import AdaptError, adapt_model, anchor_rows, check_adaptation_data
from modeling.card import build_card
from modeling.detector import DetectorModel, ModelError, write_training_table
from modeling.metrics import roc_auc
from modeling.stacking import stacked_cv

lgb = pytest.importorskip("lightgbm")

NAMES = ["quality__noise__q10", "wavelet__detail__q10", "temporal__c__mean", "temporal__d__mean"]


def _base_rows(n=240, seed=0):
    """The base's world: column 0 (and temporal column 2, weakly) carry the label; column 1 is noise."""
    rng = np.random.default_rng(seed)
    y = np.tile([0.0, 1.0], n // 2)
    X = rng.normal(size=(n, 4))
    X[:, 0] += 1.5 * y
    X[:, 2] += 0.7 * y
    return X, y


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    """A small stacked base model folder (two experts, like the shipped one) with a features.csv sample."""
    X, y = _base_rows()
    groups = np.repeat(np.arange(len(y) // 2), 2)
    booster, oof, folds, params, st = stacked_cv(X, y, groups, feature_names=NAMES, n_folds=3, seed=0, rounds=30,
                                                 experts="all,temporal")
    card = build_card(name="base", features=NAMES, feature_set="all", calculators=["quality.native"], frames=8,
                      dense=16, calibration=(1.2, 0.1), cv={"auc": roc_auc(y, oof)},
                      training={"command": "python train.py --data x -o base", "stacker": st.to_dict()},
                      sources=[{"source": "base/src", "licence": "MIT", "label": "REAL", "n_videos": 120}],
                      params=dict(params, num_boost_round=30), X=X, y=y, content_hashes=["aaaa"])
    d = str(tmp_path_factory.mktemp("base") / "base")
    DetectorModel(booster, card).save(d)
    rows = [dict(zip(NAMES, x), _path=f"b{i}.mp4", _label=int(t), _group=str(i // 2), _method="", _dataset="pool",
                 _variant="orig") for i, (x, t) in enumerate(zip(X, y))]
    write_training_table(d, rows, NAMES)
    return d


def _shifted_pairs(k, seed=1):
    """The user's new kind, from footage unlike the base's (column 3 around 4, its camera's signature): the
    base's cue (column 0) is absent, and each fake is smoother than its own original in column 1 (by 2.5
    units) around a level that varies from pair to pair."""
    rng = np.random.default_rng(seed)
    X, y, clips = [], [], []
    for i in range(k):
        level = rng.normal(0, 1.5)
        for lab in (0, 1):
            for s in range(3):  # three segment rows per clip
                x = rng.normal(size=4)
                x[3] += 4.0
                x[1] = level + rng.normal(0, 0.3) - 2.5 * lab
                X.append(x)
                y.append(lab)
                clips.append(f"pair{i}_{lab}")
    return np.array(X), np.array(y, float), np.array(clips, dtype=object)


def test_adapter_learns_the_new_kind_and_leaves_unrelated_rows_nearly_unchanged(base_dir):
    base = DetectorModel.load(base_dir)
    X, y, clips = _shifted_pairs(10)
    booster, st, _ = adapt_model(base, X, y, clips=clips, anchors=anchor_rows(base_dir, NAMES))
    Xt, yt, _ = _shifted_pairs(20, seed=7)  # new pairs of the same kind, unseen
    before, after = base.raw_score(Xt), booster.predict(Xt, raw_score=True)
    assert roc_auc(yt, before) < 0.65  # the base cannot see this kind
    assert roc_auc(yt, after) > roc_auc(yt, before) + 0.2
    assert np.mean(after[yt == 1] - before[yt == 1]) > np.mean(after[yt == 0] - before[yt == 0]) + 0.2
    # the base's own world: its ranking and scores barely move
    Xb, yb = _base_rows(seed=5)
    rb0, rb1 = base.raw_score(Xb), booster.predict(Xb, raw_score=True)
    assert abs(roc_auc(yb, rb1) - roc_auc(yb, rb0)) < 0.03
    assert np.median(np.abs(rb1 - rb0)) < 0.25 * np.std(rb0)
    # continued from the base: the base's trees are kept as they are, the adapter's appended and scaled by 1/a
    assert st["experts"] == ["all", "temporal", "adapter"] and st["rounds"][:2] == [30, 30]
    assert st["coef"][-1] == pytest.approx(1 / 1.2)
    head = booster.predict(Xb, raw_score=True, num_iteration=60)
    np.testing.assert_allclose(head, rb0, atol=1e-9)


def _fake_extract(features_of):
    """An ``extract_table`` stand-in: each record's rows from ``features_of(path, label)`` (no decoding)."""

    def extract(records, **kw):
        rows = []
        for r in records:
            for k, x in enumerate(features_of(r.path, r.label)):
                rows.append(dict(zip(NAMES, x), _path=r.path, _variant="orig", _label=r.label, _group=r.group,
                                 _source=r.source or "mine", _method=r.method or ("fake" if r.label else "real"),
                                 _dataset=r.dataset, _hash=hashlib.sha256(r.path.encode()).hexdigest()[:16],
                                 _segment=k))
        return rows, {}

    return extract


def _clips_csv(tmp_path, k, with_fakes=True, with_reals=True):
    lines = ["path,label,group"]
    for i in range(k):
        for lab, name in ((0, "REAL"), (1, "FAKE")):
            if (lab and not with_fakes) or (not lab and not with_reals):
                continue
            p = tmp_path / f"{name.lower()}_{i}.mp4"
            p.write_bytes(b"not a video")
            lines.append(f"{p},{name},pair{i}")
    csv = tmp_path / "mine.csv"
    csv.write_text("\n".join(lines) + "\n")
    return str(csv)


@pytest.fixture()
def adapted(base_dir, tmp_path, monkeypatch):
    import cli.adapt
    from cli.train import main

    X, y, clips = _shifted_pairs(5)
    feats = {c: X[clips == c] for c in dict.fromkeys(clips)}

    def features_of(path, label):
        i = int(os.path.basename(path).split("_")[1].split(".")[0])
        return feats[f"pair{i}_{label}"]

    monkeypatch.setattr(cli.adapt, "extract_table", _fake_extract(features_of))
    out = str(tmp_path / "adapted")
    code = main(["--adapt-from", base_dir, "--data", _clips_csv(tmp_path, 5), "-o", out, "--workers", "1",
                 "--cache", ""])
    assert code == 0
    return out


def test_adapted_folder_is_an_ordinary_model_that_keeps_the_base_and_records_it(base_dir, adapted):
    from cli.predict import _model

    base, model = DetectorModel.load(base_dir), _model(adapted)[0]  # predict.py's own loader
    for k in ("features", "calculators", "frames", "dense", "stride", "rows", "calibration", "clip", "feature_set"):
        assert model.card[k] == base.card[k], k
    ad = model.card["adaptation"]
    with open(os.path.join(base_dir, "model.txt"), "rb") as f:
        assert ad["base_model"]["model_txt_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert ad["n_clips"] == {"REAL": 5, "FAKE": 5} and ad["adapter_params"]["max_depth"] == 2
    roles = {(s["role"], s["label"]) for s in model.card["data_sources"]}
    assert {("base model training", "REAL"), ("adaptation", "REAL"), ("adaptation", "FAKE")} <= roles
    assert all(s["licence"] for s in ad["data_sources"])
    assert "aaaa" in model.card["training_videos"]["content_hashes"]  # the base's training clips still count
    assert len(model.card["training_videos"]["content_hashes"]) == 11
    assert "--adapt-from" in model.card["training"]["command"]
    assert "auc" in model.card["cv"]  # leave-one-pair-out over the 5 pairs
    # the features.csv keeps the base's rows (a second adaptation rehearses on them too) and adds the clips'
    assert len(anchor_rows(adapted, NAMES)[1]) == 240 + 30
    # the integrity check covers the adapter: editing its tree count stops loading
    path = os.path.join(adapted, "model_card.json")
    card = json.load(open(path))
    card["training"]["stacker"]["rounds"][-1] -= 1
    json.dump(card, open(path, "w"))
    with pytest.raises(ModelError, match="stacker"):
        DetectorModel.load(adapted)


def test_explanations_show_base_and_adapter_apart_and_add_up(adapted, tmp_path):
    from reporting.explain import write_explanation

    model = DetectorModel.load(adapted)
    X, _, _ = _shifted_pairs(2, seed=3)
    score = model.score_track(features=dict(zip(NAMES, X[0])))
    assert set(score.experts) == {"all", "temporal", "adapter", "intercept"}
    assert sum(score.experts.values()) == pytest.approx(score.raw, abs=1e-9)
    assert score.expected + score.contrib.sum() == pytest.approx(score.raw, abs=1e-9)
    base = DetectorModel.load(model.card["adaptation"]["base_model"]["path"])
    base_share = score.experts["all"] + score.experts["temporal"] + score.experts["intercept"]
    assert base_share == pytest.approx(float(base.raw_score(X[:1])[0]), abs=1e-9)
    e = write_explanation(tmp_path / "ex", "clip.mp4", model=model, features=dict(zip(NAMES, X[0])), score=score)
    assert abs(e["additivity_error"]) < 1e-9 and "adapter" in e["experts"]


def test_too_little_data_is_refused_with_a_clear_message(base_dir, tmp_path, capsys):
    from cli.train import main

    code = main(["--adapt-from", base_dir, "--data", _clips_csv(tmp_path, 3, with_reals=False), "-o",
                 str(tmp_path / "x"), "--cache", ""])
    assert code == 2 and "no REAL clip" in capsys.readouterr().err
    code = main(["--adapt-from", base_dir, "--data", _clips_csv(tmp_path, 3, with_fakes=False), "-o",
                 str(tmp_path / "x"), "--cache", ""])
    assert code == 2 and "no FAKE clip" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")
    code = main(["--adapt-from", base_dir, "--data", _clips_csv(tmp_path, 3), "-o", str(tmp_path / "x"),
                 "--features", "fast", "--cache", ""])
    assert code == 2 and "--features" in capsys.readouterr().err
    with pytest.raises(AdaptError):
        check_adaptation_data([1, 1])
    assert check_adaptation_data([0, 1])  # two clips work, with a warning that they are few
    assert check_adaptation_data([0] * 5 + [1] * 5) == []


def test_two_clips_are_enough_to_adapt(base_dir):
    base = DetectorModel.load(base_dir)
    X, y, clips = _shifted_pairs(1)
    booster, st, _ = adapt_model(base, X, y, clips=clips, anchors=anchor_rows(base_dir, NAMES))
    r = booster.predict(X, raw_score=True) - base.raw_score(X)
    assert st["rounds"][-1] >= 1 and r[y == 1].mean() > r[y == 0].mean()
