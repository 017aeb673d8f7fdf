"""evaluate.py: joining predictions to labels, metrics equal to scikit-learn's, breakdowns, CLI."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dataformats import Record, read_labels
from reporting.evaluation import evaluate, format_text, match_predictions

sk = pytest.importorskip("sklearn.metrics")
ROOT = Path(__file__).resolve().parents[1]
PRED_HEADER = ["filename", "label", "status", "message", "n_frames", "n_faces", "n_tracks", "raw_score", "track",
               "top_fake_features", "path", "seconds"]


def _dataset(n_groups=30, seed=0):
    """Two reals and two fakes (methods A, B) per identity group; fake scores higher on average."""
    rng = np.random.default_rng(seed)
    labels, preds = [], []
    for g in range(n_groups):
        for k, (lab, method) in enumerate([(0, ""), (0, ""), (1, "A"), (1, "B")]):
            rel = f"{'fake' if lab else 'real'}/{method or 'orig'}/{g:02d}_{k}.mp4"
            p = float(np.clip(rng.normal(0.35 + 0.3 * lab * (1.3 if method == "A" else 0.7), 0.2), 0.01, 0.99))
            p = float(f"{p:.6f}")  # as written to the CSV
            labels.append({"path": rel, "label": "FAKE" if lab else "REAL", "group": f"g{g:02d}", "method": method,
                           "dataset": "set1" if g < 20 else "set2", "y": lab})
            preds.append({"filename": Path(rel).name, "label": f"{p:.6f}", "status": "ok",
                          "raw_score": f"{np.log(p / (1 - p)):.6f}", "path": f"/videos/in/{rel}", "p": p})
    return labels, preds


def _write(tmp_path, labels, preds, *, label_cols=("path", "label", "group", "method", "dataset")):
    lab = tmp_path / "labels.csv"
    with open(lab, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(label_cols)
        for r in labels:
            w.writerow([r[c] for c in label_cols])
    pr = tmp_path / "pred.csv"
    with open(pr, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PRED_HEADER, extrasaction="ignore")
        w.writeheader()
        for r in preds:
            w.writerow(r)
    return pr, lab


def test_metrics_equal_sklearn(tmp_path):
    labels, preds = _dataset()
    pr, lab = _write(tmp_path, labels, preds)
    res = evaluate(pr, lab, n_boot=500)
    y = np.array([r["y"] for r in labels])
    p = np.array([r["p"] for r in preds])
    assert res["n_matched"] == len(y) and not res["unmatched"] and not res["ambiguous"]
    o = res["overall"]
    assert o["auc"] == pytest.approx(sk.roc_auc_score(y, p), abs=1e-9)
    assert o["log_loss"] == pytest.approx(sk.log_loss(y, np.clip(p, 0.01, 0.99)), abs=1e-9)
    assert o["accuracy"] == pytest.approx(sk.accuracy_score(y, p >= 0.5), abs=1e-12)
    assert o["average_precision"] == pytest.approx(sk.average_precision_score(y, p), abs=1e-9)
    assert 0 < o["eer"] < 0.5
    assert res["auc_ci"]["lo"] < o["auc"] < res["auc_ci"]["hi"]
    assert res["auc_ci_grouped"]["lo"] < o["auc"] < res["auc_ci_grouped"]["hi"]
    # per method: that method's fakes against the reals of its dataset(s) (A and B span both: every real)
    for m in ("A", "B"):
        sel = (y == 0) | np.array([r["method"] == m for r in labels])
        assert res["per_method"][m]["auc"] == pytest.approx(sk.roc_auc_score(y[sel], p[sel]), abs=1e-9)
    assert res["per_method"]["A"]["auc"] > res["per_method"]["B"]["auc"]  # planted: A is easier
    # per dataset and per group: each subset as is
    for d in ("set1", "set2"):
        sel = np.array([r["dataset"] == d for r in labels])
        assert res["per_dataset"][d]["auc"] == pytest.approx(sk.roc_auc_score(y[sel], p[sel]), abs=1e-9)
        assert res["per_dataset"][d]["n"] == sel.sum()
    assert len(res["per_group"]) == 30
    assert all(v["n"] == 4 and v["n_fake"] == 2 for v in res["per_group"].values())


def test_matching_by_tail_and_ambiguity():
    recs = [Record("data/FF/Deepfakes/videos/183_253.mp4", 1),
            Record("data/FF/FaceSwap/videos/183_253.mp4", 1),
            Record("data/FF/orig/videos/183.mp4", 0),
            Record("C:\\clips\\x\\a.mp4", 0)]
    names = ["183.mp4", "/mnt/other/FF/FaceSwap/videos/183_253.mp4", "183_253.mp4", "a.mp4", "missing.mp4",
             "Deepfakes/videos/183_253.mp4"]
    m, amb = match_predictions(names, recs)
    assert m == [2, 1, None, 3, None, 0]
    assert amb == ["183_253.mp4"]


def test_unmatched_duplicates_and_failures(tmp_path):
    labels, preds = _dataset(n_groups=4)
    preds[0]["label"] = ""  # a video the tool could not score
    preds[0]["status"] = "error"
    extra = dict(preds[1])  # the same video twice
    stray = dict(preds[2], filename="zzz.mp4", path="/elsewhere/zzz.mp4")
    pr, lab = _write(tmp_path, labels[:-1], preds + [extra, stray])
    res = evaluate(pr, lab, n_boot=100)
    assert res["n_missing_prob"] == 1
    assert res["status_counts"] == {"error": 1, "ok": len(labels) - 2}
    assert res["duplicates"] == [extra["path"]]
    assert set(res["unmatched"]) == {"/elsewhere/zzz.mp4", preds[-1]["path"]}
    assert res["n_matched"] == len(labels) - 1
    text = format_text(res)
    assert "AUC" in text and "no label for 2" in text and "duplicate" in text


def test_plain_csv_with_filename_and_01_labels(tmp_path):
    lab = tmp_path / "l.csv"
    lab.write_text("filename,label\na.mp4,1\nb.mp4,0\nc.mp4,\n")
    recs = [r for r in read_labels(str(lab)) if r.label is not None]
    got = {Path(r.path).name: r.label for r in recs}
    assert got == {"a.mp4": 1, "b.mp4": 0}  # the unlabelled one is left out


def test_cli_prints_and_writes_json(tmp_path):
    labels, preds = _dataset(n_groups=10)
    pr, lab = _write(tmp_path, labels, preds)
    out = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), str(pr), "--labels", str(lab), "--n-boot", "200",
                          "--json", str(tmp_path / "r.json")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for word in ("AUC", "bootstrap CI", "log loss (clip 0.01)", "accuracy @ 0.5", "EER", "per method", "per group"):
        assert word in out.stdout, word
    res = json.loads((tmp_path / "r.json").read_text())
    y = np.array([r["y"] for r in labels])
    p = np.array([r["p"] for r in preds])
    assert res["overall"]["auc"] == pytest.approx(sk.roc_auc_score(y, p), abs=1e-9)


def test_per_method_scores_against_reals_of_its_own_dataset(tmp_path):
    """One definition of "a method's fakes against which reals": the reals of the fakes' dataset."""
    labels = [{"path": f"x/{i}.mp4", "label": lab, "group": f"g{i}", "method": m, "dataset": d}
              for i, (lab, m, d) in enumerate([("FAKE", "A", "d1"), ("REAL", "", "d1"), ("REAL", "", "d1"),
                                                ("FAKE", "B", "d2"), ("REAL", "", "d2"), ("REAL", "", "d2")])]
    # A's fake beats d1's reals but not d2's; B's fake beats d2's reals only
    probs = [0.6, 0.2, 0.3, 0.95, 0.9, 0.7]
    preds = [{"filename": f"{i}.mp4", "label": f"{p:.6f}", "status": "ok", "raw_score": "0", "path": f"/v/x/{i}.mp4"}
             for i, p in enumerate(probs)]
    pr, lab = _write(tmp_path, labels, preds)
    res = evaluate(pr, lab, n_boot=50)
    assert res["per_method"]["A"]["auc"] == 1.0 and res["per_method"]["A"]["n"] == 3
    assert res["per_method"]["B"]["auc"] == 1.0 and res["per_method"]["B"]["n"] == 3
    assert res["overall"]["auc"] < 1.0  # against every real video neither would be perfect
