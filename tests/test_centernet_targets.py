"""CenterNet targets on hand-placed boxes: exact peaks, offsets, sizes, indices and mask; the sigma checked
against an independent numpy CornerNet radius; max-combination; empty pages; truncation; graph mode."""

import numpy as np
import pytest
import tensorflow as tf

from kuzushiji_tf.data.centernet_targets import MIN_SIGMA, centernet_targets, gaussian_radius
from kuzushiji_tf.structures import HEATMAP, INDICES, MASK, OFFSET, SIZE


def cornernet_radius(height, width, min_overlap=0.7):
    """CornerNet's published gaussian_radius, written again in numpy for the comparison."""
    a1, b1, c1 = 1, height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
    a2, b2, c2 = 4, 2 * (height + width), (1 - min_overlap) * width * height
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (height + width), (min_overlap - 1) * width * height
    roots = [(b + np.sqrt(b**2 - 4 * a * c)) / 2 for a, b, c in ((a1, b1, c1), (a2, b2, c2), (a3, b3, c3))]
    return min(roots)


def gaussian(shape, cell, sigma):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((cols - cell[0]) ** 2 + (rows - cell[1]) ** 2) / (2 * sigma**2))


def targets(boxes, output_size=(26, 26), max_chars=8):
    result = centernet_targets(tf.constant(boxes, tf.float32), output_size, max_chars)
    return {key: value.numpy() for key, value in result.items()}


# Box A: centre (20, 25) px -> (5, 6.25) cells; size 20 x 30 px -> 5 x 7.5 cells.
# Box B: centre (58, 22) px -> (14.5, 5.5) cells; size 12 x 8 px -> 3 x 2 cells.
BOX_A = [10.0, 10.0, 30.0, 40.0]
BOX_B = [52.0, 18.0, 64.0, 26.0]
# Box A's radius by hand: the third quadratic wins, a = 2.8, b = -0.7 * 2 * 12.5 = -17.5,
# c = -0.3 * 37.5 = -11.25, r = (-17.5 + sqrt(17.5^2 + 4 * 2.8 * 11.25)) / 2 = (-17.5 + 20.791) / 2.
SIGMA_A = 1.6453


def test_positive_cells_offsets_sizes_indices_and_mask():
    t = targets([BOX_A, BOX_B])
    heatmap = t[HEATMAP][:, :, 0]
    assert t[HEATMAP].shape == (26, 26, 1) and t[HEATMAP].dtype == np.float32
    assert heatmap[6, 5] == 1.0 and heatmap[5, 14] == 1.0
    assert np.argwhere(heatmap == 1.0).tolist() == [[5, 14], [6, 5]]
    np.testing.assert_allclose(t[OFFSET][:2], [[0.0, 0.25], [0.5, 0.5]])
    np.testing.assert_allclose(t[SIZE][:2], [[5.0, 7.5], [3.0, 2.0]])
    assert t[INDICES].tolist() == [6 * 26 + 5, 5 * 26 + 14, 0, 0, 0, 0, 0, 0]
    assert t[MASK].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert np.all(t[OFFSET][2:] == 0) and np.all(t[SIZE][2:] == 0)


