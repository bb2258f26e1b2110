"""An exported page recogniser as one callable, whatever runs it: encoded pages in, the serving
signature's padded outputs out, as numpy.

Two backends read an export folder:
- `tf`: a SavedModel (`saved_model.pb`, what TF Serving loads; `kuzushiji_tf.inference.export`),
- `onnx`: `detector.onnx` + `classifier.onnx` run by ONNX Runtime, with numpy and OpenCV for the glue
  (`kuzushiji_tf.onnx_recognizer`), which never imports TensorFlow.
Both folders carry `assets/vocabulary.csv` and `assets/recognizer.json` (the export options).

This module imports no TensorFlow, so the ONNX path of `tools/recognize.py` and of the server stays free
of it; the TF backend is imported only when a SavedModel is loaded.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

# Output keys of the serving signature, each padded to [B, max_chars] (boxes [B, max_chars, 4]).
CODEPOINTS, CODES, DET_SCORES, CLASS_PROBS, OUT_BOXES, COUNT = (
    "codepoints", "codes", "detection_scores", "class_probabilities", "boxes", "count")
OUTPUT_KEYS = (CODEPOINTS, CODES, DET_SCORES, CLASS_PROBS, OUT_BOXES, COUNT)

SAVED_MODEL_FILE = "saved_model.pb"
ONNX_FILES = ("detector.onnx", "classifier.onnx")
BACKENDS = ("auto", "tf", "onnx")
PAGE_MODEL = "kuzushiji_page"  # exports live in <models dir>/kuzushiji_page/<version>, as TF Serving wants


class PageRefused(ValueError):
    """A page the recogniser will not read (empty, not an image, over a size limit), with a one-line reason."""


class PageModel(Protocol):
    """What every backend gives: `model(pages)` runs a batch of encoded pages (list of bytes) and returns
    the padded outputs (numpy, keyed as above) or raises `PageRefused` when any page is refused."""

    backend: str
    path: Path
    vocabulary: list[tuple[str, str]]
    options: dict

    def __call__(self, pages: Sequence[bytes]) -> dict[str, np.ndarray]: ...


def page_results(outputs: dict, index: int = 0) -> dict:
    """One page's valid entries as numpy: codes (str), codepoints, boxes [n, 4], scores, probabilities.
    `outputs` may hold numpy arrays or eager tensors."""
    n = int(np.asarray(outputs[COUNT])[index])
    codes = np.asarray(outputs[CODES])[index][:n]
    return {CODES: [c.decode() if isinstance(c, bytes) else str(c) for c in codes],
            CODEPOINTS: np.asarray(outputs[CODEPOINTS])[index][:n], OUT_BOXES: np.asarray(outputs[OUT_BOXES])[index][:n],
            DET_SCORES: np.asarray(outputs[DET_SCORES])[index][:n],
            CLASS_PROBS: np.asarray(outputs[CLASS_PROBS])[index][:n]}


def read_vocabulary_asset(path: str | Path) -> list[tuple[str, str]]:
    """[(code, char)] by class id from an export folder's assets/vocabulary.csv."""
    file = Path(path) / "assets" / "vocabulary.csv"
    if not file.is_file():
        raise FileNotFoundError(f"{file}: missing; re-export the model with tools/export.py")
    with open(file, newline="", encoding="utf-8") as handle:
        return [(row["code"], row["char"]) for row in csv.DictReader(handle)]


def read_options_asset(path: str | Path) -> dict:
    """The export options (short side, thresholds, limits) from assets/recognizer.json, or {} without one."""
    try:
        return json.loads((Path(path) / "assets" / "recognizer.json").read_text())
    except (OSError, ValueError):
        return {}


DEFAULT_SHORT_SIDE = 832  # an export that does not say its own (RecognizerOptions.short_side)


def model_short_side(path: str | Path) -> int:
    """The short side the exported recogniser resizes pages to (its options asset): IIIF images are fetched
    at it."""
    try:
        return int(read_options_asset(path)["short_side"])
    except (KeyError, TypeError, ValueError):
        return DEFAULT_SHORT_SIDE


def model_backend(path: str | Path) -> str:
    """`tf` or `onnx` by what the folder holds; a clear error when it holds neither."""
    path = Path(path)
    if (path / SAVED_MODEL_FILE).is_file():
        return "tf"
    if all((path / name).is_file() for name in ONNX_FILES):
        return "onnx"
    raise FileNotFoundError(f"{path}: neither a SavedModel ({SAVED_MODEL_FILE}) nor an ONNX export "
                            f"({' + '.join(ONNX_FILES)}); export one with tools/export.py")


def is_page_model(path: str | Path) -> bool:
    try:
        model_backend(path)
        return True
    except FileNotFoundError:
        return False


def newest_version(models: str | Path) -> Path:
    """The highest integer version folder under `models` (e.g. saved_models/kuzushiji_page) holding an export."""
    versions = sorted((p for p in Path(models).glob("*") if p.name.isdigit() and is_page_model(p)),
                      key=lambda p: int(p.name))
    if not versions:
        raise FileNotFoundError(f"{models}: no exported page recogniser; pass --model, or run tools/export.py "
                                f"(or make demo)")
    return versions[-1]


def load_page_model(path: str | Path, backend: str = "auto", **backend_options) -> PageModel:
    """The page recogniser exported at `path`, run by `backend` (`auto`: the folder's own kind).
    `backend_options` go to the ONNX backend (e.g. intra_op_num_threads)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    found = model_backend(path)
    if backend != "auto" and backend != found:
        raise FileNotFoundError(f"{path}: holds a {found} export, not {backend}; export one with "
                                f"tools/export.py --format {'onnx' if backend == 'onnx' else 'savedmodel'}")
    if found == "onnx":
        from kuzushiji_tf.onnx_recognizer import OnnxPageModel

        return OnnxPageModel(path, **backend_options)
    from kuzushiji_tf.inference.saved_model_backend import SavedModelPageModel

    return SavedModelPageModel(path)
