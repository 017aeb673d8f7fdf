"""``wavelet`` family: higher-order wavelet statistics of the face (Farid & Lyu 2002).

The gray crop's face window (the rows and columns that hold the face ellipse
for any box aspect ratio, see :func:`face_window`) is decomposed by
:func:`forensics.dwt.wavedec2` (Haar, periodization, 4 levels; NumPy or
CuPy, equal to PyWavelets). For the three finest levels and the three
orientations, the first four moments of the coefficients and of the log2
errors of the linear magnitude predictor (neighbours, parent, cousins) are
computed, weighted by the face mask.

Feature names: ``c_l{level}{orientation}_{stat}`` (coefficients) and
``e_l{level}{orientation}_{stat}`` (prediction errors), level 1 finest,
orientation ``h``, ``v``, ``d``, stat ``mean``, ``logvar`` (log10 variance),
``skew``, ``kurt``.
"""
from __future__ import annotations

from forensics.dwt import wavedec2
from forensics.wavelet import ORIENTATIONS, wavelet_statistics

from .registry import CHEAP, Calculator

#: wavelet and depth of the decomposition (the statistics use levels 1..DWT_LEVELS-1). Haar (the shortest
#: QMF: a quarter of db4's filter taps) rather than db4: cheaper, and in grouped cross-validation on the
#: labelled clips it separated real from fake at least as well as db4
WAVELET = "haar"
DWT_LEVELS = 4
#: subband variance (gray levels squared) counted as zero; log variances are floored at it
VAR_FLOOR = 1e-6


def face_window(size: int, *, multiple: int = 2**DWT_LEVELS) -> tuple[slice, slice]:
    """Rows and columns of an ``size x size`` crop that hold the face ellipse.

    With the crop side twice the larger side of the face box, the ellipse
    (half-width 0.5 box width, half-height 0.6 box height, centre 0.05 box
    height below the box centre) spans at most columns ``[S/4, 3S/4]`` and
    rows ``[0.225 S, 0.825 S]``; the window is rows ``[3S/16, 7S/8)`` and
    columns ``[S/4, 3S/4)``, shrunk to a multiple of ``multiple``.
    """
    def span(lo, hi):
        n = (hi - lo) // multiple * multiple
        return slice(lo, lo + n)

    return span(3 * size // 16, 7 * size // 8), span(size // 4, 3 * size // 4)


def farid_lyu(track) -> dict:
    """Mean, log variance, skewness and kurtosis of the face's wavelet coefficients and of their
    log2 linear-prediction errors, per level (1-3) and orientation (Farid & Lyu 2002)."""
    xp = track.xp
    rows, cols = face_window(track.crops.shape[-2])
    gray = track.gray_crops()[:, rows, cols]
    mask = track.face_mask[:, rows, cols]
    st = wavelet_statistics(wavedec2(gray, WAVELET, level=DWT_LEVELS), weights=mask, var_floor=VAR_FLOOR)
    out = {}
    for prefix, mom in (("c", st.coefficient), ("e", st.error)):
        logvar = xp.log10(xp.maximum(mom.var, VAR_FLOOR))
        for stat, arr in (("mean", mom.mean), ("logvar", logvar), ("skew", mom.skewness), ("kurt", mom.kurtosis)):
            for lev in range(arr.shape[-2]):
                for k, o in enumerate(ORIENTATIONS):
                    out[f"{prefix}_l{lev + 1}{o}_{stat}"] = arr[:, lev, k]
    return out


#: plain words for the feature-name parts: level (1 finest), orientation, moment
_SCALE_WORDS = {1: "fine", 2: "medium", 3: "coarse"}
_ORIENTATION_WORDS = {"h": "horizontal", "v": "vertical", "d": "diagonal"}
_MOMENT_WORDS = {"mean": "mean", "logvar": "log variance", "skew": "lopsidedness", "kurt": "peakedness"}


def _hos_phrases() -> dict:
    """One phrase per :func:`farid_lyu` feature, e.g. ``e_l1d_kurt`` -> "peakedness of the log error
    predicting fine diagonal wavelet detail from neighbours" (neighbours: the adjacent, parent and
    other-orientation coefficients of the linear predictor)."""
    out = {}
    for lev, scale in _SCALE_WORDS.items():
        for o, orient in _ORIENTATION_WORDS.items():
            detail = f"{scale} {orient} wavelet detail"
            for stat, moment in _MOMENT_WORDS.items():
                out[f"c_l{lev}{o}_{stat}"] = f"{moment} of {detail} in the face"
                out[f"e_l{lev}{o}_{stat}"] = f"{moment} of the log error predicting {detail} from neighbours"
    return out


CALCULATORS = [
    Calculator("wavelet", "hos", farid_lyu, cost=CHEAP, gpu=True,
               description="higher-order wavelet statistics of the face: coefficient and prediction-error moments (Farid & Lyu 2002)",
               features=_hos_phrases()),
]
