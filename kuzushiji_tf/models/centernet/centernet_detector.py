"""The CenterNet detector as one saveable Keras model: 0..255 RGB pages in, stride-4 maps out.

Normalisation is the model's first layer, saved in the `.keras` file, so training, evaluation and
serving cannot drift apart (images stay 0..255 through tf.data). Decoding to boxes lives in
`centernet_postprocess` and NMS outside the model, so the model's outputs are exactly what the loss reads.
"""

from __future__ import annotations

import keras

from kuzushiji_tf.models.centernet.backbones import PYRAMID_LEVELS, build_backbone, check_pyramid_backbone
from kuzushiji_tf.models.centernet.centernet_head import CenterNetHead
from kuzushiji_tf.models.centernet.unet_upsampler import UNetUpsampler

# Stride of the output maps relative to the input image (the "P2" level).
OUTPUT_STRIDE = 4
# (x - 127.5) / 128 on RGB 0..255 (docs/recipe.md, "Training input").
PIXEL_SCALE = 1.0 / 128.0
PIXEL_OFFSET = -127.5 / 128.0


@keras.saving.register_keras_serializable(package="kuzushiji_tf")
class CenterNetDetector(keras.Model):
    """ResNet feature pyramid -> U-Net upsampler -> CenterNet heads, at stride 4.

    Args:
        backbone: a keras-hub `FeaturePyramidBackbone` with `pyramid_outputs` "P2".."P5" (strides 4..32),
            randomly initialised (see `backbones.build_backbone`).
        upsampler_filters: tuple of 3 ints, channels after each U-Net step from stride 32 up to stride 4.
            Defaults to `(256, 128, 64)`.
        head_channels: int, width of the heads' 3x3 trunk. Defaults to 64.
        heatmap_prior: float, initial heatmap probability (bias -2.19 at 0.1, as CenterNet). Defaults to 0.1.
        image_shape: tuple, `(H, W, 3)`; H and W may be None but must be multiples of 32 when called.
        dtype: None, str or `keras.DTypePolicy` of the layers built here (e.g. `"mixed_float16"`); the
            heads' last convolutions stay float32.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: `[B, H, W, 3]` RGB, 0..255, uint8 or float.

    Returns:
        dict of float32 tensors, keys from `kuzushiji_tf.structures`: `HEATMAP` `[B, H/4, W/4, 1]` logits,
        `SIZE` `[B, H/4, W/4, 2]` (w, h) in output cells, `OFFSET` `[B, H/4, W/4, 2]` (dx, dy) in (0, 1).

    Example:
    ```python
    detector = build_centernet("resnet_tiny", upsampler_filters=(16, 16, 16), head_channels=16)
    outputs = detector(np.zeros((1, 64, 64, 3), "uint8"))
    outputs["heatmap"].shape  # (1, 16, 16, 1)
    ```
    """

    def __init__(
        self,
        backbone,
        upsampler_filters=(256, 128, 64),
        head_channels=64,
        heatmap_prior=0.1,
        image_shape=(None, None, 3),
        dtype=None,
        **kwargs,
    ):
        check_pyramid_backbone(backbone)
        # === Layers ===
        self.backbone = backbone
        self.normalizer = keras.layers.Rescaling(PIXEL_SCALE, PIXEL_OFFSET, dtype=dtype, name="normalizer")
        self.feature_extractor = keras.Model(
            backbone.input, [backbone.pyramid_outputs[level] for level in PYRAMID_LEVELS], name="feature_extractor"
        )
        self.upsampler = UNetUpsampler(upsampler_filters, dtype=dtype, name="upsampler")
        self.head = CenterNetHead(head_channels, heatmap_prior, dtype=dtype, name="head")

        # === Functional Model ===
        images = keras.Input(shape=image_shape, name="images")  # [B, H, W, 3], 0..255
        x = self.normalizer(images)  # [B, H, W, 3], about -1..1
        features = self.feature_extractor(x)  # [B, H/4, W/4, C2] ... [B, H/32, W/32, C5]
        outputs = self.head(self.upsampler(features))
        super().__init__(inputs=images, outputs=outputs, **kwargs)
        if dtype is not None:  # a functional model ignores `dtype`; keep it for `get_config` (as keras-hub)
            self.dtype_policy = keras.dtype_policies.get(dtype)

        # === Config ===
        self.upsampler_filters = tuple(int(f) for f in upsampler_filters)
        self.head_channels = int(head_channels)
        self.heatmap_prior = float(heatmap_prior)
        self.image_shape = tuple(image_shape)
        self.output_stride = OUTPUT_STRIDE

    def get_config(self):
        # Not chained to keras.Model: a functional model's config is its layer graph, which cannot be
        # passed back to this constructor (same choice as keras-hub's Backbone and Task).
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "backbone": keras.layers.serialize(self.backbone),
            "upsampler_filters": self.upsampler_filters,
            "head_channels": self.head_channels,
            "heatmap_prior": self.heatmap_prior,
            "image_shape": self.image_shape,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.layers.deserialize(config["backbone"])
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def build_centernet(
    backbone="resnet18",
    upsampler_filters=(256, 128, 64),
    head_channels=64,
    heatmap_prior=0.1,
    image_shape=(None, None, 3),
    dtype=None,
    name="centernet_detector",
) -> CenterNetDetector:
    """A randomly initialised `CenterNetDetector`, the backbone given by name or as an instance.

    Args:
        backbone: str, a key of `backbones.BACKBONE_CONFIGS` ("resnet18" is the recipe's), or a keras-hub
            `FeaturePyramidBackbone` instance with "P2".."P5".
        upsampler_filters, head_channels, heatmap_prior, image_shape: see `CenterNetDetector`.
        dtype: None, str or `keras.DTypePolicy`, for the backbone too when it is built here.
        name: str, the model's name.
    """
    if isinstance(backbone, str):
        backbone = build_backbone(backbone, dtype=dtype)
    return CenterNetDetector(
        backbone,
        upsampler_filters=upsampler_filters,
        head_channels=head_channels,
        heatmap_prior=heatmap_prior,
        image_shape=image_shape,
        dtype=dtype,
        name=name,
    )
