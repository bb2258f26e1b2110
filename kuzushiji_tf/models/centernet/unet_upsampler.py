"""The U-Net path of the detector: from the stride-32 features back to stride 4, where CenterNet predicts.

Each level doubles the resolution with a learnt 4x4 stride-2 transposed convolution and concatenates the
backbone's skip at that stride, so the stride-4 map sees both fine strokes and page-level context
(docs/recipe.md, "Detector"). BatchNorm uses momentum 0.9 and epsilon 1e-5 like the keras-hub ResNet beneath it.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kuzushiji_tf")
class UNetUpsampler(keras.layers.Layer):
    """Upsamples a feature pyramid to its finest level, U-Net style.

    Per level, coarse to fine: `Conv2DTranspose(f, 4, strides=2)` + BN + ReLU, concatenate the skip of the
    same stride, then `Conv2D(f, 3)` + BN + ReLU.

    Args:
        filters: tuple of ints, the channels after each upsampling step, coarse to fine; one fewer than
            the pyramid levels. Defaults to `(256, 128, 64)`, the ResNet18 skip widths.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        features: list of `[B, H_i, W_i, C_i]` tensors, finest first (e.g. strides 4, 8, 16, 32); each
            level must be exactly twice the size of the next (input sides a multiple of 32).

    Returns:
        `[B, H_0, W_0, filters[-1]]`: features at the finest level's stride.

    Example:
    ```python
    upsampler = UNetUpsampler(filters=(16, 16, 8))
    features = [np.zeros((1, 16 // 2**i, 16 // 2**i, 8)) for i in range(4)]
    upsampler(features).shape  # (1, 16, 16, 8)
    ```
    """

    def __init__(self, filters=(256, 128, 64), **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(int(f) for f in filters)

    def build(self, input_shape):
        input_shape = [tuple(shape) for shape in input_shape]
        if len(input_shape) != len(self.filters) + 1:
            raise ValueError(
                f"UNetUpsampler needs one more feature level than `filters` entries. Received: "
                f"{len(input_shape)} levels and filters={self.filters}"
            )
        # === Layers ===
        self.up_convs, self.up_norms, self.merge_convs, self.merge_norms = [], [], [], []
        shape = input_shape[-1]  # [B, H, W, C] of the coarsest level
        for step, (filters, skip) in enumerate(zip(self.filters, reversed(input_shape[:-1]))):
            up_conv = keras.layers.Conv2DTranspose(
                filters, 4, strides=2, padding="same", use_bias=False, dtype=self.dtype_policy, name=f"up{step}_conv"
            )
            up_conv.build(shape)
            up_norm = self._batch_norm(f"up{step}_bn")
            up_norm.build(shape[:-1] + (filters,))
            merge_conv = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, dtype=self.dtype_policy, name=f"merge{step}_conv"
            )
            merge_conv.build(skip[:-1] + (filters + skip[-1],))
            merge_norm = self._batch_norm(f"merge{step}_bn")
            merge_norm.build(skip[:-1] + (filters,))
            self.up_convs.append(up_conv)
            self.up_norms.append(up_norm)
            self.merge_convs.append(merge_conv)
            self.merge_norms.append(merge_norm)
            shape = skip[:-1] + (filters,)
        self.built = True

    def _batch_norm(self, name):
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name=name)

    def call(self, features, training=None):
        x = features[-1]  # [B, H/32, W/32, C5]
        for step, skip in enumerate(reversed(features[:-1])):
            x = self.up_convs[step](x)  # [B, 2h, 2w, f]
            x = ops.relu(self.up_norms[step](x, training=training))
            x = ops.concatenate([x, ops.cast(skip, x.dtype)], axis=-1)  # [B, 2h, 2w, f + C_skip]
            x = self.merge_convs[step](x)
            x = ops.relu(self.merge_norms[step](x, training=training))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.filters[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters})
        return config
