"""Recognise scans for researchers: per page one file per chosen output format (`kuzushiji_tf.formats`:
text, JSON record, PAGE-XML, ALTO, hOCR, IIIF annotations), one TEI document for the run, and a
summary.csv over all pages, resumable after a kill.

Pages are `kuzushiji_tf.scans.ScanPage`s (image files, PDF pages, IIIF canvases). Each page's files are
written under temporary names and renamed, the .json last, so a page with every file of the chosen
formats is complete and a rerun skips it. A page that cannot be read or recognised is a `failed` row of
summary.csv with its reason, never the end of the run. Memory stays bounded: one batch of pages is in
flight at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.formats import DEFAULT_FORMATS, FORMATS, parse_formats
from kuzushiji_tf.formats.source import utc_now
from kuzushiji_tf.recognition.batch_recognition import recognize_files
from kuzushiji_tf.recognition.contract import OUT_BOXES
from kuzushiji_tf.recognition.page_outputs import (
    complete,
    page_files,
    page_source,
    read_record,
    with_records,
    write_page,
    write_tei,
)
from kuzushiji_tf.recognition.page_text import page_record
from kuzushiji_tf.scans import ScanError, ScanPage, encoded_size

SUMMARY = "summary.csv"
SUMMARY_FIELDS = ("page", "status", "characters", "columns", "mean_confidence", "error")


def load_sized(page: ScanPage) -> tuple[bytes, tuple[int, int]]:
    """The page's encoded image and its (w, h), read from the header: the recogniser's boxes are in those
    pixels. Raises ScanError (a ValueError) or OSError naming the page."""
    data = page.load()
    try:
        return data, encoded_size(data)
    except Exception as error:  # Pillow raises several kinds for data that is no image
        raise ScanError(f"{page.name}: not a readable image ({error})") from None


class _Loader:
    """`page.load()` for `recognize_files`, remembering each page's image size (the recogniser's boxes are
    in its pixels) and, for --visualize, its bytes, until the page's result is taken: one batch at most."""

    def __init__(self, keep_bytes: bool):
        self.keep_bytes, self.kept = keep_bytes, {}

    def __call__(self, page: ScanPage) -> bytes:
        data, size = load_sized(page)
        self.kept[page.name] = (size, data if self.keep_bytes else None)
        return data

    def take(self, page: ScanPage) -> tuple[tuple[int, int], bytes | None]:
        return self.kept.pop(page.name, ((0, 0), None))


def summary_row(name: str, record: dict | None, status: str = "ok") -> dict:
    if record is None:  # skipped, and its .json is not among the chosen formats
        return {"page": name, "status": status, "characters": "", "columns": "", "mean_confidence": "", "error": ""}
    probs = [c["class_probability"] for c in record["characters"]]
    return {
        "page": name,
        "status": status,
        "characters": len(record["characters"]),
        "columns": len(record["columns"]),
        "mean_confidence": f"{np.mean(probs):.4f}" if probs else "",
        "error": "",
    }


def failed_row(page: ScanPage, error: str) -> dict:
    # A note (a PDF page rendered at a lower DPI) may explain the failure; otherwise it goes to the log only.
    message = f"{error} ({page.note})" if page.note and page.note not in error else error
    return {
        "page": page.name,
        "status": "failed",
        "characters": "",
        "columns": "",
        "mean_confidence": "",
        "error": message,
    }


