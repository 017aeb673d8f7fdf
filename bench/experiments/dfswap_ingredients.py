#!/usr/bin/env python
"""Which ingredient of the DeepFaceLab-style synthetic swap makes it move the columns like a real swap? (issue 22, item 2)

    python bench/experiments/dfswap_ingredients.py [--model DIR] [--every 2] [--workers 2]
        [--out bench/experiments/dfswap_ingredients.json]

``dfswap`` (:func:`synthesis.donors.sample_dfl_params`) is a donor face swapped in with four ingredients
on top of the plain ``swap``: rendered at 128-320 px and upsampled (``render``), with skin smoothing half the
time (``smooth``), colour-matched by Reinhard transfer in Lab at nearly full strength (``lab``), merged on an
eroded, feathered landmark hull replacing the face wholly (``hull``). Each named recipe drops one ingredient
and puts back what ``swap`` draws for it, from the same random draw (same video seed, same donor, same frames),
so two recipes differ by that ingredient only:

==============  ===============================================================================
``dfswap``      all four (the shipped variant; checked against the feature cache's copy)
``-render``     no low-resolution rendering (the donor crop at its own resolution)
``-smooth``     rendered at low resolution, never smoothed
``-lab``        ``swap``'s colour transfer (Lab or RGB, strength 0.6-1.0)
``-hull``       ``swap``'s mask family, erosion, feather and blend ratio: the ``rswap`` variant
                (:func:`synthesis.donors.sample_rendered_swap_params`)
==============  ===============================================================================

Each recipe's fakes are paired with their own real copy (``orig``, from the feature cache), and the paired
medians per column are compared with the real manipulations' pairs (DeepFaceLive panels, FF++ c40, UADFV) as
``synthesis_match.py`` compares the pool's kinds: Spearman over all columns, share of the real dataset's
significant columns moved the same way, median size ratio. No model is trained: this says which ingredient
carries the paired cue into the columns, which is what a model can learn from. Every ``--every``-th real of
the card's pool (default every 2nd: 52 clips), uncompressed (no ``+h264`` copy). Development data only.
"""
from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)
sys.path.insert(0, HERE)

RECIPES = ("dfswap", "-render", "-smooth", "-lab", "-hull")

import pipeline.extract as _extract  # noqa: E402
import synthesis.donors as _donors  # noqa: E402

_ORIGINAL_DFL = _donors.sample_dfl_params
_ORIGINAL_VARIANT_FRAMES = _extract.variant_frames
_CURRENT = {"recipe": "dfswap"}


def _ablated_dfl_params(rng, *, region="face"):
    """:func:`synthesis.donors.sample_dfl_params` with the current recipe's ingredient replaced by ``swap``'s draw
    (``-hull`` needs no patch: it is the ``rswap`` variant)."""
    swap = _donors.sample_swap_params(copy.deepcopy(rng), region=region)  # the draw dfswap starts from
    p = _ORIGINAL_DFL(rng, region=region)
    recipe = _CURRENT["recipe"]
    if recipe == "-render":
        p["render"] = None
    elif recipe == "-smooth":
        p["render"] = dict(p["render"], smooth=0.0)
    elif recipe == "-lab":
        p.update(space=swap["space"], strength=swap["strength"])
    return p


def _recipe_variant_frames(frames, dense, variant, **kw):
    """``dfswap@RECIPE`` variants: ``dfswap`` made with that recipe (every other name as before)."""
    if variant.startswith("dfswap@"):
        _CURRENT["recipe"] = variant.split("@", 1)[1]
        try:
            return _ORIGINAL_VARIANT_FRAMES(frames, dense, "dfswap", **kw)
        finally:
            _CURRENT["recipe"] = "dfswap"
    return _ORIGINAL_VARIANT_FRAMES(frames, dense, variant, **kw)


_donors.sample_dfl_params = _ablated_dfl_params
_extract.variant_frames = _recipe_variant_frames


