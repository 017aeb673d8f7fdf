"""Orchestration: decode, detect, extract, train, predict. File handling lives here and in the CLIs."""
