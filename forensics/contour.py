"""Profiles across the face contour: does one side of a closed curve differ from the other?

A blended face (Face X-ray, Li et al. CVPR 2020; self-blended images, Shiohara &
Yamasaki CVPR 2022) is a weighted sum ``M * A + (1 - M) * B`` of two sources
whose noise level, sharpness and colour differ; wherever the blend mask ``M``
rises from 0 to 1 those statistics step. LAA-Net (Nguyen et al. CVPR 2024)
locates such steps with a heat map of the blending boundary. This module makes
the same measurements by hand, and only *relative* ones: on families of closed
curves around the face (scaled copies of the face ellipse, in crop pixels) it
samples local measurement maps along the outward normal at several signed
distances, and reports inside-minus-outside differences (log ratios for noise,
Laplacian and gradient; level differences for luma and chroma), the bump of
each measurement on the curve itself, and how well the luma gradient lines up
with the normal there. No absolute level, colour or position enters a feature.
Each difference can also be expressed in units of the same difference measured
on *control* curves far outside the face (background, hair, shoulders), which
tells how much inside/outside contrast the frame shows anyway.

Everything is batched over frames and runs on NumPy or CuPy arrays alike
(``xp = get_namespace(images)``); local filters come from
:func:`forensics.backend.ndimage_for`, sampling is vectorised bilinear
interpolation by gathering, and nothing returns to the host.

Geometry
--------
An ellipse ``(cy, cx, ay, ax)`` per frame (crop pixels) is the unit contour.
Curve ``k`` is that ellipse scaled by ``scales[k]``; its point at parametric
angle ``phi`` is ``(cx + s ax cos phi, cy + s ay sin phi)`` with outward normal
proportional to ``(cos phi / ax, sin phi / ay)``. Offsets along the normal are
in units of the face radius ``r = sqrt(ax * ay)``; negative is inside.

References
----------
L. Li, J. Bao, T. Zhang, H. Yang, D. Chen, F. Wen, B. Guo, "Face X-ray for More
General Face Forgery Detection", CVPR 2020.
K. Shiohara, T. Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022.
D. Nguyen, N. Mejri, I. P. Singh, P. Kuleshova, M. Astrid, A. Kacem, E. Ghorbel,
D. Aouada, "LAA-Net: Localized Artifact Attention Network for Quality-Agnostic
and Generalizable Deepfake Detection", CVPR 2024.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .backend import get_namespace, ndimage_for
from .blending import laplacian, rgb_to_ycrcb

__all__ = [
    "MEASURES",
    "LOG_MEASURES",
    "ContourGrid",
    "DEFAULT_GRID",
    "Profiles",
    "ellipse_in_crop",
    "inside_frame",
    "measurement_maps",
    "profile_coords",
    "sample_bilinear",
    "sample_profiles",
    "profile_features",
    "segment_target",
]

#: local measurements, in map order; the first three are logarithms of positive levels
MEASURES = ("noise", "laplacian", "gradient", "luma", "cb", "cr")
LOG_MEASURES = ("noise", "laplacian", "gradient")
#: levels below this (8-bit units) are flat, not evidence: logs are floored here
FLOOR = 0.25


class ContourGrid(NamedTuple):
    """Where profiles are taken.

    Attributes
    ----------
    scales : tuple of float
        Candidate contours, multiples of the face ellipse.
    control_scales : tuple of float
        Control curves well outside the face, for normalisation.
    n_angles : int
        Profiles per curve (equal steps of the parametric angle, from -pi; a multiple of 4 keeps
        flips and transposes exact).
    offsets : tuple of float
        Positive distances along the normal, fractions of the face radius; each is sampled on
        both sides, so a profile has ``2 * len(offsets) + 1`` points.
    sigmas : tuple of float
        Gaussian window radii (pixels) of the local measurements.
    """

    scales: tuple = (0.55, 0.65, 0.75, 0.85, 0.95, 1.05, 1.15)
    control_scales: tuple = (1.4, 1.6)
    n_angles: int = 32
    offsets: tuple = (0.025, 0.06, 0.12)
    sigmas: tuple = (1.5, 3.0)

    @property
    def all_scales(self) -> tuple:
        return tuple(self.scales) + tuple(self.control_scales)

    @property
    def signed_offsets(self) -> np.ndarray:
        o = np.asarray(self.offsets, np.float64)
        return np.concatenate([-o[::-1], [0.0], o])


DEFAULT_GRID = ContourGrid()


def _float_dtype(a):
    return np.float64 if a.dtype == np.float64 else np.float32


def ellipse_in_crop(boxes, crop_scale, size: int) -> np.ndarray:
    """The track's face ellipse in crop pixels, host float64 (T, 4) ``(cy, cx, ay, ax)``.

    The same ellipse as :func:`features.track.ellipse_radius2` (centre 5 % of the box height
    below the box centre, semi-axes half the box width and 0.6 of its height), mapped by the
    crop affine of :func:`features.track.build_track` (box centre at the crop centre, scale
    ``crop_scale``).
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(crop_scale, np.float64).reshape(-1)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    c = size / 2.0
    return np.stack([c + 0.05 * h * s, np.full_like(s, c), np.maximum(0.6 * h * s, 1.0),
                     np.maximum(0.5 * w * s, 1.0)], axis=1)


