"""CenterNet character detector: ResNet pyramid -> U-Net upsampler -> heads at stride 4, its loss and decoding."""

from kuzushiji_tf.models.centernet.backbones import BACKBONE_CONFIGS, build_backbone, resnet18_backbone
from kuzushiji_tf.models.centernet.centernet_detector import CenterNetDetector, build_centernet
from kuzushiji_tf.models.centernet.centernet_head import CenterNetHead
from kuzushiji_tf.models.centernet.centernet_loss import TOTAL, centernet_loss
from kuzushiji_tf.models.centernet.centernet_postprocess import BOXES, NUM_DETECTIONS, SCORES, centernet_postprocess
from kuzushiji_tf.models.centernet.unet_upsampler import UNetUpsampler

__all__ = [
    "BACKBONE_CONFIGS",
    "BOXES",
    "NUM_DETECTIONS",
    "SCORES",
    "TOTAL",
    "CenterNetDetector",
    "CenterNetHead",
    "UNetUpsampler",
    "build_backbone",
    "build_centernet",
    "centernet_loss",
    "centernet_postprocess",
    "resnet18_backbone",
]
