"""One thread per worker process: the orchestration runs one video per process, so libraries that start
their own thread pools (OpenCV, FFmpeg's decoder inside OpenCV, OpenBLAS/MKL, OpenMP in LightGBM and in
ONNX via OpenCV's DNN) would otherwise fight over the cores the other workers use.

Environment variables reach only pools that start after they are set (BLAS pools start when NumPy is
imported, so before any worker code runs); pools already running are capped through ``threadpoolctl``
where it is installed. Measured effect: ``bench/RESULTS.md``.
"""
from __future__ import annotations

import os

__all__ = ["THREAD_ENV", "limit_threads"]

#: environment variables that cap BLAS/OpenMP pools (read when those libraries start) and FFmpeg's decoding
#: threads inside OpenCV (read at each ``VideoCapture`` open)
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "OPENCV_FFMPEG_THREADS")


def limit_threads(n: int = 1) -> None:
    """Cap this process's thread pools at ``n``: OpenCV's and the already loaded BLAS/OpenMP pools now,
    FFmpeg decoding at the next file opened, BLAS/OpenMP pools started later through the environment."""
    import cv2

    for k in THREAD_ENV:
        os.environ[k] = str(n)
    cv2.setNumThreads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional helper: without it only pools started later are capped
        return
    threadpool_limits(n)
