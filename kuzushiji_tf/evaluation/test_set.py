"""The project's real test set, and the guard that keeps it out of training.

The 5 labelled pages of `sample_data/kaggle_5p/train_images` are the only real pages with truth, so they are
the real test set. No path that turns images into training data may take them in:

- `assert_not_test_page` refuses one of those pages by its bytes (sha256, so a renamed copy is caught
  too) and by its image id (the file name without its extension, so a copy of the page under its own name
  is caught even if it was re-encoded);
- `assert_not_test_records` refuses a records folder built from the bundled sample. Its manifest names the
  bundled folder as its source, or a label CSV with the sha256 of one of the bundled label files (`train.csv`
  or the CODH coordinate CSV). A pseudo-label folder whose manifest lists one of the pages is refused too.

The hashes and ids are computed from the bundled files when this module is imported, never written out by
hand, so they cannot go stale. A package without those files cannot run the guard and refuses to import.
The module needs only the standard library: record workers and light tools can import it.

What it cannot see: a real test page that was re-encoded, resized or cropped and renamed. It also cannot
see those pages inside another data set under their own ids, such as Kaggle's full train.csv, which
includes book 100241706. Records of that set are not refused.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.file_hashes import file_sha256

SAMPLE_DIR = SAMPLE_KAGGLE_DIR
TRUTH_CSV = SAMPLE_DIR / "train.csv"
IMAGE_DIR = SAMPLE_DIR / "train_images"
MANIFEST = "manifest.json"  # as data.records.MANIFEST; repeated so that this module imports no TensorFlow


class RealTestSetError(KuzushijiError, ValueError):
    """An attempt to train on the real test set; the message names the page or folder and why."""


def _load() -> tuple[dict[str, str], frozenset[str]]:
    """({sha256 of the page's bytes: image id}, sha256s of the label CSVs), from the bundled files."""
    if not TRUTH_CSV.is_file():
        raise ImportError(
            f"{TRUTH_CSV} is missing: the real test set cannot be guarded without it "
            "(reinstall kuzushiji_tf with its sample_data)"
        )
    with open(TRUTH_CSV, newline="", encoding="utf-8") as handle:
        ids = [row["image_id"] for row in csv.DictReader(handle)]
    pages = {}
    for image_id in ids:
        path = IMAGE_DIR / f"{image_id}.jpg"
        if not path.is_file():
            raise ImportError(
                f"{path} is missing: the real test set cannot be guarded without it "
                "(reinstall kuzushiji_tf with its sample_data)"
            )
        pages[file_sha256(path)] = image_id
    # The same labels in CODH's format; the translation table and sample_submission.csv hold no labels.
    label_files = [TRUTH_CSV, *sorted(SAMPLE_DIR.glob("*_coordinate*.csv"))]
    return pages, frozenset(file_sha256(path) for path in label_files)


_PAGES_BY_SHA256, LABEL_CSV_SHA256 = _load()
TEST_PAGE_SHA256 = frozenset(_PAGES_BY_SHA256)
TEST_PAGE_IDS = frozenset(_PAGES_BY_SHA256.values())


def which_test_page(path_or_bytes: str | Path | bytes, image_id: str | None = None) -> str | None:
    """The id of the real test page that `path_or_bytes` is, or None. Bytes are checked by their sha256;
    a path by the sha256 of its file and by its image id (`image_id`, else the file name without its
    extension). A path that cannot be read can only be checked by its id."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        if image_id in TEST_PAGE_IDS:
            return image_id
        return _PAGES_BY_SHA256.get(hashlib.sha256(path_or_bytes).hexdigest())
    path = Path(path_or_bytes)
    image_id = path.stem if image_id is None else image_id
    if image_id in TEST_PAGE_IDS:
        return image_id
    try:
        return _PAGES_BY_SHA256.get(file_sha256(path))
    except OSError:
        return None  # missing or unreadable: whoever decodes it reports that


def assert_not_test_page(path_or_bytes: str | Path | bytes, image_id: str | None = None) -> None:
    """Raises RealTestSetError if `path_or_bytes` is one of the 5 labelled real pages (see `which_test_page`)."""
    found = which_test_page(path_or_bytes, image_id)
    if found is not None:
        what = "these bytes are" if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) else f"{path_or_bytes} is"
        raise RealTestSetError(
            f"{what} the real test page {found} ({IMAGE_DIR.name}/{found}.jpg of the bundled kaggle_5p sample): "
            "the 5 labelled real pages are the project's test set and never become training data"
        )


def assert_not_test_records(folder: str | Path, what: str = "records") -> None:
    """Raises RealTestSetError if the records folder `folder` was built from the bundled labelled sample.
    Its manifest may name the bundled folder as its `source.data_dir`, or list among its `source` hashes
    (`<file>_sha256`) the sha256 of a bundled label CSV (`train.csv`, the CODH coordinate CSV). A pseudo-label folder is refused if its manifest lists one of the test pages in
    `page_files`. A folder without a manifest passes here; callers check the crop ids it holds."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return
    manifest = json.loads(path.read_text(encoding="utf-8"))
    source = manifest.get("source") if isinstance(manifest.get("source"), dict) else {}
    data_dir = source.get("data_dir")
    if data_dir is not None and Path(data_dir).resolve() == SAMPLE_DIR:
        raise RealTestSetError(
            f"{what} {folder}: built from the bundled labelled sample {SAMPLE_DIR}, the project's real test set; "
            "it is for evaluation only and never trained on"
        )
    for key, value in source.items():
        if key.endswith("_sha256") and value in LABEL_CSV_SHA256:
            raise RealTestSetError(
                f"{what} {folder}: built from a {key[: -len('_sha256')]} identical to a label file of the bundled "
                f"sample (sha256 {value[:12]}...), the project's real test set; it is for evaluation only and "
                "never trained on"
            )
    for page in manifest.get("page_files", []):
        found = (
            page.get("image_id") if page.get("image_id") in TEST_PAGE_IDS else _PAGES_BY_SHA256.get(page.get("sha256"))
        )
        if found is not None:
            raise RealTestSetError(
                f"{what} {folder}: holds crops of the real test page {found}, the project's "
                "real test set; it never becomes training data"
            )


def assert_no_test_ids(image_ids, folder: str | Path, what: str = "records") -> None:
    """Raises RealTestSetError if any of `image_ids` (str or bytes) is the id of a real test page."""
    for image_id in image_ids:
        image_id = image_id.decode() if isinstance(image_id, bytes) else str(image_id)
        if image_id in TEST_PAGE_IDS:
            raise RealTestSetError(
                f"{what} {folder}: holds the real test page {image_id} (or crops of it), "
                "the project's real test set; it never becomes training data"
            )
