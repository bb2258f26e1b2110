"""`python -m kuzushiji_tf.demo` (what `make demo` runs): the pipeline on the embedded default.

Today that is the data layer: a small synthetic dataset in the Kaggle layout, records built from it
and from the bundled real sample, and a summary of what was built. Training, pseudo-labels and the
page recogniser join as they land.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data" / "kaggle_5p"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_out", help="folder for the synthetic data (default %(default)s)")
    parser.add_argument("--records", default="records", help="folder for the records (default %(default)s)")
    parser.add_argument("--pages", type=int, default=48, help="synthetic training pages (default %(default)s)")
    parser.add_argument("--test-pages", type=int, default=8, help="synthetic test pages (default %(default)s)")
    parser.add_argument("--books", type=int, default=8, help="synthetic books (default %(default)s)")
    parser.add_argument("--page-height", type=int, default=3900, help="synthetic page height in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="processes, default one per core")
    return parser.parse_args(argv)


def _describe(name: str, out: Path, manifest: dict, seconds: float) -> str:
    splits = manifest["splits"]
    size_mb = sum((out / shard["file"]).stat().st_size for shard in manifest["shards"]) / 1e6
    pages = manifest["rows"]["pages_written"]
    return (
        f"{name}: {out}\n"
        f"  train {splits['train']['pages']} pages / {splits['train']['characters']} characters / "
        f"{splits['train']['classes']} classes; val {splits['val']['pages']} pages / "
        f"{splits['val']['characters']} characters; test {splits['test']['pages']} pages\n"
        f"  vocabulary {manifest['vocabulary']['classes']} classes; {len(manifest['shards'])} shard files, "
        f"{size_mb:.1f} MB; {pages} pages in {seconds:.1f}s ({pages / max(seconds, 1e-9):.2f} pages/s)"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.data.records import RecordOptions, build_records
    from kuzushiji_tf.synthetic import generate_dataset

    workers = args.workers or os.cpu_count() or 1
    out, records = Path(args.out), Path(args.records)
    synthetic_dir = out / "synthetic"
    print(f"[1/3] synthetic pages -> {synthetic_dir}", flush=True)
    start = time.perf_counter()
    summary = generate_dataset(synthetic_dir, args.pages, num_test_pages=args.test_pages, num_books=args.books,
                               seed=args.seed, page_height=args.page_height, workers=workers, overwrite=True)
    generated = time.perf_counter() - start

    print("[2/3] records from the synthetic pages (fold 0 of 4, grouped by book)", flush=True)
    start = time.perf_counter()
    synthetic_records = records / "demo-synthetic"
    synthetic_manifest = build_records(synthetic_dir, synthetic_records, RecordOptions(), workers=workers,
                                       overwrite=True)
    synthetic_seconds = time.perf_counter() - start

    print("[3/3] records from the bundled real sample (5 pages of one book, so --full-data)", flush=True)
    start = time.perf_counter()
    sample_records = records / "demo-sample"
    sample_manifest = build_records(SAMPLE_DIR, sample_records, RecordOptions(full_data=True), workers=workers,
                                    overwrite=True)
    sample_seconds = time.perf_counter() - start

    print()
    print(f"synthetic dataset: {synthetic_dir} ({summary.get('pages', args.pages)} train + "
          f"{summary.get('test_pages', args.test_pages)} test pages, {args.books} books, {generated:.1f}s)")
    print(_describe("synthetic records", synthetic_records, synthetic_manifest, synthetic_seconds))
    print(_describe("real sample records", sample_records, sample_manifest, sample_seconds))
    print(f"\nNext: python tools/evaluate.py --truth {synthetic_dir}/test_truth.csv --pred <your submission.csv>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
