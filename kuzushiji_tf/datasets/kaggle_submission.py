"""Predictions <-> Kaggle submission CSV (`image_id,labels` with `U+XXXX X Y` groups).

Reader and writer enforce the same rules (code format, finite coordinates, at most 1,200 points a
page, unique ids, and the expected id set when one is given), so a file we write is a file we can read
back, and a bad file fails before upload with its file, line and image id in the message.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.datasets.kaggle_labels import (
    CODE_RULE,
    HEADER,
    LabelsError,
    LabelsFileError,
    iter_labels_csv,
    parse_prediction_labels,
)
from kuzushiji_tf.structures import CODE_PATTERN

MAX_PREDICTIONS_PER_PAGE = 1200  # Kaggle's rule (docs/recipe.md "Submission")


class SubmissionError(LabelsFileError):
    """A submission that Kaggle would reject or score wrongly; names file, line, image id and problem.

    A subclass of ValueError (through LabelsFileError). `line` is None for problems that have no line in
    the file: an expected id that is missing.
    """


class Prediction(NamedTuple):
    """One predicted character: its `U+XXXX` code and a point in original-image pixels.

    A NamedTuple rather than a dataclass because a test set holds millions of them and they unpack
    as the `(code, x, y)` triples the metric reads.
    """

    code: str
    x: float
    y: float


def _check_ids(
    path: str | Path, ids_with_lines: Sequence[tuple[str, int | None]], expected_ids: Sequence[str] | None
) -> None:
    """Raise SubmissionError for unexpected ids (at their line) or missing expected ids (no line)."""
    if expected_ids is None:
        return
    expected = _unique_ids(path, expected_ids)
    present = set()
    for image_id, line in ids_with_lines:
        if image_id not in expected:
            raise SubmissionError(path, line, image_id, "unexpected image_id (not in the expected id list)")
        present.add(image_id)
    missing = [i for i in expected_ids if i not in present]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise SubmissionError(path, None, missing[0], f"missing expected image_id{more}")


def _unique_ids(path: str | Path, expected_ids: Sequence[str]) -> set[str]:
    expected: set[str] = set()
    for image_id in expected_ids:
        if image_id in expected:
            raise SubmissionError(path, None, image_id, "duplicate image_id in the expected id list")
        expected.add(image_id)
    return expected


def read_submission(path: str | Path, expected_ids: Sequence[str] | None = None) -> dict[str, list[Prediction]]:
    """Read and validate a submission CSV.

    Args:
        path: the CSV file.
        expected_ids: when given (for example the ids of sample_submission.csv), every id must be in it
            and every one of it must be present, as Kaggle requires.
    Returns:
        `{image_id: [Prediction, ...]}` in file order, predictions in submission order (the metric gives
        a box to the first matching prediction, so order matters). Empty or NaN labels give [].
    Raises:
        SubmissionError: naming file, 1-based line (header = line 1), image id and the problem.
        OSError: the file cannot be opened.
    """
    by_id: dict[str, list[Prediction]] = {}
    lines: dict[str, int] = {}
    try:
        for line, image_id, labels in iter_labels_csv(path):
            if image_id in by_id:
                raise SubmissionError(path, line, image_id, f"duplicate image_id (first on line {lines[image_id]})")
            try:
                codes, points = parse_prediction_labels(labels)
            except LabelsError as e:
                raise SubmissionError(path, line, image_id, e.problem) from None
            if len(codes) > MAX_PREDICTIONS_PER_PAGE:
                raise SubmissionError(
                    path, line, image_id, f"{len(codes)} predictions, more than the {MAX_PREDICTIONS_PER_PAGE} allowed"
                )
            by_id[image_id] = [Prediction(c, x, y) for c, (x, y) in zip(codes.tolist(), points.tolist())]
            lines[image_id] = line
    except SubmissionError:
        raise
    except LabelsFileError as e:  # header, field count, encoding: same message, submission's type
        raise SubmissionError(e.path, e.line, e.image_id, e.problem) from None
    _check_ids(path, list(lines.items()), expected_ids)
    return by_id


def _round_half_up(value: float) -> int:
    # Half up rather than Python's half-to-even, so 10.5 and 11.5 move the same way.
    return math.floor(value + 0.5)


def format_labels(predictions: Iterable[Prediction | tuple[str, float, float]]) -> str:
    """`U+XXXX X Y ...` with points rounded to integers; no validation (see `write_submission`)."""
    return " ".join(f"{code} {_round_half_up(x)} {_round_half_up(y)}" for code, x, y in predictions)


def _validated_labels(path: Path, line: int, image_id: str, predictions: Iterable) -> str:
    """Check one page's predictions as the reader would, then format them."""
    if not isinstance(image_id, str) or not image_id.strip() or image_id != image_id.strip():
        raise SubmissionError(path, line, str(image_id), "image_id must be non-empty text without outer spaces")
    predictions = list(predictions)
    if len(predictions) > MAX_PREDICTIONS_PER_PAGE:
        raise SubmissionError(
            path, line, image_id, f"{len(predictions)} predictions, more than the {MAX_PREDICTIONS_PER_PAGE} allowed"
        )
    for k, item in enumerate(predictions, start=1):
        try:
            code, x, y = item
        except (TypeError, ValueError):
            raise SubmissionError(path, line, image_id, f"prediction {k} {item!r} is not (code, x, y)") from None
        if not isinstance(code, str) or not CODE_PATTERN.match(code):
            raise SubmissionError(path, line, image_id, f"prediction {k}: code {code!r} is not {CODE_RULE}")
        for name, value in (("x", x), ("y", y)):
            try:
                finite = math.isfinite(float(value)) and not isinstance(value, (str, bytes))
            except (TypeError, ValueError):
                finite = False
            if not finite:
                raise SubmissionError(
                    path, line, image_id, f"prediction {k} ({code}): {name} {value!r} is not a finite number"
                )
    return format_labels((code, float(x), float(y)) for code, x, y in predictions)


def write_submission(
    path: str | Path,
    predictions_by_id: Mapping[str, Iterable[Prediction | tuple[str, float, float]]],
    expected_ids: Sequence[str] | None = None,
) -> Path:
    """Validate, then write a submission atomically.

    Everything is checked before a byte is written, and the file is written to a temporary name in the
    same folder and moved into place with os.replace, so a failure never leaves a half-written or
    invalid submission behind (nor replaces a good one).

    Args:
        path: destination CSV.
        predictions_by_id: `{image_id: [(code, x, y), ...]}`; points in original-image pixels, written
            as integers rounded half up. A page with no predictions is written with empty labels.
        expected_ids: when given, rows follow this order and the id sets must be equal; otherwise rows
            follow the mapping's order.
    Returns:
        The path written.
    Raises:
        SubmissionError: naming the destination, the line the row would have, the image id and the problem.
    """
    path = Path(path)
    order = list(expected_ids) if expected_ids is not None else list(predictions_by_id)
    if expected_ids is not None:
        position = {image_id: i + 2 for i, image_id in enumerate(order)}
        _check_ids(path, [(i, position.get(i)) for i in predictions_by_id], expected_ids)
    rows = [
        (image_id, _validated_labels(path, line, image_id, predictions_by_id[image_id]))
        for line, image_id in enumerate(order, start=2)
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return write_atomic(path, buffer.getvalue())
