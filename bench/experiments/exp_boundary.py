"""Experiment: learn where the blend is (pixel-level truth from self-blending), measure transfer.

Re-runnable, stage by stage (each stage caches under ``.cache/boundary/``, ignored by git)::

    nice -n 5 python bench/experiments/exp_boundary.py crops --workers 2     # decode, detect, blend, degrade, crop
    nice -n 5 python bench/experiments/exp_boundary.py profiles --workers 2  # contour profiles -> segment rows
    python bench/experiments/exp_boundary.py model                           # grouped CV, transfer, bars, write-up numbers

Training uses only ``../shared/data/real`` (redistributable reals) and self-blended fakes made from
them; ``labelled/`` (research-only) and ``generated/`` are only scored. Nothing derived from
``labelled/`` leaves ``.cache``.

Per training video: one decode (16 evenly spread frames), MTCNN, the primary face track; two
self-blended copies with widely varied masks (:func:`varied_params`: mask scale 0.55-1.15 of the face
ellipse, centre shifts up to 12 % of the face, aspect 0.8-1.25, feather 0.5-15 %, stronger contour
deformation, a third of them lower- or upper-face regions), and two degradations, each applied to the
original and one fake alike (:func:`degrade`: the frame shrunk so that the face is 70-220 px, then
H.264 CRF 26-42 through PyAV or JPEG q30-85). The blend masks are cropped with the same affine map as
the face crops, so every crop pixel has its exact blend weight M.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
CACHE = os.path.join(ROOT, ".cache", "boundary")
N_FRAMES = 16
CROP = 256
#: named variants (chosen with ``--synth`` and ``--grid``; the defaults are the first run)
SYNTH = os.environ.get("EXP_SYNTH", "varied")
GRID = os.environ.get("EXP_GRID", "base")


def grid():
    from forensics.contour import ContourGrid

    return {"base": ContourGrid(), "wide": ContourGrid(offsets=(0.025, 0.06, 0.12, 0.25))}[GRID]


def crops_dir(kind):
    return os.path.join(CACHE, "crops" if kind == "eval" or SYNTH == "varied" else f"crops_{SYNTH}")


def rows_dir(kind):
    if kind == "eval":
        return os.path.join(CACHE, "rows" if GRID == "base" else f"rows_{GRID}")
    return os.path.join(CACHE, "rows" if (SYNTH, GRID) == ("varied", "base") else f"rows_{SYNTH}_{GRID}")


def run_name():
    return f"{SYNTH}_{GRID}"


# --------------------------------------------------------------------------- data


def manifest() -> list[dict]:
    with open(os.path.join(DATA, "manifest.csv")) as f:
        return list(csv.DictReader(f))


def key_of(path: str) -> str:
    return f"{zlib.crc32(path.encode()):08x}_{os.path.splitext(os.path.basename(path))[0][:40]}"


# --------------------------------------------------------------------------- synthesis (no edits to synthesis/)


def varied_params(rng: np.random.Generator) -> dict:
    """One video's self-blend alteration with a mask far more varied than the default.

    The alteration (colour, sharpen/blur, resampling, noise) is synthesis.selfblend's; the mask is
    re-drawn so that no typical rim exists: scale, feather, deformation, centre shift, aspect and
    sub-regions (mouth/jaw or eyes/brow) are all wide.
    """
    from synthesis.selfblend import sample_blend_params

    p = sample_blend_params(rng)
    p["scale"] = float(rng.uniform(0.55, 1.15))
    p["feather"] = float(rng.uniform(0.005, 0.03) if rng.random() < 0.4 else rng.uniform(0.03, 0.15))
    p["harmonics"] = p["harmonics"].copy()
    p["harmonics"][:, 0] *= rng.uniform(0.5, 2.5)
    p["shift"] = rng.uniform(-0.12, 0.12, size=2)
    p["aspect"] = float(rng.uniform(0.8, 1.25))
    p["region"] = str(rng.choice(["face", "face", "face", "face", "lower", "upper"]))
    if p["region"] != "face":
        p["mask"] = "ellipse"
        p["scale"] = float(rng.uniform(0.8, 1.2))
    return p


def _blend_box(box, p):
    x0, y0, x1, y1 = [float(v) for v in box]
    w, h = x1 - x0, y1 - y0
    if p["region"] == "lower":  # mouth and jaw (re-enactment-like)
        y0, y1 = y0 + 0.45 * h, y1 + 0.05 * h
    elif p["region"] == "upper":  # eyes and brows
        y0, y1 = y0 - 0.05 * h, y0 + 0.55 * h
    cx, cy = (x0 + x1) / 2 + p["shift"][0] * w, (y0 + y1) / 2 + p["shift"][1] * h
    hw, hh = (x1 - x0) / 2 * p["aspect"] ** 0.5, (y1 - y0) / 2 / p["aspect"] ** 0.5
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh]), np.array([cx - (x0 + x1) / 2, cy - (y0 + y1) / 2])


def lowres_params(rng: np.random.Generator, face_px: float) -> dict:
    """:func:`varied_params` with a generator-like source face (named variant ``lowres``).

    Face swaps render the face at a generator's resolution (FF++ Deepfakes and UADFV's FakeApp at
    64-256 px) and scale it up, and correct its colour: here, in 75 % of fakes, the source passes
    through a 48-160 px face and back; colour offsets are halved (at least 1.5 levels on one
    channel); sharpening stays in 20 % of fakes, the rest are blurred or left alone.
    """
    p = varied_params(rng)
    if rng.random() < 0.75:
        p["resample"] = float(min(0.9, rng.uniform(48, 160) / max(face_px, 1.0)))
    p["offset"] = p["offset"] * 0.5
    j = int(np.argmax(np.abs(p["offset"])))
    p["offset"][j] = np.sign(p["offset"][j] or 1.0) * max(abs(p["offset"][j]), 1.5)
    u = rng.random()
    p["sharpen"] = float(rng.uniform(0.3, 1.0) if u < 0.2 else (-rng.uniform(0.3, 1.5) if u < 0.6 else 0.0))
    return p


def varied_blend(frames, boxes, landmarks, seed, synth="varied"):
    """Self-blend every frame with one :func:`varied_params` (or :func:`lowres_params`) draw;
    returns (frames, masks, params)."""
    from synthesis.selfblend import self_blend

    rng = np.random.default_rng(seed)
    if synth == "lowres":
        p = lowres_params(rng, float(np.median(np.max(boxes[:, 2:] - boxes[:, :2], axis=1))))
    else:
        p = varied_params(rng)
    out = np.empty_like(frames)
    masks = np.zeros(frames.shape[:3], np.float32)
    for i in range(len(frames)):
        b, d = _blend_box(boxes[i], p)
        lm = None if landmarks is None else np.asarray(landmarks[i], np.float64) + d
        out[i], masks[i] = self_blend(frames[i], b, lm, params=p, rng=rng)
    return out, masks, p


def h264(frames: np.ndarray, crf: int) -> np.ndarray:
    """Round-trip RGB frames through libx264 (PyAV) at ``crf``, yuv420p; geometry kept."""
    import av

    h, w = frames.shape[1:3]
    ph, pw = h + h % 2, w + w % 2
    x = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge") if (ph, pw) != (h, w) else frames
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = pw, ph, "yuv420p"
        s.options = {"crf": str(int(crf)), "preset": "veryfast"}
        for f in x:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    buf.seek(0)
    with av.open(buf) as c:
        out = np.stack([fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)])
    return out[:, :h, :w]


def degrade_spec(rng: np.random.Generator, face_px: float) -> dict:
    target = rng.uniform(70, 220)
    return {"factor": float(min(1.0, target / max(face_px, 1.0))),
            "codec": "h264" if rng.random() < 0.6 else "jpeg",
            "crf": int(rng.integers(26, 43)), "q": int(rng.integers(30, 86))}


def degrade(frames, boxes, landmarks, spec):
    """Shrink the frame so the face has the drawn size, then compress; returns (frames, boxes, landmarks)."""
    import cv2

    f = spec["factor"]
    h, w = frames.shape[1:3]
    if f < 0.999:
        nw, nh = max(16, round(w * f)), max(16, round(h * f))
        frames = np.stack([cv2.resize(x, (nw, nh), interpolation=cv2.INTER_AREA) for x in frames])
        sx, sy = nw / w, nh / h
        boxes = boxes * np.array([sx, sy, sx, sy], np.float32)
        landmarks = landmarks * np.array([sx, sy], np.float32)
    if spec["codec"] == "h264":
        frames = h264(frames, spec["crf"])
    else:
        from synthesis.variants import reencode_frames

        frames = reencode_frames(frames, quality=spec["q"], scale=1.0)
    return frames, boxes, landmarks


def crop_masks(masks, boxes, size=CROP):
    """Blend masks (T, H, W) cut with the crop affine of features.track.build_track."""
    import cv2

    from features.track import CROP_MARGIN, crop_geometry

    out = np.empty((len(masks), size, size), np.float32)
    for i in range(len(masks)):
        cx, cy, side = crop_geometry(boxes[i], CROP_MARGIN)
        s = size / side
        m = np.array([[s, 0, -s * (cx - side / 2)], [0, s, -s * (cy - side / 2)]], np.float64)
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        out[i] = cv2.warpAffine(masks[i], m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT)
    return out


_DET = None


def _detect(frames):
    global _DET
    from pipeline.faces import FaceDetector, link_tracks

    if _DET is None:
        _DET = FaceDetector()
    tracks = link_tracks([_DET.detect(f) for f in frames])
    if not tracks:
        return None
    tr = tracks[0]
    pos = np.array([p for p, _ in tr])
    return pos, np.stack([d.box for _, d in tr]).astype(np.float32), np.stack([d.landmarks for _, d in tr])


def _pack(frames, boxes, landmarks, masks=None):
    from features.track import build_track

    tr = build_track(frames, boxes, landmarks=landmarks)
    d = {"crops": np.clip(np.rint(tr.crops), 0, 255).astype(np.uint8), "boxes": tr.boxes,
         "scale": tr.crop_scale.astype(np.float32), "hw": np.array(frames.shape[1:3]),
         "landmarks": np.asarray(tr.landmarks, np.float32)}
    if masks is not None:
        d["mask"] = crop_masks(masks, boxes).astype(np.float16)
    return d


def crop_job(job):
    """Decode one video, detect, and write its variants' crops (and blend masks) to the cache."""
    path, kind = job
    out = os.path.join(crops_dir(kind), key_of(path) + ".npz")
    if os.path.exists(out):
        return path, "cached", 0.0
    from pipeline.video import read_video

    t0 = time.perf_counter()
    try:
        video = read_video(os.path.join(DATA, path), n_frames=N_FRAMES)
        det = _detect(video.frames)
        if det is None:
            np.savez(out, status=np.array("no_face"))
            return path, "no_face", time.perf_counter() - t0
        pos, boxes, lms = det
        frames = video.frames[pos]
        arrays = {"status": np.array("ok"), "frame_index": video.indices[pos]}
        variants = {"orig": _pack(frames, boxes, lms)}
        if kind == "train":
            vseed = zlib.crc32(path.encode())
            rng = np.random.default_rng(vseed)
            face_px = float(np.median(np.max(boxes[:, 2:] - boxes[:, :2], axis=1)))
            specs = [degrade_spec(rng, face_px) for _ in range(2)]
            params = {}
            for j in (1, 2):
                fb, mb, p = varied_blend(frames, boxes, lms, vseed + j, synth=SYNTH)
                params[f"sb{j}"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.items()}
                variants[f"sb{j}"] = _pack(fb, boxes, lms, mb)
                spec = specs[j - 1]
                fo, bo, lo = degrade(frames, boxes, lms, spec)
                variants[f"orig+d{j}"] = _pack(fo, bo, lo)
                fd, bd, ld = degrade(fb, boxes, lms, spec)
                # the blend mask follows the frame's resize
                md = np.stack([__import__("cv2").resize(m, (fd.shape[2], fd.shape[1]), interpolation=3) for m in mb])
                variants[f"sb{j}+d{j}"] = _pack(fd, bd, ld, md)
            arrays["meta"] = np.array(json.dumps({"params": params, "degrade": specs}))
        for v, d in variants.items():
            for k, a in d.items():
                arrays[f"{v}/{k}"] = a
        arrays["variants"] = np.array(list(variants))
        np.savez(out, **arrays)
        return path, "ok", time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001
        return path, f"error: {type(e).__name__}: {e}", time.perf_counter() - t0


