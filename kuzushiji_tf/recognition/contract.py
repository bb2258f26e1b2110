"""The page recogniser's contract, shared by every backend and every caller: the output keys, the
refusal error, the `PageModel` protocol, the export folder's file names and assets, and the export
options as one typed dataclass. A leaf: it imports no TensorFlow, no backend and nothing of the project
but `config`, so both backends import it and nothing here imports them back.

Two backends read an export folder:
- `tf`: a SavedModel (`saved_model.pb`, what TF Serving loads; `kuzushiji_tf.backends.tf.export`),
- `onnx`: `detector.onnx` + `classifier.onnx` run by ONNX Runtime, with numpy and OpenCV for the glue
  (`kuzushiji_tf.backends.onnx`), which never imports TensorFlow.
Both folders carry `assets/vocabulary.csv` and `assets/recognizer.json` (the export options).
`kuzushiji_tf.backends.loading.load_page_model` picks the backend for a folder.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from kuzushiji_tf import config
from kuzushiji_tf.errors import KuzushijiError

# Output keys of the serving signature. Every detection above the detection threshold is returned, best
# first, padded to [B, max_chars]: its box [B, max_chars, 4], score, top class (code, code point and
# probability) and its top-k candidates [B, max_chars, k]; `count` [B] says how many entries are real.
# The class threshold is not applied in the graph: research outputs flag the characters below it (`uncertain`),
# and only the Kaggle submission drops them (recognition.postprocess.confident).
CODEPOINTS, CODES, DET_SCORES, CLASS_PROBS, OUT_BOXES, COUNT = (
    "codepoints",
    "codes",
    "detection_scores",
    "class_probabilities",
    "boxes",
    "count",
)
TOPK_CLASS_IDS, TOPK_CODEPOINTS, TOPK_PROBS = "topk_class_ids", "topk_codepoints", "topk_probabilities"
# [B]: the short side each page was read at (the export's under the `fixed` scale policy, the chosen one
# under `auto`). Exports written before the scale policy lack it: `SavedModelPageModel` fills it in, and
# TF Serving clients must not require it.
SHORT_SIDE = "short_side"
OUTPUT_KEYS = (
    CODEPOINTS,
    CODES,
    DET_SCORES,
    CLASS_PROBS,
    OUT_BOXES,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
    COUNT,
    SHORT_SIDE,
)


def output_specs(max_chars: int, top_k: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """{output key: (its shape for one page, its dtype name)}: the signature both backends give and TF
    Serving clients read. "string" is TensorFlow's string (bytes objects in numpy)."""
    return {
        CODEPOINTS: ((max_chars,), "int32"),
        CODES: ((max_chars,), "string"),
        DET_SCORES: ((max_chars,), "float32"),
        CLASS_PROBS: ((max_chars,), "float32"),
        OUT_BOXES: ((max_chars, 4), "float32"),
        TOPK_CLASS_IDS: ((max_chars, top_k), "int32"),
        TOPK_CODEPOINTS: ((max_chars, top_k), "int32"),
        TOPK_PROBS: ((max_chars, top_k), "float32"),
        COUNT: ((), "int32"),
        SHORT_SIDE: ((), "int32"),
    }


# 2: top-k candidates and no class threshold in the graph. An export of another format is refused.
EXPORT_FORMAT = 2

SAVED_MODEL_FILE = "saved_model.pb"
ONNX_FILES = ("detector.onnx", "classifier.onnx")
BACKENDS = ("auto", "tf", "onnx")
PAGE_MODEL = "kuzushiji_page"  # exports live in <models dir>/kuzushiji_page/<version>, as TF Serving wants
MODELS_DIR = "saved_models"  # the commands' default <models dir>, relative to the current directory
SIGNATURE = "serving_default"  # the SavedModel's page signature, the name TF Serving serves by default
INPUT_NAME = "images"  # its input: tf.string [B], encoded JPEG or PNG pages
# The second signature: boxes a person drew on a page (the web page's editing mode) classified as the page's
# own detections are, same crop and classifier. Inputs: one encoded page (tf.string []) and xyxy scan-pixel
# boxes (float32 [n, 4]); outputs, unpadded [n] / [n, k]: CODEPOINTS, CODES, CLASS_PROBS, OUT_BOXES and the
# three top-k keys. Exports written before it lack it (`BoxesUnsupported`).
CLASSIFY_SIGNATURE = "classify_boxes"
CLASSIFY_IMAGE, CLASSIFY_BOXES = "image", "boxes"
CLASSIFY_KEYS = (CODEPOINTS, CODES, CLASS_PROBS, OUT_BOXES, TOPK_CLASS_IDS, TOPK_CODEPOINTS, TOPK_PROBS)
ASSETS_DIR = "assets"
VOCABULARY_ASSET = "vocabulary.csv"  # class_id,code,char
OPTIONS_ASSET = "recognizer.json"  # RecognizerOptions as JSON

# The only page encodings the exported graph decodes (both backends check the same bytes).
JPEG_MAGIC = b"\xff\xd8"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Crops are cut at twice the classifier's input and average-pooled down: the graph's crop_and_resize has
# no antialiasing, and large characters would alias where the training crops were area-resized.
CROP_OVERSAMPLE = 2


