"""The layout of README "Where things live": each folder reaches the others through their public names only."""
from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ["forensics", "features", "pipeline", "synthesis", "modeling", "dataformats", "reporting", "cli"]


def _imports(folder):
    """(file, module, name) of every ``from module import name`` and ``import module`` under ``folder``."""
    for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
        for fn in files:
            if not fn.endswith(".py"):
                continue
            path = os.path.join(dirpath, fn)
            tree = ast.parse(open(path, encoding="utf-8").read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for a in node.names:
                        yield os.path.relpath(path, ROOT), node.module, a.name
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        yield os.path.relpath(path, ROOT), a.name, None


def test_reporting_gets_arrays_and_maps_from_features_not_from_the_array_backend():
    bad = [(f, m) for f, m, _ in _imports("reporting") if m.split(".")[0] == "forensics"]
    assert not bad, bad


def test_no_folder_imports_another_folders_private_names():
    bad = []
    for pkg in PACKAGES + ["bench"]:
        for f, m, name in _imports(pkg):
            top = m.split(".")[0]
            if top in PACKAGES and top != pkg and name and name.startswith("_"):
                bad.append((f, m, name))
    assert not bad, sorted(set(bad))
