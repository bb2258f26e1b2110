"""Page-level detection: scan -> input scale -> peaks -> NMS -> scan pixels, single and adaptive multi-scale.

An oracle stands in for the network: whatever size the page is resized to, it returns the exact CenterNet
maps of the known characters at that size, so any error is the inference code's own.
"""

import numpy as np
import pytest

from kuzushiji_tf.backends.onnx import postprocess
from kuzushiji_tf.detection.detect import MAX_SHORT_SIDE, TARGET_CHAR_SIZE, contained_mask, detect_page, resize_page
from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE

PAGE_HW = (1000, 640)  # a portrait scan, short side 640
BOXES = np.array([[100, 120, 160, 200], [300, 400, 340, 470], [500, 800, 590, 880]], np.float32)  # scan xyxy


class Oracle:
    output_stride = 4

    def __init__(self, boxes=BOXES, page_hw=PAGE_HW, logit=6.0):
        self.boxes, self.page_hw, self.logit = boxes, page_hw, logit
        self.input_sizes = []

    def __call__(self, images, training=False):
        _, height, width, _ = images.shape
        self.input_sizes.append((height, width))
        fy, fx = height / self.page_hw[0], width / self.page_hw[1]
        ho, wo = height // 4, width // 4
        maps = {
            HEATMAP: np.full((1, ho, wo, 1), -8.0, np.float32),
            SIZE: np.zeros((1, ho, wo, 2), np.float32),
            OFFSET: np.zeros((1, ho, wo, 2), np.float32),
        }
        logits = np.broadcast_to(np.asarray(self.logit, np.float32), (len(self.boxes),))
        for (x0, y0, x1, y1), logit in zip(self.boxes * np.array([fx, fy, fx, fy], np.float32), logits):
            cx, cy = (x0 + x1) / 8, (y0 + y1) / 8  # centre in output cells
            j, i = int(cx), int(cy)
            maps[HEATMAP][0, i, j, 0] = logit
            maps[SIZE][0, i, j] = ((x1 - x0) / 4, (y1 - y0) / 4)
            maps[OFFSET][0, i, j] = (cx - j, cy - i)
        return maps


def _page():
    return np.full(PAGE_HW + (3,), 200, np.uint8)


def test_resize_page_rounds_to_32_and_reports_scale():
    inputs, scale = resize_page(_page(), 832)
    assert inputs.shape == (1, 1312, 832, 3)  # 1000 * 1.3 = 1300 -> nearest multiple of 32
    np.testing.assert_allclose(scale.numpy(), [1312 / 1000, 832 / 640], rtol=1e-6)


def test_single_scale_gives_back_the_scan_boxes():
    oracle = Oracle()
    found = detect_page(oracle, _page(), short_side=832, score_threshold=0.3)
    order = np.argsort(found.boxes[:, 0])
    np.testing.assert_allclose(found.boxes[order], BOXES, atol=1e-3)
    np.testing.assert_allclose(found.centers[order], (BOXES[:, :2] + BOXES[:, 2:]) / 2, atol=1e-3)
    assert found.short_sides == (832,) and oracle.input_sizes == [(1312, 832)]
    np.testing.assert_allclose(found.scores, 1 / (1 + np.exp(-6.0)), rtol=1e-5)


def test_threshold_above_every_score_finds_nothing():
    found = detect_page(Oracle(logit=0.0), _page(), score_threshold=0.6)  # sigmoid(0) = 0.5
    assert found.boxes.shape == (0, 4) and found.scores.shape == (0,)


def test_adaptive_rescales_to_35px_characters_and_votes_the_same_boxes():
    oracle = Oracle()
    found = detect_page(oracle, _page(), short_side=832, adaptive=True)
    # Mean (w + h) / 2 in scan pixels: (70 + 55 + 85) / 3 = 70; at short side 832 the page scale is 1.3,
    # x-scale 1.3 and y-scale 1.312, so the measured size is ~91.5 px and the adapted short side ~318.
    fy, fx = 1312 / 1000, 832 / 640
    sizes = ((BOXES[:, 2] - BOXES[:, 0]) * fx + (BOXES[:, 3] - BOXES[:, 1]) * fy) / 2
    adapted = 832 * TARGET_CHAR_SIZE / sizes.mean()
    assert found.short_sides == tuple(int(np.clip(round(adapted * s), 320, MAX_SHORT_SIDE)) for s in (0.8, 1, 1.25))
    assert len(oracle.input_sizes) == 4  # the measuring pass + three scales
    order = np.argsort(found.boxes[:, 0])
    np.testing.assert_allclose(found.boxes[order], BOXES, atol=1e-2)


@pytest.mark.parametrize("adaptive", [False, True])
def test_empty_page(adaptive):
    found = detect_page(Oracle(boxes=np.zeros((0, 4), np.float32)), _page(), adaptive=adaptive)
    assert len(found.scores) == 0


def test_a_stroke_detected_inside_its_character_is_dropped_unless_turned_off():
    # A character (best score), a stroke of it detected on its own (a box inside it, worse score: IoU 0.17,
    # which NMS at 0.5 keeps), and a neighbour that only touches the character's box.
    boxes = np.array([[100, 100, 200, 220], [110, 110, 150, 160], [100, 221, 200, 330]], np.float32)
    oracle = Oracle(boxes, logit=[6.0, 3.0, 5.0])
    found = detect_page(oracle, _page(), short_side=640, score_threshold=0.3)
    np.testing.assert_allclose(found.boxes, boxes[[0, 2]], atol=1e-3)
    kept = detect_page(oracle, _page(), short_side=640, score_threshold=0.3, contained_share=1.0)
    np.testing.assert_allclose(kept.boxes, boxes[[0, 2, 1]], atol=1e-3)


def test_contained_mask_rules_and_its_numpy_twin():
    boxes = np.array(
        [
            [0, 0, 10, 10],  # best: kept whatever lies inside it
            [5, 5, 25, 25],  # worse but larger: 1/16 of it is inside the first: kept
            [2, 2, 6, 6],  # wholly inside the first: dropped
            [5, 5, 5, 9],  # zero area: never dropped
            [8, 0, 12, 10],
        ],  # half inside the first (and the second): dropped at 0.3, kept at 0.6
        np.float32,
    )
    np.testing.assert_array_equal(contained_mask(boxes, 0.3).numpy(), [False, False, True, False, True])
    np.testing.assert_array_equal(contained_mask(boxes, 0.6).numpy(), [False, False, True, False, False])
    assert contained_mask(np.zeros((0, 4), np.float32), 0.3).shape == (0,)
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 100, (300, 2)).astype(np.float32)
    random = np.concatenate([corners, corners + rng.uniform(0, 30, (300, 2)).astype(np.float32)], 1)
    for share in (0.1, 0.3, 0.5, 0.9):
        np.testing.assert_array_equal(postprocess.contained_mask(random, share), contained_mask(random, share).numpy())
