"""Export the page recogniser (one SavedModel: encoded page in, characters out) and the detector and
classifier on their own, in TF Serving's `name/<version>/` layout; or, with --format onnx, the page
recogniser as ONNX models for ONNX Runtime.

    kuzushiji-export --detector saved_models/det --classifier saved_models/cls \
        --out saved_models/kuzushiji_page/1
writes saved_models/kuzushiji_page/1, saved_models/kuzushiji_detector/1 and saved_models/kuzushiji_classifier/1.

    kuzushiji-export --format onnx --detector saved_models/det --classifier saved_models/cls \
        --out saved_models/kuzushiji_page_onnx/1
writes only saved_models/kuzushiji_page_onnx/1 (any name/<integer version>): detector.onnx, classifier.onnx
and the same assets/ as the SavedModel (vocabulary.csv, recognizer.json) plus assets/onnx_runtime.json.
`kuzushiji-recognize --model` runs it with ONNX Runtime, numpy and OpenCV, without importing TensorFlow
(`kuzushiji_tf.backends.onnx`). The ONNX export needs the `onnx` extra: pip install -e .[onnx].
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kuzushiji_tf.cli.args import DETECTOR, add_nms, add_short_side, positive
from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.config import CLASS_THRESHOLD, MAX_IMAGE_BYTES, MAX_PIXELS, SCALE_POLICIES, TOP_K, TRAIN_CHAR_HEIGHT

FORMATS = ("savedmodel", "onnx")
ONNX_EXTRA = "pip install -e .[onnx]"
PROG = "export"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detector", required=True, help="detector training folder (model.keras) or .keras file")
    p.add_argument("--classifier", required=True, help="classifier training folder (model.keras) or .keras file")
    p.add_argument("--vocabulary", help="vocabulary.csv (class_id,code,char); default: the classifier folder's")
    p.add_argument("--out", required=True, help="saved_models/<name>/<integer version>")
    add_short_side(p)
    p.add_argument(
        "--det-threshold", type=float, default=DETECTOR.score_threshold, help="default %(default)s (docs/recipe.md)"
    )
    p.add_argument("--cls-threshold", type=float, default=CLASS_THRESHOLD, help="default %(default)s (docs/recipe.md)")
    add_nms(p)
    p.add_argument("--max-image-bytes", type=int, default=MAX_IMAGE_BYTES)
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    p.add_argument(
        "--top-k",
        type=positive(int),
        default=TOP_K,
        help="candidate classes returned per character (default %(default)s; at most the number of classes)",
    )
    p.add_argument(
        "--context",
        metavar="JSON",
        help="the temperature and context-decoding settings kuzushiji-tune-context chose (default: "
        "temperature 1 and the settings in kuzushiji_tf/config.py)",
    )
    p.add_argument(
        "--scale",
        choices=SCALE_POLICIES,
        default="auto",
        help="auto (default): read each page a second time at the short side that brings its median character "
        "to the size the detector was trained on, when that differs enough from --short-side; fixed: every "
        "page at --short-side (docs/recognition.md)",
    )
    p.add_argument(
        "--target-char-height",
        type=positive(float),
        metavar="PX",
        help="--scale auto: the median character height, in detector input pixels, that a page is brought to "
        "(default: measured on the training views of the records named in the detector's config.json, else "
        f"{TRAIN_CHAR_HEIGHT} x its training input size)",
    )
    p.add_argument(
        "--min-short-side",
        type=positive(int),
        help="--scale auto: the smallest short side (default: 0.5 x --short-side)",
    )
    p.add_argument(
        "--max-short-side", type=positive(int), help="--scale auto: the largest short side (default: 2 x --short-side)"
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="savedmodel",
        help="savedmodel (TF Serving; default) or onnx (ONNX Runtime, the page recogniser only)",
    )
    p.add_argument("--no-parts", action="store_true", help="export only the page recogniser (always so with onnx)")
    return p.parse_args(argv)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.backends.tf.export import export_model, export_page_recognizer
    from kuzushiji_tf.data.records import read_vocabulary
    from kuzushiji_tf.measure.context_tuning import read_settings
    from kuzushiji_tf.models.classifier import num_classes
    from kuzushiji_tf.models.saved_models import load_model, resolve_keras_file
    from kuzushiji_tf.recognition.contract import RecognizerOptions, check_version_dir

    export_onnx_recognizer = None
    if args.format == "onnx":
        try:
            from kuzushiji_tf.backends.onnx.export import check_onnx_export_available, export_onnx_recognizer

            check_onnx_export_available()
        except ImportError as error:
            message = str(error) if ONNX_EXTRA in str(error) else f"{error}; {ONNX_EXTRA}"
            return fail(PROG, message)
    try:
        out = check_version_dir(args.out)
        parts = (
            {}
            if args.no_parts or args.format == "onnx"
            else {
                name: check_version_dir(out.parent.parent / name / out.name)
                for name in ("kuzushiji_detector", "kuzushiji_classifier")
            }
        )
        vocabulary_dir = Path(args.vocabulary).parent if args.vocabulary else resolve_keras_file(args.classifier).parent
        vocabulary = read_vocabulary(vocabulary_dir)
        detector, classifier = load_model(args.detector), load_model(args.classifier)
        classes = num_classes(classifier)
        if classes != len(vocabulary):
            raise ValueError(
                f"the classifier has {classes} classes but {vocabulary_dir}/vocabulary.csv lists "
                f"{len(vocabulary)}; pass the --vocabulary of the records it was trained on"
            )
        scale = {"scale_policy": args.scale}
        if args.scale == "auto":
            height, source = (
                (args.target_char_height, "--target-char-height")
                if args.target_char_height
                else (target_char_height(args.detector, args.short_side))
            )
            print(f"export: scale auto: target character height {height:.2f} px ({source})")
            scale.update(
                target_char_height=height,
                min_short_side=args.min_short_side or 0,
                max_short_side=args.max_short_side or 0,
            )
        options = RecognizerOptions(
            short_side=args.short_side,
            det_threshold=args.det_threshold,
            cls_threshold=args.cls_threshold,
            nms_iou=args.nms_iou,
            contained_share=args.contained_share,
            max_image_bytes=args.max_image_bytes,
            max_pixels=args.max_pixels,
            top_k=args.top_k,
            **scale,
            **(read_settings(args.context) if args.context else {}),
        )
        export = export_onnx_recognizer or export_page_recognizer
        written = [export(detector, classifier, vocabulary, out, options)]
        if parts:
            written.append(export_model(detector, parts["kuzushiji_detector"]))
            written.append(export_model(classifier, parts["kuzushiji_classifier"]))
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        return fail(PROG, error)
    print("export: wrote " + ", ".join(str(p) for p in written))
    return 0


def target_char_height(detector: str, short_side: int) -> tuple[float, str]:
    """(px, where it came from): the median character height of the detector's training views, in its
    input pixels, measured on the training records its config.json names (`detector_input.
    training_char_heights`); without them, config.TRAIN_CHAR_HEIGHT x its training input size (or x half
    the short side, the input size the demo and release recipes pair with it)."""
    import numpy as np

    from kuzushiji_tf.data.detector_input import training_char_heights
    from kuzushiji_tf.measure.real_pages import detector_config

    saved = detector_config(detector)
    model = saved.get("model") if isinstance(saved.get("model"), dict) else {}
    input_size = int(model.get("input_size") or short_side // 2)
    records = saved.get("records")
    if isinstance(records, str) and Path(records).is_dir():
        try:
            heights = training_char_heights(records, input_size)
        except FileNotFoundError:
            heights = []
        if heights:
            return float(np.median(heights)), f"measured on {len(heights)} training views of {records}"
    return TRAIN_CHAR_HEIGHT * input_size, f"{TRAIN_CHAR_HEIGHT} x the training input size {input_size}"


if __name__ == "__main__":
    sys.exit(main())
