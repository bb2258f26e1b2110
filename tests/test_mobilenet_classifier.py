"""The MobileNetV3Small classifier: normalisation inside, float32 outputs under mixed precision, config and
`.keras` round trips, and its loss against a hand computation."""

import keras
import numpy as np
import pytest

from kuzushiji_tf.models.classifier import (
    ACCURACY,
    LOGITS,
    PROBABILITIES,
    TOTAL,
    MobileNetClassifier,
    build_classifier,
    classifier_loss,
)

TINY = dict(input_size=32, alpha=0.25, minimalistic=True)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return build_classifier(7, **TINY)


def test_outputs_are_float32_probabilities(tiny):
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    outputs = tiny(images, training=False)
    assert set(outputs) == {LOGITS, PROBABILITIES}
    for value in outputs.values():
        assert value.shape == (3, 7) and keras.backend.standardize_dtype(value.dtype) == "float32"
    probabilities = keras.ops.convert_to_numpy(outputs[PROBABILITIES])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(outputs[LOGITS]))
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-7)


def test_first_layer_normalises_like_the_recipe(tiny):
    pixels = np.array([0.0, 127.5, 255.0], "float32").reshape(1, 1, 3, 1) * np.ones((1, 1, 3, 3), "float32")
    normalised = keras.ops.convert_to_numpy(tiny.normalizer(pixels))
    np.testing.assert_allclose(normalised[0, 0, :, 0], [-127.5 / 128, 0.0, 127.5 / 128], atol=1e-6)
    assert tiny.layers[1] is tiny.normalizer  # right after the input


def test_config_round_trip_and_keras_file(tiny, tmp_path):
    config = tiny.get_config()
    assert {k: config[k] for k in ("num_classes", "input_size", "alpha", "minimalistic")} == {
        "num_classes": 7,
        "input_size": 32,
        "alpha": 0.25,
        "minimalistic": True,
    }
    rebuilt = MobileNetClassifier.from_config(config)
    assert rebuilt.count_params() == tiny.count_params()
    path = tmp_path / "classifier.keras"
    tiny.save(path)
    loaded = keras.saving.load_model(path)
    images = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images)[LOGITS]),
        keras.ops.convert_to_numpy(tiny(images)[LOGITS]),
        rtol=1e-5,
        atol=1e-5,
    )


def test_mixed_precision_keeps_float32_outputs_and_the_global_policy():
    before = keras.config.dtype_policy().name
    model = build_classifier(4, dtype="mixed_float16", **TINY)
    assert keras.config.dtype_policy().name == before  # the backbone's build restores the global policy
    conv = next(layer for layer in model.backbone.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "float16"
    outputs = model(np.zeros((1, 32, 32, 3), "float32"))
    assert {keras.backend.standardize_dtype(v.dtype) for v in outputs.values()} == {"float32"}
    momenta = {layer.momentum for layer in model.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.9}


def test_bad_sizes_say_what_was_received():
    with pytest.raises(ValueError, match="input_size=16"):
        build_classifier(4, input_size=16)
    with pytest.raises(ValueError, match="num_classes=0"):
        build_classifier(0)


def test_loss_is_summed_cross_entropy_over_the_global_count():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]], "float32")
    labels = np.array([0, 1])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(log_softmax[0, 0] + log_softmax[1, 1])
    losses = classifier_loss(labels, {LOGITS: logits}, num_crops=4.0)  # two replicas of two crops
    np.testing.assert_allclose(float(losses[TOTAL]), expected / 4.0, rtol=1e-6)
    assert float(losses[ACCURACY]) == pytest.approx(1 / 4)  # crop 0 right, crop 1 wrong
    assert float(classifier_loss(labels, {LOGITS: logits})[TOTAL]) == pytest.approx(expected / 2.0)
