"""MobileNetV3Small character classifier: 0..255 crops in, float32 logits and probabilities out; its loss
and its random train view."""

from kuzushiji_tf.models.classifier.classifier_loss import ACCURACY, TOTAL, classifier_loss
from kuzushiji_tf.models.classifier.crop_train_view import CropTrainView
from kuzushiji_tf.models.classifier.mobilenet_classifier import (
    LOGITS,
    PROBABILITIES,
    MobileNetClassifier,
    build_classifier,
    num_classes,
)

__all__ = [
    "ACCURACY",
    "LOGITS",
    "PROBABILITIES",
    "TOTAL",
    "CropTrainView",
    "MobileNetClassifier",
    "build_classifier",
    "classifier_loss",
    "num_classes",
]
