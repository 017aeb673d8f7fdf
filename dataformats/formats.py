"""One adapter per labelled-data layout, behind a small registry.

Every adapter returns :class:`~dataformats.records.Record` rows with a
``group`` such that a fake, its original and every other clip sharing an
identity fall in one group, so that grouped cross-validation does not leak.

Folder layouts (:data:`FOLDER_FORMATS`, tried in order by :func:`read_labels`):

* ``dfdc``: a folder with ``metadata.json`` (``{"x.mp4": {"label": "FAKE", "original": "y.mp4"}}``),
  or a folder of ``dfdc_train_part_N`` folders;
* ``celeb-df``: ``List_of_testing_videos.txt`` (``<label> <relpath>``, where **1 = REAL, 0 = FAKE**);
* ``faceforensics++``: ``original_sequences/<src>/<comp>/videos/000.mp4`` and
  ``manipulated_sequences/<Method>/<comp>/videos/000_003.mp4``;
* ``real-fake``: plain ``real/`` and ``fake/`` folders (UADFV's ``NNNN_fake.mp4`` pairs with ``NNNN.mp4``).

Files: a CSV ``path,label[,group]`` (label REAL/FAKE or 0/1 with 1 = fake; extra columns ``method``,
``dataset``, ``original``, ``licence``, ``source_repo`` are used when present; with an ``original``
column, groups are built by linking each fake to its original); a ``.txt`` list of paths (labels
unknown); ``metadata.json``; a single video. A folder governed by a ``manifest.csv`` (or
``labels.csv``) in it or up to three levels above (as ``../shared/data``) gives its rows under that
folder; any other folder is read as a collection: each subfolder in its own layout, loose videos
unlabelled.

To support a new layout, write ``detect(root) -> bool`` and ``read(root) -> list[Record]`` and add a
:class:`FolderFormat` to :data:`FOLDER_FORMATS`.
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from typing import Callable

from pipeline.video import VIDEO_EXTENSIONS

from .records import Record, list_videos, parse_label, read_path_list

__all__ = ["FolderFormat", "FOLDER_FORMATS", "read_labels", "read_csv_labels", "assign_groups"]


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


#: file-name endings that mark another resolution of the same take (``clip_SR.mp4`` is ``clip.mp4`` upscaled)
_RESOLUTION_SUFFIX = re.compile(r"[_-](sr|hd|4k|256|512|1024|720p|1080p)$", re.IGNORECASE)


def _take_id(path: str) -> str:
    """The take a file is a resolution variant of: its folder and its name without a resolution suffix."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return "take:" + os.path.join(os.path.dirname(os.path.normpath(path)), _RESOLUTION_SUFFIX.sub("", stem))


def assign_groups(records: list[Record]) -> list[Record]:
    """Set every record's group by union-find over its path, its original, identity keys, its take (copies of
    one clip at another resolution, ``x.mp4`` and ``x_SR.mp4``) and any given group."""
    g = _Groups()
    for r in records:
        keys = [os.path.normpath(r.path)] + ([os.path.normpath(r.original)] if r.original else [])
        keys += _ffpp_ids(r.path) + _celeb_ids(r.path) + [_take_id(r.path)]
        if r.group:
            keys.append("user:" + r.group)
        g.union(*keys)
    for r in records:
        r.group = g.find(os.path.normpath(r.path))
    return records


# ----------------------------------------------------------------------------- files

#: accepted names of the path and label columns of a label CSV, in order of preference
PATH_COLUMNS = ("path", "filename", "file", "video", "name")
LABEL_COLUMNS = ("label", "is_fake", "fake", "target")


