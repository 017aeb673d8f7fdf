#!/usr/bin/env python
"""How fast ``train.py --adapt-from`` learns a kind of fake the base model misses (issue 26).

    python bench/adapt_curve.py [--workers 2] [--out bench/adapt_curve.json] [--base2 DIR]
        [--parts curve,timing,second,ceiling]

Curve: the DeepFaceLive pairs of ``../shared/data/labelled`` (each swap with its own original), grouped by
celebrity model (the manifest's ``group``). Per draw, celebrities are taken in a seeded random order and
their pairs used until k pairs are reached (k = 2, 5, 10, 20; five draws each); the pairs of every celebrity
not touched are scored. Reported per k: the held-out AUC of the base (the shipped model) and of the adapted
model on the same held-out pairs, and for the same adapted models the AUC change on FF++ c40, UADFV and
generated/ (the generated clips against real/: both are in the shipped model's training pool) plus the mean
change of P(fake) on generated/. The adapter's settings are the ones fixed in :mod:`modeling.adapt` before
any of this ran; nothing here chooses them.

Timing: ``train.py --adapt-from`` end to end (extraction with an empty cache, adaptation, the
leave-one-pair-out check, writing the folder) on the 10 pairs of the first k = 10 draw.

Ceiling (``--parts ceiling``, not in the default parts): how far any learner on the base's columns gets on
these pairs (:func:`ceiling`): leave-one-celebrity-out with every other celebrity's pairs, and LightGBM from
scratch with k = 10, 20, 30 pairs beside the adapter. Each part records the machine and load it ran on.

Second kind (``--base2 DIR``): a base trained without X-LANCE/AniTalker (and without
FuxiVirtualHuman/styletalk, whose real 256-px crops are the held-out reals) by a reduced recipe, adapted
with the clips of k AniTalker takes (a take's 256-px output and its super-resolved copy go together) and k
styletalk real clips, scored on the other takes against the other styletalk reals; and its change on FF++
c40 and UADFV.

Features come from the shared feature cache (``.cache/features``, run from the repository root), so the 40
adaptations do not decode again.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from cli.common import calculators_by_key  # noqa: E402
from modeling.card import card_sampling  # noqa: E402
from dataformats import read_labels  # noqa: E402
from modeling.adapt import adapt_model, anchor_rows  # noqa: E402
from modeling.detector import DetectorModel, default_model_dir  # noqa: E402
from modeling.metrics import roc_auc  # noqa: E402
from modeling.training import per_video  # noqa: E402
from pipeline.batch import extract_table  # noqa: E402

DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
KS = (2, 5, 10, 20)
DRAWS = 5
K2 = (2, 5)


def machine() -> str:
    """The CPU model, core count and load average, for the figures' record."""
    import platform

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    return (f"{name}, {os.cpu_count()} cores, no GPU, load {'/'.join(f'{x:.1f}' for x in load)} at "
            f"{time.strftime('%Y-%m-%d %H:%M')}")


def manifest_groups() -> dict:
    with open(os.path.join(DATA, "manifest.csv"), newline="") as f:
        return {os.path.normpath(os.path.join(DATA, r["path"])): r["group"] for r in csv.DictReader(f)}


def extract(model: DetectorModel, records, workers: int) -> list[dict]:
    rows, failures = extract_table(records, calculators=calculators_by_key(model.card["calculators"]),
                                   **card_sampling(model.card), device="cpu", seed=0,
                                   cache_dir=os.path.join(".cache", "features"), workers=workers, rows=model.rows,
                                   log=lambda *_: None)
    if failures:
        print(f"  not scored: {dict(failures)}", flush=True)
    return rows


class Table:
    """Feature rows of one evaluation set, the matrix in the model's column order, and video bookkeeping."""

    def __init__(self, model, rows):
        self.rows, self.X = rows, model.matrix(rows)
        self.paths = np.array([r["_path"] for r in rows], dtype=object)

    def videos(self, raw, keep=None) -> tuple[np.ndarray, np.ndarray, list]:
        sel = np.ones(len(self.rows), bool) if keep is None else np.isin(self.paths, list(keep))
        vids = per_video([r for r, s in zip(self.rows, sel) if s], np.asarray(raw)[sel])
        return np.array([v["_label"] for v in vids]), np.array([v["_raw"] for v in vids]), vids