def jobs_for(which: str) -> list[tuple[str, str]]:
    rows = manifest()
    out = []
    for r in rows:
        top = r["path"].split("/")[0]
        if which in ("all", "train") and top == "real":
            out.append((r["path"], "train"))
        if which in ("all", "eval") and top in ("labelled", "generated"):
            out.append((r["path"], "eval"))
    return out


def stage_crops(args):
    jobs = jobs_for(args.which)
    for kind in {k for _, k in jobs}:
        os.makedirs(crops_dir(kind), exist_ok=True)
    if args.limit:
        jobs = jobs[: args.limit]
    t0 = time.perf_counter()
    with open(os.path.join(CACHE, "crops.log"), "a") as log, ProcessPoolExecutor(args.workers) as ex:
        for i, (path, status, sec) in enumerate(ex.map(crop_job, jobs, chunksize=1)):
            msg = f"{i + 1}/{len(jobs)} {status} {sec:.1f}s {path}"
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
    print(f"done in {time.perf_counter() - t0:.0f}s")


# --------------------------------------------------------------------------- profiles -> segment rows


def video_arrays(z, variant, xp=np):
    """Crops, face ellipse and frame-overhang test of one cached variant."""
    from forensics.contour import ellipse_in_crop, inside_frame

    crops = xp.asarray(z[f"{variant}/crops"], dtype=xp.float32)
    boxes, scale, hw = z[f"{variant}/boxes"], z[f"{variant}/scale"], z[f"{variant}/hw"]
    ell = xp.asarray(ellipse_in_crop(boxes, scale, CROP))
    return crops, ell, inside_frame(boxes, scale, hw, CROP, xp)


