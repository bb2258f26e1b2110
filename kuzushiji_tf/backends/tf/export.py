"""SavedModels for TF Serving: the page recogniser (one graph from encoded page to characters, and a second
signature that classifies boxes given with the page) and the detector and classifier each on their own, in
the `name/<integer version>/` layout TF Serving expects.

The recogniser's assets hold `vocabulary.csv` (class id, code, character) and `recognizer.json` (the
export options), so a served model carries what is needed to read its outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import tensorflow as tf

from kuzushiji_tf.backends.tf.page_recognizer import PageRecognizer
from kuzushiji_tf.recognition.contract import (
    CLASSIFY_BOXES,
    CLASSIFY_IMAGE,
    CLASSIFY_SIGNATURE,
    INPUT_NAME,
    SIGNATURE,
    RecognizerOptions,
    check_version_dir,
    write_assets,
)


def _write_out(archive: keras.export.ExportArchive, path: Path) -> None:
    """Writes to a temporary sibling and renames it, so TF Serving (which polls the folder) never loads a
    half-written version."""
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(str(tmp), verbose=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.rmdir()
    tmp.rename(path)


def export_page_recognizer(
    detector,
    classifier,
    vocabulary: list[tuple[str, str]],
    out: str | Path,
    options: RecognizerOptions = RecognizerOptions(),
) -> Path:
    """Writes the page recogniser SavedModel; `vocabulary` is [(code, char)] by class id."""
    out = check_version_dir(out)
    recognizer = PageRecognizer(detector, classifier, [code for code, _ in vocabulary], options)
    archive = keras.export.ExportArchive()
    archive.track(detector)
    archive.track(classifier)
    archive.add_endpoint(
        SIGNATURE, recognizer.recognize, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)]
    )
    archive.add_endpoint(
        CLASSIFY_SIGNATURE,
        recognizer.classify_boxes,
        input_signature=[
            tf.TensorSpec([], tf.string, name=CLASSIFY_IMAGE),
            tf.TensorSpec([None, 4], tf.float32, name=CLASSIFY_BOXES),
        ],
    )
    _write_out(archive, out)
    write_assets(out, vocabulary, recognizer.options)  # top_k as the graph has it (at most the classes)
    return out


def export_model(model: keras.Model, out: str | Path) -> Path:
    """One Keras model (detector or classifier) as a SavedModel whose `serving_default` takes float
    0..255 images [B, H, W, 3] (H, W multiples of 32 for the detector)."""
    out = check_version_dir(out)
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name=INPUT_NAME)
    archive.add_endpoint(SIGNATURE, lambda images: model(images, training=False), input_signature=[spec])
    _write_out(archive, out)
    return out
