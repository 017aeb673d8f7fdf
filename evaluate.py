#!/usr/bin/env python
"""Score a predictions CSV against labels: python evaluate.py predictions.csv --labels LABELS (see --help)."""
import sys

from cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
