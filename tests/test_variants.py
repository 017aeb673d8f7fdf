"""The training-variant grammar (synthesis/variants.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthesis.donors import make_donor_entry
from synthesis.selfblend import self_blend_frames
from synthesis.variants import (
    VARIANTS,
    VariantFrames,
    draw_augmentation,
    is_synthetic_fake,
    needs_donor,
    parse_variant,
    reencode_frames,
    synthetic_method,
    variant_cache_key,
    variant_frames,
)

H, W = 160, 200
BOX = np.array([60.0, 30.0, 140.0, 126.0])
LM = np.array([[82.0, 62.0], [118.0, 62.0], [100.0, 83.0], [85.0, 103.0], [115.0, 103.0]])
N, POS = 6, np.array([0, 2, 3, 5])
SEED = 12345


def scene(n=N, h=H, w=W, seed=0):
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w + 2 * n)).astype(np.float32), (0, 0), 1.5)
    img = np.array([185.0, 140.0, 118.0]) + 14 * (tex / tex.std())[..., None]
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return np.stack([img[:, i:i + w] for i in range(n)])


@pytest.fixture(scope="module")
def video():
    frames = scene()
    dense = np.stack([cv2.resize(f, (W // 2, H // 2), interpolation=cv2.INTER_AREA) for f in scene(8, seed=1)])
    return {
        "frames": frames, "dense": dense,
        "kw": dict(boxes=np.repeat(BOX[None], len(POS), 0) + np.arange(len(POS))[:, None],
                   landmarks=np.repeat(LM[None], len(POS), 0) + np.arange(len(POS))[:, None, None],
                   positions=POS, dense_boxes=np.repeat(BOX[None] / 2, 8, 0), seed=SEED),
    }


@pytest.fixture(scope="module")
def donor():
    rng = np.random.default_rng(5)
    img = np.clip(rng.normal(90, 30, (H, W, 3)), 0, 255).astype(np.uint8)
    frames = np.repeat(img[None], 3, 0)
    return make_donor_entry(frames, np.repeat(BOX[None], 3, 0), np.repeat(LM[None], 3, 0), identity="other", n=3,
                            size=96)


def test_the_grammar_parses_and_refuses():
    assert parse_variant("orig") == ("orig", 1, None, ())
    assert parse_variant("selfblend#2") == ("selfblend", 2, None, ())
    assert parse_variant("selfblend:lower") == ("selfblend", 1, "lower", ())
    assert parse_variant("selfblend:eyes#3") == parse_variant("selfblend#3:eyes")
    assert parse_variant("generator:lower+h264#2+perturb:blur").augs == (("h264", None, 2), ("perturb", "blur", 1))
    assert parse_variant("swap+reencode").augs == (("reencode", None, 1),)
    for bad in ["fake", "orig:lower", "orig#2", "selfblend#0", "selfblend:ears", "selfblend#2:face#3",
                "selfblend+jpeg", "selfblend+perturb", "selfblend+h264:30", "orig+perturb:sepia",
                "orig+perturb:flip", "orig+perturb:fps15", "orig+perturb:blur+noise", ""]:
        with pytest.raises(ValueError):
            parse_variant(bad)


def test_labels_methods_and_donors():
    assert not is_synthetic_fake("orig") and not is_synthetic_fake("orig+h264+perturb:text")
    for v in ["selfblend", "selfblend+reencode", "selfblend#4:lower+h264", "swap", "generator:eyes"]:
        assert is_synthetic_fake(v)
    assert [is_synthetic_fake(v) for v in VARIANTS] == [False, True, False, True]
    assert synthetic_method("orig+reencode") is None
    assert synthetic_method("selfblend#3+h264") == "selfblend"
    assert synthetic_method("generator:lower+reencode") == "generator:lower"
    assert needs_donor("swap:eyes+h264") and needs_donor("dfswap+h264") and needs_donor("rswap")
    assert not needs_donor("selfblend")


def test_original_variants_are_unchanged(video):
    """``selfblend`` and ``+reencode`` are exactly what trained the shipped model."""
    f, d, kw = video["frames"], video["dense"], video["kw"]
    out, dense = variant_frames(f, d, "selfblend", **kw)
    sb = self_blend_frames(f[POS], kw["boxes"], kw["landmarks"], seed=SEED)
    assert np.array_equal(out[POS], sb.frames) and np.array_equal(out[[1, 4]], f[[1, 4]])
    assert np.array_equal(dense, self_blend_frames(d, kw["dense_boxes"], None, seed=SEED).frames)
    rng = np.random.default_rng(SEED + 1)  # the original draw, spelled out
    q = int(rng.integers(35, 90))
    scale = float(rng.uniform(0.35, 0.75)) if rng.random() < 0.5 else 1.0
    assert draw_augmentation("reencode", SEED) == {"quality": q, "scale": scale}
    o2, d2 = variant_frames(f, d, "selfblend+reencode", **kw)
    assert np.array_equal(o2, reencode_frames(out, quality=q, scale=scale))
    assert np.array_equal(d2, reencode_frames(dense, quality=q, scale=scale))
    o3, d3 = variant_frames(f, d, "orig", **kw)
    assert o3 is f and d3 is d
    # another seed index is another fake; index 1 is the plain name
    assert np.array_equal(variant_frames(f, d, "selfblend#1", **kw)[0], out)
    assert not np.array_equal(variant_frames(f, d, "selfblend#2", **kw)[0], out)


@pytest.mark.parametrize("variant", ["orig", "selfblend", "selfblend#2:lower", "selfblend:eyes", "selfblend:face",
                                     "generator", "generator:lower", "swap", "swap:eyes", "dfswap",
                                     "rswap"])
def test_masks_are_the_truth_of_every_variant(video, donor, variant):
    f, d, kw = video["frames"], video["dense"], video["kw"]
    res = variant_frames(f, d, variant, donor=donor, return_masks=True, **kw)
    assert isinstance(res, VariantFrames)
    assert res.masks.shape == f.shape[:3] and res.masks.dtype == np.float32
    assert res.dense_masks.shape == d.shape[:3]
    if variant == "orig":
        assert not res.masks.any() and not res.dense_masks.any()
        return
    off = np.setdiff1d(np.arange(N), POS)
    assert not res.masks[off].any() and np.array_equal(res.frames[off], f[off])
    for i in POS:
        assert res.masks[i].max() > 0.3
        out = res.masks[i] == 0
        assert np.array_equal(res.frames[i][out], f[i][out])
    assert res.dense_masks.max() > 0.3
    out = res.dense_masks == 0
    assert np.array_equal(res.dense[out], d[out])
    # without dense boxes the dense frames stay real, and their masks say so
    res2 = variant_frames(f, d, variant, donor=donor, return_masks=True, **dict(kw, dense_boxes=None))
    assert np.array_equal(res2.dense, d) and not res2.dense_masks.any()
    assert variant_frames(f, None, variant, donor=donor, return_masks=True, **kw).dense_masks is None


def test_the_old_call_still_works_and_swap_needs_a_donor(video):
    f, d, kw = video["frames"], video["dense"], video["kw"]
    res = variant_frames(f, d, "selfblend:lower+h264", **kw)
    assert isinstance(res, tuple) and len(res) == 2 and res[0].shape == f.shape and res[1].shape == d.shape
    with pytest.raises(ValueError):
        variant_frames(f, d, "swap", **kw)


@pytest.mark.parametrize("aug", ["perturb:noise", "perturb:text", "reencode"])
def test_augmentations_draw_alike_for_the_real_and_the_fake_copy(video, donor, aug):
    f, d, kw = video["frames"], video["dense"], video["kw"]
    real = variant_frames(f, d, "orig+" + aug, **kw)[0]
    for base in ("selfblend", "selfblend#3:lower", "generator:eyes", "swap"):
        fake = variant_frames(f, d, f"{base}+{aug}", donor=donor, return_masks=True, **kw)
        far = cv2.dilate((fake.masks > 0).any(axis=0).astype(np.uint8), np.ones((33, 33), np.uint8)) == 0
        if aug == "reencode":  # JPEG works in 8x8 blocks: compare whole blocks away from the blend
            far = cv2.erode(far.astype(np.uint8), np.ones((17, 17), np.uint8)).astype(bool)
        assert far.mean() > 0.2
        assert np.array_equal(fake.frames[:, far], real[:, far]), base
    # and the draw depends on the video: other seeds, other draws
    draws = {str(draw_augmentation(aug, s)) for s in range(8)}
    assert len(draws) > 1


def test_h264_augmentation_is_a_real_codec_with_one_draw_per_video(video):
    f, d, kw = video["frames"], video["dense"], video["kw"]
    draws = [draw_augmentation("h264", s) for s in range(60)]
    crfs = [x["crf"] for x in draws]
    assert min(crfs) >= 18 and max(crfs) <= 40 and len(set(crfs)) > 10
    scales = [x["scale"] for x in draws]
    assert 0.3 < np.mean([s < 1 for s in scales]) < 0.7 and min(scales) >= 0.4
    assert draw_augmentation("h264", SEED) == draw_augmentation("h264", SEED)
    assert draw_augmentation("h264#2", SEED) != draw_augmentation("h264", SEED)
    real, rd = variant_frames(f, d, "orig+h264", **kw)
    assert real.shape == f.shape and rd.shape == d.shape and not np.array_equal(real, f)
    fake = variant_frames(f, d, "selfblend:lower+h264", return_masks=True, **kw)
    far = cv2.dilate((fake.masks > 0).any(axis=0).astype(np.uint8), np.ones((33, 33), np.uint8)) == 0
    # the same encode settings: away from the blend the copies differ only as much as rate control lets them
    assert np.abs(fake.frames[:, far].astype(float) - real[:, far]).mean() < 1.5
    p = draw_augmentation("h264", SEED)
    lossy = 10 * np.log10(255 ** 2 / np.mean((real.astype(float) - f) ** 2))
    assert lossy < 45, (p, lossy)


def test_cache_keys_keep_the_old_names_and_tell_donors_apart(donor):
    for v in VARIANTS:
        assert variant_cache_key(v) == v  # existing feature caches stay valid
    assert variant_cache_key("selfblend:lower") != "selfblend:lower"
    crops = donor.crops.copy()
    crops[0, 0, 0, 0] ^= 1  # one bit of one pixel
    other = donor._replace(crops=crops)
    assert variant_cache_key("swap", donor) != variant_cache_key("swap", other)
    assert variant_cache_key("swap", donor) == variant_cache_key("swap", donor)
    with pytest.raises(ValueError):
        variant_cache_key("swap")


def test_random_perturbation_is_drawn_per_video_and_shared_by_its_copies():
    from synthesis.perturb import PERTURBATIONS
    from synthesis.variants import draw_augmentation

    kinds = {draw_augmentation("perturb:random", s)["kind"] for s in range(60)}
    assert len(kinds) >= 5 and all(PERTURBATIONS[k].keeps_geometry for k in kinds)
    assert draw_augmentation("perturb:random", 7) == draw_augmentation("perturb:random", 7)