def segment_rows(crops, ell, inside, grid):
    """Feature matrix of all valid face-curve profiles: X (N, F), (frame, curve, angle) indices, names."""
    from forensics.contour import measurement_maps, profile_features, sample_profiles

    maps = measurement_maps(crops, sigmas=grid.sigmas)
    smp, valid, pr = sample_profiles(maps, ell, grid, inside=inside)
    f = profile_features(smp, valid, pr, grid)
    vf = f.pop("_valid")
    names = list(f)
    idx = np.nonzero(vf)
    x = np.stack([f[k][vf] for k in names], axis=1).astype(np.float32)
    return x, np.stack(idx, axis=1).astype(np.int16), names, vf


def mean_laplacian(crops):
    """The blur baseline: mean |4-neighbour Laplacian| of the gray 256-px crop, per frame."""
    from forensics.blending import laplacian
    from forensics.color import luma

    return np.abs(laplacian(luma(crops))).mean(axis=(1, 2))


def profile_job(job):
    path, kind = job
    src = os.path.join(crops_dir(kind), key_of(path) + ".npz")
    out = os.path.join(rows_dir(kind), key_of(path) + ".npz")
    if os.path.exists(out):
        return path, "cached", 0.0
    if not os.path.exists(src):
        return path, "no crops", 0.0
    from forensics.contour import segment_target

    t0 = time.perf_counter()
    z = np.load(src)
    if str(z["status"]) != "ok":
        np.savez(out, status=z["status"])
        return path, str(z["status"]), 0.0
    arrays = {"status": np.array("ok"), "variants": z["variants"]}
    for v in z["variants"]:
        crops, ell, inside = video_arrays(z, v)
        x, idx, names, vf = segment_rows(crops, ell, inside, grid())
        arrays[f"{v}/X"], arrays[f"{v}/idx"] = x, idx
        arrays[f"{v}/lap"] = mean_laplacian(crops)
        if f"{v}/mask" in z.files:
            tgt = segment_target(z[f"{v}/mask"].astype(np.float32), ell, grid())
            arrays[f"{v}/y"] = tgt[vf].astype(np.float32)
    arrays["names"] = np.array(names)
    np.savez(out, **arrays)
    return path, "ok", time.perf_counter() - t0


