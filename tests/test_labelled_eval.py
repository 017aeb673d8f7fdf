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
