#!/usr/bin/env python
"""Score videos: python predict.py PATH... -o predictions.csv (see --help)."""
import sys

from cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