def auc(table: Table, booster, keep=None) -> float:
    y, raw, _ = table.videos(booster.predict(table.X, raw_score=True), keep)
    return float(roc_auc(y, raw))


def summary(values) -> dict:
    v = np.asarray(values, float)
    return {"mean": round(float(v.mean()), 4), "min": round(float(v.min()), 4), "max": round(float(v.max()), 4)}


def draw_groups(groups_to_items: dict, k: int, rng) -> tuple[list, set]:
    """Items of groups taken in random order until ``k`` items (the last group may be used in part), and the
    groups touched."""
    order = rng.permutation(sorted(groups_to_items))
    used, touched = [], set()
    for g in order:
        items = list(groups_to_items[g])
        rng.shuffle(items)
        touched.add(g)
        used += items[:k - len(used)]
        if len(used) >= k:
            break
    return used, touched


def adapt_on(base, base_dir, table: Table, clip_paths) -> object:
    sel = np.isin(table.paths, list(clip_paths))
    y = np.array([r["_label"] for r in table.rows], float)[sel]
    booster, _, _ = adapt_model(base, table.X[sel], y, clips=table.paths[sel], anchors=anchor_rows(base_dir,
                                base.feature_names), threads=2)
    return booster


def other_sets(base, workers) -> dict:
    recs = [r for r in read_labels(os.path.join(DATA, "labelled")) if r.label is not None]
    sets = {"FF++ c40": [r for r in recs if r.dataset == "FF++ c40"],
            "UADFV": [r for r in recs if r.dataset == "UADFV"],
            "generated/ vs real/": read_labels(os.path.join(DATA, "generated")) + read_labels(os.path.join(DATA,
                                                                                                        "real"))}
    for r in sets["generated/ vs real/"]:
        r.label = 0 if r.label is None else r.label
    return {name: Table(base, extract(base, rs, workers)) for name, rs in sets.items()}


def changes(tables: dict, base, adapted) -> dict:
    out = {}
    for name, t in tables.items():
        out[name] = auc(t, adapted) - auc(t, base.booster)
    g = tables.get("generated/ vs real/")
    if g is not None:
        fake = [p for p, r in zip(g.paths, g.rows) if r["_label"] == 1]
        p0 = base.calibrate(g.videos(base.booster.predict(g.X, raw_score=True), set(fake))[1])
        p1 = base.calibrate(g.videos(adapted.predict(g.X, raw_score=True), set(fake))[1])
        out["generated/ mean P(fake)"] = float(np.mean(p1 - p0))
    return out


def deepfacelive_curve(base, base_dir, workers, others, ks=KS) -> tuple[dict, dict, Table]:
    groups = manifest_groups()
    recs = [r for r in read_labels(os.path.join(DATA, "labelled")) if r.label is not None
            and "iperov__DeepFaceLive" in r.path]
    by_path = {r.path: r for r in recs}
    pairs = [(r.path, r.original) for r in recs if r.label == 1 and r.original in by_path]
    table = Table(base, extract(base, [by_path[p] for pr in pairs for p in pr], workers))
    scored = set(table.paths)
    pairs = [pr for pr in pairs if pr[0] in scored and pr[1] in scored]
    celeb = {}
    for pr in pairs:
        celeb.setdefault(groups[os.path.normpath(pr[0])], []).append(pr)
    all_clips = {p for pr in pairs for p in pr}
    print(f"DeepFaceLive: {len(pairs)} pairs of {len(celeb)} celebrity models; base AUC "
          f"{auc(table, base.booster, all_clips):.3f}", flush=True)
    curve, draws_out = {}, {}
    for k in ks:
        rows = []
        for d in range(DRAWS):
            rng = np.random.default_rng(1000 * k + d)
            used, touched = draw_groups(celeb, k, rng)
            held = {p for g, prs in celeb.items() if g not in touched for pr in prs for p in pr}
            t0 = time.perf_counter()
            adapted = adapt_on(base, base_dir, table, {p for pr in used for p in pr})
            fit_s = time.perf_counter() - t0
            row = {"draw": d, "celebrities_used": sorted(touched), "n_heldout_pairs": len(held) // 2,
                   "base_auc": auc(table, base.booster, held), "adapted_auc": auc(table, adapted, held),
                   "fit_seconds": round(fit_s, 2), "change": changes(others, base, adapted)}
            row["gain"] = row["adapted_auc"] - row["base_auc"]
            rows.append(row)
            print(f"  k={k:>2} draw {d}: held-out {row['n_heldout_pairs']} pairs, base {row['base_auc']:.3f} -> "
                  f"{row['adapted_auc']:.3f}; " + ", ".join(f"{n} {v:+.3f}" for n, v in row["change"].items()),
                  flush=True)
        draws_out[str(k)] = rows
        curve[str(k)] = {"heldout_auc": summary([r["adapted_auc"] for r in rows]),
                         "base_auc_same_pairs": summary([r["base_auc"] for r in rows]),
                         "gain": summary([r["gain"] for r in rows]),
                         "change": {n: summary([r["change"][n] for r in rows]) for n in rows[0]["change"]},
                         "fit_seconds": summary([r["fit_seconds"] for r in rows])}
    return {"curve": curve, "draws": draws_out, "n_pairs": len(pairs), "n_celebrities": len(celeb),
            "base_auc_all_pairs": auc(table, base.booster, all_clips)}, celeb, table


