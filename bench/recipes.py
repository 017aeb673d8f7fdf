#!/usr/bin/env python
"""Compare training recipes for the shipped model, side by side (issue: "make the shipped detector detect").

    python bench/recipes.py extract [--workers 2]       # fill the feature cache (slow, resumable)
    python bench/recipes.py evaluate [--recipes a,b] [--out bench/recipes.json]
    python bench/recipes.py evaluate --cross-generator --recipes a   # plus held-out generators (~5-15 min)
    python bench/recipes.py evaluate --probe --recipes a [--families temporal]  # held-out generators only, ~1 min

Training pool: ``../shared/data/real`` (redistributable reals) and ``../shared/data/generated``
(redistributable talking-head generator fakes) plus synthesis; ``labelled/`` (research-only FF++ and
UADFV) is scored, never trained on. Measures per recipe (bootstrap 95 % intervals):

* cross-dataset: the recipe's final model on all labelled clips, overall, per dataset, per method vs reals;
* cross-generator: AniTalker held out (and EDTalk held out), scored against the same-format real face crops,
  each fold of those reals held out in turn;
* grouped CV on the training pool (groups = source repository for reals, take for generated clips, so the
  folds are leave-source-out): AUC, self-blends vs reals with and without codec degradation, the share of
  real clips above 0.5;
* the carphone demo clip's P(fake);
* baselines in every table: the mean Laplacian of the face crop (direction learned on the training data)
  and ``meta`` alone.

Choosing among recipes uses the cross-generator and training-pool numbers first; ``labelled/`` only picks
between a few named recipes, and the table says so.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from dataformats import Record, read_labels  # noqa: E402
from features.registry import Calculator, all_calculators, family_of  # noqa: E402
from forensics.blending import laplacian  # noqa: E402
from modeling import metrics  # noqa: E402
from modeling.calibration import apply_platt, balanced_weights, fit_platt  # noqa: E402
from modeling.rows import track_rows  # noqa: E402
from modeling.stacking import stacked_cv  # noqa: E402
from modeling.training import (fake_kind, feature_matrix, final_model, grouped_folds, per_video,  # noqa: E402
                               resolve_params, train_cv, training_weights)
from pipeline.batch import extract_cached, parallel_map  # noqa: E402
from pipeline.samples import carphone_path  # noqa: E402
from synthesis.variants import is_synthetic_fake, synthetic_method  # noqa: E402

DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
CACHE = os.path.join(ROOT, ".cache", "recipes")
FRAMES, DENSE, SEED = 32, 64, 0


# ----------------------------------------------------------------------------- the trivial baseline
def _laplacian_baseline(track) -> dict:
    """Mean |Laplacian| of the gray face crop inside the face ellipse, per frame."""
    xp = track.xp
    lap = xp.abs(laplacian(track.gray_crops()))
    m = track.face_mask
    return {"lap": (lap * m).sum(axis=(1, 2)) / xp.maximum(m.sum(axis=(1, 2)), 1)}


BASELINE = Calculator("baseline", "laplacian", _laplacian_baseline, gpu=True,
                      features={"lap": "mean absolute Laplacian of the face crop"})


def calculators():
    return all_calculators() + [BASELINE]


# ----------------------------------------------------------------------------- data
def _take(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"(_SR|_512|_sr)$", "", stem)


def pool_records() -> list[Record]:
    """real/ and generated/, with leave-source-out groups (repository for reals, take for generated)."""
    out = []
    for sub in ("real", "generated"):
        for r in read_labels(os.path.join(DATA, sub)):
            repo = r.path.split(os.sep + sub + os.sep, 1)[1].split(os.sep)[0]
            r.identity = r.group  # the donor bank's identity of this clip
            r.group = f"{sub}:{repo}" if sub == "real" else f"{sub}:{repo}:{_take(r.path)}"
            r.dataset = sub
            r.method = r.method if sub == "generated" else "real"
            r.source = repo
            out.append(r)
    return out


def eval_records() -> list[Record]:
    return [r for r in read_labels(os.path.join(DATA, "labelled")) if r.label is not None]


def same_format_reals(records) -> list[Record]:
    """Reals in the generators' format: square 256/512-px face crops."""
    import cv2

    out = []
    for r in records:
        if r.label != 0:
            continue
        cap = cv2.VideoCapture(r.path)
        w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        cap.release()
        if w == h and w in (256, 512):
            out.append(r)
    return out


