"""Pseudo-label the test pages of a records folder: confident detector + classifier predictions become
crop records for fine-tuning the classifier.

    python tools/pseudo_label.py --detector saved_models/det --classifier saved_models/cls \
        --records records/synth --out records/synth/pseudo --det-threshold 0.5 --cls-threshold 0.9
    python -m kuzushiji_tf.train --task classifier --init saved_models/cls --pseudo records/synth/pseudo ...
"""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detector", required=True, help="detector training folder (model.keras) or .keras file")
    p.add_argument("--classifier", required=True, help="classifier training folder (model.keras) or .keras file")
    p.add_argument("--records", required=True, help="records folder whose test pages are labelled")
    p.add_argument("--out", required=True, help="folder for the pseudo-labelled crop records")
    p.add_argument("--det-threshold", type=float, default=0.5, help="detector score, default %(default)s")
    p.add_argument("--cls-threshold", type=float, default=0.9, help="class probability, default %(default)s")
    p.add_argument("--short-side", type=int, default=832, help="detector short side, default %(default)s")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--truth", help="optional train.csv-style truth of the test pages (a synthetic set's "
                                   "test_truth.csv): the pseudo-labels' precision goes into the manifest")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.inference.pseudo_labels import PseudoLabelOptions, write_pseudo_labels
    from kuzushiji_tf.inference.saved_models import load_model
    from kuzushiji_tf.kaggle.labels import LabelsFileError, read_truth_csv

    try:
        options = PseudoLabelOptions(det_threshold=args.det_threshold, cls_threshold=args.cls_threshold,
                                     short_side=args.short_side, shards=args.shards)
        truth = read_truth_csv(args.truth) if args.truth else None
        manifest = write_pseudo_labels(load_model(args.detector), load_model(args.classifier), args.records,
                                       args.out, options, truth=truth, progress=not args.quiet)
    except (FileNotFoundError, ValueError, LabelsFileError) as error:
        print(f"pseudo_label: error: {error}", file=sys.stderr)
        return 2
    line = (f"pseudo_label: {manifest['pages']} test pages -> {manifest['crops']} crops of {manifest['classes']} "
            f"classes (det >= {args.det_threshold}, class >= {args.cls_threshold}) in {manifest['seconds']}s -> {args.out}")
    if "precision_vs_truth" in manifest:
        line += f"; precision vs truth {manifest['precision_vs_truth']['precision']:.4f}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
