"""The detector's input: decoded page examples -> (image, targets). The train view is a random crop
resized to a square and augmented; the eval view is the whole page at the inference scale, so validation
sees exactly what the detector will see in use.

Each stage is a pure dict -> dict function a test can call eagerly on one example; `detector_dataset`
chains them over page records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf.config import INFERENCE_SHORT_SIDE, SIZE_MULTIPLE
from kuzushiji_tf.data import image_ops, pipeline, schema
from kuzushiji_tf.data.centernet_targets import DEFAULT_STRIDE, centernet_targets
from kuzushiji_tf.structures import HEATMAP, INDICES, MASK, OFFSET, SIZE

TARGET_KEYS = (HEATMAP, SIZE, OFFSET, INDICES, MASK)
DEFAULT_INPUT_SIZE = 416  # docs/recipe.md: training crops are resized to 416 x 416
DEFAULT_EVAL_SHORT_SIDE = INFERENCE_SHORT_SIDE  # docs/recipe.md: inference resizes the short side to 832
# Per-character target slots. A training crop covers at most 0.65^2 x 1.3 = 0.55 of the square of the
# page's short side, about 40 % of a portrait page, so 512 slots hold any page of up to ~1,250 characters,
# above the competition's cap of 1,200 per page. A full page gets the cap itself.
DEFAULT_TRAIN_MAX_CHARS = 512
DEFAULT_EVAL_MAX_CHARS = 1200
DEFAULT_SHUFFLE_BUFFER = 256  # serialized pages (~0.3 MB each): decoding happens after the shuffle
DEFAULT_EXTRA_WEIGHT = 0.5  # pseudo-labelled pages per training page, as the classifier's pseudo crops


def crop_page(example: dict, window: tf.Tensor) -> dict:
    """The page cut to window (y0, x0, h, w): the image, and the characters whose centre lies inside,
    their boxes shifted and clipped to the crop. `labels` and `codes` follow their boxes. An image given
    as JPEG bytes is decoded here, only the window (`image_ops.crop_image`)."""
    boxes, keep = image_ops.crop_boxes(example["boxes"], window)
    return {
        **example,
        "image": image_ops.crop_image(example["image"], window),
        "boxes": boxes,  # [M, 4] crop pixels
        "labels": tf.boolean_mask(example["labels"], keep),
        "codes": tf.boolean_mask(example["codes"], keep),
    }


# Training crops shrink by 1-2.4x to the input size: plain bilinear reads every source pixel up to 2x, and
# costs half the antialiased resize, the largest step of the view (docs/benchmarks.md).
TRAIN_ANTIALIAS_BELOW = 0.5


def _view_seeds(seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(crop window seed, augmentation seed) of a training view's seed."""
    crop_seed, augment_seed = tf.unstack(tf.random.split(tf.cast(seed, tf.int64), 2))
    return crop_seed, augment_seed


def train_view(example: dict, seed: tf.Tensor, input_size: int = DEFAULT_INPUT_SIZE) -> dict:
    """Random crop (see `image_ops.sample_crop_window`), resized to input_size x input_size, augmented.

    The crop's own aspect is U(1, 1.3), so squashing it to a square also varies the characters' aspect.
    `scale` and `original_size` are dropped: a crop has no single map back to the scan.

    Args:
        example: a `schema.decode_page` dict, its image decoded (uint8 [H, W, 3]) or, faster, left as JPEG
            bytes (`decode_image=False`): then only the crop is decoded, the same pixels.
        seed: int [2]; the view is a pure function of it.
    Returns:
        the example with image float32 [S, S, 3] 0..255 and boxes float32 [M, 4] in its pixels.
    """
    crop_seed, augment_seed = _view_seeds(seed)
    # From the JPEG header when the image is still bytes: the same window for the same seed.
    window = image_ops.sample_crop_window(image_ops.image_size(example["image"]), crop_seed)
    cropped = crop_page(example, window)
    image, boxes = image_ops.resize_with_boxes(
        cropped["image"], cropped["boxes"], [input_size, input_size], antialias_below=TRAIN_ANTIALIAS_BELOW
    )
    image = tf.ensure_shape(image_ops.augment(image, augment_seed), [input_size, input_size, 3])
    view = {key: value for key, value in cropped.items() if key not in ("scale", "original_size")}
    return {**view, "image": image, "boxes": boxes}


