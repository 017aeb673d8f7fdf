"""``evaluate.py``: score a predictions CSV (from ``predict.py -o``) against labels.

    python evaluate.py predictions.csv --labels LABELS [--by method,dataset,group] [--json out.json] [--model DIR]

LABELS is anything ``train.py`` reads (see :func:`dataformats.read_labels`), including a
plain CSV ``path,label[,group,method,dataset]``. Prints AUC with a bootstrap
95 % interval, clipped log loss, accuracy at 0.5, EER, average precision and
per-method / per-dataset / per-group breakdowns. It warns, with the count,
when labelled videos were in the model's own training set (``predict.py``
marks them in its ``in_training`` column; ``--model DIR`` checks the labelled
files' content hashes against that model's card as well).

Exit codes: 0 evaluated; 1 no prediction matched a label; 2 usage error
(missing or malformed CSV, unknown label layout).
"""
from __future__ import annotations

import argparse
import json

from reporting.evaluation import DEFAULT_CLIP, evaluate, format_text, jsonable

from .common import cli_errors

__all__ = ["main"]


@cli_errors("evaluate.py")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="evaluate.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", help="CSV written by predict.py -o (filename,label=P(fake),...)")
    ap.add_argument("--labels", required=True, help="ground truth: any label source train.py reads, or path,label CSV")
    ap.add_argument("--by", default="method,dataset,group", help="breakdowns, comma-separated (default: %(default)s)")
    ap.add_argument("--clip", type=float, default=DEFAULT_CLIP,
                    help="clip P to [c, 1-c] for the log loss (default: %(default)s)")
    ap.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the AUC interval")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    ap.add_argument("--model", default=None, metavar="DIR",
                    help="the model that wrote the predictions (the shipped default model: 'default'): warn about "
                         "labelled files whose content hash is in its training set")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = ap.parse_args(argv)
    by = tuple(b.strip() for b in args.by.split(",") if b.strip())
    bad = set(by) - {"method", "dataset", "group"}
    if bad:
        ap.error(f"--by takes method, dataset, group; not {', '.join(sorted(bad))}")
    hashes = None
    if args.model:
        from modeling.card import training_hashes
        from modeling.detector import DetectorModel

        hashes = training_hashes(DetectorModel.load(None if args.model == "default" else args.model).card)
    result = evaluate(args.predictions, args.labels, clip=args.clip, n_boot=args.n_boot, seed=args.seed, by=by,
                      training_hashes=hashes)
    print(format_text(result))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(jsonable(result), fh, indent=2, allow_nan=False)
    return 0 if result["n_matched"] else 1
