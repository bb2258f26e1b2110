"""The `tf` backend of `page_model`: the exported SavedModel's `serving_default`, with TensorFlow's
refusals turned into `PageRefused` and its outputs into numpy."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from kuzushiji_tf.inference.page_model import PageRefused, read_options_asset, read_vocabulary_asset

SIGNATURE = "serving_default"


class SavedModelPageModel:
    """`model(pages)` -> padded outputs of the page recogniser SavedModel at `path` (see `page_model`)."""

    backend = "tf"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.vocabulary = read_vocabulary_asset(self.path)
        self.options = read_options_asset(self.path)
        self.serve = tf.saved_model.load(str(self.path)).signatures[SIGNATURE]

    def __call__(self, pages: Sequence[bytes]) -> dict[str, np.ndarray]:
        from kuzushiji_tf.inference.page_recognizer import refusal_message

        try:
            outputs = self.serve(images=tf.constant(list(pages), tf.string))
        except tf.errors.InvalidArgumentError as error:
            raise PageRefused(refusal_message(error.message)) from None
        except UnicodeDecodeError:
            # TensorFlow fails to build its error text when the failing op quotes the input's binary bytes
            # (a PNG too short to hold its header).
            raise PageRefused("input is not a readable JPEG or PNG image") from None
        return {key: value.numpy() for key, value in outputs.items()}
