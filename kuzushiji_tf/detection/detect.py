"""From detector outputs to boxes in scan pixels: peak decoding (the model's), then TensorFlow NMS and
the scale back to the original page. Kept outside `models/` because NMS is a TF op.

`detect_page` is the one entry point for a whole scan: resize to the inference short side, detect, and
optionally the recipe's adaptive multi-scale pass with box voting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from kuzushiji_tf.config import CONTAINED_SHARE, INFERENCE_SHORT_SIDE, MAX_CHARS_PER_PAGE, SIZE_MULTIPLE
from kuzushiji_tf.data.image_ops import short_side_size
from kuzushiji_tf.detection.box_voting import box_voting
from kuzushiji_tf.models.centernet import BOXES, NUM_DETECTIONS, SCORES, centernet_postprocess

# docs/recipe.md "Adaptive scale": rescale so the mean character is 35 px, then detect at x0.8, x1, x1.25.
TARGET_CHAR_SIZE = 35.0
ADAPTIVE_SCALES = (0.8, 1.0, 1.25)
# The adapted short side stays within these bounds: a page of a few huge characters must not shrink to
# nothing, and one of tiny noise peaks must not blow up the input.
MIN_SHORT_SIDE, MAX_SHORT_SIDE = 320, 2048


def detect(
    model,
    images: tf.Tensor,
    *,
    score_threshold: float = 0.3,
    nms_iou: float = 0.5,
    max_detections: int = MAX_CHARS_PER_PAGE,
    contained_share: float = CONTAINED_SHARE,
) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """Per image: (boxes float32 [n, 4] xyxy input pixels, scores float32 [n]) after NMS, best first."""
    outputs = model(images, training=False)
    decoded = centernet_postprocess(
        outputs,
        max_detections=max_detections,
        score_threshold=score_threshold,
        stride=getattr(model, "output_stride", 4),
    )
    return [_suppressed(decoded, i, nms_iou, max_detections, contained_share) for i in range(int(tf.shape(images)[0]))]


def contained_mask(boxes: tf.Tensor, share: float) -> tf.Tensor:
    """bool [n]: which of xyxy `boxes` (best first) have more than `share` of their area inside some box
    ranked before them. Every better box counts, kept or not, so the rule is one matrix, not a loop (the
    ONNX runtime's numpy twin gives the same answer); a box of zero area is never dropped."""
    boxes = tf.cast(boxes, tf.float32)
    low, high = tf.maximum(boxes[:, None, :2], boxes[None, :, :2]), tf.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    overlap = tf.maximum(high - low, 0.0)  # [n, n, 2] (w, h) of each intersection
    iw, ih = overlap[..., 0], overlap[..., 1]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # [n]
    inside = tf.math.divide_no_nan(iw * ih, area[:, None])  # [n, n]: share of box i inside box j
    n = tf.shape(boxes)[0]
    before = tf.range(n)[None, :] < tf.range(n)[:, None]  # j ranked before i
    return tf.reduce_any(tf.logical_and(before, inside > share), axis=1)


def _suppressed(
    decoded: dict, i, nms_iou: float, max_detections: int, contained_share: float = CONTAINED_SHARE
) -> tuple[tf.Tensor, tf.Tensor]:
    """Image i's decoded peaks after NMS and the contained-box step, best first; graph-safe (i and the
    count may be tensors)."""
    n = decoded[NUM_DETECTIONS][i]
    boxes, scores = decoded[BOXES][i, :n], decoded[SCORES][i, :n]
    # TF's NMS wants (y0, x0, y1, x1).
    keep = tf.image.non_max_suppression(
        tf.gather(boxes, [1, 0, 3, 2], axis=1), scores, max_output_size=max_detections, iou_threshold=nms_iou
    )
    boxes, scores = tf.gather(boxes, keep), tf.gather(scores, keep)
    if contained_share >= 1.0:
        return boxes, scores
    keep = tf.logical_not(contained_mask(boxes, contained_share))
    return tf.boolean_mask(boxes, keep), tf.boolean_mask(scores, keep)


def to_original_pixels(boxes: tf.Tensor, scale_yx: tf.Tensor) -> tf.Tensor:
    """Input-pixel boxes -> scan pixels; `scale_yx` maps scan pixels to input pixels as (y, x)."""
    sy, sx = scale_yx[0], scale_yx[1]
    return boxes / tf.stack([sx, sy, sx, sy])


def resize_page(image, short_side) -> tuple[tf.Tensor, tf.Tensor]:
    """A scan (uint8 [H, W, 3]) as a detector input: float32 [1, H', W', 3] 0..255 with the short side at
    `short_side` (an int or an int tensor) and both sides multiples of 32, and scale_yx float32 [2] (scan ->
    input pixels)."""
    image = tf.convert_to_tensor(image)
    original = tf.shape(image)[:2]
    size = short_side_size(original, short_side, SIZE_MULTIPLE)
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear", antialias=True)
    return resized[None], tf.cast(size, tf.float32) / tf.cast(original, tf.float32)


@dataclass(frozen=True)
class PageDetections:
    """Boxes float32 [n, 4] xyxy in scan pixels, scores float32 [n] (best first), and the short sides used."""

    boxes: np.ndarray
    scores: np.ndarray
    short_sides: tuple[int, ...]

    @property
    def centers(self) -> np.ndarray:
        """float32 [n, 2] (x, y): the points a Kaggle submission gives."""
        return (self.boxes[:, :2] + self.boxes[:, 2:]) / 2.0


def detect_scan(
    model,
    image,
    short_side,
    *,
    score_threshold: float = 0.3,
    nms_iou: float = 0.5,
    max_detections: int = MAX_CHARS_PER_PAGE,
    contained_share: float = CONTAINED_SHARE,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One pass over a scan (uint8 [H, W, 3]) at `short_side`: (boxes float32 [n, 4] xyxy scan pixels,
    scores float32 [n] best first, scale_yx float32 [2] scan -> input pixels). Graph-safe: the exported
    page recogniser runs this same function inside its serving graph."""
    inputs, scale = resize_page(image, short_side)
    decoded = centernet_postprocess(
        model(inputs, training=False),
        max_detections=max_detections,
        score_threshold=score_threshold,
        stride=getattr(model, "output_stride", 4),
    )
    boxes, scores = _suppressed(decoded, 0, nms_iou, max_detections, contained_share)
    return to_original_pixels(boxes, scale), scores, scale


def scaled_short_side(
    boxes: tf.Tensor,
    page_size: tf.Tensor,
    short_side: int,
    *,
    target_char_height: float,
    min_short_side: int,
    max_short_side: int,
    tolerance: float,
    min_chars: int,
) -> tf.Tensor:
    """int32 []: the short side the `auto` scale policy reads a page at, from its first pass at `short_side`
    (`recognition.contract.RecognizerOptions`). `boxes` float32 [n, 4] xyxy scan pixels, `page_size` int
    [2] (height, width) of the scan. Graph-safe; `backends.onnx.postprocess.scaled_short_side` is its numpy
    twin, float32 step for step, so that both backends choose the same scale.

    The page's median box height h (the lower median: no average of two floats to round) in scan pixels
    says what short side S makes it `target_char_height` input pixels: S = target x min(H, W) / h, rounded
    to a multiple of 32 (half to even) and clipped to [min_short_side, max_short_side]. `short_side` stays
    when the first pass found fewer than `min_chars` boxes, or S differs from it by less than `tolerance`
    of it."""
    boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 4])
    n = tf.shape(boxes)[0]
    # One spare entry past the end, so that an empty page gathers something (it keeps `short_side` anyway).
    heights = tf.concat([tf.sort(boxes[:, 3] - boxes[:, 1]), tf.ones([1])], 0)
    median = tf.gather(heights, tf.maximum((n - 1) // 2, 0))
    page_short = tf.cast(tf.reduce_min(page_size), tf.float32)
    raw = tf.constant(target_char_height, tf.float32) * page_short / tf.maximum(median, tf.constant(1e-6, tf.float32))
    multiple = tf.constant(SIZE_MULTIPLE, tf.float32)
    chosen = tf.clip_by_value(tf.round(raw / multiple) * multiple, float(min_short_side), float(max_short_side))
    current = tf.constant(short_side, tf.float32)
    keep = tf.logical_or(n < min_chars, tf.abs(chosen - current) < tf.constant(tolerance, tf.float32) * current)
    return tf.where(keep, tf.constant(short_side, tf.int32), tf.cast(chosen, tf.int32))


def detect_page(
    model,
    image,
    *,
    short_side: int = INFERENCE_SHORT_SIDE,
    score_threshold: float = 0.3,
    nms_iou: float = 0.5,
    max_detections: int = MAX_CHARS_PER_PAGE,
    contained_share: float = CONTAINED_SHARE,
    adaptive: bool = False,
    target_char_size: float = TARGET_CHAR_SIZE,
    scales: tuple[float, ...] = ADAPTIVE_SCALES,
) -> PageDetections:
    """Characters on one scan (uint8 [H, W, 3] RGB), boxes in its own pixels.

    With `adaptive`, the first pass only measures the characters: the short side is rescaled so their
    mean size ((w + h) / 2) becomes `target_char_size` input pixels, the page is detected again at that
    short side times each of `scales`, and the passes are merged by box voting (docs/recipe.md). This helps
    books whose script is much larger or smaller than the training crops' typical 35 px.
    """
    options = dict(
        score_threshold=score_threshold, nms_iou=nms_iou, max_detections=max_detections, contained_share=contained_share
    )
    boxes, scores, scale = detect_scan(model, image, short_side, **options)
    if not adaptive or int(tf.shape(boxes)[0]) == 0:
        return PageDetections(boxes.numpy(), scores.numpy(), (short_side,))
    in_input = boxes * tf.stack([scale[1], scale[0], scale[1], scale[0]])
    mean_size = float(tf.reduce_mean(((in_input[:, 2] - in_input[:, 0]) + (in_input[:, 3] - in_input[:, 1])) / 2))
    adapted = short_side * target_char_size / max(mean_size, 1.0)
    sides = tuple(int(np.clip(round(adapted * s), MIN_SHORT_SIDE, MAX_SHORT_SIDE)) for s in scales)
    passes = [detect_scan(model, image, side, **options)[:2] for side in sides]
    merged, merged_scores = box_voting(
        tf.concat([b for b, _ in passes], 0), tf.concat([s for _, s in passes], 0), max_detections=max_detections
    )
    return PageDetections(merged.numpy(), merged_scores.numpy(), sides)