def timing(celeb, workers) -> dict:
    """``train.py --adapt-from`` end to end on the 10 pairs of the first k = 10 draw, with an empty cache."""
    used, _ = draw_groups(celeb, 10, np.random.default_rng(1000 * 10 + 0))
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = os.path.join(tmp, "mine.csv")
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "group"])
            for i, (fake, real) in enumerate(used):
                w.writerows([[real, "REAL", f"pair{i}"], [fake, "FAKE", f"pair{i}"]])
        cmd = [sys.executable, os.path.join(ROOT, "train.py"), "--adapt-from", default_model_dir(), "--data",
               csv_path, "-o", os.path.join(tmp, "adapted"), "--cache", os.path.join(tmp, "cache"),
               "--workers", str(workers)]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode:
            raise SystemExit(f"train.py --adapt-from failed ({res.returncode}): {res.stderr[-2000:]}")
        card = json.load(open(os.path.join(tmp, "adapted", "model_card.json")))
        ok = DetectorModel.load(os.path.join(tmp, "adapted")) is not None
    return {"clips": 2 * len(used), "wall_seconds": round(wall, 1),
            "extract_seconds": card["training"]["extract_seconds"], "workers": workers, "loads": ok,
            "stdout_tail": res.stdout.strip().splitlines()[-3:],
            "command": "python train.py --adapt-from modeling/default_model --data MINE.csv -o NEW "
                       f"--cache EMPTY --workers {workers}"}


