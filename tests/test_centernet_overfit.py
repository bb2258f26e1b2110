"""A tiny CenterNet learns two synthetic pages by heart: model, loss and decoding fit together.

Targets are built here in numpy (centre cell, offset, size, a Gaussian per box), independent of the
tf.data targets module, so this test pins the model side alone.
"""

import numpy as np
import tensorflow as tf  # the train step below; models/ itself stays backend-agnostic

from kuzushiji_tf.models.centernet import (
    BOXES,
    NUM_DETECTIONS,
    TOTAL,
    build_centernet,
    centernet_loss,
    centernet_postprocess,
)
from kuzushiji_tf.structures import HEATMAP, INDICES, MASK, OFFSET, SIZE

IMAGE_SIDE, STRIDE, MAX_CHARS = 64, 4, 4
PAGES = [  # xyxy boxes in pixels
    [(6, 8, 22, 28), (36, 6, 52, 20), (30, 38, 58, 58)],
    [(10, 34, 26, 58), (40, 10, 58, 30)],
]


def _page_image(boxes, seed):
    rng = np.random.default_rng(seed)
    image = np.full((IMAGE_SIDE, IMAGE_SIDE, 3), 220.0) + rng.normal(0, 5, (IMAGE_SIDE, IMAGE_SIDE, 3))
    for x0, y0, x1, y1 in boxes:
        image[y0:y1, x0:x1] = 40.0
    return np.clip(image, 0, 255).astype("uint8")


def _targets(boxes):
    side = IMAGE_SIDE // STRIDE
    heatmap = np.zeros((side, side), "float32")
    size, offset = np.zeros((MAX_CHARS, 2), "float32"), np.zeros((MAX_CHARS, 2), "float32")
    indices, mask = np.zeros(MAX_CHARS, "int32"), np.zeros(MAX_CHARS, "float32")
    ys, xs = np.mgrid[0:side, 0:side]
    for slot, box in enumerate(boxes):
        x0, y0, x1, y1 = np.array(box, "float32") / STRIDE
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        cx, cy = np.floor(centre).astype(int)
        sigma = max(min(x1 - x0, y1 - y0) / 6.0, 0.5)
        heatmap = np.maximum(heatmap, np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)))
        size[slot], offset[slot] = (x1 - x0, y1 - y0), centre - (cx, cy)
        indices[slot], mask[slot] = cy * side + cx, 1.0
    return {HEATMAP: heatmap[..., None], SIZE: size, OFFSET: offset, INDICES: indices, MASK: mask}


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_tiny_detector_overfits_two_pages():
    tf.keras.utils.set_random_seed(0)
    images = np.stack([_page_image(boxes, seed) for seed, boxes in enumerate(PAGES)])
    per_page = [_targets(boxes) for boxes in PAGES]
    targets = {key: np.stack([t[key] for t in per_page]) for key in per_page[0]}
    num_objects = float(targets[MASK].sum())

    detector = build_centernet("resnet_tiny", upsampler_filters=(32, 16, 16), head_channels=16)
    optimizer = tf.keras.optimizers.Adam(learning_rate=2e-3)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            losses = centernet_loss(targets, detector(images, training=True), num_objects=num_objects)
        gradients = tape.gradient(losses[TOTAL], detector.trainable_variables)
        optimizer.apply_gradients(zip(gradients, detector.trainable_variables))
        return losses[TOTAL]

    history = [float(train_step()) for _ in range(200)]
    initial, final = np.mean(history[:5]), np.mean(history[-5:])
    assert np.isfinite(history).all()
    assert final < 0.1 * initial, (initial, final)  # typically ~2%

    decoded = centernet_postprocess(detector(images, training=False), max_detections=10, score_threshold=0.3)
    for page, boxes in enumerate(PAGES):
        count = int(decoded[NUM_DETECTIONS][page])
        predicted = decoded[BOXES][page, :count].numpy()
        assert count == len(boxes), (page, count, predicted)  # no duplicate or background peak above 0.3
        for box in boxes:
            assert max(_iou(box, p) for p in predicted) > 0.5, (page, box, predicted)
