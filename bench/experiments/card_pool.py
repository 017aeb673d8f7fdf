"""The training pool a model's card names, read back through the feature cache (shared by the probes here)."""
from __future__ import annotations

import json
import os


class CardPool:
    """A trained model's pool: its card, the parsed ``train.py`` arguments (``features`` overridden when
    given) and what they train on. :meth:`rows` extracts the pool (normally all from the cache) and
    :meth:`table` any other records with the same calculators and sampling."""

    def __init__(self, model_dir: str, *, features: str | None = None, cache: str | None, workers: int):
        from cli.train import args_from_card, training_inputs

        with open(os.path.join(model_dir, "model_card.json")) as f:
            self.card = json.load(f)
        self.args = args_from_card(self.card)
        if features:
            self.args.features = features
        self.calcs, self.records, self.fakes, self.augment, self.donors = training_inputs(self.args)
        self.cache, self.workers = cache or None, workers

    def table(self, records, *, rows: str | None = None, synthetic: bool = False) -> tuple[list, dict]:
        """``(rows, failures)`` of ``records`` (with the pool's synthetic kinds and codec copies when
        ``synthetic``), as ``train.py`` extracts them; ``rows`` defaults to the card's."""
        from pipeline.batch import extract_table

        extra = dict(fakes=self.fakes, augment=self.augment, donors=self.donors) if synthetic else {}
        return extract_table(records, calculators=self.calcs, frames=self.args.frames, dense=self.args.dense,
                             stride=self.args.stride, device="cpu", seed=self.args.seed, cache_dir=self.cache,
                             workers=self.workers,
                             rows=rows or self.args.rows, log=lambda *a: None, **extra)

    def rows(self, *, rows: str | None = None) -> tuple[list, dict]:
        """The pool itself: every record with its synthetic kinds and codec copies."""
        return self.table(self.records, rows=rows, synthetic=True)
