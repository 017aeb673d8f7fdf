"""``quality`` family: how much evidence the face region can still carry.

Compression, resolution and blur erase the traces every other family reads
(block-DCT quantisation flattens sensor noise and fine texture; a small face
upscaled to the crop has no high frequencies; blur removes edges). The model
sees these measurements as context, and :mod:`modeling.reliability` turns them
into the per-video ``reliability`` of the CSV, so that a user knows when a
score means little.

Measured at native resolution in the fixed full-resolution window around the
face that the PRNU family uses (never on the resampled crop), inside the face
ellipse:

* ``blockiness``: strength of the 8-pixel block-grid profile of block-DCT
  coding, aligned to the frame's grid (Fan & de Queiroz 2003; Wang, Bovik &
  Evans 2000): log of peak over median of the mean absolute difference between
  neighbours, by position modulo 8;
* ``sharpness``: log spread of the Laplacian (the "variance of Laplacian" focus
  measure, Pech-Pacheco et al. 2000);
* ``noise``: log noise sigma (median absolute finest diagonal Haar coefficient
  / 0.6745, Donoho & Johnstone 1994);
* ``upscale``: log2 of how much the face was enlarged to fill the analysis crop
  (crop pixels per native pixel: above 0 the crop holds less detail than its size).
"""
from __future__ import annotations

import numpy as np

from forensics.blending import block_grid, texture_by_zone

from .prnu import prnu_regions
from .registry import CHEAP, Calculator

__all__ = ["CALCULATORS"]

#: block size of block-DCT codecs (JPEG, MPEG-2/4, H.264's transform grid)
BLOCK = 8


def quality(track) -> dict:
    """Blockiness, sharpness and noise of the face at native resolution, per frame."""
    xp = track.xp
    reg = prnu_regions(track)
    t = track.n_frames
    if reg.window is None:
        nan = np.full(t, np.nan)
        return {"blockiness": nan, "sharpness": nan, "noise": nan}
    zones = reg.face[:, None]  # (T, 1, h, w)
    grid = block_grid(reg.luma, zones, period=BLOCK, origin=(reg.window.y0, reg.window.x0))
    tex = texture_by_zone(reg.luma, zones)
    floor = 1e-3
    return {"blockiness": grid.strength[:, 0],
            "sharpness": xp.log(xp.maximum(tex.laplacian_std[:, 0], floor)),
            "noise": xp.log(xp.maximum(tex.noise[:, 0], floor))}


def upscale(track) -> dict:
    """log2 of crop pixels per native pixel of the face, per frame."""
    return {"upscale": np.log2(np.asarray(track.crop_scale, dtype=np.float64))}


CALCULATORS = [
    Calculator("quality", "native", quality, cost=CHEAP, gpu=True,
               description="compression blockiness, sharpness and noise of the face at native resolution",
               features={"blockiness": "strength of the 8-pixel compression block grid in the face",
                         "sharpness": "log spread of the Laplacian in the face (low: blurred)",
                         "noise": "log noise level of the face (low: denoised or heavily compressed)"}),
    Calculator("quality", "resolution", upscale, cost=CHEAP, gpu=False,
               description="how much the face was enlarged to fill the analysis crop",
               features={"upscale": "log2 enlargement of the face to the analysis crop (high: few pixels)"}),
]