# ----------------------------------------------------------------------------- recipes
#: each recipe: variants per REAL training video, whether generated/ joins, row kind, feature families
_TODAY = ["orig", "selfblend", "orig+reencode", "selfblend+reencode"]
_SYNTH = ["selfblend", "selfblend#2", "selfblend:lower", "swap", "generator"]
_CODEC = ["orig"] + _SYNTH + [f"{v}+h264" for v in ["orig"] + _SYNTH]
#: columns that compare the face with its surround (face minus background, inside vs outside the contour,
#: correlation with the camera's noise), not absolute levels that encode a source's format
RELATIVE = r"^(blending__|spectral__(fb|track_fb)|prnu__(ncc|pce|group|log_var|srm_\w+_(diff|js)|static)|temporal__)"
_CODEC_ONLY = ["orig+h264"] + [f"{v}+h264" for v in _SYNTH]
#: shallower, more regularised trees over a random half of the columns (chosen by the pool's CV, not labelled/)
_REGULARISED = {"num_leaves": 7, "max_depth": 3, "feature_fraction": 0.3, "lambda_l2": 10.0, "min_data_in_leaf": 20,
                "extra_trees": True}
RECIPES = {
    "today": dict(real=_TODAY, fake=["orig", "orig+reencode"], generated=False, rows="video"),
    "+generated": dict(real=_TODAY, fake=["orig", "orig+reencode"], generated=True, rows="video"),
    "+codec synthesis": dict(real=_CODEC, fake=["orig", "orig+h264"], generated=True, rows="video"),
    "+codec synthesis +segment rows": dict(real=_CODEC, fake=["orig", "orig+h264"], generated=True,
                                           rows="segment:8"),
    # every training copy compressed after the blend, as real deepfakes are (no clean synthetic fakes)
    "codec only": dict(real=_CODEC_ONLY, fake=["orig+h264"], generated=True, rows="video"),
    "codec only -meta": dict(real=_CODEC_ONLY, fake=["orig+h264"], generated=True, rows="video", drop=["meta"]),
    "codec only -meta +regularised": dict(real=_CODEC_ONLY, fake=["orig+h264"], generated=True, rows="video",
                                          drop=["meta"], params=_REGULARISED),
    "codec only -meta +segment rows": dict(real=_CODEC_ONLY, fake=["orig+h264"], generated=True, rows="segment:8",
                                           drop=["meta"]),
    "+codec synthesis +segment rows -meta": dict(real=_CODEC, fake=["orig", "orig+h264"], generated=True,
                                                 rows="segment:8", drop=["meta"]),
    # the shipped recipe since the PRNU family was left out (README "Per-family ablation": why, and at what cost)
    "+codec synthesis +segment rows -meta -prnu": dict(real=_CODEC, fake=["orig", "orig+h264"], generated=True,
                                                       rows="segment:8", drop=["meta", "prnu"]),
    # the same with each fake kind weighted alike (generated/ counts as much as one synthesis method)
    "+codec synthesis +segment rows -meta -prnu +kind weights": dict(real=_CODEC, fake=["orig", "orig+h264"],
                                                                     generated=True, rows="segment:8",
                                                                     drop=["meta", "prnu"], weights="kinds"),
    # one LightGBM per family, combined by a non-negative logistic stacker on their out-of-fold margins
    "+codec synthesis +segment rows -meta -prnu +kind weights +stacked": dict(
        real=_CODEC, fake=["orig", "orig+h264"], generated=True, rows="segment:8", drop=["meta", "prnu"],
        weights="kinds", stack=True),
    "+codec synthesis +segment rows -meta -prnu -quality +kind weights +stacked": dict(
        real=_CODEC, fake=["orig", "orig+h264"], generated=True, rows="segment:8", drop=["meta", "prnu", "quality"],
        weights="kinds", stack=True),
    # a model on every column plus a temporal expert (the family that carried unseen generators in the probes)
    "+codec synthesis +segment rows -meta -prnu +kind weights +stacked all+temporal": dict(
        real=_CODEC, fake=["orig", "orig+h264"], generated=True, rows="segment:8", drop=["meta", "prnu"],
        weights="kinds", stack="all,temporal"),
    # a model on every column plus a temporal expert trained on reals vs generated/ only (experiment)
    "+codec synthesis +segment rows -meta -prnu +kind weights +generated-only temporal expert": dict(
        real=_CODEC, fake=["orig", "orig+h264"], generated=True, rows="segment:8", drop=["meta", "prnu"],
        weights="kinds", stack="all,temporal@collected"),
    # the same with unweighted experts, only the stacker weighing each kind of fake alike
    "+codec synthesis +segment rows -meta -prnu +generated-only temporal expert +kind-weighted stacker": dict(
        real=_CODEC, fake=["orig", "orig+h264"], generated=True, rows="segment:8", drop=["meta", "prnu"],
        stack="all,temporal@collected"),
    # the shipped recipe plus a lip-sync-like fake: the mouth and chin re-rendered at 64-256 px and upsampled
    "+lower-face generator synthesis": dict(
        real=_CODEC + ["generator:lower", "generator:lower+h264"], fake=["orig", "orig+h264"], generated=True,
        rows="segment:8", drop=["meta", "prnu"], stack="all,temporal@collected"),
    # the shipped recipe without the absolute quality levels (issue 12: alone they carry the self-blend cue,
    # clean 0.958, and lose 0.28-0.39 of it under every degrading perturbation, bench/experiments/selfblend_ceiling.py)
    "+lower-face generator synthesis -quality": dict(
        real=_CODEC + ["generator:lower", "generator:lower+h264"], fake=["orig", "orig+h264"], generated=True,
        rows="segment:8", drop=["meta", "prnu", "quality"], stack="all,temporal@collected"),
    # only measurements of the face relative to its surround (the lead: relative measures transfer)
    "+codec synthesis +segment rows relative only": dict(real=_CODEC, fake=["orig", "orig+h264"], generated=True,
                                                         rows="segment:8", keep=RELATIVE),
    "+codec synthesis +segment rows -meta +regularised": dict(real=_CODEC, fake=["orig", "orig+h264"],
                                                              generated=True, rows="segment:8", drop=["meta"],
                                                              params=_REGULARISED),
}
DONORS = os.path.join(ROOT, ".cache", "donors")


