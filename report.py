#!/usr/bin/env python
"""HTML report of a trained model: python report.py MODEL_DIR [-o OUT_DIR] (see --help)."""
import sys

from cli.report import main

if __name__ == "__main__":
    sys.exit(main())
