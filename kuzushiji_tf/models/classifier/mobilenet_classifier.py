"""The character classifier as one saveable Keras model: 0..255 RGB crops in, class logits and softmax out.

The backbone is `keras.applications.MobileNetV3Small` without its top, randomly initialised (docs/recipe.md,
"Classifier": trained from scratch). Normalisation is the model's first layer, as in `CenterNetDetector`,
so the crops of training, validation and serving cannot drift apart. The last layers are float32, so a
mixed-precision model still returns float32 logits and probabilities.
"""

from __future__ import annotations

import keras

LOGITS = "logits"  # float32 [B, num_classes], what the loss reads
PROBABILITIES = "probabilities"  # float32 [B, num_classes], softmax of the logits, what inference reads
# (x - 127.5) / 128 on RGB 0..255, the recipe's normalisation (docs/recipe.md, "Training input").
PIXEL_SCALE = 1.0 / 128.0
PIXEL_OFFSET = -127.5 / 128.0
MIN_INPUT_SIZE = 32  # keras.applications refuses smaller inputs


@keras.saving.register_keras_serializable(package="kuzushiji_tf")
class MobileNetClassifier(keras.Model):
    """MobileNetV3Small features -> global average pooling -> dropout -> Dense -> softmax.

    Args:
        num_classes: int, number of character classes (the records' vocabulary).
        input_size: int, side of the square input crops, at least 32. Defaults to 112 (docs/recipe.md).
        alpha: float, MobileNetV3 width multiplier. Defaults to 1.0.
        minimalistic: bool, MobileNetV3's minimalistic variant (3x3 kernels, ReLU, no squeeze-excite);
            with a small `alpha` it makes a test-sized model. Defaults to False.
        dropout: float, dropout rate before the last layer. Defaults to 0.2 (the 8th-place model).
        bn_momentum: float, momentum of every BatchNormalization moving average. Defaults to 0.9: the
            8th-place code used Chainer's default (decay 0.9); keras.applications' 0.999 needs thousands of
            steps before the inference-mode statistics of a model trained from scratch are usable.
        dtype: None, str or `keras.DTypePolicy` of every layer but the last two (e.g. `"mixed_float16"`);
            None follows the global policy.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: `[B, input_size, input_size, 3]` RGB, 0..255, uint8 or float.

    Returns:
        dict: `LOGITS` and `PROBABILITIES`, float32 `[B, num_classes]`.

    Example:
    ```python
    model = MobileNetClassifier(10, input_size=32, alpha=0.25, minimalistic=True)
    model(np.zeros((2, 32, 32, 3), "uint8"))["probabilities"].shape  # (2, 10)
    ```
    """

    def __init__(
        self,
        num_classes,
        input_size=112,
        alpha=1.0,
        minimalistic=False,
        dropout=0.2,
        bn_momentum=0.9,
        dtype=None,
        **kwargs,
    ):
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be positive; received num_classes={num_classes}")
        if int(input_size) < MIN_INPUT_SIZE:
            raise ValueError(f"input_size must be at least {MIN_INPUT_SIZE}; received input_size={input_size}")
        # === Layers ===
        self.normalizer = keras.layers.Rescaling(PIXEL_SCALE, PIXEL_OFFSET, dtype=dtype, name="normalizer")
        self.backbone = _mobilenet_v3_small(
            int(input_size), float(alpha), bool(minimalistic), float(bn_momentum), dtype
        )
        self.pooling = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pooling")
        self.dropout = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")
        # float32 whatever the policy: float16 logits of thousands of classes lose the small differences.
        self.classifier = keras.layers.Dense(num_classes, dtype="float32", name=LOGITS)
        self.softmax = keras.layers.Softmax(dtype="float32", name=PROBABILITIES)

        # === Functional Model ===
        images = keras.Input(shape=(input_size, input_size, 3), name="images")  # [B, S, S, 3], 0..255
        x = self.normalizer(images)  # [B, S, S, 3], about -1..1
        x = self.backbone(x)  # [B, S/32, S/32, C]
        x = self.dropout(self.pooling(x))  # [B, C]
        logits = self.classifier(x)  # [B, num_classes]
        outputs = {LOGITS: logits, PROBABILITIES: self.softmax(logits)}
        super().__init__(inputs=images, outputs=outputs, **kwargs)
        if dtype is not None:  # a functional model ignores `dtype`; keep it for `get_config` (as keras-hub)
            self.dtype_policy = keras.dtype_policies.get(dtype)

        # === Config ===
        self.num_classes = int(num_classes)
        self.input_size = int(input_size)
        self.alpha = float(alpha)
        self.minimalistic = bool(minimalistic)
        self.dropout_rate = float(dropout)
        self.bn_momentum = float(bn_momentum)

    def get_config(self):
        # Not chained to keras.Model: a functional model's config is its layer graph, which cannot be
        # passed back to this constructor (same choice as CenterNetDetector and keras-hub's Task).
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "alpha": self.alpha,
            "minimalistic": self.minimalistic,
            "dropout": self.dropout_rate,
            "bn_momentum": self.bn_momentum,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def _mobilenet_v3_small(input_size, alpha, minimalistic, bn_momentum, dtype) -> keras.Model:
    """keras.applications' MobileNetV3Small, no top, no preprocessing, random weights, under `dtype`.

    The application reads the global dtype policy, so it is swapped for the build and restored after.
    """
    previous = keras.config.dtype_policy()
    if dtype is not None:
        keras.config.set_dtype_policy(dtype)
    try:
        backbone = keras.applications.MobileNetV3Small(
            input_shape=(input_size, input_size, 3),
            alpha=alpha,
            minimalistic=minimalistic,
            include_top=False,
            weights=None,
            include_preprocessing=False,
            name="backbone",
        )
    finally:
        keras.config.set_dtype_policy(previous)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    return backbone


def build_classifier(
    num_classes,
    input_size=112,
    dtype=None,
    *,
    alpha=1.0,
    minimalistic=False,
    dropout=0.2,
    bn_momentum=0.9,
    name="mobilenet_classifier",
) -> MobileNetClassifier:
    """A randomly initialised `MobileNetClassifier` (see the class for the arguments)."""
    return MobileNetClassifier(
        num_classes,
        input_size=input_size,
        alpha=alpha,
        minimalistic=minimalistic,
        dropout=dropout,
        bn_momentum=bn_momentum,
        dtype=dtype,
        name=name,
    )


def num_classes(classifier) -> int:
    """The classifier's class count: MobileNetClassifier's own attribute (its `output_shape` lists both
    outputs), else the last axis of a plain softmax model's output."""
    if hasattr(classifier, "num_classes"):
        return int(classifier.num_classes)
    return int(classifier.output_shape[-1])
