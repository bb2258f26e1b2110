"""From detector outputs to boxes in scan pixels: peak decoding (the model's), then TensorFlow NMS and
the scale back to the original page. Kept outside `models/` because NMS is a TF op."""
from __future__ import annotations

import tensorflow as tf

from kuzushiji_tf.models.centernet import BOXES, NUM_DETECTIONS, SCORES, centernet_postprocess


def detect(model, images: tf.Tensor, *, score_threshold: float = 0.3, nms_iou: float = 0.5,
           max_detections: int = 1200) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """Per image: (boxes float32 [n, 4] xyxy input pixels, scores float32 [n]) after NMS, best first."""
    outputs = model(images, training=False)
    decoded = centernet_postprocess(outputs, max_detections=max_detections, score_threshold=score_threshold,
                                    stride=getattr(model, "output_stride", 4))
    results = []
    for i in range(int(tf.shape(images)[0])):
        n = int(decoded[NUM_DETECTIONS][i])
        boxes, scores = decoded[BOXES][i, :n], decoded[SCORES][i, :n]
        # TF's NMS wants (y0, x0, y1, x1).
        keep = tf.image.non_max_suppression(tf.gather(boxes, [1, 0, 3, 2], axis=1), scores,
                                            max_output_size=max_detections, iou_threshold=nms_iou)
        results.append((tf.gather(boxes, keep), tf.gather(scores, keep)))
    return results


def to_original_pixels(boxes: tf.Tensor, scale_yx: tf.Tensor) -> tf.Tensor:
    """Input-pixel boxes -> scan pixels; `scale_yx` maps scan pixels to input pixels as (y, x)."""
    sy, sx = scale_yx[0], scale_yx[1]
    return boxes / tf.stack([sx, sy, sx, sy])
