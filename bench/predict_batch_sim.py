#!/usr/bin/env python
"""``predict.py`` with the batch layer that ``bench/RESULTS.md`` recommends: a simulation, for measuring.

    python bench/predict_batch_sim.py PATH... -o out.csv --workers N     # the arguments of predict.py

The product's ``cli.predict.main`` runs unchanged; only the ``parallel_map`` it imported from
``pipeline.batch`` is replaced, by worker processes that

* are forked from the parent after it has imported everything and loaded the model and the face detector,
  so that no worker pays those again (importing LightGBM alone costs about 1 s of CPU where scikit-learn
  is installed, as on these machines, because LightGBM imports it), and
* each pin themselves to one thread (:func:`pipeline.threads.limit_threads`), so that two workers do not
  fight over two cores with OpenCV's, FFmpeg's and OpenBLAS's own thread pools.

Results come back as each video finishes, as with the product's joblib generator. This file changes nothing
in the product: ``pipeline/batch.py`` belongs to the orchestration; the report says what it should adopt.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parallel_map(func, items, workers: int):
    """``func(item)`` for each item, unordered, in forked workers pinned to one thread each."""
    from pipeline.threads import limit_threads

    if workers <= 1 or len(items) <= 1:
        yield from map(func, items)
        return
    with mp.get_context("fork").Pool(workers, initializer=limit_threads, initargs=(1,)) as pool:
        yield from pool.imap_unordered(func, items)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    import cli.predict as predict
    from pipeline.extract import face_detector

    model = argv[argv.index("--model") + 1] if "--model" in argv else None
    predict._model(model)  # loaded (LightGBM imported) once, before the workers are forked
    face_detector()
    predict.parallel_map = parallel_map
    return predict.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
