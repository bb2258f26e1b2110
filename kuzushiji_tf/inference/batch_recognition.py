"""Many page files through the exported page recogniser, a batch at a time, with bounded memory: only
one batch of encoded files is in memory. A page the graph refuses (corrupt, not an image, too large) is
retried alone, so one bad file costs its own result, not its batch's."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import tensorflow as tf

from kuzushiji_tf.inference.page_recognizer import CODES, OUT_BOXES, page_results, refusal_message
from kuzushiji_tf.progress import Progress


@dataclass(frozen=True)
class PageResult:
    """One file's outcome: `result` (see `page_recognizer.page_results`) or `error` (one line)."""

    path: Path
    result: dict | None = None
    error: str | None = None


def _read(path: Path, load: Callable[[Path], bytes]) -> tuple[bytes | None, str | None]:
    try:
        return load(path), None
    except OSError as error:
        return None, f"cannot read: {error.strerror or error}"
    except ValueError as error:  # the loader's own refusal (ImageError is a ValueError)
        return None, str(error)


def recognize_files(serve, paths: Iterable[str | Path], *, batch_size: int = 4, progress: bool = True,
                    label: str = "recognize ", load: Callable[[Path], bytes] = Path.read_bytes) -> Iterator[PageResult]:
    """Yields a `PageResult` per path, in order. `serve` is the SavedModel's serving_default function;
    `load` turns a path into the encoded bytes the graph takes (JPEG or PNG) or raises OSError/ValueError."""
    paths = [Path(p) for p in paths]
    with Progress(len(paths), "pages", label=label, enabled=progress) as bar:
        for start in range(0, len(paths), batch_size):
            batch = paths[start:start + batch_size]
            data = [_read(p, load) for p in batch]
            good = [i for i, (blob, _) in enumerate(data) if blob is not None]
            results: dict[int, PageResult] = {i: PageResult(batch[i], error=data[i][1]) for i in range(len(batch))
                                              if data[i][0] is None}
            try:
                outputs = serve(images=tf.constant([data[i][0] for i in good])) if good else None
                for k, i in enumerate(good):
                    results[i] = PageResult(batch[i], result=page_results(outputs, k))
            except tf.errors.InvalidArgumentError:
                for i in good:  # find the refused page(s) by running each alone
                    try:
                        results[i] = PageResult(batch[i], result=page_results(serve(images=tf.constant([data[i][0]]))))
                    except tf.errors.InvalidArgumentError as error:
                        results[i] = PageResult(batch[i], error=refusal_message(error.message))
            for i in range(len(batch)):
                yield results[i]
            bar.update(len(batch))


def submission_points(serve, pages: Iterable, *, batch_size: int = 4, progress: bool = True,
                      label: str = "recognize ") -> dict[str, list[tuple[str, float, float]]]:
    """`{image_id: [(code, x, y), ...]}` of Pages (with `image_path`) through the recogniser, in page order:
    each character's point is its box centre, as a Kaggle submission gives it. A page the recogniser
    cannot read raises ValueError naming the file. `tools/make_submission.py` and
    `real_evaluation.measure_recognizer` both score this."""
    pages = list(pages)
    points = {}
    # The generator first: zip then resumes it after the last page, so its progress bar reaches the end.
    for found, page in zip(recognize_files(serve, [p.image_path for p in pages], batch_size=batch_size,
                                           progress=progress, label=label), pages):
        if found.error:
            raise ValueError(f"{found.path}: {found.error}")
        centres = (found.result[OUT_BOXES][:, :2] + found.result[OUT_BOXES][:, 2:]) / 2
        points[page.image_id] = [(code, float(x), float(y)) for code, (x, y) in zip(found.result[CODES], centres)]
    return points
