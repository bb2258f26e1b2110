"""MobileNetV3Small character classifier: 0..255 crops in, float32 logits and probabilities out, and its loss."""
from kuzushiji_tf.models.classifier.classifier_loss import ACCURACY, TOTAL, classifier_loss
from kuzushiji_tf.models.classifier.mobilenet_classifier import (
    LOGITS,
    PROBABILITIES,
    MobileNetClassifier,
    build_classifier,
)

__all__ = [
    "ACCURACY",
    "LOGITS",
    "PROBABILITIES",
    "TOTAL",
    "MobileNetClassifier",
    "build_classifier",
    "classifier_loss",
]