def stage_profiles(args):
    jobs = jobs_for(args.which)
    for kind in {k for _, k in jobs}:
        os.makedirs(rows_dir(kind), exist_ok=True)
    if args.limit:
        jobs = jobs[: args.limit]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as ex:
        for i, (path, status, sec) in enumerate(ex.map(profile_job, jobs, chunksize=1)):
            print(f"{i + 1}/{len(jobs)} {status} {sec:.1f}s {path}", flush=True)
    print(f"done in {time.perf_counter() - t0:.0f}s")


# --------------------------------------------------------------------------- model, transfer, bars

LGB_PARAMS = {"objective": "regression", "learning_rate": 0.08, "num_leaves": 31, "min_data_in_leaf": 200,
              "feature_fraction": 0.5, "bagging_fraction": 0.7, "bagging_freq": 1, "lambda_l2": 1.0,
              "max_bin": 63, "num_threads": 2, "verbose": -1, "seed": 0, "deterministic": True}
N_ROUNDS = 200
#: rows with a target below this are "no boundary crosses here"; training keeps NEG_KEEP of them and
#: POS_KEEP of the others (about 250k rows of the 2.5M: two cores)
NEG_CUT, NEG_KEEP, POS_KEEP = 0.1, 0.08, 0.3
#: feature subsets compared (named before any transfer number was seen)
FEATURE_SETS = {
    "all": lambda n: True,
    "texture": lambda n: not any(f"_{m}_" in n for m in ("luma", "cb", "cr")),  # no colour or brightness at all
}


