"""Self-contained HTML report of a trained detector, for an analyst.

:func:`build_report` reads only the files of a model directory
(``model.txt``, ``model_card.json``, ``oof.csv``, ``features.csv``) and writes
``report.html`` with every plot embedded as a PNG data URI, so the file can be
mailed or archived on its own (no scripts, no external URLs).

Sections
--------
summary       what the model is, what it was trained on, how it is calibrated
cv            cross-validated metrics (from the model card and recomputed from
              the out-of-fold scores, with a bootstrap interval for the AUC)
importance    LightGBM split and gain importance, per feature and summed per family
contributions per-video additive contributions (``pred_contrib=True``, the
              TreeSHAP values of Lundberg et al. 2020), mean absolute value per
              feature and per family
roc           out-of-fold ROC curves, overall and per manipulation method
calibration   reliability diagram of the calibrated out-of-fold probability
scores        score histograms per class and per manipulation method
errors        the most confident out-of-fold mistakes
provenance    data sources, parameters, library versions
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from features.registry import all_calculators, describe_column, family_of
from modeling import metrics
from modeling.detector import load_model_folder

from .evaluation import strip_common_prefix as _relativize
from .html import cell, fig_to_data_uri, html_page, html_table, img, note, pyplot, section

__all__ = ["SECTIONS", "sum_by_family", "contribution_summary", "build_report"]

#: section ids of the report, in page order (tests check every one is present)
SECTIONS = ("summary", "cv", "importance", "contributions", "roc", "calibration", "scores", "errors", "robustness",
            "provenance")
TOP_FEATURES = 25

# ----------------------------------------------------------------------------- numbers
def sum_by_family(values: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
    """Sum the last axis of ``values`` (one entry per column) within each family."""
    values = np.asarray(values, dtype=np.float64)
    fams = [family_of(c) for c in columns]
    out = {}
    for fam in dict.fromkeys(fams):
        idx = [i for i, f in enumerate(fams) if f == fam]
        out[fam] = values[..., idx].sum(axis=-1)
    return out


class ContributionSummary(NamedTuple):
    """Per-video additive contributions of a LightGBM model, summarised."""

    contrib: np.ndarray  #: (n, n_features) contributions to the raw margin
    expected: float  #: expected value (the bias column)
    max_additivity_error: float  #: max |sum(contrib) + expected - raw margin|
    feature_mean_abs: np.ndarray  #: (n_features,) mean |contribution|
    family_mean_abs: dict  #: family -> mean over videos of |sum of its contributions|
    family_mean_fake: dict  #: family -> mean summed contribution over fake videos
    family_mean_real: dict  #: family -> mean summed contribution over real videos


def contribution_summary(booster, X: np.ndarray, columns: list[str], labels=None) -> ContributionSummary:
    """TreeSHAP contributions (``booster.predict(X, pred_contrib=True)``) summarised per feature and family.

    A family's contribution to one video is the sum of its features'
    contributions (SHAP values are additive), so ``family_mean_abs`` is the
    mean of ``|sum over the family|``, not the sum of per-feature means.
    """
    X = np.asarray(X, dtype=np.float64)
    c = np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)
    raw = np.asarray(booster.predict(X, raw_score=True), dtype=np.float64)
    contrib, bias = c[:, :-1], c[:, -1]
    err = float(np.max(np.abs(c.sum(axis=1) - raw))) if len(raw) else 0.0
    fam = sum_by_family(contrib, columns)
    y = np.full(len(X), np.nan) if labels is None else np.asarray(labels, dtype=np.float64)

    def mean(a, sel):
        return float(a[sel].mean()) if np.any(sel) else math.nan

    return ContributionSummary(
        contrib=contrib,
        expected=float(bias[0]) if len(bias) else math.nan,
        max_additivity_error=err,
        feature_mean_abs=np.abs(contrib).mean(axis=0) if len(X) else np.zeros(len(columns)),
        family_mean_abs={k: float(np.abs(v).mean()) if v.size else math.nan for k, v in fam.items()},
        family_mean_fake={k: mean(v, y == 1) for k, v in fam.items()},
        family_mean_real={k: mean(v, y == 0) for k, v in fam.items()},
    )


def _family_descriptions() -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for c in all_calculators():
        out.setdefault(c.family, []).append(f"{c.name}: {c.description}" if c.description else c.name)
    return {k: "; ".join(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- plots
def _short_label(text, n: int = 40) -> str:
    text = str(text) or "(none)"
    return text if len(text) <= n else text[: n - 3] + "..."


def _barh(labels, values, *, title: str, xlabel: str, color="#4c6fa8", height_per=0.26, signed=False):
    plt = pyplot()
    n = len(labels)
    fig, ax = plt.subplots(figsize=(7.5, max(1.6, 0.6 + height_per * n)))
    y = np.arange(n)[::-1]
    colors = [("#c0392b" if v > 0 else "#27864a") for v in values] if signed else color
    ax.barh(y, values, color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    if signed:
        ax.axvline(0, color="#333", lw=0.8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _importance_figs(names, gain, split):
    plt = pyplot()
    fam_gain = sum_by_family(gain, names)
    fam_split = sum_by_family(split, names)
    fams = sorted(fam_gain, key=lambda f: -float(fam_gain[f]))
    fig, axes = plt.subplots(1, 2, figsize=(10, max(1.8, 0.7 + 0.3 * len(fams))))
    tg = max(float(np.sum(gain)), 1e-12)
    ts = max(float(np.sum(split)), 1e-12)
    y = np.arange(len(fams))[::-1]
    axes[0].barh(y, [100 * float(fam_gain[f]) / tg for f in fams], color="#4c6fa8")
    axes[1].barh(y, [100 * float(fam_split[f]) / ts for f in fams], color="#8a6bb0")
    for ax, t in zip(axes, ("gain", "split count")):
        ax.set_yticks(y)
        ax.set_yticklabels(fams, fontsize=9)
        ax.set_xlabel(f"% of total {t}", fontsize=9)
        ax.set_title(f"importance by {t}, summed per family", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fam_uri = fig_to_data_uri(fig)
    top = np.argsort(-gain, kind="stable")[:TOP_FEATURES]
    gain_uri = fig_to_data_uri(_barh([names[i] for i in top], 100 * gain[top] / tg,
                                     title=f"top {len(top)} features by gain", xlabel="% of total gain"))
    tops = np.argsort(-split, kind="stable")[:TOP_FEATURES]
    split_uri = fig_to_data_uri(_barh([names[i] for i in tops], 100 * split[tops] / ts, color="#8a6bb0",
                                      title=f"top {len(tops)} features by split count", xlabel="% of splits"))
    return fam_uri, gain_uri, split_uri


def _beeswarm(names, contrib, X, *, n_top: int = 15, seed: int = 0):
    """SHAP-style summary: one dot per video, x = contribution, colour = feature value rank."""
    plt = pyplot()
    order = np.argsort(-np.abs(contrib).mean(axis=0), kind="stable")[:n_top]
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.7 + 0.34 * len(order))))
    sc = None
    for row, j in enumerate(order):
        x = X[:, j]
        finite = np.isfinite(x)
        rank = np.full(x.shape, 0.5)
        if finite.sum() > 1:
            r = np.argsort(np.argsort(x[finite], kind="stable"), kind="stable")
            rank[finite] = r / (finite.sum() - 1)
        yy = (len(order) - 1 - row) + rng.uniform(-0.3, 0.3, size=x.size)
        sc = ax.scatter(contrib[:, j], yy, c=rank, cmap="coolwarm", s=7, alpha=0.75, vmin=0, vmax=1,
                        edgecolors="none")
        if (~finite).any():
            ax.scatter(contrib[~finite, j], yy[~finite], c="#999", s=7, alpha=0.75, edgecolors="none")
    ax.set_yticks(np.arange(len(order))[::-1])
    ax.set_yticklabels([names[j] for j in order], fontsize=8)
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_xlabel("contribution to the raw score (log-odds; > 0 pushes towards fake)", fontsize=9)
    ax.set_title("per-video contributions of the most influential features", fontsize=10)
    if sc is not None:
        cb = fig.colorbar(sc, ax=ax, fraction=0.03, pad=0.01)
        cb.set_label("feature value (rank: low -> high; grey = missing)", fontsize=8)
    return fig_to_data_uri(fig)


def _roc_fig(y, p, methods, datasets):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    fpr, tpr, _ = metrics.roc_curve(y, p)
    ax.plot(fpr, tpr, color="k", lw=2, label=f"all (AUC {metrics.roc_auc(y, p):.3f}, n={len(y)})")
    if methods is not None:
        for m, sel in metrics.method_vs_real(y, methods, datasets if datasets is not None else [""] * len(y)).items():
            if sel.sum() and np.any(y[sel] == 0):
                f, t, _ = metrics.roc_curve(y[sel], p[sel])
                ax.plot(f, t, lw=1.2, label=f"{_short_label(m)} vs real (AUC {metrics.roc_auc(y[sel], p[sel]):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="#888")
    ax.set_xlabel("false-positive rate (real flagged as fake)")
    ax.set_ylabel("true-positive rate (fakes caught)")
    ax.set_title("out-of-fold ROC", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, frameon=False)
    ax.set_aspect("equal")
    return fig_to_data_uri(fig)


def _reliability_fig(y, p, raw, n_bins: int = 10):
    plt = pyplot()
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(5.6, 6.2), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], ls=":", color="#888", label="perfect calibration")
    rel = metrics.calibration_curve(y, p, n_bins=n_bins)
    ax.plot(rel.mean_predicted, rel.fraction_positive, "o-", color="#c0392b", label="calibrated P(fake)")
    if raw is not None and np.all(np.isfinite(raw)):
        q = 1 / (1 + np.exp(-raw))
        r2 = metrics.calibration_curve(y, q, n_bins=n_bins)
        ax.plot(r2.mean_predicted, r2.fraction_positive, "s--", color="#888", ms=4, label="uncalibrated sigmoid(raw)")
    ax.set_ylabel("observed fraction of fakes")
    ax.set_title("reliability diagram (out-of-fold)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    axh.hist([p[y == 0], p[y == 1]], bins=rel.edges, color=["#27864a", "#c0392b"], label=["real", "fake"],
             stacked=True)
    axh.set_xlabel("predicted P(fake)")
    axh.set_ylabel("videos")
    axh.legend(fontsize=7)
    fig.tight_layout()
    return fig_to_data_uri(fig), rel


def _hist_figs(y, p, raw, methods):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    bins = np.linspace(0, 1, 21)
    axes[0].hist(p[y == 0], bins=bins, alpha=0.6, color="#27864a", label=f"real (n={int((y == 0).sum())})")
    axes[0].hist(p[y == 1], bins=bins, alpha=0.6, color="#c0392b", label=f"fake (n={int((y == 1).sum())})")
    axes[0].axvline(0.5, color="#333", lw=0.8, ls="--")
    axes[0].set_xlabel("calibrated P(fake), out-of-fold")
    axes[0].set_ylabel("videos")
    axes[0].legend(fontsize=8)
    axes[0].set_title("score by class", fontsize=10)
    if raw is not None and np.any(np.isfinite(raw)):
        r = raw[np.isfinite(raw)]
        rb = np.linspace(r.min(), r.max() + 1e-9, 25)
        axes[1].hist(raw[(y == 0) & np.isfinite(raw)], bins=rb, alpha=0.6, color="#27864a", label="real")
        axes[1].hist(raw[(y == 1) & np.isfinite(raw)], bins=rb, alpha=0.6, color="#c0392b", label="fake")
        axes[1].set_xlabel("raw LightGBM margin (log-odds), out-of-fold")
        axes[1].legend(fontsize=8)
        axes[1].set_title("raw margin by class", fontsize=10)
    else:
        axes[1].axis("off")
    fig.tight_layout()
    class_uri = fig_to_data_uri(fig)
    method_uri = None
    if methods is not None:
        keys = ["real"] + sorted(set(methods[y == 1].tolist()))
        fig, ax = plt.subplots(figsize=(10, max(2.0, 0.6 + 0.45 * len(keys))))
        data = [p[y == 0]] + [p[(y == 1) & (methods == m)] for m in keys[1:]]
        labels = [f"{_short_label(k)} (n={len(d)})" for k, d in zip(keys, data)]
        pos = np.arange(len(keys))[::-1]
        for i, d in enumerate(data):  # median and quartiles as a bar, every video as a dot
            if len(d):
                q1, q2, q3 = np.percentile(d, [25, 50, 75])
                ax.hlines(pos[i], q1, q3, color="#555", lw=5, alpha=0.35)
                ax.vlines(q2, pos[i] - 0.3, pos[i] + 0.3, color="k", lw=1.5)
        rng = np.random.default_rng(0)
        for i, d in enumerate(data):
            ax.scatter(d, pos[i] + rng.uniform(-0.18, 0.18, len(d)), s=9, alpha=0.6,
                       color="#27864a" if i == 0 else "#c0392b", edgecolors="none")
        ax.set_yticks(pos)
        ax.set_yticklabels(labels, fontsize=8)
        ax.axvline(0.5, color="#333", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("calibrated P(fake), out-of-fold")
        ax.set_title("score per manipulation method", fontsize=10)
        method_uri = fig_to_data_uri(fig)
    return class_uri, method_uri


# ----------------------------------------------------------------------------- sections
def _metric_row(name, m):
    return [name, m.get("auc"), m.get("log_loss"), m.get("accuracy"), m.get("eer"), m.get("average_precision"),
            m.get("n"), m.get("n_fake")]


METRIC_HEADERS = ["subset", "AUC", "log loss", "accuracy", "EER", "avg precision", "n", "n fake"]


def _summary_section(card, names, model_dir) -> str:
    fams = sum_by_family(np.ones(len(names)), names)
    cal = card.get("calibration") or {}
    cv = card.get("cv") or {}
    rows = [
        ["model directory", str(model_dir)],
        ["created", card.get("created", "")],
        ["feature set", card.get("feature_set", "")],
        ["frames sampled per video", card.get("frames", "")],
        ["features (model inputs)", f"{len(names)} columns in {len(fams)} families"],
        ["calibration", f"{cal.get('method', '?')}: P = 1 / (1 + exp(-(a &middot; raw + b))), a = "
                        f"{cell(cal.get('a'))}, b = {cell(cal.get('b'))}" if cal else "none"],
        ["probability clip", str(card.get("clip", ""))],
        ["cross-validated AUC", cell(cv.get("auc"))],
    ]
    tr = card.get("training") or {}
    if tr:
        opts = ", ".join(f"{k}={tr[k]}" for k in ("synthesize", "reencode", "seed") if k in tr)
        rows.append(["training table", f"{tr.get('n_rows', '?')} rows from {tr.get('n_videos', '?')} videos, "
                                       f"{tr.get('n_fake_rows', '?')} fake rows; {opts}"])
    body = "<table><tbody>" + "".join(
        f'<tr><th class="l">{html.escape(k)}</th><td class="l">{v if k == "calibration" else cell(v)}</td></tr>'
        for k, v in rows) + "</tbody></table>"
    desc = _family_descriptions()
    fam_rows = [[f, int(fams[f]), desc.get(f, "")] for f in fams]
    body += "<h3>Feature families</h3>" + html_table(fam_rows, ["family", "columns", "calculators"], left=3)
    st = tr.get("stacker")
    if st:
        body += "<h3>Experts</h3>" + html_table([[e, cell(c)] for e, c in zip(st["experts"], st["coef"])],
                                                ["expert (columns)", "weight"])
        body += note("Stacked experts (<code>train.py --stack</code>): one tree model per expert, on every column "
                     "(<code>all</code>) or on one family's, trained on every row or (<code>@collected</code>) on the reals "
                     "and the collected fakes only; the raw score is "
                     f"{cell(st['intercept'])} + the sum of each expert's raw score times its weight, the weights "
                     "fitted (non-negative) on the experts' out-of-fold scores.")
    if card.get("notes"):
        body += note("Notes: " + html.escape(str(card["notes"])))
    body += note(
        "How to read this report: the detector computes hand-built forensic measurements on the face in "
        "sampled frames (column names are <code>family__feature__statistic</code>), a gradient-boosted tree "
        "model turns them into a raw score (log-odds), and a logistic (Platt) map turns the raw score into a "
        "probability that the video is fake. Every number below that says how well it works is "
        "<em>out-of-fold</em>: each video was scored by a model that did not see its identity group.")
    return section("summary", "Model summary", body)


def _cv_section(card, oof) -> str:
    cv = card.get("cv") or {}
    rows = [_metric_row("all", cv)] if cv else []
    if cv.get("per_method_vs_real"):  # each method's fakes against the reals of the same dataset(s)
        rows += [_metric_row(f"{m} vs real", v) for m, v in sorted(cv["per_method_vs_real"].items())]
    else:
        rows += [_metric_row(f"method {m}", v) for m, v in sorted((cv.get("per_method") or {}).items())]
    rows += [_metric_row(f"dataset {d}", v) for d, v in sorted((cv.get("per_dataset") or {}).items())]
    body = ""
    if rows:
        body += "<h3>From the model card</h3>" + html_table(rows, METRIC_HEADERS)
        body += note(f"Grouped cross-validation, {html.escape(str(cv.get('folds', '?')))} folds; a fake and its "
                      "original share an identity group and therefore a fold.")
    if "label" in oof and "prob" in oof and len(oof["label"]):
        y, p = oof["label"], oof["prob"]
        ok = np.isfinite(y) & np.isfinite(p)
        y, p = y[ok], p[ok]
        s = metrics.summary(y, p)
        ci = metrics.bootstrap_auc_ci(y, p, n_boot=1000, seed=0,
                                      groups=oof["group"][ok] if "group" in oof else None)
        rows2 = [_metric_row("all (recomputed from oof.csv)", s)]
        methods = oof.get("method")
        if methods is not None:
            datasets = oof["dataset"][ok] if "dataset" in oof else [""] * len(y)
            for m, sel in metrics.method_vs_real(y, methods[ok], datasets).items():
                rows2.append(_metric_row(f"{m} vs real", metrics.summary(y[sel], p[sel])))
        for col in ("dataset", "variant"):  # variant: original, re-encoded or synthesised copies (train.py)
            vals = oof.get(col)
            if vals is not None and len(set(vals[ok].tolist())) > 1:
                v = vals[ok]
                for k in sorted(set(v.tolist())):
                    rows2.append(_metric_row(f"{col} {k or '(none)'}", metrics.summary(y[v == k], p[v == k])))
        body += "<h3>Recomputed from the out-of-fold scores</h3>" + html_table(rows2, METRIC_HEADERS)
        unit = "identity groups" if "group" in oof else "videos"
        body += note(f"AUC {ci.auc:.3f}, {ci.level:.0%} bootstrap interval [{ci.lo:.3f}, {ci.hi:.3f}] "
                      f"({ci.n_boot} resamples of {unit}). EER: error rate where false positives equal false "
                      "negatives. Log loss uses the calibrated probability. Per-method rows score that method's "
                      "fakes against the real videos of the same dataset(s), as in the model card.")
    ev = card.get("evaluation") or {}
    if ev.get("overall"):
        rows3 = [_metric_row("all", ev["overall"])]
        rows3 += [_metric_row(f"{m} vs real", v) for m, v in sorted((ev.get("per_method_vs_real") or {}).items())]
        rows3 += [_metric_row(f"dataset {d}", v) for d, v in sorted((ev.get("per_dataset") or {}).items())]
        data = ", ".join(str(d) for d in ev.get("data", []))
        body += ("<h3>Held-out evaluation (never trained on)</h3>" + html_table(rows3, METRIC_HEADERS)
                 + note(f"Scored by the final model: {html.escape(data)}."))
    if not body:
        body = note("No cross-validation results in the model card and no oof.csv.")
    return section("cv", "Cross-validated performance", body)


def _importance_section(booster, names, stacked: bool = False) -> str:
    gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    split = np.asarray(booster.feature_importance(importance_type="split"), dtype=np.float64)
    fam_uri, gain_uri, split_uri = _importance_figs(names, gain, split)
    fg, fs = sum_by_family(gain, names), sum_by_family(split, names)
    tg, ts = max(gain.sum(), 1e-12), max(split.sum(), 1e-12)
    fam_rows = sorted(([f, 100 * float(fg[f]) / tg, 100 * float(fs[f]) / ts, int(fs[f])] for f in fg),
                      key=lambda r: -r[1])
    order = np.argsort(-gain, kind="stable")
    feat_rows = [[names[i], describe_column(names[i]), family_of(names[i]), 100 * gain[i] / tg,
                  100 * split[i] / ts, int(split[i])] for i in order]
    unused = int(np.sum(split == 0))
    body = (
        note("<b>Gain</b>: total reduction of the training loss by splits on a feature; <b>split</b>: how many "
              "tree nodes test it. Both describe the trained model, not a single video, and both favour features "
              "with many distinct values; the contribution section below is the more faithful view."
              + (" This model stacks experts: gain and splits count every expert's trees as trained, not weighted "
                 "by the expert's weight, while contributions are weighted." if stacked else ""))
        + img(fam_uri, "importance per family")
        + html_table(fam_rows, ["family", "% gain", "% splits", "splits"])
        + f'<div class="grid"><div>{img(gain_uri, "top features by gain")}</div>'
        f'<div>{img(split_uri, "top features by split")}</div></div>'
        + f"<details><summary>All {len(names)} features ({unused} never used by a split)</summary>"
        + html_table(feat_rows, ["feature", "what it measures", "family", "% gain", "% splits", "splits"], left=3)
        + "</details>"
    )
    return section("importance", "Feature importance", body)


def _contrib_section(booster, names, table) -> str:
    X = None if table is None else table.X
    if X is None or not len(X):
        return section("contributions", "Feature contributions",
                        note("features.csv is missing or empty, so per-video contributions cannot be shown."))
    summ = contribution_summary(booster, X, names, table.labels)
    fams = sorted(summ.family_mean_abs, key=lambda f: -summ.family_mean_abs[f])
    fam_uri = fig_to_data_uri(_barh(fams, [summ.family_mean_abs[f] for f in fams],
                                    title="mean |contribution| per family", xlabel="log-odds", color="#b5651d"))
    top = np.argsort(-summ.feature_mean_abs, kind="stable")[:TOP_FEATURES]
    feat_uri = fig_to_data_uri(_barh([names[i] for i in top], summ.feature_mean_abs[top],
                                     title=f"top {len(top)} features by mean |contribution|", xlabel="log-odds",
                                     color="#b5651d"))
    swarm_uri = _beeswarm(names, summ.contrib, X)
    fam_rows = [[f, summ.family_mean_abs[f], summ.family_mean_fake[f], summ.family_mean_real[f]] for f in fams]
    y = table.labels
    feat_rows = []
    for i in np.argsort(-summ.feature_mean_abs, kind="stable"):
        c = summ.contrib[:, i]
        fake = float(c[y == 1].mean()) if y is not None and np.any(y == 1) else math.nan
        real = float(c[y == 0].mean()) if y is not None and np.any(y == 0) else math.nan
        feat_rows.append([names[i], describe_column(names[i]), family_of(names[i]), float(summ.feature_mean_abs[i]),
                          fake, real])
    missing = table.missing_columns
    body = (
        note("For every video LightGBM splits its raw score exactly into one contribution per feature plus a "
              "constant (TreeSHAP, Lundberg et al. 2020): <code>raw = expected value + sum of contributions</code>. "
              "Positive contributions push towards <span class=\"pos\">fake</span>, negative towards "
              "<span class=\"neg\">real</span>. A family's contribution is the sum of its features'. Computed "
              f"on the {len(X)} training videos in features.csv (in-sample): expected value "
              f"{summ.expected:.3f}, largest additivity error {summ.max_additivity_error:.2e}.")
        + f'<div class="grid"><div>{img(fam_uri, "mean abs contribution per family")}</div>'
        f'<div>{img(feat_uri, "mean abs contribution per feature")}</div></div>'
        + html_table(fam_rows, ["family", "mean |contribution|", "mean on fakes", "mean on reals"])
        + img(swarm_uri, "per-video contributions of the top features")
        + f"<details><summary>All {len(names)} features</summary>"
        + html_table(feat_rows, ["feature", "what it measures", "family", "mean |contribution|", "mean on fakes",
                                 "mean on reals"], left=3) + "</details>"
    )
    if missing:
        body += note(f"{len(missing)} model columns are absent from features.csv and were treated as missing.")
    return section("contributions", "Feature contributions (SHAP values)", body)


class OofArrays(NamedTuple):
    y: np.ndarray
    p: np.ndarray
    raw: np.ndarray | None
    methods: np.ndarray | None
    datasets: np.ndarray | None
    names: np.ndarray  #: file names relative to ``prefix``
    groups: np.ndarray | None
    variants: np.ndarray | None
    prefix: str  #: folder shared by every file name ("" when none)


def _oof_arrays(oof) -> OofArrays | None:
    if "label" not in oof or "prob" not in oof or not len(oof["label"]):
        return None
    y, p = oof["label"], oof["prob"]
    ok = np.isfinite(y) & np.isfinite(p)
    if not ok.any():
        return None

    def col(k):
        return oof[k][ok] if k in oof else None

    names = col("filename")
    prefix, names = _relativize(names if names is not None else [""] * int(ok.sum()))
    groups = col("group")
    if groups is not None:
        gp, groups = _relativize(groups)
        groups = groups if gp == prefix or not gp else np.asarray([str(g) for g in col("group")], dtype=object)
    return OofArrays(y[ok], p[ok], col("raw"), col("method"), col("dataset"), names, groups, col("variant"), prefix)


def _roc_section(arrs) -> str:
    if arrs is None or len(set(arrs.y.tolist())) < 2:
        return section("roc", "ROC curve", note("No out-of-fold scores with both classes."))
    y, p, methods = arrs.y, arrs.p, arrs.methods
    body = img(_roc_fig(y, p, methods, arrs.datasets), "ROC curve") + note(
        "Each curve trades real videos wrongly flagged (x) against fakes caught (y) as the decision threshold "
        "moves. Per-method curves score that method's fakes against the real videos of the same dataset(s).")
    return section("roc", "ROC curve", body)


def _calibration_section(arrs, card) -> str:
    if arrs is None:
        return section("calibration", "Calibration", note("No out-of-fold scores."))
    y, p, raw = arrs.y, arrs.p, arrs.raw
    uri, rel = _reliability_fig(y, p, raw)
    ece = float(np.sum(rel.count * np.abs(rel.fraction_positive - rel.mean_predicted)) / max(rel.count.sum(), 1))
    brier = float(np.mean((p - y) ** 2))
    bins = np.searchsorted(rel.edges[1:-1], rel.mean_predicted, side="left")  # the bin of each point
    rows = [[f"{rel.edges[b]:.1f} - {rel.edges[b + 1]:.1f}", int(n), mp, fp]
            for b, n, mp, fp in zip(bins, rel.count, rel.mean_predicted, rel.fraction_positive)]
    body = (img(uri, "reliability diagram")
            + html_table(rows, ["bin", "videos", "mean P(fake)", "observed fake fraction"])
            + note(f"A calibrated detector's points lie on the diagonal: of the videos given P(fake) = 0.8, about "
                    f"80 % are fake. Expected calibration error {ece:.3f}, Brier score {brier:.3f}. Probabilities "
                    f"are clipped to {html.escape(str(card.get('clip', [0.01, 0.99])))}. With few videos per bin "
                    "the points are noisy."))
    return section("calibration", "Calibration", body)


def _scores_section(arrs) -> str:
    if arrs is None:
        return section("scores", "Score distributions", note("No out-of-fold scores."))
    y, p, raw, methods = arrs.y, arrs.p, arrs.raw, arrs.methods
    class_uri, method_uri = _hist_figs(y, p, raw, methods)
    body = img(class_uri, "score histograms per class")
    if method_uri:
        body += img(method_uri, "scores per manipulation method")
    body += note("Out-of-fold scores. Well-separated histograms mean an easy decision; a method whose fakes sit "
                  "left of 0.5 is one the detector mostly misses.")
    return section("scores", "Score distributions", body)


def _errors_section(arrs, n: int = 10) -> str:
    if arrs is None:
        return section("errors", "Most confident mistakes", note("No out-of-fold scores."))
    y, p, raw, methods, names, groups, variants = (arrs.y, arrs.p, arrs.raw, arrs.methods, arrs.names, arrs.groups,
                                                    arrs.variants)
    wrong = np.flatnonzero((p >= 0.5) != (y == 1))
    pick = wrong[np.argsort(-np.abs(p[wrong] - 0.5), kind="stable")[:n]]
    show_variant = variants is not None and len(set(variants.tolist())) > 1
    headers = ["video"] + (["variant"] if show_variant else []) + ["truth", "method", "group", "P(fake)", "raw"]
    rows = []
    for i in pick:
        rows.append([names[i]] + ([variants[i]] if show_variant else [])
                    + ["fake" if y[i] == 1 else "real", methods[i] if methods is not None else "",
                       groups[i] if groups is not None else "", p[i], raw[i] if raw is not None else None])
    body = note(f"{len(wrong)} of {len(y)} videos are on the wrong side of 0.5 out-of-fold; the {len(pick)} "
                 "most confident ones are listed (run <code>predict.py --explain</code> on them to see why)."
                 + (f" Paths are relative to <code>{html.escape(arrs.prefix)}</code>." if arrs.prefix else ""))
    if rows:
        body += html_table(rows, headers, left=len(headers) - 2)
    return section("errors", "Most confident mistakes", body)


def _robustness_section(model_dir) -> str:
    from .robustness import SELFBLEND_FILE, read_robustness, robustness_section_body

    rob = read_robustness(str(model_dir))
    body = robustness_section_body(rob) if rob else note(
        "Not measured for this model: <code>python bench/robustness.py --model MODEL_DIR --data LABELLED</code> "
        "scores it under re-encoding, downscaling, frame-rate change, blur, noise, colour shifts, flips and overlays.")
    sb = read_robustness(str(model_dir), SELFBLEND_FILE)
    if sb:
        body += "<h3>Self-blends of the training reals, out of fold</h3>" + robustness_section_body(
            sb, lead=f"Each of {sb.get('n_reals', '?')} real training clips and its self-blended fake, degraded alike "
                     "and scored by the cross-validation model that never saw the clip's source "
                     "(bench/selfblend_robustness.py).")
    return section("robustness", "Robustness to degradation", body)


def _provenance_section(card) -> str:
    body = ""
    src = card.get("data_sources") or []
    if src:
        rows = [[s.get("source", ""), s.get("licence", ""), s.get("label", ""), s.get("n_videos", "")] for s in src]
        body += "<h3>Training data</h3>" + html_table(rows, ["source", "licence", "label", "videos"], left=3)
    params = card.get("params") or {}
    if params:
        body += "<h3>LightGBM parameters</h3>" + html_table(
            [[k, json.dumps(v) if not isinstance(v, str) else v] for k, v in sorted(params.items())],
            ["parameter", "value"], left=2)
    libs = card.get("library_versions") or {}
    if libs:
        body += "<h3>Library versions</h3>" + html_table([[k, v] for k, v in sorted(libs.items())],
                                                         ["library", "version"], left=2)
    if not body:
        body = note("The model card records no provenance.")
    return section("provenance", "Provenance", body)


def build_report(model_dir, out_dir) -> Path:
    """Write ``out_dir/report.html`` for the model in ``model_dir``; return its path.

    Reads only ``model.txt``, ``model_card.json``, ``oof.csv`` and
    ``features.csv``; a missing ``oof.csv`` or ``features.csv`` leaves the
    sections that need it with a note instead of plots.
    """
    folder = load_model_folder(str(model_dir))
    card, booster, names = folder.model.card, folder.model.booster, folder.model.feature_names
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrs = _oof_arrays(folder.oof)
    titles = {"summary": "Model summary", "cv": "Cross-validated performance", "importance": "Feature importance",
              "contributions": "Feature contributions", "roc": "ROC curve", "calibration": "Calibration",
              "scores": "Score distributions", "errors": "Most confident mistakes",
              "robustness": "Robustness to degradation", "provenance": "Provenance"}
    nav = "<nav>" + "".join(f'<a href="#{s}">{titles[s]}</a>' for s in SECTIONS) + "</nav>"
    parts = [
        "<h1>Deepfake detector: model report</h1>",
        note(f"Generated {_dt.datetime.now().isoformat(timespec='seconds')} from {html.escape(str(model_dir))}"),
        nav,
        _summary_section(card, names, model_dir),
        _cv_section(card, folder.oof),
        _importance_section(booster, names, stacked=bool((card.get("training") or {}).get("stacker"))),
        _contrib_section(booster, names, folder.table),
        _roc_section(arrs),
        _calibration_section(arrs, card),
        _scores_section(arrs),
        _errors_section(arrs),
        _robustness_section(model_dir),
        _provenance_section(card),
    ]
    path = out_dir / "report.html"
    path.write_text(html_page("Deepfake detector: model report", "\n".join(parts)), encoding="utf-8")
    return path
