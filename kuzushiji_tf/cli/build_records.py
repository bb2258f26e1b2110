"""Build sharded TFRecords (pages, character crops, test pages) and a manifest from a Kaggle, CODH, PAGE-XML or ALTO folder.

Examples:
    kuzushiji-build-records --data-dir kuzushiji_tf/sample_data/kaggle_5p --out records/sample --full-data
    kuzushiji-build-records --data-dir data/codh --out records/codh      # CODH: root of the book folders
    kuzushiji-build-records --data-dir exports/transkribus --out records/mine --full-data --add-unknown
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.data.record_images import DEFAULT_CROP_SIZE, DEFAULT_PAGE_SHORT_SIDE
from kuzushiji_tf.datasets.book_split import DEFAULT_NUM_FOLDS
from kuzushiji_tf.datasets.kaggle_labels import LabelsFileError
from kuzushiji_tf.datasets.kaggle_reader import DataError
from kuzushiji_tf.datasets.layouts import LAYOUT_CHOICES
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS, ImageError

# TensorFlow is imported inside main(): worker processes re-import this file and must stay light.

PROG = "build_records"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        required=True,
        help="Kaggle folder (train.csv, unicode_translation.csv, train_images/, test_images/), CODH "
        "folder (root of <book>/<book>_coordinate.csv + <book>/images/, or one book folder), or a folder of "
        "page images with PAGE-XML or ALTO files (glyph-level coordinates) beside them",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUT_CHOICES,
        default="auto",
        help="layout of --data-dir; auto (default): kaggle if it holds train.csv, codh if it holds "
        "*_coordinate.csv (or <book>/<book>_coordinate.csv), page / alto if it holds *.xml files with a "
        "PAGE-XML / ALTO root",
    )
    parser.add_argument(
        "--add-unknown",
        action="store_true",
        help="page/alto: keep glyphs of characters outside the vocabulary (the folder's unicode_translation.csv, else the bundled Kaggle table) and add them to it "
        "(to fine-tune on them); without it their pages are refused. Either way unknown_characters.csv lists them",
    )
    parser.add_argument("--out", required=True, help="output folder, e.g. records/NAME")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--fold", type=int, default=0, help="validation fold (book-grouped), default %(default)s")
    split.add_argument("--full-data", action="store_true", help="every labelled page trains; no validation split")
    parser.add_argument("--num-folds", type=int, default=DEFAULT_NUM_FOLDS, help="default %(default)s")
    parser.add_argument("--shards", type=int, default=8, help="shards per split, default %(default)s")
    parser.add_argument(
        "--page-short-side",
        type=int,
        default=DEFAULT_PAGE_SHORT_SIDE,
        help="stored pages are shrunk to this short side, default %(default)s",
    )
    parser.add_argument(
        "--crop-size", type=int, default=DEFAULT_CROP_SIZE, help="stored crop side, default %(default)s"
    )
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="stop at the first bad row/image (default) or skip it and report it",
    )
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest image accepted, default %(default)s"
    )
    parser.add_argument("--workers", type=int, default=0, help="decode processes, default one per core")
    parser.add_argument("--overwrite", action="store_true", help="delete --out first")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.data.records import RecordOptions, build_records

    start = time.perf_counter()
    try:
        options = RecordOptions(
            fold=args.fold,
            num_folds=args.num_folds,
            full_data=args.full_data,
            shards=args.shards,
            page_short_side=args.page_short_side,
            crop_size=args.crop_size,
            on_error=args.on_error,
            max_pixels=args.max_pixels,
        )
        manifest = build_records(
            args.data_dir,
            args.out,
            options,
            layout=args.layout,
            add_unknown=args.add_unknown,
            workers=args.workers,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except (DataError, LabelsFileError, ImageError, ValueError, FileNotFoundError) as error:
        return fail(PROG, error)
    seconds = time.perf_counter() - start
    print(summary(manifest, args.out, seconds))
    return 0


def summary(manifest: dict, out, seconds: float) -> str:
    splits = manifest["splits"]
    rate = manifest["rows"]["pages_written"] / max(seconds, 1e-9)
    layout = manifest["source"].get("layout", "kaggle")
    lines = [f"records in {out} from a {layout} folder ({seconds:.1f}s, {rate:.2f} pages/s)"]
    for name in ("train", "val"):
        s = splits[name]
        lines.append(
            f"  {name:5s}: {s['pages']} pages ({s['empty_pages']} empty), {s['characters']} characters, {s['classes']} classes"
        )
    lines.append(f"  test : {splits['test']['pages']} pages (unlabelled)")
    size = sum(1 for _ in manifest["shards"])
    unknown = manifest.get("unknown_characters")
    if unknown and unknown["count"]:
        lines.append(
            f"  {unknown['count']} characters outside the vocabulary ({unknown['glyphs']} glyphs), "
            f"{unknown['added']} added to the vocabulary (see {out}/{unknown['report']})"
        )
    lines.append(
        f"  vocabulary: {manifest['vocabulary']['classes']} classes; {size} shard files; "
        f"{manifest['clipped_boxes']} boxes clipped; {manifest['skipped']['count']} skipped"
        + (f" (see {out}/{manifest['skipped']['report']})" if manifest["skipped"]["count"] else "")
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
