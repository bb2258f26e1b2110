"""Box voting merges the scales' detections: base boxes by NMS, each moved to its voters' weighted mean."""

import numpy as np

from kuzushiji_tf.detection.box_voting import box_voting, pairwise_iou


def test_pairwise_iou_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    iou = pairwise_iou(a, b).numpy()
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(iou[1], [0.0, 0.0, 0.0])  # empty box: no NaN


def test_cluster_becomes_score_weighted_mean_and_far_box_stays():
    boxes = np.array(
        [
            [10, 10, 30, 30],  # best of the cluster: the base box
            [12, 10, 32, 30],  # IoU 0.82 with it: votes
            [8, 12, 28, 32],  # IoU 0.68: votes
            [100, 100, 120, 120],
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.6, 0.3, 0.5], np.float32)
    merged, merged_scores = box_voting(boxes, scores)
    merged, merged_scores = merged.numpy(), merged_scores.numpy()
    assert merged.shape == (2, 4)
    expected = (0.9 * boxes[0] + 0.6 * boxes[1] + 0.3 * boxes[2]) / 1.8
    np.testing.assert_allclose(merged[0], expected, rtol=1e-6)
    np.testing.assert_allclose(merged[1], boxes[3])
    np.testing.assert_allclose(merged_scores, [0.9, 0.5])


def test_overlap_below_vote_iou_does_not_vote_but_is_suppressed_by_base_nms():
    # IoU 0.43: above the base NMS (0.3), so it is no base box of its own, and below the vote IoU (0.5).
    boxes = np.array([[0, 0, 20, 20], [8, 0, 28, 20]], np.float32)
    merged, scores = box_voting(boxes, np.array([0.8, 0.7], np.float32))
    np.testing.assert_allclose(merged.numpy(), boxes[:1])
    np.testing.assert_allclose(scores.numpy(), [0.8])


def test_no_boxes():
    merged, scores = box_voting(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))
    assert merged.shape == (0, 4) and scores.shape == (0,)
