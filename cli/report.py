"""``report.py``: write the self-contained HTML report of a trained model.

    python report.py MODEL_DIR [-o OUT_DIR]

MODEL_DIR is what ``train.py -o`` wrote (model.txt, model_card.json, oof.csv,
features.csv). The report (OUT_DIR/report.html, default MODEL_DIR/report/)
shows feature importance, per-family contributions, cross-validated metrics,
ROC and reliability curves and score histograms, with every plot embedded.
"""
from __future__ import annotations

import argparse
import os

from reporting.model_report import build_report

from .common import cli_errors

__all__ = ["main"]


@cli_errors("report.py")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="report.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", help="model directory written by train.py")
    ap.add_argument("-o", "--output", default=None, help="output folder (default: MODEL_DIR/report)")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = ap.parse_args(argv)
    out = args.output or os.path.join(args.model_dir, "report")
    print(build_report(args.model_dir, out))
    return 0
