"""Training input throughput, per page (detector) and per crop (classifier), on synthetic full-size pages.

Each library pipeline is divided by two references measured in the same run:
- the raw parallel decode of the same records (tf.data over the same shards: parse + `tf.io.decode_jpeg`
  only, same parallelism), goal library / raw >= 0.8;
- an original-style loader (`original_style.py`: per sample in Python, the ORIGINAL full-size JPEG read
  with OpenCV, crop and augmentation in numpy, the heatmap drawn box by box), goal library / baseline >= 3,
  judged against the baseline running in as many processes as the pipeline's parallelism.
A per-stage profile (decode, + crop, + resize, + augment, + targets) shows where the time goes; the
detector's train view decodes only the crop window (`image_ops.crop_image` on the JPEG bytes). The
classifier's pipeline ships decoded uint8 crops and the draws of their views; the view itself runs in the
train step (`CropTrainView`), so its cost is measured apart: per crop on this CPU, and as the rate of the
pipeline with the view added as a last stage (what a CPU-only run pays).

    python benchmarks/input_pipeline.py --quick            # < 2 minutes on 2 cores
    python benchmarks/input_pipeline.py --parallelism 4 --pages 24
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time

import numpy as np
import original_style

import common

DETECTOR_BATCH = 16  # docs/recipe.md: detector batch 16
CLASSIFIER_BATCH = 192  # docs/recipe.md: classifier batch 192


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="synthetic pages (default 4 quick, 16 full)")
    parser.add_argument("--only", choices=("detector", "classifier"), default=None, help="run one half")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds, best kept (1 quick, 3 full)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.pages = args.pages or (4 if args.quick else 16)
    return args


# Items timed per measurement: (quick, full).
SIZES = {
    "det_batches": (2, 8),
    "det_pages": (48, 160),
    "det_base_single": (8, 32),
    "det_base_pool": (16, 64),
    "cls_batches": (3, 6),
    "cls_crops": (384, 1536),
    "cls_base_single": (192, 768),
    "cls_base_pool": (384, 1536),
    "cls_base_nocache": (4, 16),
}


def size(args, key: str) -> int:
    return SIZES[key][0 if args.quick else 1]


def load_pages(data_dir) -> list[tuple[str, np.ndarray]]:
    from kuzushiji_tf.datasets.kaggle_reader import read_train

    pages = read_train(data_dir, check_images=False).pages
    return [(str(page.image_path), np.array([c.box for c in page.chars], np.float32).reshape(-1, 4)) for page in pages]


# ------------------------------------------------------------------ tf.data pipelines written here
def _checksum(*tensors):
    """A scalar that depends on every output (so no stage is pruned) and costs almost nothing."""
    import tensorflow as tf

    total = tf.constant(0.0)
    for tensor in tensors:
        tensor = tf.cast(tensor, tf.float32)
        if tensor.shape.rank == 3:  # images: a sparse sample of the pixels
            tensor = tensor[::61, ::61]
        total += tf.reduce_sum(tensor)
    return total


def _records(records_dir, kind: str, parallelism: int):
    from kuzushiji_tf.data import pipeline

    files = pipeline.list_shards(records_dir, kind, "train")
    return pipeline.record_dataset(files, repeat=True, num_parallel_reads=parallelism)


def raw_decode(records_dir, kind: str, parallelism: int):
    """Parse the image feature + decode_jpeg only; one scalar per page or crop, 16 per batch."""
    import tensorflow as tf

    from kuzushiji_tf.data import schema

    features = {schema.IMAGE: tf.io.FixedLenFeature([], tf.string)}

    def decode(record):
        image = tf.io.decode_jpeg(tf.io.parse_single_example(record, features)[schema.IMAGE], channels=3)
        return _checksum(image)

    return _records(records_dir, kind, parallelism).map(decode, num_parallel_calls=parallelism).batch(16)


# ------------------------------------------------------------------ per-stage profile (one call at a time)
def _best_ms(function, inputs: list, repeats: int) -> float:
    """Least wall time of function(*x) over `repeats` rounds of every x in inputs, in ms per call: on a
    loaded machine the fastest call is the least disturbed one (the inputs differ little in cost)."""
    import tensorflow as tf

    function(*inputs[0])  # trace
    times = []
    for _ in range(repeats):
        for x in inputs:
            started = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), function(*x))
            times.append(time.perf_counter() - started)
    return 1000.0 * min(times)


def detector_profile(records_dir, seed: int, repeats: int) -> list[list]:
    """ms per page of each stage of the library's train view, each a tf.function called on real page
    records (fastest over pages and rounds)."""
    import tensorflow as tf

    from kuzushiji_tf.data import detector_input, image_ops, pipeline, schema

    files = pipeline.list_shards(records_dir, "pages", "train")
    records = list(tf.data.TFRecordDataset(files).take(4))
    seeds = [tf.constant([seed, i], tf.int64) for i in range(len(records))]
    jpegs = [schema.decode_page(r, decode_image=False)["image"] for r in records]
    decode = tf.function(lambda data: tf.io.decode_jpeg(data, channels=3))
    images = [decode(j) for j in jpegs]
    windows = [image_ops.sample_crop_window(tf.shape(im)[:2], s) for im, s in zip(images, seeds)]
    examples = [schema.decode_page(r) for r in records]
    crops = [detector_input.crop_page(e, w) for e, w in zip(examples, windows)]
    resized = [image_ops.resize_with_boxes(c["image"], c["boxes"], [416, 416]) for c in crops]

    crop = tf.function(lambda e, w: detector_input.crop_page(e, w)["image"])
    resize = tf.function(
        lambda im, b: image_ops.resize_with_boxes(
            im, b, [416, 416], antialias_below=detector_input.TRAIN_ANTIALIAS_BELOW
        )
    )
    augment = tf.function(image_ops.augment)
    targets = tf.function(
        lambda b: detector_input.with_targets({"image": tf.zeros([416, 416, 3]), "boxes": b}, (104, 104), 512)[
            detector_input.TARGET_KEYS[0]
        ]
    )

    def whole_view(record, seed):
        # Return the image AND the heatmap: the heatmap alone depends only on the boxes, and the graph
        # optimiser would prune the image's resize and augmentation. The JPEG is left undecoded, as
        # detector_dataset does, so the view decodes only its crop window.
        example = detector_input.with_targets(
            detector_input.train_view(schema.decode_page(record, decode_image=False), seed), (104, 104), 512
        )
        return example["image"], example[detector_input.TARGET_KEYS[0]]

    whole = tf.function(whole_view)
    decode_window = tf.function(image_ops.crop_image)  # on JPEG bytes: the window plus a 1 px border
    rows = [
        ["decode_jpeg (whole stored page)", _best_ms(decode, [(j,) for j in jpegs], repeats)],
        [
            "library: decode the crop window (image_ops.crop_image on the JPEG)",
            _best_ms(decode_window, list(zip(jpegs, windows)), repeats),
        ],
        ["crop (slice + boxes)", _best_ms(crop, list(zip(examples, windows)), repeats)],
        [
            "resize to 416 (bilinear; antialiased below 0.5x, as the train view)",
            _best_ms(resize, [(c["image"], c["boxes"]) for c in crops], repeats),
        ],
        [
            "augment (image_ops.augment, fired groups only)",
            _best_ms(augment, [(im, s) for (im, _), s in zip(resized, seeds)], repeats),
        ],
        ["targets (heatmap, size, offset, ...)", _best_ms(targets, [(b,) for _, b in resized], repeats)],
        ["library train view + targets, one call", _best_ms(whole, list(zip(records, seeds)), repeats)],
    ]
    return rows


def classifier_profile(records_dir, seed: int, repeats: int) -> list[list]:
    """ms per crop: decoding one stored crop per call, then the view's stages on a batch of 192 crops per
    call (divided by 192), as the train step runs them."""
    import tensorflow as tf

    from kuzushiji_tf.data import classifier_input, pipeline, schema
    from kuzushiji_tf.models.classifier import CropTrainView
    from kuzushiji_tf.models.classifier import crop_train_view as ctv

    files = pipeline.list_shards(records_dir, "crops", "train")
    records = list(tf.data.TFRecordDataset(files).take(8))
    decode = tf.function(lambda r: schema.decode_crop(r)["image"])
    crops = tf.stack([decode(records[i % len(records)]) for i in range(CLASSIFIER_BATCH)])
    batch_seed = tf.constant([seed, 1], tf.int64)
    draw = tf.function(lambda s: classifier_input.sample_view_params(CLASSIFIER_BATCH, s, 112))
    view = draw(batch_seed)
    layer = CropTrainView(112)
    stored = tf.cast(tf.shape(crops)[1:3], tf.float32)
    coords = ctv.window_coords(view["window"], layer.warp_coords(view), stored)
    sampled = ctv.bilinear_sample(crops, coords)
    per_batch = max(1, repeats // 2)

    def per_crop(function, *inputs):
        return _best_ms(tf.function(function), [inputs], per_batch) / CLASSIFIER_BATCH

    return [
        ["parse + decode_jpeg (stored 144 px crop, one per call)", _best_ms(decode, [(r,) for r in records], repeats)],
        ["draws: sample_view_params (tf.data)", per_crop(draw, batch_seed)],
        ["view: warp coords (rotation, grid, elastic)", per_crop(layer.warp_coords, view)],
        ["view: bilinear sample of the warped window", per_crop(ctv.bilinear_sample, crops, coords)],
        ["view: pixel augmentations", per_crop(layer.augment, sampled, view)],
        ["view: CropTrainView, whole", per_crop(layer, crops, view)],
    ]


# ------------------------------------------------------------------ the original-style baseline
class BaselineSingle:
    """The original-style sampler in this process; `measure(n)` times n samples and their batching."""

    def __init__(self, kind: str, pages, seed: int, cache_pages: bool = True):
        self.kind = kind
        self.sampler = (
            original_style.DetectorSampler(pages, seed)
            if kind == "detector"
            else original_style.ClassifierSampler(pages, seed, cache_pages)
        )
        if kind == "classifier" and cache_pages:
            self.sampler.warm()  # page decoding is not charged to the cached baseline
        self.sampler(0)  # warm-up

    def measure(self, samples: int) -> float:
        started = time.perf_counter()
        batch = [self.sampler(i) for i in range(samples)]
        if self.kind == "detector":
            original_style.collate(batch)
        else:
            np.stack([image for image, _ in batch])
        return samples / (time.perf_counter() - started)


class BaselinePool:
    """`processes` spawn workers, each building whole batches of `batch`; start-up and page caching are
    done before any timing."""

    def __init__(self, kind: str, pages, processes: int, batch: int, seed: int):
        self.pool = multiprocessing.get_context("spawn").Pool(
            processes, original_style.init_worker, (kind, pages, seed)
        )
        self.batch, self.processes = batch, processes
        self.pool.map(original_style.worker_batch, [(0, 1)] * (2 * processes), chunksize=1)  # warm-up

    def measure(self, samples: int) -> float:
        jobs = [(i * self.batch, self.batch) for i in range(max(self.processes, samples // self.batch))]
        started = time.perf_counter()
        done = sum(self.pool.map(original_style.worker_batch, jobs, chunksize=1))
        return done / (time.perf_counter() - started)

    def close(self):
        self.pool.close()
        self.pool.join()


class DatasetMeter:
    """Times a tf.data pipeline on a fresh iterator per measurement, deleted afterwards: a live iterator
    keeps filling its prefetch and map buffers in the background, which would both steal CPU from the
    other meters and hand this one batches made while it was not being timed."""

    def __init__(self, dataset, per_item: int, warmup: int = 1):
        self.dataset, self.per_item, self.warmup = dataset, per_item, warmup

    def measure(self, items: int) -> float:
        iterator = iter(self.dataset)
        try:
            return common.time_iterator(iterator, items, warmup=self.warmup, per_item=self.per_item)["rate"]
        finally:
            del iterator


def best_of(meters: dict, counts: dict, rounds: int) -> dict:
    """Runs every meter once per round, in turn, and keeps each one's best rate: on a loaded machine the
    best round is the least disturbed one, and alternating exposes every meter to the same load."""
    best = {name: 0.0 for name in meters}
    for _ in range(rounds):
        for name, meter in meters.items():
            best[name] = max(best[name], meter.measure(counts[name]))
    return best


# ------------------------------------------------------------------ the two halves
def measure_inputs(model: str, unit: str, names: dict, meters: dict, counts: dict, rounds: int) -> dict:
    """`best_of` the meters (closing the baseline's process pool whatever happens) and its table."""
    try:
        rates = best_of(meters, counts, rounds)
    finally:
        meters["pool"].close()
    common.print_table(
        [f"{model} input", unit],
        [[names[k], v] for k, v in rates.items()],
        f"{model.capitalize()} training input ({unit}, best of {rounds} alternating rounds)",
    )
    return rates


def run_detector(args, records_dir, pages) -> dict:
    from kuzushiji_tf.data.detector_input import detector_dataset

    p, b = args.parallelism, DETECTOR_BATCH
    library = detector_dataset(records_dir, "train", training=True, batch_size=b, num_parallel_calls=p, seed=args.seed)
    names = {
        "library": "library detector_dataset (train view + targets, batch 16)",
        "raw": "raw decode of the same page records (parse + decode_jpeg)",
        "single": "original-style loader, 1 process (OpenCV, full-size JPEG)",
        "pool": f"original-style loader, {p} processes",
    }
    meters = {
        "library": DatasetMeter(library, b, warmup=2),
        "raw": DatasetMeter(raw_decode(records_dir, "pages", p), 16),
        "single": BaselineSingle("detector", pages, args.seed),
        "pool": BaselinePool("detector", pages, p, 4, args.seed),
    }
    counts = {
        "library": size(args, "det_batches"),
        "raw": size(args, "det_pages") // 16,
        "single": size(args, "det_base_single"),
        "pool": size(args, "det_base_pool"),
    }
    rates = measure_inputs("detector", "pages/s", names, meters, counts, args.rounds)
    profile = detector_profile(records_dir, args.seed, 3 if args.quick else 10)
    common.print_table(
        ["stage", "ms/page"],
        profile,
        "Detector train view per stage (one page per tf.function call, fastest of the calls; 2 intra-op threads)",
    )
    ratios = {
        "library / raw decode": rates["library"] / rates["raw"],
        f"library / original-style ({p} processes)": rates["library"] / rates["pool"],
        "library / original-style (1 process)": rates["library"] / rates["single"],
    }
    return {"rates": rates, "ratios": ratios, "profile": profile}


def with_view_on_cpu(dataset, input_size: int = 112):
    """The library's batches with `CropTrainView` run as a last tf.data stage: the view's cost when the
    training device is this CPU (it then shares the cores with the input pipeline and the model)."""
    import tensorflow as tf

    from kuzushiji_tf.data.classifier_input import CROPS, VIEW
    from kuzushiji_tf.models.classifier import CropTrainView

    layer = CropTrainView(input_size)
    return dataset.map(lambda inputs, targets: (layer(inputs[CROPS], inputs[VIEW]), targets)).prefetch(tf.data.AUTOTUNE)


def run_classifier(args, records_dir, pages) -> dict:
    from kuzushiji_tf.data.classifier_input import classifier_dataset

    p, b = args.parallelism, CLASSIFIER_BATCH
    library = classifier_dataset(
        records_dir, "train", training=True, batch_size=b, num_parallel_calls=p, seed=args.seed
    )
    names = {
        "library": "library classifier_dataset (uint8 crops + view draws, batch 192)",
        "raw": "raw decode of the same crop records (parse + decode_jpeg)",
        "cpu_view": "library + CropTrainView as a tf.data stage (view on this CPU)",
        "single": "original-style crops, 1 process (pages kept decoded)",
        "pool": f"original-style crops, {p} processes (pages kept decoded)",
        "nocache": "original-style crops, 1 process, page decoded per crop",
    }
    meters = {
        "library": DatasetMeter(library, b),
        "raw": DatasetMeter(raw_decode(records_dir, "crops", p), 16),
        "cpu_view": DatasetMeter(with_view_on_cpu(library), b),
        "single": BaselineSingle("classifier", pages, args.seed),
        "pool": BaselinePool("classifier", pages, p, 64, args.seed),
        "nocache": BaselineSingle("classifier", pages, args.seed, cache_pages=False),
    }
    counts = {
        "library": size(args, "cls_batches"),
        "raw": size(args, "cls_crops") // 16,
        "cpu_view": size(args, "cls_batches"),
        "single": size(args, "cls_base_single"),
        "pool": size(args, "cls_base_pool"),
        "nocache": size(args, "cls_base_nocache"),
    }
    rates = measure_inputs("classifier", "crops/s", names, meters, counts, args.rounds)
    profile = classifier_profile(records_dir, args.seed, 3 if args.quick else 10)
    common.print_table(
        ["stage", "ms/crop"],
        profile,
        "Classifier crop decode and train view per stage (fastest call; 2 intra-op threads)",
    )
    ratios = {
        "library / raw decode": rates["library"] / rates["raw"],
        f"library / original-style ({p} processes)": rates["library"] / rates["pool"],
        "library / original-style (1 process)": rates["library"] / rates["single"],
        "view on this CPU / raw decode": rates["cpu_view"] / rates["raw"],
        f"view on this CPU / original-style ({p} processes)": rates["cpu_view"] / rates["pool"],
    }
    return {"rates": rates, "ratios": ratios, "profile": profile}


def main(argv=None) -> int:
    args = parse_args(argv)
    common.quiet_tensorflow()
    started = time.perf_counter()
    common.banner("input_pipeline: training input throughput", args)
    with tempfile.TemporaryDirectory(prefix="bench_input_") as tmp:
        data_dir, records_dir, manifest = common.synthetic_records(
            tmp, args.pages, seed=args.seed, workers=args.parallelism
        )
        pages = load_pages(data_dir)
        chars = sum(len(boxes) for _, boxes in pages)
        page_bytes = [s for s in manifest["shards"] if s["kind"] == "pages"]
        print(
            f"data    : {len(pages)} synthetic pages of 3900 px height, {chars} characters "
            f"({chars / max(len(pages), 1):.0f}/page), records {len(page_bytes)} page shards "
            f"(stored short side {manifest['options']['page_short_side']}), set up in "
            f"{time.perf_counter() - started:.0f} s"
        )
        summary = {}
        if args.only in (None, "detector"):
            summary["detector"] = run_detector(args, records_dir, pages)
        if args.only in (None, "classifier"):
            summary["classifier"] = run_classifier(args, records_dir, pages)

    print("\nRatios against the goals")
    for half, result in summary.items():
        for name, value in result["ratios"].items():
            goal = (
                None
                if not name.startswith("library")
                else 0.8
                if "raw decode" in name
                else 3.0
                if f"({args.parallelism} processes)" in name
                else None
            )
            line = (
                common.goal_line(f"{half}: {name}", value, goal)
                if goal is not None
                else f"{half}: {name}: {value:.3g} (informative)"
            )
            print("  " + line)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s; {common.load_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
