"""Writes the ONNX page recogniser folder from the trained Keras models (needs TensorFlow, Keras, tf2onnx
and onnx: `pip install -e .[onnx]`):

    out/detector.onnx             float32 [B, H, W, 3] 0..255 -> heatmap, offset, size (named outputs)
    out/classifier.onnx           float32 [B, S, S, 3] 0..255 -> logits, probabilities
    out/assets/vocabulary.csv     as the SavedModel export's
    out/assets/recognizer.json    the export options, as the SavedModel export's
    out/assets/onnx_runtime.json  what the glue takes from the models: output stride, crop size, crop
                                  factor and oversampling, the input size multiple

`out` is `name/<integer version>` as for the SavedModel, and is written whole or not at all: into a
temporary sibling, renamed when complete.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import keras

from kuzushiji_tf.backends.onnx.runtime import RUNTIME_ASSET
from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR
from kuzushiji_tf.detection.detect import SIZE_MULTIPLE
from kuzushiji_tf.models.classifier import num_classes
from kuzushiji_tf.recognition.contract import (
    CROP_OVERSAMPLE,
    ONNX_FILES,
    RecognizerOptions,
    check_version_dir,
    write_assets,
)

RUNTIME_FORMAT = 1


def check_onnx_export_available() -> None:
    """An ImportError that says what to install when tf2onnx or onnx is missing."""
    missing = [name for name in ("tf2onnx", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"the ONNX export needs {' and '.join(missing)}: pip install -e .[onnx]")


def runtime_settings(detector, classifier) -> dict:
    """What `OnnxPageModel` needs besides the two networks and the options."""
    return {
        "format": RUNTIME_FORMAT,
        "output_stride": int(getattr(detector, "output_stride", 4)),
        "crop_size": int(classifier.input_shape[1]),
        "crop_factor": INFERENCE_CROP_FACTOR,
        "crop_oversample": CROP_OVERSAMPLE,
        "size_multiple": SIZE_MULTIPLE,
        "num_classes": num_classes(classifier),
    }


def export_onnx_recognizer(
    detector,
    classifier,
    vocabulary: list[tuple[str, str]],
    out: str | Path,
    options: RecognizerOptions = RecognizerOptions(),
) -> Path:
    """Writes the ONNX page recogniser folder (see the module); `vocabulary` is [(code, char)] by class id."""
    check_onnx_export_available()
    out = check_version_dir(out)
    crop = int(classifier.input_shape[1])
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        detector_file, classifier_file = (tmp / name for name in ONNX_FILES)
        detector.export(
            str(detector_file),
            format="onnx",
            verbose=False,
            input_signature=[keras.InputSpec(shape=(None, None, None, 3), dtype="float32")],
        )
        classifier.export(
            str(classifier_file),
            format="onnx",
            verbose=False,
            input_signature=[keras.InputSpec(shape=(None, crop, crop, 3), dtype="float32")],
        )
        assets = write_assets(tmp, vocabulary, options.for_classes(num_classes(classifier)))
        (assets / RUNTIME_ASSET).write_text(json.dumps(runtime_settings(detector, classifier), indent=2))
        if out.exists():  # an empty version folder (check_version_dir refused a full one)
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