def read_csv_labels(path: str) -> list[Record]:
    """A label CSV: a path column and a label column (see :data:`PATH_COLUMNS`, :data:`LABEL_COLUMNS`)."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return []
    keys = {k.strip().lower(): k for k in rows[0] if k}
    pcol = next((keys[k] for k in PATH_COLUMNS if k in keys), None)
    lcol = next((keys[k] for k in LABEL_COLUMNS if k in keys), None)
    if pcol is None or lcol is None:
        raise ValueError(f"{path}: a label CSV needs a path column ({'/'.join(PATH_COLUMNS)}) and a label column "
                         f"({'/'.join(LABEL_COLUMNS)}); found {list(rows[0])}")

    def col(r, name):
        return (r.get(keys.get(name, ""), "") or "").strip()

    has_original = "original" in keys
    out = []
    for r in rows:
        p = r[pcol].strip()
        full = p if os.path.isabs(p) else os.path.join(base, p)
        orig = col(r, "original")
        out.append(Record(
            path=os.path.normpath(full),
            label=parse_label(r.get(lcol, "")),
            # with an 'original' column, link fakes to originals instead of trusting a coarse group column
            group="" if has_original else col(r, "group"),
            method=col(r, "method"),
            dataset=col(r, "dataset"),
            original=os.path.normpath(os.path.join(base, orig)) if orig else "",
            licence=col(r, "licence") or col(r, "license"),
            source=col(r, "source_repo") or col(r, "source"),
        ))
    return assign_groups(out)


def _read_dfdc(root: str) -> list[Record]:
    out = []
    for d, _, files in os.walk(root):
        if "metadata.json" not in files:
            continue
        with open(os.path.join(d, "metadata.json"), encoding="utf-8") as f:
            meta = json.load(f)
        for name, m in meta.items():
            orig = m.get("original")
            label = parse_label(m.get("label", ""))
            out.append(Record(os.path.join(d, name), label, original=os.path.join(d, orig) if orig else "",
                              dataset="DFDC", method="fake" if label == 1 else "real"))
    return assign_groups([r for r in out if os.path.exists(r.path)])


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
    return assign_groups(out)


def _read_celeb(txt: str) -> list[Record]:
    base = os.path.dirname(os.path.abspath(txt))
    out = []
    with open(txt, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2:
                continue
            lab, rel = parts
            # Celeb-DF's list: 1 = REAL, 0 = FAKE (the reverse of every other format)
            label = {"1": 0, "0": 1}[lab]
            out.append(Record(os.path.join(base, rel), label, dataset="Celeb-DF", method=rel.split("/")[0]))
    return assign_groups(out)


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
    return assign_groups(out)


# ----------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class FolderFormat:
    """A folder layout: ``detect(root, entries)`` says whether ``root`` is one; ``read(root)`` reads it."""

    name: str
    detect: Callable[[str, set], bool]
    read: Callable[[str], list]


FOLDER_FORMATS = (
    FolderFormat("dfdc", lambda root, e: "metadata.json" in e or any(x.startswith("dfdc_train_part") for x in e),
                 _read_dfdc),
    FolderFormat("celeb-df", lambda root, e: "List_of_testing_videos.txt" in e,
                 lambda root: _read_celeb(os.path.join(root, "List_of_testing_videos.txt"))),
    FolderFormat("faceforensics++", lambda root, e: bool({"original_sequences", "manipulated_sequences"} & e),
                 _read_ffpp),
    FolderFormat("real-fake", lambda root, e: {"real", "fake"} <= e, _read_real_fake),
)


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


def _read_file(path: str) -> list[Record]:
    low = path.lower()
    if low.endswith(".csv"):
        return read_csv_labels(path)
    if os.path.basename(path) == "List_of_testing_videos.txt":
        return _read_celeb(path)
    if low.endswith(".json"):
        return _read_dfdc(os.path.dirname(path))
    if low.endswith(".txt"):
        return assign_groups([Record(p, None) for p in read_path_list(path)])
    if low.endswith(VIDEO_EXTENSIONS):
        return assign_groups([Record(os.path.normpath(path), None)])
    raise ValueError(f"{path}: not a video, a label CSV, a .txt list or metadata.json")


def read_labels(path: str) -> list[Record]:
    """Records for ``path`` in any supported layout (see the module docstring)."""
    if os.path.isfile(path):
        return _read_file(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no such file or folder: {path}")
    root = os.path.normpath(os.path.abspath(path))
    manifest = _find_manifest(root)
    if manifest:
        recs = [r for r in read_csv_labels(manifest) if os.path.abspath(r.path).startswith(root + os.sep)]
        if recs:
            return recs
    entries = set(os.listdir(root))
    for fmt in FOLDER_FORMATS:
        if fmt.detect(root, entries):
            recs = fmt.read(root)
            if recs:
                return recs
    # a collection of datasets: each subfolder in its own layout, anything else unlabelled
    out: list[Record] = []
    for e in sorted(entries):
        sub = os.path.join(root, e)
        if os.path.isdir(sub):
            out += read_labels(sub)
        elif e.lower().endswith(VIDEO_EXTENSIONS):
            out.append(Record(sub, None))
    return assign_groups(out)
