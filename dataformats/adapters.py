"""Labelled-video readers for the layouts users bring.

Every reader returns :class:`Record` rows (label 1 = FAKE, 0 = REAL, ``None``
when unknown) with a ``group`` such that a fake, its original and every other
clip sharing an identity fall in one group, so that grouped cross-validation
does not leak.

Supported (detected automatically by :func:`read_labels`):

* DFDC: a folder with ``metadata.json`` (``{"x.mp4": {"label": "FAKE", "original": "y.mp4"}}``),
  or a folder of ``dfdc_train_part_N`` folders;
* FaceForensics++: ``original_sequences/<src>/<comp>/videos/000.mp4`` and
  ``manipulated_sequences/<Method>/<comp>/videos/000_003.mp4``;
* Celeb-DF: ``List_of_testing_videos.txt`` (``<label> <relpath>``, where **1 = REAL, 0 = FAKE**);
* plain ``real/`` and ``fake/`` folders (UADFV's ``NNNN_fake.mp4`` pairs with ``NNNN.mp4``);
* a CSV ``path,label[,group]`` (label REAL/FAKE or 0/1 with 1 = fake; extra columns ``method``,
  ``dataset``, ``original``, ``licence``, ``source_repo`` are used when present; with an ``original``
  column, groups are built by linking each fake to its original);
* a ``.txt`` list of paths (labels unknown), or any folder of videos (labels unknown);
* a folder governed by a ``manifest.csv`` in it or above it (as ``../shared/data``): its rows under
  that folder.
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass

from pipeline.video import VIDEO_EXTENSIONS

__all__ = ["Record", "read_labels", "list_videos", "parse_label"]


@dataclass
class Record:
    path: str
    label: int | None
    group: str = ""
    method: str = ""
    dataset: str = ""
    original: str = ""
    licence: str = ""
    source: str = ""


def parse_label(value) -> int | None:
    """REAL/FAKE, 0/1 (1 = fake), true/false -> 0/1; empty -> None."""
    v = str(value).strip().upper()
    if v in ("FAKE", "1", "1.0", "TRUE", "SPOOF", "MANIPULATED"):
        return 1
    if v in ("REAL", "0", "0.0", "FALSE", "PRISTINE", "ORIGINAL"):
        return 0
    if v == "":
        return None
    raise ValueError(f"unrecognised label {value!r} (use REAL/FAKE or 0/1 with 1 = fake)")


def list_videos(root: str) -> list[str]:
    """Video files under ``root`` (recursive, sorted)."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    return sorted(out)


