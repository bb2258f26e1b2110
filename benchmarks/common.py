"""What every benchmark shares: the flags, the banner (machine, versions, date, load), timing an iterator
after a warm-up, a plain-text table, a small synthetic Kaggle folder with its records in a temp dir, and
for the benchmarks run without a trained model, untrained models and a page recogniser exported from them
on the spot (`on_the_spot_export`), so `--quick` needs nothing a fresh clone lacks (saved_models/ etc.).

Importing this module loads neither TensorFlow nor Keras (versions are read from package metadata), so
`training_step.py` can run on the JAX backend on a machine without TensorFlow.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/x.py` from anywhere, without installing the package
    sys.path.insert(0, str(REPO))

# After the path above; loads no TensorFlow. The sample folders are for the scripts beside this one.
from kuzushiji_tf.config import INFERENCE_SHORT_SIDE, SAMPLE_KAGGLE_DIR, SAMPLE_UNLABELLED_DIR  # noqa: E402, F401
from kuzushiji_tf.recognition.contract import MODELS_DIR, PAGE_MODEL  # noqa: E402

# Distribution names (metadata, so nothing is imported); the first installed name of each row is shown.
VERSIONED = (
    ("tensorflow", ("tensorflow", "tensorflow-cpu")),
    ("keras", ("keras",)),
    ("keras-hub", ("keras-hub", "keras-hub-nightly")),
    ("numpy", ("numpy",)),
    ("opencv", ("opencv-python-headless", "opencv-python")),
    ("pillow", ("pillow",)),
    ("jax", ("jax",)),
    ("jaxlib", ("jaxlib",)),
)
DEFAULT_PARALLELISM = 2  # AUTOTUNE is unstable from run to run on 2 cores: benchmarks pin it


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer pages and steps: under 3 minutes on 2 cores")
    parser.add_argument(
        "--parallelism",
        type=int,
        default=DEFAULT_PARALLELISM,
        help=f"tf.data map/read parallelism and worker processes (default {DEFAULT_PARALLELISM})",
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic data and random views (default 0)")
    return parser


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(names) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def banner(title: str, args: argparse.Namespace, extra: dict | None = None) -> None:
    """Prints what a reader needs to compare figures: machine, load, versions, date, the run's flags."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    versions = [f"python {platform.python_version()}"]
    versions += [f"{label} {version}" for label, names in VERSIONED if (version := package_version(names))]
    print(f"== {title}")
    print(f"machine : {cpu_model()}, {os.cpu_count()} cores, load average {load} (1/5/15 min)")
    print(f"versions: {', '.join(versions)}")
    print(f"date    : {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    flags = {key: value for key, value in vars(args).items()}
    flags.update(extra or {})
    print("run     : " + ", ".join(f"{key}={value}" for key, value in flags.items()))
    sys.stdout.flush()


def load_note() -> str:
    """One line on the load at the end of a run: measured rates on a loaded machine are noisy, ratios less so."""
    if not hasattr(os, "getloadavg"):
        return ""
    one = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    note = "busy: absolute rates are noisy, compare the ratios" if one > 0.75 * cores else "quiet"
    return f"load average at the end: {one:.2f} on {cores} cores ({note})"


def time_iterator(iterator, count: int, warmup: int = 1, per_item: int = 1) -> dict:
    """Times `count` items of `iterator` after `warmup` items (which absorb tracing, thread start-up and
    buffer filling). `per_item` scales the rate to pages or crops when an item is a batch.

    Returns:
        dict: seconds (float), items (int), rate (per_item units per second), first_s (the warm-up time).
    """
    iterator = iter(iterator)
    started = time.perf_counter()
    for _ in range(warmup):
        next(iterator)
    warm = time.perf_counter()
    for _ in range(count):
        next(iterator)
    seconds = time.perf_counter() - warm
    return {
        "seconds": seconds,
        "items": count,
        "rate": count * per_item / max(seconds, 1e-9),
        "first_s": warm - started,
    }


def time_calls(function, count: int, warmup: int = 1) -> dict:
    """Times `count` calls of `function()` after `warmup` calls; rate is calls per second."""

    def calls():
        while True:
            yield function()

    return time_iterator(calls(), count, warmup)


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    """A plain aligned table; floats get 3 significant figures (at least one decimal under 100)."""

    def cell(value) -> str:
        if isinstance(value, float):
            if value != value:  # NaN
                return "-"
            if abs(value) >= 100:
                return f"{value:,.0f}"
            return f"{value:.3g}" if abs(value) >= 1 else f"{value:.3f}"
        return str(value)

    text = [[cell(value) for value in row] for row in rows]
    widths = [max(len(str(header)), *(len(row[i]) for row in text)) for i, header in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(str(header).ljust(width) for header, width in zip(headers, widths)))
    print("  ".join("-" * width for width in widths))
    for row in text:
        print(
            "  ".join(
                value.rjust(width) if i else value.ljust(width) for i, (value, width) in enumerate(zip(row, widths))
            )
        )
    sys.stdout.flush()


def goal_line(name: str, value: float, goal: float, higher_is_better: bool = True, unit: str = "") -> str:
    met = value >= goal if higher_is_better else value <= goal
    sign = ">=" if higher_is_better else "<="
    return f"{name}: {value:.3g}{unit} (goal {sign} {goal:g}{unit}) -> {'MET' if met else 'NOT MET'}"


def synthetic_kaggle_dir(
    root: str | Path, pages: int, *, seed: int = 0, page_height: int = 3900, books: int = 2, workers: int = 1
) -> tuple[Path, dict]:
    """A synthetic Kaggle-layout folder of full-size pages (3,900 px high, as the real scans) in `root`.
    No empty pages: every page costs what a page with text costs. Returns (folder, generator summary)."""
    from kuzushiji_tf.synthetic import generate_dataset

    data_dir = Path(root) / "kaggle"
    summary = generate_dataset(
        data_dir,
        pages,
        0,
        num_books=books,
        seed=seed,
        page_height=page_height,
        workers=workers,
        empty_fraction=0.0,
        overwrite=True,
    )
    return data_dir, summary


def synthetic_records(
    root: str | Path, pages: int, *, seed: int = 0, page_height: int = 3900, shards: int = 2, workers: int = 1
) -> tuple[Path, Path, dict]:
    """`synthetic_kaggle_dir` plus its records (every page in the train split, `shards` shards), built
    with the library's `build_records`. Returns (kaggle folder, records folder, manifest)."""
    from kuzushiji_tf.data.records import RecordOptions, build_records

    data_dir, _ = synthetic_kaggle_dir(root, pages, seed=seed, page_height=page_height, workers=workers)
    records_dir = Path(root) / "records"
    manifest = build_records(
        data_dir,
        records_dir,
        RecordOptions(full_data=True, shards=shards),
        workers=workers,
        overwrite=True,
        progress=False,
    )
    return data_dir, records_dir, manifest


def quiet_tensorflow() -> None:
    """Fewer start-up lines from TensorFlow's C++ side; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ---------------------------------------------------------------------------------------------------------
# Models when none is given: untrained ones built here, and a page recogniser exported from them on the
# spot into a temporary folder. These helpers hold the benchmarks' imports of kuzushiji_tf.inference and
# kuzushiji_tf.backends.onnx that are not themselves timed, so a move of those modules is rewritten here.

REAL_CLASSES = 4212  # docs/recipe.md: distinct labels in train.csv
TINY_CLASSES = 48
PAGE_MODEL_DIR = Path(MODELS_DIR) / PAGE_MODEL  # relative to the current directory, as the tools
CHAR_SIZE_PX = 35.0  # docs/recipe.md: the median character is ~35 px at short side 832 (real pages)


def no_model_note(flags: str = "--model") -> str:
    """The banner's line when a benchmark runs without a model: what its figures are then worth."""
    return (
        f"no {flags} given: a tiny untrained export made on the spot; timings are of the pipeline, "
        "not of a trained model"
    )


def untrained_page_models(size: str = "real", *, seed: int = 0, classes: int | None = None):
    """(detector, classifier, note): the project's own models, untrained. `size` "real" is the recipe's
    (ResNet18 CenterNet; MobileNetV3Small at 112 px over 4,212 classes), "tiny" the tests' (a narrow
    one-block ResNet with 16-channel upsampler and head; a minimalistic MobileNetV3Small at alpha 0.5,
    32 px, 48 classes): seconds to build, export and run on a CPU."""
    import keras

    from kuzushiji_tf.models.centernet import build_centernet
    from kuzushiji_tf.models.classifier import build_classifier

    keras.utils.set_random_seed(seed)
    if size == "real":
        classes = classes or REAL_CLASSES
        detector = build_centernet("resnet18")
        classifier = build_classifier(classes, input_size=112)
        note = f"untrained resnet18 CenterNet and MobileNetV3Small ({classes} classes, 112 px)"
    elif size == "tiny":
        classes = classes or TINY_CLASSES
        detector = build_centernet("resnet_tiny", upsampler_filters=(16, 16, 16), head_channels=16)
        classifier = build_classifier(classes, input_size=32, alpha=0.5, minimalistic=True)
        note = f"tiny untrained CenterNet (resnet_tiny) and MobileNetV3Small (alpha 0.5, {classes} classes, 32 px)"
    else:
        raise ValueError(f"size must be 'real' or 'tiny', not {size!r}")
    return detector, classifier, note


def tune_untrained_detector(
    detector,
    images,
    threshold: float,
    chars: int,
    *,
    short_side: int = INFERENCE_SHORT_SIDE,
    char_size_px: float = CHAR_SIZE_PX,
) -> list[int]:
    """Shifts an untrained detector's heatmap bias so that `images` (uint8 [H, W, 3] pages, resized to
    `short_side` here) give `chars` peaks above `threshold` on average, and makes the size head a constant
    box of `char_size_px` input pixels: the recogniser then crops and classifies a realistic number of
    characters. Returns the peaks per page."""
    import math

    import numpy as np
    import tensorflow as tf

    from kuzushiji_tf.detection.detect import resize_page
    from kuzushiji_tf.structures import HEATMAP

    per_page = []
    for image in images:
        inputs, _ = resize_page(image, short_side)
        logits = detector(inputs, training=False)[HEATMAP][0, :, :, 0]  # [Ho, Wo]
        pooled = tf.nn.max_pool2d(logits[None, :, :, None], 3, 1, "SAME")[0, :, :, 0]
        per_page.append(tf.boolean_mask(logits, tf.equal(logits, pooled)).numpy())
    peaks = np.sort(np.concatenate(per_page))[::-1]
    # The cut sits halfway between the k-th and the next peak, so float noise cannot move a peak across it.
    k = min(chars * len(images), len(peaks)) - 1
    cut = (peaks[k] + peaks[min(k + 1, len(peaks) - 1)]) / 2.0
    head = detector.head
    head.heatmap_conv.bias.assign(head.heatmap_conv.bias + (math.log(threshold / (1 - threshold)) - cut))
    head.size_conv.kernel.assign(tf.zeros_like(head.size_conv.kernel))
    cells = char_size_px / detector.output_stride
    head.size_conv.bias.assign(tf.constant([cells, cells], head.size_conv.bias.dtype))
    return [int(np.sum(page >= cut)) for page in per_page]


def decode_pages(encoded: list[bytes]) -> list:
    """JPEG/PNG bytes -> uint8 [H, W, 3] tensors, decoded as the exported recogniser decodes them."""
    import tensorflow as tf

    from kuzushiji_tf.backends.tf.page_recognizer import decode_page_image

    return [decode_page_image(tf.constant(data)) for data in encoded]


def placeholder_vocabulary(classes: int) -> list[tuple[str, str]]:
    """[(code, char)] for `classes` class ids: consecutive CJK ideographs from U+4E00 (untrained models)."""
    return [(f"U+{0x4E00 + i:04X}", chr(0x4E00 + i)) for i in range(int(classes))]


def export_recognizer(
    detector,
    classifier,
    out: str | Path,
    *,
    fmt: str = "savedmodel",
    vocabulary: list[tuple[str, str]] | None = None,
    short_side: int = INFERENCE_SHORT_SIDE,
    det_threshold: float = 0.3,
    cls_threshold: float = 0.0,
) -> Path:
    """The page recogniser of `detector` + `classifier` exported to `out` (a name/<integer version> folder)
    as a SavedModel (`fmt` "savedmodel") or an ONNX export ("onnx"). `vocabulary` defaults to placeholder
    codes; cls_threshold 0 by default, so every detected character comes out and the outputs cost what a
    confident model's do."""
    from kuzushiji_tf.models.classifier import num_classes
    from kuzushiji_tf.recognition.contract import RecognizerOptions

    if vocabulary is None:
        vocabulary = placeholder_vocabulary(num_classes(classifier))
    options = RecognizerOptions(short_side=short_side, det_threshold=det_threshold, cls_threshold=cls_threshold)
    if fmt == "savedmodel":
        from kuzushiji_tf.backends.tf.export import export_page_recognizer

        return export_page_recognizer(detector, classifier, vocabulary, out, options)
    if fmt == "onnx":
        from kuzushiji_tf.backends.onnx.export import export_onnx_recognizer

        return export_onnx_recognizer(detector, classifier, vocabulary, out, options)
    raise ValueError(f"fmt must be 'savedmodel' or 'onnx', not {fmt!r}")


def on_the_spot_export(
    root: str | Path,
    pages: list[bytes],
    *,
    formats=("savedmodel",),
    size: str = "tiny",
    seed: int = 0,
    chars: int = 128,
    short_side: int = INFERENCE_SHORT_SIDE,
    det_threshold: float = 0.3,
) -> tuple[dict[str, Path], str]:
    """Untrained models (`untrained_page_models(size)`), the detector tuned on the first 3 of `pages`
    (encoded scans) to ~`chars` heatmap peaks a page, exported in each of `formats` under `root`
    (root/kuzushiji_page/1 and root/kuzushiji_page_onnx/1, the layout of saved_models). Returns
    ({format: export folder}, a note for the banner)."""
    detector, classifier, note = untrained_page_models(size, seed=seed)
    peaks = tune_untrained_detector(detector, decode_pages(pages[:3]), det_threshold, chars, short_side=short_side)
    folders = {"savedmodel": "kuzushiji_page", "onnx": "kuzushiji_page_onnx"}
    exports = {
        fmt: export_recognizer(
            detector,
            classifier,
            Path(root) / folders[fmt] / "1",
            fmt=fmt,
            short_side=short_side,
            det_threshold=det_threshold,
        )
        for fmt in formats
    }
    note = (
        f"{note}; heatmap bias tuned to {sum(peaks) / max(len(peaks), 1):.0f} peaks a page on average "
        f"(fewer characters after NMS), short side {short_side}, class threshold 0, exported as "
        f"{' and '.join(exports)}"
    )
    return exports, note


def newest_page_model(models: str | Path = PAGE_MODEL_DIR) -> Path | None:
    """The newest exported page recogniser under `models` (default saved_models/kuzushiji_page, relative
    to the current directory), or None when there is none (a fresh clone)."""
    from kuzushiji_tf.recognition.contract import newest_version

    try:
        return newest_version(models)
    except FileNotFoundError:
        return None


def load_page_model(path: str | Path, backend: str = "auto", **options):
    """`kuzushiji_tf.recognition.contract.load_page_model`: a callable page recogniser of either backend."""
    from kuzushiji_tf.backends.loading import load_page_model as load

    return load(path, backend, **options)


def load_trained_model(path: str | Path):
    """A trained model.keras (or its training folder), for inference: `inference.saved_models.load_model`."""
    from kuzushiji_tf.models.saved_models import load_model

    return load_model(path)


def keras_file(path: str | Path) -> Path:
    """`path` if it is a .keras file, else path/model.keras: `inference.saved_models.resolve_keras_file`."""
    from kuzushiji_tf.models.saved_models import resolve_keras_file

    return resolve_keras_file(path)
