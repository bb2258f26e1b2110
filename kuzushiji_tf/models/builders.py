"""A trained model as the arguments of the project's own builder (`build_centernet`, `build_classifier`),
and the model built back from them: what a model package stores instead of Keras' serialised layer graph,
so its weights load into the classes of whichever version of the project reads it.

`build_arguments(model)` reads them off a detector or classifier (as `keras.saving.load_model` returns it);
`build_model(arguments)` builds the same architecture, randomly initialised, in float32 whatever policy the
model was trained under (a float16-trained model's weights are float32 variables all the same).
"""

from __future__ import annotations

import keras

from kuzushiji_tf.models.centernet import BACKBONE_CONFIGS, CenterNetDetector, build_centernet
from kuzushiji_tf.models.classifier import MobileNetClassifier, build_classifier

DETECTOR, CLASSIFIER = "detector", "classifier"
BACKBONE_SUFFIX = "_backbone"  # backbones.build_backbone names a backbone `<config name>_backbone`


def build_arguments(model: keras.Model) -> dict:
    """{"builder": "detector" | "classifier", and the builder's keyword arguments} of `model`; ValueError
    for a model the project's builders do not make (a custom backbone, another classifier)."""
    if isinstance(model, CenterNetDetector):
        backbone = model.backbone.name.removesuffix(BACKBONE_SUFFIX)
        if backbone not in BACKBONE_CONFIGS:
            raise ValueError(
                f"the detector's backbone {model.backbone.name!r} is not one of the named configs "
                f"({', '.join(sorted(BACKBONE_CONFIGS))}), so build_centernet cannot rebuild it"
            )
        return {
            "builder": DETECTOR,
            "backbone": backbone,
            "upsampler_filters": list(model.upsampler_filters),
            "head_channels": model.head_channels,
            "heatmap_prior": model.heatmap_prior,
        }
    if isinstance(model, MobileNetClassifier):
        return {
            "builder": CLASSIFIER,
            "num_classes": model.num_classes,
            "input_size": model.input_size,
            "alpha": model.alpha,
            "minimalistic": model.minimalistic,
            "dropout": model.dropout_rate,
            "bn_momentum": model.bn_momentum,
        }
    raise ValueError(
        f"{type(model).__name__} is neither a CenterNetDetector nor a MobileNetClassifier: only the project's "
        "own models can be rebuilt from their arguments"
    )


def build_model(arguments: dict) -> keras.Model:
    """The model `build_arguments` described, randomly initialised, float32."""
    kwargs = {key: value for key, value in arguments.items() if key != "builder"}
    builder = arguments.get("builder")
    if builder == DETECTOR:
        return build_centernet(dtype="float32", **kwargs)
    if builder == CLASSIFIER:
        return build_classifier(dtype="float32", **kwargs)
    raise ValueError(f"unknown builder {builder!r}: expected {DETECTOR!r} or {CLASSIFIER!r}")