def best_column(X, y) -> tuple[int, float]:
    """The column of ``X`` whose values rank ``y`` best either way up (complete columns only), and its sign."""
    from scipy.stats import rankdata

    ok = np.isfinite(X).all(axis=0)
    r = rankdata(X, axis=0)
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    auc_ = (r[y == 1].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
    strength = np.where(ok, np.abs(auc_ - 0.5), -1.0)
    j = int(np.argmax(strength))
    return j, 1.0 if auc_[j] >= 0.5 else -1.0


def ceiling(base, base_dir, table: Table, celeb: dict) -> dict:
    """How far any learner on the base's columns gets on DeepFaceLive, leave-one-celebrity-out with every other
    celebrity's pairs (44-53 pairs, against the curve's 2-20): the adapter (its fixed settings), LightGBM from
    scratch on those pairs alone (the project's default parameters), and the single best column (chosen, with
    its direction, by its AUC on the training celebrities). Scores of each held-out celebrity come from a model
    that never saw it; the AUC pools them. If even these stay below the base + 0.15, no adapter on these
    columns meets issue 26's target at 10 pairs."""
    from modeling.training import final_model, resolve_params

    y_all = np.array([r["_label"] for r in table.rows], float)
    all_clips = {p for prs in celeb.values() for pr in prs for p in pr}
    scores = {"adapter": {}, "lightgbm_from_scratch": {}, "best_single_column": {}}
    chosen = []
    vpaths = np.array(sorted(all_clips), dtype=object)  # one row per clip: the mean of its rows, per column
    VX = np.array([np.nanmean(table.X[table.paths == p], axis=0) for p in vpaths])
    vy = np.array([y_all[table.paths == p][0] for p in vpaths])
    for g in sorted(celeb):
        held = {p for pr in celeb[g] for p in pr}
        train = all_clips - held
        sel = np.isin(table.paths, list(train))
        adapted = adapt_on(base, base_dir, table, train)
        gbm = final_model(table.X[sel], y_all[sel], feature_names=base.feature_names,
                          params=resolve_params(int(sel.sum()), 0, 2))
        best, sign = best_column(VX[np.isin(vpaths, list(train))], vy[np.isin(vpaths, list(train))])
        chosen.append(base.feature_names[best])
        for name, raw in (("adapter", adapted.predict(table.X, raw_score=True)),
                          ("lightgbm_from_scratch", gbm.predict(table.X, raw_score=True)),
                          ("best_single_column", sign * table.X[:, best])):
            _, v, vids = table.videos(raw, held)
            scores[name].update({vv["_path"]: float(s) for vv, s in zip(vids, v)})
    label = {r["_path"]: r["_label"] for r in table.rows}
    pairs = [pr for prs in celeb.values() for pr in prs]
    out = {"n_pairs": len(pairs), "n_celebrities": len(celeb)}
    for name, s in scores.items():
        paths = sorted(s)
        out[name] = {"auc": round(float(roc_auc([label[p] for p in paths], [s[p] for p in paths])), 4),
                     "pairs_fake_above_real": int(sum(s[f] > s[r] for f, r in pairs))}
    base_raw = dict(zip(*(lambda y, v, vids: ([vv["_path"] for vv in vids], v))(
        *table.videos(base.booster.predict(table.X, raw_score=True), all_clips))))
    out["base"] = {"auc": round(float(roc_auc([label[p] for p in sorted(base_raw)],
                                              [base_raw[p] for p in sorted(base_raw)])), 4),
                   "pairs_fake_above_real": int(sum(base_raw[f] > base_raw[r] for f, r in pairs))}
    out["best_single_column_chosen"] = sorted(set(chosen))
    # the same learners with only k pairs (the curve's draws): how many pairs do these columns need?
    out["from_scratch_curve"] = {}
    for k in KS[2:] + (30,):
        rows = []
        for d in range(DRAWS):
            used, touched = draw_groups(celeb, k, np.random.default_rng(1000 * k + d))
            held = {p for g, prs in celeb.items() if g not in touched for pr in prs for p in pr}
            train = {p for pr in used for p in pr}
            sel = np.isin(table.paths, list(train))
            gbm = final_model(table.X[sel], y_all[sel], feature_names=base.feature_names,
                              params=resolve_params(int(sel.sum()), 0, 2))
            rows.append((auc(table, gbm, held), auc(table, adapt_on(base, base_dir, table, train), held),
                         auc(table, base.booster, held)))
        r = np.array(rows)
        out["from_scratch_curve"][str(k)] = {"lightgbm_from_scratch": summary(r[:, 0]), "adapter": summary(r[:, 1]),
                                             "base": summary(r[:, 2])}
    return out


def take_of(path: str) -> str:
    return re.sub(r"_SR$", "", os.path.splitext(os.path.basename(path))[0])


def second_kind(base2_dir, workers) -> dict:
    base2 = DetectorModel.load(base2_dir)
    gen = [r for r in read_labels(os.path.join(DATA, "generated")) if "X-LANCE__AniTalker" in r.path]
    reals = [r for r in read_labels(os.path.join(DATA, "real")) if "FuxiVirtualHuman__styletalk" in r.path]
    for r in gen:
        r.label = 1 if r.label is None else r.label
    for r in reals:
        r.label = 0 if r.label is None else r.label
    table = Table(base2, extract(base2, gen + reals, workers))
    scored = set(table.paths)
    takes, people = {}, {}
    for r in gen:
        if r.path in scored:
            takes.setdefault(take_of(r.path), []).append(r.path)
    for r in reals:
        if r.path in scored:
            people.setdefault(re.sub(r"_clip\d+$", "", take_of(r.path)), []).append(r.path)
    labelled = [r for r in read_labels(os.path.join(DATA, "labelled")) if r.label is not None]
    others = {name: Table(base2, extract(base2, [r for r in labelled if r.dataset == ds], workers))
              for name, ds in (("FF++ c40", "FF++ c40"), ("UADFV", "UADFV"))}
    out = {"base": os.path.normpath(base2_dir), "base_command": base2.card["training"]["command"],
           "n_takes": len(takes), "n_real_people": len(people), "curve": {}, "draws": {}}
    for k in K2:
        rows = []
        for d in range(DRAWS):
            rng = np.random.default_rng(2000 * k + d)
            t_used, t_touched = draw_groups({t: [t] for t in takes}, k, rng)
            p_used, p_touched = draw_groups({p: people[p] for p in people}, k, rng)
            clips = {c for t in t_used for c in takes[t]} | set(p_used)
            held = {c for t in takes if t not in t_touched for c in takes[t]} | \
                   {c for p in people if p not in p_touched for c in people[p]}
            adapted = adapt_on(base2, base2_dir, table, clips)
            row = {"draw": d, "takes_used": sorted(t_used), "n_adapt_clips": len(clips),
                   "n_heldout_fake": sum(1 for c in held if "AniTalker" in c),
                   "n_heldout_real": sum(1 for c in held if "styletalk" in c),
                   "base_auc": auc(table, base2.booster, held), "adapted_auc": auc(table, adapted, held),
                   "change": {n: auc(t, adapted) - auc(t, base2.booster) for n, t in others.items()}}
            row["gain"] = row["adapted_auc"] - row["base_auc"]
            rows.append(row)
            print(f"  AniTalker k={k} takes draw {d}: {len(clips)} clips; held-out base {row['base_auc']:.3f} -> "
                  f"{row['adapted_auc']:.3f}; " + ", ".join(f"{n} {v:+.3f}" for n, v in row["change"].items()),
                  flush=True)
        out["draws"][str(k)] = rows
        out["curve"][str(k)] = {"heldout_auc": summary([r["adapted_auc"] for r in rows]),
                                "base_auc_same_clips": summary([r["base_auc"] for r in rows]),
                                "gain": summary([r["gain"] for r in rows]),
                                "change": {n: summary([r["change"][n] for r in rows]) for n in others}}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "adapt_curve.json"))
    ap.add_argument("--base2", default=None, help="a base trained without AniTalker and styletalk (second kind)")
    ap.add_argument("--parts", default="curve,timing,second",
                    help="what to run (comma-separated: curve, timing, second, ceiling); the others' results "
                         "already in "
                         "--out are kept, so the timing can run on an idle machine later")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    out = {}
    if os.path.isfile(args.out):
        with open(args.out) as f:
            out = json.load(f)
    out.update({"base": "modeling/default_model"})
    out.setdefault("machines", {})
    base_dir = default_model_dir()
    base = DetectorModel.load(base_dir)
    for part in parts:
        out["machines"][part] = machine()
    if parts & {"curve", "timing", "ceiling"}:
        t0 = time.perf_counter()
        others = other_sets(base, args.workers) if "curve" in parts else {}
        ks = KS if "curve" in parts else ()
        res, celeb, table = deepfacelive_curve(base, base_dir, args.workers, others, ks=ks)
        if "ceiling" in parts:
            out["ceiling"] = ceiling(base, base_dir, table, celeb)
            print(f"ceiling: {json.dumps(out['ceiling'])}", flush=True)
        if "curve" in parts:
            out.update({"base_auc": {n: auc(t, base.booster) for n, t in others.items()}, "deepfacelive": res,
                        "curve_seconds": round(time.perf_counter() - t0, 1)})
        if "timing" in parts:
            out["timing"] = timing(celeb, args.workers)
            print(f"timing: {out['timing']}", flush=True)
    if "second" in parts and args.base2:
        out["second_kind"] = second_kind(args.base2, args.workers)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, default=float)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
