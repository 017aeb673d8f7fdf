"""Blends of another person's face (synthesis/donors.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthesis.donors import (
    DonorEntry,
    choose_donor,
    colour_transfer,
    landmark_distances,
    load_donor,
    make_donor_entry,
    match_donor_frames,
    normalise_landmarks,
    sample_dfl_params,
    sample_rendered_swap_params,
    sample_swap_params,
    save_donor,
    similarity_transform,
    swap_frames,
)
from synthesis.selfblend import blend_source, sample_region_params

H, W = 240, 320
BOX = np.array([110.0, 60.0, 210.0, 180.0])
LANDMARKS = np.array([[138.0, 100.0], [182.0, 100.0], [160.0, 125.0], [142.0, 150.0], [178.0, 150.0]])


def similar(lm, angle=0.0, scale=1.0, shift=(0.0, 0.0)):
    c = np.cos(angle), np.sin(angle)
    r = np.array([[c[0], -c[1]], [c[1], c[0]]])
    return (np.asarray(lm) @ r.T) * scale + shift


def target_frame(seed=0):
    """Skin-coloured frame with isotropic texture."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 2.0)
    img = np.array([190.0, 140.0, 115.0]) + (base / base.std() * 12.0)[..., None] + rng.normal(0, 3, (H, W, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def donor_frame():
    """A differently coloured frame with vertical stripes (period 6 px): easy to recognise after warping."""
    x = np.arange(W)
    stripes = 30 * np.sin(2 * np.pi * x / 6.0)
    img = np.array([120.0, 90.0, 80.0]) + stripes[None, :, None] + np.zeros((H, 1, 1))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def donor_entry(n_frames=6, identity="donor"):
    frames = np.repeat(donor_frame()[None], n_frames, axis=0)
    box = np.array([90.0, 40.0, 190.0, 160.0])
    lm = LANDMARKS - BOX[:2] + box[:2]
    boxes = np.repeat(box[None], n_frames, 0)
    lms = np.repeat(lm[None], n_frames, 0)
    lms[1] = np.nan  # a frame without landmarks is skipped
    return make_donor_entry(frames, boxes, lms, identity=identity, source="synthetic", n=4, size=128)


def test_normalised_landmarks_ignore_position_size_and_roll_but_not_expression():
    a = normalise_landmarks(LANDMARKS)
    b = normalise_landmarks(similar(LANDMARKS, angle=0.4, scale=2.5, shift=(30, -7)))
    np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_allclose(np.sqrt((a ** 2).sum() / 5), 1.0)
    open_mouth = LANDMARKS.copy()
    open_mouth[3:, 1] += 15
    assert landmark_distances(LANDMARKS, open_mouth)[0, 0] > 0.1
    assert np.isnan(normalise_landmarks(np.full((5, 2), np.nan))).all()


def test_similarity_transform_is_exact_and_least_squares_over_all_points():
    dst = similar(LANDMARKS, angle=0.3, scale=1.7, shift=(12.0, -5.0))
    m = similarity_transform(LANDMARKS, dst)
    np.testing.assert_allclose(LANDMARKS @ m[:, :2].T + m[:, 2], dst, atol=1e-3)
    # another person's face: no exact fit; the answer is the least-squares similarity over all five points
    other = dst + np.array([[3.0, -2.0], [-4.0, 1.0], [6.0, 5.0], [-2.0, 7.0], [1.0, -9.0]])
    m = similarity_transform(LANDMARKS, other)
    x, y = LANDMARKS[:, 0], LANDMARKS[:, 1]
    a = np.zeros((10, 4))
    a[0::2] = np.stack([x, -y, np.ones(5), np.zeros(5)], axis=1)
    a[1::2] = np.stack([y, x, np.zeros(5), np.ones(5)], axis=1)
    p, *_ = np.linalg.lstsq(a, other.reshape(-1), rcond=None)
    np.testing.assert_allclose(m, [[p[0], -p[1], p[2]], [p[1], p[0], p[3]]], atol=2e-3)


def test_match_picks_the_donor_frame_with_the_closest_pose_and_expression():
    open_mouth = LANDMARKS.copy()
    open_mouth[3:, 1] += 15
    turned = LANDMARKS.copy()
    turned[2, 0] += 15  # nose off-centre: a head turn
    donors = np.stack([LANDMARKS, open_mouth, turned])
    targets = np.stack([similar(turned, 0.2, 0.5, (5, 5)), similar(LANDMARKS, -0.1, 3.0),
                        similar(open_mouth, 0.0, 1.2)])
    assert match_donor_frames(targets, donors).tolist() == [2, 0, 1]


def test_choose_donor_excludes_the_targets_identity_and_prefers_close_landmarks():
    open_mouth = LANDMARKS.copy()
    open_mouth[3:, 1] += 25
    entries = [DonorEntry(np.zeros((1, 8, 8, 3), np.uint8), LANDMARKS[None].astype(np.float32), "me"),
               DonorEntry(np.zeros((1, 8, 8, 3), np.uint8), open_mouth[None].astype(np.float32), "far"),
               DonorEntry(np.zeros((1, 8, 8, 3), np.uint8), (LANDMARKS + 0.5)[None].astype(np.float32), "near"),
               DonorEntry(np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 5, 2), np.float32), "empty")]
    target = np.repeat(LANDMARKS[None], 3, 0)
    rng = np.random.default_rng(0)
    assert choose_donor(target, entries, identity="me", rng=rng, k=1) == 2
    picks = {choose_donor(target, entries, identity="me", rng=rng, k=2) for _ in range(30)}
    assert picks == {1, 2}  # one of the k best, never the target's own identity or an empty entry
    assert choose_donor(target, entries[:1], identity="me", rng=rng) == -1


