"""Output formats of a recognised page, one module each, and the registry the command-line tools use.

Every format is written from the same input: the page record of `kuzushiji_tf.recognition.page_text.
page_record` (characters in reading order with boxes, columns and blocks) and a `PageSource` (the image
and coordinate frame). Per-page formats expose `render(record, source) -> str`; TEI, one file per run,
exposes `render_document(pages, *, created) -> str`. No TensorFlow is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kuzushiji_tf.formats import alto, hocr, iiif_annotations, json_record, page_xml, tei, txt
from kuzushiji_tf.formats.source import PageSource

__all__ = ["DEFAULT_FORMATS", "FORMATS", "Format", "PageSource", "parse_formats"]


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # per page: appended to the page's name (`scan.jpg.page.xml`); per run: the file's whole name
    per_page: bool  # False: one file for the whole run
    render: Callable  # per page: render(record, source) -> str; per run: render(pages, *, created) -> str
    description: str
    media_type: str = "application/xml"  # what a server answers it as

    def render_page(self, record: dict, source: PageSource) -> str:
        """One page in this format; a per-run format (TEI) as a document of that page alone."""
        if self.per_page:
            return self.render(record, source)
        return self.render([(record, source)], created=source.created)

    def file_name(self, page_name: str | None = None) -> str:
        if not self.per_page:
            return self.suffix
        if page_name is None:
            raise ValueError(f"format {self.name!r} writes one file per page: give the page's name")
        return page_name + self.suffix


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "txt",
            ".txt",
            True,
            txt.render,
            "plain text, one column a line in reading order",
            "text/plain; charset=utf-8",
        ),
        Format(
            "json",
            ".json",
            True,
            json_record.render,
            "the page record: every character, box and score",
            "application/json",
        ),
        Format(
            "page", ".page.xml", True, page_xml.render, "PRImA PAGE-XML 2019-07-15 (Transkribus, eScriptorium, OCR-D)"
        ),
        Format("alto", ".alto.xml", True, alto.render, "ALTO v4.4 XML (library digitisation, METS/ALTO)"),
        Format(
            "hocr",
            ".hocr.html",
            True,
            hocr.render,
            "hOCR 1.2 XHTML (hocr-tools, text layers, browsers)",
            "application/xhtml+xml",
        ),
        Format(
            "tei",
            "tei.xml",
            False,
            tei.render_document,
            "one TEI P5 document for the run, text linked to facsimile zones",
        ),
        Format(
            "iiif",
            ".annotations.json",
            True,
            iiif_annotations.render,
            "IIIF Presentation 3 AnnotationPage (viewers such as Mirador)",
            "application/ld+json",
        ),
    )
}
DEFAULT_FORMATS = "txt,json"


def parse_formats(spec: str) -> list[str]:
    """Format names from a comma-separated list ("txt,json", "page, alto") or "all", in the order given,
    each once. Raises ValueError naming an unknown format and listing the known ones."""
    names = [part.strip().lower() for part in spec.split(",") if part.strip()]
    if not names:
        raise ValueError(f"no output format given; known formats: {', '.join(FORMATS)} (or 'all')")
    if "all" in names:
        return list(FORMATS)
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ValueError(
            f"unknown output format{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)}; known formats: {', '.join(FORMATS)} (or 'all')"
        )
    return list(dict.fromkeys(names))