@dataclass(frozen=True)
class RecognizerOptions:
    """Export-time settings, written into the graph and beside it as `assets/recognizer.json`."""

    short_side: int = config.INFERENCE_SHORT_SIDE
    det_threshold: float = config.DETECTION_THRESHOLD
    cls_threshold: float = config.CLASS_THRESHOLD
    nms_iou: float = config.NMS_IOU
    contained_share: float = config.CONTAINED_SHARE  # detection.detect.contained_mask; 1.0 turns it off
    max_chars: int = config.MAX_CHARS_PER_PAGE
    max_image_bytes: int = config.MAX_IMAGE_BYTES
    max_pixels: int = config.MAX_PIXELS
    top_k: int = config.TOP_K  # candidates kept per character (at most the classifier's classes)
    # Reading in context (recognition/context.py), after the graph: kuzushiji-tune-context fits the
    # classifier's temperature and chooses the rest on synthetic validation pages; export --context keeps them.
    temperature: float = 1.0
    lm_weight: float = config.CONTEXT_LM_WEIGHT
    beam: int = config.CONTEXT_BEAM
    keep_above: float = config.CONTEXT_KEEP_ABOVE
    context_order: int = 0  # 0: the language model's own order
    # The scale the detector reads a page at. `fixed`: `short_side` for every page. `auto`: a first pass
    # at `short_side` measures the median height of the boxes it finds; when it found `scale_min_chars` or
    # more, the page is read again at the short side that makes that median `target_char_height` detector
    # input pixels (the detector's training views' median), a multiple of 32 within
    # [`min_short_side`, `max_short_side`], unless that differs from `short_side` by less than
    # `scale_tolerance` of it (`scaled_short_side` in both backends; docs/recognition.md). Exports written
    # before the policy read as `fixed`.
    scale_policy: str = "fixed"
    # In detector input pixels. Default: a detector trained on crops of half the short side, the pairing of
    # the recipe, the demo and the release model; kuzushiji-export measures the detector's own.
    target_char_height: float = config.TRAIN_CHAR_HEIGHT * config.INFERENCE_SHORT_SIDE / 2
    min_short_side: int = 0  # 0: config.SCALE_BOUNDS x short_side
    max_short_side: int = 0
    scale_tolerance: float = config.SCALE_TOLERANCE
    scale_min_chars: int = config.SCALE_MIN_CHARS

    def __post_init__(self):
        if self.scale_policy not in config.SCALE_POLICIES:
            raise ValueError(
                f"unknown scale policy {self.scale_policy!r}: choose one of {', '.join(config.SCALE_POLICIES)}"
            )
        low, high = scale_bounds(self.short_side)
        # Frozen: the bounds left at 0 are filled in once, so the JSON and both backends see numbers.
        object.__setattr__(self, "min_short_side", self.min_short_side or low)
        object.__setattr__(self, "max_short_side", self.max_short_side or high)
        for name in ("min_short_side", "max_short_side"):
            value = getattr(self, name)
            if value < config.SIZE_MULTIPLE or value % config.SIZE_MULTIPLE:
                raise ValueError(f"{name} must be a positive multiple of {config.SIZE_MULTIPLE}; received {value}")
        if self.min_short_side > self.max_short_side:
            raise ValueError(f"min_short_side {self.min_short_side} is above max_short_side {self.max_short_side}")
        if self.scale_min_chars < 1:
            raise ValueError(f"scale_min_chars must be at least 1; received {self.scale_min_chars}")
        if not self.target_char_height > 0:
            raise ValueError(f"target_char_height must be positive; received {self.target_char_height}")

    @property
    def largest_short_side(self) -> int:
        """The largest short side a page may be read at: scans fetched at it (IIIF) lose nothing."""
        return max(self.short_side, self.max_short_side) if self.scale_policy == "auto" else self.short_side

    def for_classes(self, num_classes: int) -> RecognizerOptions:
        """These options for a classifier of `num_classes` classes: top_k no larger than there are classes."""
        return dataclasses.replace(self, top_k=max(1, min(self.top_k, int(num_classes))))

    def to_json(self) -> str:
        return json.dumps({"export_format": EXPORT_FORMAT, **dataclasses.asdict(self)}, indent=2)

    @classmethod
    def from_dict(cls, values: dict) -> RecognizerOptions:
        """Known fields from `values`, defaults for the rest (an export written before a field existed)."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        kept = {}
        for name, value in values.items():
            if name in fields:
                kept[name] = {"int": int, "str": str}.get(fields[name], float)(value)
        return cls(**kept)


def scale_bounds(short_side: int) -> tuple[int, int]:
    """(min, max) short side of the `auto` scale policy for an export at `short_side`: config.SCALE_BOUNDS
    times it, rounded to multiples of 32 (at least 32)."""
    low, high = (
        max(config.SIZE_MULTIPLE, config.SIZE_MULTIPLE * round(short_side * f / config.SIZE_MULTIPLE))
        for f in config.SCALE_BOUNDS
    )
    return low, high


class ExportFormatError(KuzushijiError, ValueError):
    """An export folder written by another version of the exporter, with what to do about it."""


class PageRefused(ValueError):
    """A page the recogniser will not read (empty, not an image, over a size limit), with a one-line reason."""


class BoxesUnsupported(KuzushijiError, ValueError):
    """An export that cannot classify given boxes (a SavedModel written before `CLASSIFY_SIGNATURE`)."""


class PageModel(Protocol):
    """What every backend gives: `model(pages)` runs a batch of encoded pages (list of bytes) and returns
    the padded outputs (numpy, keyed as above) or raises `PageRefused` when any page is refused;
    `model.classify_boxes(page, boxes)` gives the `CLASSIFY_KEYS` of xyxy scan-pixel `boxes` [n, 4] of one
    encoded page, cropped and classified as the page's detections are (`BoxesUnsupported` when it cannot)."""

    backend: str
    path: Path
    vocabulary: list[tuple[str, str]]
    options: RecognizerOptions

    def __call__(self, pages: Sequence[bytes]) -> dict[str, np.ndarray]: ...

    def classify_boxes(self, page: bytes, boxes: np.ndarray) -> dict[str, np.ndarray]: ...


