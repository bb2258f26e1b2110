"""Box arithmetic shared by the record builder and, later, the serving graph. Boxes are xyxy in pixels.

Written with plain arithmetic on array slices so the same functions serve numpy arrays and tensors.
"""

from __future__ import annotations

import numpy as np

# docs/recipe.md: stored crops are squares of 1.4 x the longer box side; training takes random fractions of
# 1.1/1.4..1.3/1.4 of them and inference a square of 1.2 x the longer side.
STORED_CROP_FACTOR = 1.4
INFERENCE_CROP_FACTOR = 1.2


def square_boxes(boxes: np.ndarray, factor: float = STORED_CROP_FACTOR) -> np.ndarray:
    """Squares centred on each box, side = factor x the box's longer side. [N, 4] -> [N, 4]."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    half = factor * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def scale_boxes(boxes: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """Boxes from one image's pixels to a resized copy's pixels. [N, 4] -> [N, 4] float32."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return boxes * np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
