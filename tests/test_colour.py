"""colour family: skin chroma moments of the face against the neck's (forensics/color.py, features/colour.py)."""
import numpy as np
import pytest
from scipy import stats

from features.colour import colour_residue
from features.track import build_track
from forensics.blending import rgb_to_ycrcb
from forensics.color import chroma_moments
from forensics.geometry import ellipse_radius2

H, W = 360, 480
BOX = np.array([180.0, 60.0, 300.0, 204.0])
#: YCrCb -> RGB (full-range BT.601), the inverse of rgb_to_ycrcb
_TO_RGB = np.linalg.inv(np.array([[0.299, 0.587, 0.114], [0.5, -0.418688, -0.081312],
                                  [-0.168736, -0.331264, 0.5]]))


def test_moments_match_scipy_on_the_weighted_pixels_and_ignore_the_rest():
    rng = np.random.default_rng(0)
    ycc = np.stack([rng.normal(120, 20, (2, 500)), 150 + rng.gamma(2.0, 4.0, (2, 500)),
                    rng.normal(100, 5, (2, 500))], axis=-1)
    w = rng.random((2, 500)) < 0.6
    ycc[~w] = 1e4  # pixels out of the selection must not count
    m = chroma_moments(ycc, w)
    for t in range(2):
        x = ycc[t, w[t]]
        assert m.n[t] == w[t].sum()
        for i in (0, 1):
            c = x[:, i + 1]
            assert m.mean[t, i] == pytest.approx(c.mean())
            assert m.std[t, i] == pytest.approx(c.std())
            assert m.skew[t, i] == pytest.approx(stats.skew(c))
            assert m.kurt[t, i] == pytest.approx(stats.kurtosis(c))
            assert m.luma_corr[t, i] == pytest.approx(np.corrcoef(x[:, 0], c)[0, 1])
    assert m.skew[:, 0].min() > 0.8  # the gamma channel is right-skewed


def test_an_affine_colour_transfer_moves_mean_and_spread_but_not_shape_or_shading():
    """Reinhard's transfer (per channel, ``a * x + b``) is exactly what the family's shape columns cannot see
    within one zone: they compare the face with the neck instead."""
    rng = np.random.default_rng(1)
    y = rng.normal(120, 20, 4000)
    ycc = np.stack([y, 150 + 0.3 * y + rng.gamma(2.0, 4.0, 4000), 110 - 0.1 * y + rng.normal(0, 3, 4000)], -1)[None]
    moved = ycc.copy()
    moved[..., 1] = 0.5 * moved[..., 1] + 60
    moved[..., 2] = 1.7 * moved[..., 2] - 80
    a, b = chroma_moments(ycc, np.ones(ycc.shape[:2])), chroma_moments(moved, np.ones(ycc.shape[:2]))
    assert np.allclose(b.std / a.std, [[0.5, 1.7]])
    for f in ("skew", "kurt", "luma_corr"):
        assert np.allclose(getattr(a, f), getattr(b, f)), f


def test_too_few_pixels_or_a_flat_channel_give_nan():
    rng = np.random.default_rng(2)
    ycc = np.stack([rng.normal(120, 20, (2, 300)), rng.normal(150, 4, (2, 300)), np.full((2, 300), 100.0)], -1)
    w = np.zeros((2, 300))
    w[0, :200] = 1
    w[1, :10] = 1
    m = chroma_moments(ycc, w, min_weight=64)
    assert np.isfinite(m.skew[0, 0]) and np.isnan(m.skew[1]).all() and np.isnan(m.mean[1]).all()
    assert np.isnan(m.skew[0, 1]) and np.isnan(m.luma_corr[0, 1]) and m.std[0, 1] == 0  # Cb is flat


def _frames(face_cr, seed=0, t=3):
    """Skin-coloured frames (face and neck drawn alike), the face core's Cr replaced by ``face_cr(rng, n)``."""
    rng = np.random.default_rng(seed)
    y = np.clip(rng.normal(140, 18, (t, H, W)), 40, 220)
    cr = 150 + 0.2 * (y - 140) + rng.normal(0, 4, (t, H, W))
    cb = 110 - 0.1 * (y - 140) + rng.normal(0, 3, (t, H, W))
    boxes = np.tile(BOX, (t, 1))
    face = ellipse_radius2(boxes, (H, W)) <= 0.8**2
    if face_cr is not None:
        cr[face] = face_cr(rng, int(face.sum()))
    ycc = np.stack([y, cr - 128, cb - 128], -1)
    rgb = np.clip(np.rint(ycc @ _TO_RGB.T), 0, 255).astype(np.uint8)
    assert np.abs(rgb_to_ycrcb(rgb)[..., 1].mean() - cr.mean()) < 1  # still skin, by Chai & Ngan's box
    return rgb, boxes


def test_a_face_coloured_like_its_neck_scores_near_zero():
    out = colour_residue(build_track(*_frames(None)))
    for name in ("cr_offset_face_neck", "cr_skew_face_neck", "cb_kurt_face_neck", "cr_luma_corr_face_neck",
                 "cr_spread_face_ring", "cb_luma_corr_face_ring"):
        assert np.isfinite(out[name]).all() and np.abs(out[name]).max() < 0.15, (name, out[name])


def test_a_face_with_a_donors_chroma_shape_stands_out_though_mean_and_spread_match():
    """The face's Cr is a right-skewed draw with the neck's mean and spread and no shading: what an affine
    colour transfer leaves of a donor whose skin chroma had another shape."""
    def donor(rng, n):
        g = rng.gamma(1.5, 1.0, n)
        return 150 + (g - g.mean()) / g.std() * np.sqrt(0.2**2 * 18**2 + 16)

    out = colour_residue(build_track(*_frames(donor)))
    assert np.abs(out["cr_offset_face_neck"]).max() < 1.0 and np.abs(out["cr_spread_face_neck"]).max() < 0.1
    assert out["cr_skew_face_neck"].min() > 1.0
    assert out["cr_kurt_face_neck"].min() > 1.0
    assert out["cr_luma_corr_face_neck"].max() < -0.4  # the neck's chroma follows its shading, the face's not
    assert np.abs(out["cb_skew_face_neck"]).max() < 0.15  # the other channel was left alone


def test_no_neck_in_the_frame_gives_nan_not_an_error():
    rgb, boxes = _frames(None, t=2)
    low = boxes.copy()
    low[:, 1] += 150  # the face at the bottom edge: no ring tiles below the chin
    low[:, 3] += 150
    out = colour_residue(build_track(rgb, low))
    assert np.isnan(out["cr_skew_face_neck"]).all()
    assert np.isfinite(out["cr_skew_face_ring"]).all()
