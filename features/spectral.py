"""``spectral`` family: Fourier-spectrum features of the face crop."""
from __future__ import annotations

from forensics.spectral import azimuthal_spectrum

from .registry import CHEAP, Calculator

#: radial bins kept as features (the spectrum is resampled to this many bins)
N_AZIMUTHAL_BINS = 16


def azimuthal(track) -> dict:
    """Azimuthal log-power spectrum of the gray face crop (Durall et al. 2019), 16 radial bins,
    plus the high-frequency share: mean log power in the top quarter of radii minus the mean
    over the bottom half."""
    spec = azimuthal_spectrum(track.gray_crops(), n_bins=N_AZIMUTHAL_BINS).spectrum  # (T, bins)
    out = {f"az{b:02d}": spec[:, b] for b in range(N_AZIMUTHAL_BINS)}
    n = N_AZIMUTHAL_BINS
    out["hf_minus_lf"] = spec[:, 3 * n // 4 :].mean(axis=1) - spec[:, : n // 2].mean(axis=1)
    return out


CALCULATORS = [
    Calculator("spectral", "azimuthal", azimuthal, cost=CHEAP, gpu=True,
               description="azimuthal log power spectrum of the face crop (Durall 2019)"),
]
