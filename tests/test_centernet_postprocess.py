"""Decoding CenterNet maps: peaks, threshold, top-K, plateaus, and exact boxes from target-like maps."""

import numpy as np
import pytest
from keras import ops

from kuzushiji_tf.models.centernet import BOXES, NUM_DETECTIONS, SCORES, centernet_postprocess
from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _maps(height=8, width=8, batch=1):
    return {
        HEATMAP: np.full((batch, height, width, 1), -10.0, "float32"),
        SIZE: np.zeros((batch, height, width, 2), "float32"),
        OFFSET: np.zeros((batch, height, width, 2), "float32"),
    }


def _decode(outputs, **kwargs):
    return {key: ops.convert_to_numpy(value) for key, value in centernet_postprocess(outputs, **kwargs).items()}


def _two_characters():
    """Target-like maps: two centres with known size and offset, in output cells (stride 4)."""
    outputs = _maps(8, 10)
    for (y, x), logit, size, offset in (
        ((2, 3), 4.0, (2.0, 3.0), (0.25, 0.5)),
        ((5, 6), 5.0, (4.0, 1.0), (0.75, 0.125)),
    ):
        outputs[HEATMAP][0, y, x, 0] = logit
        outputs[SIZE][0, y, x] = size
        outputs[OFFSET][0, y, x] = offset
    return outputs


def test_target_like_maps_decode_to_exact_boxes_sorted_by_score():
    decoded = _decode(_two_characters(), max_detections=5, score_threshold=0.3, stride=4)
    assert decoded[BOXES].shape == (1, 5, 4) and decoded[SCORES].shape == (1, 5)
    assert decoded[BOXES].dtype == np.float32 and decoded[NUM_DETECTIONS].dtype == np.int32
    assert decoded[NUM_DETECTIONS].tolist() == [2]
    # centre (6.75, 5.125) cells = (27, 20.5) px, size (16, 4) px; then centre (13, 10) px, size (8, 12) px
    expected = np.array([[19.0, 18.5, 35.0, 22.5], [9.0, 4.0, 17.0, 16.0]], "float32")
    np.testing.assert_allclose(decoded[BOXES][0, :2], expected, atol=1e-5)
    np.testing.assert_allclose(decoded[SCORES][0, :2], _sigmoid(np.array([5.0, 4.0])), rtol=1e-6)
    # Padding: score 0 and box 0.
    assert not decoded[SCORES][0, 2:].any() and not decoded[BOXES][0, 2:].any()


def test_threshold_keeps_only_confident_peaks():
    outputs = _two_characters()
    decoded = _decode(outputs, max_detections=5, score_threshold=float(_sigmoid(4.5)))
    assert decoded[NUM_DETECTIONS].tolist() == [1]
    assert decoded[SCORES][0, 0] == pytest.approx(_sigmoid(5.0))
    # A peak exactly at the threshold is kept (>=).
    at_threshold = float(ops.convert_to_numpy(ops.sigmoid(np.float32(4.0))))
    decoded = _decode(outputs, max_detections=5, score_threshold=at_threshold)
    assert decoded[NUM_DETECTIONS].tolist() == [2]
    assert _decode(outputs, max_detections=5, score_threshold=0.999)[NUM_DETECTIONS].tolist() == [0]


def test_top_k_keeps_the_best_and_pads_small_maps():
    outputs = _two_characters()
    decoded = _decode(outputs, max_detections=1, score_threshold=0.1)
    assert decoded[NUM_DETECTIONS].tolist() == [1]
    np.testing.assert_allclose(decoded[BOXES][0, 0], [19.0, 18.5, 35.0, 22.5], atol=1e-5)
    # More slots than cells (80): still fixed-size output.
    decoded = _decode(outputs, max_detections=100, score_threshold=0.1)
    assert decoded[BOXES].shape == (1, 100, 4) and decoded[NUM_DETECTIONS].tolist() == [2]
    # Threshold 0: every local maximum of the flat background is a peak too, and is returned.
    assert _decode(outputs, max_detections=100, score_threshold=0.0)[NUM_DETECTIONS][0] > 2


def test_neighbours_of_a_peak_are_suppressed_but_plateaus_are_all_kept():
    outputs = _maps(6, 6)
    outputs[HEATMAP][0, 1, 1, 0] = 3.0
    outputs[HEATMAP][0, 1, 2, 0] = 2.0  # beside a higher cell: not a peak
    outputs[HEATMAP][0, 4, 3:5, 0] = 1.0  # an exact plateau of two cells: both are peaks (NMS removes one)
    decoded = _decode(outputs, max_detections=10, score_threshold=0.5)
    assert decoded[NUM_DETECTIONS].tolist() == [3]
    np.testing.assert_allclose(decoded[SCORES][0, :3], _sigmoid(np.array([3.0, 1.0, 1.0])), rtol=1e-6)
    # Ties keep flat-index order: (4, 3) before (4, 4); box centres at cell centres * 4 with zero offset.
    np.testing.assert_allclose(decoded[BOXES][0, 1:3, 0], [12.0, 16.0])


def test_saturated_neighbours_are_separated_on_logits():
    """float32 sigmoid rounds both 20 and 25 to 1.0; peaks are found on logits, so only one survives."""
    outputs = _maps(4, 4)
    outputs[HEATMAP][0, 1, 1, 0] = 20.0
    outputs[HEATMAP][0, 1, 2, 0] = 25.0
    decoded = _decode(outputs, max_detections=4, score_threshold=0.5)
    assert decoded[NUM_DETECTIONS].tolist() == [1]
    np.testing.assert_allclose(decoded[BOXES][0, 0], [8.0, 4.0, 8.0, 4.0])  # cell (1, 2), zero size


def test_batches_are_decoded_independently_and_negative_sizes_are_clamped():
    outputs = _maps(4, 4, batch=2)
    outputs[HEATMAP][0, 0, 0, 0] = 2.0
    outputs[HEATMAP][1, 3, 2, 0] = 2.0
    outputs[SIZE][1, 3, 2] = (-3.0, 2.0)
    outputs[OFFSET][1, 3, 2] = (0.5, 0.5)
    decoded = _decode(outputs, max_detections=3, score_threshold=0.5)
    assert decoded[NUM_DETECTIONS].tolist() == [1, 1]
    np.testing.assert_allclose(decoded[BOXES][0, 0], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(decoded[BOXES][1, 0], [10.0, 10.0, 10.0, 18.0])  # centre (10, 14), w 0, h 8