def summary_text(rows: Sequence[dict]) -> str:
    """summary.csv's text: a header, then `rows` in the order given (the run's page order)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def framed_record(
    page: ScanPage, result: dict, loaded_size: tuple[int, int], translation: dict, *, cls_threshold: float
) -> dict:
    """The page record of one recognised page in its output frame: every detection, those below
    `cls_threshold` (the export's) flagged `uncertain`. Boxes come back in the loaded image's pixels; the
    outputs use the page's frame (a IIIF canvas is fetched smaller than it is), so they are mapped before
    the reading order is built."""
    framed = {**result, OUT_BOXES: page.to_frame(result[OUT_BOXES], loaded_size)}
    return page_record(page.name, framed, translation, size=page.frame_size(loaded_size), cls_threshold=cls_threshold)


def _picture(data: bytes, result: dict, translation: dict) -> bytes:
    from PIL import Image

    from kuzushiji_tf.scans.images import to_rgb8
    from kuzushiji_tf.visualization import draw_page

    with Image.open(io.BytesIO(data)) as image:
        pixels = to_rgb8(image)
    # Drawn on the image the recogniser read, in its pixels (the output frame may be a larger IIIF canvas).
    picture = draw_page(pixels, result["codes"], pred_boxes=result[OUT_BOXES], translation=translation)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def recognize_pages(
    model,
    vocabulary: list[tuple[str, str]],
    pages: Sequence[ScanPage],
    out_dir: str | Path,
    *,
    formats: Sequence[str] = tuple(parse_formats(DEFAULT_FORMATS)),
    batch_size: int = 4,
    force: bool = False,
    visualize: bool = False,
    progress: bool = True,
    created: str | None = None,
    log: Callable[[str], None] = lambda line: None,
    context: bool = True,
) -> list[dict]:
    """Runs `model` (a `page_model.PageModel`) over `pages` and writes every page's files in `formats` (format names of `kuzushiji_tf.formats.FORMATS`; "json" is
    added when "tei" is asked for), OUT/<page name>.png with `visualize`, tei.xml when asked for, and
    summary.csv; returns the summary rows (status `ok`, `skipped` = complete from an earlier run, or
    `failed` with the error). `created` (UTC xsd:dateTime, default now) is one time for the whole run;
    `context` False reads each character alone (`batch_recognition.run_batch`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    formats = with_records(parse_formats(",".join(formats)))  # the registry's own check of the names
    created = created or utc_now()
    translation = dict(vocabulary)
    number = {page.name: k for k, page in enumerate(pages, start=1)}  # page_number: position in the run
    files = {page.name: page_files(page, out_dir, formats, visualize) for page in pages}

    rows: dict[str, dict] = {}
    todo = []
    for page in pages:
        if force or not complete(files[page.name]):
            todo.append(page)
            continue
        record = read_record(files[page.name]["json"]) if "json" in formats else None
        rows[page.name] = summary_row(page.name, record, "skipped")
    if len(todo) < len(pages):
        log(f"{len(pages) - len(todo)} page(s) already done in {out_dir} (--force redoes them)")
    for page in todo:
        if page.note:
            log(page.note)

    loader = _Loader(keep_bytes=visualize)
    for found in recognize_files(model, todo, batch_size=batch_size, progress=progress, load=loader, context=context):
        page = found.item
        loaded_size, data = loader.take(page)
        if found.error:
            rows[page.name] = failed_row(page, found.error)
            continue
        try:
            record = framed_record(
                page, found.result, loaded_size, translation, cls_threshold=model.options.cls_threshold
            )
            picture = _picture(data, found.result, translation) if visualize else None
            write_page(files[page.name], record, page_source(page, record, number[page.name], created), picture)
            rows[page.name] = summary_row(page.name, record)
        except (OSError, ValueError) as error:
            rows[page.name] = failed_row(page, f"{page.name}: {error}")

    ordered = [rows[page.name] for page in pages]
    if "tei" in formats:
        _write_run_tei(pages, ordered, files, out_dir, number, created, log)
    write_atomic(out_dir / SUMMARY, summary_text(ordered), make_parents=True)
    return ordered


def _write_run_tei(pages, rows, files, out_dir: Path, number: dict, created: str, log) -> None:
    """tei.xml over every page that has its outputs (ok now or skipped), read back from the .json files."""
    done = [page for page, row in zip(pages, rows) if row["status"] in ("ok", "skipped")]
    path = out_dir / FORMATS["tei"].file_name()
    if not done:
        log(f"no page was recognised: {path} not written")
        return
    pairs = []
    for page in done:
        record = read_record(files[page.name]["json"])
        pairs.append((record, page_source(page, record, number[page.name], created)))
    if write_tei(path, pairs, created, new_pages=any(row["status"] == "ok" for row in rows)):
        log(f"{path}: {len(done)} page(s)")
