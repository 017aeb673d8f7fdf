"""The CI's second dispatch path uses exactly the switches that tests/golden.py measured its tolerances with."""
from __future__ import annotations

import os
import re

from .golden import GENERIC_SIMD_ENV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ci_runs_the_golden_and_determinism_tests_on_the_generic_simd_path():
    text = open(os.path.join(ROOT, ".ci", "run")).read()
    for name, value in GENERIC_SIMD_ENV.items():
        assert re.search(rf'{name}="{re.escape(value)}"', text), name
    last = text.strip().splitlines()[-1]
    for test in ("tests/test_golden.py", "tests/test_codec.py", "tests/test_determinism.py"):
        assert test in last, test
