"""bench/oof_figures.py: the pool figures and their paired differences are taken over the right rows."""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench", "experiments"))

from oof_figures import figures, paired, subsets  # noqa: E402


def _oof(seed=0):
    """Reals (with codec copies and one synthetic kind) and two generators' clips, scored at random."""
    rng = np.random.default_rng(seed)
    out = {}

    def add(path, variant, label, method):
        out[(path, variant)] = {"label": label, "prob": float(rng.random()), "group": path, "method": method}

    for i in range(12):
        p = f"/d/real/src{i % 3}/r{i}.mp4"
        add(p, "orig", 0, "")
        add(p, "orig+h264", 0, "")
        add(p, "selfblend", 1, "selfblend")
    for g in ("x__AniTalker", "y__EDTalk"):
        for i in range(4):
            p = f"/d/generated/{g}/c{i}.mp4"
            add(p, "orig", 1, g)
            add(p, "orig+h264", 1, g)
    return out


def test_held_out_generator_groups_hold_every_real_row_and_only_their_own_clips():
    oof = _oof()
    sub = subsets(oof)
    reals = {k for k, r in oof.items() if r["label"] == 0}
    ani = set(sub["held-out generators: AniTalker"])
    assert reals <= ani and {k for k in ani - reals} == {k for k in oof if "AniTalker" in k[0]}
    assert "held-out generators: EDTalk" in sub
    # synthetic kinds are the variants made from reals, never a generator clip's codec copy
    assert set(sub["synthetic kind: selfblend"]) - reals == {k for k in oof if k[1] == "selfblend"}
    assert not any(name.startswith("synthetic kind: x__") for name in sub)


def test_false_positives_are_counted_on_the_real_clips_themselves_by_source():
    oof = _oof()
    for k, r in oof.items():
        r["prob"] = 0.9 if (r["label"] == 0 and "src0" in k[0]) else 0.1
    fig = figures(oof, clip=0.01)
    assert fig["real clips above 0.5"] == {"n": 12, "above": 4}  # the codec copies are not clips of their own
    assert fig["real clips above 0.5 by source"] == {"src0": {"above": 4, "n": 4}}


def test_paired_difference_is_zero_against_itself_and_positive_for_a_better_ranking():
    ref = _oof()
    assert all(d["d_auc"] == 0.0 for d in paired(ref, ref).values())
    better = {k: dict(r, prob=0.8 if r["label"] else 0.2) for k, r in ref.items()}
    d = paired(ref, better)["pool, every variant"]
    assert d["d_auc"] > 0.3 and d["ci95"][0] > 0