def _extract_one(item):
    path, kw = item
    res = _extract.extract_video(path, **kw)
    return path, [(r.variant, r.status, r.tracks[0].features if r.tracks else None) for r in res]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "modeling", "default_model"))
    ap.add_argument("--every", type=int, default=2, help="every k-th real clip of the pool (sorted by path)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "features"))
    ap.add_argument("--out", default=os.path.join(HERE, "dfswap_ingredients.json"))
    args = ap.parse_args(argv)

    from card_pool import CardPool
    from synthesis_match import agreement, agreement_line, pair_medians, real_medians, real_pair_rows

    cp = CardPool(args.model, cache=args.cache, workers=args.workers)
    reals = sorted((r for r in cp.records if r.label == 0), key=lambda r: r.path)[::args.every]
    t0 = time.time()
    cached, _ = cp.table(reals, rows="video", synthetic=True)  # orig and the shipped dfswap, from the cache
    by = {(os.path.normpath(r["_path"]), r["_variant"]): r for r in cached}
    pairs, lab, _ = real_pair_rows(cp)
    t_cache = time.time() - t0

    #: the variant that makes each recipe
    variants = {"dfswap": "dfswap", "-render": "dfswap@-render", "-smooth": "dfswap@-smooth", "-lab": "dfswap@-lab",
                "-hull": "rswap"}
    recipe_of = {v: k for k, v in variants.items()}
    items = [(r.path, dict(calculators=cp.calcs, n_frames=cp.args.frames, dense=cp.args.dense,
                           stride=cp.args.stride, device="cpu", variants=tuple(variants.values()), seed=cp.args.seed,
                           donors=tuple(cp.donors), identity=r.group))
             for r in reals]
    t0 = time.time()
    made = {}
    with multiprocessing.get_context("fork").Pool(max(1, args.workers)) as pool:  # forked: the patches hold
        for k, (path, res) in enumerate(pool.imap_unordered(_extract_one, items), 1):
            made[os.path.normpath(path)] = res
            if k % 10 == 0:
                print(f"  {k}/{len(items)} videos, {time.time() - t0:.0f} s", flush=True)
    t_extract = time.time() - t0

    cols = sorted({c for r in lab for c in r if not c.startswith("_")}
                  & {c for r in cached for c in r if not c.startswith("_")})
    real, real_counts = real_medians(pairs, lab, cols)

    recipe_pairs = defaultdict(list)
    check = []  # this harness's plain dfswap against the feature cache's copy: the same features
    for path, res in made.items():
        twin = by.get((path, "orig"))
        for variant, status, feats in res:
            if feats is None or twin is None or status not in ("ok", "partial"):
                continue
            recipe_pairs[recipe_of[variant]].append((feats, twin))
            if variant == "dfswap" and (path, "dfswap") in by:
                ref = by[(path, "dfswap")]
                check.append(max(abs(float(feats[c]) - float(ref[c])) for c in cols
                                 if c in feats and feats[c] == feats[c] and ref.get(c) == ref.get(c)))
    out = {"what": __doc__.split("\n\n")[0].strip(), "pool_from": cp.card["training"]["command"],
           "reals": len(reals), "columns": len(cols), "seconds": {"cache": round(t_cache, 1),
                                                                  "extract": round(t_extract, 1)},
           "check_dfswap_vs_cache_max_abs_diff": max(check) if check else None,
           "pairs": {k: len(v) for k, v in recipe_pairs.items()}, "real_pairs": real_counts,
           "agreement": {}}
    for name in RECIPES:
        med = pair_medians(recipe_pairs[name], cols)
        out["agreement"][name] = {ds: agreement(med, r) for ds, r in real.items()}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=True)
    print(f"{len(reals)} reals, {len(cols)} columns; extraction {t_extract:.0f} s; dfswap against the cache: "
          f"max |diff| {out['check_dfswap_vs_cache_max_abs_diff']}")
    for name, per in out["agreement"].items():
        print(agreement_line(name, per, width=9, digits=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
