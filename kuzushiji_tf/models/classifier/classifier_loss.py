"""The classifier's loss, plain softmax cross-entropy (docs/recipe.md), normalised per crop of the GLOBAL batch.

As in `centernet_loss`, each replica returns a SUM over its crops divided by the number of crops in the
whole global batch, so summing over replicas gives the single-device loss of that batch.
"""

from __future__ import annotations

from keras import ops

from kuzushiji_tf.models.classifier.mobilenet_classifier import LOGITS

TOTAL = "total"
ACCURACY = "accuracy"


def classifier_loss(labels, outputs, num_crops=None):
    """Softmax cross-entropy from the logits (stable for any logit), and top-1 accuracy for the log.

    Args:
        labels: int `[B]` class ids.
        outputs: dict from `MobileNetClassifier`; `LOGITS` `[B, num_classes]` (cast to float32 here).
        num_crops: scalar, crops in the GLOBAL batch (all replicas). None: this batch's size.

    Returns:
        dict of float32 scalars: `TOTAL` the summed cross-entropy / max(num_crops, 1); `ACCURACY` the number
        of crops whose largest logit is their label / max(num_crops, 1) (not differentiated).
    """
    logits = ops.cast(outputs[LOGITS], "float32")  # [B, C]
    labels = ops.cast(labels, "int32")  # [B]
    if num_crops is None:
        num_crops = ops.shape(labels)[0]
    denominator = ops.maximum(ops.cast(num_crops, "float32"), 1.0)
    cross_entropy = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)  # [B]
    correct = ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), labels), "float32")  # [B]
    return {TOTAL: ops.sum(cross_entropy) / denominator, ACCURACY: ops.stop_gradient(ops.sum(correct) / denominator)}
