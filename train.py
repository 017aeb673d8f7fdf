#!/usr/bin/env python
"""Train a detector: ``python train.py --data PATH... --features all -o MODEL_DIR`` (see --help)."""
import sys

from cli.commands import train_main

if __name__ == "__main__":
    sys.exit(train_main())
