"""PRImA PAGE-XML 2019-07-15: the layout format of Transkribus, eScriptorium, OCR-D and Aletheia.

Nesting: one TextRegion per block, one TextLine per column, one Word per column (PAGE puts Word between
TextLine and Glyph, and kuzushiji has no word divisions, so the Word is the whole column), one Glyph per
character. A Glyph carries one TextEquiv per candidate of the record, in its order: `index` 1 is the
reading chosen (the Glyph's text; PAGE reads the lowest index as the main text), 2.. the alternatives,
each with `conf`, its probability. Vertical writing is stated with PAGE's own attributes, on the Page (inherited) and again on
each region for tools that only read the region: readingDirection="top-to-bottom" (characters in a line)
and textLineOrder="right-to-left" (lines in a region).
"""

from __future__ import annotations

from lxml import etree

from kuzushiji_tf.formats.layout import page_blocks, rectangle_points
from kuzushiji_tf.formats.source import PageSource

NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
SCHEMA_URL = f"{NS}/pagecontent.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
VERTICAL = {"readingDirection": "top-to-bottom", "textLineOrder": "right-to-left"}
LANGUAGE = {"primaryLanguage": "Japanese", "primaryScript": "Jpan - Japanese"}  # the schema's enumeration values


def _el(parent, tag: str, **attrs):
    return etree.SubElement(parent, f"{{{NS}}}{tag}", {k: str(v) for k, v in attrs.items()})


def _text_equiv(parent, text: str, conf: float | None = None, index: int | None = None) -> None:
    attrs = {} if index is None else {"index": index}
    if conf is not None:
        attrs["conf"] = f"{conf:.4f}"
    equiv = _el(parent, "TextEquiv", **attrs)
    _el(equiv, "Unicode").text = text


def render(record: dict, source: PageSource) -> str:
    root = etree.Element(f"{{{NS}}}PcGts", nsmap={None: NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{NS} {SCHEMA_URL}")
    meta = _el(root, "Metadata")
    _el(meta, "Creator").text = source.software
    stamp = source.timestamp()
    _el(meta, "Created").text = stamp
    _el(meta, "LastChange").text = stamp
    page = _el(
        root,
        "Page",
        imageFilename=source.image,
        imageWidth=source.width,
        imageHeight=source.height,
        **LANGUAGE,
        **VERTICAL,
    )
    blocks = page_blocks(record, source)
    if blocks:  # an OrderedGroup must hold at least one region
        group = _el(_el(page, "ReadingOrder"), "OrderedGroup", id="ro_1")
        for k, block in enumerate(blocks):
            _el(group, "RegionRefIndexed", index=k, regionRef=f"r{block.number + 1}")
    for block in blocks:
        region = _el(page, "TextRegion", id=f"r{block.number + 1}", type="paragraph", **LANGUAGE, **VERTICAL)
        _el(region, "Coords", points=rectangle_points(block.box))
        for k, column in enumerate(block.columns):
            line_id = f"l{column.number + 1}"
            line = _el(region, "TextLine", id=line_id, readingDirection="top-to-bottom", index=k)
            _el(line, "Coords", points=rectangle_points(column.box))
            word = _el(line, "Word", id=f"{line_id}_w1", readingDirection="top-to-bottom")
            _el(word, "Coords", points=rectangle_points(column.box))
            for glyph in column.glyphs:
                element = _el(word, "Glyph", id=f"g{glyph.index + 1}")
                _el(element, "Coords", points=rectangle_points(glyph.box))
                for k, candidate in enumerate(glyph.candidates, start=1):
                    _text_equiv(element, candidate.char, candidate.probability, index=k)
            _text_equiv(word, column.text)
            _text_equiv(line, column.text)
        _text_equiv(region, "\n".join(column.text for column in block.columns))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode("utf-8")
