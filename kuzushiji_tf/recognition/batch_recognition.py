"""Many pages through an exported page recogniser (`backends.loading.load_page_model`: the SavedModel or the
ONNX export), a batch at a time, with bounded memory: only one batch of encoded pages is in memory. A
page the recogniser refuses (corrupt, not an image, too large) is retried alone, so one bad page costs
its own result, not its batch's. No TensorFlow here: the ONNX backend runs without it.

Two uses, kept apart: the research outputs (`recognize_files`, `run_batch`, `page_detections`) give every
detection above the detection threshold; the Kaggle submission (`submission_points`, `kaggle_points`)
alone drops the characters below the class threshold. Both read each page in context (`context.read_in_context`:
columns decoded with the language model and the export's settings) unless `context=False`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuzushiji_tf.progress import Progress
from kuzushiji_tf.recognition.context import read_in_context
from kuzushiji_tf.recognition.contract import CODES, OUT_BOXES, PageRefused
from kuzushiji_tf.recognition.postprocess import confident, page_results


@dataclass(frozen=True)
class PageResult:
    """One page's outcome: `result` (see `postprocess.page_results`) or `error` (one line). `item` is
    what the caller passed for the page (a path, a `ScanPage`)."""

    item: Any
    result: dict | None = None
    error: str | None = None


def read_path(path) -> bytes:
    return Path(path).read_bytes()


def _read(item, load: Callable[[Any], bytes]) -> tuple[bytes | None, str | None]:
    try:
        return load(item), None
    except OSError as error:
        return None, f"cannot read: {error.strerror or error}"
    except ValueError as error:  # the loader's own refusal (ImageError and ScanError are ValueErrors)
        return None, str(error)


def run_batch(model, pages: list[bytes], *, context: bool = True) -> list[tuple[dict | None, str | None]]:
    """`(result, None)` or `(None, reason)` for each encoded page of one batch, in order; a result holds every
    detection (`postprocess.page_results`: the class threshold is not applied), read in context unless
    `context` is False. A batch the model refuses is run again a page at a time, so a refused page costs its
    own result, not its batch's."""
    if not pages:
        return []

    def read(outputs, k: int = 0) -> dict:
        result = page_results(outputs, k)
        return read_in_context(result, model.options) if context else result

    try:
        outputs = model(pages)
        return [(read(outputs, k), None) for k in range(len(pages))]
    except PageRefused:
        found = []
        for page in pages:
            try:
                found.append((read(model([page])), None))
            except PageRefused as error:
                found.append((None, str(error)))
        return found


def recognize_files(
    model,
    items: Iterable,
    *,
    batch_size: int = 4,
    progress: bool = True,
    label: str = "recognize ",
    load: Callable[[Any], bytes] = read_path,
    context: bool = True,
) -> Iterator[PageResult]:
    """Yields a `PageResult` per item, in order. `model` is a `contract.PageModel` (list of encoded
    pages -> padded outputs, `PageRefused` for a refused page); `load` turns an item (by default a file
    path) into the encoded bytes the graph takes (JPEG or PNG) or raises OSError/ValueError. Items are
    loaded a batch at a time, just before their batch runs. Each result holds every detection, as the
    research outputs keep them; the Kaggle submission alone drops the unsure ones (`submission_points`)."""
    items = list(items)
    with Progress(len(items), "pages", label=label, enabled=progress) as bar:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            data = [_read(item, load) for item in batch]
            good = [i for i, (blob, _) in enumerate(data) if blob is not None]
            results: dict[int, PageResult] = {
                i: PageResult(batch[i], error=data[i][1]) for i in range(len(batch)) if data[i][0] is None
            }
            for i, found in zip(good, run_batch(model, [data[i][0] for i in good], context=context)):
                results[i] = PageResult(batch[i], *found)
            del data  # the batch's bytes go before the next batch is read
            for i in range(len(batch)):
                yield results[i]
            bar.update(len(batch))


def page_detections(
    model,
    pages: Iterable,
    *,
    batch_size: int = 4,
    progress: bool = True,
    label: str = "recognize ",
    context: bool = True,
) -> dict[str, dict]:
    """`{image_id: result}` of Pages (with `image_path`) through the recogniser, in page order: every
    detection of each page (`postprocess.page_results`). A page the recogniser cannot read raises
    ValueError naming the file."""
    pages = list(pages)
    found_pages = {}
    # The generator first: zip then resumes it after the last page, so its progress bar reaches the end.
    for found, page in zip(
        recognize_files(
            model, [p.image_path for p in pages], batch_size=batch_size, progress=progress, label=label, context=context
        ),
        pages,
    ):
        if found.error:
            raise ValueError(f"{found.item}: {found.error}")
        found_pages[page.image_id] = found.result
    return found_pages


def result_points(result: dict) -> list[tuple[str, float, float]]:
    """`[(code, x, y)]` of a result's characters: each box's centre, as a Kaggle submission gives it."""
    centres = (result[OUT_BOXES][:, :2] + result[OUT_BOXES][:, 2:]) / 2
    return [(code, float(x), float(y)) for code, (x, y) in zip(result[CODES], centres)]


def kaggle_points(detections: dict[str, dict], cls_threshold: float) -> dict[str, list[tuple[str, float, float]]]:
    """`{image_id: [(code, x, y), ...]}` of `page_detections` for a Kaggle submission: only the characters
    whose class reaches `cls_threshold` (`postprocess.confident`), since Kaggle's metric counts a wrong
    name as much as a missed character. The one place the class threshold drops characters."""
    return {image_id: result_points(confident(result, cls_threshold)) for image_id, result in detections.items()}


def submission_points(
    model,
    pages: Iterable,
    *,
    batch_size: int = 4,
    progress: bool = True,
    label: str = "recognize ",
    context: bool = True,
) -> dict[str, list[tuple[str, float, float]]]:
    """`{image_id: [(code, x, y), ...]}` of Pages (with `image_path`) through the recogniser, in page order,
    the export's class threshold applied (`kaggle_points`): what `kuzushiji-make-submission` writes and
    `measure.real_pages.measure_recognizer` scores. A page the recogniser cannot read raises ValueError
    naming the file."""
    detections = page_detections(model, pages, batch_size=batch_size, progress=progress, label=label, context=context)
    return kaggle_points(detections, model.options.cls_threshold)
