"""The detector ensemble (the pseudo-label teacher): one member and no mirror is that member; several are the
mean of their probabilities; the mirrored pass is read back in place, so a page and its mirror give mirrored
boxes; members of different strides are refused."""

import keras
import numpy as np
import pytest
from keras import ops

from kuzushiji_tf.models.centernet import build_centernet, centernet_postprocess
from kuzushiji_tf.models.centernet.detector_ensemble import DetectorEnsemble
from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE


@pytest.fixture(scope="module")
def detectors():
    keras.utils.set_random_seed(3)
    return [
        build_centernet("resnet_tiny", upsampler_filters=(16, 16, 16), head_channels=16, heatmap_prior=0.3)
        for _ in range(2)
    ]


@pytest.fixture(scope="module")
def page():
    return np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype("float32")


def numpy(outputs):
    return {key: ops.convert_to_numpy(value) for key, value in outputs.items()}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_one_member_without_mirror_is_that_member(detectors, page):
    alone, ensemble = numpy(detectors[0](page)), numpy(DetectorEnsemble(detectors[:1])(page))
    np.testing.assert_allclose(sigmoid(ensemble[HEATMAP]), sigmoid(alone[HEATMAP]), atol=1e-5)
    np.testing.assert_allclose(ensemble[SIZE], alone[SIZE], atol=1e-6)
    np.testing.assert_allclose(ensemble[OFFSET], alone[OFFSET], atol=1e-6)


def test_members_are_averaged_as_probabilities(detectors, page):
    first, second = numpy(detectors[0](page)), numpy(detectors[1](page))
    ensemble = numpy(DetectorEnsemble(detectors)(page))
    assert not np.allclose(first[HEATMAP], second[HEATMAP], atol=1e-3)  # the average is informative
    np.testing.assert_allclose(
        sigmoid(ensemble[HEATMAP]), (sigmoid(first[HEATMAP]) + sigmoid(second[HEATMAP])) / 2, atol=1e-5
    )
    np.testing.assert_allclose(ensemble[SIZE], (first[SIZE] + second[SIZE]) / 2, atol=1e-5)


def test_the_mirrored_pass_is_read_back_in_place(detectors, page):
    ensemble = DetectorEnsemble(detectors, mirror=True)
    direct, mirrored = numpy(ensemble(page)), numpy(ensemble(page[:, :, ::-1].copy()))
    # A page and its mirror are read from the same four passes: the maps are mirror images ...
    np.testing.assert_allclose(direct[HEATMAP], mirrored[HEATMAP][:, :, ::-1], atol=1e-4)
    np.testing.assert_allclose(direct[SIZE], mirrored[SIZE][:, :, ::-1], atol=1e-5)
    np.testing.assert_allclose(direct[OFFSET][..., 0], 1.0 - mirrored[OFFSET][:, :, ::-1, 0], atol=1e-5)
    # ... so the decoded boxes are too: x0 on one page is width - x1 on the other.
    direct_boxes, mirrored_boxes = (
        ops.convert_to_numpy(centernet_postprocess(outputs, max_detections=n, score_threshold=0.0)["boxes"][0])
        for outputs, n in ((direct, 10), (mirrored, 40))
    )
    flipped = np.stack(
        [96 - mirrored_boxes[:, 2], mirrored_boxes[:, 1], 96 - mirrored_boxes[:, 0], mirrored_boxes[:, 3]], axis=1
    )
    distance = np.abs(direct_boxes[:, None, :] - flipped[None, :, :]).max(axis=2)  # [10, 40]
    assert np.all(distance.min(axis=1) < 0.05)  # each of the best 10 has its mirror image


def test_members_must_share_a_stride(detectors):
    class Coarse:
        output_stride = 8

    with pytest.raises(ValueError, match="different output strides"):
        DetectorEnsemble([detectors[0], Coarse()])
    with pytest.raises(ValueError, match="at least one"):
        DetectorEnsemble([])
