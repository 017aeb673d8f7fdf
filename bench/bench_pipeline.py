#!/usr/bin/env python
"""Seconds per video: per stage inside ``extract_video``, and end to end around the real ``predict.py``.

    python bench/bench_pipeline.py stages [VIDEO...] [--repeat 3] [--device cpu|cuda] [--features all]
    python bench/bench_pipeline.py e2e VIDEO... [--workers 1 2] [--repeat 1]
    python bench/bench_pipeline.py devices VIDEO [--repeat 3]   # stages on cpu and cuda side by side
    python bench/bench_pipeline.py clips [DIR]          # make the 10-s 1080p30 H.264 clips (bench/clips.py)
    python bench/bench_pipeline.py decode VIDEO... [--repeat 5]   # read_video: OpenCV pass vs PyAV pass

``stages`` times the product's own path (``pipeline.extract.extract_video``: decode, detection with the
dense-window detections, crops of every track, each family, then the shipped model), medians over
``--repeat`` runs after one warm-up, with the process CPU time beside the wall time: on a shared machine
the CPU seconds say what the work costs, the wall seconds what the load made of it. ``e2e`` runs
``python predict.py VIDEO... -o out.csv --workers N`` as a new user would (cold process, shipped model) and
times the whole process by wall clock, with the peak memory (RSS) of the process tree and its CPU seconds
(each process's last CPU time seen while polling every 50 ms: the fork server's workers are not this
process's children, so ``getrusage`` misses them; the last 50 ms of each process are missed). Every figure is
printed with the load average around it. ``--code DIR`` runs another checkout of the project (for the
"before" column of a before/after table: ``git archive COMMIT | tar -x -C DIR``).

With no VIDEO, ``stages`` makes the clips of :mod:`bench.clips` in ``.cache/bench_clips``.
On CUDA a family's time includes its device synchronisation only where its code syncs (every
calculator returns host values, so each family ends synchronised).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("DFF_CODE") or os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


# --------------------------------------------------------------------------- stages (in process)


def stage_runs(path: str, *, frames: int, dense: int, repeat: int, device: str, features: str,
               clock: str = "wall", model_dir: str | None = None, stride: int | None = None) -> dict:
    """Median seconds per stage (``clock``: wall, or this process's CPU time), the median process CPU
    seconds of the whole extraction and the tracks found, for one video, with the model in ``model_dir``
    (the shipped one by default), sampled with ``stride`` (the model card's by default)."""
    from features.registry import select
    from forensics.backend import resolve_device
    from modeling.detector import DetectorModel
    from pipeline.extract import extract_video

    if clock == "cpu":  # the stages' own timers read this process's CPU time instead of the wall clock
        import importlib
        import types

        shim = types.SimpleNamespace(perf_counter=time.process_time)
        for mod in ("pipeline.extract", "features.aggregate"):
            importlib.import_module(mod).time = shim
    device = resolve_device(device)
    calcs = select(features)
    model = DetectorModel.load(model_dir)
    stride = model.card.get("stride", 0) if stride is None else stride
    from cli.common import calculators_by_key

    if features == "all":
        calcs = calculators_by_key(model.card["calculators"])

    def once():
        c0, t0 = time.process_time(), time.perf_counter()
        r = extract_video(path, calculators=calcs, n_frames=frames, dense=dense, stride=stride, device=device)[0]
        if r.status not in ("ok", "partial"):
            raise SystemExit(f"{path}: {r.status}: {r.message}")
        t = dict(r.timings)
        t1 = time.perf_counter() if clock == "wall" else time.process_time()
        for tr in r.tracks:
            model.score_track(tr.values, tr.features)
        t["model"] = (time.perf_counter() if clock == "wall" else time.process_time()) - t1
        t["total"] = time.perf_counter() - t0
        t["cpu"] = time.process_time() - c0
        t["tracks"] = len(r.tracks)
        return t

    once()  # warm-up: imports, ONNX nets, FFT plans
    l0 = load()
    runs = [once() for _ in range(repeat)]
    keys = list(dict.fromkeys(k for r in runs for k in r))
    med = {k: float(np.median([r.get(k, 0.0) for r in runs])) for k in keys}
    med["load"] = f"{l0} .. {load()}"
    return med


def run_stages(args) -> None:
    videos = args.video or _default_clips()
    out = {}
    for v in videos:
        if args.code:
            env = dict(os.environ, DFF_CODE=args.code,
                       PYTHONPATH=os.pathsep.join(filter(None, [args.code, os.environ.get("PYTHONPATH")])))
            cmd = [sys.executable, os.path.abspath(__file__), "stages", v, "--json", "--repeat", str(args.repeat),
                   "--frames", str(args.frames), "--dense", str(args.dense), "--device", args.device,
                   "--features", args.features, "--clock", args.clock]
            cmd += (["--model", args.model] if args.model else []) + (
                ["--stride", str(args.stride)] if args.stride is not None else [])
            res = subprocess.run(cmd, cwd=args.code, env=env, capture_output=True, text=True)
            if res.returncode:
                raise SystemExit(res.stderr)
            out[v] = json.loads(res.stdout.strip().splitlines()[-1])
        else:
            out[v] = stage_runs(v, frames=args.frames, dense=args.dense, repeat=args.repeat, device=args.device,
                                features=args.features, clock=args.clock, model_dir=args.model, stride=args.stride)
    if args.json:
        print(json.dumps(out[videos[0]] if len(videos) == 1 else out))
        return
    stride = "the card's" if args.stride is None else args.stride
    print(f"machine: {machine()}; device {args.device}; frames {args.frames}, dense {args.dense}, stride {stride}; "
          f"model {args.model or 'shipped'}; median of {args.repeat}; stages in {args.clock} seconds; "
          f"code {args.code or ROOT}")
    names = [os.path.basename(v) for v in videos]
    print("| stage | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    keys = list(dict.fromkeys(k for r in out.values() for k in r if k not in ("load",)))
    for k in keys:
        cells = []
        for v in videos:
            x = out[v].get(k)
            cells.append("" if x is None else (f"{x:.0f}" if k == "tracks" else f"{x:.3f}"))
        label = {"total": "**total wall**", "cpu": "**process CPU s**"}.get(k, k)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("| load (1/5/15 min) before .. after | " + " | ".join(out[v]["load"] for v in videos) + " |")


# --------------------------------------------------------------------------- end to end (predict.py)


def _tree_rss(proc) -> tuple[int, int]:
    import psutil

    total, biggest = 0, 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            r = p.memory_info().rss
        except psutil.Error:
            continue
        total += r
        biggest = max(biggest, r)
    return total, biggest


#: environment that pins every thread pool of a process to one thread (what pipeline.threads.limit_threads
#: sets), for simulating pinned workers around an unchanged predict.py
PINNED_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "OPENCV_FOR_THREADS_NUM", "OPENCV_FFMPEG_THREADS")}


def predict_wall(videos, workers: int, *, code: str, env_extra: dict | None = None, device: str = "cpu",
                 runner: str = "predict", model: str | None = None) -> dict:
    """Wall seconds of one ``predict.py`` process over ``videos``, peak RSS of its process tree, statuses.

    ``runner``: ``predict`` (the product), ``pinned`` (the product with every thread pool pinned to one
    thread through the environment) or ``sim`` (``bench/predict_batch_sim.py``: forked, pinned workers)."""
    import psutil

    out_csv = tempfile.mktemp(suffix=".csv")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [code, os.environ.get("PYTHONPATH")])),
               **(env_extra or {}))
    env.pop("DFF_CODE", None)
    if runner == "pinned":
        env.update(PINNED_ENV)
    script = os.path.join(HERE, "predict_batch_sim.py") if runner == "sim" else os.path.join(code, "predict.py")
    cmd = [sys.executable, script, *videos, "-o", out_csv, "--workers", str(workers), "--device", device]
    cmd += ["--model", model] if model else []
    import resource

    l0 = load()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(p.pid)
    peak_total = peak_one = 0
    seen: dict = {}  # pid -> last CPU seconds seen: the fork server's workers are never reaped by this process
    while p.poll() is None:
        tot, one = _tree_rss(ps)
        peak_total, peak_one = max(peak_total, tot), max(peak_one, one)
        try:
            tree = [ps] + ps.children(recursive=True)
        except psutil.Error:
            tree = []
        for q in tree:
            try:
                ct = q.cpu_times()
                seen[(q.pid, q.create_time())] = ct.user + ct.system
            except psutil.Error:
                pass
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped children (predict.py, not its fork server's)
    cpu = max((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), sum(seen.values()))
    err = p.stderr.read()
    if p.returncode:
        raise SystemExit(err)
    import csv

    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    os.remove(out_csv)
    return {"wall": wall, "per_video": wall / len(videos), "cpu_per_video": cpu / len(videos),
            "peak_rss_mb": peak_total / 2**20,
            "peak_worker_mb": peak_one / 2**20, "statuses": sorted({r["status"] for r in rows}),
            "labels": {os.path.basename(r["path"]): r["label"] for r in rows}, "load": f"{l0} .. {load()}"}


def run_e2e(args) -> None:
    code = args.code or ROOT
    print(f"machine: {machine()}; predict.py --device {args.device} from {code}; {len(args.video)} videos; "
          f"median of {args.repeat}; runners {', '.join(args.runner)}")
    print("| runner | workers | wall s (whole process) | s per video | CPU s per video (process tree) "
          "| peak RSS, process tree (MB) | largest process (MB) | statuses | load before .. after |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for runner in args.runner:
        per = {}
        for w in args.workers:
            runs = [predict_wall(args.video, w, code=code, device=args.device, runner=runner, model=args.model)
                    for _ in range(args.repeat)]
            r = sorted(runs, key=lambda x: x["wall"])[len(runs) // 2]
            per[w] = r["per_video"]
            print(f"| {runner} | {w} | {r['wall']:.2f} | {r['per_video']:.2f} | {r['cpu_per_video']:.2f} "
                  f"| {r['peak_rss_mb']:.0f} | {r['peak_worker_mb']:.0f} | {','.join(r['statuses'])} | {r['load']} |",
                  flush=True)
        if 1 in per and 2 in per:
            print(f"| {runner} | 2 vs 1 | throughput **{per[1] / per[2]:.2f}x** | | | | | | |", flush=True)


def run_devices(args) -> None:
    """Stages of one video on the CPU and on CUDA, and the speed-up of the features (all families)."""
    v = (args.video or _default_clips())[0]
    res = {d: stage_runs(v, frames=args.frames, dense=args.dense, repeat=args.repeat, device=d,
                         features=args.features) for d in ("cpu", "cuda")}
    print(f"machine: {machine()}; video {os.path.basename(v)}; frames {args.frames}, dense {args.dense}; "
          f"median of {args.repeat}, wall seconds")
    print("| stage | cpu (NumPy) | cuda (CuPy) | speed-up |\n|---|---|---|---|")
    keys = list(dict.fromkeys(k for r in res.values() for k in r if k not in ("load", "tracks")))
    for k in keys:
        a, b = res["cpu"].get(k, 0.0), res["cuda"].get(k, 0.0)
        print(f"| {k} | {a:.3f} | {b:.3f} | {a / b if b > 0 else float('nan'):.1f}x |")
    fa = sum(x for k, x in res["cpu"].items() if k.startswith("features:"))
    fb = sum(x for k, x in res["cuda"].items() if k.startswith("features:"))
    print(f"| **features, all families** | {fa:.3f} | {fb:.3f} | **{fa / max(fb, 1e-9):.1f}x** |")
    print(f"| load before .. after | {res['cpu']['load']} | {res['cuda']['load']} | |")


def run_decode(args) -> None:
    """CPU seconds of ``read_video`` per video, the OpenCV pass and the PyAV pass (which skips non-reference
    frames that are not kept) interleaved run by run, so that load changes hit both alike; and whether their
    outputs are identical."""
    import pipeline.video as pv

    videos = args.video or _default_clips()
    print(f"machine: {machine()}; frames {args.frames}, dense {args.dense}; median of {args.repeat} "
          "interleaved runs; process CPU seconds (wall in brackets)")
    print("| video | OpenCV pass | PyAV pass | PyAV / OpenCV | frames decoded by PyAV | identical | load before .. after |"
          "\n|---|---|---|---|---|---|---|")
    real = pv._decode_pyav
    for v in videos:
        times = {False: [], True: []}
        outs, n_out = {}, []

        def spy(*a, **k):
            r = real(*a, **k)
            n_out.append(r[0].n_out if r is not None else None)
            return r

        pv._decode_pyav = spy
        l0 = load()
        for rep in range(args.repeat + 1):
            for fast in (False, True):
                pv._PYAV_DECODE = fast
                c, t = time.process_time(), time.perf_counter()
                out = pv.read_video(v, n_frames=args.frames, dense=args.dense, stride=args.stride or 0)
                if rep:  # the first round warms the caches
                    times[fast].append((time.process_time() - c, time.perf_counter() - t))
                outs[fast] = out
        pv._decode_pyav = real
        a, b = outs[False], outs[True]
        same = (np.array_equal(a.frames, b.frames) and np.array_equal(a.indices, b.indices)
                and (a.dense_frames is None) == (b.dense_frames is None)
                and (a.dense_frames is None or np.array_equal(a.dense_frames, b.dense_frames))
                and a.info == b.info and a.warnings == b.warnings)
        med = {k: (float(np.median([x[0] for x in r])), float(np.median([x[1] for x in r]))) for k, r in times.items()}
        print(f"| {os.path.basename(v)} | {med[False][0]:.3f} ({med[False][1]:.3f}) | {med[True][0]:.3f} "
              f"({med[True][1]:.3f}) | {med[True][0] / med[False][0]:.2f} | {n_out[-1]} of {a.n_total} | {same} "
              f"| {l0} .. {load()} |", flush=True)
    pv._PYAV_DECODE = True


def _default_clips() -> list[str]:
    out = os.path.join(os.path.dirname(HERE), ".cache", "bench_clips")
    res = subprocess.run([sys.executable, os.path.join(HERE, "clips.py"), out], capture_output=True, text=True,
                         check=True)
    return [ln for ln in res.stdout.split() if ln.endswith(".mp4")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["stages", "e2e", "devices", "clips", "decode"])
    ap.add_argument("video", nargs="*")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--dense", type=int, default=64)
    ap.add_argument("--stride", type=int, default=None,
                    help="sampling stride (pipeline.video.sampling_plan); default: the model card's (decode: 0)")
    ap.add_argument("--model", default=None, help="stages and e2e: this model folder instead of the shipped one")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--features", default="all", help="'all' is the shipped model's set")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="stage timers: wall clock, or this process's CPU time (steadier on a loaded machine)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--code", default=None, help="run another checkout of the project")
    ap.add_argument("--runner", nargs="+", default=["predict"], choices=["predict", "pinned", "sim"],
                    help="e2e: the product (predict), with pinned thread pools (pinned), or with the recommended "
                         "batch layer (sim: bench/predict_batch_sim.py)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.mode == "clips":
        out = args.video[0] if args.video else os.path.join(os.path.dirname(HERE), ".cache", "bench_clips")
        subprocess.run([sys.executable, os.path.join(HERE, "clips.py"), out], check=True)
    elif args.mode == "stages":
        run_stages(args)
    elif args.mode == "devices":
        run_devices(args)
    elif args.mode == "decode":
        run_decode(args)
    else:
        if not args.video:
            args.video = [v for v in _default_clips() if os.path.basename(v).startswith("actor_")]
        run_e2e(args)


if __name__ == "__main__":
    main()
