"""CenterNet's prediction heads at stride 4: centre heatmap logits, box size and centre offset.

The last convolutions run in float32 whatever the layer's policy, so under mixed precision the logits
that feed the focal loss and the sizes (up to ~100 cells) keep full precision.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE


@keras.saving.register_keras_serializable(package="kuzushiji_tf")
class CenterNetHead(keras.layers.Layer):
    """A shared 3x3 conv trunk, then one 1x1 conv per output.

    Args:
        head_channels: int, width of the 3x3 ReLU trunk. Defaults to 64.
        heatmap_prior: float, the initial sigmoid of every heatmap cell: the heatmap bias starts at
            `log(prior / (1 - prior))` (-2.197 for 0.1, CenterNet's `-2.19`), so the focal loss on the
            ~10^4 background cells does not swamp the first steps. Defaults to 0.1.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        features: `[B, Ho, Wo, C]`, the upsampler's stride-4 map.

    Returns:
        dict of float32 tensors: `HEATMAP` `[B, Ho, Wo, 1]` logits (no sigmoid: the loss works on logits
        for stability); `SIZE` `[B, Ho, Wo, 2]` box (w, h) in output cells, no activation; `OFFSET`
        `[B, Ho, Wo, 2]` centre (dx, dy) within its cell, sigmoid so in (0, 1).

    Example:
    ```python
    outputs = CenterNetHead(head_channels=16)(np.zeros((2, 8, 8, 32)))
    outputs["heatmap"].shape  # (2, 8, 8, 1)
    ```
    """

    def __init__(self, head_channels=64, heatmap_prior=0.1, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < heatmap_prior < 1.0:
            raise ValueError(f"`heatmap_prior` must be in (0, 1). Received: heatmap_prior={heatmap_prior}")
        self.head_channels = int(head_channels)
        self.heatmap_prior = float(heatmap_prior)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        # === Layers ===
        self.trunk = keras.layers.Conv2D(
            self.head_channels, 3, padding="same", activation="relu", dtype=self.dtype_policy, name="trunk_conv"
        )
        self.trunk.build(input_shape)
        trunk_shape = input_shape[:-1] + (self.head_channels,)
        prior_logit = math.log(self.heatmap_prior / (1.0 - self.heatmap_prior))
        self.heatmap_conv = keras.layers.Conv2D(
            1, 1, bias_initializer=keras.initializers.Constant(prior_logit), dtype="float32", name="heatmap_conv"
        )
        self.size_conv = keras.layers.Conv2D(2, 1, dtype="float32", name="size_conv")
        self.offset_conv = keras.layers.Conv2D(2, 1, activation="sigmoid", dtype="float32", name="offset_conv")
        for layer in (self.heatmap_conv, self.size_conv, self.offset_conv):
            layer.build(trunk_shape)
        self.built = True

    def call(self, features):
        x = self.trunk(features)  # [B, Ho, Wo, head_channels]
        x = ops.cast(x, "float32")
        return {HEATMAP: self.heatmap_conv(x), SIZE: self.size_conv(x), OFFSET: self.offset_conv(x)}

    def get_config(self):
        config = super().get_config()
        config.update({"head_channels": self.head_channels, "heatmap_prior": self.heatmap_prior})
        return config
