"""The `onnx` backend (`backends.loading.load_page_model`): the page recogniser of an ONNX export folder (`detector.onnx`,
`classifier.onnx`, `assets/`) run by ONNX Runtime, with numpy and OpenCV for the glue. It gives what the
SavedModel's `serving_default` gives, padded the same way, and imports no TensorFlow or Keras.

Each page: decode (`images.decode_page_image`), resize to the export's short side (`images.resize_page`),
detector, peaks and NMS (`postprocess`); under the `auto` scale policy, maybe again at the short side the
first pass chose (`postprocess.scaled_short_side`); boxes back to the scan's pixels, crops from the full-resolution
scan, classifier (in batches), top-k classes, padding to `max_chars`; the class threshold comes after
(`recognition.page_text.page_record` flags, and only a Kaggle submission drops with
`recognition.postprocess.confident`), as for the SavedModel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from kuzushiji_tf.backends.onnx.images import decode_page_image, resize_page
from kuzushiji_tf.backends.onnx.postprocess import (
    centernet_peaks,
    contained_mask,
    crop_characters,
    non_max_suppression,
    scaled_short_side,
)
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    COUNT,
    DET_SCORES,
    ONNX_FILES,
    OUT_BOXES,
    OUTPUT_KEYS,
    SHORT_SIDE,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
    output_specs,
    read_options_asset,
    read_vocabulary_asset,
)
from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE

RUNTIME_ASSET = "onnx_runtime.json"  # assets/: what the glue needs from the Keras models (export.py writes it)
PROBABILITIES = "probabilities"  # the classifier output inference reads (MobileNetClassifier's)
CLASSIFIER_BATCH = 64  # crops per classifier run: bounds the memory of a page of 1,200 characters


def read_runtime_asset(path: str | Path) -> dict:
    file = Path(path) / "assets" / RUNTIME_ASSET
    if not file.is_file():
        raise FileNotFoundError(f"{file}: missing; re-export the model with kuzushiji-export --format onnx")
    return json.loads(file.read_text())


class OnnxPageModel:
    """`model(pages)` -> padded outputs of the ONNX page recogniser at `path` (see `page_model`).

    Args:
        path: the export folder (`kuzushiji-export --format onnx`).
        intra_op_num_threads: ONNX Runtime's threads per model run (default: its own choice, all cores).
        providers: ONNX Runtime execution providers (default CPU).
    """

    backend = "onnx"

    def __init__(
        self,
        path: str | Path,
        intra_op_num_threads: int | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ):
        self.path = Path(path)
        self.vocabulary = read_vocabulary_asset(self.path)
        self.options = read_options_asset(self.path)
        self.runtime = read_runtime_asset(self.path)
        settings = ort.SessionOptions()
        if intra_op_num_threads:
            settings.intra_op_num_threads = int(intra_op_num_threads)
        detector_file, classifier_file = (str(self.path / name) for name in ONNX_FILES)
        self.detector = ort.InferenceSession(detector_file, settings, providers=list(providers))
        self.classifier = ort.InferenceSession(classifier_file, settings, providers=list(providers))
        self._detector_input = self.detector.get_inputs()[0].name
        self._detector_outputs = [o.name for o in self.detector.get_outputs()]
        missing = {HEATMAP, OFFSET, SIZE} - set(self._detector_outputs)
        if missing:
            raise ValueError(
                f"{detector_file}: no output named {', '.join(sorted(missing))}; "
                f"it has {', '.join(self._detector_outputs)}"
            )
        self._classifier_input = self.classifier.get_inputs()[0].name
        outputs = [o.name for o in self.classifier.get_outputs()]
        # MobileNetClassifier returns logits and probabilities; a plain softmax model its one output.
        self._classifier_output = PROBABILITIES if PROBABILITIES in outputs else outputs[0]
        self.codes = np.array([code.encode() for code, _ in self.vocabulary], dtype=object)
        self.codepoints = np.array([int(code[2:], 16) for code, _ in self.vocabulary], np.int32)
        self.crop_size = int(self.runtime["crop_size"])
        self.num_classes = len(self.vocabulary)

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(boxes float32 [n, 4] xyxy scan pixels, scores float32 [n] best first, the short side they were
        found at) of a uint8 [H, W, 3] page, under the options' scale policy as the SavedModel's graph
        (`page_recognizer.PageRecognizer.detect_scaled`): `auto` may read the page a second time."""
        o, r = self.options, self.runtime
        boxes, scores = self.detect_at(image, o.short_side)
        if o.scale_policy == "fixed":
            return boxes, scores, o.short_side
        side = scaled_short_side(
            boxes,
            image.shape[:2],
            o.short_side,
            target_char_height=o.target_char_height,
            min_short_side=o.min_short_side,
            max_short_side=o.max_short_side,
            tolerance=o.scale_tolerance,
            min_chars=o.scale_min_chars,
            multiple=int(r["size_multiple"]),
        )
        if side == o.short_side:
            return boxes, scores, side
        return (*self.detect_at(image, side), side)

    def detect_at(self, image: np.ndarray, short_side: int) -> tuple[np.ndarray, np.ndarray]:
        """(boxes float32 [n, 4] xyxy scan pixels, scores float32 [n] best first): one pass at `short_side`."""
        o, r = self.options, self.runtime
        inputs, scale = resize_page(image, short_side, int(r["size_multiple"]))
        maps = dict(zip(self._detector_outputs, self.detector.run(None, {self._detector_input: inputs})))
        boxes, scores = centernet_peaks(maps, o.max_chars, o.det_threshold, int(r["output_stride"]))
        keep = non_max_suppression(boxes, scores, o.nms_iou, o.max_chars)
        boxes, scores = boxes[keep], scores[keep]
        share = o.contained_share
        if share < 1.0:
            kept = ~contained_mask(boxes, share)
            boxes, scores = boxes[kept], scores[kept]
        sy, sx = scale
        return boxes / np.array([sx, sy, sx, sy], np.float32), scores

    def classify(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """float32 [n, classes] probabilities of the characters in `boxes` (scan pixels)."""
        if len(boxes) == 0:  # a blank page never reaches the classifier, as in the graph
            return np.zeros((0, self.num_classes), np.float32)
        r = self.runtime
        crops = crop_characters(image, boxes, self.crop_size, float(r["crop_factor"]), int(r["crop_oversample"]))
        return np.concatenate(
            [
                self.classifier.run(
                    [self._classifier_output], {self._classifier_input: crops[i : i + CLASSIFIER_BATCH]}
                )[0]
                for i in range(0, len(crops), CLASSIFIER_BATCH)
            ]
        ).astype(np.float32)

    def recognize_image(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """One decoded page's outputs, padded to `max_chars` (the contract's keys): every detection with its
        top-k classes, as the SavedModel's graph gives them."""
        max_chars = self.options.max_chars
        boxes, det_scores, short_side = self.detect(image)
        topk_ids, topk_probs = self.top_k(self.classify(image, boxes))
        count = len(boxes)
        out = {key: np.zeros(shape, dtype) for key, (shape, dtype) in self._shapes(max_chars).items()}
        out[CODES] = np.full(max_chars, b"", dtype=object)
        out[COUNT] = np.int32(count)
        out[SHORT_SIDE] = np.int32(short_side)
        out[CODEPOINTS][:count] = self.codepoints[topk_ids[:, 0]]
        out[CODES][:count] = self.codes[topk_ids[:, 0]]
        out[DET_SCORES][:count] = det_scores
        out[CLASS_PROBS][:count] = topk_probs[:, 0]
        out[OUT_BOXES][:count] = boxes
        out[TOPK_CLASS_IDS][:count] = topk_ids
        out[TOPK_CODEPOINTS][:count] = self.codepoints[topk_ids]
        out[TOPK_PROBS][:count] = topk_probs
        return out

    def top_k(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class ids int32 [n, k], their probabilities [n, k]) of `probs` [n, classes]: descending, the lower
        class id first on ties, tf.math.top_k's order."""
        topk_ids = np.argsort(-probs, axis=1, kind="stable")[:, : self.options.top_k].astype(np.int32)
        return topk_ids, np.take_along_axis(probs, topk_ids, axis=1)

    def classify_boxes(self, page: bytes, boxes: np.ndarray) -> dict[str, np.ndarray]:
        """The `CLASSIFY_KEYS` of xyxy scan-pixel `boxes` [n, 4] on one encoded page: the SavedModel's
        `CLASSIFY_SIGNATURE`, by the page's own crop and classifier (`classify`)."""
        o = self.options
        image = decode_page_image(page, o.max_image_bytes, o.max_pixels)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        topk_ids, topk_probs = self.top_k(self.classify(image, boxes))
        return {
            CODEPOINTS: self.codepoints[topk_ids[:, 0]],
            CODES: self.codes[topk_ids[:, 0]],
            CLASS_PROBS: topk_probs[:, 0],
            OUT_BOXES: boxes,
            TOPK_CLASS_IDS: topk_ids,
            TOPK_CODEPOINTS: self.codepoints[topk_ids],
            TOPK_PROBS: topk_probs,
        }

    def __call__(self, pages: Sequence[bytes]) -> dict[str, np.ndarray]:
        """A batch of encoded JPEG/PNG pages -> padded outputs [B, ...]; `PageRefused` when any page is refused
        (as the SavedModel fails the whole batch)."""
        o = self.options
        # Every page is decoded (and so checked) before any is run: a refused page costs no model run.
        images = [decode_page_image(data, o.max_image_bytes, o.max_pixels) for data in pages]
        results = [self.recognize_image(image) for image in images]
        if not results:
            return {key: np.zeros((0, *shape), dtype) for key, (shape, dtype) in self._shapes(o.max_chars).items()}
        return {key: np.stack([r[key] for r in results]) for key in OUTPUT_KEYS}

    def _shapes(self, max_chars: int) -> dict[str, tuple[tuple[int, ...], type]]:
        """Each output's shape for one page and its numpy dtype (codes are bytes objects, as TF's strings)."""
        specs = output_specs(max_chars, self.options.top_k)
        return {key: (shape, object if dtype == "string" else np.dtype(dtype)) for key, (shape, dtype) in specs.items()}