def eval_view(example: dict, short_side: int = DEFAULT_EVAL_SHORT_SIDE) -> dict:
    """The whole page resized so its short side is `short_side`, each side rounded to a multiple of 32.
    `scale` becomes original pixels -> these pixels (y, x), so predictions map back by dividing by it.

    Returns:
        the example with image float32 [H', W', 3] 0..255, boxes float32 [N, 4] and scale float32 [2].
    """
    size = image_ops.short_side_size(tf.shape(example["image"])[:2], short_side, SIZE_MULTIPLE)
    factor = tf.cast(size, tf.float32) / tf.cast(tf.shape(example["image"])[:2], tf.float32)  # (fy, fx)
    image, boxes = image_ops.resize_with_boxes(example["image"], example["boxes"], size)
    return {**example, "image": image, "boxes": boxes, "scale": example["scale"] * factor}


def with_targets(
    example: dict, output_size=None, max_chars: int = DEFAULT_TRAIN_MAX_CHARS, stride: int = DEFAULT_STRIDE
) -> dict:
    """Adds the CenterNet target keys (see `centernet_targets`) for the example's image and boxes.
    `output_size` (Ho, Wo) defaults to the image size / stride, which eval pages need (sizes vary).
    Boxes labelled `schema.UNCERTAIN_LABEL` (a pseudo-labelled scan's unsure detections) are uncertain."""
    if output_size is None:
        output_size = tf.unstack(tf.shape(example["image"])[:2] // stride)
    uncertain = tf.equal(example["labels"], schema.UNCERTAIN_LABEL) if "labels" in example else None
    return {**example, **centernet_targets(example["boxes"], output_size, max_chars, stride, uncertain=uncertain)}


def detector_dataset(
    records_dir: str | Path,
    split: str,
    *,
    training: bool,
    batch_size: int,
    input_size: int = DEFAULT_INPUT_SIZE,
    eval_short_side: int = DEFAULT_EVAL_SHORT_SIDE,
    max_chars: int | None = None,
    stride: int = DEFAULT_STRIDE,
    seed: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    num_parallel_calls: int | None = None,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    include_meta: bool = False,
    extra_records=None,
    extra_weight: float = DEFAULT_EXTRA_WEIGHT,
) -> tf.data.Dataset:
    """Batches of (image float32 [B, H, W, 3] 0..255, targets {HEATMAP [B, Ho, Wo, 1], SIZE, OFFSET
    [B, max_chars, 2], INDICES, MASK [B, max_chars]}) from page records.

    Training repeats forever over shuffled files and records, takes a random crop per example (seeded per
    example from `seed`: with a seed the views are reproducible) and drops the last partial batch so every
    step has the same shape. Eval reads each page once, in file order, as the eval view; pages differ in
    size and padding would move the flat `indices`, so eval batches hold one page (batch_size must be 1).

    Args:
        records_dir, split: where the page records are (`pipeline.list_shards`).
        batch_size: per input pipeline (per replica under a distribution strategy).
        input_size: side of the square training input; eval_short_side: short side of eval pages.
        max_chars: target slots; None -> DEFAULT_TRAIN_MAX_CHARS or DEFAULT_EVAL_MAX_CHARS.
        input_context: shards the files per input pipeline.
        num_parallel_calls: map parallelism (None -> AUTOTUNE; benchmarks pin it).
        include_meta: also yield meta {image_id string [B]; eval only: scale float32 [B, 2] original ->
            input pixels (y, x), boxes float32 [B, N, 4] input pixels}, for evaluation in scan pixels.
        extra_records: training only: a folder (or list of folders) of page shards of any split, e.g. real
            scans pseudo-labelled by `kuzushiji-pseudo-label --images`; each page comes from them with
            probability extra_weight / (1 + extra_weight), the folders pooled.
    """
    for name, value in (("input_size", input_size), ("eval_short_side", eval_short_side)):
        if value < SIZE_MULTIPLE or value % SIZE_MULTIPLE:
            raise ValueError(f"{name} must be a positive multiple of {SIZE_MULTIPLE}; received {value}")
    if not training and batch_size != 1:
        raise ValueError(
            f"eval pages differ in size, so the eval view batches one page at a time; received batch_size={batch_size}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; received {batch_size}")
    if max_chars is None:
        max_chars = DEFAULT_TRAIN_MAX_CHARS if training else DEFAULT_EVAL_MAX_CHARS
    parallel = num_parallel_calls if num_parallel_calls is not None else tf.data.AUTOTUNE

    workers = input_context.num_input_pipelines if input_context is not None else 1
    # Each input pipeline reads whole files: fewer training shards than pipelines is a clear error.
    files = pipeline.list_shards(records_dir, "pages", split, min_shards=workers if training else 1)
    records = pipeline.record_dataset(
        files,
        input_context=input_context,
        shuffle_files=training,
        seed=seed,
        repeat=training,
        num_parallel_reads=num_parallel_calls,
    )
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if extra_records and extra_weight > 0:
            folders = [extra_records] if isinstance(extra_records, (str, Path)) else list(extra_records)
            extra_files = [
                f for folder in folders for f in pipeline.list_shards(folder, "pages", None, min_shards=workers)
            ]
            extra = pipeline.record_dataset(
                extra_files,
                input_context=input_context,
                shuffle_files=True,
                seed=seed,
                repeat=True,
                num_parallel_reads=num_parallel_calls,
            )
            extra = extra.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
            records = tf.data.Dataset.sample_from_datasets(
                [records, extra], weights=[1.0, float(extra_weight)], seed=seed
            )
        seeds = tf.data.Dataset.random(seed=seed).batch(2)  # one int64 [2] seed per example
        output_size = (input_size // stride, input_size // stride)

        def parse(record, example_seed):
            # JPEG bytes in, so only the crop window is decoded: a crop is 7-33 % of the page, and decoding
            # the whole page cost ~2.7x the window (9.5 vs 3.5 ms per stored page, docs/benchmarks.md).
            example = train_view(schema.decode_page(record, decode_image=False), example_seed, input_size)
            return _split(with_targets(example, output_size, max_chars, stride), include_meta)

        dataset = tf.data.Dataset.zip(records, seeds).map(
            parse, num_parallel_calls=parallel, deterministic=seed is not None
        )
    else:

        def parse(record):
            example = eval_view(schema.decode_page(record), eval_short_side)
            return _split(with_targets(example, None, max_chars, stride), include_meta)

        dataset = records.map(parse, num_parallel_calls=parallel, deterministic=True)
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def _split(example: dict, include_meta: bool) -> tuple:
    """(image, targets) or (image, targets, meta)."""
    targets = {key: example[key] for key in TARGET_KEYS}
    if not include_meta:
        return example["image"], targets
    meta = {"image_id": example["image_id"]}
    if "scale" in example:  # the eval view: one page per batch, so its boxes batch too
        meta.update(scale=example["scale"], boxes=example["boxes"])
    return example["image"], targets, meta


def training_char_heights(
    records_dir: str | Path, input_size: int, views_per_page: int = 8, seed: int = 0, split: str = "train"
) -> list[float]:
    """The median character height of each training view, in detector input pixels: what the detector
    learnt a page's characters look like. Each view is `train_view`'s window (the same
    `image_ops.sample_crop_window` and `crop_boxes`) with its boxes scaled to `input_size` as the resize
    scales them; no pixel is decoded. Views without a character are left out.

    The page recogniser's `auto` scale policy (`recognition.contract.RecognizerOptions.scale_policy`)
    brings a page's median character to the median of these (`kuzushiji-export --scale auto`). The view of
    page i (in file order), number v, is `train_view`'s for the seed (seed, i * views_per_page + v)."""
    files = pipeline.list_shards(records_dir, "pages", split)

    @tf.function
    def view_heights(image, boxes, seed):  # one view's box heights in input pixels
        window = image_ops.sample_crop_window(image_ops.image_size(image), _view_seeds(seed)[0])
        cropped, _ = image_ops.crop_boxes(boxes, window)
        return (cropped[:, 3] - cropped[:, 1]) * (input_size / tf.cast(window[2], tf.float32))

    medians = []
    for index, record in enumerate(pipeline.record_dataset(files)):
        example = schema.decode_page(record, decode_image=False)
        for view in range(views_per_page):
            view_seed = tf.constant([seed, index * views_per_page + view], tf.int64)
            heights = view_heights(example["image"], example["boxes"], view_seed).numpy()
            if len(heights):
                medians.append(float(np.median(heights)))
    return medians
