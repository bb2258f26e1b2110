"""One graph from an encoded page to its characters: decode, resize (at the export's short side, or
under the `auto` scale policy at one chosen from a first pass), detect, peaks, NMS, crop each
character from the full-resolution scan, classify, top-k classes, pad. Only core TensorFlow ops, so the
same function runs eagerly in Python, inside `kuzushiji-pseudo-label`, and as the `serving_default`
signature of the exported SavedModel that TF Serving loads. The graph stops there: the class threshold and
reading order are TF-free Python (`recognition.postprocess`) that every backend and client shares.
"""

from __future__ import annotations

import tensorflow as tf

from kuzushiji_tf.config import MAX_IMAGE_BYTES, MAX_PIXELS

# docs/recipe.md: inference crops are squares of 1.2 x the longer box side (held beside the stored crops' 1.4).
from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR
from kuzushiji_tf.detection.detect import detect_scan, scaled_short_side
from kuzushiji_tf.models.classifier import num_classes
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    COUNT,
    CROP_OVERSAMPLE,
    DET_SCORES,
    JPEG_MAGIC,
    OUT_BOXES,
    PNG_MAGIC,
    SHORT_SIDE,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
    RecognizerOptions,
    output_specs,
)


def _image_hw(data: tf.Tensor, is_jpeg: tf.Tensor) -> tf.Tensor:
    """int32 [2] (height, width) read from the header, before any pixel is decoded."""

    def png_hw():
        raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.uint8), tf.int32)  # [8] big-endian
        width = raw[0] * 16777216 + raw[1] * 65536 + raw[2] * 256 + raw[3]
        height = raw[4] * 16777216 + raw[5] * 65536 + raw[6] * 256 + raw[7]
        return tf.stack([height, width])

    return tf.cond(is_jpeg, lambda: tf.io.extract_jpeg_shape(data)[:2], png_hw)


def decode_page_image(
    data: tf.Tensor, max_image_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_PIXELS
) -> tf.Tensor:
    """JPEG or PNG bytes -> uint8 [H, W, 3]. Empty input, anything else, or an image over the limits fails
    with an InvalidArgumentError that says which, so a server answers the request with an error."""
    length = tf.strings.length(data)
    checks = [
        tf.debugging.assert_greater(length, 0, message="input is empty (0 bytes), not an image"),
        tf.debugging.assert_less_equal(
            length, max_image_bytes, message=f"input is larger than {max_image_bytes} bytes"
        ),
    ]
    with tf.control_dependencies(checks):
        is_jpeg = tf.equal(tf.strings.substr(data, 0, 2), JPEG_MAGIC)
        is_png = tf.equal(tf.strings.substr(data, 0, 8), PNG_MAGIC)
    with tf.control_dependencies(
        [tf.debugging.Assert(tf.logical_or(is_jpeg, is_png), ["input is not a JPEG or PNG image"])]
    ):
        hw = _image_hw(data, is_jpeg)
    pixels = tf.cast(hw[0], tf.int64) * tf.cast(hw[1], tf.int64)
    with tf.control_dependencies(
        [
            tf.debugging.assert_less_equal(
                pixels,
                tf.constant(max_pixels, tf.int64),
                message=f"image has more than {max_pixels} pixels (refused as a decompression bomb)",
            )
        ]
    ):
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
    return tf.ensure_shape(image, [None, None, 3])


