"""CenterNet decoding: stride-4 output maps -> a fixed number of scored xyxy boxes per image.

Fixed shapes (padded to `max_detections`, with a valid count) keep it inside a compiled graph; NMS and
the rescaling to the original page happen outside the model (inference/), where TF's NMS op is available.
"""

from __future__ import annotations

from keras import ops

from kuzushiji_tf.models.centernet.centernet_loss import gather_cells
from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE

BOXES = "boxes"
SCORES = "scores"
NUM_DETECTIONS = "num_detections"


def centernet_postprocess(outputs, max_detections=100, score_threshold=0.3, stride=4):
    """Peaks of the heatmap, the best `max_detections` of them, and their boxes.

    A peak is a cell equal to the maximum of its 3x3 neighbourhood with `sigmoid(logit) >= score_threshold`
    (docs/recipe.md, "Inference"). Peaks are found on the logits, not the probabilities: sigmoid is monotonic,
    and float32 sigmoid rounds every logit above ~17 to 1.0, which would turn neighbouring confident cells
    into a plateau. Cells of an exact plateau are all peaks (as in CenterNet); NMS later removes the
    duplicates. Box: centre `(x + dx, y + dy)`, size `(w, h)` (negative sizes clamped to 0), times `stride`.

    Args:
        outputs: dict from `CenterNetDetector`: `HEATMAP` logits `[B, Ho, Wo, 1]`, `SIZE` `[B, Ho, Wo, 2]`
            (w, h) and `OFFSET` `[B, Ho, Wo, 2]` (dx, dy), in output cells.
        max_detections: int, K, boxes kept per image (top-K by score).
        score_threshold: float, minimum peak probability.
        stride: int, input pixels per output cell.

    Returns:
        dict: `BOXES` float32 `[B, K, 4]` xyxy in pixels of the model's input image; `SCORES` float32
        `[B, K]`, descending; `NUM_DETECTIONS` int32 `[B]`, the leading valid entries. Padding entries
        have score 0 and box 0.

    Example:
    ```python
    decoded = centernet_postprocess(detector(images), max_detections=1200, score_threshold=0.3)
    decoded["boxes"][0, : decoded["num_detections"][0]]
    ```
    """
    logits = ops.cast(outputs[HEATMAP], "float32")  # [B, Ho, Wo, 1]
    shape = ops.shape(logits)
    batch, width = shape[0], shape[2]
    pooled = ops.max_pool(logits, pool_size=3, strides=1, padding="same")
    probs = ops.sigmoid(logits)
    is_peak = ops.logical_and(ops.equal(logits, pooled), ops.greater_equal(probs, score_threshold))
    # Non-peaks score -1 (probabilities are >= 0), and K extra -1 columns let top_k take K cells from a map
    # smaller than K.
    scores = ops.reshape(ops.where(is_peak, probs, -1.0), (batch, -1))  # [B, Ho*Wo]
    scores = ops.concatenate([scores, ops.full((batch, max_detections), -1.0)], axis=1)
    top_scores, top_indices = ops.top_k(scores, max_detections)  # [B, K], sorted descending
    valid = ops.greater_equal(top_scores, 0.0)  # [B, K]

    size = gather_cells(ops.cast(outputs[SIZE], "float32"), top_indices)  # [B, K, 2], indices clipped
    offset = gather_cells(ops.cast(outputs[OFFSET], "float32"), top_indices)  # [B, K, 2]
    x = ops.cast(top_indices % width, "float32") + offset[..., 0]  # centre, output cells
    y = ops.cast(top_indices // width, "float32") + offset[..., 1]
    half_w = ops.maximum(size[..., 0], 0.0) / 2.0
    half_h = ops.maximum(size[..., 1], 0.0) / 2.0
    boxes = ops.stack([x - half_w, y - half_h, x + half_w, y + half_h], axis=-1) * float(stride)  # [B, K, 4]
    return {
        BOXES: ops.where(valid[..., None], boxes, 0.0),
        SCORES: ops.where(valid, top_scores, 0.0),
        NUM_DETECTIONS: ops.sum(ops.cast(valid, "int32"), axis=1),
    }
