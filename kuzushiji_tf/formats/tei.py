"""TEI P5: one document for a whole run, in the shape of NDL's TEI export and TEI Publisher's facsimile
editions: the text in <body>, and the page images in <facsimile>, joined by `facs` pointers.

<facsimile> holds a <surface> per page (its frame, a <graphic url>), and inside it a <zone> per block,
inside that a <zone> per column, inside that a <zone> per character. <body> carries, per page, a
<pb facs="#surface"/>, an <ab> per block, and per column an <lb facs="#column zone"/> followed by the
column's characters, each a <c facs="#character zone">, so any character leads back to its place on the
scan. A character the recogniser is unsure of (`uncertain` in the record: its class probability is below
the class threshold) has `cert="low"`, TEI's own degree of certainty. Vertical writing is declared once as a CSS rendition (writing-mode: vertical-rl) that <body> uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from kuzushiji_tf.formats.layout import Box, page_blocks
from kuzushiji_tf.formats.source import PageSource

NS = "http://www.tei-c.org/ns/1.0"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _el(parent, tag: str, text: str | None = None, **attrs):
    element = etree.SubElement(parent, f"{{{NS}}}{tag}", {k: str(v) for k, v in attrs.items()})
    element.text = text
    return element


def _zone(parent, zone_id: str, kind: str, box: Box):
    zone = _el(parent, "zone", type=kind, ulx=box[0], uly=box[1], lrx=box[2], lry=box[3])
    zone.set(XML_ID, zone_id)
    return zone


def _header(tei, pages: Sequence[tuple[dict, PageSource]], created: str) -> None:
    software = pages[0][1] if pages else PageSource(image="", width=1, height=1)
    header = _el(tei, "teiHeader")
    file_desc = _el(header, "fileDesc")
    _el(_el(file_desc, "titleStmt"), "title", f"Machine transcription of {len(pages)} page(s) of kuzushiji")
    _el(
        _el(file_desc, "publicationStmt"), "p", f"Unpublished: written by {software.software}, not checked by a reader."
    )
    sources = _el(_el(file_desc, "sourceDesc"), "list", type="sources")
    for image in dict.fromkeys(source.image for _, source in pages):  # in order, once each
        _el(sources, "item", image)
    encoding = _el(header, "encodingDesc")
    application = _el(
        _el(encoding, "appInfo"), "application", ident=software.software_name, version=software.software_version or "0"
    )
    _el(application, "label", software.software_name)
    rendition = _el(_el(encoding, "tagsDecl"), "rendition", "writing-mode: vertical-rl;", scheme="css")
    rendition.set(XML_ID, "vertical-rl")
    profile = _el(header, "profileDesc")
    _el(_el(profile, "creation"), "date", created, when=created)
    _el(_el(profile, "langUsage"), "language", "Japanese", ident="ja")


def render_document(pages: Sequence[tuple[dict, PageSource]], *, created: str) -> str:
    """The run's TEI document. `created`: xsd:date or dateTime of the run (creation/date@when)."""
    tei = etree.Element(f"{{{NS}}}TEI", nsmap={None: NS})
    _header(tei, pages, created)
    manifests = {source.manifest for _, source in pages} - {None}
    facsimile = _el(tei, "facsimile", **({"sameAs": manifests.pop()} if len(manifests) == 1 else {}))
    text = _el(tei, "text")
    text.set(XML_LANG, "ja")
    body = _el(text, "body", rendition="#vertical-rl")
    for number, (record, source) in enumerate(pages, start=1):
        page_id = f"page-{number}"
        surface = _el(
            facsimile,
            "surface",
            ulx=0,
            uly=0,
            lrx=source.width,
            lry=source.height,
            **({"sameAs": source.canvas} if source.canvas else {}),
        )
        surface.set(XML_ID, page_id)
        _el(surface, "graphic", url=source.image, width=f"{source.width}px", height=f"{source.height}px")
        _el(body, "pb", n=number, facs=f"#{page_id}")
        for block in page_blocks(record, source):
            block_id = f"{page_id}-block-{block.number + 1}"
            block_zone = _zone(surface, block_id, "block", block.box)
            # Text inside <ab> makes it mixed content, which pretty printing leaves alone: indentation
            # between <c> elements would read as spaces between characters. A newline comes before each <lb/>.
            ab = _el(body, "ab", "\n", facs=f"#{block_id}")
            last = None
            for column in block.columns:
                line_id = f"{page_id}-line-{column.number + 1}"
                line_zone = _zone(block_zone, line_id, "line", column.box)
                if last is not None:
                    last.tail = "\n"
                _el(ab, "lb", facs=f"#{line_id}")
                for glyph in column.glyphs:
                    char_id = f"{page_id}-char-{glyph.index + 1}"
                    _zone(line_zone, char_id, "character", glyph.box)
                    last = _el(ab, "c", glyph.char, facs=f"#{char_id}", **({"cert": "low"} if glyph.uncertain else {}))
            last.tail = "\n"
    return etree.tostring(tei, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode("utf-8")
