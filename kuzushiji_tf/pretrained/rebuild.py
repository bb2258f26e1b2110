"""A model package back into what the commands read (TensorFlow and Keras): the detector and classifier
training folders (model.keras in float32, config.json, the classifier's vocabulary.csv) and the page
recogniser export, SavedModel or ONNX, written by the same code as kuzushiji-export's.

Each function writes into a folder `cache.build_once` gives it; `resolve` decides what to build and where.
The package must have been checked first (`manifest.verify`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras

from kuzushiji_tf.data.records import read_vocabulary
from kuzushiji_tf.models.builders import build_model
from kuzushiji_tf.models.saved_models import KERAS_FILE
from kuzushiji_tf.pretrained.manifest import (
    CLASSIFIER,
    CONFIG_FILE,
    DETECTOR,
    OPTIONS_FILE,
    VOCABULARY_FILE,
    WEIGHTS_FILE,
    Manifest,
)
from kuzushiji_tf.pretrained.weights import load_weights
from kuzushiji_tf.recognition.contract import RecognizerOptions

EXPORT_VERSION = "1"  # the exports are <cache>/<kuzushiji_page or kuzushiji_page_onnx>/1, TF Serving's layout


def load_package_model(manifest: Manifest, kind: str) -> keras.Model:
    """The detector or classifier (`kind`) of the package, float32, with its weights."""
    saved = json.loads(manifest.path(kind, CONFIG_FILE).read_text(encoding="utf-8"))
    return load_weights(build_model(saved["build"]), manifest.path(kind, WEIGHTS_FILE))


def package_options(manifest: Manifest) -> RecognizerOptions:
    return RecognizerOptions.from_dict(json.loads(manifest.path(OPTIONS_FILE).read_text(encoding="utf-8")))


def write_training_folder(manifest: Manifest, kind: str, out: Path) -> Path:
    """`out` as a training run leaves it: model.keras, config.json (the run's, with the builder's arguments)
    and, for the classifier, vocabulary.csv."""
    load_package_model(manifest, kind).save(str(out / KERAS_FILE))
    shutil.copyfile(manifest.path(kind, CONFIG_FILE), out / CONFIG_FILE)
    if kind == CLASSIFIER:
        shutil.copyfile(manifest.path(CLASSIFIER, VOCABULARY_FILE), out / VOCABULARY_FILE)
    return out


def write_export(manifest: Manifest, backend: str, out: Path) -> Path:
    """The page recogniser of the package as `out/1`: a SavedModel (`backend` tf) or an ONNX export (onnx),
    with the package's export options. Returns `out/1`."""
    detector, classifier = load_package_model(manifest, DETECTOR), load_package_model(manifest, CLASSIFIER)
    vocabulary = read_vocabulary(manifest.path(CLASSIFIER))
    if backend == "onnx":
        from kuzushiji_tf.backends.onnx.export import export_onnx_recognizer as export
    else:
        from kuzushiji_tf.backends.tf.export import export_page_recognizer as export
    return export(detector, classifier, vocabulary, out / EXPORT_VERSION, package_options(manifest))
