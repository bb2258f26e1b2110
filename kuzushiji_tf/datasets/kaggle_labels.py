"""The `labels` column of Kaggle's CSVs, parsed and validated in one place.

`train.csv` holds groups of five (`U+XXXX X Y W H`), submissions groups of three (`U+XXXX X Y`). The
reader, the submission module and the metric all parse these strings, so a malformed file fails the
same way everywhere: `LabelsError` says which group is wrong, `LabelsFileError` adds file, line and id.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.structures import CODE_PATTERN

HEADER = ("image_id", "labels")
CODE_RULE = "'U+' and 4-5 upper-case hex digits"


class LabelsError(KuzushijiError, ValueError):
    """A malformed labels string.

    Attributes:
        group: 1-based number of the offending group, or None when the problem is not one group's.
        problem: the message without the file context, for callers that add it.
    """

    def __init__(self, problem: str, group: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.group = group


class LabelsFileError(KuzushijiError, ValueError):
    """A problem in one row of a CSV file: the message names the file, the line, the image id and the value.

    `line` is the 1-based line in the file (the header is line 1), or None when the problem has no line
    (an expected id that is missing); `image_id` is None when the row has none.
    """

    def __init__(self, path: str | Path, line: int | None, image_id: str | None, problem: str):
        where = f"{path}" if line is None else f"{path}:{line}"
        who = "" if image_id is None else f" image_id {image_id!r}:"
        super().__init__(f"{where}:{who} {problem}")
        self.path, self.line, self.image_id, self.problem = str(path), line, image_id, problem


def is_empty_labels(text: object) -> bool:
    """True for a page with no labels: None, NaN (how pandas reads an empty cell) or blank text."""
    if text is None:
        return True
    if isinstance(text, float) and math.isnan(text):
        return True
    return isinstance(text, str) and not text.strip()


def _split_groups(text: object, size: int, layout: str) -> list[str]:
    """Whitespace tokens of a labels string, checked to fill whole groups of `size`."""
    if is_empty_labels(text):
        return []
    if not isinstance(text, str):
        raise LabelsError(f"labels must be text, got {type(text).__name__} {text!r}")
    tokens = text.split()
    if len(tokens) % size:
        last = len(tokens) // size + 1
        tail = " ".join(tokens[(last - 1) * size :])
        raise LabelsError(
            f"{len(tokens)} fields do not make groups of {size} ({layout}): group {last} {tail!r} is incomplete",
            group=last,
        )
    return tokens


def _group_text(tokens: list[str], size: int, index: int) -> str:
    return " ".join(tokens[index * size : (index + 1) * size])


def _check_codes(tokens: list[str], size: int) -> np.ndarray:
    codes = tokens[0::size]
    for i, code in enumerate(codes):
        if not CODE_PATTERN.match(code):
            raise LabelsError(
                f"group {i + 1} {_group_text(tokens, size, i)!r}: code {code!r} is not {CODE_RULE}", group=i + 1
            )
    return np.asarray(codes, dtype=str)


def parse_truth_labels(text: object) -> tuple[np.ndarray, np.ndarray]:
    """Parse a `train.csv` labels string of `U+XXXX X Y W H` groups.

    Fields must be non-negative integers: Kaggle's boxes are whole pixels, so anything else means a
    corrupt or wrong file rather than a rounding choice.

    Returns:
        codes: str array [N], `U+XXXX` labels in file order.
        boxes_xywh: int64 array [N, 4], top-left corner and size in original-image pixels.
    Raises:
        LabelsError: with the 1-based group number and the problem.
    """
    tokens = _split_groups(text, 5, "U+XXXX X Y W H")
    codes = _check_codes(tokens, 5)
    fields = [t for i, t in enumerate(tokens) if i % 5]
    joined = "".join(fields)
    # One C-level check for the common, valid case; the loop only runs to name the bad field.
    if joined and not (joined.isascii() and joined.isdigit()):
        for i, field in enumerate(fields):
            if not (field.isascii() and field.isdigit()):  # no sign, decimal point or exponent
                group = i // 4 + 1
                raise LabelsError(
                    f"group {group} {_group_text(tokens, 5, group - 1)!r}: {'XYWH'[i % 4]} {field!r} is not a "
                    "non-negative integer",
                    group=group,
                )
    try:
        values = np.asarray(fields, dtype=np.int64).reshape(-1, 4)
    except OverflowError:
        raise LabelsError(f"a field in {text!r} does not fit in 64 bits") from None
    return codes, values


def parse_prediction_labels(text: object) -> tuple[np.ndarray, np.ndarray]:
    """Parse a submission labels string of `U+XXXX X Y` groups.

    X and Y may be integers or decimals (Kaggle accepted both); NaN and infinity are refused because
    they can never lie inside a box and usually mean a bug upstream.

    Returns:
        codes: str array [N], in submission order (the order decides which prediction a box takes).
        points_xy: float64 array [N, 2], in original-image pixels.
    Raises:
        LabelsError: with the 1-based group number and the problem.
    """
    tokens = _split_groups(text, 3, "U+XXXX X Y")
    codes = _check_codes(tokens, 3)
    fields = [t for i, t in enumerate(tokens) if i % 3]
    joined = "".join(fields)
    try:
        # float() also takes full-width digits and `1_000`; Kaggle's parser would not, so neither do we.
        values = np.asarray(fields, dtype=np.float64)
        ok = bool(np.isfinite(values).all()) and joined.isascii() and "_" not in joined
    except ValueError:
        ok = False
    if not ok:
        for i, field in enumerate(fields):
            try:
                good = field.isascii() and "_" not in field and math.isfinite(float(field))
            except ValueError:
                good = False
            if not good:
                group = i // 2 + 1
                raise LabelsError(
                    f"group {group} {_group_text(tokens, 3, group - 1)!r}: {'XY'[i % 2]} {field!r} is not a "
                    "finite number",
                    group=group,
                )
    return codes, values.reshape(-1, 2)


def iter_csv_rows(path: str | Path, header: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """Yield `(line, fields)` for each non-blank row of a CSV after checking its header.

    Line numbers are 1-based with the header on line 1, so error messages point at what an editor shows.
    Raises LabelsFileError for a missing or empty file, a wrong header, text that is not UTF-8 or a
    malformed CSV. The file is read lazily.
    """
    if not Path(path).is_file():
        raise LabelsFileError(path, None, None, "file is missing")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            first = next(reader, None)
            if first is None or tuple(h.strip() for h in first) != header:
                raise LabelsFileError(path, 1, None, f"header must be {','.join(header)!r}, got {first!r}")
            for row in reader:
                if row:
                    yield reader.line_num, row
        except UnicodeDecodeError as e:
            raise LabelsFileError(path, reader.line_num + 1, None, f"not UTF-8 text ({e.reason})") from None
        except csv.Error as e:
            raise LabelsFileError(path, reader.line_num, None, f"malformed CSV ({e})") from None


def iter_labels_csv(path: str | Path) -> Iterator[tuple[int, str, str]]:
    """Yield `(line, image_id, labels)` for each row of an `image_id,labels` CSV, blank lines skipped.

    Raises LabelsFileError (see `iter_csv_rows`), also for a row without exactly two fields or an empty id.
    """
    for line, row in iter_csv_rows(path, HEADER):
        if len(row) != 2:
            raise LabelsFileError(
                path, line, row[0] or None, f"expected 2 fields (image_id,labels), got {len(row)}: {row!r}"
            )
        image_id, labels = row[0].strip(), row[1]
        if not image_id:
            raise LabelsFileError(path, line, None, f"empty image_id in row {row!r}")
        yield line, image_id, labels


def read_truth_csv(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a `train.csv`-style file into `{image_id: (codes [N], boxes_xywh int64 [N, 4])}`, file order.

    A light reader for scoring: no images are opened (the full reader is `kaggle/reader.py`). Raises
    LabelsFileError naming file, line and id for a malformed labels string or a duplicate id.
    """
    pages: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    first_line: dict[str, int] = {}
    for line, image_id, labels in iter_labels_csv(path):
        if image_id in pages:
            raise LabelsFileError(path, line, image_id, f"duplicate image_id (first on line {first_line[image_id]})")
        try:
            pages[image_id] = parse_truth_labels(labels)
        except LabelsError as e:
            raise LabelsFileError(path, line, image_id, e.problem) from None
        first_line[image_id] = line
    return pages
