"""What every benchmark shares: the flags, the banner (machine, versions, date, load), timing an iterator
after a warm-up, a plain-text table, and a small synthetic Kaggle folder with its records in a temp dir.

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

# Distribution names (metadata, so nothing is imported); the first installed name of each row is shown.
VERSIONED = (("tensorflow", ("tensorflow", "tensorflow-cpu")), ("keras", ("keras",)),
             ("keras-hub", ("keras-hub", "keras-hub-nightly")), ("numpy", ("numpy",)),
             ("opencv", ("opencv-python-headless", "opencv-python")), ("pillow", ("pillow",)),
             ("jax", ("jax",)), ("jaxlib", ("jaxlib",)))
DEFAULT_PARALLELISM = 2  # AUTOTUNE is unstable from run to run on 2 cores: benchmarks pin it


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer pages and steps: under 2 minutes on 2 cores")
    parser.add_argument("--parallelism", type=int, default=DEFAULT_PARALLELISM,
                        help=f"tf.data map/read parallelism and worker processes (default {DEFAULT_PARALLELISM})")
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
    return {"seconds": seconds, "items": count, "rate": count * per_item / max(seconds, 1e-9),
            "first_s": warm - started}


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
        print("  ".join(value.rjust(width) if i else value.ljust(width)
                        for i, (value, width) in enumerate(zip(row, widths))))
    sys.stdout.flush()


def goal_line(name: str, value: float, goal: float, higher_is_better: bool = True, unit: str = "") -> str:
    met = value >= goal if higher_is_better else value <= goal
    sign = ">=" if higher_is_better else "<="
    return f"{name}: {value:.3g}{unit} (goal {sign} {goal:g}{unit}) -> {'MET' if met else 'NOT MET'}"


def synthetic_kaggle_dir(root: str | Path, pages: int, *, seed: int = 0, page_height: int = 3900,
                         books: int = 2, workers: int = 1) -> tuple[Path, dict]:
    """A synthetic Kaggle-layout folder of full-size pages (3,900 px high, as the real scans) in `root`.
    No empty pages: every page costs what a page with text costs. Returns (folder, generator summary)."""
    from kuzushiji_tf.synthetic import generate_dataset

    data_dir = Path(root) / "kaggle"
    summary = generate_dataset(data_dir, pages, 0, num_books=books, seed=seed, page_height=page_height,
                               workers=workers, empty_fraction=0.0, overwrite=True)
    return data_dir, summary


def synthetic_records(root: str | Path, pages: int, *, seed: int = 0, page_height: int = 3900,
                      shards: int = 2, workers: int = 1) -> tuple[Path, Path, dict]:
    """`synthetic_kaggle_dir` plus its records (every page in the train split, `shards` shards), built
    with the library's `build_records`. Returns (kaggle folder, records folder, manifest)."""
    from kuzushiji_tf.data.records import RecordOptions, build_records

    data_dir, _ = synthetic_kaggle_dir(root, pages, seed=seed, page_height=page_height, workers=workers)
    records_dir = Path(root) / "records"
    manifest = build_records(data_dir, records_dir, RecordOptions(full_data=True, shards=shards),
                             workers=workers, overwrite=True, progress=False)
    return data_dir, records_dir, manifest


def quiet_tensorflow() -> None:
    """Fewer start-up lines from TensorFlow's C++ side; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
