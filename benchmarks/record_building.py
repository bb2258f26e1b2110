"""Record building throughput: pages/s of the library's `build_records` divided by pages/s of the pixel
work alone on the same pages (decode the full-size JPEG, shrink the page, cut the crops, encode the page
and the crops as JPEG), in one process and with the same number of worker processes. The ratio is the
share of the builder's time that is pixel work; the rest is its overhead (CSV and header checks,
tf.train.Example serialisation, writing, sha256, process start-up, pickling between processes).

    python benchmarks/record_building.py --quick            # < 2 minutes on 2 cores
    python benchmarks/record_building.py --pages 32 --workers 2
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import common


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="synthetic pages (default 10 quick, 32 full)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: --parallelism)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating repeats, best kept (2 quick, 3 full)")
    args = parser.parse_args(argv)
    args.pages = args.pages or (10 if args.quick else 32)
    args.workers = args.workers or args.parallelism
    args.rounds = args.rounds or (2 if args.quick else 3)
    return args


def pixel_work(task: tuple) -> int:
    """Decode (Pillow, as the builder), shrink to the stored short side, cut the crops, JPEG-encode the
    page and the crops, with the builder's own functions and settings. Returns the bytes produced."""
    from kuzushiji_tf.data import record_images
    from kuzushiji_tf.scans.images import load_image

    path, boxes = task
    image = load_image(path)
    crops = record_images.cut_square_crops(image, boxes, record_images.DEFAULT_CROP_SIZE) if len(boxes) else []
    stored, _, _ = record_images.shrink_to_short_side(image, record_images.DEFAULT_PAGE_SHORT_SIDE)
    size = len(record_images.encode_jpeg(stored, record_images.PAGE_JPEG_QUALITY))
    for crop in crops:
        size += len(record_images.encode_jpeg(crop, record_images.CROP_JPEG_QUALITY))
    return size


def stage_profile(tasks: list, repeats: int) -> list[list]:
    """ms per page of each step of the pixel work, and of the builder's serialisation, in this process."""
    import cv2
    import tensorflow as tf

    from kuzushiji_tf.data import record_images, schema
    from kuzushiji_tf.file_hashes import file_sha256
    from kuzushiji_tf.scans.images import load_image

    totals: dict[str, list[float]] = {}

    def timed(name, function, *args):
        started = time.perf_counter()
        result = function(*args)
        totals.setdefault(name, []).append(time.perf_counter() - started)
        return result

    with tempfile.TemporaryDirectory(prefix="bench_records_profile_") as tmp:
        for _ in range(repeats):
            for path, boxes in tasks:
                timed("decode full-size JPEG (OpenCV, for comparison)", cv2.imread, path)
                image = timed("decode full-size JPEG (Pillow, as the builder)", load_image, path)
                crops = timed(
                    "cut + resize crops", record_images.cut_square_crops, image, boxes, record_images.DEFAULT_CROP_SIZE
                )
                stored, _, _ = timed(
                    "shrink page (INTER_AREA)",
                    record_images.shrink_to_short_side,
                    image,
                    record_images.DEFAULT_PAGE_SHORT_SIDE,
                )
                page_jpeg = timed(
                    "encode page JPEG", record_images.encode_jpeg, stored, record_images.PAGE_JPEG_QUALITY
                )
                crop_jpegs = timed(
                    "encode crop JPEGs",
                    lambda: [record_images.encode_jpeg(c, record_images.CROP_JPEG_QUALITY) for c in crops],
                )

                def serialise():
                    page = schema.encode_page(
                        image_jpeg=page_jpeg,
                        image_id="x",
                        book="x",
                        original_size=(1, 1),
                        stored_size=(1, 1),
                        scale=(1.0, 1.0),
                        boxes=boxes,
                        labels=[0] * len(boxes),
                        codes=["U+3042"] * len(boxes),
                    )
                    return [page] + [
                        schema.encode_crop(
                            image_jpeg=j, label=0, code="U+3042", image_id="x", book="x", source_box=b, index=i
                        )
                        for i, (j, b) in enumerate(zip(crop_jpegs, boxes))
                    ]

                records = timed("tf.train.Example serialisation", serialise)

                def write():
                    target = Path(tmp) / "shard.tfrecord"
                    with tf.io.TFRecordWriter(str(target)) as writer:
                        for record in records:
                            writer.write(record)
                    return file_sha256(target)

                timed("TFRecord write + sha256", write)
    return [[name, 1000.0 * min(times)] for name, times in totals.items()]


