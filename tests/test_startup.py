"""Worker start-up: LightGBM imported without its optional integrations scores exactly as the full import."""
from __future__ import annotations

import json
import subprocess
import sys

ROOT = __file__.rsplit("/tests/", 1)[0]

_SCORE = """
import json, sys
sys.path.insert(0, {root!r})
if {lean}:
    from pipeline.batch import lean_lightgbm
    lean_lightgbm()
import numpy as np
from modeling.detector import DetectorModel
m = DetectorModel.load()
x = np.random.default_rng(0).normal(size=(64, len(m.card["features"])))
print(json.dumps({{"raw": m.booster.predict(x, raw_score=True).tolist(), "sklearn": "sklearn.base" in sys.modules,
                  "importable": __import__("importlib").util.find_spec("sklearn") is not None}}))
"""


def _run(lean: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", _SCORE.format(root=ROOT, lean=lean)], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_lean_lightgbm_scores_identically():
    lean, full = _run(True), _run(False)
    assert lean["raw"] == full["raw"]  # bit-identical scores
    assert not lean["sklearn"]  # scikit-learn was not loaded for it


def _probe(_item):
    import sys

    return {"lightgbm": "lightgbm" in sys.modules, "sklearn": "sklearn.base" in sys.modules}


def test_worker_imports_lightgbm_lean():
    """A supervised worker has LightGBM loaded (lean) before its first item, and no scikit-learn."""
    from pipeline.batch import PRELOAD, supervised_map

    assert "lightgbm" not in PRELOAD
    out = list(supervised_map(_probe, [0], 1, timeout=60))
    assert out[0].status == "done", out[0]
    assert out[0].value == {"lightgbm": True, "sklearn": False}
