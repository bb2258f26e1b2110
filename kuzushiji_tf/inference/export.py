"""SavedModels for TF Serving: the page recogniser (one graph from encoded page to characters) and the
detector and classifier each on their own, in the `name/<integer version>/` layout TF Serving expects.

The recogniser's assets hold `vocabulary.csv` (class id, code, character) and `recognizer.json` (the
export options), so a served model carries what is needed to read its outputs.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from kuzushiji_tf.inference.page_model import read_vocabulary_asset
from kuzushiji_tf.inference.page_recognizer import PageRecognizer, RecognizerOptions

SIGNATURE = "serving_default"
INPUT_NAME = "images"


def check_version_dir(path: str | Path) -> Path:
    """`path` must end in an integer version folder (TF Serving's `name/<version>/`) that is not there yet."""
    path = Path(path)
    if not path.name.isdigit():
        raise ValueError(f"{path}: the export folder must be name/<integer version>, e.g. saved_models/kuzushiji_page/1")
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} already holds a model; export to a new version number")
    return path


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


def export_page_recognizer(detector, classifier, vocabulary: list[tuple[str, str]], out: str | Path,
                           options: RecognizerOptions = RecognizerOptions()) -> Path:
    """Writes the page recogniser SavedModel; `vocabulary` is [(code, char)] by class id."""
    out = check_version_dir(out)
    recognizer = PageRecognizer(detector, classifier, [code for code, _ in vocabulary], options)
    archive = keras.export.ExportArchive()
    archive.track(detector)
    archive.track(classifier)
    archive.add_endpoint(SIGNATURE, recognizer.recognize,
                         input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    _write_out(archive, out)
    write_assets(out, vocabulary, options)
    return out


def write_assets(out: str | Path, vocabulary: list[tuple[str, str]], options: RecognizerOptions) -> Path:
    """`out/assets/vocabulary.csv` (class_id,code,char) and `out/assets/recognizer.json` (the export options):
    what every page recogniser export carries, the SavedModel and the ONNX one (`onnx_recognizer.export`)."""
    assets = Path(out) / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    rows = ["class_id,code,char"] + [f"{i},{code},{char}" for i, (code, char) in enumerate(vocabulary)]
    (assets / "vocabulary.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (assets / "recognizer.json").write_text(json.dumps(dataclasses.asdict(options), indent=2))
    return assets


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


def load_recognizer(path: str | Path):
    """(the SavedModel's serving function, [(code, char)] vocabulary) of an exported page recogniser."""
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(f"{path}: no saved_model.pb; export one with tools/export.py")
    loaded = tf.saved_model.load(str(path))
    return loaded.signatures[SIGNATURE], read_vocabulary_asset(path)
