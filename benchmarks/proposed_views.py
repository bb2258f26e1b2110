"""Prototypes of library changes that `input_pipeline.py` measures next to the library's own views, so the
benchmark shows what each change would buy before anyone edits `kuzushiji_tf/data/`. Same recipe numbers
(crop windows, magnitudes, probabilities) as `image_ops` and `classifier_input`, reused from there.

- `detector_train_view`: decode only the crop window (`tf.io.decode_and_crop_jpeg`, the window sampled
  from the JPEG header), and an augmentation whose branches run only when they fire (`tf.cond`), the
  colour shift and brightness/contrast fused into one affine pass.
- `classifier_batched_view`: the classifier's train view applied to a whole batch of decoded stored crops
  at once (one gather for the remap of 192 crops, vectorised warps and augmentations), instead of ~100
  small ops per crop inside `map`.
"""
from __future__ import annotations

import math

import tensorflow as tf

from kuzushiji_tf.data import classifier_input, detector_input, image_ops, schema


# ------------------------------------------------------------------ detector
def augment_when_fired(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """`image_ops.augment` with the same draws, but each group computed only when it fires."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 8)
    fire = tf.random.stateless_uniform([3], seeds[0]) < image_ops.AUGMENT_PROBABILITY
    pick = tf.random.stateless_uniform([2], seeds[1]) < 0.5
    limit = image_ops.RGB_SHIFT_LIMIT
    shift = tf.random.stateless_uniform([3], seeds[2], -limit, limit)
    alpha = 1.0 + tf.random.stateless_uniform((), seeds[3], -image_ops.CONTRAST_LIMIT, image_ops.CONTRAST_LIMIT)
    beta = 255.0 * tf.random.stateless_uniform((), seeds[4], -image_ops.BRIGHTNESS_LIMIT, image_ops.BRIGHTNESS_LIMIT)
    image = tf.cond(fire[0] & ~pick[0], lambda: tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3]),
                    lambda: image)
    # colour shift then contrast about the mean: one affine pass, x * a + b per channel.
    scale = tf.where(fire[1], alpha, 1.0)
    mean = tf.cond(fire[1], lambda: tf.reduce_mean(image) + tf.where(fire[0] & pick[0], tf.reduce_mean(shift), 0.0),
                   lambda: tf.constant(0.0))
    offset = tf.where(fire[0] & pick[0], shift, 0.0) * scale + tf.where(fire[1], (1.0 - alpha) * mean + beta, 0.0)
    image = tf.cond(fire[0] & pick[0] | fire[1], lambda: image * scale + offset, lambda: image)

    def noise():
        std = tf.random.stateless_uniform((), seeds[5], *image_ops.NOISE_STD_RANGE)
        return image + std * tf.random.stateless_normal(tf.shape(image), seeds[6])

    image = tf.cond(fire[2], lambda: tf.cond(pick[1], noise, lambda: image_ops.coarse_dropout(image, seeds[7])),
                    lambda: image)
    return tf.clip_by_value(image, 0.0, 255.0)


def detector_train_view(record: tf.Tensor, seed: tf.Tensor, input_size: int = 416, max_chars: int = 512,
                        stride: int = 4) -> tuple:
    """(image float32 [S, S, 3], targets) of one page record, decoding only the crop window."""
    example = schema.decode_page(record, decode_image=False)
    crop_seed, augment_seed = tf.unstack(tf.random.split(tf.cast(seed, tf.int64), 2))
    window = image_ops.sample_crop_window(tf.io.extract_jpeg_shape(example["image"])[:2], crop_seed)
    crop = tf.io.decode_and_crop_jpeg(example["image"], window, channels=3)
    boxes, _ = image_ops.crop_boxes(example["boxes"], window)
    image, boxes = image_ops.resize_with_boxes(crop, boxes, [input_size, input_size])
    image = tf.ensure_shape(augment_when_fired(image, augment_seed), [input_size, input_size, 3])
    size = input_size // stride
    example = detector_input.with_targets({"image": image, "boxes": boxes}, (size, size), max_chars, stride)
    return image, {key: example[key] for key in detector_input.TARGET_KEYS}


# ------------------------------------------------------------------ classifier
def _uniform(seed, shape, low=0.0, high=1.0):
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def _batched_stretch_axis(size: int, stretch: tf.Tensor) -> tf.Tensor:
    """`image_ops._stretch_axis` for [B, steps] stretches -> [B, size] source positions."""
    steps = stretch.shape[-1]
    cell = size / steps
    widths = cell * (1.0 + stretch)  # [B, steps]
    bounds = tf.concat([tf.zeros_like(widths[:, :1]), tf.cumsum(widths, axis=1)], 1)
    bounds *= size / tf.reduce_sum(widths, axis=1, keepdims=True)  # [B, steps + 1]
    centres = tf.range(size, dtype=tf.float32) + 0.5
    index = tf.clip_by_value(tf.cast(tf.floor(centres / cell), tf.int32), 0, steps - 1)  # [S]
    fraction = centres / cell - tf.cast(index, tf.float32)
    start, end = tf.gather(bounds, index, axis=1), tf.gather(bounds, index + 1, axis=1)  # [B, S]
    return start + fraction * (end - start) - 0.5


def batched_warp(batch: int, size: int, seed: tf.Tensor) -> tf.Tensor:
    """float32 [B, S, S, 2]: per crop, with AUGMENT_PROBABILITY, one of rotation / grid / elastic."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 4)
    u = _uniform(seeds[0], [batch, 2])
    identity = image_ops.identity_coords(size)[None]  # [1, S, S, 2]
    centre = (size - 1) / 2.0
    angle = _uniform(seeds[1], [batch], -image_ops.ROTATE_LIMIT_DEGREES,
                     image_ops.ROTATE_LIMIT_DEGREES)[:, None, None] * (math.pi / 180.0)
    offset = identity - centre
    cos, sin = tf.cos(angle), tf.sin(angle)
    rotation = tf.stack([cos * offset[..., 0] - sin * offset[..., 1],
                         sin * offset[..., 0] + cos * offset[..., 1]], -1) + centre
    stretch = _uniform(seeds[2], [2, batch, image_ops.GRID_STEPS], -image_ops.GRID_DISTORT_LIMIT,
                       image_ops.GRID_DISTORT_LIMIT)
    ys, xs = _batched_stretch_axis(size, stretch[0]), _batched_stretch_axis(size, stretch[1])  # [B, S]
    grid = tf.stack([tf.broadcast_to(ys[:, :, None], [batch, size, size]),
                     tf.broadcast_to(xs[:, None, :], [batch, size, size])], -1)
    control = tf.random.stateless_normal([batch, image_ops.ELASTIC_GRID, image_ops.ELASTIC_GRID, 2],
                                         seeds[3]) * (image_ops.ELASTIC_STD * size)
    elastic = identity + tf.image.resize(control, [size, size], method="bicubic")
    choice = tf.cast(tf.floor(u[:, 1] * 3.0), tf.int32)[:, None, None, None]
    warped = tf.where(choice == 0, rotation, tf.where(choice == 1, grid, elastic))
    return tf.where((u[:, 0] < image_ops.AUGMENT_PROBABILITY)[:, None, None, None], warped, identity)


def batched_remap(images: tf.Tensor, coords: tf.Tensor) -> tf.Tensor:
    """`image_ops.remap` over a batch: images [B, H, W, C], coords [B, h, w, 2] -> float32 [B, h, w, C]."""
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    limit = tf.cast(shape[1:3] - 1, tf.float32)
    coords = tf.clip_by_value(coords, 0.0, limit)
    low = tf.floor(coords)
    weight = coords - low
    low = tf.cast(low, tf.int32)
    high = tf.minimum(low + 1, shape[1:3] - 1)
    flat = tf.reshape(images, [-1, shape[3]])  # [B * H * W, C]
    base = (tf.range(shape[0]) * shape[1] * shape[2])[:, None, None]  # [B, 1, 1]

    def read(y, x):
        return tf.gather(flat, base + y * shape[2] + x)

    wy, wx = weight[..., :1], weight[..., 1:]
    top = read(low[..., 0], low[..., 1]) * (1.0 - wx) + read(low[..., 0], high[..., 1]) * wx
    bottom = read(high[..., 0], low[..., 1]) * (1.0 - wx) + read(high[..., 0], high[..., 1]) * wx
    return top * (1.0 - wy) + bottom * wy


def batched_augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """`classifier_input.augment` per crop of a [B, S, S, 3] batch (per-crop draws, vectorised)."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 7)
    batch = tf.shape(images)[0]
    fire = _uniform(seeds[0], [batch, 4]) < image_ops.AUGMENT_PROBABILITY  # [B, 4]

    def per_crop(column):
        return fire[:, column][:, None, None, None]

    limit = image_ops.RGB_SHIFT_LIMIT
    images = tf.where(per_crop(0), images + _uniform(seeds[1], [batch, 1, 1, 3], -limit, limit), images)
    alpha = 1.0 + _uniform(seeds[2], [batch, 1, 1, 1], -image_ops.CONTRAST_LIMIT, image_ops.CONTRAST_LIMIT)
    beta = 255.0 * _uniform(seeds[3], [batch, 1, 1, 1], -image_ops.BRIGHTNESS_LIMIT, image_ops.BRIGHTNESS_LIMIT)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = tf.where(per_crop(1), (images - mean) * alpha + mean + beta, images)
    std = _uniform(seeds[4], [batch, 1, 1, 1], *image_ops.NOISE_STD_RANGE)
    images = tf.where(per_crop(2), images + std * tf.random.stateless_normal(tf.shape(images), seeds[5]), images)
    size = tf.cast(tf.shape(images)[1], tf.float32)
    u = _uniform(seeds[6], [batch, 4])
    low, high = image_ops.DROPOUT_SIDE_RANGE
    hole = tf.round((low + (high - low) * u[:, :2]) * size)  # [B, 2]
    start = tf.floor(u[:, 2:] * (size - hole + 1.0))
    grid = tf.range(size)
    rows = (grid[None] >= start[:, :1]) & (grid[None] < start[:, :1] + hole[:, :1])  # [B, S]
    cols = (grid[None] >= start[:, 1:]) & (grid[None] < start[:, 1:] + hole[:, 1:])
    mask = rows[:, :, None, None] & cols[:, None, :, None] & per_crop(3)
    return tf.clip_by_value(tf.where(mask, 0.0, images), 0.0, 255.0)


def classifier_batched_view(images: tf.Tensor, seed: tf.Tensor, input_size: int = 112) -> tf.Tensor:
    """The classifier's train view for a batch of stored crops (uint8 [B, H, W, 3], all one size)."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 4)
    batch = tf.shape(images)[0]
    low, high = classifier_input.TRAIN_CROP_RANGE
    u = _uniform(seeds[0], [batch, 4])
    side = low + (high - low) * u[:, :2]  # [B, 2] (h, w)
    limit = tf.minimum(classifier_input.MAX_SHIFT, (1.0 - side) / 2.0)
    centre = 0.5 + (2.0 * u[:, 2:] - 1.0) * limit
    origin = (centre - side / 2.0)[:, None, None, :]  # [B, 1, 1, 2]
    coords = batched_warp(batch, input_size, seeds[1])  # [B, S, S, 2]
    stored = tf.cast(tf.shape(images)[1:3], tf.float32)
    source = (origin + (coords + 0.5) / input_size * side[:, None, None, :]) * stored - 0.5
    return batched_augment(batched_remap(images, source), seeds[2])
