"""CODH's per-book layout -> the same validated `Page`s as the Kaggle reader (`reader.read_train`).

Kaggle's pages came from CODH's 日本古典籍くずし字データセット, which is downloaded as one folder per book:

    <root>/<book>/<book>_coordinate.csv   Unicode,Image,X,Y,Block ID,Char ID,Width,Height (one row per character;
                                          Image is the page id, X,Y the top-left corner, Width,Height pixels)
    <root>/<book>/images/<Image>.jpg

`data_dir` is either the root of many book folders or one book folder. The book of a page is its book
folder (`umgy00000` holds pages `umgy001-009`, ...), not the prefix of its id. CODH has no test pages.
Codes are checked against `<data_dir>/unicode_translation.csv` when there is one, else against the Kaggle
table bundled with the package. Validation, error messages, clipping and the error policy are the Kaggle
reader's (see its module docstring), with one difference that the layout forces: a page is many rows, so
under `on_error="skip"` a problem in any row skips the whole page (all its rows) as one listed entry.
Images without rows are not read: CODH lists no rows for pages it did not annotate, and reading such a page
as empty would teach the detector that its ink is background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kuzushiji_tf.datasets.kaggle_labels import CODE_RULE
from kuzushiji_tf.datasets.kaggle_reader import (
    BoxError,
    DataError,
    ReadResult,
    Skipped,
    check_image_id,
    check_on_error,
    checked_box,
    csv_rows,
    page_image_size,
    read_unicode_translation,
    translation_path,
)
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.structures import CODE_PATTERN, Char, Page

CODH_HEADER = ("Unicode", "Image", "X", "Y", "Block ID", "Char ID", "Width", "Height")
COORDINATE_SUFFIX = "_coordinate.csv"
IMAGES = "images"
_INTEGER_FIELDS = (("X", 2), ("Y", 3), ("Width", 6), ("Height", 7))


@dataclass(frozen=True)
class Book:
    """One CODH book: its name (the folder's) and its coordinate CSV; images are in `images/` beside it."""

    name: str
    csv: Path

    @property
    def image_dir(self) -> Path:
        return self.csv.parent / IMAGES


def _direct_and_nested(path: Path) -> tuple[list[Path], list[Path]]:
    direct = sorted(p for p in path.glob("*" + COORDINATE_SUFFIX) if p.is_file())
    nested = sorted(p for p in path.glob("*/*" + COORDINATE_SUFFIX) if p.is_file())
    return direct, nested


def is_codh_dir(path: str | Path) -> bool:
    """True if `path` is a CODH book folder (a `*_coordinate.csv` in it) or a root of book folders."""
    path = Path(path)
    return path.is_dir() and any(_direct_and_nested(path))


def find_books(data_dir: str | Path) -> list[Book]:
    """The books of a CODH folder, sorted by name: the folder itself if it holds a `*_coordinate.csv`,
    else each sub-folder `<book>/` holding `<book>_coordinate.csv`. Raises DataError for anything else."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(data_dir, "folder is missing")
    direct, nested = _direct_and_nested(data_dir)
    if direct and nested:
        raise DataError(
            data_dir,
            f"holds both {direct[0].name} and book folders with their own coordinate CSV "
            f"({nested[0].relative_to(data_dir).as_posix()}); point --data-dir at the root of the "
            "book folders or at one book folder",
        )
    if len(direct) > 1:
        raise DataError(
            data_dir,
            f"holds {len(direct)} coordinate CSVs ({', '.join(p.name for p in direct)}); "
            f"a CODH book folder holds one, <book>{COORDINATE_SUFFIX}",
        )
    if direct:
        return [Book(data_dir.resolve().name, direct[0])]
    if not nested:
        raise DataError(
            data_dir,
            f"no CODH data: looked for *{COORDINATE_SUFFIX} in the folder itself and "
            f"<book>/<book>{COORDINATE_SUFFIX} in its sub-folders",
        )
    for path in nested:
        if path.name != path.parent.name + COORDINATE_SUFFIX:
            raise DataError(
                path,
                f"a CODH book folder names its CSV after itself: expected "
                f"{path.parent.name}/{path.parent.name}{COORDINATE_SUFFIX}",
            )
    return [Book(path.parent.name, path) for path in nested]


@dataclass
class _PageRows:
    """The rows of one page id in one book, in file order, and the first problem found in any of them."""

    first_line: int
    rows: list[tuple[int, str, int, int, int, int]] = field(default_factory=list)  # line, code, x, y, w, h
    error: DataError | None = None


def _parse_row(
    path: Path, line: int, fields: list[str], image_id: str | None, vocabulary: dict[str, str], table: Path
) -> tuple[int, str, int, int, int, int]:
    if image_id is not None:
        problem = check_image_id(image_id)
        if problem:
            raise DataError(path, problem, line=line)
    if len(fields) != len(CODH_HEADER):
        raise DataError(
            path,
            f"expected {len(CODH_HEADER)} fields ({','.join(CODH_HEADER)}), found {len(fields)}",
            line=line,
            image_id=image_id,
        )
    code = fields[0].strip()
    if not CODE_PATTERN.match(code):
        raise DataError(path, f"code {code!r} is not {CODE_RULE}", line=line, image_id=image_id)
    values = []
    for name, index in _INTEGER_FIELDS:
        text = fields[index].strip()
        if not (text.isascii() and text.isdigit()):  # no sign, decimal point or exponent, as in train.csv
            raise DataError(path, f"{name} {text!r} is not a non-negative integer", line=line, image_id=image_id)
        values.append(int(text))
    x, y, w, h = values
    try:
        checked_box(code, x, y, w, h, clip=False)
    except BoxError as error:
        raise DataError(path, str(error), line=line, image_id=image_id) from None
    if code not in vocabulary:
        raise DataError(path, f"code {code} is not in {table}", line=line, image_id=image_id)
    return line, code, x, y, w, h


def _read_book_rows(
    book: Book, vocabulary: dict[str, str], table: Path, on_error: str, result: ReadResult
) -> dict[str, _PageRows]:
    """{image_id: its rows}, pages in order of first appearance. A row that names no page is skipped alone."""
    pages: dict[str, _PageRows] = {}
    for line, fields in csv_rows(book.csv, CODH_HEADER):
        result.rows += 1
        image_id = fields[1].strip() if len(fields) > 1 else ""
        try:
            row = _parse_row(book.csv, line, fields, image_id or None, vocabulary, table)
        except DataError as error:
            if on_error == "raise":
                raise
            if not image_id:
                result.skipped.append(Skipped.from_error(error))
            else:
                rows = pages.setdefault(image_id, _PageRows(line))
                rows.error = rows.error or error
            continue
        # CODH rows come in Block ID / Char ID order (its reading order); the file order is kept as it is,
        # as the Kaggle reader keeps the order of the label groups.
        pages.setdefault(image_id, _PageRows(line)).rows.append(row)
    return pages


def _make_page(book: Book, image_id: str, rows: _PageRows, check_images: bool, max_pixels: int) -> tuple[Page, int]:
    image_path = book.image_dir / f"{image_id}.jpg"
    width = height = 0
    if check_images:
        width, height = page_image_size(book.csv, rows.first_line, image_id, image_path, max_pixels)
    chars, clipped = [], 0
    for line, code, x, y, w, h in rows.rows:
        try:
            box, was_clipped = checked_box(code, x, y, w, h, width, height, clip=check_images)
        except BoxError as error:
            raise DataError(book.csv, str(error), line=line, image_id=image_id) from None
        clipped += was_clipped
        chars.append(Char(code, box))
    return Page(image_id, image_path, width, height, tuple(chars), source_book=book.name), clipped


def read_codh(
    data_dir: str | Path,
    *,
    vocabulary: dict[str, str] | None = None,
    on_error: str = "raise",
    check_images: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ReadResult:
    """Reads every book's coordinate CSV and checks each page's image header and boxes.

    Pages come book by book (books sorted by name), each book's pages in order of their first row.
    `ReadResult.rows` counts character rows; `skipped` lists one entry per skipped page (or per row that
    names no page). `vocabulary` defaults to the table of `translation_path(data_dir)`.
    """
    check_on_error(on_error)
    data_dir = Path(data_dir)
    books = find_books(data_dir)
    table = translation_path(data_dir)
    if vocabulary is None:
        vocabulary = read_unicode_translation(table)
    result = ReadResult(pages=[])
    owner: dict[str, tuple[Book, int]] = {}  # image id -> the book whose CSV named it first, and the line
    for book in books:
        for image_id, rows in _read_book_rows(book, vocabulary, table, on_error, result).items():
            first = owner.setdefault(image_id, (book, rows.first_line))
            try:
                if rows.error is not None:
                    raise rows.error
                if first[0] is not book:
                    raise DataError(
                        book.csv,
                        f"image id is also used by book {first[0].name} "
                        f"({first[0].csv}:{first[1]}); a page belongs to one book",
                        line=rows.first_line,
                        image_id=image_id,
                    )
                page, clipped = _make_page(book, image_id, rows, check_images, max_pixels)
            except DataError as error:
                if on_error == "raise":
                    raise
                result.skipped.append(Skipped.from_error(error))
                continue
            result.pages.append(page)
            result.clipped_boxes += clipped
    return result