class _Groups:
    """Union-find over identities, so linked clips share one group name."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, *items: str):
        items = [i for i in items if i]
        for b in items[1:]:
            ra, rb = self.find(items[0]), self.find(b)
            if ra != rb:
                self.parent[max(ra, rb)] = min(ra, rb)


def _ffpp_ids(path: str) -> list[str]:
    """Identity keys from FF++-style names: ``183_253.mp4`` -> ff:183, ff:253; actors ``01__x`` -> actor:01."""
    stem = os.path.splitext(os.path.basename(path))[0]
    m = re.fullmatch(r"(\d{3})(?:_(\d{3}))?", stem)
    if m:
        return [f"ff:{i}" for i in m.groups() if i]
    m = re.fullmatch(r"(\d{2})_(\d{2})__.*", stem)  # DeepFakeDetection fakes: target_source__scene
    if m:
        return [f"actor:{m.group(1)}", f"actor:{m.group(2)}"]
    m = re.fullmatch(r"(\d{2})__.*", stem)
    if m:
        return [f"actor:{m.group(1)}"]
    return []


def _celeb_ids(path: str) -> list[str]:
    """Celeb-DF names: ``id0_0001`` (real), ``id0_id16_0001`` (fake) -> identities."""
    return [f"celeb:{i}" for i in re.findall(r"(id\d+)", os.path.basename(path))]


def _finish(records: list[Record], extra_links=None) -> list[Record]:
    """Assign groups by union-find over path, original and identity keys."""
    g = _Groups()
    for r in records:
        keys = [os.path.normpath(r.path)] + ([os.path.normpath(r.original)] if r.original else [])
        keys += _ffpp_ids(r.path) + _celeb_ids(r.path)
        if r.group:
            keys.append("user:" + r.group)
        g.union(*keys)
    for r in records:
        r.group = g.find(os.path.normpath(r.path))
    return records


def _read_csv(path: str) -> list[Record]:
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "path" not in rows[0] and "filename" not in rows[0]:
        raise ValueError(f"{path}: a label CSV needs a 'path' (or 'filename') column and a 'label' column")
    has_original = "original" in rows[0]
    out = []
    for r in rows:
        p = r.get("path") or r.get("filename")
        full = p if os.path.isabs(p) else os.path.join(base, p)
        orig = r.get("original") or ""
        out.append(Record(
            path=os.path.normpath(full),
            label=parse_label(r.get("label", "")),
            # with an 'original' column, link fakes to originals instead of trusting a coarse group column
            group="" if has_original else (r.get("group") or ""),
            method=r.get("method", "") or "",
            dataset=r.get("dataset", "") or "",
            original=os.path.normpath(os.path.join(base, orig)) if orig else "",
            licence=r.get("licence", "") or r.get("license", "") or "",
            source=r.get("source_repo", "") or r.get("source", "") or "",
        ))
    return _finish(out)


def _read_dfdc(root: str) -> list[Record]:
    out = []
    for d, _, files in os.walk(root):
        if "metadata.json" not in files:
            continue
        with open(os.path.join(d, "metadata.json")) as f:
            meta = json.load(f)
        for name, m in meta.items():
            orig = m.get("original")
            out.append(Record(os.path.join(d, name), parse_label(m.get("label", "")),
                              original=os.path.join(d, orig) if orig else "", dataset="DFDC",
                              method="fake" if parse_label(m.get("label", "")) == 1 else "real"))
    return _finish([r for r in out if os.path.exists(r.path)])


def _read_ffpp(root: str) -> list[Record]:
    out = []
    for v in list_videos(root):
        parts = os.path.relpath(v, root).split(os.sep)
        if "original_sequences" in parts:
            i = parts.index("original_sequences")
            src, comp = (parts[i + 1], parts[i + 2]) if len(parts) > i + 3 else ("", "")
            out.append(Record(v, 0, method=f"original-{src}", dataset=f"FF++ {comp}".strip()))
        elif "manipulated_sequences" in parts:
            i = parts.index("manipulated_sequences")
            meth, comp = (parts[i + 1], parts[i + 2]) if len(parts) > i + 3 else ("", "")
            out.append(Record(v, 1, method=meth, dataset=f"FF++ {comp}".strip()))
    return _finish(out)


def _read_celeb(txt: str) -> list[Record]:
    base = os.path.dirname(os.path.abspath(txt))
    out = []
    with open(txt) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2:
                continue
            lab, rel = parts
            # Celeb-DF's list: 1 = REAL, 0 = FAKE (the reverse of every other format)
            label = {"1": 0, "0": 1}[lab]
            out.append(Record(os.path.join(base, rel), label, dataset="Celeb-DF",
                              method=rel.split("/")[0]))
    return _finish(out)


def _read_real_fake(root: str) -> list[Record]:
    out = []
    for sub, label in (("real", 0), ("fake", 1)):
        for v in list_videos(os.path.join(root, sub)):
            stem = os.path.splitext(os.path.basename(v))[0]
            # UADFV-style pairing: fake/0001_fake.mp4 <-> real/0001.mp4
            key = re.sub(r"[_-]?fake$", "", stem)
            out.append(Record(v, label, group=f"{os.path.basename(root)}:{key}",
                              dataset=os.path.basename(os.path.normpath(root)),
                              method="real" if label == 0 else "fake"))
    return _finish(out)


def _find_manifest(root: str, depth: int = 3) -> str | None:
    d = os.path.abspath(root)
    for _ in range(depth + 1):
        for name in ("manifest.csv", "labels.csv"):
            cand = os.path.join(d, name)
            if os.path.isfile(cand):
                return cand
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return None


def _read_dir(root: str) -> list[Record]:
    entries = set(os.listdir(root))
    if "metadata.json" in entries or any(e.startswith("dfdc_train_part") for e in entries):
        return _read_dfdc(root)
    if "List_of_testing_videos.txt" in entries:
        return _read_celeb(os.path.join(root, "List_of_testing_videos.txt"))
    if {"original_sequences", "manipulated_sequences"} & entries:
        return _read_ffpp(root)
    if {"real", "fake"} <= entries:
        return _read_real_fake(root)
    return []


def read_labels(path: str) -> list[Record]:
    """Records for ``path`` in any supported layout (see module docstring)."""
    if os.path.isfile(path):
        low = path.lower()
        if low.endswith(".csv"):
            return _read_csv(path)
        if os.path.basename(path) == "List_of_testing_videos.txt":
            return _read_celeb(path)
        if low.endswith(".json"):
            return _read_dfdc(os.path.dirname(path))
        if low.endswith(".txt"):
            base = os.path.dirname(os.path.abspath(path))
            with open(path) as f:
                paths = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
            return _finish([Record(p if os.path.isabs(p) else os.path.join(base, p), None) for p in paths])
        if low.endswith(VIDEO_EXTENSIONS):
            return _finish([Record(os.path.normpath(path), None)])
        raise ValueError(f"{path}: not a video, a label CSV, a .txt list or metadata.json")
    if not os.path.isdir(path):
        raise FileNotFoundError(path)
    root = os.path.normpath(os.path.abspath(path))
    manifest = _find_manifest(root)
    if manifest:
        recs = [r for r in _read_csv(manifest) if os.path.abspath(r.path).startswith(root + os.sep)]
        if recs:
            return recs
    recs = _read_dir(root)
    if recs:
        return recs
    # a collection of datasets: each subfolder in its own layout, anything else unlabelled
    out: list[Record] = []
    for e in sorted(os.listdir(root)):
        sub = os.path.join(root, e)
        if os.path.isdir(sub):
            out += read_labels(sub)
        elif e.lower().endswith(VIDEO_EXTENSIONS):
            out.append(Record(sub, None))
    return _finish(out)
