"""The files a recognised page is written to, one per chosen format, and the run's TEI document.

Every file is written atomically (a temporary name, then a rename) and the .json comes last, so after a
kill a page either has all its files or is redone; `complete` checks every file, not only the .json,
because a run may ask for more formats than the earlier one wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from lxml import etree

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.formats import FORMATS, PageSource, tei
from kuzushiji_tf.scans import ScanPage

VISUALIZATION = "png"  # the --visualize picture's key and suffix among a page's files


def with_records(formats: Iterable[str]) -> list[str]:
    """`formats` in order, plus "json" when TEI is asked for: the run's TEI is built from every page's .json
    at the end, pages done by an earlier run included."""
    formats = list(dict.fromkeys(formats))
    if "tei" in formats and "json" not in formats:
        formats.append("json")
    return formats


def page_file_names(page_name: str, formats: Sequence[str]) -> dict[str, str]:
    """{format name: file name} of a page's own files in writing order, the .json last (a page whose .json
    is there has every other file too); relative to the output folder, whatever filesystem holds it."""
    names = [name for name in formats if FORMATS[name].per_page and name != "json"]
    names += ["json"] if "json" in formats else []
    return {name: FORMATS[name].file_name(page_name) for name in names}


def page_files(page: ScanPage, out_dir: Path, formats: Sequence[str], visualize: bool) -> dict[str, Path]:
    """{format name: path} of the page's own files in writing order: the picture first, the .json last."""
    files = {name: out_dir / file for name, file in page_file_names(page.name, formats).items()}
    if visualize:
        files = {VISUALIZATION: out_dir / f"{page.name}.{VISUALIZATION}", **files}
    return files


def complete(files: dict[str, Path]) -> bool:
    return all(path.is_file() for path in files.values())


def page_source(page: ScanPage, record: dict, page_number: int, created: str) -> PageSource:
    """The frame is the record's (already mapped to the canvas for IIIF pages); the image is the page's source."""
    return PageSource(
        image=page.source,
        width=record["width"],
        height=record["height"],
        canvas=page.canvas,
        manifest=page.manifest,
        page_number=page_number,
        created=created,
    )


def write_page(files: dict[str, Path], record: dict, source: PageSource, picture: bytes | None = None) -> None:
    for name, path in files.items():
        data = picture if name == VISUALIZATION else FORMATS[name].render(record, source)
        write_atomic(path, data, make_parents=True)


def read_record(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _created_of(text: str) -> str | None:
    """The creation date an earlier run wrote into its tei.xml, or None."""
    try:
        found = etree.fromstring(text.encode("utf-8")).find(
            f"{{{tei.NS}}}teiHeader/{{{tei.NS}}}profileDesc/{{{tei.NS}}}creation/{{{tei.NS}}}date"
        )
    except etree.XMLSyntaxError:
        return None
    return None if found is None else found.get("when")


def tei_text(
    existing: str | None, pages: Sequence[tuple[dict, PageSource]], created: str, *, new_pages: bool
) -> str | None:
    """The run's TEI over `pages`, or None when the `existing` document (None: no file yet) stays as it is.
    A run that recognised no page (`new_pages` False) keeps the earlier document's date, so a rerun over
    finished pages rewrites nothing."""
    if not new_pages and existing is not None:
        text = tei.render_document(pages, created=_created_of(existing) or created)
        return None if text == existing else text
    return tei.render_document(pages, created=created)


def write_tei(path: Path, pages: Sequence[tuple[dict, PageSource]], created: str, *, new_pages: bool) -> bool:
    """Writes the run's TEI over `pages` (see `tei_text`); returns whether the file was written."""
    try:
        existing = path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        existing = None
    text = tei_text(existing, pages, created, new_pages=new_pages)
    if text is None:
        return False
    write_atomic(path, text, make_parents=True)
    return True
