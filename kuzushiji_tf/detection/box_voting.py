"""Box voting: merge detections from several scales into one set (docs/recipe.md, "Adaptive scale").

NMS at a low IoU picks the base boxes; every detection overlapping a base box at `vote_iou` or more then
moves it to the score-weighted mean of the voters, so a character seen at three scales gets one box
placed by all three instead of the single best guess.
"""

from __future__ import annotations

import tensorflow as tf

from kuzushiji_tf.config import MAX_CHARS_PER_PAGE

BASE_NMS_IOU = 0.3  # docs/recipe.md: NMS 0.3 picks the base boxes
VOTE_IOU = 0.5  # docs/recipe.md: boxes with IoU >= 0.5 to a base box vote


def pairwise_iou(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """IoU float32 [N, M] of xyxy boxes a [N, 4] and b [M, 4]; 0 where the union is empty."""
    a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    x0 = tf.maximum(a[:, None, 0], b[None, :, 0])
    y0 = tf.maximum(a[:, None, 1], b[None, :, 1])
    x1 = tf.minimum(a[:, None, 2], b[None, :, 2])
    y1 = tf.minimum(a[:, None, 3], b[None, :, 3])
    inter = tf.maximum(x1 - x0, 0.0) * tf.maximum(y1 - y0, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return tf.math.divide_no_nan(inter, union)


def box_voting(
    boxes: tf.Tensor,
    scores: tf.Tensor,
    *,
    nms_iou: float = BASE_NMS_IOU,
    vote_iou: float = VOTE_IOU,
    max_detections: int = MAX_CHARS_PER_PAGE,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Base boxes by NMS, each replaced by the score-weighted mean of the boxes voting for it.

    Args:
        boxes: float32 [N, 4] xyxy, all scales in one frame (e.g. original page pixels).
        scores: float32 [N].
    Returns:
        (boxes float32 [K, 4], scores float32 [K]): K <= max_detections, best base score first; the score
        is the base box's own (the best of its cluster, since NMS keeps the best first).
    """
    boxes, scores = tf.cast(boxes, tf.float32), tf.cast(scores, tf.float32)
    keep = tf.image.non_max_suppression(
        tf.gather(boxes, [1, 0, 3, 2], axis=1), scores, max_output_size=max_detections, iou_threshold=nms_iou
    )
    base, base_scores = tf.gather(boxes, keep), tf.gather(scores, keep)  # [K, 4], [K]
    votes = tf.cast(pairwise_iou(base, boxes) >= vote_iou, tf.float32) * scores[None, :]  # [K, N]
    # A base box always votes for itself (IoU 1), so the weights never sum to zero unless its score is 0.
    merged = tf.math.divide_no_nan(tf.matmul(votes, boxes), tf.reduce_sum(votes, axis=1, keepdims=True))
    merged = tf.where(tf.reduce_sum(votes, axis=1, keepdims=True) > 0, merged, base)
    return merged, base_scores
