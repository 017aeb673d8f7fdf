"""One thread per worker process: the orchestration runs one video per process, so libraries that start
their own thread pools (OpenCV, OpenBLAS/MKL, OpenMP in LightGBM and in ONNX via OpenCV's DNN) would
otherwise fight over the cores the other workers use."""
from __future__ import annotations

import os

__all__ = ["THREAD_ENV", "limit_threads"]

#: environment variables that cap BLAS/OpenMP pools (read when those libraries start)
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")


def limit_threads(n: int = 1) -> None:
    """Cap this process's thread pools at ``n``: OpenCV's now, BLAS/OpenMP for pools started later."""
    import cv2

    for k in THREAD_ENV:
        os.environ[k] = str(n)
    cv2.setNumThreads(n)
