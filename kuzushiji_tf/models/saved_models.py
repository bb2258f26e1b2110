"""Loading what `python -m kuzushiji_tf.train` wrote: a training output folder or its `model.keras`."""

from __future__ import annotations

from pathlib import Path

import keras

# Register the custom classes (CenterNetDetector and its layers, MobileNetClassifier) with Keras before a
# file is deserialised.
import kuzushiji_tf.models.centernet  # noqa: F401
import kuzushiji_tf.models.classifier  # noqa: F401

KERAS_FILE = "model.keras"


def resolve_keras_file(path: str | Path) -> Path:
    """`path` itself if it is a `.keras` file, else `path/model.keras`; a clear error when neither exists."""
    path = Path(path)
    if path.is_file() and path.suffix == ".keras":
        return path
    candidate = path / KERAS_FILE
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(
        f"{path}: not a .keras file nor a training output folder with {KERAS_FILE} "
        f"(train one with python -m kuzushiji_tf.train)"
    )


def load_model(path: str | Path) -> keras.Model:
    """The trained Keras model at `path` (see `resolve_keras_file`), ready for inference."""
    return keras.saving.load_model(resolve_keras_file(path), compile=False)