def test_make_donor_entry_crops_and_maps_landmarks(tmp_path):
    frames = np.zeros((5, H, W, 3), np.uint8)
    box = np.array([40.0, 30.0, 160.0, 170.0])
    lms = np.repeat(LANDMARKS[None] - BOX[:2] + box[:2], 5, 0)
    for f, lm in zip(frames, lms):  # a bright dot on every landmark
        for x, y in lm:
            cv2.circle(f, (int(x), int(y)), 3, (255, 255, 255), -1)
    lms[2] = np.nan
    e = make_donor_entry(frames, np.repeat(box[None], 5, 0), lms, identity="id7", source="x.mp4", n=3, size=96)
    assert e.crops.shape == (3, 96, 96, 3) and e.crops.dtype == np.uint8
    assert e.landmarks.shape == (3, 5, 2) and e.landmarks.dtype == np.float32
    for crop, lm in zip(e.crops, e.landmarks):
        for x, y in lm:
            assert crop[int(round(y)), int(round(x))].min() > 100  # the dot is where the landmark says
    # the face fills 1/1.6 of the crop
    np.testing.assert_allclose(np.ptp(e.landmarks[0][:, 0]) / np.ptp(lms[0][:, 0]), 96 / (140 * 1.6), rtol=1e-5)
    p = tmp_path / "d.npz"
    save_donor(str(p), e)
    back = load_donor(str(p))
    assert np.array_equal(back.crops, e.crops) and np.array_equal(back.landmarks, e.landmarks)
    assert (back.identity, back.source) == ("id7", "x.mp4")
    light = load_donor(str(p), with_crops=False)
    assert len(light.crops) == 0 and np.array_equal(light.landmarks, e.landmarks) and light.identity == "id7"
    with np.load(str(p), allow_pickle=False) as z:  # nothing in it needs pickle
        assert set(z.files) >= {"crops", "landmarks", "identity", "source"}
    none = make_donor_entry(frames[:1], np.full((1, 4), np.nan), lms[:1], identity="x")
    assert none.crops.shape[0] == 0


def test_colour_transfer_matches_the_reference_statistics():
    rng = np.random.default_rng(0)
    src = np.clip(rng.normal([90, 120, 60], [10, 20, 5], (40, 40, 3)), 0, 255).astype(np.float32)
    ref = np.clip(rng.normal([180, 130, 110], [25, 10, 15], (40, 40, 3)), 0, 255).astype(np.float32)
    for space in ("lab", "rgb"):
        out = colour_transfer(src, ref, space=space)
        def to(x, space=space):
            return cv2.cvtColor(np.clip(x, 0, 255) / 255.0, cv2.COLOR_RGB2LAB) if space == "lab" else x

        o, r = to(out.astype(np.float32)).reshape(-1, 3), to(ref).reshape(-1, 3)
        np.testing.assert_allclose(o.mean(0), r.mean(0), rtol=0.02, atol=0.5)
        np.testing.assert_allclose(o.std(0), r.std(0), rtol=0.05, atol=0.5)
    np.testing.assert_allclose(colour_transfer(src, ref, strength=0.0), src, atol=1e-3)
    # weights: statistics of the weighted part only
    wt = np.zeros((40, 40), np.float32)
    wt[:20] = 1
    ref2 = ref.copy()
    ref2[20:] = 0  # ignored
    out = colour_transfer(src, ref2, reference_weight=wt, space="rgb")
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), ref[:20].reshape(-1, 3).mean(0), atol=0.5)