def inside_frame(boxes, crop_scale, frame_hw, size: int, xp=np):
    """A test ``inside(y, x)`` of crop points against the frame the crop was cut from.

    A crop that overhangs the frame shows replicated border pixels there (flat: no noise, no
    texture), which must not count as the outside of a face. Crop pixel ``(y, x)`` shows frame
    pixel ``origin + (y, x) / crop_scale`` (the affine of :func:`features.track.build_track`).

    Parameters
    ----------
    boxes : (T, 4) face boxes in frame pixels; crop_scale : (T,); frame_hw : (height, width)
    size : crop side; xp : the module of the points that will be tested

    Returns
    -------
    callable ``inside(y, x) -> bool array`` for points of shape (T, ...)
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(crop_scale, np.float64).reshape(-1)
    side = size / s
    oy = (b[:, 1] + b[:, 3]) / 2 - side / 2
    ox = (b[:, 0] + b[:, 2]) / 2 - side / 2
    arr = xp.asarray(np.stack([oy, ox, s], axis=1))
    h, w = float(frame_hw[0]), float(frame_hw[1])

    def inside(y, x):
        shape = (-1,) + (1,) * (y.ndim - 1)
        fy = arr[:, 0].reshape(shape) + y / arr[:, 2].reshape(shape)
        fx = arr[:, 1].reshape(shape) + x / arr[:, 2].reshape(shape)
        return (fy >= -0.5) & (fy <= h - 0.5) & (fx >= -0.5) & (fx <= w - 0.5)

    return inside


def measurement_maps(rgb, *, sigmas=DEFAULT_GRID.sigmas):
    """Local measurement maps of RGB crops, (T, C, H, W) with ``C = len(MEASURES) * len(sigmas) + 2``.

    For each window radius ``sigma`` (Gaussian weights), in :data:`MEASURES` order:
    log noise level (half the log of the local mean square of the residual from a 3x3 median
    filter of luma), log local mean |Laplacian|, log local mean gradient magnitude, local mean
    luma, Cb and Cr (full-range BT.601). The last two maps are the luma gradient ``(d/dy,
    d/dx)`` after a Gaussian of 1 px, for the seam's normal gradient.

    Parameters
    ----------
    rgb : array (T, H, W, 3), RGB in [0, 255], float or uint8
    sigmas : sequence of float

    Returns
    -------
    array (T, C, H, W), float32 (float64 for float64 input)
    """
    xp = get_namespace(rgb)
    nd = ndimage_for(xp)
    dt = np.float64 if rgb.dtype == np.float64 else np.float32
    ycc = rgb_to_ycrcb(xp.asarray(rgb, dtype=dt))
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    med = nd.median_filter(y, size=(1, 3, 3), mode="nearest")
    r2 = (y - med) ** 2
    lap = xp.abs(laplacian(y))
    gy, gx = xp.gradient(y, axis=(1, 2))
    gm = xp.sqrt(gy * gy + gx * gx)
    out = []
    for s in sigmas:
        def g(a, s=s):
            return nd.gaussian_filter(a, sigma=(0, s, s), mode="nearest", truncate=3.0)

        out += [0.5 * xp.log(g(r2) + FLOOR**2), xp.log(g(lap) + FLOOR), xp.log(g(gm) + FLOOR), g(y), g(cb), g(cr)]
    ys = nd.gaussian_filter(y, sigma=(0, 1.0, 1.0), mode="nearest", truncate=3.0)
    sy, sx = xp.gradient(ys, axis=(1, 2))
    out += [sy, sx]
    return xp.stack(out, axis=1).astype(dt, copy=False)


class Profiles(NamedTuple):
    """Sample positions of every profile, crop pixels.

    Attributes
    ----------
    y, x : (T, K, A, P) sample points (curve, angle, signed offset)
    ny, nx : (T, K, A) outward unit normal at each curve point
    """

    y: object
    x: object
    ny: object
    nx: object


def profile_coords(ellipse, scales, n_angles: int, offsets) -> Profiles:
    """Profile sample points on scaled face ellipses.

    Parameters
    ----------
    ellipse : array (T, 4), ``(cy, cx, ay, ax)`` per frame (its module decides the backend)
    scales : sequence of K curve scales
    n_angles : int
    offsets : sequence of P signed offsets, fractions of the face radius ``sqrt(ay * ax)``

    Returns
    -------
    Profiles
    """
    xp = get_namespace(ellipse)
    e = xp.asarray(ellipse, dtype=np.float64)
    cy, cx, ay, ax = (e[:, i][:, None, None] for i in range(4))  # (T, 1, 1)
    s = xp.asarray(np.asarray(scales, np.float64))[None, :, None]
    phi = xp.asarray(-np.pi + 2 * np.pi * np.arange(n_angles) / n_angles)[None, None, :]
    c, sn = xp.cos(phi), xp.sin(phi)
    py, px = cy + s * ay * sn, cx + s * ax * c  # (T, K, A)
    ny, nx = sn / ay, c / ax
    norm = xp.sqrt(ny * ny + nx * nx)
    ny, nx = ny / norm, nx / norm
    ny, nx = xp.broadcast_to(ny, py.shape), xp.broadcast_to(nx, px.shape)
    r = xp.sqrt(ay * ax)[..., None]  # (T, 1, 1, 1)
    d = xp.asarray(np.asarray(offsets, np.float64))[None, None, None, :] * r
    return Profiles(py[..., None] + ny[..., None] * d, px[..., None] + nx[..., None] * d, ny, nx)


def sample_bilinear(maps, y, x):
    """Bilinear samples of per-frame maps at per-frame points (edges clamped).

    Parameters
    ----------
    maps : array (T, C, H, W)
    y, x : arrays (T, ...) of row and column coordinates (pixel centres at integers)

    Returns
    -------
    array (T, C, ...) in the dtype of ``maps``
    """
    xp = get_namespace(maps, y, x)
    t, c, h, w = maps.shape
    shape = y.shape[1:]
    yf = xp.clip(xp.asarray(y, dtype=np.float64).reshape(t, -1), 0, h - 1)
    xf = xp.clip(xp.asarray(x, dtype=np.float64).reshape(t, -1), 0, w - 1)
    y0 = xp.clip(xp.floor(yf).astype(np.int64), 0, max(h - 2, 0))
    x0 = xp.clip(xp.floor(xf).astype(np.int64), 0, max(w - 2, 0))
    wy = (yf - y0).astype(maps.dtype)[:, None]
    wx = (xf - x0).astype(maps.dtype)[:, None]
    flat = maps.reshape(t, c, h * w)
    y1, x1 = xp.minimum(y0 + 1, h - 1), xp.minimum(x0 + 1, w - 1)

    def at(yy, xx):
        return xp.take_along_axis(flat, (yy * w + xx)[:, None, :], axis=2)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bot = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return (top * (1 - wy) + bot * wy).reshape((t, c) + shape)


def sample_profiles(maps, ellipse, grid: ContourGrid = DEFAULT_GRID, *, inside=None):
    """Measurement profiles on the grid's curves (face curves then control curves).

    Parameters
    ----------
    maps : array (T, C, H, W), from :func:`measurement_maps`
    ellipse : array (T, 4) ``(cy, cx, ay, ax)`` on the backend of ``maps``
    grid : ContourGrid
    inside : callable or None
        ``inside(y, x) -> bool array`` saying which crop points show real frame pixels (not
        the replicated border of a crop that overhangs the frame); None: all of the crop.

    Returns
    -------
    samples : (T, C, K, A, P) with ``K = len(grid.all_scales)``, ``P = 2 * len(offsets) + 1``
    valid : bool (T, K, A), every point of the profile inside the crop (and the frame)
    profiles : :class:`Profiles`
    """
    xp = get_namespace(maps, ellipse)
    h, w = maps.shape[-2:]
    pr = profile_coords(ellipse, grid.all_scales, grid.n_angles, grid.signed_offsets)
    ok = (pr.y >= 0) & (pr.y <= h - 1) & (pr.x >= 0) & (pr.x <= w - 1)
    if inside is not None:
        ok = ok & inside(pr.y, pr.x)
    return sample_bilinear(maps, pr.y, pr.x), xp.all(ok, axis=-1), pr


def _circular_smooth(a, half: int):
    xp = get_namespace(a)
    if half <= 0:
        return a
    return sum(xp.roll(a, k, axis=-1) for k in range(-half, half + 1)) / (2 * half + 1)


def profile_features(samples, valid, profiles: Profiles, grid: ContourGrid = DEFAULT_GRID, *,
                     smooth: int = 2) -> dict:
    """Relative features of every profile.

    For each measurement ``m`` of :data:`MEASURES` and window ``sigma`` (name suffix ``_s0``,
    ``_s1``...):

    * ``d_<m>_<sigma>_<j>``: inside minus outside, ``m(-o_j) - m(+o_j)`` for each offset ``o_j``
      (a log ratio for noise, Laplacian and gradient; a level difference for luma and chroma);
    * ``bump_<m>_<sigma>_<j>``: the curve point against the points at offsets ``o_j`` (``j >= 1``) on
      either side, ``m(0) - (m(-o_j) + m(+o_j)) / 2`` (a blend's feather mixes two noises: the noise
      dips there);

    and for the seam itself: ``seam_align``, the share of the luma gradient energy along the
    normal on the curve minus 0.5 (``cos^2 - 1/2``: 0 for isotropic texture and where there is no
    gradient at all), and ``seam_peak``, the log of the
    normal gradient on the curve over its mean at the middle offsets on both sides.

    Each of these also comes as ``<name>@ctl``: divided by the median absolute value of the
    same feature on the frame's valid control-curve profiles (all valid profiles when fewer
    than 8 control profiles are valid), and as ``<name>@arc``: averaged over ``2 * smooth + 1``
    neighbouring angles of the same curve (a seam is a continuous curve).

    Parameters
    ----------
    samples, valid, profiles : from :func:`sample_profiles`
    grid : the ContourGrid they were taken on
    smooth : half-width (angles) of the ``@arc`` average

    Returns
    -------
    dict name -> array (T, K, A) over the face curves only (``len(grid.scales)``); invalid
    profiles are NaN. Key ``"_valid"`` holds the bool validity (T, K, A).
    """
    xp = get_namespace(samples)
    nk = len(grid.scales)
    n_off = len(grid.offsets)
    mid = n_off  # index of offset 0
    nm = len(MEASURES)
    raw = {}
    for si in range(len(grid.sigmas)):
        for mi, m in enumerate(MEASURES):
            p = samples[:, si * nm + mi]  # (T, K, A, P)
            for j in range(n_off):
                raw[f"d_{m}_s{si}_{j}"] = p[..., mid - 1 - j] - p[..., mid + 1 + j]
            for j in range(min(1, n_off - 1), n_off):
                raw[f"bump_{m}_s{si}_{j}"] = p[..., mid] - 0.5 * (p[..., mid - 1 - j] + p[..., mid + 1 + j])
    gy, gx = samples[:, -2], samples[:, -1]  # (T, K, A, P)
    dt = samples.dtype
    gn = gy * profiles.ny[..., None].astype(dt) + gx * profiles.nx[..., None].astype(dt)
    g2 = gy * gy + gx * gx
    flat = g2[..., mid] < 1e-6  # no gradient: nothing to align
    raw["seam_align"] = xp.where(flat, 0, gn[..., mid] ** 2 / xp.where(flat, 1, g2[..., mid]) - 0.5).astype(dt)
    j = min(1, n_off - 1)
    side = 0.5 * (xp.abs(gn[..., mid - 1 - j]) + xp.abs(gn[..., mid + 1 + j]))
    raw["seam_peak"] = xp.log(xp.abs(gn[..., mid]) + 0.05) - xp.log(side + 0.05)

    names = list(raw)
    stack = xp.stack([raw[k] for k in names], axis=0)  # (F, T, Kall, A)
    ctl_valid = valid[:, nk:]
    use_ctl = ctl_valid.sum(axis=(1, 2)) >= 8  # (T,)
    ref_mask = xp.where(use_ctl[:, None, None], xp.concatenate([xp.zeros_like(valid[:, :nk]), ctl_valid], axis=1),
                        valid)
    a = xp.where(ref_mask[None], xp.abs(stack), xp.nan)
    ref = xp.nanmedian(a.reshape(a.shape[0], a.shape[1], -1), axis=-1)  # (F, T)
    ref = xp.where(xp.isfinite(ref), ref, 0)
    face = stack[:, :, :nk]
    vf = valid[:, :nk]
    tiny = xp.asarray(1e-3, dtype=samples.dtype)
    ctl = face / xp.maximum(ref, tiny)[:, :, None, None]
    arc = _circular_smooth(xp.where(vf[None], face, 0), smooth) / xp.maximum(
        _circular_smooth(vf.astype(samples.dtype)[None], smooth), tiny)
    out = {}
    nan = xp.asarray(np.nan, dtype=samples.dtype)
    for i, k in enumerate(names):
        out[k] = xp.where(vf, face[i], nan)
        out[k + "@ctl"] = xp.where(vf, ctl[i], nan)
        out[k + "@arc"] = xp.where(vf, arc[i], nan)
    out["_valid"] = vf
    return out


def segment_target(mask, ellipse, grid: ContourGrid = DEFAULT_GRID, *, reach: float | None = None, n: int = 9):
    """Training target of each face-curve profile: the strongest blending boundary it crosses.

    ``max 4 M (1 - M)`` (Face X-ray's boundary map) along the profile's normal over
    ``[-reach, +reach]`` (fractions of the face radius; default the middle offset), ``n`` points.

    Parameters
    ----------
    mask : array (T, H, W), blend weight M in [0, 1] in crop pixels
    ellipse : array (T, 4)

    Returns
    -------
    array (T, K, A) in [0, 1] over ``grid.scales``
    """
    xp = get_namespace(mask, ellipse)
    reach = grid.offsets[min(1, len(grid.offsets) - 1)] if reach is None else reach
    pr = profile_coords(ellipse, grid.scales, grid.n_angles, np.linspace(-reach, reach, n))
    m = xp.asarray(mask, dtype=np.float32)[:, None]
    v = sample_bilinear(m, pr.y, pr.x)[:, 0]
    return (4 * v * (1 - v)).max(axis=-1)
