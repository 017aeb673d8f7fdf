"""A CPU stand-in for CuPy that, like CuPy, refuses every implicit move to host memory.

The GPU path (CuPy arrays through the same numeric code) can only run where a GPU is lent, so a CuPy-only
bug (a device array handed to OpenCV, SciPy or PyWavelets, ``np.asarray`` on it, a host array mixed into a
device expression) would stay hidden on every CI machine, and in the product turn into a failing calculator
whose columns go missing. This module gives the CPU the same strictness:

* :class:`DeviceArray` holds a NumPy array but refuses ``__array__`` (so ``np.asarray``, ``cv2``, ``scipy``,
  ``pywt`` and NumPy's own functions that convert their input raise :class:`HostConversionError`),
  refuses ``float()``/``int()`` of anything but a 0-d array, and refuses arithmetic, ufuncs and array
  functions that mix it with a host ``numpy.ndarray`` (:class:`HostMixError`), as CuPy does; NumPy scalars
  and Python numbers mix freely. Reductions give 0-d device arrays, as in CuPy. Explicit moves are allowed:
  ``xp.asarray(host)`` (upload), ``a.get()``, ``a.item()``, ``a.tolist()`` and ``backend.to_numpy(a)``.
* :data:`xp` is its array module (NumPy's functions on unwrapped arrays, results wrapped back) and
  :data:`ndimage` the ``scipy.ndimage`` counterpart that, like ``cupyx.scipy.ndimage``, takes device arrays
  only.
* :func:`register` makes :mod:`forensics.backend` treat it as a device named ``hostcheck``:
  ``get_namespace`` returns :data:`xp` for its arrays, ``ndimage_for(xp)`` gives :data:`ndimage`,
  ``to_device(a, "hostcheck")`` and ``array_module("hostcheck")`` work, so ``extract_video(...,
  device="hostcheck")`` runs the whole pipeline in device mode.

It is robust rather than exhaustive: it does not know which NumPy functions CuPy lacks, and its numbers are
NumPy's (only the code paths that differ on a device, such as the array DWT instead of PyWavelets, change
the results, by rounding).
"""
from __future__ import annotations

import types

import numpy as np

__all__ = ["HostConversionError", "HostMixError", "DeviceArray", "xp", "ndimage", "register", "DEVICE"]

#: the device name under which :func:`register` makes this backend known
DEVICE = "hostcheck"


class HostConversionError(TypeError):
    """A device array was converted to host memory implicitly (CuPy raises TypeError here)."""


class HostMixError(TypeError):
    """A host ``numpy.ndarray`` was mixed into a device operation (CuPy raises TypeError here)."""


def _refuse_host(x, where: str):
    if isinstance(x, np.ndarray):
        raise HostMixError(f"a host numpy.ndarray {x.shape} was passed to {where} on device arrays "
                           "(CuPy raises TypeError: move it with xp.asarray first)")


def _unwrap(x, where: str, *, allow_host: bool = False):
    """Device arrays to their NumPy data, through lists, tuples and dicts; host arrays refused unless allowed."""
    if isinstance(x, DeviceArray):
        return x._a
    if isinstance(x, (list, tuple)):
        out = [_unwrap(v, where, allow_host=allow_host) for v in x]
        return type(x)(*out) if hasattr(x, "_fields") else type(x)(out)
    if isinstance(x, dict):
        return {k: _unwrap(v, where, allow_host=allow_host) for k, v in x.items()}
    if not allow_host:
        _refuse_host(x, where)
    return x


