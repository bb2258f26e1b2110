"""Feature-pyramid backbones for the CenterNet detector, built from explicit keras-hub configs.

The detector is trained from scratch (docs/recipe.md), so backbones are always randomly initialised from a
config here; `from_preset` would download weights and is never called. Any keras-hub
`FeaturePyramidBackbone` whose `pyramid_outputs` hold "P2".."P5" (strides 4..32) can be used instead:
pass the instance to `CenterNetDetector`, or add one line to `BACKBONE_CONFIGS`.
"""

from __future__ import annotations

import keras_hub

# The pyramid levels the U-Net upsampler consumes, finest first: "Pn" has stride 2**n.
PYRAMID_LEVELS = ("P2", "P3", "P4", "P5")

_RESNET = keras_hub.models.ResNetBackbone
_STEM = {"input_conv_filters": [64], "input_conv_kernel_sizes": [7], "stackwise_num_strides": [1, 2, 2, 2]}

# name -> (keras-hub backbone class, constructor kwargs). Lists, not tuples, so a `get_config` round trip
# gives back equal values.
BACKBONE_CONFIGS = {
    # The 8th-place detector's encoder: ResNet18, taps of 64/128/256/512 channels (docs/recipe.md).
    "resnet18": (
        _RESNET,
        {
            **_STEM,
            "stackwise_num_filters": [64, 128, 256, 512],
            "stackwise_num_blocks": [2, 2, 2, 2],
            "block_type": "basic_block",
        },
    ),
    "resnet34": (
        _RESNET,
        {
            **_STEM,
            "stackwise_num_filters": [64, 128, 256, 512],
            "stackwise_num_blocks": [3, 4, 6, 3],
            "block_type": "basic_block",
        },
    ),
    # Bottleneck blocks: taps of 256/512/1024/2048 channels.
    "resnet50": (
        _RESNET,
        {
            **_STEM,
            "stackwise_num_filters": [64, 128, 256, 512],
            "stackwise_num_blocks": [3, 4, 6, 3],
            "block_type": "bottleneck_block",
        },
    ),
    # For tests and smoke runs on CPU. keras-hub requires 64 filters in the first stack (the identity
    # shortcut after the 64-channel stem), so only the deeper stacks are narrow.
    "resnet_tiny": (
        _RESNET,
        {
            **_STEM,
            "stackwise_num_filters": [64, 16, 32, 64],
            "stackwise_num_blocks": [1, 1, 1, 1],
            "block_type": "basic_block",
        },
    ),
}


def build_backbone(name: str = "resnet18", dtype=None, **overrides) -> keras_hub.models.FeaturePyramidBackbone:
    """A randomly initialised backbone from `BACKBONE_CONFIGS`, with pyramid outputs at strides 4..32.

    Args:
        name: str, a key of `BACKBONE_CONFIGS`. Defaults to `"resnet18"`.
        dtype: None, str or `keras.DTypePolicy`, e.g. `"mixed_float16"`.
        **overrides: constructor arguments replacing the named config's (e.g. `stackwise_num_blocks`).

    Returns:
        A `keras_hub.models.FeaturePyramidBackbone` taking `[B, H, W, 3]` float images (already
        normalised: the detector's first layer does that) with `pyramid_outputs` "P2".."P5" of shape
        `[B, H / 2**n, W / 2**n, C_n]`.

    Example:
    ```python
    backbone = build_backbone("resnet_tiny")
    features = keras.Model(backbone.input, backbone.pyramid_outputs)(np.zeros((1, 64, 64, 3)))
    features["P5"].shape  # (1, 2, 2, 64)
    ```
    """
    if name not in BACKBONE_CONFIGS:
        raise ValueError(f"Unknown backbone name. Expected one of {sorted(BACKBONE_CONFIGS)}. Received: name={name!r}")
    backbone_cls, kwargs = BACKBONE_CONFIGS[name]
    kwargs = {**kwargs, "image_shape": (None, None, 3), **overrides}
    return backbone_cls(dtype=dtype, name=f"{name}_backbone", **kwargs)


def resnet18_backbone(dtype=None) -> keras_hub.models.ResNetBackbone:
    """The recipe's ResNet18 encoder (basic blocks 2/2/2/2, filters 64..512, strides 1/2/2/2), random init."""
    return build_backbone("resnet18", dtype=dtype)


def check_pyramid_backbone(backbone) -> None:
    """Raises a ValueError naming what was received unless `backbone` exposes "P2".."P5"."""
    pyramid = getattr(backbone, "pyramid_outputs", None)
    if not isinstance(pyramid, dict) or any(level not in pyramid for level in PYRAMID_LEVELS):
        raise ValueError(
            "The CenterNet backbone must be a keras-hub FeaturePyramidBackbone with pyramid_outputs "
            f"{list(PYRAMID_LEVELS)} (strides 4..32). Received: {type(backbone).__name__} with pyramid_outputs="
            f"{sorted(pyramid) if isinstance(pyramid, dict) else pyramid}"
        )
