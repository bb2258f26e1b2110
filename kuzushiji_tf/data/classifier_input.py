"""The classifier's input: decoded crop examples -> (image, {"label"}). The train view cuts a random part of
the stored crop, warps and augments it; the centre view cuts the fixed central part that inference sees.

Stored crops are squares of 1.4 x the box's longer side (`box_ops.STORED_CROP_FACTOR`). Windows are given
as fractions of the stored side, so the views do not depend on the records' `--crop-size`. The crop, the
resize and the warp are one bilinear `image_ops.remap`: each pixel is interpolated once.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf.data import image_ops, pipeline, schema
from kuzushiji_tf.data.box_ops import STORED_CROP_FACTOR

LABEL = "label"  # int32 [B] class ids: the only target
DEFAULT_INPUT_SIZE = 112  # REFERENCE: 112 x 112 crops
# REFERENCE: training crops take 1.1/1.4 to 1.3/1.4 of the stored side per axis, validation 1.2/1.4.
TRAIN_CROP_RANGE = (1.1 / STORED_CROP_FACTOR, 1.3 / STORED_CROP_FACTOR)
EVAL_CROP_FRACTION = 1.2 / STORED_CROP_FACTOR
# "A small shift": the window's centre moves up to 5 % of the stored side (0.07 x the box side) per axis,
# never so far that the window leaves the stored crop.
MAX_SHIFT = 0.05
DEFAULT_EXTRA_WEIGHT = 0.5  # REFERENCE: 10,000 pseudo-labelled crops per 20,000 training crops
DEFAULT_SHUFFLE_BUFFER = 8192  # serialized crops (~6 KB each); shards hold a page's crops together
AUGMENT_PROBABILITY = image_ops.AUGMENT_PROBABILITY  # each augmentation group fires with this chance


def sample_window(seed: tf.Tensor, crop_range=TRAIN_CROP_RANGE, max_shift: float = MAX_SHIFT) -> tf.Tensor:
    """The train view's window: height and width U(crop_range) independently, centre 0.5 + U(-s, s) per
    axis with s = min(max_shift, (1 - side) / 2).

    Returns:
        float32 [4] (cy, cx, h, w) as fractions of the stored crop's side.
    """
    u = tf.random.stateless_uniform([4], seed)
    size = crop_range[0] + (crop_range[1] - crop_range[0]) * u[:2]  # (h, w)
    limit = tf.minimum(max_shift, (1.0 - size) / 2.0)
    centre = 0.5 + (2.0 * u[2:] - 1.0) * limit  # (cy, cx)
    return tf.concat([centre, size], 0)


def window_coords(window: tf.Tensor, stored_size: tf.Tensor, input_size: int, coords=None) -> tf.Tensor:
    """Where each output pixel reads the stored crop: output pixel centre (i + 0.5) / S of the window.

    Args:
        window: float32 [4] (cy, cx, h, w), fractions of the stored side.
        stored_size: int [2] (height, width) of the stored crop.
        coords: float32 [S, S, 2] (y, x) in output pixels, e.g. a warp; None: the plain output grid.
    Returns:
        float32 [S, S, 2] (y, x) in the stored crop's pixel-index frame (pixel i's centre at i).
    """
    if coords is None:
        coords = image_ops.identity_coords(input_size)
    window = tf.cast(window, tf.float32)
    origin = window[:2] - window[2:] / 2.0  # (y0, x0) fractions
    fractions = origin + (coords + 0.5) / input_size * window[2:]  # [S, S, 2]
    return fractions * tf.cast(stored_size, tf.float32) - 0.5


def random_warp(input_size: int, seed: tf.Tensor) -> tf.Tensor:
    """With AUGMENT_PROBABILITY one of (rotation, grid distortion, elastic), equally likely; else the
    identity. Arithmetic selection, as `image_ops.augment`, keeps it a pure function of the seed.
    Returns float32 [S, S, 2] coordinates in output pixels."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 4)
    u = tf.random.stateless_uniform([2], seeds[0])
    choice = tf.cast(tf.floor(u[1] * 3.0), tf.int32)
    warped = tf.gather(tf.stack([image_ops.rotation_coords(input_size, seeds[1]),
                                 image_ops.grid_distortion_coords(input_size, seeds[2]),
                                 image_ops.elastic_coords(input_size, seeds[3])]), tf.minimum(choice, 2))
    return tf.where(u[0] < AUGMENT_PROBABILITY, warped, image_ops.identity_coords(input_size))


def augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The recipe's pixel augmentations of a crop (REFERENCE, "Classifier"): RGB shift, brightness/contrast,
    Gaussian noise and one coarse-dropout hole, each with AUGMENT_PROBABILITY, magnitudes as the detector's
    (`image_ops`). float32 [S, S, 3] 0..255 -> same, clipped."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 7)
    fire = tf.random.stateless_uniform([4], seeds[0]) < AUGMENT_PROBABILITY
    limit = image_ops.RGB_SHIFT_LIMIT
    image = tf.where(fire[0], image + tf.random.stateless_uniform([3], seeds[1], -limit, limit), image)
    alpha = 1.0 + tf.random.stateless_uniform((), seeds[2], -image_ops.CONTRAST_LIMIT, image_ops.CONTRAST_LIMIT)
    beta = 255.0 * tf.random.stateless_uniform((), seeds[3], -image_ops.BRIGHTNESS_LIMIT, image_ops.BRIGHTNESS_LIMIT)
    mean = tf.reduce_mean(image)
    image = tf.where(fire[1], (image - mean) * alpha + mean + beta, image)
    std = tf.random.stateless_uniform((), seeds[4], *image_ops.NOISE_STD_RANGE)
    image = tf.where(fire[2], image + std * tf.random.stateless_normal(tf.shape(image), seeds[5]), image)
    image = tf.where(fire[3], image_ops.coarse_dropout(image, seeds[6]), image)
    return tf.clip_by_value(image, 0.0, 255.0)


def train_view(example: dict, seed: tf.Tensor, input_size: int = DEFAULT_INPUT_SIZE, crop_range=TRAIN_CROP_RANGE,
               max_shift: float = MAX_SHIFT) -> dict:
    """A random window of the stored crop (`sample_window`), warped (`random_warp`), resized to
    input_size and augmented (`augment`): a pure function of (example, seed).

    Args:
        example: a `schema.decode_crop` dict.  seed: int [2].
    Returns:
        the example with image float32 [S, S, 3] 0..255.
    """
    window_seed, warp_seed, augment_seed = tf.unstack(tf.random.split(tf.cast(seed, tf.int64), 3))
    window = sample_window(window_seed, crop_range, max_shift)
    coords = window_coords(window, tf.shape(example["image"])[:2], input_size, random_warp(input_size, warp_seed))
    image = augment(image_ops.remap(example["image"], coords), augment_seed)
    return {**example, "image": tf.ensure_shape(image, [input_size, input_size, 3])}


def centre_view(example: dict, input_size: int = DEFAULT_INPUT_SIZE, fraction: float = EVAL_CROP_FRACTION) -> dict:
    """The central `fraction` of the stored crop (1.2 x the box's longer side), resized to input_size:
    the window inference cuts from the page. Returns the example with image float32 [S, S, 3] 0..255."""
    window = tf.constant([0.5, 0.5, fraction, fraction], tf.float32)
    coords = window_coords(window, tf.shape(example["image"])[:2], input_size)
    image = image_ops.remap(example["image"], coords)
    return {**example, "image": tf.ensure_shape(image, [input_size, input_size, 3])}


def _check_label(example: dict, num_classes: int | None) -> tf.Tensor:
    label = example["label"]
    if num_classes is None:
        return label
    with tf.control_dependencies([tf.debugging.assert_less(
            label, num_classes, message=f"crop label outside the vocabulary of {num_classes} classes")]):
        return tf.identity(label)


def _shuffled_records(files, *, input_context, seed, shuffle_buffer, num_parallel_calls) -> tf.data.Dataset:
    records = pipeline.record_dataset(files, input_context=input_context, shuffle_files=True, seed=seed,
                                      repeat=True, cycle_length=len(files), num_parallel_reads=num_parallel_calls)
    return records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)


