"""Training-time synthesis: fakes made from real footage, and degraded copies.

Nothing here runs at prediction time. :mod:`synthesis.selfblend` makes
self-blended fakes; :mod:`synthesis.variants` turns one decoded video into the
training variants that ``train.py --synthesize --reencode`` asks for.
"""
