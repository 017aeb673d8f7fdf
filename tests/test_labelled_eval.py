"""bench/labelled_eval.py: the figures that choose between recipes are computed right."""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

from labelled_eval import constant_log_loss, subset_figures  # noqa: E402


def test_constant_log_loss_is_the_base_rate_entropy_and_what_a_constant_scores():
    y = np.array([1, 1, 1, 0])
    assert math.isclose(constant_log_loss(y), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert constant_log_loss([0, 0]) == 0.0
    fig = subset_figures(y, np.full(4, 0.75), np.arange(4), clip=0.01)
    assert math.isclose(fig["log_loss"], fig["constant_log_loss"], rel_tol=1e-9)
    assert fig["auc"] == 0.5 and fig["mean_p_fake"] == fig["mean_p_real"] == 0.75


def test_a_perfect_ranking_scores_auc_one_and_beats_the_constant():
    y = np.r_[np.ones(10), np.zeros(10)]
    p = np.r_[np.full(10, 0.8), np.full(10, 0.2)]
    fig = subset_figures(y, p, np.arange(20), clip=0.01)
    assert fig["auc"] == 1.0 and fig["auc_ci95"][0] == 1.0
    assert fig["log_loss"] < fig["constant_log_loss"]
    assert fig["n"] == 20 and fig["n_fake"] == 10


def test_reliability_bands_split_rows_by_value_and_score_each_band_alone():
    from labelled_eval import reliability_bands

    # the top band ranks perfectly, the bottom band backwards; a row at exactly 0.9 or 1.0 is in the top band
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.5, 0.5])
    rel = np.array([1.0, 0.9, 0.95, 0.92, 0.1, 0.2, 0.6, 0.7])
    bands = reliability_bands(y, p, rel, groups=np.arange(8))
    assert bands["0.9-1.0"]["n"] == 4 and bands["0.9-1.0"]["auc"] == 1.0
    assert bands["0.0-0.5"]["n"] == 2 and bands["0.0-0.5"]["auc"] == 0.0
    assert bands["0.5-0.9"]["auc"] == 0.5  # a tie counts half
    assert bands["0.9-1.0"]["auc_ci95"] == [1.0, 1.0]
    merged = reliability_bands(y, p, rel, bands=((0.5, 1.01),))
    assert list(merged) == ["0.5-1.0"] and merged["0.5-1.0"]["n"] == 6 and "auc_ci95" not in merged["0.5-1.0"]
    # a band with one class only has no AUC
    assert "auc" not in reliability_bands(y[:1], p[:1], rel[:1])["0.9-1.0"]


def test_paired_differences_compare_two_models_on_the_same_clips_per_dataset():
    from dataformats.records import Record
    from labelled_eval import SHARED, paired_differences

    recs = [Record(os.path.join(SHARED, f"x/{d}_{i}.mp4"), i % 2, group=f"{d}{i // 2}", dataset=d)
            for d in ("UADFV", "DFL") for i in range(20)]
    rng = np.random.default_rng(0)
    noisy = {os.path.relpath(r.path, SHARED): float(rng.random()) for r in recs}
    exact = {os.path.relpath(r.path, SHARED): 0.9 if r.label else 0.1 for r in recs}
    same = paired_differences({"scores": noisy}, {"scores": noisy}, recs)
    assert set(same) == {"overall", "FF++ and UADFV", "UADFV", "DFL"}
    assert all(d["d_auc"] == 0.0 and d["ci95"] == [0.0, 0.0] for d in same.values())
    better = paired_differences({"scores": noisy}, {"scores": exact}, recs)
    assert better["overall"]["n"] == 40 and better["FF++ and UADFV"]["n"] == 20
    assert better["overall"]["d_auc"] > 0.2 and better["overall"]["ci95"][0] > 0  # a real gain is outside noise
    worse = paired_differences({"scores": exact}, {"scores": noisy}, recs)
    assert math.isclose(worse["overall"]["d_auc"], -better["overall"]["d_auc"])


def test_fake_above_original_counts_wins_ties_half_and_skips_unscored_pairs():
    from labelled_eval import fake_above_original

    score = {"f1": 0.7, "o1": 0.2, "f2": 0.4, "o2": 0.4, "f3": 0.1, "o3": 0.6, "f4": float("nan"), "f5": 0.9}
    originals = {"f1": "o1", "f2": "o2", "f3": "o3", "f4": "o1", "f5": "missing"}
    assert fake_above_original(score, originals) == {"wins": 1.5, "pairs": 3}
    # swapping the roles of fake and original turns each win into a loss (here one win, one tie, one loss: 1.5 again)
    flipped = {o: f for f, o in list(originals.items())[:3]}
    assert fake_above_original(score, flipped) == {"wins": 1.5, "pairs": 3}
    lopsided = {"a": 0.9, "b": 0.1, "c": 0.8, "d": 0.2, "e": 0.5, "g": 0.5}
    assert fake_above_original(lopsided, {"a": "b", "c": "d", "e": "g"}) == {"wins": 2.5, "pairs": 3}
    assert fake_above_original(lopsided, {"b": "a", "d": "c", "g": "e"}) == {"wins": 0.5, "pairs": 3}
    assert fake_above_original({"f": 0.9, "o": 0.1}, {"f": "o"})["wins"] == 1.0
    assert fake_above_original({"f": 0.1, "o": 0.9}, {"f": "o"})["wins"] == 0.0