def _wrap(x):
    """NumPy results back on the 'device': arrays and NumPy scalars (CuPy reductions give 0-d arrays)."""
    if isinstance(x, np.ndarray):
        return DeviceArray(x)
    if isinstance(x, np.generic) and not isinstance(x, (np.str_, np.bytes_, np.void)):
        return DeviceArray(np.asarray(x))
    if isinstance(x, tuple):
        items = [_wrap(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


#: the metadata CuPy keeps on the host as plain Python values
_HOST_ATTRS = frozenset({"shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides", "flags"})


class DeviceArray:
    """A NumPy array posing as a device array: every implicit move to the host raises (module docstring)."""

    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, a):
        self._a = a if isinstance(a, np.ndarray) else np.asarray(a)

    # ---- explicit moves (allowed)
    def get(self):
        return self._a.copy()

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    # ---- implicit moves (refused)
    def __array__(self, dtype=None, copy=None):
        raise HostConversionError(f"implicit conversion of a device array {self._a.shape} to NumPy (np.asarray, "
                                  "cv2, scipy, pywt...): CuPy refuses it; call .get() or backend.to_numpy")

    def __float__(self):
        if self._a.ndim:
            raise HostConversionError(f"float() of a device array of shape {self._a.shape}")
        return float(self._a)

    def __int__(self):
        if self._a.ndim:
            raise HostConversionError(f"int() of a device array of shape {self._a.shape}")
        return int(self._a)

    def __complex__(self):
        if self._a.ndim:
            raise HostConversionError(f"complex() of a device array of shape {self._a.shape}")
        return complex(self._a)

    def __bool__(self):
        return bool(self._a)

    def __format__(self, spec):
        if self._a.ndim:
            raise HostConversionError(f"formatting a device array of shape {self._a.shape}")
        return format(self._a.item(), spec)

    def __repr__(self):
        return f"DeviceArray({self._a!r})"

    # ---- attributes and methods: NumPy's, on the data, results back on the device
    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__, __array_struct__, buffer access: no way to the data
            raise AttributeError(name)
        v = getattr(self._a, name)
        if name in _HOST_ATTRS:
            return v
        if callable(v):
            def method(*args, **kwargs):
                where = f"DeviceArray.{name}"
                return _wrap(v(*_unwrap(args, where), **_unwrap(kwargs, where)))
            return method
        return _wrap(v)

    @property
    def T(self):
        return DeviceArray(self._a.T)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, "indexing", allow_host=True)])  # CuPy takes NumPy index arrays

    def __setitem__(self, key, value):
        self._a[_unwrap(key, "indexing", allow_host=True)] = _unwrap(value, "assignment", allow_host=True)

    def __copy__(self):
        return DeviceArray(self._a.copy())

    def __deepcopy__(self, memo):
        return DeviceArray(self._a.copy())

    # ---- NumPy protocols: np.log(a), np.mean(a) run on the device, as with CuPy; host arrays refused
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"numpy.{ufunc.__name__}"
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs, where), **_unwrap(kwargs, where)))

    def __array_function__(self, func, types_, args, kwargs):
        where = f"numpy.{func.__name__}"
        return _wrap(func(*_unwrap(args, where), **_unwrap(kwargs, where)))


def _binary(op, reflected=False):
    def f(self, other):
        if isinstance(other, DeviceArray):
            other = other._a
        else:
            _refuse_host(other, f"the operator {op.__name__}")
        return _wrap(op(other, self._a) if reflected else op(self._a, other))
    return f


def _inplace(op):
    def f(self, other):
        if isinstance(other, DeviceArray):
            other = other._a
        else:
            _refuse_host(other, f"the operator {op.__name__}")
        op(self._a, other, out=self._a)
        return self
    return f


for _name, _op in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                   "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
                   "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
                   "lshift": np.left_shift, "rshift": np.right_shift}.items():
    setattr(DeviceArray, f"__{_name}__", _binary(_op))
    setattr(DeviceArray, f"__r{_name}__", _binary(_op, reflected=True))
    if _name != "matmul":
        setattr(DeviceArray, f"__i{_name}__", _inplace(_op))
for _name, _op in {"lt": np.less, "le": np.less_equal, "eq": np.equal, "ne": np.not_equal, "gt": np.greater,
                   "ge": np.greater_equal}.items():
    setattr(DeviceArray, f"__{_name}__", _binary(_op))
for _name, _op in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(DeviceArray, f"__{_name}__", (lambda op: lambda self: _wrap(op(self._a)))(_op))

#: functions that take host data on purpose (an upload), as ``cupy.asarray`` does
_UPLOADS = frozenset({"asarray", "array", "asanyarray"})


class _Namespace(types.ModuleType):
    """NumPy's functions on device arrays; an attribute is looked up once and cached."""

    def __init__(self, name: str, source, *, uploads=frozenset(), device_only: bool = False):
        super().__init__(name)
        self._source = source
        self._uploads = uploads
        self._device_only = device_only

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "ndarray":
            return DeviceArray
        v = getattr(self._source, name)
        if isinstance(v, types.ModuleType):
            v = _Namespace(f"{self.__name__}.{name}", v, device_only=self._device_only)
        elif callable(v) and not isinstance(v, type):
            v = self._function(name, v)
        setattr(self, name, v)
        return v

    def _function(self, name, func):
        where = f"{self.__name__}.{name}"
        allow = name in self._uploads

        def f(*args, **kwargs):
            if self._device_only and not any(isinstance(a, DeviceArray) for a in args[:1]):
                _refuse_host(args[0] if args else None, where)
            return _wrap(func(*_unwrap(args, where, allow_host=allow), **_unwrap(kwargs, where, allow_host=allow)))

        f.__name__ = name
        return f


#: the array module of the stand-in device (``cupy``'s counterpart)
xp = _Namespace("devicecheck.xp", np, uploads=_UPLOADS)


class _LazyNdimage(_Namespace):
    def __init__(self):
        super().__init__("devicecheck.ndimage", None, device_only=True)

    def __getattr__(self, name):
        if self._source is None and not name.startswith("__"):
            import scipy.ndimage

            self._source = scipy.ndimage
        return super().__getattr__(name)


#: ``scipy.ndimage`` for device arrays only (``cupyx.scipy.ndimage``'s counterpart)
ndimage = _LazyNdimage()


def register() -> str:
    """Make :mod:`forensics.backend` know this device (idempotent); returns its name, ``hostcheck``."""
    from .backend import register_device

    register_device(DEVICE, DeviceArray, xp, ndimage)
    return DEVICE
