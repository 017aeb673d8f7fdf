"""Every feature a calculator returns has a plain-language phrase, and no phrase outlives its feature.

The reports show :func:`features.registry.describe_column` beside each column name, so a calculator that
gains a feature without declaring its phrase in ``Calculator.features`` (or keeps a phrase for a feature
it no longer returns) fails here.
"""
from __future__ import annotations

import numpy as np
import pytest

from features.registry import FAMILY_MODULES, STAT_PHRASES, all_calculators, describe_column
from features.track import DenseWindow, build_track

FPS = 30.0
#: longest phrase accepted: one line in a report table
MAX_PHRASE = 100


def _synthetic_clip(m=48, h=120, w=160, seed=0):
    """A noisy textured face ellipse drifting over a static textured background, with its boxes and
    five landmarks per frame (eyes, nose, mouth corners) in frame pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    bg = 110 + 25 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 11.0)[..., None] + 10 * rng.standard_normal((h, w, 3))
    skin = np.array([190.0, 140.0, 115.0])
    bw, bh = 50.0, 60.0
    frames = np.empty((m, h, w, 3), np.uint8)
    boxes = np.empty((m, 4))
    lms = np.empty((m, 5, 2))
    unit = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]])
    for i in range(m):
        cx, cy = w / 2 + 6 * np.sin(i / 9.0), h / 2 + 3 * np.cos(i / 13.0)
        boxes[i] = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
        lms[i] = boxes[i, :2] + unit * (bw, bh)
        face = ((xx - cx) / (bw / 2)) ** 2 + ((yy - cy) / (0.6 * bh)) ** 2 <= 1
        tex = skin * (1 + 0.05 * np.sin((xx - cx) / 3.0) * np.sin((yy - cy) / 4.0))[..., None]
        img = np.where(face[..., None], tex, bg) + 2 * rng.standard_normal((h, w, 3))
        frames[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return frames, boxes, lms


@pytest.fixture(scope="module")
def track():
    """Six sparse frames with the whole 48-frame clip (1.6 s) as the dense window, 64-px crops."""
    frames, boxes, lms = _synthetic_clip()
    idx = np.linspace(0, len(frames) - 1, 6).round().astype(int)
    dense = DenseWindow(frames=frames, boxes=boxes, fps=FPS, start_index=0, scale=1.0)
    return build_track(frames[idx], boxes[idx], landmarks=lms[idx], frame_index=idx, fps=FPS, size=64,
                       dense=dense, video_info={"bits_per_pixel": 0.1})


@pytest.fixture(scope="module")
def outputs(track):
    return {c.key: c.func(track) for c in all_calculators()}


def _check_declared(calc, returned):
    undocumented = sorted(set(returned) - set(calc.features))
    stale = sorted(set(calc.features) - set(returned))
    assert not undocumented, f"{calc.key} returns features without a phrase in Calculator.features: {undocumented}"
    assert not stale, f"{calc.key} declares phrases for features it does not return: {stale}"


def test_every_family_is_covered(outputs):
    assert {c.family for c in all_calculators()} == {m.rsplit(".", 1)[1] for m in FAMILY_MODULES}
    assert all(out for out in outputs.values())


@pytest.mark.parametrize("calc", all_calculators(), ids=lambda c: c.key)
def test_returned_features_and_declared_phrases_match(calc, outputs):
    _check_declared(calc, outputs[calc.key])


def test_degenerate_tracks_return_the_same_names():
    """The NaN paths (no dense window, a frame too small for the PRNU window) return the declared names too."""
    frames, boxes, _ = _synthetic_clip(m=3, h=24, w=24)
    small = build_track(frames, boxes * 0.25 + 8, size=32)
    for calc in all_calculators():
        _check_declared(calc, calc.func(small))


@pytest.mark.parametrize("calc", all_calculators(), ids=lambda c: c.key)
def test_phrases_are_short_lowercase_noun_phrases(calc):
    for feature, phrase in calc.features.items():
        assert isinstance(phrase, str) and phrase.strip() == phrase and phrase, (calc.key, feature)
        assert "\n" not in phrase and len(phrase) <= MAX_PHRASE, (calc.key, feature, len(phrase))
        assert phrase[0].islower() and not phrase.endswith("."), (calc.key, feature, phrase)


def test_every_column_gets_a_sentence(outputs):
    for calc in all_calculators():
        for feature, value in outputs[calc.key].items():
            stats = ["value"] if np.ndim(np.asarray(value)) == 0 else [s for s in STAT_PHRASES if s != "value"]
            for stat in stats:
                text = describe_column(f"{calc.family}__{feature}__{stat}")
                assert text and calc.features[feature] in text, (calc.key, feature, stat)


@pytest.mark.parametrize("column, sentence", [
    ("wavelet__e_l1d_kurt__std",
     "how much the peakedness of the log error predicting fine diagonal wavelet detail from neighbours "
     "varies across frames"),
    ("wavelet__c_l3h_logvar__mean", "log variance of coarse horizontal wavelet detail in the face (average over frames)"),
    ("spectral__az02__q90",
     "log power of the face crop at spatial frequencies 12-19% of the highest (high end over frames, 90th percentile)"),
    ("spectral__fb07__q50", "face-minus-background log power at spatial frequencies 88-100% of the highest "
                            "(median over frames)"),
    ("blending__noise_band__q10",
     "log ratio of wavelet noise level just inside vs just outside the face contour (low end over frames, "
     "10th percentile)"),
    ("temporal__pulse_rate__value",
     "pulse rate read from the face's skin colour (strongest frequency, Hz) (whole track)"),
    ("temporal__chroma_rg_d2__value",
     "frame-to-frame flicker (second difference) of the log face/background redness (R/G) (whole track)"),
    ("prnu__srm_second_entropy_diff__std",
     "how much the face-minus-background variety (entropy) of 3-pixel patterns of second-difference noise "
     "varies across frames"),
    ("meta__side_rel__mean", "face-box side as a share of the frame height (average over frames)"),
    ("spectral__no_such_feature__mean", ""),
    ("not a column", ""),
])
def test_describe_column_sentences(column, sentence):
    assert describe_column(column) == sentence