def read_vocabulary_asset(path: str | Path) -> list[tuple[str, str]]:
    """[(code, char)] by class id from an export folder's assets/vocabulary.csv."""
    file = Path(path) / ASSETS_DIR / VOCABULARY_ASSET
    if not file.is_file():
        raise FileNotFoundError(f"{file}: missing; re-export the model with kuzushiji-export")
    with open(file, newline="", encoding="utf-8") as handle:
        return [(row["code"], row["char"]) for row in csv.DictReader(handle)]


def read_options_asset(path: str | Path) -> RecognizerOptions:
    """The export options (short side, thresholds, limits, top-k) from assets/recognizer.json. An export of
    another format (or none: written before formats were numbered) is an `ExportFormatError`."""
    file = Path(path) / ASSETS_DIR / OPTIONS_ASSET
    try:
        values = json.loads(file.read_text())
    except (OSError, ValueError):
        values = None
    found = values.get("export_format") if isinstance(values, dict) else None
    if found != EXPORT_FORMAT:
        raise ExportFormatError(
            f"{path}: exported by an earlier version of kuzushiji_tf (export format {found or 1}, this version "
            f"reads {EXPORT_FORMAT}: top-k candidates, class threshold after the graph); re-export it with kuzushiji-export"
        )
    return RecognizerOptions.from_dict(values)


def write_assets(out: str | Path, vocabulary: list[tuple[str, str]], options: RecognizerOptions) -> Path:
    """`out/assets/vocabulary.csv` and `out/assets/recognizer.json`: what every page recogniser export
    carries, the SavedModel and the ONNX one."""
    assets = Path(out) / ASSETS_DIR
    assets.mkdir(parents=True, exist_ok=True)
    rows = ["class_id,code,char"] + [f"{i},{code},{char}" for i, (code, char) in enumerate(vocabulary)]
    (assets / VOCABULARY_ASSET).write_text("\n".join(rows) + "\n", encoding="utf-8")
    (assets / OPTIONS_ASSET).write_text(options.to_json())
    return assets


def check_version_dir(path: str | Path) -> Path:
    """`path` must end in an integer version folder (TF Serving's `name/<version>/`) that is not there yet."""
    path = Path(path)
    if not path.name.isdigit():
        raise ValueError(
            f"{path}: the export folder must be name/<integer version>, e.g. saved_models/kuzushiji_page/1"
        )
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} already holds a model; export to a new version number")
    return path


def model_short_side(path: str | Path) -> int:
    """The largest short side the exported recogniser resizes pages to (its options asset: `short_side`, or
    `max_short_side` under the `auto` scale policy): IIIF images are fetched at it."""
    return read_options_asset(path).largest_short_side


def model_backend(path: str | Path) -> str:
    """`tf` or `onnx` by what the folder holds; a clear error when it holds neither."""
    path = Path(path)
    if (path / SAVED_MODEL_FILE).is_file():
        return "tf"
    if all((path / name).is_file() for name in ONNX_FILES):
        return "onnx"
    raise FileNotFoundError(
        f"{path}: neither a SavedModel ({SAVED_MODEL_FILE}) nor an ONNX export "
        f"({' + '.join(ONNX_FILES)}); export one with kuzushiji-export"
    )


def is_page_model(path: str | Path) -> bool:
    try:
        model_backend(path)
        return True
    except FileNotFoundError:
        return False


def newest_version(models: str | Path) -> Path:
    """The highest integer version folder under `models` (e.g. saved_models/kuzushiji_page) holding an export."""
    versions = sorted(
        (p for p in Path(models).glob("*") if p.name.isdigit() and is_page_model(p)), key=lambda p: int(p.name)
    )
    if not versions:
        raise FileNotFoundError(
            f"{models}: no exported page recogniser; pass --model, or run kuzushiji-export (or make demo)"
        )
    return versions[-1]
