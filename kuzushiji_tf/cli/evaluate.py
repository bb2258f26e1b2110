"""Score a submission CSV against a train.csv-style truth file with the competition's micro F1.

    kuzushiji-evaluate --truth train.csv --pred submission.csv [--json] [--unknown-ids raise]
    kuzushiji-evaluate --truth train.csv --pred submission.csv --report report.json   # per class, confusions

Prints the labelled score (the leaderboard metric) and the detection-only score, or one JSON object.
A malformed file or an id mismatch prints one line on stderr (file, line, image id) and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.datasets.kaggle_labels import LabelsFileError, read_truth_csv
from kuzushiji_tf.datasets.kaggle_reader import DataError, read_unicode_translation
from kuzushiji_tf.datasets.kaggle_submission import read_submission
from kuzushiji_tf.evaluation.metric import UNKNOWN_ID_POLICIES, Score, UnknownImageIdsError, evaluate
from kuzushiji_tf.evaluation.report import class_report, format_report

PROG = "evaluate"


def write_json_atomic(path: str, value) -> None:
    write_atomic(path, json.dumps(value, ensure_ascii=False, indent=1))


def _line(name: str, score: Score) -> str:
    return (
        f"{name:<15} TP {score.tp}  FP {score.fp}  FN {score.fn}  precision {score.precision:.4f}  "
        f"recall {score.recall:.4f}  F1 {score.f1:.4f}"
    )


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", required=True, help="CSV with image_id,labels of U+XXXX X Y W H groups")
    parser.add_argument("--pred", required=True, help="submission CSV with image_id,labels of U+XXXX X Y groups")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--unknown-ids",
        choices=UNKNOWN_ID_POLICIES,
        default="raise",
        help="prediction pages absent from the truth: error (default), ignore them, or count them as FP",
    )
    parser.add_argument(
        "--report",
        help="also write per-class precision/recall and the top confusions "
        "(truth -> predicted) to this JSON file, and print a short table",
    )
    parser.add_argument("--translation", help="unicode_translation.csv for the report's characters")
    args = parser.parse_args(argv)
    try:
        truth = read_truth_csv(args.truth)
        predictions = read_submission(args.pred)
        result = evaluate(truth, predictions, unknown_ids=args.unknown_ids)
        report = None
        if args.report:
            translation = read_unicode_translation(args.translation) if args.translation else None
            report = class_report(truth, predictions, translation)
            write_json_atomic(args.report, report)
    except (LabelsFileError, DataError, OSError) as e:
        return fail(PROG, e)
    except UnknownImageIdsError as e:
        return fail(PROG, f"{args.pred}: {e} ({args.truth}); see --unknown-ids")
    if args.json:
        print(json.dumps({"truth": args.truth, "pred": args.pred, **result.as_dict()}))
    else:
        print(f"pages {result.pages}")
        print(_line("labelled", result.labelled))
        print(_line("detection-only", result.detection))
    if report is not None and not args.json:
        print(format_report(report))
        print(f"report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
