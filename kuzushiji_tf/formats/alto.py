"""ALTO v4.4 (Library of Congress): the OCR format of library digitisation (METS/ALTO, newspapers).

Nesting: Page / PrintSpace (the whole frame) / one TextBlock per block / one TextLine per column / one
String per column (kuzushiji has no word spaces; CONTENT is the column's text) / one Glyph per character
(ALTO 4 allows Glyph inside String, each with CONTENT, GC = class probability and its own position).
A Glyph's other candidates are its Variant children, most probable first as the record lists them, each
with CONTENT and VC (its probability): ALTO's per-glyph alternatives.

Vertical writing: BASEDIRECTION="ttb" on each TextBlock (ALTO 4.3+, the CSS writing-mode term for lines
that run top to bottom). Not ROTATION: that rotates the content, and kuzushiji characters stand upright.
Not BASELINE: a polyline a column's characters would have to rest on, which is a horizontal notion. The
right-to-left order of the columns is the order of the TextLine elements, ALTO's implicit reading order.

Processing history goes in `Processing`, not `OCRProcessing`: ALTO 4 deprecates the latter in its schema.
"""

from __future__ import annotations

from lxml import etree

from kuzushiji_tf.formats.layout import Box, page_blocks
from kuzushiji_tf.formats.source import PageSource

NS = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_URL = "http://www.loc.gov/alto/v4/alto-4-4.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _el(parent, tag: str, **attrs):
    return etree.SubElement(parent, f"{{{NS}}}{tag}", {k: str(v) for k, v in attrs.items()})


def _position(box: Box) -> dict:
    x0, y0, x1, y1 = box
    return {"HPOS": x0, "VPOS": y0, "WIDTH": x1 - x0, "HEIGHT": y1 - y0}


def _content(char: str, code: str) -> str:
    """Glyph and Variant CONTENT: exactly one character (the schema's Glyph allows no more); a translation
    longer than that falls back to the code point."""
    return char if len(char) == 1 else chr(int(code[2:], 16))


def _description(root, source: PageSource) -> None:
    description = _el(root, "Description")
    _el(description, "MeasurementUnit").text = "pixel"
    _el(_el(description, "sourceImageInformation"), "fileName").text = source.image
    processing = _el(description, "Processing", ID="processing_1")
    _el(processing, "processingCategory").text = "contentGeneration"
    _el(processing, "processingDateTime").text = source.timestamp()
    _el(processing, "processingStepDescription").text = "character detection, classification and reading order"
    software = _el(processing, "processingSoftware")
    _el(software, "softwareName").text = source.software_name
    if source.software_version:
        _el(software, "softwareVersion").text = source.software_version


def render(record: dict, source: PageSource) -> str:
    root = etree.Element(f"{{{NS}}}alto", nsmap={None: NS, "xsi": XSI}, SCHEMAVERSION="4.4")
    root.set(f"{{{XSI}}}schemaLocation", f"{NS} {SCHEMA_URL}")
    _description(root, source)
    n = source.page_number
    page = _el(
        _el(root, "Layout"),
        "Page",
        ID=f"page_{n}",
        PHYSICAL_IMG_NR=n,
        WIDTH=source.width,
        HEIGHT=source.height,
        PROCESSINGREFS="processing_1",
        LANG="ja",
    )
    space = _el(page, "PrintSpace", **_position((0, 0, source.width, source.height)))
    for block in page_blocks(record, source):
        text_block = _el(
            space, "TextBlock", ID=f"block_{block.number + 1}", **_position(block.box), LANG="ja", BASEDIRECTION="ttb"
        )
        for column in block.columns:
            line_id = f"line_{column.number + 1}"
            line = _el(text_block, "TextLine", ID=line_id, **_position(column.box))
            string = _el(line, "String", ID=f"{line_id}_string", **_position(column.box), CONTENT=column.text)
            for glyph in column.glyphs:
                element = _el(
                    string,
                    "Glyph",
                    ID=f"glyph_{glyph.index + 1}",
                    CONTENT=_content(glyph.char, glyph.code),
                    GC=f"{glyph.probability:.4f}",
                    **_position(glyph.box),
                )
                for candidate in glyph.candidates[1:]:
                    _el(
                        element,
                        "Variant",
                        CONTENT=_content(candidate.char, candidate.code),
                        VC=f"{candidate.probability:.4f}",
                    )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode("utf-8")