def classifier_dataset(records_dir: str | Path, split: str, *, training: bool, batch_size: int,
                       input_size: int = DEFAULT_INPUT_SIZE, seed: int | None = None,
                       input_context: tf.distribute.InputContext | None = None,
                       num_parallel_calls: int | None = None, extra_records: str | Path | None = None,
                       extra_weight: float = DEFAULT_EXTRA_WEIGHT, crop_range=TRAIN_CROP_RANGE,
                       max_shift: float = MAX_SHIFT, eval_fraction: float = EVAL_CROP_FRACTION,
                       shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER, num_classes: int | None = None) -> tf.data.Dataset:
    """Batches of (image float32 [B, S, S, 3] 0..255, {LABEL: int32 [B]}) from crop records.

    Training samples crops with replacement, in effect: shuffled files and records, repeated forever, the
    train view seeded per example from `seed` (reproducible with a seed), full batches only. With
    `extra_records` (a folder of crop shards of any split, e.g. pseudo-labelled test crops) each crop comes
    from it with probability extra_weight / (1 + extra_weight): 0.5 gives the recipe's 20,000 + 10,000.
    Eval reads each crop once, in file order, as the centre view, the last batch partial.

    Args:
        records_dir, split: where the crop records are (`pipeline.list_shards`).
        batch_size: per input pipeline (per replica under a distribution strategy).
        input_context: shards the files per input pipeline (each source needs a shard per pipeline).
        num_parallel_calls: map parallelism (None -> AUTOTUNE; benchmarks pin it).
        crop_range, max_shift, eval_fraction: the views' windows (see `sample_window`, `centre_view`).
        num_classes: when given, a label >= num_classes stops the pipeline with an error naming it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; received {batch_size}")
    if extra_weight < 0:
        raise ValueError(f"extra_weight must be >= 0; received {extra_weight}")
    parallel = num_parallel_calls if num_parallel_calls is not None else tf.data.AUTOTUNE
    workers = input_context.num_input_pipelines if input_context is not None else 1
    files = pipeline.list_shards(records_dir, "crops", split, min_shards=workers if training else 1)
    if not training:
        def parse_eval(record):
            example = centre_view(schema.decode_crop(record), input_size, eval_fraction)
            return example["image"], {LABEL: _check_label(example, num_classes)}

        records = pipeline.record_dataset(files, num_parallel_reads=num_parallel_calls)
        return records.map(parse_eval, num_parallel_calls=parallel, deterministic=True).batch(
            batch_size).prefetch(tf.data.AUTOTUNE)

    options = dict(input_context=input_context, seed=seed, shuffle_buffer=shuffle_buffer,
                   num_parallel_calls=num_parallel_calls)
    _check_has_records(files, f"{records_dir} ({split} crops)")
    records = _shuffled_records(files, **options)
    if extra_records is not None and extra_weight > 0:
        extra_files = pipeline.list_shards(extra_records, "crops", None, min_shards=workers)
        _check_has_records(extra_files, f"{extra_records} (pseudo-labelled crops)",
                           "lower the thresholds of tools/pseudo_label.py, or fine-tune without --pseudo")
        extra = _shuffled_records(extra_files, **options)
        weights = [1.0 / (1.0 + extra_weight), extra_weight / (1.0 + extra_weight)]
        records = tf.data.Dataset.sample_from_datasets([records, extra], weights=weights, seed=seed)
    seeds = tf.data.Dataset.random(seed=seed).batch(2)  # one int64 [2] seed per example

    def parse_train(record, example_seed):
        example = train_view(schema.decode_crop(record), example_seed, input_size, crop_range, max_shift)
        return example["image"], {LABEL: _check_label(example, num_classes)}

    dataset = tf.data.Dataset.zip(records, seeds).map(parse_train, num_parallel_calls=parallel,
                                                      deterministic=seed is not None)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _check_has_records(files: list[str], what: str, advice: str = "build the records again") -> None:
    """A repeated empty dataset never yields and never ends: training would hang on its first step. A
    TFRecord file holding a record is never 0 bytes, so the file sizes tell without reading them."""
    if sum(os.path.getsize(f) for f in files) == 0:
        raise ValueError(f"{what}: the shards hold no records; {advice}")


def crop_labels(records_dir: str | Path, split: str | None) -> np.ndarray:
    """int32 [N] the class id of every crop of a split, in file order, parsed without the images."""
    files = pipeline.list_shards(records_dir, "crops", split)
    features = {schema.CROP_LABEL: tf.io.FixedLenFeature([], tf.int64)}
    batches = tf.data.TFRecordDataset(files).batch(4096).map(
        lambda records: tf.io.parse_example(records, features)[schema.CROP_LABEL])
    labels = [batch.numpy() for batch in batches]
    return np.concatenate(labels).astype(np.int32) if labels else np.zeros([0], np.int32)