def aggregate(pred, idx, n_frames, n_curves, n_angles):
    """Per-video scores from segment predictions: how strongly and consistently a closed contour lights up.

    ``pred`` (N,) with ``idx`` (N, 3) = (frame, curve, angle). Named aggregations:
    ``ring_max``: per frame, the curve whose mean prediction over its valid angles is highest; mean over frames.
    ``ring_q25``: the same with the 25th percentile over angles (the whole contour, not a patch).
    ``mean``: mean over all valid segments. ``top10``: per frame the mean of its 10 % highest segments,
    mean over frames. ``ring_std``: spread over frames of the per-frame ``ring_max`` (consistency).
    """
    grid = np.full((n_frames, n_curves, n_angles), np.nan)
    grid[idx[:, 0], idx[:, 1], idx[:, 2]] = pred
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        ring = np.nanmean(grid, axis=2)  # (T, K)
        ok = np.isfinite(grid).sum(axis=2) >= n_angles // 2
        ring = np.where(ok, ring, np.nan)
        q25 = np.where(ok, np.nanquantile(grid, 0.25, axis=2), np.nan)
        rmax = np.nanmax(ring, axis=1)
        flat = grid.reshape(n_frames, -1)
        top = np.array([np.mean(np.sort(r[np.isfinite(r)])[-max(1, int(0.1 * np.isfinite(r).sum())):])
                        if np.isfinite(r).any() else np.nan for r in flat])
        return {"ring_max": np.nanmean(rmax), "ring_q25": np.nanmean(np.nanmax(q25, axis=1)),
                "mean": np.nanmean(pred), "top10": np.nanmean(top), "ring_std": np.nanstd(rmax)}


AGGREGATIONS = ("ring_max", "ring_q25", "mean", "top10")


def load_rows(paths, kind):
    out = {}
    for path in paths:
        f = os.path.join(rows_dir(kind), key_of(path) + ".npz")
        if not os.path.exists(f):
            continue
        z = np.load(f)
        if str(z["status"]) != "ok":
            continue
        out[path] = {v: {k: z[f"{v}/{k}"] for k in ("X", "idx", "lap", "y") if f"{v}/{k}" in z.files}
                     for v in z["variants"]}
        out[path]["_names"] = list(z["names"])
    return out


def _fit(x, y, names):
    import lightgbm as lgb

    ds = lgb.Dataset(x, y, feature_name=[n.replace("@", "_at_") for n in names], free_raw_data=True)
    return lgb.train(LGB_PARAMS, ds, num_boost_round=N_ROUNDS)


def _training_matrix(data, videos, cols, rng):
    xs, ys = [], []
    for p in videos:
        for v, d in data[p].items():
            if v == "_names":
                continue
            y = d["y"] if "y" in d else np.zeros(len(d["X"]), np.float32)
            keep = rng.random(len(y)) < np.where(y >= NEG_CUT, POS_KEEP, NEG_KEEP)
            xs.append(d["X"][keep][:, cols])
            ys.append(y[keep])
    return np.concatenate(xs), np.concatenate(ys)


def _video_scores(model, d, cols):
    pred = model.predict(d["X"][:, cols], num_threads=2)
    g = grid()
    n_t = int(d["idx"][:, 0].max()) + 1 if len(d["idx"]) else 1
    return aggregate(pred, d["idx"].astype(int), n_t, len(g.scales), g.n_angles), pred


