"""`crop_characters` against a direct numpy computation: squares around boxes sampled bilinearly at pixel
centres, the page mirrored (SYMMETRIC) beyond its edges, 2 x 2 average-pooled. Boxes inside the page need
no padding; boxes crossing each edge and corner read the mirrored pixels."""

import numpy as np
import pytest
import tensorflow as tf

from kuzushiji_tf.backends.tf.page_recognizer import crop_characters
from kuzushiji_tf.recognition.contract import CROP_OVERSAMPLE

HEIGHT, WIDTH = 60, 45
PAGE = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3)).astype(np.uint8)


def mirrored(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """PAGE at integer (y, x), each axis reflected about its edges with the edge pixel repeated."""

    def reflect(index, n):
        return np.where(index < 0, -index - 1, np.where(index >= n, 2 * n - 1 - index, index))

    return PAGE[reflect(y, HEIGHT)[:, None], reflect(x, WIDTH)[None, :]].astype(np.float64)


def reference_crop(box, size: int, factor: float) -> np.ndarray:
    """float64 [size, size, 3]: the crop computed point by point in numpy."""
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    half = factor * max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    samples = size * CROP_OVERSAMPLE
    ys = np.linspace(cy - half - 0.5, cy + half - 0.5, samples)  # pixel centres at integers
    xs = np.linspace(cx - half - 0.5, cx + half - 0.5, samples)
    y_low, x_low = np.floor(ys).astype(int), np.floor(xs).astype(int)
    wy, wx = (ys - y_low)[:, None, None], (xs - x_low)[None, :, None]
    top = mirrored(y_low, x_low) * (1 - wx) + mirrored(y_low, x_low + 1) * wx
    bottom = mirrored(y_low + 1, x_low) * (1 - wx) + mirrored(y_low + 1, x_low + 1) * wx
    dense = top * (1 - wy) + bottom * wy  # [samples, samples, 3]
    return dense.reshape(size, CROP_OVERSAMPLE, size, CROP_OVERSAMPLE, 3).mean(axis=(1, 3))


def block_means(y0: int, x0: int, size: int) -> np.ndarray:
    """2 x 2 means of the mirrored page from (y0, x0): the crop when the samples land on pixel centres."""
    span = np.arange(size * CROP_OVERSAMPLE)
    pixels = mirrored(y0 + span, x0 + span)
    return pixels.reshape(size, CROP_OVERSAMPLE, size, CROP_OVERSAMPLE, 3).mean(axis=(1, 3))


# With factor 1 and a 7 px box, the 8 samples per axis fall exactly on 8 pixel centres from x0 + 0.5 - 1.
SIZE = 4
ON_CENTRES = {  # name: (first sampled row, first sampled column)
    "inside": (20, 10),
    "left edge": (20, -3),
    "right edge": (20, WIDTH - 5),
    "top edge": (-2, 15),
    "bottom edge": (HEIGHT - 4, 15),
    "top-left corner": (-6, -7),
    "bottom-right corner": (HEIGHT - 3, WIDTH - 2),
}


@pytest.mark.parametrize("name", list(ON_CENTRES))
def test_crop_on_pixel_centres_is_the_mirrored_page_block_averaged(name):
    y0, x0 = ON_CENTRES[name]
    side = SIZE * CROP_OVERSAMPLE - 1
    box = [x0 + 0.5, y0 + 0.5, x0 + 0.5 + side, y0 + 0.5 + side]
    crop = crop_characters(tf.constant(PAGE), tf.constant([box], tf.float32), SIZE, factor=1.0).numpy()
    assert crop.shape == (1, SIZE, SIZE, 3) and crop.dtype == np.float32
    np.testing.assert_allclose(crop[0], block_means(y0, x0, SIZE), atol=1e-3)


def test_crops_match_numpy_inside_and_across_every_edge():
    rng = np.random.default_rng(1)
    centres = np.concatenate(
        [
            rng.uniform([8, 8], [WIDTH - 8, HEIGHT - 8], (12, 2)),  # inside
            rng.uniform([-2, -2], [WIDTH + 2, HEIGHT + 2], (24, 2)),
        ]
    )  # near or past edges
    sides = rng.uniform(3, 14, (len(centres), 2))
    boxes = np.concatenate([centres - sides / 2, centres + sides / 2], 1).astype(np.float32)
    size = 6
    crops = tf.function(lambda image, b: crop_characters(image, b, size))(tf.constant(PAGE), tf.constant(boxes))
    expected = np.stack([reference_crop(box, size, 1.2) for box in boxes])
    np.testing.assert_allclose(crops.numpy(), expected, atol=1e-2)
    inside = crop_characters(tf.constant(PAGE), tf.constant(boxes[:12]), size).numpy()  # no padding at all
    np.testing.assert_allclose(inside, expected[:12], atol=1e-2)


def test_no_boxes_give_no_crops():
    crops = crop_characters(tf.constant(PAGE), tf.zeros([0, 4]), 8)
    assert crops.shape == (0, 8, 8, 3)
