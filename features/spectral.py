"""``spectral`` family: Fourier- and DCT-spectrum features of the face crop.

Generators synthesise faces at a fixed resolution and up-sample them; face
swaps warp and blend the result into the frame. Both move spectral energy in
ways the eye does not see: a high-frequency deficit, spectral replicas and
periodic peaks (Durall et al. 2019; Frank et al. 2020).

Regions. The crop is ``S x S`` with the face box in its central half
(``features.track.CROP_MARGIN = 2``), so:

* face patches: the four ``S/4 x S/4`` quadrants of the central ``S/2 x S/2``
  square (eyes, nose, mouth, cheeks);
* background patches: the four ``S/4 x S/4`` corners of the crop (hair, neck,
  scene; outside the face ellipse for every box aspect ratio).

Each patch is tapered by a Hann window times its region mask (``face_mask`` or
``background_mask``), which zeroes the few pixels of the wrong region, and the
four patches of a region are averaged into one Welch periodogram normalised
by the taper energy. The camera's optics, the codec and this tool's own crop
resampling shape both regions alike, so *face minus background* log spectra
cancel them and leave what differs in the face alone.
"""
from __future__ import annotations

import numpy as np

from forensics.backend import get_namespace, to_numpy
from forensics.spectral import (
    block_dct,
    block_mean,
    dct_band_statistics,
    hann2d,
    high_frequency_share,
    peak_prominence,
    periodogram,
    radial_average,
    radial_bins,
    radial_power,
)

from .maps import MapImage, MapSpec
from .registry import CHEAP, Calculator

#: radial bins kept as features of the whole crop
N_AZIMUTHAL_BINS = 16
#: radial bins of the face and background patch spectra (patches are S/4 wide)
N_REGION_BINS = 8
#: high-frequency share cut-offs, as fractions of Nyquist
HF_CUTOFFS = (0.5, 0.75)
#: block-DCT bands by u + v: low, mid, high
DCT_BANDS = ((1, 3), (4, 7), (8, 14))
DCT_BAND_NAMES = ("low", "mid", "high")


