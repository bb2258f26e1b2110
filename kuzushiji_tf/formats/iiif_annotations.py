"""IIIF Presentation 3 annotations: one AnnotationPage per page, which IIIF viewers (Mirador, Universal
Viewer, the IIIF Curation Viewer) lay over the scan, and which a manifest lists under its canvas's
`annotations`.

Per column, in reading order, a `line` annotation followed by a `glyph` annotation per character, each
`supplementing` (a transcription of what is on the canvas) with a plain-text Japanese TextualBody and a
`#xywh=` region of the canvas. `textGranularity` comes from the IIIF text-granularity extension, whose
context is listed before the Presentation 3 context (which must come last).

Without a canvas id (a local scan, not a IIIF image), the target is a stable placeholder derived from the
image name, `urn:kuzushiji-tf:canvas:<image, percent-encoded>`, to be replaced by the real canvas id when
the page is published; the page's and annotations' ids hang under the canvas id either way.

Plain dicts, not iiif-prezi3: its Annotation model refuses `textGranularity` (no extension support), it
has no way to list the extension's context, and it pins Pillow<=12.0.0, below this project's Pillow.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from kuzushiji_tf.formats.layout import Box, page_blocks
from kuzushiji_tf.formats.source import PageSource

CONTEXT = [
    "http://iiif.io/api/extension/text-granularity/context.json",
    "http://iiif.io/api/presentation/3/context.json",
]
PLACEHOLDER_CANVAS = "urn:kuzushiji-tf:canvas:"


def canvas_id(source: PageSource) -> str:
    return source.canvas or PLACEHOLDER_CANVAS + quote(source.image, safe="")


def _annotation(annotation_id: str, granularity: str, text: str, canvas: str, box: Box) -> dict:
    x0, y0, x1, y1 = box
    return {
        "id": annotation_id,
        "type": "Annotation",
        "motivation": "supplementing",
        "textGranularity": granularity,
        "body": {"type": "TextualBody", "value": text, "format": "text/plain", "language": "ja"},
        "target": f"{canvas}#xywh={x0},{y0},{x1 - x0},{y1 - y0}",
    }


def annotation_page(record: dict, source: PageSource) -> dict:
    canvas = canvas_id(source)
    page_id = f"{canvas}/annotations/kuzushiji-tf"
    items = []
    for block in page_blocks(record, source):
        for column in block.columns:
            items.append(_annotation(f"{page_id}/line-{column.number + 1}", "line", column.text, canvas, column.box))
            items.extend(
                _annotation(f"{page_id}/glyph-{g.index + 1}", "glyph", g.char, canvas, g.box) for g in column.glyphs
            )
    return {"@context": CONTEXT, "id": page_id, "type": "AnnotationPage", "items": items}


def render(record: dict, source: PageSource) -> str:
    return json.dumps(annotation_page(record, source), ensure_ascii=False, indent=1)
