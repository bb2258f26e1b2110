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

from kuzushiji_tf.cli.args import add_export_options, add_trained_models, export_options
from kuzushiji_tf.cli.errors import fail, user_errors

FORMATS = ("savedmodel", "onnx")
ONNX_EXTRA = "pip install -e .[onnx]"
PROG = "export"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_models(p)
    p.add_argument("--out", required=True, help="saved_models/<name>/<integer version>")
    add_export_options(p)
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
    from kuzushiji_tf.models.classifier import num_classes
    from kuzushiji_tf.models.saved_models import load_model, resolve_keras_file
    from kuzushiji_tf.pretrained import training_folder
    from kuzushiji_tf.recognition.contract import check_version_dir

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
        args.detector = training_folder(args.detector, "detector")
        args.classifier = training_folder(args.classifier, "classifier")
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
        options = export_options(args)
        export = export_onnx_recognizer or export_page_recognizer
        written = [export(detector, classifier, vocabulary, out, options)]
        if parts:
            written.append(export_model(detector, parts["kuzushiji_detector"]))
            written.append(export_model(classifier, parts["kuzushiji_classifier"]))
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        return fail(PROG, error)
    print("export: wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
