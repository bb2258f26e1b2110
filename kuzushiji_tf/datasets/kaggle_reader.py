"""Kaggle-layout folder -> validated `Page`s. Every error names the file, the line and the image id.

Policy (docs/data.md, "Data layout"): by default the first problem stops the read with a `DataError`; with
`on_error="skip"` a bad row or image is left out whole and listed in `ReadResult.skipped`, so every
row is accounted for: kept + skipped = rows read. A row is skipped whole rather than trimmed to its
good groups, because a page with a character silently missing would teach the detector that the
character is background.

Boxes partly outside the image are clipped to it (scans are sometimes cropped after annotation, and a
clipped box still marks real ink); a box with no area left inside the image is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR
from kuzushiji_tf.datasets.kaggle_labels import HEADER, LabelsFileError, iter_csv_rows, parse_truth_labels
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS, ImageError, inspect_image
from kuzushiji_tf.structures import CODE_PATTERN, Char, Page

TRAIN_CSV = "train.csv"
TRANSLATION_CSV = "unicode_translation.csv"
SAMPLE_SUBMISSION_CSV = "sample_submission.csv"
TRAIN_IMAGES = "train_images"
TEST_IMAGES = "test_images"
BUNDLED_TRANSLATION = SAMPLE_KAGGLE_DIR / TRANSLATION_CSV
ON_ERROR_CHOICES = ("raise", "skip")


class DataError(LabelsFileError):
    """A problem in the input data, located as precisely as we can: `file:line: image_id 'ID': problem`."""

    def __init__(self, file, problem: str, line: int | None = None, image_id: str | None = None):
        super().__init__(file, line, image_id, problem)
        self.file = self.path


@dataclass(frozen=True)
class Skipped:
    """One row or image left out under `on_error="skip"`."""

    file: str
    line: int | None
    image_id: str | None
    problem: str

    @classmethod
    def from_error(cls, error: DataError) -> Skipped:
        return cls(error.file, error.line, error.image_id, error.problem)


@dataclass
class ReadResult:
    pages: list[Page]
    rows: int = 0  # data rows in the CSV, header excluded
    skipped: list[Skipped] = field(default_factory=list)
    clipped_boxes: int = 0


def check_image_id(image_id: str) -> str | None:
    """The problem with an image id used as a file name, or None. Ids must never leave the image folder."""
    if not image_id or image_id != image_id.strip():
        return f"image id {image_id!r} is empty or has surrounding spaces"
    if "/" in image_id or "\\" in image_id or ".." in image_id:
        return (
            f"image id {image_id!r} contains '/', '\\' or '..'; refused (it would name a file outside the image folder)"
        )
    if PurePosixPath(image_id).is_absolute() or PureWindowsPath(image_id).is_absolute() or ":" in image_id:
        return f"image id {image_id!r} is an absolute path; refused"
    return None


def csv_rows(path: Path, header: tuple[str, ...]):
    """`iter_csv_rows` with its errors as DataError, so callers catch one type."""
    try:
        yield from iter_csv_rows(path, header)
    except DataError:
        raise
    except LabelsFileError as error:
        raise DataError(error.path, error.problem, line=error.line, image_id=error.image_id) from None


def read_unicode_translation(path: str | Path) -> dict[str, str]:
    """`unicode_translation.csv` -> {"U+304B": "か", ...}. Always strict: the vocabulary must be whole."""
    path = Path(path)
    table: dict[str, str] = {}
    for line, fields in csv_rows(path, ("Unicode", "char")):
        if len(fields) != 2:
            raise DataError(path, f"expected 2 fields (Unicode,char), found {len(fields)}", line=line)
        code, char = fields[0].strip(), fields[1]
        if not CODE_PATTERN.match(code):
            raise DataError(path, f"code {code!r} is not U+ and 4-5 upper-case hex digits", line=line)
        if code in table:
            raise DataError(path, f"code {code} appears twice", line=line)
        table[code] = char
    if not table:
        raise DataError(path, "has a header but no codes")
    return table


def translation_path(data_dir: str | Path) -> Path:
    """The table that checks a folder's codes: its own `unicode_translation.csv` if it has one, else the Kaggle
    table bundled here (CODH and the XML layouts ship none)."""
    own = Path(data_dir) / TRANSLATION_CSV
    return own if own.is_file() else BUNDLED_TRANSLATION


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}; received {on_error!r}")


def page_image_size(
    csv_path, line: int | None, image_id: str, image_path: Path, max_pixels: int, formats: tuple[str, ...] = ("JPEG",)
) -> tuple[int, int]:
    """(width, height) from the image header (one of `formats`); any problem is a DataError located at the
    file and line (a CSV row, an XML element) naming the page."""
    try:
        info = inspect_image(image_path, max_pixels=max_pixels, formats=formats)
    except ImageError as error:
        raise DataError(csv_path, str(error), line=line, image_id=image_id) from None
    return info.width, info.height


class BoxError(KuzushijiError, ValueError):
    """A box that cannot be used; the message is the problem alone, for callers to locate."""


def checked_box(
    code: str, x: int, y: int, w: int, h: int, width: int = 0, height: int = 0, clip: bool = True
) -> tuple[tuple[float, float, float, float], bool]:
    """xywh -> ((x0, y0, x1, y1), clipped). With `clip`, the box is clipped to the width x height image
    (see the module docstring); raises BoxError for a box with no width or height, or none left inside."""
    if w <= 0 or h <= 0:
        raise BoxError(f"box {code} {x} {y} {w} {h} has a width or height <= 0")
    box, clipped = (x, y, x + w, y + h), False
    if clip:
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if x1 <= x0 or y1 <= y0:
            raise BoxError(f"box {code} {x} {y} {w} {h} lies outside the {width}x{height} image")
        clipped = (x0, y0, x1, y1) != box
        box = (x0, y0, x1, y1)
    return tuple(float(v) for v in box), clipped


def _parse_train_row(path, line, fields, vocabulary, image_dir, seen, max_pixels, check_images):
    """One train.csv row -> (Page, clipped box count); raises DataError for anything wrong."""
    if len(fields) != 2:
        raise DataError(path, f"expected 2 fields (image_id,labels), found {len(fields)}", line=line)
    image_id, labels = fields[0].strip(), fields[1]
    problem = check_image_id(image_id)
    if problem:
        raise DataError(path, problem, line=line)
    if image_id in seen:
        raise DataError(path, f"duplicate image id (first seen on line {seen[image_id]})", line=line, image_id=image_id)
    try:
        codes, xywh = parse_truth_labels(labels)
    except ValueError as error:
        raise DataError(path, str(error), line=line, image_id=image_id) from None
    for index, code in enumerate(codes):
        if code not in vocabulary:
            raise DataError(
                path, f"group {index + 1}: code {code} is not in {TRANSLATION_CSV}", line=line, image_id=image_id
            )
    image_path = image_dir / f"{image_id}.jpg"
    width = height = 0
    if check_images:
        width, height = page_image_size(path, line, image_id, image_path, max_pixels)
    chars, clipped = [], 0
    for index, (code, (x, y, w, h)) in enumerate(zip(codes, xywh.tolist())):
        try:
            box, was_clipped = checked_box(code, x, y, w, h, width, height, clip=check_images)
        except BoxError as error:
            raise DataError(path, f"group {index + 1}: {error}", line=line, image_id=image_id) from None
        clipped += was_clipped
        chars.append(Char(code, box))
    return Page(image_id, image_path, width, height, tuple(chars)), clipped


def read_train(
    data_dir: str | Path,
    *,
    vocabulary: dict[str, str] | None = None,
    on_error: str = "raise",
    check_images: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    csv_name: str = TRAIN_CSV,
    images_name: str = TRAIN_IMAGES,
) -> ReadResult:
    """Reads `train.csv` and checks each page's image header (existence, format, size) and boxes.
    `csv_name` and `images_name` read another labelled split of the same layout, e.g. a synthetic set's
    test_truth.csv with test_images/.

    Pixel data is not decoded here (that is the record builder's job, which reports corrupt data the
    same way); `check_images=False` reads the CSV alone, e.g. to score a submission.
    """
    check_on_error(on_error)
    data_dir = Path(data_dir)
    if vocabulary is None:
        vocabulary = read_unicode_translation(data_dir / TRANSLATION_CSV)
    path, image_dir = data_dir / csv_name, data_dir / images_name
    result, seen = ReadResult(pages=[]), {}
    for line, fields in csv_rows(path, HEADER):
        result.rows += 1
        try:
            page, clipped = _parse_train_row(path, line, fields, vocabulary, image_dir, seen, max_pixels, check_images)
        except DataError as error:
            if on_error == "raise":
                raise
            result.skipped.append(Skipped.from_error(error))
            continue
        seen[page.image_id] = line
        result.pages.append(page)
        result.clipped_boxes += clipped
    return result


def read_test(
    data_dir: str | Path, *, on_error: str = "raise", check_images: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ReadResult:
    """Test pages, unlabelled: the ids of `sample_submission.csv`, or the `test_images/` folder without one."""
    check_on_error(on_error)
    data_dir = Path(data_dir)
    path, image_dir = data_dir / SAMPLE_SUBMISSION_CSV, data_dir / TEST_IMAGES
    if path.is_file():
        entries = list(csv_rows(path, HEADER))
    elif image_dir.is_dir():
        path = image_dir
        entries = [(None, [p.stem, ""]) for p in sorted(image_dir.glob("*.jpg"))]
    else:
        return ReadResult(pages=[])
    result, seen = ReadResult(pages=[]), {}
    for line, fields in entries:
        result.rows += 1
        try:
            if len(fields) != 2:
                raise DataError(path, f"expected 2 fields (image_id,labels), found {len(fields)}", line=line)
            image_id = fields[0].strip()
            problem = check_image_id(image_id)
            if problem:
                raise DataError(path, problem, line=line)
            if image_id in seen:
                raise DataError(
                    path, f"duplicate image id (first seen on line {seen[image_id]})", line=line, image_id=image_id
                )
            image_path, width, height = image_dir / f"{image_id}.jpg", 0, 0
            if check_images:
                width, height = page_image_size(path, line, image_id, image_path, max_pixels)
        except DataError as error:
            if on_error == "raise":
                raise
            result.skipped.append(Skipped.from_error(error))
            continue
        seen[image_id] = line
        result.pages.append(Page(image_id, image_path, width, height, ()))
    return result
