"""Feature cache: retraining does not decode again.

One JSON file per (file content hash, frames, dense length, variant, seed,
calculator versions); JSON rather than pickle so that reading a cache cannot
execute code.
"""
from __future__ import annotations

import hashlib
import json
import os

__all__ = ["file_hash", "FeatureCache"]


def file_hash(path: str, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of the file's content (first 16 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()[:16]


class FeatureCache:
    """A folder of ``<key>.json`` entries; ``None`` folder disables caching."""

    def __init__(self, folder: str | None):
        self.folder = folder
        if folder:
            os.makedirs(folder, exist_ok=True)

    @staticmethod
    def key(content_hash: str, config: dict) -> str:
        blob = json.dumps(config, sort_keys=True).encode()
        return f"{content_hash}-{hashlib.sha256(blob).hexdigest()[:16]}"

    def get(self, key: str):
        if not self.folder:
            return None
        p = os.path.join(self.folder, key + ".json")
        try:
            with open(p) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def put(self, key: str, value) -> None:
        if not self.folder:
            return
        p = os.path.join(self.folder, key + ".json")
        tmp = p + f".{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(value, f, allow_nan=True)
        os.replace(tmp, p)
