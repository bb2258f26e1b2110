"""tf.data readers for the three record kinds: files -> shard -> interleave -> shuffle -> decode.

Training pipelines of the detector and classifier start from these datasets and add their own parse,
targets and batching. Parallelism is a parameter so benchmarks can pin it (AUTOTUNE on 2 cores is
unstable from run to run).
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from kuzushiji_tf.data import schema

KINDS = ("pages", "crops")
SPLITS = ("train", "val", "test")


def list_shards(records_dir: str | Path, kind: str, split: str | None, *, min_shards: int = 1) -> list[str]:
    """Sorted shard paths of one kind and split (None: every split, as in a folder of pseudo-labelled
    crops); a clear error when there are fewer than `min_shards` (for example fewer files than input
    workers)."""
    if kind not in KINDS or (split is not None and split not in SPLITS):
        raise ValueError(f"kind must be one of {KINDS} and split one of {SPLITS}; received {kind!r}, {split!r}")
    records_dir = Path(records_dir)
    files = sorted(str(path) for path in records_dir.glob(f"{kind}-{split or '*'}-*-of-*.tfrecord"))
    if len(files) < min_shards:
        raise FileNotFoundError(
            f"{records_dir}: found {len(files)} {kind}-{split or '*'} shard(s), need at least {min_shards}; "
            f"build them with kuzushiji-build-records (more --shards if this is for several workers)"
        )
    return files


def record_dataset(
    files: list[str],
    *,
    input_context: tf.distribute.InputContext | None = None,
    shuffle_files: bool = False,
    seed: int | None = None,
    repeat: bool = False,
    cycle_length: int = 4,
    num_parallel_reads: int | None = None,
) -> tf.data.Dataset:
    """Serialized records from shards. Files are shuffled and sharded per input pipeline before they are
    interleaved, so each worker reads whole files and never the same record as another."""
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if input_context is not None and input_context.num_input_pipelines > 1:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if repeat:
        dataset = dataset.repeat()
    cycle_length = min(cycle_length, len(files))
    # tf.data refuses a fixed parallelism above the cycle length (one shard, two parallel reads).
    parallel = min(num_parallel_reads, cycle_length) if num_parallel_reads is not None else tf.data.AUTOTUNE
    return dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=cycle_length,
        num_parallel_calls=parallel,
        # With a seed the order is reproducible; without one, any ready file may go first.
        deterministic=seed is not None or not shuffle_files,
    )


def _read(records_dir, kind, split, decode_fn, *, decode_image=True, num_parallel_calls=None, **kwargs):
    files = list_shards(records_dir, kind, split)
    parallel = num_parallel_calls if num_parallel_calls is not None else tf.data.AUTOTUNE
    return record_dataset(files, **kwargs).map(
        lambda record: decode_fn(record, decode_image), num_parallel_calls=parallel, deterministic=True
    )


def read_pages(records_dir, split: str = "train", **kwargs) -> tf.data.Dataset:
    """Decoded page records (see `schema.decode_page` for the keys)."""
    return _read(records_dir, "pages", split, schema.decode_page, **kwargs)


def read_test_pages(records_dir, **kwargs) -> tf.data.Dataset:
    """Decoded test-page records: the page schema with no boxes."""
    return _read(records_dir, "pages", "test", schema.decode_page, **kwargs)


def read_crops(records_dir, split: str = "train", **kwargs) -> tf.data.Dataset:
    """Decoded character-crop records (see `schema.decode_crop` for the keys)."""
    return _read(records_dir, "crops", split, schema.decode_crop, **kwargs)
