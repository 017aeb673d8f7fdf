"""Model report and per-video explanations, built from a tiny LightGBM model on planted data."""
from __future__ import annotations

import base64
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

from modeling import metrics  # noqa: E402
from modeling.detector import DetectorModel  # noqa: E402
from modeling.card import feature_ranges  # noqa: E402
from reporting.explain import (  # noqa: E402
    contact_sheet,
    explain_row,
    reference_ranges,
    safe_name,
    write_explanation,
    write_index,
)
from reporting.model_report import SECTIONS, build_report, contribution_summary, sum_by_family  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# planted truth: "prnu" and "blend" carry the label, "noise" does not
COLUMNS = [
    "prnu__corr__mean",
    "prnu__corr__std",
    "blend__edge__q90",
    "blend__edge__mean",
    "noise__a__mean",
    "noise__b__value",
]
METHODS = ("swap", "reenact")


def _planted(n_groups: int = 40, seed: int = 0):
    """Each identity group holds 2 reals and 2 fakes (one per method)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        for k in range(4):
            label = int(k >= 2)
            method = METHODS[k - 2] if label else ""
            f = rng.normal(size=len(COLUMNS))
            f[0] -= 1.6 * label  # PRNU correlation drops in fakes
            f[2] += 1.6 * label * (method == "swap")  # blending edges only for face swaps
            f[3] += 0.8 * label * (method == "swap")
            rows.append({"filename": f"ds/{'fake' if label else 'real'}/{g:03d}_{k}.mp4", "label": label,
                         "group": f"id{g:03d}", "method": method, "dataset": "planted",
                         **dict(zip(COLUMNS, f))})
    return rows


PARAMS = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.1, "min_data_in_leaf": 5, "verbosity": -1,
          "deterministic": True, "force_row_wise": True, "num_threads": 1, "seed": 0}


def _platt(raw, y):
    from scipy.optimize import minimize

    def loss(ab):
        z = ab[0] * raw + ab[1]
        return float(np.sum(np.logaddexp(0, z) - y * z))

    return tuple(float(v) for v in minimize(loss, [1.0, 0.0], method="L-BFGS-B").x)


def make_model_dir(path: Path, seed: int = 0) -> Path:
    """A model directory as train.py writes it (model.txt, model_card.json, oof.csv, features.csv)."""
    rows = _planted(seed=seed)
    X = np.array([[r[c] for c in COLUMNS] for r in rows])
    X[::17, 4] = np.nan  # some missing values
    y = np.array([r["label"] for r in rows], float)
    groups = np.array([r["group"] for r in rows])
    folds = np.array([int(g[2:]) % 4 for g in groups])
    oof = np.empty(len(y))
    for f in range(4):
        tr, te = folds != f, folds == f
        b = lgb.train(PARAMS, lgb.Dataset(X[tr], y[tr], feature_name=COLUMNS), num_boost_round=40)
        oof[te] = b.predict(X[te], raw_score=True)
    booster = lgb.train(PARAMS, lgb.Dataset(X, y, feature_name=COLUMNS), num_boost_round=40)
    a, b_ = _platt(oof, y)
    prob = np.clip(1 / (1 + np.exp(-(a * oof + b_))), 0.01, 0.99)
    methods = np.array([r["method"] for r in rows])
    cv = metrics.summary(y, prob)
    cv["folds"] = 4
    cv["per_method"] = {m: metrics.summary(y[(methods == m) | (y == 0)], prob[(methods == m) | (y == 0)])
                        for m in METHODS}
    path.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(path / "model.txt"))
    card = {"features": COLUMNS, "feature_set": "planted", "frames": 8,
            "calibration": {"method": "platt", "a": a, "b": b_}, "clip": [0.01, 0.99], "cv": cv,
            "data_sources": [{"source": "synthetic", "licence": "CC0", "n_videos": len(rows), "label": "both"}],
            "library_versions": {"lightgbm": lgb.__version__, "numpy": np.__version__}, "created": "2024-01-01",
            "params": PARAMS, "notes": "test model",
            "training": {"n_rows": len(rows), "n_videos": len(rows), "n_fake_rows": int(y.sum())},
            "evaluation": {"data": ["held/out"], "overall": cv, "per_method_vs_real": cv["per_method"]}}
    (path / "model_card.json").write_text(json.dumps(card))
    meta = ["filename", "label", "group", "method", "dataset"]
    with open(path / "oof.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(meta + ["raw", "prob"])
        for r, o, p in zip(rows, oof, prob):
            w.writerow([r[k] for k in meta] + [o, p])
    with open(path / "features.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(meta + COLUMNS)
        for r, x in zip(rows, X):
            w.writerow([r[k] for k in meta] + ["" if np.isnan(v) else repr(float(v)) for v in x])
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def report_path(model_dir, tmp_path_factory):
    return build_report(model_dir, tmp_path_factory.mktemp("report"))


def _track(seed: int = 0, t: int = 6):
    from features.track import build_track

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, size=(t, 240, 320, 3), dtype=np.uint8)
    boxes = np.tile([[120.0, 70.0, 200.0, 170.0]], (t, 1))
    lm = np.tile([[[140, 100], [180, 100], [160, 120], [145, 145], [175, 145]]], (t, 1, 1)).astype(np.float32)
    return build_track(frames, boxes, landmarks=lm, frame_index=np.arange(t) * 5)


# ----------------------------------------------------------------------------- model report
def test_report_has_every_section(report_path):
    text = Path(report_path).read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text, sid
    # every family appears, and the per-method rows of the card
    for fam in ("prnu", "blend", "noise"):
        assert fam in text
    for m in METHODS:
        assert m in text
    assert "Held-out evaluation" in text and "training table" in text
    imgs = re.findall(r'<img src="([^"]+)"', text)
    assert len(imgs) >= 9


def test_report_is_self_contained_and_images_decode(report_path):
    import cv2

    text = Path(report_path).read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:|//|file:)', text)
    assert "<script" not in text and "<link" not in text
    for uri in re.findall(r'<img src="([^"]+)"', text):
        assert uri.startswith("data:image/png;base64,")
        img = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] > 50 and img.shape[1] > 50 and img.std() > 5


def test_report_cli(model_dir, tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "report.py"), str(model_dir), "-o", str(tmp_path / "r")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r" / "report.html").is_file()


def test_family_contributions_rank_planted_families(model_dir):
    from modeling.detector import load_model_folder

    mf = load_model_folder(str(model_dir))
    names = mf.model.feature_names
    summ = contribution_summary(mf.model.booster, mf.table.X, names, mf.table.labels)
    assert summ.max_additivity_error < 1e-6
    assert summ.family_mean_abs["prnu"] > summ.family_mean_abs["noise"]
    assert summ.family_mean_abs["blend"] > summ.family_mean_abs["noise"]
    # PRNU correlation drops in fakes -> its contributions push fakes towards fake, reals towards real
    assert summ.family_mean_fake["prnu"] > 0 > summ.family_mean_real["prnu"]
    # the family view is the sum of the feature view
    fam = sum_by_family(summ.contrib, names)
    np.testing.assert_allclose(fam["blend"], summ.contrib[:, 2] + summ.contrib[:, 3])


def test_report_cv_table_matches_oof(model_dir, report_path):
    text = Path(report_path).read_text()
    rows = list(csv.DictReader(open(model_dir / "oof.csv")))
    y = np.array([float(r["label"]) for r in rows])
    p = np.array([float(r["prob"]) for r in rows])
    assert f"{metrics.roc_auc(y, p):.3f}" in text
    assert f"{metrics.log_loss(y, p):.3f}" in text


def test_report_without_oof_or_features(model_dir, tmp_path):
    d = tmp_path / "bare"
    d.mkdir()
    for f in ("model.txt", "model_card.json"):
        shutil.copy(model_dir / f, d / f)
    text = Path(build_report(d, tmp_path / "out")).read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text


# ----------------------------------------------------------------------------- per-video explanation
def test_contributions_plus_expected_sum_to_raw_score(model_dir):
    model = DetectorModel.load(str(model_dir))
    rng = np.random.default_rng(3)
    for _ in range(5):
        feats = dict(zip(COLUMNS, rng.normal(size=len(COLUMNS)) * 2))
        feats.pop("noise__b__value")  # a missing column is a missing value
        e = explain_row(model, feats)
        assert np.isnan(e.values[COLUMNS.index("noise__b__value")])
        assert math.isclose(e.expected + e.contrib.sum(), e.raw, rel_tol=0, abs_tol=1e-9)
        assert math.isclose(e.raw, float(model.raw_score(e.values[None])[0]), abs_tol=1e-12)


def test_write_explanation_planted_fake(model_dir, tmp_path):
    model = DetectorModel.load(str(model_dir))
    fake = {c: 0.0 for c in COLUMNS}
    fake.update({"prnu__corr__mean": -3.0, "blend__edge__q90": 3.0, "blend__edge__mean": 2.0})
    track = _track()
    special = {"prnu_local": np.outer(np.hanning(256), np.hanning(256))}
    res = write_explanation(tmp_path, "ds/fake/007_2.mp4", model=model, features=fake, track=track, maps=special)
    folder = tmp_path / safe_name("ds/fake/007_2.mp4")
    on_disk = json.loads((folder / "explanation.json").read_text())
    assert on_disk == res
    assert math.isclose(res["expected_value"] + res["contribution_sum"], res["raw_score"], abs_tol=1e-9)
    assert abs(res["additivity_error"]) < 1e-9
    assert res["prob_fake"] > 0.7
    top = {d["family"] for d in res["top_fake"][:2]}
    assert top <= {"prnu", "blend"}
    assert all(d["contribution"] > 0 for d in res["top_fake"])
    assert all(d["contribution"] < 0 for d in res["top_real"])
    assert res["top_fake"][0]["value"] == fake[res["top_fake"][0]["column"]]
    assert max(res["families"], key=lambda k: res["families"][k]) in ("prnu", "blend")
    assert math.isclose(sum(res["families"].values()), res["contribution_sum"], abs_tol=1e-9)
    assert (folder / "contact_sheet.png").is_file()
    assert (folder / res["maps"]["prnu_local"]["file"]).is_file()
    html_text = (folder / "explanation.html").read_text()
    assert "prnu__corr__mean" in html_text and "contact sheet" in html_text
    assert not re.search(r'src="(?!data:image/png;base64,)', html_text)
    idx = write_index(tmp_path)
    assert safe_name("ds/fake/007_2.mp4") in idx.read_text()


def test_reference_ranges_from_training_table(model_dir, tmp_path):
    ref = reference_ranges(str(model_dir))
    rows = list(csv.DictReader(open(model_dir / "features.csv")))
    v = np.array([float(r["prnu__corr__mean"]) for r in rows if r["label"] == "0"])
    np.testing.assert_allclose(ref["prnu__corr__mean"]["real"], np.quantile(v, [0.1, 0.5, 0.9]))
    # planted: PRNU correlation is lower in fakes
    assert ref["prnu__corr__mean"]["fake"][1] < ref["prnu__corr__mean"]["real"][1] - 1
    # all-missing column for one class -> None, not NaN
    X = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, 5.0]])
    r2 = feature_ranges(X, [0, 0, 1], ["a", "b"])
    assert r2["b"]["real"] == [None, None, None] and r2["b"]["fake"] == [5.0, 5.0, 5.0]
    res = write_explanation(tmp_path, "v.mp4", model=DetectorModel.load(str(model_dir)), features={c: 0.0 for c in COLUMNS},
                            reference=ref)
    entry = (res["top_fake"] + res["top_real"])[0]
    assert entry["typical_real"] == ref[entry["column"]]["real"]
    assert "real 10-90 %" in (tmp_path / "v.mp4" / "explanation.html").read_text()


def test_write_explanation_without_track(model_dir, tmp_path):
    model = DetectorModel.load(str(model_dir))
    res = write_explanation(tmp_path, "x.mp4", model=model, features={c: 0.0 for c in COLUMNS}, track=None)
    assert res["images"] == {} and res["maps"] == {}
    assert (tmp_path / "x.mp4" / "explanation.html").is_file()


def _planted_frames(seed=0, t=8, h=240, w=320):
    """Static camera: smooth scenes times a fixed sensor pattern K, except inside the face ellipse."""
    import scipy.ndimage as ndi

    from features.track import ellipse_masks

    rng = np.random.default_rng(seed)
    box = np.array([120.0, 60.0, 200.0, 160.0])
    face = ellipse_masks(box, (h, w))[0] > 0
    k_sensor = rng.normal(size=(h, w))
    frames = []
    for _ in range(t):
        scene = np.clip(120 + 1200 * ndi.gaussian_filter(rng.normal(size=(h, w)), 6), 20, 230)
        k = np.where(face, rng.normal(size=(h, w)), k_sensor)  # the face carries no stable pattern
        frames.append(np.repeat(np.clip(scene * (1 + 0.08 * k), 0, 255).astype(np.uint8)[..., None], 3, -1))
    return np.stack(frames), np.tile(box, (t, 1)), face


def test_prnu_map_is_low_where_the_face_lacks_the_sensor_pattern():
    from features.track import build_track
    from reporting.explain import family_maps

    frames, boxes, _ = _planted_frames()
    m = family_maps(build_track(frames, boxes), {"prnu"})["prnu_agreement"]
    inside = m.outline > 0.5
    assert np.nanmean(m.values[~inside]) > 0.5
    assert np.nanmean(m.values[inside]) < np.nanmean(m.values[~inside]) - 0.3


def test_hf_energy_map_is_low_in_a_smoothed_face():
    import scipy.ndimage as ndi

    from features.track import build_track
    from reporting.explain import family_maps

    _, boxes, face = _planted_frames()
    rng = np.random.default_rng(1)
    noisy = np.clip(128 + 40 * rng.normal(size=(8, 240, 320, 3)), 0, 255)
    frames = np.where(face[None, ..., None], ndi.gaussian_filter(noisy, (0, 3, 3, 0)), noisy).astype(np.uint8)
    track = build_track(frames, boxes)
    maps = family_maps(track, {"blending"})
    assert set(maps) == {"hf_energy"}  # only the families asked for
    m = maps["hf_energy"]
    face_crop = m.outline > 0.5
    background = np.asarray(track.background_mask).mean(axis=0) > 0.5
    assert m.values[face_crop].mean() < m.values[background].mean() - 1.0  # log10 units


def test_contact_sheet_draws_mask_outline():
    t, s = 5, 64
    crops = np.full((t, s, s, 3), 128, np.float32)
    mask = np.zeros((t, s, s), np.float32)
    mask[:, 16:48, 16:48] = 1
    sheet = contact_sheet(crops, mask, tile=64, columns=5)
    assert sheet.shape == (64, 5 * 64, 3) and sheet.dtype == np.uint8
    green = (sheet[..., 1] > 200) & (sheet[..., 0] < 100)
    tile = green[:, 64:128]  # second tile: no label text near the square's edges
    # the outline runs along the square's border and nowhere else
    assert tile[16, 20:44].all() or tile[15, 20:44].all() or tile[17, 20:44].all()
    assert tile[20:44, 16].any() or tile[20:44, 15].any() or tile[20:44, 17].any()
    assert not tile[24:40, 24:40].any()  # not inside
    assert not tile[52:, :].any() and not tile[20:44, 52:].any()  # not outside


def test_contact_sheet_subsamples_long_tracks():
    crops = np.zeros((40, 32, 32, 3), np.float32)
    mask = np.ones((40, 32, 32), np.float32)
    sheet = contact_sheet(crops, mask, max_frames=16, tile=32, columns=4)
    assert sheet.shape == (4 * 32, 4 * 32, 3)


def test_real_detector_model_if_present(model_dir, tmp_path):
    model_mod = pytest.importorskip("modeling.detector")
    model = model_mod.DetectorModel.load(str(model_dir))
    feats = {c: 0.5 for c in COLUMNS}
    res = write_explanation(tmp_path, "v.mp4", model=model, features=feats, track=None)
    assert math.isclose(res["expected_value"] + res["contribution_sum"], res["raw_score"], abs_tol=1e-9)
    assert math.isclose(res["prob_fake"], float(model.predict_proba(model.matrix([feats]))[0]), abs_tol=1e-12)


# ----------------------------------------------------------------------------- headless browser
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _load_in_chromium(page: Path, tmp_path: Path):
    """Load ``page`` in headless Chromium; return (console lines, screenshot RGB)."""
    import cv2

    exe = _chromium()
    if exe is None:
        if os.environ.get("REQUIRE_BROWSER"):  # set by .ci/run, which installs chromium: never skip there
            pytest.fail("chromium is not installed but REQUIRE_BROWSER is set")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    # a copy of the page that reports broken images on the console (the shipped page has no scripts)
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{for(const i of document.images)"
        "{if(!i.complete||i.naturalWidth===0)console.error('broken image '+i.alt)}});</script></body>"))
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--window-size=1200,1600", "--virtual-time-budget=3000", f"--screenshot={shot}", probe.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    console = [ln for ln in out.stderr.splitlines() if ":CONSOLE" in ln]
    img = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert img is not None, out.stderr[-2000:]
    return console, img


def _assert_not_blank(img):
    non_white = np.any(img < 230, axis=-1).mean()
    assert img.std() > 10 and non_white > 0.02


def test_report_renders_in_headless_chromium(report_path, tmp_path):
    console, img = _load_in_chromium(Path(report_path), tmp_path)
    assert console == [], console
    _assert_not_blank(img)


def test_explanation_renders_in_headless_chromium(model_dir, tmp_path):
    model = DetectorModel.load(str(model_dir))
    res = write_explanation(tmp_path / "exp", "v.mp4", model=model, features={c: 1.0 for c in COLUMNS},
                            track=_track(1))
    console, img = _load_in_chromium(Path(res["folder"]) / "explanation.html", tmp_path)
    assert console == [], console
    _assert_not_blank(img)


def test_explanation_names_the_missing_measurements(model_dir, tmp_path):
    feats = {c: 0.0 for c in COLUMNS}
    del feats["noise__b__value"], feats["blend__edge__q90"]
    res = write_explanation(tmp_path, "m.mp4", model=DetectorModel.load(str(model_dir)), features=feats)
    assert res["n_missing"] == 2 and sorted(res["missing"]) == ["blend__edge__q90", "noise__b__value"]
    text = (tmp_path / "m.mp4" / "explanation.html").read_text()
    assert "2 of 6 measurements were missing" in text
    assert "<code>noise__b__value</code>" in text and "<code>blend__edge__q90</code>" in text


def test_explanation_shows_plain_language_descriptions_of_real_columns(tmp_path):
    """A model over registered columns: the explanation page names what each measurement means."""
    from features.registry import describe_column

    cols = ["meta__side_px__mean", "wavelet__c_l1d_kurt__std"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(float)
    booster = lgb.train(PARAMS, lgb.Dataset(X, y, feature_name=cols), num_boost_round=20)
    model = DetectorModel(booster, {"features": cols, "calibration": {"method": "platt", "a": 1.0, "b": 0.0},
                                    "clip": [0.01, 0.99]})
    res = write_explanation(tmp_path, "d.mp4", model=model, features={cols[0]: 3.0, cols[1]: 0.0})
    entry = res["top_fake"][0]
    assert entry["column"] == cols[0] and entry["description"] == describe_column(cols[0]) != ""
    text = (tmp_path / "d.mp4" / "explanation.html").read_text()
    assert describe_column(cols[0]) in text


def test_robustness_section_from_a_planted_table(model_dir, tmp_path):
    """robustness_table deltas are against the same videos' clean scores; the report shows table and plot."""
    from reporting.robustness import ROBUSTNESS_FILE, robustness_table

    rng = np.random.default_rng(0)
    labels = {f"v{i}": i % 2 for i in range(40)}
    clean = {k: float(np.clip(0.5 + 0.35 * (2 * y - 1) + rng.normal(0, 0.1), 0.01, 0.99)) for k, y in labels.items()}
    flat = {k: 0.5 + 0.01 * rng.normal() for k in labels}  # a perturbation that erases the evidence
    same = dict(clean)
    rows = robustness_table(labels, clean, {"erases": flat, "harmless": same})
    by = {r["kind"]: r for r in rows}
    assert by["clean"]["auc"] > 0.95 and by["harmless"]["d_auc"] == 0.0
    assert by["erases"]["d_auc"] < -0.3 and by["erases"]["d_log_loss"] > 0
    # the paired interval of the change holds the change; erased evidence lies clearly below zero
    assert by["erases"]["d_auc_lo"] <= by["erases"]["d_auc"] <= by["erases"]["d_auc_hi"] < -0.2
    assert by["harmless"]["d_auc_lo"] == by["harmless"]["d_auc_hi"] == 0.0
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    (d / ROBUSTNESS_FILE).write_text(json.dumps({"rows": rows, "data": "planted"}))
    text = Path(build_report(d, tmp_path / "out")).read_text()
    assert '<section id="robustness">' in text and "erases" in text and "AUC change" in text
    e = by["erases"]
    assert f"[{e['d_auc_lo']:+.2f}, {e['d_auc_hi']:+.2f}]" in text
    assert "Self-blends of the training reals" not in text
    from reporting.robustness import SELFBLEND_FILE

    (d / SELFBLEND_FILE).write_text(json.dumps({"rows": rows + [dict(by["clean"], kind="clean copy"),
                                                                dict(by["erases"], kind="flipped away")],
                                                "n_reals": 20}))
    text = Path(build_report(d, tmp_path / "out2")).read_text()
    assert "Self-blends of the training reals" in text and "flipped away" in text and "20 real training" in text
