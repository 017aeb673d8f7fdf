"""context family: the face measured against its own frame (forensics/context.py, features/context.py)."""
import cv2
import numpy as np
import pytest

from features.context import ZONES, context_texture
from features.track import build_track
from forensics.context import TILE, gather_tiles, tile_texture, zone_quantile, zone_tiles
from forensics.geometry import ellipse_radius2

H, W = 360, 480
BOX = np.array([180.0, 90.0, 300.0, 234.0])


def _scene(seed=0, t=3, noise=4.0):
    """A textured frame with camera-like noise, the same scene in every frame (fresh noise each)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (H, W)).astype(np.float32), (0, 0), 2.0)
    base = (base - base.mean()) / base.std() * 25 + 128
    out = np.clip(base[None, ..., None] + rng.normal(0, noise, (t, H, W, 3)), 0, 255)
    return np.rint(out).astype(np.uint8), np.tile(BOX, (t, 1))


def _face_mask(boxes, scale=1.0):
    return ellipse_radius2(boxes, (H, W)) <= scale**2


def test_zone_tiles_lie_in_their_zones_and_respect_the_cap():
    boxes = np.tile(BOX, (2, 1))
    boxes[1] = np.nan  # a frame without a face gets no tiles
    tiles = zone_tiles(boxes, (H, W), ZONES, cap=40)
    assert tiles.origins.shape == (2, 40 * len(ZONES), 2)
    assert (tiles.zone[1] == -1).all()
    r2 = ellipse_radius2(boxes[:1], (H, W))[0]
    for z, (lo, hi) in enumerate(ZONES):
        sel = tiles.zone[0] == z
        assert 4 <= sel.sum() <= 40
        y, x = tiles.origins[0, sel].T
        r = np.sqrt(r2[y + TILE // 2, x + TILE // 2])
        assert ((r > lo - 0.1) & (r <= hi + 0.1)).all()
        assert (y % TILE == 0).all() and (x % TILE == 0).all() and (y + TILE <= H).all() and (x + TILE <= W).all()


def test_gather_tiles_returns_the_frame_pixels():
    frames, boxes = _scene()
    tiles = zone_tiles(boxes, (H, W), ZONES, cap=16)
    got = gather_tiles(frames, tiles)
    t, k = np.argwhere(tiles.zone >= 0)[5]
    y, x = tiles.origins[t, k]
    assert np.array_equal(got[t, k], frames[t, y:y + TILE, x:x + TILE])


def test_tile_noise_reads_white_noise_sigma_and_chroma_is_blind_to_grey():
    rng = np.random.default_rng(1)
    grey = np.repeat(rng.normal(128, 6, (2, 50, TILE, TILE, 1)), 3, axis=-1)
    tex = tile_texture(grey)
    assert abs(np.median(tex.noise) - 6) < 0.6  # orthonormal Haar keeps white noise's sigma
    assert np.abs(tex.chroma).max() < 1e-3  # R = G = B: no chroma at all
    colour = grey + rng.normal(0, 3, grey.shape)
    # Cr, Cb of independent channel noise (sigma 3): 3 * 0.66 per plane, halved by the 2 x 2 mean under HH2
    assert abs(np.median(tile_texture(colour).chroma) - 3 * 0.66 / 2) < 0.15


def test_zone_quantile_matches_numpy_and_needs_enough_tiles():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(4, 30))
    zone = rng.integers(-1, 3, size=(4, 30))
    zone[3] = -1
    zone[3, :3] = 1  # three tiles only
    for q in (0.1, 0.5, 0.9):
        got = zone_quantile(v, zone, 1, q)
        for i in range(3):
            np.testing.assert_allclose(got[i], np.quantile(v[i][zone[i] == 1], q))
        assert np.isnan(got[3])


def test_an_untouched_frame_scores_near_zero_and_a_smoothed_face_below_it():
    frames, boxes = _scene()
    clean = context_texture(build_track(frames, boxes))
    for name in ("noise_face_frame", "detail_face_frame", "noise_face_ring", "falloff_face_frame"):
        assert np.all(np.abs(clean[name]) < 0.25), (name, clean[name])
    # the face re-rendered at a third of its resolution, the rest of the frame untouched
    fake = context_texture(build_track(_rerendered(frames, boxes, 3.0), boxes))
    for name in ("noise_face_frame", "noise_face_ring", "noise_face_floor", "detail_face_frame", "coarse_face_frame"):
        assert np.all(fake[name] < clean[name] - 0.5), (name, clean[name], fake[name])
    # at half resolution the second octave survives in part: the finest octave falls off faster than the frame's
    half = context_texture(build_track(_rerendered(frames, boxes, 2.0), boxes))
    assert np.all(half["falloff_face_frame"] < clean["falloff_face_frame"] - 0.2)


def _rerendered(frames, boxes, factor):
    out = frames.copy()
    m = _face_mask(boxes, 0.95)
    for i, f in enumerate(frames):
        small = cv2.resize(f, (int(W / factor), int(H / factor)), interpolation=cv2.INTER_AREA)
        up = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
        out[i][m[i]] = up[m[i]]
    return out


def test_the_same_swap_under_another_camera_noise_keeps_its_relative_score():
    """Relative columns cancel the camera: more sensor noise everywhere moves the absolute level, not the
    face-against-frame difference of an untouched frame."""
    quiet, boxes = _scene(noise=2.0)
    loud, _ = _scene(noise=8.0)
    a = context_texture(build_track(quiet, boxes))["noise_face_frame"]
    b = context_texture(build_track(loud, boxes))["noise_face_frame"]
    np.testing.assert_allclose(a, b, atol=0.25)


def test_a_lower_face_rerendered_drops_lower_against_upper():
    frames, boxes = _scene(3)
    lower = frames.copy()
    _, cy = (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2
    yy = np.arange(H)[:, None] > cy + 0.1 * (BOX[3] - BOX[1])
    m = _face_mask(boxes, 1.0) & yy[None]
    for i, f in enumerate(frames):
        blur = cv2.GaussianBlur(f, (0, 0), 1.5)
        lower[i][m[i]] = blur[m[i]]
    a = context_texture(build_track(frames, boxes))
    b = context_texture(build_track(lower, boxes))
    assert np.all(b["noise_lower_upper"] < a["noise_lower_upper"] - 0.5)
    assert np.all(b["detail_lower_upper"] < a["detail_lower_upper"] - 0.5)


def test_a_face_too_small_or_filling_the_frame_gives_nan_not_an_error():
    frames, _ = _scene(t=2)
    tiny = np.tile([230.0, 150.0, 246.0, 168.0], (2, 1))  # 16-px face: no core tiles
    out = context_texture(build_track(frames, tiny))
    assert all(np.isnan(v).all() for v in out.values())
    huge = np.tile([-200.0, -200.0, W + 200.0, H + 200.0], (2, 1))  # nothing outside the face
    out = context_texture(build_track(frames, huge))
    assert np.isnan(out["noise_face_frame"]).all() and np.isnan(out["noise_face_ring"]).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_tile_texture_sides_must_divide_by_four(dtype):
    with pytest.raises(ValueError):
        tile_texture(np.zeros((1, 1, 6, 6, 3), dtype))
