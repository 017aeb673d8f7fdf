"""What every command shares: inputs, calculators named by a model, device choice."""
from __future__ import annotations

import os

from dataformats import list_videos, read_path_list
from features.registry import all_calculators

__all__ = ["collect_inputs", "calculators_by_key"]


def calculators_by_key(keys: list[str]):
    """The installed calculators a model names, in its order; exits when one is missing."""
    known = {c.key: c for c in all_calculators()}
    missing = [k for k in keys if k not in known]
    if missing:
        raise SystemExit(f"the model needs calculators this installation lacks: {', '.join(missing)}")
    return [known[k] for k in keys]


def collect_inputs(paths: list[str]) -> list[str]:
    """Video files named by PATH arguments: files, folders (recursive) or .txt lists, without repeats."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out += list_videos(p)
        elif p.lower().endswith(".txt") and os.path.isfile(p):
            out += read_path_list(p)
        else:
            out.append(p)  # a missing or non-video file still gets its own row and status
    return list(dict.fromkeys(out))