def recipe_variants(recipe: dict, label: int) -> list[str]:
    if label == 0:
        return list(recipe["real"])
    return [v for v in recipe.get("fake", ["orig", "orig+reencode"])]


def needed_variants(recipes) -> dict:
    """Union over recipes of the variants each kind of video needs."""
    real, fake = set(), set()
    for rc in recipes.values():
        real |= set(recipe_variants(rc, 0))
        fake |= set(recipe_variants(rc, 1))
    return {0: sorted(real | {"orig"}), 1: sorted(fake | {"orig"})}  # orig: the held-out clean uploads


def _extract(item):
    path, variants, identity = item
    donors = tuple(sorted(glob.glob(os.path.join(DONORS, "*.npz"))))
    return extract_cached(path, calculators=calculators(), n_frames=FRAMES, dense=DENSE, device="cpu",
                          variants=tuple(variants), seed=SEED, cache_dir=CACHE, donors=donors, identity=identity)


def extract_all(recipes, workers: int) -> dict:
    """``{(path, variant): result dict}`` for every video and variant the recipes need (cached)."""
    need = needed_variants(recipes)
    # donor identities as the bank has them (python -m synthesis donors ../shared/data/real -o .cache/donors)
    items = [(r.path, need[r.label], r.identity) for r in pool_records()]
    items += [(r.path, ["orig"], "") for r in eval_records()] + [(carphone_path(), ["orig"], "")]
    out, t0 = {}, time.time()
    for i, results in enumerate(parallel_map(_extract, items, workers), 1):
        for res in results:
            out[(res["path"], res["variant"])] = res
        if i % 20 == 0 or i == len(items):
            print(f"  {i}/{len(items)} videos, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


# ----------------------------------------------------------------------------- tables and models
_SEGMENTS: dict = {}


def _segments(path, variant, track, kind) -> list[dict]:
    """A track's segment rows, computed once per run (every fold and recipe reuses them)."""
    key = (path, variant, kind)
    if key not in _SEGMENTS:
        _SEGMENTS[key] = track_rows(track["values"], kind)
    return _SEGMENTS[key]


def table(records, results, recipe, *, variants_for=None) -> list[dict]:
    rows = []
    for r in records:
        for v in (variants_for(r) if variants_for else recipe_variants(recipe, r.label)):
            res = results.get((r.path, v))
            if res is None or res["status"] != "ok":
                continue
            synth = is_synthetic_fake(v)
            tr = res["tracks"][0]
            parts = [tr["features"]] if recipe["rows"] == "video" else _segments(r.path, v, tr, recipe["rows"])
            meta = dict(_path=r.path, _variant=v, _label=1 if synth else r.label, _group=r.group,
                        _method=synthetic_method(v) if synth else (r.method or ("fake" if r.label else "real")),
                        _dataset=r.dataset)
            rows += [dict(p, **meta, _segment=k) for k, p in enumerate(parts)]
    return rows


def columns(rows, families=None, exclude=("baseline",)) -> list[str]:
    names = sorted({k for r in rows for k in r if not k.startswith("_")})
    return [c for c in names if family_of(c) not in exclude and (families is None or family_of(c) in families)]


def recipe_columns(rows, recipe, families=None) -> list[str]:
    names = columns(rows, families, exclude=("baseline",) + tuple(recipe.get("drop", ())))
    return [c for c in names if re.match(recipe["keep"], c)] if recipe.get("keep") else names


def _source(group: str) -> str:
    """The repository of a pool group (``real:REPO`` or ``generated:REPO:TAKE``), for calibration weights."""
    return ":".join(group.split(":")[:2])


def fit(rows, names, *, seed=SEED, params=None, weights=None, cv=True, stack=False):
    """Grouped CV + final model; returns (booster, per-video OOF entries, platt a, b).

    ``cv=False`` trains the final model only (no OOF, no calibration: a = b = None, so :func:`score` gives
    raw margins), for AUC-only probes."""
    X, _ = feature_matrix(rows, names)
    y = np.array([r["_label"] for r in rows], float)
    w = training_weights(rows, weights)
    if stack:  # experts (modeling/stacking.py); CV is part of fitting the stacker, so cv=False saves nothing
        booster, oof, folds, _, st = stacked_cv(X, y, [r["_group"] for r in rows], feature_names=names, seed=seed,
                                                threads=2, params=params, weights=w,
                                                experts=stack if isinstance(stack, str) else "families",
                                                kinds=[fake_kind(r) for r in rows])
        print("  stacker", dict(zip(st.experts, np.round(st.coef, 3))), round(st.intercept, 3), file=sys.stderr)
    elif not cv:
        return final_model(X, y, feature_names=names, params=resolve_params(len(y), seed, 2, params),
                           weights=w), [], None, None
    else:
        booster, oof, folds, _ = train_cv(X, y, [r["_group"] for r in rows], feature_names=names, seed=seed,
                                          threads=2, params=params, weights=w)
    vids = per_video(rows, oof, folds)
    raw = np.array([v["_raw"] for v in vids])
    ok = np.isfinite(raw)
    yv = np.array([v["_label"] for v in vids])
    a, b = fit_platt(raw[ok], yv[ok], weights=balanced_weights(yv[ok], np.array([_source(v["_group"]) for v in vids])[ok]))
    for v in vids:
        v["_prob"] = float(apply_platt([v["_raw"]], a, b)[0]) if np.isfinite(v["_raw"]) else np.nan
    return booster, vids, a, b


def score(booster, a, b, rows, names) -> list[dict]:
    X, _ = feature_matrix(rows, names)
    vids = per_video(rows, booster.predict(X, raw_score=True))
    for v in vids:
        v["_prob"] = v["_raw"] if a is None else float(apply_platt([v["_raw"]], a, b)[0])
    return vids


def auc_ci(y, p, groups=None) -> dict:
    y, p = np.asarray(y, float), np.asarray(p, float)
    ok = np.isfinite(p)
    ci = metrics.bootstrap_auc_ci(y[ok], p[ok], n_boot=1000, seed=0,
                                  groups=None if groups is None else np.asarray(groups)[ok])
    ll = metrics.log_loss(y[ok], np.clip(p[ok], 0.01, 0.99)) if ok.any() else np.nan
    return {"auc": ci.auc, "lo": ci.lo, "hi": ci.hi, "log_loss": ll, "n": int(ok.sum()),
            "n_fake": int(y[ok].sum())}


def laplacian_baseline(train_rows, test_rows) -> tuple[list, list]:
    """The mean-Laplacian score (sign learned on the training rows) for both tables, per video."""
    col = "baseline__lap__mean"
    tr = per_video(train_rows, [r.get(col, np.nan) for r in train_rows])
    y = np.array([v["_label"] for v in tr])
    x = np.array([v["_raw"] for v in tr])
    sign = 1.0 if metrics.roc_auc(y[np.isfinite(x)], x[np.isfinite(x)]) >= 0.5 else -1.0
    te = per_video(test_rows, [r.get(col, np.nan) for r in test_rows])
    for v in tr + te:
        v["_prob"] = sign * v["_raw"]
    return tr, te


def evaluate_recipe(name, recipe, results, pool, evals, carphone, families=None) -> dict:
    pool_use = [r for r in pool if recipe["generated"] or r.label == 0]
    rows = table(pool_use, results, recipe)
    names = recipe_columns(rows, recipe, families)
    booster, oof, a, b = fit(rows, names, params=recipe.get("params"), weights=recipe.get("weights"),
                             stack=recipe.get("stack", False))
    out = {"recipe": recipe, "n_rows": len(rows), "n_columns": len(names), "calibration": [a, b]}
    y = [v["_label"] for v in oof]
    p = [v["_prob"] for v in oof]
    out["cv"] = auc_ci(y, p, [v["_group"] for v in oof])
    for var in sorted({v["_variant"] for v in oof if v["_label"] == 1 and v["_method"] != "orig"}):
        # each synthetic variant against the reals of the same degradation
        aug = var.partition("+")[2]
        sel = [v for v in oof if v["_variant"] == var or (v["_label"] == 0 and v["_variant"] == "orig"
                                                              + (f"+{aug}" if aug else ""))]
        out[f"cv {var} vs reals"] = auc_ci([v["_label"] for v in sel], [v["_prob"] for v in sel])
    gen = [v for v in oof if v["_dataset"] == "generated" or v["_label"] == 0]
    if any(v["_dataset"] == "generated" for v in gen):
        out["cv generated vs reals"] = auc_ci([v["_label"] for v in gen], [v["_prob"] for v in gen])
    reals = [v["_prob"] for v in oof if v["_label"] == 0]
    out["cv false-positive share of real clips"] = float(np.mean(np.asarray(reals) > 0.5))
    # cross-dataset on labelled/
    ev_rows = table(evals, results, dict(recipe), variants_for=lambda r: ["orig"])
    ev = score(booster, a, b, ev_rows, names)
    out["labelled"] = _breakdown(ev)
    _, lap_ev = laplacian_baseline(rows, ev_rows)
    out["labelled laplacian baseline"] = _breakdown(lap_ev)
    # carphone
    cp = table([Record(carphone, 0, group="carphone", dataset="carphone")], results, recipe,
               variants_for=lambda r: ["orig"])
    out["carphone P(fake)"] = score(booster, a, b, cp, names)[0]["_prob"] if cp else None
    return out, booster, names


def _breakdown(vids) -> dict:
    y = np.array([v["_label"] for v in vids])
    p = np.array([v["_prob"] for v in vids])
    ds = np.array([v["_dataset"] for v in vids], dtype=object)
    out = {"all": auc_ci(y, p, [v["_group"] for v in vids])}
    for d in sorted(set(ds)):
        out[d] = auc_ci(y[ds == d], p[ds == d])
    for m, sel in metrics.method_vs_real(y, [v["_method"] for v in vids], ds).items():
        out[f"method {m}"] = auc_ci(y[sel], p[sel])
    return out


def cross_generator(recipe, results, pool, families=None, *, cv=True) -> dict:
    """Hold one generator out: train without its fakes and without a fold of same-format reals; score both.

    ``cv=False`` (a quick probe) skips each model's CV and calibration and pools raw margins."""
    out = {}
    fmt_reals = same_format_reals(pool)
    fold_of = {r.path: f for r, f in zip(fmt_reals, grouped_folds([r.group for r in fmt_reals],
                                                                  [0] * len(fmt_reals), n_folds=4))}
    # styletalk's reals are one repository group: split them by clip for this test only
    fold_of = {r.path: i % 4 for i, r in enumerate(fmt_reals)}
    for gen in ("AniTalker", "EDTalk"):
        fake_scores, real_scores = defaultdict(list), {}
        for f in range(4):
            held_reals = [r for r in fmt_reals if fold_of[r.path] == f]
            held = {r.path for r in held_reals}
            train = [r for r in pool if r.path not in held and not (r.label == 1 and r.method == gen)
                     and (recipe["generated"] or r.label == 0)]
            rows = table(train, results, recipe)
            names = recipe_columns(rows, recipe, families)
            booster, _, a, b = fit(rows, names, params=recipe.get("params"), weights=recipe.get("weights"), cv=cv,
                                   stack=recipe.get("stack", False))
            test = held_reals + [r for r in pool if r.label == 1 and r.method == gen]
            vids = score(booster, a, b, table(test, results, recipe, variants_for=lambda r: ["orig"]), names)
            for v in vids:
                if v["_label"] == 1:
                    fake_scores[v["_path"]].append(v["_prob"])
                else:
                    real_scores[v["_path"]] = v["_prob"]
        y = [1] * len(fake_scores) + [0] * len(real_scores)
        p = [float(np.mean(s)) for s in fake_scores.values()] + list(real_scores.values())
        out[f"held-out {gen}"] = auc_ci(y, p)
    return out


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["extract", "evaluate"])
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ablation", action="store_true", help="also drop one family at a time (first recipe)")
    ap.add_argument("--cross-generator", action="store_true")
    ap.add_argument("--probe", action="store_true",
                    help="only the held-out-generator AUCs, from uncalibrated final models (no CV): quick")
    ap.add_argument("--families", help="comma-separated families to keep (probe single families)")
    ap.add_argument("--out", default=os.path.join(HERE, "recipes.json"))
    args = ap.parse_args(argv)
    recipes = {k: RECIPES[k] for k in args.recipes.split(",")}
    results = extract_all(recipes, args.workers)
    if args.command == "extract":
        print(Counter(r["status"] for r in results.values()))
        return 0
    pool, evals, cp = pool_records(), eval_records(), carphone_path()
    report = {}
    fams = set(args.families.split(",")) if args.families else None
    if args.probe:
        for name, rc in recipes.items():
            t0 = time.time()
            rep = cross_generator(rc, results, pool, fams, cv=False)
            rep["seconds"] = round(time.time() - t0, 1)
            report[name] = rep
            print(json.dumps({name: _short(rep)}), flush=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1, default=float)
        return 0
    for name, rc in recipes.items():
        t0 = time.time()
        rep, _, _ = evaluate_recipe(name, rc, results, pool, evals, cp)
        if args.cross_generator:
            rep.update(cross_generator(rc, results, pool))
        rep["seconds"] = round(time.time() - t0, 1)
        report[name] = rep
        print(json.dumps({name: _short(rep)}, indent=1), flush=True)
        if "meta" not in rc.get("drop", ()):  # meta alone: what the recipe's pool gives away by format
            meta_rep, _, _ = evaluate_recipe(name, rc, results, pool, evals, cp, families={"meta"})
            report[name + " [meta only]"] = meta_rep
            print(json.dumps({"meta only": _short(meta_rep)}, indent=1), flush=True)
    if args.ablation:
        name, rc = next(iter(recipes.items()))
        fams = sorted({family_of(c) for c in columns(table(pool[:3], results, rc))})
        for fam in fams:
            keep = set(fams) - {fam}
            rep, _, _ = evaluate_recipe(name, rc, results, pool, evals, cp, families=keep)
            report[f"{name} without {fam}"] = rep
            print(fam, json.dumps(_short(rep)), flush=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1, default=float)
    return 0


def _short(rep: dict) -> dict:
    out = {}
    for k, v in rep.items():
        if isinstance(v, dict) and "auc" in v:
            out[k] = f"{v['auc']:.3f} [{v['lo']:.2f}, {v['hi']:.2f}]"
        elif isinstance(v, dict) and "all" in v:
            out[k] = {kk: f"{vv['auc']:.3f} [{vv['lo']:.2f}, {vv['hi']:.2f}] n={vv['n']}" for kk, vv in v.items()}
        elif isinstance(v, float):
            out[k] = round(v, 3)
    return out


if __name__ == "__main__":
    sys.exit(main())