def test_blend_source_uses_the_returned_mask_exactly():
    f = target_frame(1)
    rng = np.random.default_rng(3)
    params = sample_region_params(rng, region="face")
    cover = np.zeros((H, W), np.float32)

    def source(window, *, origin, face_size, centre, mask):
        wt = np.ones(window.shape[:2], np.float32)
        wt[:, : wt.shape[1] // 2] = 0.5  # half the window only half covered
        cover[origin[1]:origin[1] + wt.shape[0], origin[0]:origin[0] + wt.shape[1]] = wt
        return np.full_like(window, 40.0), wt

    out = blend_source(f, BOX, LANDMARKS, params=params, rng=rng, source=source)
    expect = np.clip(np.rint(f + out.mask[..., None] * (40.0 - f)), 0, 255).astype(np.uint8)
    assert np.array_equal(out.frame, expect)
    inside = out.mask > 0
    assert out.mask[inside & (cover == 0.5)].max() <= 0.5 + 1e-6 and out.mask[cover == 1].max() > 0.5


@pytest.fixture(scope="module")
def donor():
    return donor_entry()


def test_donor_entry_skips_frames_without_landmarks(donor):
    assert donor.crops.shape == (4, 128, 128, 3)


def _anisotropy(frames, core):
    """Mean |difference| over 3 px across x over the same along y, inside ``core``."""
    g = frames.astype(np.float32).mean(axis=-1)
    c = core[:, 3:, 3:]
    return np.abs(g[:, 3:, 3:] - g[:, 3:, :-3])[c].mean() / np.abs(g[:, 3:, 3:] - g[:, :-3, 3:])[c].mean()


@pytest.mark.parametrize("region", ["face", "lower", "eyes"])
def test_swap_puts_the_donors_face_in_and_leaves_the_rest(donor, region):
    frames = np.stack([target_frame(s) for s in range(3)])
    boxes = np.repeat(BOX[None], 3, 0)
    lms = np.repeat(LANDMARKS[None], 3, 0)
    lms[1] = np.nan  # typical positions in the box stand in
    for seed in range(3):
        out = swap_frames(frames, boxes, lms, donor, seed=seed, region=region)
        assert out.frames.shape == frames.shape and out.masks.shape == frames.shape[:3]
        outside = out.masks == 0
        assert np.array_equal(out.frames[outside], frames[outside])
        core = out.masks > 0.9
        assert core.sum() > 300
        # the donor's vertical stripes are in the core: across them (x) the image varies far more than
        # along them (y), where the target's texture is the same both ways
        assert _anisotropy(out.frames, core) > 2.0, seed
        assert _anisotropy(frames, core) < 1.3
    a = swap_frames(frames, boxes, lms, donor, seed=5, region=region)
    b = swap_frames(frames, boxes, lms, donor, seed=5, region=region)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)


def test_swap_colours_follow_the_target(donor):
    frames = np.repeat(target_frame(4)[None], 2, 0)
    out = swap_frames(frames, np.repeat(BOX[None], 2, 0), np.repeat(LANDMARKS[None], 2, 0), donor, seed=1)
    core = out.masks[0] > 0.9
    swapped = out.frames[0][core].astype(float).mean(axis=0)
    donor_mean = donor.crops[0].reshape(-1, 3).mean(axis=0)
    target_mean = frames[0][core].astype(float).mean(axis=0)
    # colour-matched: much nearer the target's skin than the donor's own colours
    assert np.abs(swapped - target_mean).max() < 0.5 * np.abs(donor_mean - target_mean).max()


