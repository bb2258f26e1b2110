"""The `tf` backend of `page_model`: the exported SavedModel's `serving_default`, with TensorFlow's
refusals turned into `PageRefused` and its outputs into numpy."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf.recognition.contract import (
    CLASSIFY_BOXES,
    CLASSIFY_IMAGE,
    CLASSIFY_SIGNATURE,
    COUNT,
    INPUT_NAME,
    SHORT_SIDE,
    SIGNATURE,
    BoxesUnsupported,
    PageRefused,
    read_options_asset,
    read_vocabulary_asset,
)


class SavedModelPageModel:
    """`model(pages)` -> padded outputs of the page recogniser SavedModel at `path` (see `page_model`)."""

    backend = "tf"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.vocabulary = read_vocabulary_asset(self.path)
        self.options = read_options_asset(self.path)
        signatures = tf.saved_model.load(str(self.path)).signatures
        self.serve = signatures[SIGNATURE]
        self.classify = signatures.get(CLASSIFY_SIGNATURE)  # None: exported before it

    def __call__(self, pages: Sequence[bytes]) -> dict[str, np.ndarray]:
        outputs = _refusing(self.serve, **{INPUT_NAME: tf.constant(list(pages), tf.string)})
        if SHORT_SIDE not in outputs:  # exported before the scale policy: every page at the one short side
            outputs[SHORT_SIDE] = np.full(len(outputs[COUNT]), self.options.short_side, np.int32)
        return outputs

    def classify_boxes(self, page: bytes, boxes: np.ndarray) -> dict[str, np.ndarray]:
        """The `CLASSIFY_KEYS` of xyxy scan-pixel `boxes` [n, 4] on one encoded page (see the contract)."""
        if self.classify is None:
            raise BoxesUnsupported(
                f"{self.path}: exported before the {CLASSIFY_SIGNATURE} signature, so it cannot classify drawn "
                "boxes; re-export it with kuzushiji-export (the shipped model's cache is rebuilt with it: "
                "pretrained/cache.BUILD_FORMAT)"
            )
        boxes = tf.constant(np.asarray(boxes, np.float32).reshape(-1, 4))
        return _refusing(self.classify, **{CLASSIFY_IMAGE: tf.constant(bytes(page), tf.string), CLASSIFY_BOXES: boxes})


def _refusing(function, **inputs) -> dict[str, np.ndarray]:
    """`function(**inputs)` as numpy, TensorFlow's refusal of an input raised as `PageRefused`."""
    try:
        outputs = function(**inputs)
    except tf.errors.InvalidArgumentError as error:
        raise PageRefused(refusal_message(error.message)) from None
    except UnicodeDecodeError:
        # TensorFlow fails to build its error text when the failing op quotes the input's binary bytes
        # (a PNG too short to hold its header).
        raise PageRefused("input is not a readable JPEG or PNG image") from None
    return {key: value.numpy() for key, value in outputs.items()}


def refusal_message(message: str) -> str:
    """The one useful line of the InvalidArgumentError raised for a refused input: the failed check's text,
    or else TensorFlow's own message line (not the node names and call stack around it)."""
    found = re.search(r"assertion failed: \[([^\]]*)\]", message)
    if found:
        return found.group(1)
    noise = ("Graph execution error", "Detected at node", "File ", "[[", "Traceback")
    lines = [
        line.strip()
        for line in message.splitlines()
        if line.strip() and not line[:1].isspace() and not line.strip().startswith(noise)
    ]
    return lines[-1] if lines else "invalid input"
