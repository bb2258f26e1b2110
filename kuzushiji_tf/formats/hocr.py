"""hOCR 1.2: OCR results inside XHTML, read by hocr-tools, OCRmyPDF-style text layers and browsers.

Nesting: ocr_page / one ocr_carea per block / one ocr_line per column / per character an ocrx_word
(bbox, x_wconf) holding an ocrx_cinfo span (x_bboxes, x_confs): the spec limits ocrx_cinfo to x_confs,
x_bboxes and cuts, so the character's box there is `x_bboxes`, and `bbox` sits on its word. Confidences
are percentages (class probability x 100), as the spec recommends.

A character with several candidates holds them as the spec's alternative readings: a
`<span class="alternatives">` with the reading chosen as `<ins class="alt">` first, then each other
candidate as `<del class="alt">`, most probable first as the record lists them, each with `x_cost`, its
negative natural log probability (the spec asks for `nlp` or `x_cost` on each). An hOCR-aware reader
takes the `ins` text; a plain text extractor also sees the `del` ones.

Vertical writing is stated the way the spec asks for writing direction, with HTML and CSS: lang="ja" and
`writing-mode: vertical-rl` on the page, so a browser shows the columns as they stand on the page. Not
`textangle 90`: the spec defines it as text rotated counter-clockwise (Latin running bottom to top),
and kuzushiji characters stand upright in their columns.

No whitespace goes inside a line: between inline spans it would render as spaces between characters.
"""

from __future__ import annotations

import math

from lxml import etree

from kuzushiji_tf.formats.layout import Box, page_blocks
from kuzushiji_tf.formats.source import PageSource

XHTML = "http://www.w3.org/1999/xhtml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CAPABILITIES = "ocr_page ocr_carea ocr_line ocrx_word ocrx_cinfo ocrp_lang ocrp_wconf"


def _el(parent, tag: str, tail: str | None = None, **attrs):
    element = etree.SubElement(parent, f"{{{XHTML}}}{tag}", attrs)
    element.tail = tail
    return element


def _bbox(box: Box) -> str:
    return " ".join(str(v) for v in box)


def cost(probability: float) -> str:
    """`x_cost` of a candidate: -ln(probability), 4 decimals (a probability of 0 costs as much as 1e-6)."""
    return f"{-math.log(max(probability, 1e-6)):.4f}" if probability < 1 else "0.0000"


def quoted(value: str) -> str:
    """A property string value: double quotes, with backslash escapes as Tesseract and hocr-tools read them."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(record: dict, source: PageSource) -> str:
    html = etree.Element(f"{{{XHTML}}}html", nsmap={None: XHTML}, lang="ja")
    html.set(XML_LANG, "ja")
    html.text = "\n"
    head = _el(html, "head", "\n")
    head.text = "\n"
    _el(head, "title", "\n").text = source.image
    _el(head, "meta", "\n", **{"http-equiv": "Content-Type", "content": "text/html; charset=utf-8"})
    for name, content in (
        ("ocr-system", source.software),
        ("ocr-capabilities", CAPABILITIES),
        ("ocr-number-of-pages", "1"),
        ("ocr-langs", "ja"),
        ("ocr-scripts", "Jpan"),
    ):
        _el(head, "meta", "\n", name=name, content=content)
    body = _el(html, "body", "\n")
    body.text = "\n"
    n = source.page_number
    page = _el(
        body,
        "div",
        "\n",
        **{
            "class": "ocr_page",
            "id": f"page_{n}",
            "style": "writing-mode: vertical-rl",
            "title": f"image {quoted(source.image)}; bbox 0 0 {source.width} {source.height}; ppageno {n - 1}",
        },
    )
    page.text = "\n"
    for block in page_blocks(record, source):
        area = _el(
            page,
            "div",
            "\n",
            **{"class": "ocr_carea", "id": f"block_{n}_{block.number + 1}", "title": f"bbox {_bbox(block.box)}"},
        )
        area.text = "\n"
        for column in block.columns:
            line = _el(
                area,
                "span",
                "\n",
                **{"class": "ocr_line", "id": f"line_{n}_{column.number + 1}", "title": f"bbox {_bbox(column.box)}"},
            )
            for glyph in column.glyphs:
                percent = 100 * glyph.probability
                word = _el(
                    line,
                    "span",
                    **{
                        "class": "ocrx_word",
                        "id": f"word_{n}_{glyph.index + 1}",
                        "title": f"bbox {_bbox(glyph.box)}; x_wconf {round(percent)}",
                    },
                )
                cinfo = _el(
                    word,
                    "span",
                    **{"class": "ocrx_cinfo", "title": f"x_bboxes {_bbox(glyph.box)}; x_confs {percent:.2f}"},
                )
                if len(glyph.candidates) < 2:
                    cinfo.text = glyph.char
                    continue
                alternatives = _el(cinfo, "span", **{"class": "alternatives"})
                for k, candidate in enumerate(glyph.candidates):
                    _el(
                        alternatives,
                        "ins" if k == 0 else "del",
                        **{"class": "alt", "title": f"x_cost {cost(candidate.probability)}"},
                    ).text = candidate.char
    return etree.tostring(html, xml_declaration=True, encoding="UTF-8", doctype="<!DOCTYPE html>").decode("utf-8")
