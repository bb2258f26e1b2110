"""Detection over a Kaggle-layout folder: which pages (split, fold), their scans, and each page's boxes.
`kuzushiji-detect` is a thin shell around it; the output is a submission-format CSV (points only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.datasets.book_split import DEFAULT_NUM_FOLDS, split_pages
from kuzushiji_tf.datasets.kaggle_reader import read_test, read_train
from kuzushiji_tf.detection.detect import PageDetections, detect_page
from kuzushiji_tf.progress import Progress
from kuzushiji_tf.scans.images import load_image
from kuzushiji_tf.structures import Page

SPLITS = ("train", "val", "all", "test")
# Detection alone names no character; Kaggle's format still wants a code per point. U+003F ("?") marks
# "some character" and is scored correctly by detection-only F1, which ignores labels.
UNKNOWN_CODE = "U+003F"


def select_pages(data_dir: str | Path, split: str, *, fold: int = 0, num_folds: int = DEFAULT_NUM_FOLDS) -> list[Page]:
    """Pages of `split`: `train`/`val` are the book-grouped folds of train.csv (as `build_records` makes
    them), `all` every labelled page, `test` the unlabelled test pages."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; received {split!r}")
    if split == "test":
        return read_test(data_dir).pages
    pages = read_train(data_dir).pages
    if split == "all":
        return pages
    train, val = split_pages(pages, fold=fold, num_folds=num_folds)
    return train if split == "train" else val


def detect_pages(model, pages: Iterable[Page], *, progress: bool = True, **detect_options) -> dict[str, PageDetections]:
    """`{image_id: PageDetections}` in page order; `detect_options` go to `detection.detect_page`."""
    pages = list(pages)
    results = {}
    with Progress(len(pages), "pages", label="detect ", enabled=progress) as bar:
        for page in pages:
            results[page.image_id] = detect_page(model, load_image(page.image_path), **detect_options)
            bar.update(1)
    return results


def as_submission(detections: dict[str, PageDetections], code: str = UNKNOWN_CODE) -> dict[str, list]:
    """`{image_id: [(code, x, y), ...]}` of box centres, for `kaggle.submission.write_submission`."""
    return {image_id: [(code, float(x), float(y)) for x, y in found.centers] for image_id, found in detections.items()}


def write_truth_csv(path: str | Path, pages: Iterable[Page]) -> Path:
    """The pages' ground truth in `train.csv` format, so `kuzushiji-evaluate` scores exactly these pages."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("image_id", "labels"))
    for page in pages:
        groups = (
            f"{c.code} {round(x)} {round(y)} {round(w)} {round(h)}" for c in page.chars for x, y, w, h in [c.xywh]
        )
        writer.writerow((page.image_id, " ".join(groups)))
    path = Path(path)
    write_atomic(path, buffer.getvalue())
    return path
