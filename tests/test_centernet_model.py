"""CenterNet model pieces: backbone pyramid, U-Net upsampler, heads, and the saveable detector."""

import math

import keras
import numpy as np
import pytest

from kuzushiji_tf.models.centernet import (
    BACKBONE_CONFIGS,
    CenterNetDetector,
    CenterNetHead,
    UNetUpsampler,
    build_backbone,
    build_centernet,
    resnet18_backbone,
)
from kuzushiji_tf.models.centernet.backbones import check_pyramid_backbone
from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE

TINY = {"backbone": "resnet_tiny", "upsampler_filters": (16, 16, 8), "head_channels": 8}


def _images(batch=2, height=64, width=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3)).astype("uint8")


def test_tiny_backbone_pyramid_is_at_strides_4_to_32():
    backbone = build_backbone("resnet_tiny")
    features = keras.Model(backbone.input, backbone.pyramid_outputs)(np.zeros((1, 64, 64, 3), "float32"))
    channels = BACKBONE_CONFIGS["resnet_tiny"][1]["stackwise_num_filters"]
    for level, stride, width in zip(("P2", "P3", "P4", "P5"), (4, 8, 16, 32), channels):
        assert tuple(features[level].shape) == (1, 64 // stride, 64 // stride, width)


def test_unknown_backbone_name_lists_the_choices():
    with pytest.raises(ValueError, match="resnet18.*Received: name='resnet19'"):
        build_backbone("resnet19")


def test_backbone_without_a_pyramid_is_refused():
    inputs = keras.Input((None, None, 3))
    plain = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="P2.*Received: Functional"):
        check_pyramid_backbone(plain)


def test_resnet18_builds_with_the_expected_size():
    backbone = resnet18_backbone()
    assert 11.0e6 < backbone.count_params() < 11.4e6  # torchvision ResNet18 without fc: 11.18M
    detector = build_centernet("resnet18")
    # + U-Net 512->256->128->64 (~4.3M) + head: about 15.5M.
    assert 14e6 < detector.count_params() < 17e6
    outputs = detector(np.zeros((1, 64, 96, 3), "uint8"))
    assert tuple(outputs[HEATMAP].shape) == (1, 16, 24, 1)


def test_detector_outputs_are_float32_at_stride_4():
    detector = build_centernet(**TINY)
    outputs = detector(_images(2, 64, 96))
    assert set(outputs) == {HEATMAP, SIZE, OFFSET}
    for key, channels in ((HEATMAP, 1), (SIZE, 2), (OFFSET, 2)):
        assert tuple(outputs[key].shape) == (2, 16, 24, channels)
        assert outputs[key].dtype == "float32"
    offset = keras.ops.convert_to_numpy(outputs[OFFSET])
    assert offset.min() > 0.0 and offset.max() < 1.0


def test_mixed_precision_keeps_float32_outputs():
    detector = build_centernet(**TINY, dtype="mixed_float16")
    assert detector.get_layer("upsampler").compute_dtype == "float16"
    outputs = detector(_images(1))
    assert all(outputs[key].dtype == "float32" for key in (HEATMAP, SIZE, OFFSET))


def test_normalizer_maps_pixels_as_the_recipe():
    detector = build_centernet(**TINY)
    pixels = np.array([0.0, 127.5, 255.0], "float32").reshape(1, 1, 3, 1).repeat(3, axis=-1)
    normalised = keras.ops.convert_to_numpy(detector.get_layer("normalizer")(pixels))
    np.testing.assert_allclose(normalised[0, 0, :, 0], (np.array([0.0, 127.5, 255.0]) - 127.5) / 128, atol=1e-6)


def test_head_starts_at_the_heatmap_prior():
    head = CenterNetHead(head_channels=4, heatmap_prior=0.1)
    outputs = head(np.zeros((1, 3, 3, 5), "float32"))  # zero features: the trunk's ReLU gives 0
    logits = keras.ops.convert_to_numpy(outputs[HEATMAP])
    np.testing.assert_allclose(logits, math.log(0.1 / 0.9), rtol=1e-6)
    assert abs(math.log(0.1 / 0.9) - (-2.19)) < 0.01  # CenterNet's constant
    with pytest.raises(ValueError, match="heatmap_prior=1.5"):
        CenterNetHead(heatmap_prior=1.5)


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (
            UNetUpsampler(filters=(8, 6, 4), name="up"),
            [np.ones((2, 16 >> i, 16 >> i, 3 + i), "float32") for i in range(4)],
        ),
        (CenterNetHead(head_channels=4, heatmap_prior=0.2, name="hd"), np.ones((2, 4, 4, 3), "float32")),
    ],
)
def test_layer_get_config_round_trip(layer, inputs):
    outputs = layer(inputs)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(inputs)
    clone.set_weights(layer.get_weights())
    for a, b in zip(keras.tree.flatten(outputs), keras.tree.flatten(clone(inputs))):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-6)


def test_upsampler_shape_and_level_check():
    upsampler = UNetUpsampler(filters=(8, 6, 4))
    features = [np.ones((1, 32 >> i, 48 >> i, 2), "float32") for i in range(4)]
    assert tuple(upsampler(features).shape) == (1, 32, 48, 4)
    with pytest.raises(ValueError, match="Received: 3 levels"):
        UNetUpsampler(filters=(8, 6, 4))(features[:3])


def test_detector_get_config_round_trip():
    detector = build_centernet(**TINY)
    config = detector.get_config()
    clone = CenterNetDetector.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == detector.count_params()


def test_keras_save_and_load_give_identical_outputs(tmp_path):
    detector = build_centernet(**TINY)
    images = _images(2)
    # One training step moves the BatchNorm statistics away from their initial values, so the test also
    # covers the non-trainable state.
    detector(images, training=True)
    for layer in detector.get_layer("upsampler").up_norms:
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.3, "float32"))
    path = tmp_path / "detector.keras"
    detector.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, CenterNetDetector)
    expected, actual = detector(images), loaded(images)
    for key in (HEATMAP, SIZE, OFFSET):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(expected[key]), keras.ops.convert_to_numpy(actual[key])
        )