def test_dfl_style_swap_renders_the_donor_at_low_resolution(donor):
    """A DeepFaceLab-style swap: the donor rendered at 128-320 px, Lab transfer, an eroded hull merged at full
    ratio, no sharpening or added noise; the frame is untouched outside the mask, and a seed is one fake."""
    big = np.array([40.0, 10.0, 280.0, 230.0])  # a 240-px face (the 128-px donor crop is upsampled anyway)
    lm = (LANDMARKS - BOX[:2]) * 2.4 + big[:2]
    frames = np.repeat(target_frame(7)[None], 2, 0)
    boxes, lms = np.repeat(big[None], 2, 0), np.repeat(lm[None], 2, 0)
    for seed in range(4):
        p = sample_dfl_params(np.random.default_rng(seed))
        assert 128 <= p["render"]["size"] <= 320 and p["mask"] == "hull" and p["space"] == "lab"
        assert p["sharpen"] == 0 and p["noise"] == 0 and 0.8 <= p["scale"] <= 1.0 and p["ratio"] == 1.0
        out = swap_frames(frames, boxes, lms, donor, seed=seed, style="dfl")
        assert np.array_equal(out.frames[out.masks == 0], frames[out.masks == 0])
        assert (out.masks > 0.9).sum() > 2000
        again = swap_frames(frames, boxes, lms, donor, seed=seed, style="dfl")
        assert np.array_equal(again.frames, out.frames)
    with pytest.raises(ValueError):
        swap_frames(frames, boxes, lms, donor, seed=0, style="deepfacelab")


def test_rendered_swap_is_the_dfl_draw_merged_through_the_swap_masks(donor):
    """``rswap``: the same draw as ``dfswap`` (render, smoothing, Lab transfer) but the mask family, erosion,
    feather and ratio that ``swap`` draws from the same seed; so it differs from ``dfswap`` exactly where the
    merge does."""
    for seed in range(6):
        r = sample_rendered_swap_params(np.random.default_rng(seed))
        d = sample_dfl_params(np.random.default_rng(seed))
        s = sample_swap_params(np.random.default_rng(seed))
        assert r["render"] == d["render"] and r["space"] == d["space"] == "lab" and r["strength"] == d["strength"]
        merge = ("mask", "scale", "ratio", "feather")
        assert all(r[k] == s[k] for k in merge)
        assert all(np.array_equal(r[k], d[k]) for k in d if k not in merge)
    big = np.array([40.0, 10.0, 280.0, 230.0])
    lm = (LANDMARKS - BOX[:2]) * 2.4 + big[:2]
    frames = np.repeat(target_frame(7)[None], 2, 0)
    boxes, lms = np.repeat(big[None], 2, 0), np.repeat(lm[None], 2, 0)
    out = swap_frames(frames, boxes, lms, donor, seed=3, style="rendered")
    assert np.array_equal(out.frames[out.masks == 0], frames[out.masks == 0])
    assert (out.masks > 0.5).sum() > 2000
    dfl = swap_frames(frames, boxes, lms, donor, seed=3, style="dfl")
    assert not np.array_equal(out.masks, dfl.masks)  # another merge
    assert np.array_equal(swap_frames(frames, boxes, lms, donor, seed=3, style="rendered").frames, out.frames)


def test_swap_needs_a_donor():
    with pytest.raises(ValueError):
        swap_frames(np.zeros((1, H, W, 3), np.uint8), BOX[None], None, None, seed=0)
    empty = DonorEntry(np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 5, 2), np.float32))
    with pytest.raises(ValueError):
        swap_frames(np.zeros((1, H, W, 3), np.uint8), BOX[None], None, empty, seed=0)


def test_donor_bank_cli_on_the_carphone_clip(tmp_path, carphone_path):
    import shutil

    from cli.synthesis import main

    src = tmp_path / "real"
    src.mkdir()
    shutil.copy(carphone_path, src / "carphone.mp4")
    (src / "broken.mp4").write_bytes(b"nope" * 100)
    bank = tmp_path / "bank"
    rc = main(["donors", str(src), "-o", str(bank), "--frames", "8", "--crops", "4", "--size", "64",
               "--include-unlabelled"])
    assert rc == 1  # the broken file is reported, not fatal
    files = sorted(bank.glob("*.npz"))
    assert len(files) == 1
    e = load_donor(str(files[0]))
    assert e.crops.shape == (4, 64, 64, 3) and e.source == "carphone.mp4" and e.identity
    # the landmarks sit on a face: eyes above the mouth, inside the crop
    lm = e.landmarks
    assert (lm >= 0).all() and (lm < 64).all()
    assert (lm[:, 3:, 1].mean(axis=1) > lm[:, :2, 1].mean(axis=1) + 5).all()
