"""PAGE-XML (PRImA, 2013-07-15 to 2019-07-15) -> `LayoutPage`: the glyphs of a Transkribus, eScriptorium or
OCR-D export, or of our own (`kuzushiji_tf.formats.page_xml`), with their text and boxes.

Read: `Page/@imageFilename`, `@imageWidth`, `@imageHeight`; every `Glyph` in document order (the order the
tools write a page's characters in; PAGE's ReadingOrder, which orders regions, is not applied on top);
its `Coords/@points` polygon (or PAGE 2010's `Point` children) as the polygon's axis-aligned box; its text,
the `Unicode` of the `TextEquiv` with the lowest `@index` (PAGE's main reading: our writer puts the chosen
reading at 1 and the alternatives after it), or of the first `TextEquiv` when none has an index.

Refused, with the file, the element and its line: a Glyph without coordinates or text; a TextLine or
TextRegion holding no Glyph, and a Word with text but no Glyph. Their characters have no boxes, and a page
read without them would teach the detector that their ink is background.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from kuzushiji_tf.datasets.kaggle_reader import DataError
from kuzushiji_tf.datasets.layout_xml import (
    LayoutGlyph,
    LayoutPage,
    element_label,
    points_box,
    positive_attribute,
    refuse_glyphless,
)


def read_page_xml(root, path: Path) -> LayoutPage:
    """The page of a parsed PAGE-XML file (`root` its PcGts element); raises DataError naming what is wrong."""
    ns = etree.QName(root).namespace

    def q(tag: str) -> str:
        return f"{{{ns}}}{tag}"

    pages = root.findall(q("Page"))
    if len(pages) != 1:
        raise DataError(
            path, f"holds {len(pages)} Page elements; a PAGE-XML file describes one page", line=root.sourceline
        )
    page = pages[0]
    # Lines first, so the message names the innermost element that lacks glyphs.
    for tag, only_with_text in (("TextLine", False), ("Word", True), ("TextRegion", False)):
        refuse_glyphless(path, page.iter(q(tag)), q("Glyph"), lambda e: _text(e, q), only_with_text=only_with_text)
    return LayoutPage(
        image_name=page.get("imageFilename"),
        image_line=page.sourceline,
        width=positive_attribute(path, page, "imageWidth"),
        height=positive_attribute(path, page, "imageHeight"),
        glyphs=tuple(_glyph(path, element, q) for element in page.iter(q("Glyph"))),
    )


def _text(element, q) -> str:
    """The element's own main reading (see the module docstring), stripped; "" when it has none."""
    equivs = element.findall(q("TextEquiv"))
    indexed = [e for e in equivs if (e.get("index") or "").strip().lstrip("-").isdigit()]
    chosen = min(indexed, key=lambda e: int(e.get("index"))) if indexed else (equivs[0] if equivs else None)
    unicode = None if chosen is None else chosen.find(q("Unicode"))
    return "" if unicode is None or unicode.text is None else unicode.text.strip()


def _glyph(path: Path, element, q) -> LayoutGlyph:
    where = element_label(element)
    coords = element.find(q("Coords"))
    if coords is None:
        raise DataError(path, f"{where} has no Coords: every character needs its box", line=element.sourceline)
    points = coords.get("points")
    if points is None:  # PAGE 2010 wrote the polygon as Point children
        points = " ".join(f"{p.get('x')},{p.get('y')}" for p in coords.findall(q("Point")))
    box = points_box(points)
    if box is None:
        raise DataError(path, f"{where}: Coords points {points!r} is not a list of x,y pairs", line=coords.sourceline)
    text = _text(element, q)
    if not text:
        raise DataError(
            path, f"{where} has no text (TextEquiv/Unicode): its character is unknown", line=element.sourceline
        )
    return LayoutGlyph(element.sourceline, element.get("id"), text, box)
