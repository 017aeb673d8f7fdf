"""One switch between NumPy (CPU) and CuPy (GPU) for all array code.

Numeric functions in this project take arrays and work out the module from the
array itself (``xp = get_namespace(a)``), so the same source runs on both.
Only the orchestration layer decides where arrays live, through
:func:`resolve_device` and :func:`to_device`.

CuPy is an optional extra: ``import cupy`` may succeed on a machine with no
GPU and then fail at the first array operation, so the probe is
``cupy.cuda.is_available()`` plus one tiny allocation, inside a ``try``.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "cupy_usable",
    "resolve_device",
    "get_namespace",
    "array_module",
    "to_device",
    "to_numpy",
    "ndimage_for",
    "register_device",
]

#: other array backends by device name (:func:`register_device`): name -> (array type, namespace, ndimage)
_DEVICES: dict = {}
#: their array types -> namespace, for :func:`get_namespace`
_DEVICE_TYPES: dict = {}


def register_device(name: str, array_type: type, namespace, ndimage) -> None:
    """Make a device known by ``name`` besides ``cpu`` and ``cuda``: arrays of ``array_type`` (with a
    ``.get()`` to host memory) belong to ``namespace``, whose ``scipy.ndimage`` is ``ndimage``. Used by
    :mod:`forensics.devicecheck`, the CPU stand-in for CuPy that refuses implicit host conversion."""
    _DEVICES[name] = (array_type, namespace, ndimage)
    _DEVICE_TYPES[array_type] = namespace


@functools.lru_cache(maxsize=1)
def cupy_usable() -> bool:
    """True when CuPy imports *and* a CUDA device accepts an allocation."""
    try:
        import cupy  # noqa: F401

        if not cupy.cuda.is_available():
            return False
        cupy.zeros(1).sum().item()
        return True
    except Exception:  # ImportError, CUDARuntimeError, driver mismatch...
        return False


def resolve_device(device: str = "auto") -> str:
    """Map ``auto|cpu|cuda`` to ``cpu`` or ``cuda``; ``cuda`` without a GPU raises."""
    device = (device or "auto").lower()
    if device not in ("auto", "cpu", "cuda", "gpu"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu":
        return "cpu"
    if cupy_usable():
        return "cuda"
    if device in ("cuda", "gpu"):
        raise RuntimeError("--device cuda was asked for, but CuPy or a CUDA device is not usable here")
    return "cpu"


def get_namespace(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    for a in arrays:
        t = type(a)
        if t.__module__.startswith("cupy"):
            import cupy

            return cupy
        if t in _DEVICE_TYPES:
            return _DEVICE_TYPES[t]
    return np


def array_module(device: str):
    """``numpy`` for ``cpu``, ``cupy`` for ``cuda`` (the namespace of a :func:`register_device` device)."""
    if device == "cuda":
        import cupy

        return cupy
    if device in _DEVICES:
        return _DEVICES[device][1]
    return np


def to_device(a, device: str):
    """Move an array to ``cpu`` (NumPy) or ``cuda`` (CuPy)."""
    if device == "cuda":
        import cupy

        return cupy.asarray(a)
    if device in _DEVICES:
        return _DEVICES[device][1].asarray(to_numpy(a))
    return to_numpy(a)


def to_numpy(a):
    """Return a NumPy array whatever the input's backend (scalars pass through NumPy)."""
    if type(a).__module__.startswith("cupy") or type(a) in _DEVICE_TYPES:
        return a.get()
    return np.asarray(a)


def ndimage_for(xp):
    """``scipy.ndimage`` or ``cupyx.scipy.ndimage`` to match ``xp``."""
    if xp is np:
        import scipy.ndimage

        return scipy.ndimage
    for _, namespace, ndimage in _DEVICES.values():
        if xp is namespace:
            return ndimage
    import cupyx.scipy.ndimage

    return cupyx.scipy.ndimage
