"""argparse types and arguments shared by the commands (kuzushiji_tf.cli). Defaults come from
kuzushiji_tf/config.py, so a recipe value is written once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kuzushiji_tf.config import DetectorConfig

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
