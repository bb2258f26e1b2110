"""Write a Kaggle submission for a Kaggle-layout folder's test pages with an exported page recogniser.

    kuzushiji-make-submission --model saved_models/kuzushiji_page/1 --data-dir data/synth --out submission.csv

The point of each character is its box centre. The file is validated against sample_submission.csv
(every id, the format, at most 1,200 points a page) before it is written, and written atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from kuzushiji_tf.cli.args import add_no_context, chosen_model
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "make_submission"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model",
        required=True,
        help="exported page recogniser (e.g. saved_models/kuzushiji_page/1), a model package, or `shipped`",
    )
    p.add_argument("--data-dir", required=True, help="Kaggle-layout folder (sample_submission.csv, test_images/)")
    p.add_argument("--out", required=True, help="submission CSV to write")
    p.add_argument("--batch-size", type=int, default=4, help="pages per call, default %(default)s")
    add_no_context(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.datasets.kaggle_reader import DataError, read_test
    from kuzushiji_tf.datasets.kaggle_submission import SubmissionError, write_submission
    from kuzushiji_tf.recognition.batch_recognition import submission_points

    try:
        pages = read_test(args.data_dir).pages
        if not pages:
            raise ValueError(f"{args.data_dir}: no test pages (sample_submission.csv or test_images/)")
        model = load_page_model(chosen_model(args).path)
        start = time.perf_counter()
        predictions = submission_points(
            model, pages, batch_size=args.batch_size, progress=not args.quiet, context=not args.no_context
        )
        seconds = time.perf_counter() - start
        out = write_submission(args.out, predictions, expected_ids=[p.image_id for p in pages])
    except (FileNotFoundError, ValueError, DataError, SubmissionError) as error:
        return fail(PROG, error)
    count = sum(len(v) for v in predictions.values())
    print(
        f"make_submission: {len(pages)} pages, {count} characters in {seconds:.1f}s "
        f"({len(pages) / max(seconds, 1e-9):.2f} pages/s) -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
