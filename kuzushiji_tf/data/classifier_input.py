"""The classifier's input from crop records.

Training batches carry the stored crops as decoded uint8 and the random draws of each crop's train view
(`sample_view_params`); the view itself (window, warp, resize, augmentations) is computed on the training
device by `models.classifier.CropTrainView`, so this pipeline runs at the rate of JPEG decoding. The eval
view (the fixed central part that inference sees) is cut here, by `centre_view`.

Stored crops are squares of 1.4 x the box's longer side (`box_ops.STORED_CROP_FACTOR`). Windows are given
as fractions of the stored side, so the views do not depend on the records' `--crop-size`. The crop, the
resize and the warp are one bilinear resampling: each pixel is interpolated once.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf.data import image_ops, pipeline, schema
from kuzushiji_tf.data.box_ops import STORED_CROP_FACTOR
from kuzushiji_tf.data.record_images import DEFAULT_CROP_SIZE
from kuzushiji_tf.data.records import MANIFEST

LABEL = "label"  # int32 [B] class ids: the only target
CROPS = "crops"  # training input: uint8 [B, stored, stored, 3]
VIEW = "view"  # training input: the view parameters of `sample_view_params`
DEFAULT_INPUT_SIZE = 112  # docs/recipe.md: 112 x 112 crops
# docs/recipe.md: training crops take 1.1/1.4 to 1.3/1.4 of the stored side per axis, validation 1.2/1.4.
TRAIN_CROP_RANGE = (1.1 / STORED_CROP_FACTOR, 1.3 / STORED_CROP_FACTOR)
EVAL_CROP_FRACTION = 1.2 / STORED_CROP_FACTOR
# "A small shift": the window's centre moves up to 5 % of the stored side (0.07 x the box side) per axis,
# never so far that the window leaves the stored crop.
MAX_SHIFT = 0.05
DEFAULT_EXTRA_WEIGHT = 0.5  # docs/recipe.md: 10,000 pseudo-labelled crops per 20,000 training crops
DEFAULT_SHUFFLE_BUFFER = 8192  # serialized crops (~6 KB each); shards hold a page's crops together
AUGMENT_PROBABILITY = image_ops.AUGMENT_PROBABILITY  # each augmentation group fires with this chance
# The train view's warps (docs/recipe.md, "Classifier": one of rotate 5 deg, grid distortion, elastic).
ROTATE_LIMIT_DEGREES = 5.0
GRID_STEPS = 5  # albumentations' GridDistortion defaults: 5 cells per axis, each stretched by U(-0.3, 0.3)
GRID_DISTORT_LIMIT = 0.3
ELASTIC_GRID = 8  # a smooth random field: 8 x 8 Gaussian control points, bicubically upsampled
ELASTIC_STD = 0.015  # control-point displacement std, fraction of the side (1.7 px at 112)


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


def sample_view_params(
    batch_size: int,
    seed: tf.Tensor,
    input_size: int = DEFAULT_INPUT_SIZE,
    crop_range=TRAIN_CROP_RANGE,
    max_shift: float = MAX_SHIFT,
) -> dict:
    """The random draws of `batch_size` train views, which `CropTrainView` applies on the device
    (its docstring lists the keys). A pure function of the seed int [2]:

    - window: height and width U(crop_range) independently, centre 0.5 + U(-s, s) per axis with
      s = min(max_shift, (1 - side) / 2), so the window never leaves the stored crop;
    - with AUGMENT_PROBABILITY one warp, rotation / grid distortion / elastic equally likely;
    - RGB shift, brightness/contrast, Gaussian noise and one coarse-dropout hole, each with
      AUGMENT_PROBABILITY, magnitudes as the detector's (`image_ops`).
    """
    seeds = tf.unstack(tf.random.split(tf.cast(seed, tf.int64), 12))
    batch, size = batch_size, float(input_size)

    def uniform(k, shape, low=0.0, high=1.0):
        return tf.random.stateless_uniform(shape, seeds[k], minval=low, maxval=high)

    u = uniform(0, [batch, 4])
    side = crop_range[0] + (crop_range[1] - crop_range[0]) * u[:, :2]  # (h, w)
    limit = tf.minimum(max_shift, (1.0 - side) / 2.0)
    window = tf.concat([0.5 + (2.0 * u[:, 2:] - 1.0) * limit, side], 1)  # (cy, cx, h, w)
    draw = uniform(1, [batch, 2])
    kind = tf.minimum(tf.cast(tf.floor(draw[:, 1] * 3.0), tf.int32), 2) + 1  # rotation, grid, elastic
    warp = tf.where(draw[:, 0] < AUGMENT_PROBABILITY, kind, 0)
    fire = uniform(2, [batch, 4]) < AUGMENT_PROBABILITY  # rgb, brightness/contrast, noise, hole
    rgb = uniform(3, [batch, 3], -image_ops.RGB_SHIFT_LIMIT, image_ops.RGB_SHIFT_LIMIT)
    contrast = 1.0 + uniform(4, [batch], -image_ops.CONTRAST_LIMIT, image_ops.CONTRAST_LIMIT)
    brightness = 255.0 * uniform(5, [batch], -image_ops.BRIGHTNESS_LIMIT, image_ops.BRIGHTNESS_LIMIT)
    low, high = image_ops.DROPOUT_SIDE_RANGE
    u = uniform(6, [batch, 4])
    hole_side = tf.round((low + (high - low) * u[:, :2]) * size)  # (h, w) pixels
    hole_start = tf.floor(u[:, 2:] * (size - hole_side + 1.0))  # (y0, x0): the hole fits inside
    return {
        "window": window,
        "warp": warp,
        "angle": uniform(7, [batch], -ROTATE_LIMIT_DEGREES, ROTATE_LIMIT_DEGREES) * (math.pi / 180.0),
        "grid_stretch": uniform(8, [batch, 2, GRID_STEPS], -GRID_DISTORT_LIMIT, GRID_DISTORT_LIMIT),
        "elastic": tf.random.stateless_normal([batch, ELASTIC_GRID, ELASTIC_GRID, 2], seeds[9]) * (ELASTIC_STD * size),
        "rgb_shift": tf.where(fire[:, :1], rgb, 0.0),
        "contrast": tf.where(fire[:, 1], contrast, 1.0),
        "brightness": tf.where(fire[:, 1], brightness, 0.0),
        "noise_std": tf.where(fire[:, 2], uniform(10, [batch], *image_ops.NOISE_STD_RANGE), 0.0),
        "noise_pick": uniform(11, [batch, 3]),
        "hole": tf.where(fire[:, 3:], tf.concat([hole_start, hole_side], 1), 0.0),
    }


def centre_view(example: dict, input_size: int = DEFAULT_INPUT_SIZE, fraction: float = EVAL_CROP_FRACTION) -> dict:
    """The central `fraction` of the stored crop (1.2 x the box's longer side), resized to input_size:
    the window inference cuts from the page. Returns the example with image float32 [S, S, 3] 0..255."""
    window = tf.constant([0.5, 0.5, fraction, fraction], tf.float32)
    coords = window_coords(window, tf.shape(example["image"])[:2], input_size)
    image = image_ops.remap(example["image"], coords)
    return {**example, "image": tf.ensure_shape(image, [input_size, input_size, 3])}


def _check_label(label: tf.Tensor, num_classes: int | None) -> tf.Tensor:
    if num_classes is None:
        return label
    with tf.control_dependencies(
        [
            tf.debugging.assert_less(
                label, num_classes, message=f"crop label outside the vocabulary of {num_classes} classes"
            )
        ]
    ):
        return tf.identity(label)


def _shuffled_records(files, *, input_context, seed, shuffle_buffer, num_parallel_calls) -> tf.data.Dataset:
    records = pipeline.record_dataset(
        files,
        input_context=input_context,
        shuffle_files=True,
        seed=seed,
        repeat=True,
        cycle_length=len(files),
        num_parallel_reads=num_parallel_calls,
    )
    return records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)


def classifier_dataset(
    records_dir: str | Path,
    split: str,
    *,
    training: bool,
    batch_size: int,
    input_size: int = DEFAULT_INPUT_SIZE,
    seed: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    num_parallel_calls: int | None = None,
    extra_records: str | Path | list[str | Path] | tuple[str | Path, ...] | None = None,
    extra_weight: float = DEFAULT_EXTRA_WEIGHT,
    crop_range=TRAIN_CROP_RANGE,
    max_shift: float = MAX_SHIFT,
    eval_fraction: float = EVAL_CROP_FRACTION,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    num_classes: int | None = None,
    stored_size: int | None = None,
) -> tf.data.Dataset:
    """Batches of crops from crop records, with targets {LABEL: int32 [B]}.

    Training: inputs {CROPS: uint8 [B, stored_size, stored_size, 3], VIEW: view parameters}, for
    `CropTrainView` to turn into the model's input. Crops are sampled with replacement, in effect:
    shuffled files and records, repeated forever, the views' draws seeded per batch from `seed`
    (reproducible with a seed), full batches only. A crop stored at another size (e.g. pseudo-labels cut
    from records built with another --crop-size) is resized to stored_size. With `extra_records` (a folder
    of crop shards of any split, e.g. pseudo-labelled test crops, or a list of such folders, e.g. those of
    synthetic test pages and of real scans) each crop comes from them with probability
    extra_weight / (1 + extra_weight): 0.5 gives the recipe's 20,000 + 10,000. Several folders are pooled:
    each of their crops is as likely as any other, so a folder's share is its share of the crops.
    Eval: inputs float32 [B, input_size, input_size, 3] 0..255, the centre views, each crop once in file
    order, the last batch partial.

    Args:
        records_dir, split: where the crop records are (`pipeline.list_shards`).
        batch_size: per input pipeline (per replica under a distribution strategy).
        input_context: shards the files per input pipeline (each source needs a shard per pipeline).
        num_parallel_calls: map parallelism (None -> AUTOTUNE; benchmarks pin it).
        crop_range, max_shift, eval_fraction: the views' windows (see `sample_view_params`, `centre_view`).
        num_classes: when given, a label >= num_classes stops the pipeline with an error naming it.
        stored_size: the side training crops are batched at; None: the records' --crop-size, as their
            manifest states it (DEFAULT_CROP_SIZE without a manifest).
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
            return example["image"], {LABEL: _check_label(example["label"], num_classes)}

        records = pipeline.record_dataset(files, num_parallel_reads=num_parallel_calls)
        return (
            records.map(parse_eval, num_parallel_calls=parallel, deterministic=True)
            .batch(batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )

    options = dict(
        input_context=input_context, seed=seed, shuffle_buffer=shuffle_buffer, num_parallel_calls=num_parallel_calls
    )
    _check_has_records(files, f"{records_dir} ({split} crops)")
    stated = _stored_size(records_dir)
    stored_size = stored_size or stated or DEFAULT_CROP_SIZE

    def crops(files, resize: bool):
        def parse(record):
            image, label = schema.decode_crop_for_training(record)
            if resize:  # only for sources whose manifest does not state crops of stored_size
                image = tf.cond(
                    tf.reduce_all(tf.shape(image)[:2] == stored_size),
                    lambda: image,
                    lambda: tf.cast(tf.round(tf.image.resize(image, [stored_size, stored_size])), tf.uint8),
                )
            return tf.ensure_shape(image, [stored_size, stored_size, 3]), _check_label(label, num_classes)

        return _shuffled_records(files, **options).map(
            parse, num_parallel_calls=parallel, deterministic=seed is not None
        )

    dataset = crops(files, resize=stated != stored_size)
    extra_dirs = [extra_records] if isinstance(extra_records, (str, Path)) else list(extra_records or [])
    if extra_dirs and extra_weight > 0:
        extra_files = []
        for folder in extra_dirs:
            files_of_folder = pipeline.list_shards(
                folder, "crops", None, min_shards=workers if len(extra_dirs) == 1 else 1
            )
            _check_has_records(
                files_of_folder,
                f"{folder} (pseudo-labelled crops)",
                "lower the thresholds of kuzushiji-pseudo-label, or leave this folder out of --pseudo",
            )
            extra_files += files_of_folder
        if len(extra_files) < workers:
            raise FileNotFoundError(
                f"{', '.join(map(str, extra_dirs))}: found {len(extra_files)} crop shard(s) in all, "
                f"need at least {workers} (one per input pipeline); write them with more --shards"
            )
        # Pooled: every crop of every folder is equally likely (files interleave, records shuffle).
        extra = crops(extra_files, resize=any(_stored_size(folder) != stored_size for folder in extra_dirs))
        weights = [1.0 / (1.0 + extra_weight), extra_weight / (1.0 + extra_weight)]
        dataset = tf.data.Dataset.sample_from_datasets([dataset, extra], weights=weights, seed=seed)

    def with_views(images, labels, batch_seed):
        view = sample_view_params(batch_size, batch_seed, input_size, crop_range, max_shift)
        return {CROPS: images, VIEW: view}, {LABEL: labels}

    batch_seeds = tf.data.Dataset.random(seed=seed).batch(2)  # one int64 [2] seed per batch
    dataset = tf.data.Dataset.zip(dataset.batch(batch_size, drop_remainder=True), batch_seeds)
    return dataset.map(lambda batch, seed_: with_views(*batch, seed_)).prefetch(tf.data.AUTOTUNE)


def _stored_size(records_dir: str | Path) -> int | None:
    """The crop side a records or pseudo-label folder's manifest states (None: no manifest says)."""
    path = Path(records_dir) / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    size = manifest.get("crop_size", manifest.get("options", {}).get("crop_size"))
    return int(size) if size is not None else None


def _check_has_records(files: list[str], what: str, advice: str = "build the records again") -> None:
    """A repeated empty dataset never yields and never ends: training would hang on its first step. A
    TFRecord file holding a record is never 0 bytes, so the file sizes tell without reading them."""
    if sum(os.path.getsize(f) for f in files) == 0:
        raise ValueError(f"{what}: the shards hold no records; {advice}")


def crop_labels(records_dir: str | Path, split: str | None) -> np.ndarray:
    """int32 [N] the class id of every crop of a split, in file order, parsed without the images."""
    files = pipeline.list_shards(records_dir, "crops", split)
    features = {schema.CROP_LABEL: tf.io.FixedLenFeature([], tf.int64)}
    batches = (
        tf.data.TFRecordDataset(files)
        .batch(4096)
        .map(lambda records: tf.io.parse_example(records, features)[schema.CROP_LABEL])
    )
    labels = [batch.numpy() for batch in batches]
    return np.concatenate(labels).astype(np.int32) if labels else np.zeros([0], np.int32)
