"""argparse types and arguments shared by the command-line entry points (tools/ and `python -m
kuzushiji_tf.serve`)."""
from __future__ import annotations

import argparse


def positive(kind):
    """An argparse `type` that parses with `kind` (int, float) and refuses zero and negatives."""
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return parse


def add_contained_share(parser: argparse.ArgumentParser) -> None:
    """`--contained-share` (detection.contained_mask) with the detector config's default."""
    from kuzushiji_tf.config import DetectorConfig

    parser.add_argument("--contained-share", type=float, default=DetectorConfig().contained_share, metavar="S",
                        help="after NMS, drop a box with more than this share of its area inside a better one "
                             "(default %(default)s; 1 keeps them)")
