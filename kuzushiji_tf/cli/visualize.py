"""Draw a page's recognised characters on it (PNG): boxes from a model, or points from a submission CSV.

    kuzushiji-visualize --image page.jpg --out page.png                 # the shipped model's boxes
    kuzushiji-visualize --model saved_models/kuzushiji_page/1 --image page.jpg --out page.png
    kuzushiji-visualize --pred submission.csv --image data/train_images/X.jpg --truth data/train.csv --out X.png

Without --model or --pred, the model shipped with kuzushiji_tf reads the page (docs/pretrained.md); a
`model: ...` line on stderr says which model it was. With --truth, predictions are green when correct (same
label, point inside a truth box: the competition's matching), red when wrong, and truth boxes nobody found
are grey. The page's id is the image's file name
without its extension, as in the Kaggle CSVs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from kuzushiji_tf.cli.args import MODEL_HELP, add_no_context, chosen_model, prog
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "visualize"
DEFAULT_TRANSLATION = Path(__file__).resolve().parents[1] / "sample_data/kaggle_5p/unicode_translation.csv"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", help=MODEL_HELP)
    source.add_argument("--pred", help="submission CSV (image_id,labels) holding this page's predictions")
    p.add_argument("--image", required=True, help="the page (JPEG or PNG)")
    p.add_argument("--truth", help="train.csv-style truth: colours predictions correct / wrong / missed")
    p.add_argument(
        "--translation",
        default=None,
        help="unicode_translation.csv for --pred (default: the model's vocabulary, else the bundled table)",
    )
    p.add_argument("--out", required=True, help="PNG to write")
    add_no_context(p)
    p.add_argument("--max-side", type=int, default=1600, help="longer side of the PNG in pixels (default 1600)")
    return p.parse_args(argv)


def _model_predictions(model: Path, image: Path, context: bool = True):
    """(codes, boxes xyxy, {code: char}) from the exported recogniser (SavedModel or ONNX): every detection,
    as the research outputs keep them (the class threshold drops characters only from a Kaggle submission);
    the model loads only here."""
    from kuzushiji_tf.recognition.contract import CODES, OUT_BOXES, PageRefused

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.recognition.context import read_in_context
    from kuzushiji_tf.recognition.postprocess import page_results

    recognizer = load_page_model(model)
    try:
        result = page_results(recognizer([image.read_bytes()]))
        if context:
            result = read_in_context(result, recognizer.options)
    except PageRefused as error:
        raise ValueError(f"{image}: the model refused the image ({error})") from None
    return result[CODES], result[OUT_BOXES], dict(recognizer.vocabulary)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from kuzushiji_tf.datasets.kaggle_labels import LabelsFileError, read_truth_csv
    from kuzushiji_tf.datasets.kaggle_reader import DataError, read_unicode_translation
    from kuzushiji_tf.datasets.kaggle_submission import read_submission
    from kuzushiji_tf.scans.images import ImageError, load_image
    from kuzushiji_tf.visualization import CORRECT, draw_page, page_colours, save_png

    image_path = Path(args.image)
    image_id = image_path.stem
    try:
        if args.max_side < 1:
            raise ValueError(f"--max-side must be >= 1; received {args.max_side}")
        image = load_image(image_path, formats=("JPEG", "PNG"))
        truth = None
        if args.truth:
            truth = read_truth_csv(args.truth).get(image_id)
            if truth is None:
                raise ValueError(f"{args.truth}: no row for image_id {image_id} (the image's file name)")
        translation = read_unicode_translation(args.translation) if args.translation else None
        if not args.pred:  # chosen_model: a clear error for a folder with no export, before the model loads
            codes, boxes, vocabulary = _model_predictions(chosen_model(args).path, image_path, not args.no_context)
            translation, points = translation or vocabulary, None
        else:
            predictions = read_submission(args.pred).get(image_id)
            if predictions is None:
                raise ValueError(f"{args.pred}: no row for image_id {image_id} (the image's file name)")
            codes = [p.code for p in predictions]
            points, boxes = np.array([(p.x, p.y) for p in predictions], np.float64).reshape(-1, 2), None
            translation = translation or read_unicode_translation(DEFAULT_TRANSLATION)
        page = draw_page(
            image, codes, pred_boxes=boxes, pred_xy=points, truth=truth, translation=translation, max_side=args.max_side
        )
        out = save_png(page, args.out)
    except (FileNotFoundError, ValueError, OSError, ImageError, LabelsFileError, DataError) as error:
        return fail(PROG, error)
    summary = f"{len(codes)} predictions"
    if truth is not None:
        xy = points if points is not None else (np.asarray(boxes)[:, :2] + np.asarray(boxes)[:, 2:]) / 2
        colours, missed = page_colours(codes, xy, truth[0], truth[1])
        correct = sum(c == CORRECT for c in colours)
        summary += f": {correct} correct, {len(codes) - correct} wrong, {int(missed.sum())} missed of {len(truth[0])}"
    print(f"{PROG}: {image_path.name}: {summary} -> {out} ({page.size[0]}x{page.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
