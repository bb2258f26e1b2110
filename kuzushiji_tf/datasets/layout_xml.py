"""What a PAGE-XML or ALTO file says about its page, before any image is opened: the shared types, the safe
parse and the polygon-to-box rule of `page_xml_reader` and `alto_reader`, and which of the two a file is.

A file is told by its root element and namespace alone (PAGE's `PcGts`, ALTO's `alto`), so a folder can
hold other XML beside them (a METS file, Transkribus' metadata.xml) without being misread.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from kuzushiji_tf.datasets.kaggle_reader import DataError

# PAGE 2013-07-15 (Transkribus, Aletheia) to 2019-07-15 (our own writer, OCR-D) share the elements read here;
# the 2009/2010 versions also used `Point` children instead of `Coords/@points`, which the reader accepts too.
PAGE_NS_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
ALTO_NS = re.compile(r"^http://www\.loc\.gov/standards/alto/ns-v[234]#$")
XML_SUFFIX = ".xml"
UNREADABLE = "unreadable"

# No entity expansion or network access: a data folder is someone else's files, and both would let an XML
# file read local files or hosts while it is parsed.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class LayoutGlyph:
    """One Glyph element: where the file puts it (`line`, `element_id`), its text and its axis-aligned box."""

    line: int
    element_id: str | None
    text: str
    box: tuple[float, float, float, float]  # xyxy in the file's pixels, as written (not clipped)

    @property
    def where(self) -> str:
        return f"Glyph {self.element_id!r}" if self.element_id else "Glyph"


@dataclass(frozen=True)
class LayoutPage:
    """One file's page: the image it names (as written), the frame it declares and its glyphs in file order."""

    image_name: str | None
    image_line: int | None  # the line of the element naming the image
    width: float | None  # the page frame the coordinates are in, when the file states it
    height: float | None
    glyphs: tuple[LayoutGlyph, ...]


def kind_of(root) -> str | None:
    """The kind of a root element: "page" (PAGE-XML), "alto" (ALTO) or None (any other XML)."""
    name = etree.QName(root)
    if name.localname == "PcGts" and (name.namespace or "").startswith(PAGE_NS_PREFIX):
        return "page"
    if name.localname == "alto" and ALTO_NS.match(name.namespace or ""):
        return "alto"
    return None


def root_kind(path: Path) -> str | None:
    """The kind of a file from its first element only (cheap for a folder of thousands): "page", "alto",
    None for any other XML, UNREADABLE when not even the first element can be read (the full parse says why)."""
    try:
        for _, element in etree.iterparse(str(path), events=("start",), resolve_entities=False, no_network=True):
            return kind_of(element)
    except (etree.XMLSyntaxError, OSError):
        return UNREADABLE
    return UNREADABLE  # no element at all


def xml_files(data_dir: Path) -> list[Path]:
    """Every *.xml under `data_dir`, sorted by path; hidden folders (.git, a build's .state) left out."""
    found = (p for p in data_dir.rglob("*") if p.suffix.lower() == XML_SUFFIX and p.is_file())
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(data_dir).parts))


def parse(path: Path):
    """The root element; a file that is not well-formed XML is a DataError naming its line."""
    try:
        return etree.parse(str(path), _PARSER).getroot()
    except etree.XMLSyntaxError as error:
        line = error.lineno if error.lineno and error.lineno > 0 else None
        raise DataError(path, f"not well-formed XML: {error.msg}", line=line) from None
    except OSError as error:
        raise DataError(path, f"cannot be read ({error})") from None


def points_box(points: str) -> tuple[float, float, float, float] | None:
    """ "x,y x,y ..." (PAGE, ALTO) or "x y x y ..." (older ALTO) -> the polygon's axis-aligned xyxy box, or
    None when the text is not a list of number pairs."""
    numbers = points.replace(",", " ").split()
    if not numbers or len(numbers) % 2:
        return None
    try:
        values = [float(v) for v in numbers]
    except ValueError:
        return None
    if not all(map(math.isfinite, values)):
        return None
    xs, ys = values[0::2], values[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def element_label(element) -> str:
    """`TextLine 'l3'` (or `TextLine` when it has no id): how messages name an element."""
    name = etree.QName(element).localname
    element_id = element.get("id") or element.get("ID")
    return f"{name} {element_id!r}" if element_id else name


def positive_attribute(path: Path, element, name: str) -> float | None:
    """A size attribute (PAGE imageWidth, ALTO WIDTH) as a number, None when absent; DataError when it is
    there but not a positive number."""
    value = element.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise DataError(
            path, f"{element_label(element)}: {name} {value!r} is not a positive number", line=element.sourceline
        )
    return number


def refuse_glyphless(path: Path, elements, glyph_tag: str, text_of, *, only_with_text: bool) -> None:
    """DataError for the first of `elements` with no Glyph inside (with `only_with_text`: with text and no
    Glyph): its characters have no boxes, and its ink, read as part of the page, would be learnt as
    background."""
    for element in elements:
        if element.find(f".//{glyph_tag}") is not None:
            continue
        text = text_of(element)
        if only_with_text and not text:
            continue
        shown = f" (its text: {text[:20]!r}{'...' if len(text) > 20 else ''})" if text else ""
        raise DataError(
            path,
            f"{element_label(element)} has no Glyph elements{shown}: every character needs its own box; export "
            "glyph-level coordinates, or leave the page out",
            line=element.sourceline,
        )
