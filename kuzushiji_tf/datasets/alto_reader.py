"""ALTO (v2 to v4) -> `LayoutPage`: the glyphs of a library's or eScriptorium's ALTO file, or of our own
(`kuzushiji_tf.formats.alto`), with their text and boxes.

Read: `Description/sourceImageInformation/fileName`; the one `Layout/Page` and its `WIDTH`/`HEIGHT`; every
`Glyph` in document order (ALTO's reading order is the order of its elements), its `CONTENT`, and its box:
the axis-aligned box of its `Shape/Polygon` when it has one (the exact outline), else `HPOS`, `VPOS`,
`WIDTH`, `HEIGHT`.

Refused, with the file, the element and its line: coordinates in another `MeasurementUnit` than pixel
(mm10 and inch1200 need the scan's resolution, which ALTO does not have to state); a file of several pages;
a Glyph without coordinates or CONTENT; a TextBlock or TextLine holding no Glyph, and a String with CONTENT
but no Glyph (see `page_xml_reader` for why).
"""

from __future__ import annotations

import math
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

PIXEL = "pixel"
_POSITION = ("HPOS", "VPOS", "WIDTH", "HEIGHT")


def read_alto(root, path: Path) -> LayoutPage:
    """The page of a parsed ALTO file (`root` its alto element); raises DataError naming what is wrong."""
    ns = etree.QName(root).namespace

    def q(tag: str) -> str:
        return f"{{{ns}}}{tag}"

    unit = root.find(f"{q('Description')}/{q('MeasurementUnit')}")
    if unit is not None and (unit.text or "").strip() != PIXEL:
        raise DataError(
            path,
            f"MeasurementUnit is {(unit.text or '').strip()!r}: only pixel coordinates are read (mm10 and "
            "inch1200 need the scan's resolution)",
            line=unit.sourceline,
        )
    pages = root.findall(f"{q('Layout')}/{q('Page')}")
    if len(pages) != 1:
        raise DataError(
            path, f"holds {len(pages)} Layout/Page elements; one ALTO file per page image is read", line=root.sourceline
        )
    page = pages[0]
    name = root.find(f"{q('Description')}/{q('sourceImageInformation')}/{q('fileName')}")
    # Lines first, so the message names the innermost element that lacks glyphs.
    for tag, only_with_text in (("TextLine", False), ("String", True), ("TextBlock", False)):
        refuse_glyphless(
            path,
            page.iter(q(tag)),
            q("Glyph"),
            lambda e: (e.get("CONTENT") or "").strip(),
            only_with_text=only_with_text,
        )
    return LayoutPage(
        image_name=None if name is None or not (name.text or "").strip() else name.text.strip(),
        image_line=(name if name is not None else page).sourceline,
        width=positive_attribute(path, page, "WIDTH"),
        height=positive_attribute(path, page, "HEIGHT"),
        glyphs=tuple(_glyph(path, element, q) for element in page.iter(q("Glyph"))),
    )


def _glyph(path: Path, element, q) -> LayoutGlyph:
    where = element_label(element)
    polygon = element.find(f"{q('Shape')}/{q('Polygon')}")
    if polygon is not None:
        points = polygon.get("POINTS") or ""
        box = points_box(points)
        if box is None:
            raise DataError(
                path, f"{where}: Polygon POINTS {points!r} is not a list of x,y pairs", line=polygon.sourceline
            )
    elif all(element.get(name) is not None for name in _POSITION):
        try:
            x, y, w, h = (float(element.get(name)) for name in _POSITION)
        except ValueError:
            values = " ".join(f"{name}={element.get(name)!r}" for name in _POSITION)
            raise DataError(path, f"{where}: {values} are not numbers", line=element.sourceline) from None
        if not all(map(math.isfinite, (x, y, w, h))):
            raise DataError(path, f"{where}: HPOS, VPOS, WIDTH, HEIGHT must be finite numbers", line=element.sourceline)
        box = (x, y, x + w, y + h)
    else:
        raise DataError(
            path,
            f"{where} has no coordinates (HPOS, VPOS, WIDTH, HEIGHT or Shape/Polygon): every character needs its box",
            line=element.sourceline,
        )
    text = (element.get("CONTENT") or "").strip()
    if not text:
        raise DataError(path, f"{where} has no CONTENT: its character is unknown", line=element.sourceline)
    return LayoutGlyph(element.sourceline, element.get("ID"), text, box)
