"""How a model's scores hold up when the videos are degraded (the DFDC black-box conditions).

:func:`robustness_table` compares a model's scores on a labelled set, clean and
under each perturbation (:mod:`synthesis.perturb`): AUC with a bootstrap
interval, log loss, and their change from clean. ``bench/robustness.py``
computes it and writes ``robustness.json`` into the model folder; the model
report shows it as a table and a plot.
"""
from __future__ import annotations

import json
import os

import numpy as np

from modeling import metrics

__all__ = ["ROBUSTNESS_FILE", "SELFBLEND_FILE", "robustness_table", "read_robustness", "robustness_section_body"]

#: a labelled set scored under each perturbation (``bench/robustness.py``)
ROBUSTNESS_FILE = "robustness.json"
#: the training pool's self-blends against their reals, out of fold, under each perturbation
#: (``bench/selfblend_robustness.py``)
SELFBLEND_FILE = "robustness_selfblend.json"


def _log_loss(y, p) -> float:
    return metrics.log_loss(y, np.clip(np.asarray(p, float), 0.01, 0.99))


def _score(y, p, groups=None) -> dict:
    y, p = np.asarray(y, float), np.asarray(p, float)
    ci = metrics.bootstrap_auc_ci(y, p, n_boot=1000, seed=0, groups=groups)
    return {"auc": ci.auc, "auc_lo": ci.lo, "auc_hi": ci.hi, "log_loss": _log_loss(y, p), "n": int(y.size),
            "n_fake": int(y.sum())}


def robustness_table(labels: dict, clean: dict, perturbed: dict[str, dict], *,
                     groups: dict | None = None) -> list[dict]:
    """Rows ``kind, auc, auc_lo, auc_hi, log_loss, d_auc, d_auc_lo, d_auc_hi, d_log_loss, n`` (``clean`` first).

    ``labels``: key -> 0/1; ``clean``: key -> P(fake); ``perturbed``: kind -> (key -> P(fake)). Each
    kind is compared with clean on the videos scored in both, so a failed copy does not move the delta.
    ``d_auc_lo, d_auc_hi``: paired bootstrap interval of the change (the same resamples for clean and
    perturbed, :func:`modeling.metrics.bootstrap_auc_diff_ci`). ``groups`` (key -> group, optional) makes
    every bootstrap resample whole groups, e.g. a self-blend together with its original.
    """
    def grp(keys):
        return None if groups is None else [groups[k] for k in keys]

    rows = []
    keys = [k for k in labels if k in clean]
    base = _score([labels[k] for k in keys], [clean[k] for k in keys], grp(keys))
    rows.append(dict(kind="clean", **base, d_auc=0.0, d_auc_lo=0.0, d_auc_hi=0.0, d_log_loss=0.0))
    for kind, probs in perturbed.items():
        both = [k for k in keys if k in probs]
        if not both:
            continue
        y = np.array([labels[k] for k in both], float)
        ref = np.array([clean[k] for k in both], float)
        got = _score(y, [probs[k] for k in both], grp(both))
        d = metrics.bootstrap_auc_diff_ci(y, ref, [probs[k] for k in both], n_boot=1000, seed=0, groups=grp(both))
        rows.append(dict(kind=kind, **got, d_auc=d.auc, d_auc_lo=d.lo, d_auc_hi=d.hi,
                         d_log_loss=got["log_loss"] - _log_loss(y, ref)))
    return rows


def read_robustness(model_dir: str, name: str = ROBUSTNESS_FILE) -> dict | None:
    """A robustness file of a model folder (:data:`ROBUSTNESS_FILE` or :data:`SELFBLEND_FILE`), or None."""
    path = os.path.join(str(model_dir), name)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _interval(row: dict) -> str:
    if row["kind"].startswith("clean") or "d_auc_lo" not in row:
        return ""
    return f"[{row['d_auc_lo']:+.2f}, {row['d_auc_hi']:+.2f}]"


def robustness_section_body(rob: dict, *, lead: str | None = None) -> str:
    """The model report's robustness section: a plot of the AUC change per perturbation and the table.

    ``lead``: what was scored, for the note under the table (default: a labelled set's uploads)."""
    from .html import fig_to_data_uri, html_table, img, note, pyplot

    rows = rob.get("rows") or []
    if not rows:
        return note("No perturbation results.")
    plt = pyplot()
    pert = [r for r in rows if not r["kind"].startswith("clean")]
    kinds = [r["kind"] for r in pert]
    d = np.array([r["d_auc"] for r in pert], float)
    # files written before the paired interval existed have none: no error bars then
    lo = np.array([r.get("d_auc_lo", np.nan) for r in pert], float)
    hi = np.array([r.get("d_auc_hi", np.nan) for r in pert], float)
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.28 * len(kinds) + 0.8)))
    y = np.arange(len(kinds))[::-1]
    ax.barh(y, d, color=["#c0392b" if v < -0.05 else "#4c6fa8" for v in d])
    if np.isfinite(lo).any():
        ax.errorbar(d, y, xerr=np.abs(np.vstack([d - lo, hi - d])), fmt="none", ecolor="#333", lw=0.8, capsize=2)
    ax.axvline(0, color="#333", lw=0.8)
    ax.axvline(-0.05, color="#c0392b", lw=0.8, ls=":")
    ax.set_yticks(y)
    ax.set_yticklabels(kinds, fontsize=8)
    ax.set_xlabel("AUC change from clean, paired 95 % interval (dotted: the 0.05 target)", fontsize=8)
    body = img(fig_to_data_uri(fig), "AUC change per perturbation")
    body += html_table([[r["kind"], r["auc"], f"[{r['auc_lo']:.2f}, {r['auc_hi']:.2f}]", r["d_auc"], _interval(r),
                         r["log_loss"], r["d_log_loss"], r["n"]] for r in rows],
                       ["perturbation", "AUC", "95 % CI", "AUC change", "change, paired 95 % CI", "log loss",
                        "log-loss change", "videos"])
    if lead is None:
        lead = (f"Scored by this model on {rob.get('data', '?')}: each video re-encoded with the perturbation "
                "(synthesis.perturb; H.264 at CRF 18 unless the perturbation sets its own), then predicted as a "
                "user's upload would be.")
    body += note(f"{lead} {rob.get('note', '')}")
    return body