def test_sigma_is_the_cornernet_radius_in_output_cells():
    sigma = cornernet_radius(7.5, 5.0)  # box A in cells (h, w)
    assert sigma == pytest.approx(SIGMA_A, abs=1e-4)  # CenterNet's diameter / 6 would give (2 * 1 + 1) / 6 = 0.5
    heatmap = targets([BOX_A])[HEATMAP][:, :, 0]
    np.testing.assert_allclose(heatmap, gaussian((26, 26), (5, 6), sigma), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(heatmap[6, 6], np.exp(-1 / (2 * sigma**2)), rtol=1e-6)
    np.testing.assert_allclose(heatmap[8, 4], np.exp(-5 / (2 * sigma**2)), rtol=1e-6)


@pytest.mark.parametrize("height, width", [(7.5, 5.0), (2.0, 3.0), (40.0, 12.0), (1.0, 1.0)])
def test_gaussian_radius_matches_numpy(height, width):
    np.testing.assert_allclose(gaussian_radius(height, width).numpy(), cornernet_radius(height, width), rtol=1e-5)


def test_overlapping_gaussians_combine_by_max():
    near = [14.0, 14.0, 34.0, 46.0]  # centre (24, 30) px -> cell (6, 7), next to box A's (5, 6)
    heatmap = targets([BOX_A, near])[HEATMAP][:, :, 0]
    expected = np.maximum(
        gaussian((26, 26), (5, 6), cornernet_radius(7.5, 5.0)), gaussian((26, 26), (6, 7), cornernet_radius(8.0, 5.0))
    )
    np.testing.assert_allclose(heatmap, expected, rtol=1e-5, atol=1e-7)
    assert heatmap.max() == 1.0 and np.count_nonzero(heatmap == 1.0) == 2


def test_empty_page_gives_zeros_without_nan():
    t = targets(np.zeros((0, 4)))
    for key, value in t.items():
        assert not np.isnan(value.astype(np.float64)).any(), key
        assert np.all(value == 0), key
    assert t[HEATMAP].shape == (26, 26, 1) and t[SIZE].shape == (8, 2) and t[INDICES].shape == (8,)


def test_degenerate_box_gets_the_minimum_sigma():
    heatmap = targets([[20.0, 20.0, 20.0, 40.0]])[HEATMAP][:, :, 0]  # zero width: radius 0
    assert not np.isnan(heatmap).any() and heatmap[7, 5] == 1.0
    np.testing.assert_allclose(heatmap[7, 6], np.exp(-1 / (2 * MIN_SIGMA**2)), rtol=1e-6)


def test_centres_outside_the_grid_are_dropped():
    outside = [[-20.0, 10.0, -4.0, 20.0], [100.0, 10.0, 110.0, 20.0], [10.0, 96.0, 20.0, 120.0]]
    t = targets(outside + [BOX_B], output_size=(24, 26))  # 104 px wide, 96 px high
    assert t[MASK].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert t[INDICES][0] == 5 * 26 + 14
    assert np.count_nonzero(t[HEATMAP] == 1.0) == 1


def test_more_boxes_than_slots_keep_the_first_in_the_per_char_targets_but_all_peaks():
    boxes = [[8.0 * k, 8.0, 8.0 * k + 8, 16.0] for k in range(5)]  # cells (2k+1, 3)
    t = targets(boxes, max_chars=3)
    assert t[MASK].tolist() == [1, 1, 1]
    assert t[INDICES].tolist() == [3 * 26 + 1, 3 * 26 + 3, 3 * 26 + 5]
    assert np.argwhere(t[HEATMAP][:, :, 0] == 1.0)[:, 1].tolist() == [1, 3, 5, 7, 9]


def test_graph_mode_with_unknown_count_and_dynamic_output_size():
    fn = tf.function(
        lambda boxes, h, w: centernet_targets(boxes, (h, w), 4),
        input_signature=[
            tf.TensorSpec([None, 4], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
        ],
    )
    for boxes in (np.zeros((0, 4), np.float32), np.array([BOX_A, BOX_B], np.float32)):
        graph = fn(tf.constant(boxes), tf.constant(20), tf.constant(26))
        eager = centernet_targets(tf.constant(boxes), (20, 26), 4)
        for key in eager:
            np.testing.assert_array_equal(graph[key].numpy(), eager[key].numpy())
        assert graph[HEATMAP].shape == (20, 26, 1)


def test_uncertain_boxes_are_drawn_but_get_no_positive_slot():
    both = targets([BOX_A, BOX_B])
    result = centernet_targets(
        tf.constant([BOX_A, BOX_B], tf.float32), (26, 26), 8, uncertain=tf.constant([True, False])
    )
    result = {key: value.numpy() for key, value in result.items()}
    # The heatmap is the same, so the focal loss hardly punishes a peak at A's centre ...
    np.testing.assert_array_equal(result[HEATMAP], both[HEATMAP])
    # ... but only B is a positive: nothing pulls a peak up at A, and A has no size or offset to learn.
    assert result[MASK].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert result[INDICES].tolist()[0] == 5 * 26 + 14
    np.testing.assert_allclose(result[SIZE][0], [3.0, 2.0])
    np.testing.assert_allclose(result[OFFSET][0], [0.5, 0.5])


def test_uncertain_flags_follow_their_boxes_when_some_fall_outside_the_grid():
    outside = [200.0, 200.0, 210.0, 210.0]  # centre cell (51, 51), off the 26 x 26 grid
    result = centernet_targets(
        tf.constant([outside, BOX_A, BOX_B], tf.float32), (26, 26), 8, uncertain=tf.constant([False, False, True])
    )
    assert result[MASK].numpy().tolist()[:2] == [1, 0] and result[INDICES].numpy()[0] == 6 * 26 + 5
