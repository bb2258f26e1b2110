"""argparse types shared by the command-line entry points (tools/ and `python -m kuzushiji_tf.serve`)."""
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
