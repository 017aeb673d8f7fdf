"""Per-video explanation: why one video got its score.

:func:`write_explanation` splits the model's raw score for one face track
into one additive contribution per feature (LightGBM's TreeSHAP,
``pred_contrib=True``; Lundberg et al., "From local explanations to global
understanding with explainable AI for trees", Nature Machine Intelligence
2020), so that ``expected value + sum(contributions) == raw score`` exactly,
and writes for the video, under ``out_dir/<video>/``:

``explanation.json``
    score, probability, the features pushing most towards fake and towards
    real (value, contribution, family), contributions summed per family;
``explanation.html``
    the same as a self-contained page (images embedded), for an analyst;
``contact_sheet.png``
    the sampled face crops with the face-mask outline (and landmarks);
``map_<name>.png``
    spatial maps where a feature family supports one: the local
    high-frequency energy behind the blending-boundary features, the local
    agreement of the sensor noise with the video's PRNU fingerprint, the
    face's power spectrum behind the spectral features, and any map the
    caller passes.

:func:`write_index` adds ``out_dir/index.html`` listing every explained video.
"""
from __future__ import annotations

import functools
import html
import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from features.maps import MapImage, crop_context, host_array
from features.registry import all_maps, describe_column, family_of, parse_column
from modeling.card import feature_ranges
from modeling.detector import read_training_table

from .evaluation import jsonable
from .html import Html, cell, fig_to_data_uri, fig_to_png, html_page, html_table, png_to_data_uri, pyplot
from .model_report import sum_by_family

__all__ = [
    "Explanation",
    "explain_row",
    "contact_sheet",
    "family_maps",
    "write_explanation",
    "write_index",
    "safe_name",
    "reference_ranges",
]

TOP_K = 10
#: frames shown on the contact sheet at most
SHEET_FRAMES = 16
SHEET_TILE = 160


class Explanation(NamedTuple):
    """One feature row explained."""

    columns: list  #: model input names, in order
    values: np.ndarray  #: (n_features,) the row (NaN = missing)
    contrib: np.ndarray  #: (n_features,) contribution of each feature to the raw score
    expected: float  #: the model's expected raw score (the bias term)
    raw: float  #: raw score (log-odds margin) = expected + contrib.sum()
    prob: float  #: calibrated, clipped P(fake)


def explain_row(model, features: dict) -> Explanation:
    """Contributions of each feature to the score of one feature row.

    ``model`` follows :class:`modeling.detector.DetectorModel`
    (``feature_names``, ``raw_score``, ``predict_proba``, ``contributions``).
    Columns absent from ``features`` are missing values (NaN), as in prediction.
    """
    names = list(model.feature_names)
    x = np.array([[_as_float(features.get(n, math.nan)) for n in names]], dtype=np.float64)
    c = np.asarray(model.contributions(x), dtype=np.float64).reshape(1, -1)
    if c.shape[1] != len(names) + 1:
        raise ValueError(f"contributions have {c.shape[1]} columns, expected {len(names) + 1}")
    raw = float(np.asarray(model.raw_score(x)).ravel()[0])
    prob = float(np.asarray(model.predict_proba(x)).ravel()[0])
    return Explanation(names, x[0], c[0, :-1], float(c[0, -1]), raw, prob)


def _as_float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


@functools.lru_cache(maxsize=4)
def reference_ranges(model_dir: str) -> dict:
    """:func:`modeling.card.feature_ranges` of a model directory's training table (``{}`` without one); cached."""
    import json

    card_path = Path(model_dir) / "model_card.json"
    if not card_path.is_file():
        return {}
    columns = list(json.loads(card_path.read_text())["features"])
    table = read_training_table(str(model_dir), columns)
    if table is None or not np.isfinite(table.labels).any():
        return {}
    return feature_ranges(table.X, table.labels, columns)


def safe_name(video_name: str, *, max_len: int = 120) -> str:
    """A folder name for a video: path separators become ``__``, other odd characters ``_``."""
    s = re.sub(r"[\\/]+", "__", str(video_name).strip().lstrip("/\\"))
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._") or "video"
    if len(s) > max_len:
        import hashlib

        s = s[: max_len - 11] + "_" + hashlib.sha1(s.encode()).hexdigest()[:10]
    return s


