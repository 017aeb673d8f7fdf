"""The label layer: one record type, one label parser, one path-list reader.

Every dataset adapter (:mod:`dataformats.formats`), the training CLI and
``evaluate.py`` use these; label 1 = FAKE, 0 = REAL, ``None`` = unknown.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from pipeline.video import VIDEO_EXTENSIONS

__all__ = ["Record", "parse_label", "read_path_list", "list_videos", "FAKE_WORDS", "REAL_WORDS"]

#: words read as FAKE (1) / REAL (0), case-insensitive
FAKE_WORDS = frozenset({"1", "fake", "true", "yes", "spoof", "deepfake", "manipulated", "synthetic"})
REAL_WORDS = frozenset({"0", "real", "false", "no", "pristine", "original", "genuine"})


@dataclass
class Record:
    """One video and what is known of it.

    ``group`` is filled by the readers so that a fake, its original and every
    clip sharing an identity have one group (grouped cross-validation never
    splits them); ``original`` is the real clip a fake was made from, when known.
    """

    path: str
    label: int | None
    group: str = ""
    method: str = ""
    dataset: str = ""
    original: str = ""
    licence: str = ""
    source: str = ""


def parse_label(value) -> int | None:
    """REAL/FAKE words, 0/1 (1 = fake), booleans -> 0/1; empty or None -> None.

    Raises ``ValueError`` for anything else, naming the accepted forms.
    """
    if value is None or isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return int(value)
    word = str(value).strip().lower()
    if word == "":
        return None
    if word in FAKE_WORDS:
        return 1
    if word in REAL_WORDS:
        return 0
    try:
        number = float(word)
    except ValueError:
        number = None
    if number in (0.0, 1.0):
        return int(number)
    raise ValueError(f"unrecognised label {value!r} (use REAL/FAKE or 0/1 with 1 = fake)")


def read_path_list(path: str) -> list[str]:
    """Paths listed one per line in a ``.txt`` file (``#`` comments and blank lines skipped),
    relative ones resolved against the list's folder."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f]
    return [ln if os.path.isabs(ln) else os.path.join(base, ln) for ln in lines if ln and not ln.startswith("#")]


def list_videos(root: str, *, strays: bool = False) -> list[str]:
    """Video files under ``root`` (recursive, sorted), by extension.

    With ``strays``, folders named like videos (``clip.mp4/``) are listed too, so that the caller can say
    why they were not scored instead of dropping them (their contents are still searched).
    """
    out = []
    for d, dirs, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
        if strays:
            out += [os.path.join(d, f) for f in dirs if f.lower().endswith(VIDEO_EXTENSIONS)]
    return sorted(out)