def square_crop_boxes(boxes: tf.Tensor, factor: float) -> tf.Tensor:
    """Squares of `factor` x each xyxy box's longer side around its centre. [N, 4] -> [N, 4]."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = factor * tf.reduce_max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True) / 2
    return tf.concat([centre - half, centre + half], axis=1)


def crop_characters(image: tf.Tensor, boxes: tf.Tensor, size: int, factor: float = INFERENCE_CROP_FACTOR) -> tf.Tensor:
    """float32 [N, size, size, 3] 0..255 squares around xyxy pixel boxes of a uint8 [H, W, 3] image.
    Beyond the page edge the page is mirrored (the record builder repeats edge pixels): no black frame."""
    squares = square_crop_boxes(tf.cast(boxes, tf.float32), factor)  # [N, 4] xyxy
    hw = tf.shape(image)[:2]
    # crop_and_resize puts pixel centres at integers, so a square's samples run from its near edge - 0.5
    # to its far edge - 0.5. The page is mirror-padded only on the sides a square leaves, and only by the
    # overshoot: padding the whole full-resolution scan by the largest square on every page copied it
    # each time (~200 ms of ~300 ms per page, docs/benchmarks.md), while most pages need no pad at all.
    # One pixel of slack: a sample computed a rounding error past the last pixel would read 0.
    first = tf.stack([squares[:, 1], squares[:, 0]], 1) - 0.5  # [N, 2] (y, x) first sample
    last = tf.stack([squares[:, 3], squares[:, 2]], 1) - 0.5  # [N, 2] (y, x) last sample
    none = tf.zeros([1, 2])  # an empty page needs no pad
    before = tf.reduce_max(tf.concat([1.0 - first, none], 0), 0)  # [2] (top, left)
    after = tf.reduce_max(tf.concat([last - tf.cast(hw - 1, tf.float32) + 1.0, none], 0), 0)  # [2] (bottom, right)
    # Never more than the former whole-page margin, the largest square's side, so a square far off the page
    # reads the same pixels (zeros beyond the margin) as before; SYMMETRIC padding is limited to the image size.
    largest = tf.math.ceil(tf.reduce_max(tf.concat([[0.0], tf.abs(squares[:, 2] - squares[:, 0])], 0)))
    limit = tf.minimum(tf.cast(largest, tf.int32), tf.reduce_min(hw) - 1)
    before = tf.minimum(tf.cast(tf.math.ceil(before), tf.int32), limit)
    after = tf.minimum(tf.cast(tf.math.ceil(after), tf.int32), limit)
    padding = tf.concat([tf.stack([before, after], 1), [[0, 0]]], 0)  # [3, 2]
    padded = tf.cond(tf.reduce_any(padding > 0), lambda: tf.pad(image, padding, mode="SYMMETRIC"), lambda: image)
    shift = tf.cast(before, tf.float32) - 0.5  # [2] (y, x) page pixels -> padded sample positions
    extent = tf.cast(tf.shape(padded)[:2] - 1, tf.float32)  # crop_and_resize maps normalised y to y * (H - 1)
    normalised = tf.stack(
        [
            (squares[:, 1] + shift[0]) / extent[0],
            (squares[:, 0] + shift[1]) / extent[1],
            (squares[:, 3] + shift[0]) / extent[0],
            (squares[:, 2] + shift[1]) / extent[1],
        ],
        1,
    )
    crops = tf.image.crop_and_resize(
        padded[None],
        normalised,
        tf.zeros(tf.shape(boxes)[:1], tf.int32),
        [size * CROP_OVERSAMPLE, size * CROP_OVERSAMPLE],
    )
    return tf.nn.avg_pool2d(crops, CROP_OVERSAMPLE, CROP_OVERSAMPLE, "VALID")


def class_probabilities(outputs) -> tf.Tensor:
    """float32 [N, classes] from a classifier's outputs: the `probabilities` entry of the project's
    MobileNetClassifier (which also returns `logits` for the loss), or a plain softmax tensor."""
    if isinstance(outputs, dict):
        outputs = outputs["probabilities"]
    return tf.cast(outputs, tf.float32)


class PageRecognizer:
    """Detector + classifier + the glue between them, as one TF function per page.

    Args:
        detector: the trained `CenterNetDetector` (0..255 input, stride-4 maps).
        classifier: the trained classifier (0..255 square crops in, class probabilities out).
        codes: list of `U+XXXX`, indexed by class id (the records' vocabulary).
        options: `RecognizerOptions`.
    """

    def __init__(self, detector, classifier, codes, options: RecognizerOptions = RecognizerOptions()):
        self.num_classes = num_classes(classifier)
        options = options.for_classes(self.num_classes)
        self.detector, self.classifier, self.options = detector, classifier, options
        self.codes = tf.constant(list(codes))
        self.codepoints = tf.constant([int(code[2:], 16) for code in codes], tf.int32)
        self.crop_size = int(classifier.input_shape[1])
        self.top_k = options.top_k

    def detect(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(boxes float32 [n, 4] xyxy scan pixels, scores float32 [n]) of a uint8 [H, W, 3] page."""
        return self.detect_scaled(image)[:2]

    def detect_scaled(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(boxes, scores, the short side int32 [] they were found at) of a uint8 [H, W, 3] page, under the
        options' scale policy: `auto` may read the page a second time (`detection.scaled_short_side`)."""
        o = self.options

        def at(short_side):
            boxes, scores, _ = detect_scan(
                self.detector,
                image,
                short_side,
                score_threshold=o.det_threshold,
                nms_iou=o.nms_iou,
                max_detections=o.max_chars,
                contained_share=o.contained_share,
            )
            return boxes, scores

        boxes, scores = at(o.short_side)
        if o.scale_policy == "fixed":
            return boxes, scores, tf.constant(o.short_side, tf.int32)
        side = scaled_short_side(
            boxes,
            tf.shape(image)[:2],
            o.short_side,
            target_char_height=o.target_char_height,
            min_short_side=o.min_short_side,
            max_short_side=o.max_short_side,
            tolerance=o.scale_tolerance,
            min_chars=o.scale_min_chars,
        )
        # The second pass replaces the first: merging the two would bring back the first pass's false boxes
        # at the scale the page did not fit.
        boxes, scores = tf.cond(tf.equal(side, o.short_side), lambda: (boxes, scores), lambda: at(side))
        return boxes, scores, side

    def classify(self, image: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
        """float32 [n, classes] probabilities of the characters in `boxes` (scan pixels)."""

        def run():
            crops = crop_characters(image, boxes, self.crop_size)
            return class_probabilities(self.classifier(crops, training=False))

        # A page with no characters (a blank page, a cover) must not reach the classifier: Keras layers
        # refuse an empty batch.
        return tf.cond(tf.shape(boxes)[0] > 0, run, lambda: tf.zeros([0, self.num_classes], tf.float32))

    def recognize_image(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        """Everything the signature returns for one decoded page, padded to `max_chars` (see the contract's
        keys): every detection with its top-k classes; the class threshold is applied after the graph."""
        boxes, det_scores, short_side = self.detect_scaled(image)
        probs = self.classify(image, boxes)  # [n, classes]
        topk_probs, topk_ids = tf.math.top_k(probs, k=self.top_k)  # [n, k]; ties: the lower class id first
        count = tf.shape(boxes)[0]
        pad = self.options.max_chars - count
        return {
            CODEPOINTS: tf.pad(tf.gather(self.codepoints, topk_ids[:, 0]), [[0, pad]]),
            CODES: tf.pad(tf.gather(self.codes, topk_ids[:, 0]), [[0, pad]]),
            DET_SCORES: tf.pad(det_scores, [[0, pad]]),
            CLASS_PROBS: tf.pad(topk_probs[:, 0], [[0, pad]]),
            OUT_BOXES: tf.pad(boxes, [[0, pad], [0, 0]]),
            TOPK_CLASS_IDS: tf.pad(topk_ids, [[0, pad], [0, 0]]),
            TOPK_CODEPOINTS: tf.pad(tf.gather(self.codepoints, topk_ids), [[0, pad], [0, 0]]),
            TOPK_PROBS: tf.pad(topk_probs, [[0, pad], [0, 0]]),
            COUNT: count,
            SHORT_SIDE: short_side,
        }

    def classify_boxes(self, data: tf.Tensor, boxes: tf.Tensor) -> dict[str, tf.Tensor]:
        """The classify signature (contract `CLASSIFY_SIGNATURE`): one encoded page (tf.string []) and xyxy
        scan-pixel boxes (float32 [n, 4]) -> each box's top-k classes, unpadded, by the page's own crop and
        classifier (`classify`), so a box drawn by hand reads as a detected one would."""
        o = self.options
        image = decode_page_image(data, o.max_image_bytes, o.max_pixels)
        boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 4])
        topk_probs, topk_ids = tf.math.top_k(self.classify(image, boxes), k=self.top_k)
        return {
            CODEPOINTS: tf.gather(self.codepoints, topk_ids[:, 0]),
            CODES: tf.gather(self.codes, topk_ids[:, 0]),
            CLASS_PROBS: topk_probs[:, 0],
            OUT_BOXES: boxes,
            TOPK_CLASS_IDS: topk_ids,
            TOPK_CODEPOINTS: tf.gather(self.codepoints, topk_ids),
            TOPK_PROBS: topk_probs,
        }

    def recognize(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """The serving function: a batch of encoded JPEG/PNG pages (tf.string [B]) -> padded outputs [B, ...]."""
        o = self.options
        signature = {
            key: tf.TensorSpec(shape, dtype) for key, (shape, dtype) in output_specs(o.max_chars, self.top_k).items()
        }
        return tf.map_fn(
            lambda data: self.recognize_image(decode_page_image(data, o.max_image_bytes, o.max_pixels)),
            images,
            fn_output_signature=signature,
        )
