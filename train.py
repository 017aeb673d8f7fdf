#!/usr/bin/env python
"""Train a detector: python train.py --data PATH... -o MODEL_DIR (see --help)."""
import sys

from cli.train import main

if __name__ == "__main__":
    sys.exit(main())