def _feature_entry(e: Explanation, i: int, reference: dict) -> dict:
    try:
        fam, feat, stat = parse_column(e.columns[i])
    except ValueError:
        fam, feat, stat = family_of(e.columns[i]), e.columns[i], ""
    ref = reference.get(e.columns[i]) or {}
    return {"column": e.columns[i], "family": fam, "feature": feat, "stat": stat,
            "description": describe_column(e.columns[i]),
            "value": float(e.values[i]), "contribution": float(e.contrib[i]),
            "typical_real": ref.get("real"), "typical_fake": ref.get("fake")}


def _top(e: Explanation, k: int, reference: dict):
    order = np.argsort(-e.contrib, kind="stable")
    fake = [_feature_entry(e, i, reference) for i in order[:k] if e.contrib[i] > 0]
    order = np.argsort(e.contrib, kind="stable")
    real = [_feature_entry(e, i, reference) for i in order[:k] if e.contrib[i] < 0]
    return fake, real


# ----------------------------------------------------------------------------- images
def contact_sheet(crops, face_mask, *, landmarks=None, frame_index=None, max_frames: int = SHEET_FRAMES,
                  tile: int = SHEET_TILE, columns: int = 4) -> np.ndarray:
    """Tile sampled face crops with the face-mask outline drawn on each.

    Parameters
    ----------
    crops : (T, S, S, 3) RGB in [0, 255] (NumPy or CuPy)
    face_mask : (T, S, S), outlined where it crosses 0.5
    landmarks : (T, 5, 2) crop coordinates or None (NaN rows are skipped)
    frame_index : (T,) labels printed on the tiles, or None
    max_frames : at most this many frames, evenly spaced over the track

    Returns
    -------
    uint8 (rows * tile, columns * tile, 3) RGB image
    """
    import cv2

    crops = host_array(crops)
    masks = host_array(face_mask)
    t = crops.shape[0]
    if t == 0:
        return np.zeros((tile, tile, 3), np.uint8)
    pick = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    columns = int(min(columns, len(pick)))
    rows = int(math.ceil(len(pick) / columns))
    sheet = np.full((rows * tile, columns * tile, 3), 255, np.uint8)
    lms = host_array(landmarks)
    for n, i in enumerate(pick):  # at most max_frames tiles: drawing, not numerics
        s = crops.shape[1]
        img = np.ascontiguousarray(np.clip(crops[i], 0, 255).astype(np.uint8))
        img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        m = cv2.resize((masks[i] > 0.5).astype(np.uint8), (tile, tile), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(img, contours, -1, (0, 255, 0), 1, lineType=cv2.LINE_AA)
        if lms is not None:
            for x, y in lms[i] * (tile / s):
                if np.isfinite(x) and np.isfinite(y):
                    cv2.circle(img, (int(round(x)), int(round(y))), 2, (255, 64, 64), -1, lineType=cv2.LINE_AA)
        label = f"#{int(frame_index[i])}" if frame_index is not None else f"{i}"
        cv2.putText(img, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(n, columns)
        sheet[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = img
    return sheet


def family_maps(track, families=None) -> dict[str, MapImage]:
    """The maps that the feature families declare (``MAPS``) for ``families`` (None: all), where
    ``track`` allows them."""
    out = {}
    for spec in all_maps():
        if families is not None and spec.family not in families:
            continue
        try:
            m = spec.func(track)
        except Exception:  # noqa: BLE001 - a map is an illustration; never fatal
            m = None
        if m is not None and np.ndim(m.values) == 2 and np.isfinite(m.values).any():
            out[spec.name] = m
    return out


def _render_map(name: str, m: MapImage):
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    v = np.asarray(m.values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
    if m.symmetric:
        hi = max(abs(lo), abs(hi), 1e-12)
        lo = -hi
    if m.base is not None:
        ax.imshow(m.base, cmap="gray", vmin=0, vmax=255)
        im = ax.imshow(v, cmap=m.cmap, alpha=0.75, vmin=lo, vmax=hi)
    else:
        im = ax.imshow(v, cmap=m.cmap, vmin=lo, vmax=hi)
    if m.outline is not None:
        ax.contour(m.outline, levels=[0.5], colors="lime", linewidths=0.9)
    if m.band is not None:
        ax.contour(m.band, levels=[0.5], colors="cyan", linewidths=0.7, linestyles="dashed")
    ax.set_title(name, fontsize=10)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    return fig


def _contrib_figure(e: Explanation, k: int):
    plt = pyplot()

    order = np.argsort(-np.abs(e.contrib), kind="stable")[: 2 * k]
    order = order[np.abs(e.contrib[order]) > 0]
    fig, ax = plt.subplots(figsize=(8, max(1.8, 0.6 + 0.3 * len(order))))
    y = np.arange(len(order))[::-1]
    vals = e.contrib[order]
    ax.barh(y, vals, color=["#c0392b" if v > 0 else "#27864a" for v in vals])
    ax.set_yticks(y)
    ax.set_yticklabels([f"{e.columns[i]} = {_short(e.values[i])}" for i in order], fontsize=8)
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_xlabel("contribution to the raw score (log-odds): red pushes towards fake, green towards real",
                  fontsize=8)
    ax.set_title(f"expected {e.expected:+.2f}  +  contributions {e.contrib.sum():+.2f}  =  raw score {e.raw:+.2f}",
                 fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _short(v: float) -> str:
    return "missing" if not np.isfinite(v) else f"{v:.4g}"


def _write_png(path: Path, rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    path.write_bytes(data)
    return data


def _verdict(prob: float) -> tuple[str, str]:
    if prob >= 0.7:
        return "likely FAKE", "fake"
    if prob <= 0.3:
        return "likely REAL", "real"
    return "uncertain", "unsure"


# ----------------------------------------------------------------------------- writer
def write_explanation(out_dir, video_name: str, *, model, features: dict, track=None, maps: dict | None = None,
                      top_k: int = TOP_K, reference: dict | None = None, score=None) -> dict:
    """Explain one video's score and write JSON, HTML and images under ``out_dir/<video>/``.

    Parameters
    ----------
    out_dir : folder for all explanations (created)
    video_name : the video's name or path; it names the sub-folder (see :func:`safe_name`)
    model : a :class:`modeling.detector.DetectorModel` (or any object with its interface)
    features : ``{column: value}`` for the scored face track
    score : its :class:`modeling.detector.TrackScore` when the model scores tracks by the mean over segment
        rows (then contributions are the mean of the segments'); None: explain ``features`` as one row
    track : the :class:`features.track.FaceTrack` that was scored, or None (no images then)
    maps : extra ``{name: 2-D array or MapImage}`` maps to show (crop-sized arrays are drawn over the face)
    top_k : features listed in each direction
    reference : ``{column: {"real": [q10, q50, q90], "fake": [...]}}`` typical training values
        (:func:`reference_ranges`); default ``model.card["feature_ranges"]`` when present

    Returns
    -------
    dict, the content of ``explanation.json``
    """
    e = explain_row(model, features) if score is None else Explanation(
        list(model.feature_names), np.asarray(score.values, float), np.asarray(score.contrib, float),
        float(score.expected), float(score.raw), float(score.prob))
    folder = Path(out_dir) / safe_name(video_name)
    folder.mkdir(parents=True, exist_ok=True)
    card = getattr(model, "card", {}) or {}
    if reference is None:
        reference = card.get("feature_ranges") or {}
    top_fake, top_real = _top(e, top_k, reference)
    fam = sum_by_family(e.contrib, e.columns)
    families = {k: float(v) for k, v in sorted(fam.items(), key=lambda kv: -abs(float(kv[1])))}
    result = {
        "video": str(video_name),
        "prob_fake": e.prob,
        "raw_score": e.raw,
        "expected_value": e.expected,
        "contribution_sum": float(e.contrib.sum()),
        "additivity_error": float(e.expected + e.contrib.sum() - e.raw),
        "calibration": card.get("calibration"),
        "n_features": len(e.columns),
        "n_missing": int(np.sum(~np.isfinite(e.values))),
        "missing": [c for c, v in zip(e.columns, e.values) if not np.isfinite(v)],
        "top_fake": top_fake,
        "top_real": top_real,
        "families": families,
        "experts": None if score is None else getattr(score, "experts", None),
        "images": {},
        "maps": {},
    }
    images: dict[str, str] = {}
    if track is not None:
        sheet = contact_sheet(track.crops, track.face_mask, landmarks=getattr(track, "landmarks", None),
                              frame_index=getattr(track, "frame_index", None))
        images["contact_sheet"] = png_to_data_uri(_write_png(folder / "contact_sheet.png", sheet))
        result["images"]["contact_sheet"] = "contact_sheet.png"
    used = {family_of(c) for c in e.columns}
    maps_out: dict[str, MapImage] = family_maps(track, used) if track is not None else {}
    for name, m in (maps or {}).items():
        if isinstance(m, MapImage):
            maps_out[str(name)] = m
            continue
        m = np.asarray(m, dtype=np.float64)
        if m.ndim != 2:
            continue
        ctx = crop_context(track) if track is not None and m.shape == tuple(track.face_mask.shape[1:]) else {}
        maps_out[str(name)] = MapImage(m, "Supplied by the feature pipeline.", **ctx)
    for name, m in maps_out.items():
        fname = f"map_{safe_name(name)}.png"
        png = fig_to_png(_render_map(name, m))
        (folder / fname).write_bytes(png)
        images[f"map:{name}"] = png_to_data_uri(png)
        result["maps"][name] = {"file": fname, "description": m.description}
    result["folder"] = str(folder)
    result["html"] = "explanation.html"
    chart = fig_to_data_uri(_contrib_figure(e, top_k))
    result = jsonable(result)
    (folder / "explanation.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    (folder / "explanation.html").write_text(_page(result, chart, images), encoding="utf-8")
    return result


def _range(q) -> str:
    if not q or q[0] is None or q[-1] is None:
        return "&ndash;"
    return f"{q[0]:.3g} &ndash; {q[-1]:.3g}"


def _name_cell(d: dict) -> Html:
    """The column name with its plain-language description under it."""
    desc = d.get("description") or ""
    return Html(f"<code>{html.escape(d['column'])}</code>"
                + (f'<br><span class="note">{html.escape(desc)}</span>' if desc else ""))


def _rows(entries, ranges: bool):
    if not ranges:
        return [[_name_cell(d), d["family"], d["value"], d["contribution"]] for d in entries]
    return [[_name_cell(d), d["family"], d["value"], Html(_range(d.get("typical_real"))),
             Html(_range(d.get("typical_fake"))), d["contribution"]] for d in entries]


TOP_HEADERS = ["measurement", "family", "value", "contribution"]
TOP_HEADERS_RANGES = ["measurement", "family", "value", "real 10-90 %", "fake 10-90 %", "contribution"]


def _missing_note(r: dict) -> str:
    """"N of M measurements were missing", naming them (a missing value is one the track could not give)."""
    missing = r.get("missing") or []
    if not missing:
        return f"All {r['n_features']} measurements were available."
    shown = ", ".join(f"<code>{html.escape(c)}</code>" for c in missing[:20])
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    return (f"{len(missing)} of {r['n_features']} measurements were missing (the model treats them as unknown): "
            f"{shown}{more}.")


def _page(r: dict, chart_uri: str, images: dict) -> str:
    word, cls = _verdict(r["prob_fake"])
    ranges = any(d.get("typical_real") or d.get("typical_fake") for d in r["top_fake"] + r["top_real"])
    headers = TOP_HEADERS_RANGES if ranges else TOP_HEADERS
    fam_rows = [[k, v] for k, v in r["families"].items()]
    body = [
        f"<h1>{html.escape(r['video'])}</h1>",
        f'<p><span class="verdict {cls}">{word}: P(fake) = {r["prob_fake"]:.2f}</span></p>',
        '<p class="note">The detector measures forensic traces on the face in sampled frames and adds up their '
        "evidence. The raw score is the model's log-odds: the expected value (its average over training) plus "
        "one contribution per measurement. Positive contributions (<span class=\"pos\">red</span>) push towards "
        "fake, negative (<span class=\"neg\">green</span>) towards real. "
        f"Here: expected {r['expected_value']:+.3f} + contributions {r['contribution_sum']:+.3f} = raw "
        f"{r['raw_score']:+.3f}, mapped to P(fake) {r['prob_fake']:.3f} by the calibration. "
        f"{_missing_note(r)}</p>",
        '<section id="contributions"><h2>Evidence</h2>',
        f'<img src="{chart_uri}" alt="largest contributions">',
        "<h3>Towards fake</h3>",
        html_table(_rows(r["top_fake"], ranges), headers, left=2)
        if r["top_fake"] else '<p class="note">none</p>',
        "<h3>Towards real</h3>",
        html_table(_rows(r["top_real"], ranges), headers, left=2)
        if r["top_real"] else '<p class="note">none</p>',
        '<p class="note">Value ranges: 10th to 90th percentile of the training videos of each class.</p>'
        if ranges else "",
        "<h3>Per family</h3>",
        html_table(fam_rows, ["family", "summed contribution"]),
    ]
    if r.get("experts"):
        body += ["<h3>Per expert</h3>",
                 html_table([[k, v] for k, v in r["experts"].items()], ["expert", "share of the raw score"]),
                 '<p class="note">This model combines experts (<code>all</code>: every measurement, trained on '
                 "every kind of fake; a family name: that family only; <code>@collected</code>: trained on real "
                 "videos and real generator output only, so it speaks for the generated-face cue). Their shares "
                 "and the intercept add up to the raw score.</p>"]
    body += [
        "</section>",
    ]
    if "contact_sheet" in images:
        body += ['<section id="faces"><h2>Face crops analysed</h2>',
                 f'<img src="{images["contact_sheet"]}" alt="contact sheet of face crops">',
                 '<p class="note">Sampled frames (frame number top left); the green outline is the face region the '
                 "measurements compare with its surround; red dots are detected landmarks. Check that the right "
                 "face was tracked.</p></section>"]
    if r["maps"]:
        body.append('<section id="maps"><h2>Maps</h2>')
        for name, info in r["maps"].items():
            body.append(f"<h3>{html.escape(name)}</h3>"
                        f'<img src="{images["map:" + name]}" alt="{html.escape(name)} map">'
                        f'<p class="note">{html.escape(info["description"])}</p>')
        body.append("</section>")
    cal = r.get("calibration") or {}
    if cal:
        body.append(f'<p class="note">Calibration: {html.escape(str(cal.get("method", "")))}, a = '
                    f'{cell(cal.get("a"))}, b = {cell(cal.get("b"))}.</p>')
    return html_page(f"Explanation: {r['video']}", "\n".join(body))


def write_index(out_dir) -> Path:
    """Write ``out_dir/index.html``: every explained video, most suspicious first, linked to its page."""
    out_dir = Path(out_dir)
    entries = []
    for p in sorted(out_dir.glob("*/explanation.json")):
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        top = ", ".join(t["column"] for t in d.get("top_fake", [])[:3])
        entries.append((d.get("prob_fake") or 0.0, p.parent.name, d.get("video", p.parent.name),
                        d.get("raw_score"), top))
    entries.sort(key=lambda t: -t[0])
    rows = "".join(
        f'<tr><td class="l"><a href="{html.escape(folder)}/explanation.html">{html.escape(video)}</a></td>'
        f"<td>{cell(prob)}</td><td>{cell(raw)}</td><td class=\"l\">{html.escape(top)}</td></tr>"
        for prob, folder, video, raw, top in entries)
    body = ("<h1>Explained videos</h1><table><thead><tr><th class=\"l\">video</th><th>P(fake)</th><th>raw</th>"
            f"<th class=\"l\">strongest evidence towards fake</th></tr></thead><tbody>{rows}</tbody></table>")
    path = out_dir / "index.html"
    path.write_text(html_page("Explained videos", body), encoding="utf-8")
    return path