def auc_ci(y, s, groups=None):
    from modeling.metrics import bootstrap_auc_ci

    y, s = np.asarray(y, float), np.asarray(s, float)
    ok = np.isfinite(s)
    r = bootstrap_auc_ci(y[ok], s[ok], n_boot=2000, seed=0, groups=None if groups is None else np.asarray(groups)[ok])
    return {"auc": r.auc, "lo": r.lo, "hi": r.hi, "n": int(ok.sum()), "n_fake": int(y[ok].sum())}


def _fmt(r):
    return f"{r['auc']:.3f} [{r['lo']:.2f}, {r['hi']:.2f}] (n={r['n']}, {r['n_fake']} fake)"


def stage_model(args):
    from modeling.metrics import roc_auc

    rows = manifest()
    by_path = {r["path"]: r for r in rows}
    train_paths = [p for p, _ in jobs_for("train")]
    data = load_rows(train_paths, "train")
    train_paths = [p for p in train_paths if p in data]
    names = data[train_paths[0]]["_names"]
    print(f"training videos with a face track: {len(train_paths)} of {len(jobs_for('train'))}")
    results = {"n_train_videos": len(train_paths), "features": names}

    # ---- the blur bar's direction, learned on the training pool (real vs self-blend, every variant)
    lab, lap = [], []
    for p in train_paths:
        for v, d in data[p].items():
            if v != "_names":
                lab.append(0 if v.startswith("orig") else 1)
                lap.append(float(np.mean(d["lap"])))
    lap_auc = roc_auc(lab, lap)
    lap_sign = 1.0 if lap_auc >= 0.5 else -1.0
    results["laplacian_train_auc"] = lap_auc
    print(f"mean-Laplacian on the training pool: AUC {lap_auc:.3f} -> fake when "
          f"{'higher' if lap_sign > 0 else 'lower'}")

    # ---- grouped CV by video
    folds = 5
    order = np.random.default_rng(0).permutation(len(train_paths))
    fold_of = {train_paths[i]: k % folds for k, i in enumerate(order)}
    cv = {}
    fold_models = {}
    for fs, keep in FEATURE_SETS.items():
        cols = np.array([i for i, n in enumerate(names) if keep(n)])
        seg_y, seg_p = [], []
        vid = []  # (path, variant, label, scores)
        fold_models[fs] = []
        t0 = time.perf_counter()
        for k in range(folds):
            tr = [p for p in train_paths if fold_of[p] != k]
            te = [p for p in train_paths if fold_of[p] == k]
            x, y = _training_matrix(data, tr, cols, np.random.default_rng(k))
            t1 = time.perf_counter()
            model = _fit(x, y, [names[c] for c in cols])
            print(f"   fold {k}: {len(y)} rows, fit {time.perf_counter() - t1:.0f}s", flush=True)
            fold_models[fs].append(model)
            for p in te:
                for v, d in data[p].items():
                    if v == "_names":
                        continue
                    sc, pred = _video_scores(model, d, cols)
                    if "y" in d:
                        seg_y.append(d["y"] >= 0.5)
                        seg_p.append(pred)
                    vid.append((p, v, 0 if v.startswith("orig") else 1, sc))
        seg_auc = roc_auc(np.concatenate(seg_y), np.concatenate(seg_p))
        res = {"segment_auc_in_fakes": seg_auc, "seconds": time.perf_counter() - t0, "video": {}}
        for agg in AGGREGATIONS + ("ring_std",):
            for sub, sel in (("all", lambda v: True), ("clean", lambda v: "+d" not in v),
                             ("degraded", lambda v: "+d" in v)):
                vv = [r for r in vid if sel(r[1])]
                res["video"][f"{agg}/{sub}"] = auc_ci([r[2] for r in vv], [r[3][agg] for r in vv],
                                                      groups=[r[0] for r in vv])
        cv[fs] = res
        cv[fs]["_oof"] = {(p, v): sc for p, v, _, sc in vid}
        print(f"[{fs}] {len(cols)} features, CV {res['seconds']:.0f}s, segment AUC (boundary crosses, within fakes) "
              f"{seg_auc:.3f}")
        for k2, r in res["video"].items():
            print(f"   video {k2:20s} {_fmt(r)}")
    # the named choice: feature set and aggregation with the best grouped-CV video AUC (all variants)
    choice = max(((fs, agg) for fs in FEATURE_SETS for agg in AGGREGATIONS),
                 key=lambda c: cv[c[0]]["video"][f"{c[1]}/all"]["auc"])
    print(f"chosen by grouped CV on the training pool: features={choice[0]}, aggregation={choice[1]}")
    results["cv"] = {fs: {k: v for k, v in r.items() if k != "_oof"} for fs, r in cv.items()}
    results["choice"] = choice

    # ---- final models on every training video, transfer
    eval_paths = [p for p, _ in jobs_for("eval")]
    edata = load_rows(eval_paths, "eval")
    final = {}
    for fs, keep in FEATURE_SETS.items():
        cols = np.array([i for i, n in enumerate(names) if keep(n)])
        x, y = _training_matrix(data, train_paths, cols, np.random.default_rng(99))
        final[fs] = (_fit(x, y, [names[c] for c in cols]), cols)
        final[fs][0].save_model(os.path.join(CACHE, f"segment_model_{run_name()}_{fs}.txt"))
    lab_rows = [r for r in rows if r["path"].startswith("labelled/") and r["path"] in edata]
    gen_rows = [r for r in rows if r["path"].startswith("generated/") and r["path"] in edata]
    same_format = [p for p in train_paths if by_path[p]["size"] in ("256x256", "512x512")]
    scores = {}
    for fs, (model, cols) in final.items():
        for r in lab_rows + gen_rows:
            scores[(fs, r["path"])] = _video_scores(model, edata[r["path"]]["orig"], cols)[0]
        for r in gen_rows:  # the same 80 % models that score the same-format reals out of fold
            per = [_video_scores(m, edata[r["path"]]["orig"], cols)[0] for m in fold_models[fs]]
            scores[(fs, "oofavg", r["path"])] = {a: float(np.mean([q[a] for q in per])) for a in per[0]}

    def lab_group(r):
        return r["original"] or r["path"]

    def subsets():
        yield "labelled (all 79)", lab_rows
        yield "FF++ c40", [r for r in lab_rows if r["dataset"] == "FF++ c40"]
        yield "UADFV", [r for r in lab_rows if r["dataset"] == "UADFV"]
        c40_real = [r for r in lab_rows if r["dataset"] == "FF++ c40" and r["label"] == "REAL"]
        for m in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"):
            yield f"FF++ c40 {m}", c40_real + [r for r in lab_rows if r["dataset"] == "FF++ c40" and r["method"] == m]

    transfer = {}
    lap_of = {r["path"]: lap_sign * float(np.mean(edata[r["path"]]["orig"]["lap"])) for r in lab_rows + gen_rows}
    for name, sub in subsets():
        y = [1 if r["label"] == "FAKE" else 0 for r in sub]
        g = [lab_group(r) for r in sub]
        t = {"laplacian": auc_ci(y, [lap_of[r["path"]] for r in sub], g)}
        for fs in FEATURE_SETS:
            for agg in AGGREGATIONS:
                t[f"{fs}/{agg}"] = auc_ci(y, [scores[(fs, r["path"])][agg] for r in sub], g)
        transfer[name] = t
    # generated/ against the same-format reals of real/ (scored out of fold)
    y = [1] * len(gen_rows) + [0] * len(same_format)
    g = [r["path"].rsplit("_SR", 1)[0].rsplit("_512", 1)[0] for r in gen_rows] + same_format
    t = {"laplacian": auc_ci(y, [lap_of[r["path"]] for r in gen_rows]
                             + [lap_sign * float(np.mean(data[p]["orig"]["lap"])) for p in same_format], g)}
    for fs in FEATURE_SETS:
        for agg in AGGREGATIONS:
            t[f"{fs}/{agg}"] = auc_ci(y, [scores[(fs, "oofavg", r["path"])][agg] for r in gen_rows]
                                      + [cv[fs]["_oof"][(p, "orig")][agg] for p in same_format], g)
    transfer["generated vs same-format reals"] = t
    results["transfer"] = transfer
    print("\ntransfer (video AUC [95 % cluster-bootstrap CI]); the chosen variant is marked *")
    for name, t in transfer.items():
        print(f"  {name}")
        for k, r in t.items():
            mark = "*" if k == f"{choice[0]}/{choice[1]}" else " "
            print(f"   {mark} {k:18s} {_fmt(r)}")

    # ---- importance of the chosen model's features (gain), by measurement and by version
    model, cols = final[choice[0]]
    gain = model.feature_importance("gain")
    gain = gain / gain.sum()
    imp = sorted(zip([names[c] for c in cols], gain), key=lambda t: -t[1])
    by_measure, by_version = {}, {}
    for n, gn in imp:
        base, _, ver = n.partition("@")
        meas = base.split("_")[1] if base.startswith(("d_", "bump_", "seam_")) else base
        by_measure[meas] = by_measure.get(meas, 0) + gn
        by_version[ver or "raw"] = by_version.get(ver or "raw", 0) + gn
    results["importance_top"] = imp[:25]
    results["importance_by_measure"] = by_measure
    results["importance_by_version"] = by_version
    print("\nimportance (gain share) by measurement:",
          {k: round(v, 3) for k, v in sorted(by_measure.items(), key=lambda t: -t[1])})
    print("by version:", {k: round(v, 3) for k, v in by_version.items()})
    print("top:", [(n, round(v, 3)) for n, v in imp[:15]])
    with open(os.path.join(CACHE, f"results_{run_name()}.json"), "w") as f:
        json.dump(results, f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))


