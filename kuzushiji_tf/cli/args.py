"""argparse types and arguments shared by the commands (kuzushiji_tf.cli). Defaults come from
kuzushiji_tf/config.py, so a recipe value is written once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kuzushiji_tf.config import (
    CLASS_THRESHOLD,
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    SCALE_POLICIES,
    TOP_K,
    TRAIN_CHAR_HEIGHT,
    DetectorConfig,
)

DETECTOR = DetectorConfig()  # the recipe's inference short side (832), score threshold (0.3), NMS IoU (0.5), ...


def prog(name: str) -> str:
    """argparse's `prog`: the console command when the process is one (`kuzushiji-transcribe`), else `name`."""
    invoked = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    invoked = invoked.removesuffix(".exe")
    return invoked if invoked.startswith("kuzushiji-") else name


def positive(kind):
    """An argparse `type` that parses with `kind` (int, float) and refuses zero and negatives."""

    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


def add_no_context(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-context",
        action="store_true",
        help="read each character alone: no column decoding with the language model (docs/reading_in_context.md)",
    )


def add_short_side(parser: argparse.ArgumentParser, what: str = "inference short side") -> None:
    """`--short-side` with the detector config's inference short side (eval_short_side) as default."""
    parser.add_argument(
        "--short-side", type=int, default=DETECTOR.eval_short_side, help=f"{what} (default %(default)s)"
    )


def add_nms(parser: argparse.ArgumentParser) -> None:
    """`--nms-iou` and `--contained-share` with the detector config's defaults."""
    parser.add_argument(
        "--nms-iou", type=float, default=DETECTOR.nms_iou, help="NMS IoU threshold (default %(default)s)"
    )
    add_contained_share(parser)


def add_contained_share(parser: argparse.ArgumentParser) -> None:
    """`--contained-share` (detection.contained_mask) with the detector config's default."""
    parser.add_argument(
        "--contained-share",
        type=float,
        default=DETECTOR.contained_share,
        metavar="S",
        help="after NMS, drop a box with more than this share of its area inside a better one "
        "(default %(default)s; 1 keeps them)",
    )


def add_trained_models(parser: argparse.ArgumentParser) -> None:
    """The detector, classifier and vocabulary that an export or a model package is built from; one
    wording for both commands, since either takes the other's inputs."""
    parser.add_argument(
        "--detector", required=True, help="detector training folder (model.keras) or .keras file, or `shipped`"
    )
    parser.add_argument(
        "--classifier", required=True, help="classifier training folder (model.keras) or .keras file, or `shipped`"
    )
    parser.add_argument("--vocabulary", help="vocabulary.csv (class_id,code,char); default: the classifier folder's")


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """The page recogniser's export options (kuzushiji-export, kuzushiji-package-model): each flag's dest is
    the `RecognizerOptions` field it sets, so `export_options` passes every one through by name."""
    add_short_side(parser)
    parser.add_argument(
        "--det-threshold", type=float, default=DETECTOR.score_threshold, help="default %(default)s (docs/recipe.md)"
    )
    parser.add_argument(
        "--cls-threshold", type=float, default=CLASS_THRESHOLD, help="default %(default)s (docs/recipe.md)"
    )
    add_nms(parser)
    parser.add_argument("--max-image-bytes", type=int, default=MAX_IMAGE_BYTES)
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    parser.add_argument(
        "--top-k",
        type=positive(int),
        default=TOP_K,
        help="candidate classes returned per character (default %(default)s; at most the number of classes)",
    )
    parser.add_argument(
        "--context",
        metavar="JSON",
        help="the temperature and context-decoding settings kuzushiji-tune-context chose (default: "
        "temperature 1 and the settings in kuzushiji_tf/config.py)",
    )
    parser.add_argument(
        "--scale",
        dest="scale_policy",
        choices=SCALE_POLICIES,
        default="auto",
        help="auto (default): read each page a second time at the short side that brings its median character "
        "to the size the detector was trained on, when that differs enough from --short-side; fixed: every "
        "page at --short-side (docs/recognition.md)",
    )
    parser.add_argument(
        "--target-char-height",
        type=positive(float),
        metavar="PX",
        help="--scale auto: the median character height, in detector input pixels, that a page is brought to "
        "(default: measured on the training views of the records named in the detector's config.json, else "
        f"{TRAIN_CHAR_HEIGHT} x its training input size)",
    )
    parser.add_argument(
        "--min-short-side",
        type=positive(int),
        help="--scale auto: the smallest short side (default: 0.5 x --short-side)",
    )
    parser.add_argument(
        "--max-short-side", type=positive(int), help="--scale auto: the largest short side (default: 2 x --short-side)"
    )


def export_options(args: argparse.Namespace, prog_name: str = "export"):
    """The `RecognizerOptions` of `add_export_options`' flags: every field a flag of the same name gave, and
    the --context file's settings. Under --scale auto without --target-char-height the target is measured
    from args.detector's training records (`target_char_height`), and said."""
    import dataclasses

    from kuzushiji_tf.measure.context_tuning import read_settings
    from kuzushiji_tf.recognition.contract import RecognizerOptions

    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(RecognizerOptions)
        if getattr(args, field.name, None) is not None
    }
    if given.get("scale_policy") == "auto":
        height, source = (
            (args.target_char_height, "--target-char-height")
            if args.target_char_height
            else target_char_height(args.detector, args.short_side)
        )
        print(f"{prog_name}: scale auto: target character height {height:.2f} px ({source})")
        given["target_char_height"] = height
    return RecognizerOptions.from_dict({**given, **(read_settings(args.context) if args.context else {})})


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


MODEL_HELP = (
    "the page recogniser: an export folder (kuzushiji-export, SavedModel or ONNX), a model package "
    "(kuzushiji-package-model) or `shipped`; default: the model shipped with kuzushiji_tf (docs/pretrained.md)"
)


def add_model(parser: argparse.ArgumentParser, models_dir: bool = False) -> None:
    """`--model` (default: the shipped model) and, with `models_dir`, `--models-dir` as the explicit choice of
    the newest export under a folder. Nothing is looked up without being asked: an export lying in the
    current directory must never take the shipped model's place unnoticed."""
    if not models_dir:
        parser.add_argument("--model", help=MODEL_HELP)
        return
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", help=MODEL_HELP)
    group.add_argument(
        "--models-dir",
        metavar="DIR",
        help="instead of --model: the newest version under DIR/kuzushiji_page (e.g. saved_models, where "
        "kuzushiji-export writes); never looked at unless given",
    )


def chosen_model(args: argparse.Namespace, backend: str = "auto", check: bool = True):
    """The `pretrained.ModelChoice` of `add_model`'s flags (its `path`: the export folder to load; the
    shipped model is rebuilt into the user cache on first use); prints its `model: ...` line on stderr,
    which a command's data on stdout never mixes with."""
    from kuzushiji_tf.pretrained import choose_page_model

    choice = choose_page_model(args.model, backend=backend, models_dir=getattr(args, "models_dir", None), check=check)
    print(choice.line, file=sys.stderr, flush=True)
    return choice