def warm_tensorflow(tmp: Path) -> None:
    """TensorFlow loads `tf.train` and `tf.io` lazily, ~0.5 s on first use: pay it before any timing, as
    a real build of thousands of pages pays it once."""
    from kuzushiji_tf.data import schema

    record = schema.encode_crop(
        image_jpeg=b"", label=0, code="U+3042", image_id="x", book="x", source_box=(0, 0, 1, 1), index=0
    )
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(tmp / "warm.tfrecord")) as writer:
        writer.write(record)


def time_builder(data_dir: Path, out: Path, workers: int) -> tuple[float, int]:
    """(seconds, pages) of one `build_records` call into a fresh folder."""
    from kuzushiji_tf.data.records import RecordOptions, build_records

    started = time.perf_counter()
    manifest = build_records(data_dir, out, RecordOptions(full_data=True, shards=2), workers=workers, progress=False)
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return seconds, manifest["rows"]["pages_written"]


def time_pixel_work(tasks: list, workers: int) -> float:
    """Seconds of the pixel work over all pages; with workers > 1 in a spawn pool started inside the
    timing, as the builder starts its own."""
    started = time.perf_counter()
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(pixel_work, tasks, chunksize=1)
    else:
        for task in tasks:
            pixel_work(task)
    return time.perf_counter() - started


def measure(data_dir: Path, tasks: list, worker_counts: list[int], rounds: int) -> dict:
    """{workers: (builder pages/s, pixel-work pages/s)}, best of `rounds`; the four measurements alternate
    in each round so that all of them see the same load."""
    best = {(kind, w): float("inf") for kind in ("builder", "pixels") for w in worker_counts}
    pages = len(tasks)
    with tempfile.TemporaryDirectory(prefix="bench_records_out_") as tmp:
        for round_index in range(rounds):
            for workers in worker_counts:
                seconds, pages = time_builder(data_dir, Path(tmp) / f"r{round_index}w{workers}", workers)
                best["builder", workers] = min(best["builder", workers], seconds)
                best["pixels", workers] = min(best["pixels", workers], time_pixel_work(tasks, workers))
    return {w: (pages / best["builder", w], len(tasks) / best["pixels", w]) for w in worker_counts}


def main(argv=None) -> int:
    args = parse_args(argv)
    common.quiet_tensorflow()
    started = time.perf_counter()
    common.banner("record_building: build_records vs its pixel work", args)
    with tempfile.TemporaryDirectory(prefix="bench_records_") as tmp:
        data_dir, summary = common.synthetic_kaggle_dir(tmp, args.pages, seed=args.seed, workers=args.workers)
        from kuzushiji_tf.datasets.kaggle_reader import read_train

        pages = read_train(data_dir).pages
        tasks = [
            (str(page.image_path), np.array([c.box for c in page.chars], np.float32).reshape(-1, 4)) for page in pages
        ]
        print(
            f"data    : {len(tasks)} synthetic pages {pages[0].width}x{pages[0].height}, "
            f"{summary['chars']} characters ({summary['chars'] / len(tasks):.0f}/page), "
            f"set up in {time.perf_counter() - started:.0f} s"
        )
        pixel_work(tasks[0])  # warm the imports and the page cache outside any timing
        warm_tensorflow(Path(tmp))

        rates = measure(data_dir, tasks, sorted({1, args.workers}), args.rounds)
        rows = [
            [f"{w} process{'es' if w > 1 else ''}", builder, pixels, builder / pixels]
            for w, (builder, pixels) in rates.items()
        ]
        common.print_table(
            ["workers", "build_records pages/s", "pixel work pages/s", "ratio"],
            rows,
            f"build_records vs decode + shrink + crops + encode (best of {args.rounds} "
            "alternating rounds; pools started inside the timing)",
        )
        profile = stage_profile(tasks[:3], 1 if args.quick else 3)
        common.print_table(["step (one process)", "ms/page"], profile, "Where a page's time goes (fastest call)")

    print("\nRatios (informative; no goal was set)")
    for workers, (builder, pixels) in rates.items():
        print(f"  build_records / pixel work, {workers} worker(s): {builder / pixels:.3g}")
    if len(rates) > 1:
        many = max(rates)
        print(
            f"  build_records speed-up {many} workers vs 1: {rates[many][0] / rates[1][0]:.3g}; "
            f"pixel work speed-up: {rates[many][1] / rates[1][1]:.3g}"
        )
    print(f"\ntotal time {time.perf_counter() - started:.0f} s; {common.load_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
