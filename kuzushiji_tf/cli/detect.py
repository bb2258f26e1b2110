"""Detect the characters of a Kaggle-layout folder's pages with a trained detector (labels not predicted).

    kuzushiji-detect --model saved_models/det --data-dir data/synth --split val --out preds.csv
    kuzushiji-evaluate --truth preds.truth.csv --pred preds.csv     # detection-only F1 is the figure

Writes a submission-format CSV whose points are the box centres (code U+003F: detection names no
character), and for labelled splits the selected pages' truth beside it (`<out>.truth.csv`), and prints
detection-only F1 on them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from kuzushiji_tf.cli.args import DETECTOR, add_nms, add_short_side
from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.datasets.book_split import DEFAULT_NUM_FOLDS

PROG = "detect"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model", required=True, help="detector training folder (with model.keras), a .keras file, or `shipped`"
    )
    p.add_argument("--data-dir", required=True, help="Kaggle-layout folder")
    p.add_argument(
        "--split",
        default="val",
        choices=("train", "val", "all", "test"),
        help="book-grouped fold of train.csv (train/val), all labelled pages, or the test pages",
    )
    p.add_argument("--fold", type=int, default=0, help="validation fold, as in build_records (default 0)")
    p.add_argument("--num-folds", type=int, default=DEFAULT_NUM_FOLDS)
    p.add_argument("--out", required=True, help="predictions CSV (submission format)")
    add_short_side(p)
    p.add_argument(
        "--score-threshold",
        type=float,
        default=DETECTOR.score_threshold,
        help="detector score threshold (default %(default)s)",
    )
    add_nms(p)
    p.add_argument(
        "--adaptive",
        action="store_true",
        help="adaptive multi-scale: rescale to 35 px characters, detect at x0.8/1/1.25, box voting",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.pretrained import training_folder

    args.model = training_folder(args.model, "detector")
    from kuzushiji_tf.datasets.kaggle_labels import LabelsFileError
    from kuzushiji_tf.datasets.kaggle_reader import DataError
    from kuzushiji_tf.datasets.kaggle_submission import write_submission
    from kuzushiji_tf.detection import detect_pages as page_detection
    from kuzushiji_tf.evaluation.metric import evaluate, truth_from_pages
    from kuzushiji_tf.models.saved_models import load_model
    from kuzushiji_tf.scans.images import ImageError

    try:
        pages = page_detection.select_pages(args.data_dir, args.split, fold=args.fold, num_folds=args.num_folds)
        model = load_model(args.model)
        start = time.perf_counter()
        found = page_detection.detect_pages(
            model,
            pages,
            progress=not args.quiet,
            short_side=args.short_side,
            score_threshold=args.score_threshold,
            nms_iou=args.nms_iou,
            contained_share=args.contained_share,
            adaptive=args.adaptive,
        )
        seconds = time.perf_counter() - start
        out = write_submission(args.out, page_detection.as_submission(found), [p.image_id for p in pages])
    except (FileNotFoundError, ValueError, DataError, ImageError, LabelsFileError) as error:
        return fail(PROG, error)
    count = sum(len(f.scores) for f in found.values())
    print(
        f"detect: {len(pages)} pages, {count} characters in {seconds:.1f}s "
        f"({len(pages) / max(seconds, 1e-9):.2f} pages/s) -> {out}"
    )
    if args.split != "test":
        truth_path = page_detection.write_truth_csv(Path(args.out).with_suffix(".truth.csv"), pages)
        score = evaluate(truth_from_pages(pages), page_detection.as_submission(found)).detection
        print(
            f"detection-only TP {score.tp}  FP {score.fp}  FN {score.fn}  precision {score.precision:.4f}  "
            f"recall {score.recall:.4f}  F1 {score.f1:.4f}  (truth: {truth_path})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