def azimuthal(track) -> dict:
    """Azimuthal log-power spectrum of the gray face crop (Durall et al. 2019), 16 radial bins of the
    Hann-tapered periodogram (per unit taper energy), ``hf_minus_lf`` (mean log power in the top
    quarter of radii minus the mean over the bottom half) and ``hf50``/``hf75``: log10 share of
    spectral energy above 0.5 / 0.75 x Nyquist (up-sampling and blur lower them)."""
    rp = radial_power(track.gray_crops(), n_bins=N_AZIMUTHAL_BINS)
    xp = track.xp
    spec = xp.log10(rp.power)  # (T, bins)
    n = N_AZIMUTHAL_BINS
    out = {f"az{b:02d}": spec[:, b] for b in range(n)}
    out["hf_minus_lf"] = spec[:, 3 * n // 4 :].mean(axis=1) - spec[:, : n // 2].mean(axis=1)
    for cut in HF_CUTOFFS:
        out[f"hf{round(cut * 100)}"] = high_frequency_share(rp.power, counts=rp.counts, radius=rp.radius, cutoff=cut)
    return out


def region_patches(images, *, patch: int):
    """Face quadrants and background corners of crops ``(..., S, S)``: two arrays ``(..., 4, p, p)``."""
    xp = get_namespace(images)
    s = images.shape[-1]
    c0 = s // 2 - patch
    face_at = [(c0, c0), (c0, c0 + patch), (c0 + patch, c0), (c0 + patch, c0 + patch)]
    bg_at = [(0, 0), (0, s - patch), (s - patch, 0), (s - patch, s - patch)]

    def cut(at):
        return xp.stack([images[..., y : y + patch, x : x + patch] for y, x in at], axis=-3)

    return cut(face_at), cut(bg_at)


def region_spectra(track):
    """Welch periodograms ``(face, background)`` of the region patches, each ``(T, p, p)``, full and
    unshifted, per unit taper energy (patches whose taper is all zero are left out)."""
    xp = track.xp
    p = track.crops.shape[-2] // 4
    gray_face, gray_bg = region_patches(track.gray_crops(), patch=p)
    mask_face, _ = region_patches(track.face_mask, patch=p)
    _, mask_bg = region_patches(track.background_mask, patch=p)
    hann = hann2d((p, p), xp, gray_face.dtype)
    out = []
    for gray, mask in ((gray_face, mask_face), (gray_bg, mask_bg)):
        taper = hann * mask
        raw = xp.nan_to_num(periodogram(gray, weights=taper, onesided=False, normalize=False))
        energy = (taper**2).sum(axis=(-3, -2, -1))
        out.append(raw.sum(axis=-3) / xp.where(energy > 0, energy, xp.nan)[..., None, None])
    return tuple(out)


def regions(track) -> dict:
    """Face vs background patch spectra: ``fb00..fb07`` face-minus-background log power per radial
    bin (cancels camera and codec); ``face_hf50`` and ``fb_hf50`` high-frequency energy share of the
    face and its excess over the background; ``face_peak``/``fb_peak`` the most prominent isolated
    spectral peak (periodic up-sampling traces) of the face and its excess; and track-level
    ``track_peak``/``track_fb_peak`` from spectra averaged over all frames (peaks are
    translation-invariant, so they add up while the periodogram's scatter averages out)."""
    xp = track.xp
    face, bg = region_spectra(track)
    p = face.shape[-1]
    radius, counts = radial_bins((p, p), n_bins=N_REGION_BINS)
    power = {k: radial_average(v, shape=(p, p), n_bins=N_REGION_BINS) for k, v in (("face", face), ("bg", bg))}
    logp = {k: xp.log10(v) for k, v in power.items()}
    out = {f"fb{b:02d}": logp["face"][:, b] - logp["bg"][:, b] for b in range(N_REGION_BINS)}
    hf = {k: high_frequency_share(v, counts=counts, radius=radius, cutoff=0.5) for k, v in power.items()}
    out["face_hf50"] = hf["face"]
    out["fb_hf50"] = hf["face"] - hf["bg"]
    peak = peak_prominence(xp.stack([face, bg])).prominence  # (2, T)
    out["face_peak"] = peak[0]
    out["fb_peak"] = peak[0] - peak[1]
    track_peak = peak_prominence(xp.stack([face.mean(axis=0), bg.mean(axis=0)])).prominence
    out["track_peak"] = track_peak[0]
    out["track_fb_peak"] = track_peak[0] - track_peak[1]
    return out


def block_dct_stats(track) -> dict:
    """8x8 block-DCT coefficient statistics (Frank et al. 2020) of the face (blocks weighted by the
    face mask) and their excess over the background: ``dct_mid_low``/``dct_high_low`` log10 energy
    ratio of the mid/high zig-zag band to the low band; ``dct_kurt_{low,mid,high}`` log10 kurtosis;
    ``dct_zero_high`` share of near-zero (|c| < 0.5) high-band coefficients; each also as
    ``fb_...`` = face minus background. The DC term is left out, so a brightness offset changes nothing."""
    coeffs = block_dct(track.gray_crops(), block=8)
    stats = {}
    for name, mask in (("face", track.face_mask), ("bg", track.background_mask)):
        stats[name] = dct_band_statistics(coeffs, weights=block_mean(mask, 8), bands=DCT_BANDS)
    feats = {}
    for name, st in stats.items():
        e = st.log_energy
        f = {"dct_mid_low": e[:, 1] - e[:, 0], "dct_high_low": e[:, 2] - e[:, 0]}
        for i, band in enumerate(DCT_BAND_NAMES):
            f[f"dct_kurt_{band}"] = st.log_kurtosis[:, i]
        f["dct_zero_high"] = st.zero_fraction[:, 2]
        feats[name] = f
    out = dict(feats["face"])
    out.update({f"fb_{k}": v - feats["bg"][k] for k, v in feats["face"].items()})
    return out


def _band(b: int, n: int) -> str:
    """Radial bin ``b`` of ``n`` as the spatial frequencies it covers, in % of the highest (Nyquist)."""
    return f"spatial frequencies {round(100 * b / n)}-{round(100 * (b + 1) / n)}% of the highest"


_FB = "face-minus-background"
_HF_SHARE = "spectral energy above {} the highest frequency"
_PEAK = "prominence of the strongest isolated spectral peak"

AZIMUTHAL_FEATURES = {
    **{f"az{b:02d}": f"log power of the face crop at {_band(b, N_AZIMUTHAL_BINS)}" for b in range(N_AZIMUTHAL_BINS)},
    "hf_minus_lf": "log power of the face crop's top quarter minus bottom half of spatial frequencies",
    **{f"hf{round(c * 100)}": "log share of the face crop's " + _HF_SHARE.format(w)
       for c, w in zip(HF_CUTOFFS, ("half", "three quarters of"))},
}

REGION_FEATURES = {
    **{f"fb{b:02d}": f"{_FB} log power at {_band(b, N_REGION_BINS)}" for b in range(N_REGION_BINS)},
    "face_hf50": "log share of face " + _HF_SHARE.format("half"),
    "fb_hf50": f"{_FB} log share of " + _HF_SHARE.format("half"),
    "face_peak": f"{_PEAK} in the face (up-sampling trace)",
    "fb_peak": f"{_FB} {_PEAK}",
    "track_peak": "prominence of the strongest isolated peak in the frame-averaged face spectrum",
    "track_fb_peak": f"{_FB} prominence of the strongest peak in frame-averaged spectra",
}

#: what each block-DCT statistic is, before saying where (the face, or face minus background)
_DCT_WHAT = {
    "dct_mid_low": "log ratio of mid- to low-frequency energy",
    "dct_high_low": "log ratio of high- to low-frequency energy",
    **{f"dct_kurt_{b}": f"log peakedness of {b}-frequency coefficients" for b in DCT_BAND_NAMES},
    "dct_zero_high": "share of near-zero high-frequency coefficients",
}
BLOCKDCT_FEATURES = {
    **{k: f"{v} in the face (8x8 JPEG-style blocks)" for k, v in _DCT_WHAT.items()},
    **{f"fb_{k}": f"{_FB} {v} (8x8 JPEG-style blocks)" for k, v in _DCT_WHAT.items()},
}

CALCULATORS = [
    Calculator("spectral", "azimuthal", azimuthal, cost=CHEAP, gpu=True, version=2,
               description="azimuthal log power spectrum of the face crop and its high-frequency share (Durall 2019)",
               features=AZIMUTHAL_FEATURES),
    Calculator("spectral", "regions", regions, cost=CHEAP, gpu=True,
               description="face minus background patch spectra, high-frequency share, periodic peaks",
               features=REGION_FEATURES),
    Calculator("spectral", "blockdct", block_dct_stats, cost=CHEAP, gpu=True,
               description="8x8 block-DCT band energies, kurtosis and zeros, face and face minus background (Frank 2020)",
               features=BLOCKDCT_FEATURES),
]


def spectrum_map(track) -> MapImage:
    """Log10 power spectrum of the gray crop, mean over frames, zero frequency at the centre."""
    p = periodogram(track.gray_crops(), onesided=False)
    values = np.fft.fftshift(np.log10(to_numpy(track.xp.mean(p, axis=0)) + 1e-6))
    return MapImage(values, "Log power spectrum of the face crop (mean over frames, zero frequency at the centre). "
                    "Up-sampling in generators leaves bright periodic peaks away from the centre.")


MAPS = [MapSpec("spectral", "spectrum", spectrum_map)]