def stage_gencheck(args):
    """``generated/`` against the same-format reals, all scored by ONE model that saw neither.

    The model stage scores those reals out of fold and the generated clips by the mean of the fold
    models (scores of a different spread); here one model is trained on the training videos that are
    not 256/512-px face-crop clips, and scores both sides alike.
    """
    rows = manifest()
    by_path = {r["path"]: r for r in rows}
    train_paths = [p for p, _ in jobs_for("train")]
    data = load_rows(train_paths, "train")
    same = [p for p in train_paths if p in data and by_path[p]["size"] in ("256x256", "512x512")]
    rest = [p for p in train_paths if p in data and p not in same]
    names = data[rest[0]]["_names"]
    gen = [r["path"] for r in rows if r["path"].startswith("generated/")]
    edata = load_rows(gen, "eval")
    gen = [p for p in gen if p in edata]
    y = [1] * len(gen) + [0] * len(same)
    g = [p.rsplit("_SR", 1)[0].rsplit("_512", 1)[0] for p in gen] + same
    out = {}
    print(f"one model on {len(rest)} training videos; {len(gen)} generated vs {len(same)} same-format reals")
    for fs, keep in FEATURE_SETS.items():
        cols = np.array([i for i, n in enumerate(names) if keep(n)])
        x, yy = _training_matrix(data, rest, cols, np.random.default_rng(7))
        model = _fit(x, yy, [names[c] for c in cols])
        sc = [_video_scores(model, edata[p]["orig"], cols)[0] for p in gen] + \
             [_video_scores(model, data[p]["orig"], cols)[0] for p in same]
        for agg in AGGREGATIONS:
            out[f"{fs}/{agg}"] = auc_ci(y, [q[agg] for q in sc], g)
            print(f"   {fs}/{agg:10s} {_fmt(out[f'{fs}/{agg}'])}", flush=True)
    with open(os.path.join(CACHE, f"gencheck_{run_name()}.json"), "w") as f:
        json.dump(out, f, indent=1)


def main(argv=None):
    global SYNTH, GRID
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    c = sub.add_parser("crops")
    c.add_argument("--which", default="all", choices=["all", "train", "eval"])
    c.add_argument("--workers", type=int, default=2)
    c.add_argument("--limit", type=int, default=0)
    p = sub.add_parser("profiles")
    p.add_argument("--which", default="all", choices=["all", "train", "eval"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, default=0)
    sub.add_parser("model")
    sub.add_parser("gencheck")
    for p_ in sub.choices.values():
        p_.add_argument("--synth", default=SYNTH, choices=["varied", "lowres"])
        p_.add_argument("--grid", default=GRID, choices=["base", "wide"])
    args = ap.parse_args(argv)
    SYNTH, GRID = args.synth, args.grid
    os.environ["EXP_SYNTH"], os.environ["EXP_GRID"] = SYNTH, GRID
    print(f"variant: synth={SYNTH} grid={GRID}", flush=True)
    {"crops": stage_crops, "profiles": stage_profiles, "model": stage_model,
     "gencheck": stage_gencheck}[args.stage](args)


if __name__ == "__main__":
    main()
