"""A page a person corrected (the web page's editing mode) back into a page record, so that the same
writers (`kuzushiji_tf.formats`) give its PAGE-XML and ALTO and a folder of them is a training set.

The client sends the characters it holds after the edits, in any order: each one's box, code, whether a
person set its reading (`edited`) and, for the others, what the recogniser said (candidates and scores).
Everything is checked here, since it comes from a browser: a wrong type, a box off the page, a code that
is not one character XML can hold is a `CorrectionError` naming the character. The reading order,
columns and blocks are computed again from the boxes (`reading_order`), as for a recognised page.

A character whose reading a person set has that reading as its only candidate, probability 1: in PAGE-XML
its one TextEquiv (conf 1), in ALTO its Glyph (GC 1) without variants. The model's alternatives are not
kept for it: the file then says what the page reads, which is what a training set needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from kuzushiji_tf.recognition.page_text import char_of, column_texts
from kuzushiji_tf.recognition.reading_order import reading_layout

MAX_CANDIDATES = 20  # per character; the recogniser gives top_k (5)
# Code points XML 1.0 cannot hold (C0 controls but tab, newline, return; surrogates; U+FFFE, U+FFFF), and the
# C1 controls that are no character a page shows.
_REFUSED = [(0x0, 0x1F), (0x7F, 0x9F), (0xD800, 0xDFFF), (0xFFFE, 0xFFFF)]


class CorrectionError(ValueError):
    """A corrected page the server will not write, with a one-line reason."""


def parse_code(value, where: str) -> str:
    """`U+XXXX` (4 to 6 hex digits, any case) -> the canonical upper-case code of one printable character."""
    if not isinstance(value, str) or not value[:2].upper() == "U+" or not 4 <= len(value) - 2 <= 6:
        raise CorrectionError(f"{where}: code must be U+ and 4 to 6 hex digits; received {str(value)[:20]!r}")
    try:
        point = int(value[2:], 16)
    except ValueError:
        raise CorrectionError(f"{where}: code must be U+ and 4 to 6 hex digits; received {value[:20]!r}") from None
    if point > 0x10FFFF or any(low <= point <= high for low, high in _REFUSED):
        raise CorrectionError(f"{where}: {value} is not a character a page can hold")
    return f"U+{point:04X}"


def _number(value, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CorrectionError(f"{where}: must be a number; received {str(value)[:20]!r}")
    if not low <= value <= high:
        raise CorrectionError(f"{where}: must be within [{low:g}, {high:g}]; received {value:g}")
    return float(value)


def parse_box(value, where: str, width: int, height: int) -> list[float]:
    """xyxy (x0 <= x1, y0 <= y1) touching the page frame, clipped to it and rounded to 0.1 px as records are.
    Clipped, not refused: a detection may reach past the page's edge, and the formats clip it too. A box of
    no width or height passes: a detector gives such boxes, and a page holding one must still save."""
    if not isinstance(value, list) or len(value) != 4:
        raise CorrectionError(f"{where}: box must be [x0, y0, x1, y1]")
    x0, y0, x1, y1 = (_number(v, f"{where}.box", -math.inf, math.inf) for v in value)
    if not (x0 <= x1 and y0 <= y1):
        raise CorrectionError(f"{where}: box must have x0 <= x1 and y0 <= y1")
    if x0 > width or y0 > height or x1 < 0 or y1 < 0:
        raise CorrectionError(f"{where}: box must lie on the page ({width} x {height} pixels)")
    x0, x1 = (round(min(max(v, 0.0), width), 1) for v in (x0, x1))
    y0, y1 = (round(min(max(v, 0.0), height), 1) for v in (y0, y1))
    return [x0, y0, x1, y1]


def parse_boxes(value, where: str, width: int, height: int, limit: int) -> np.ndarray:
    """float32 [n, 4] of a JSON list of at most `limit` xyxy boxes on a `width` x `height` page."""
    if not isinstance(value, list):
        raise CorrectionError(f"{where}: must be a list of [x0, y0, x1, y1] boxes")
    if len(value) > limit:
        raise CorrectionError(f"{where}: {len(value)} boxes, more than {limit}")
    boxes = [parse_box(box, f"{where}[{k}]", width, height) for k, box in enumerate(value)]
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def _candidates(value, where: str, translation: Mapping[str, str]) -> list[dict]:
    if not isinstance(value, list) or not value or len(value) > MAX_CANDIDATES:
        raise CorrectionError(f"{where}: candidates must be a list of 1 to {MAX_CANDIDATES}")
    found = []
    for k, candidate in enumerate(value):
        if not isinstance(candidate, dict):
            raise CorrectionError(f"{where}[{k}]: must be an object with code and probability")
        code = parse_code(candidate.get("code"), f"{where}[{k}].code")
        probability = _number(candidate.get("probability"), f"{where}[{k}].probability", 0, 1)
        found.append({"code": code, "char": char_of(code, translation), "probability": round(probability, 4)})
    return found


def _character(value, where: str, width: int, height: int, translation: Mapping[str, str]) -> dict:
    if not isinstance(value, dict):
        raise CorrectionError(f"{where}: must be an object")
    edited = value.get("edited", False)
    if not isinstance(edited, bool):
        raise CorrectionError(f"{where}.edited: must be true or false")
    code = parse_code(value.get("code"), f"{where}.code")
    box = parse_box(value.get("box"), where, width, height)
    score = value.get("detection_score")  # None: a box a person drew
    score = None if score is None else round(_number(score, f"{where}.detection_score", 0, 1), 4)
    if edited:
        return {"code": code, "box": box, "detection_score": score, "edited": True, "class_probability": 1.0,
                "candidates": [{"code": code, "char": char_of(code, translation), "probability": 1.0}]}  # fmt: skip
    probability = round(_number(value.get("class_probability"), f"{where}.class_probability", 0, 1), 4)
    candidates = value.get("candidates")
    if candidates is None:
        candidates = [{"code": code, "probability": probability}]
    candidates = _candidates(candidates, f"{where}.candidates", translation)
    if candidates[0]["code"] != code:
        raise CorrectionError(f"{where}: the first candidate must be the character's own code, or set edited")
    return {"code": code, "box": box, "detection_score": score, "edited": False, "class_probability": probability,
            "candidates": candidates}  # fmt: skip


def page_size(page: dict) -> tuple[int, int]:
    width, height = page.get("width"), page.get("height")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise CorrectionError("width and height must be positive integers (the scan's size in pixels)")
    return width, height


def corrected_record(
    page,
    translation: Mapping[str, str],
    *,
    name: str,
    cls_threshold: float,
    max_chars: int,
    size: tuple[int, int] | None = None,
) -> dict:
    """The page record (`page_text.page_record`'s shape, with each character's `edited`) of a corrected page.

    Args:
        page: the client's JSON object: `width`, `height` (unless `size` is given: the scan's own size, read
            from it) and `characters`, a list of at most `max_chars` objects: `box` (xyxy scan pixels),
            `code` (U+XXXX), `edited` (a person set the reading), and unless edited, `class_probability`,
            `candidates` ([{code, probability}], the first the character's own) and `detection_score`
            (null for a box a person drew).
        translation: code -> character, the model's vocabulary.
        name: the image's label in the record (already made safe by the caller).
        cls_threshold: flags unedited characters below it `uncertain`, as a recognised page does.
    """
    if not isinstance(page, dict):
        raise CorrectionError("the corrected page must be a JSON object")
    width, height = size or page_size(page)
    characters = page.get("characters")
    if not isinstance(characters, list):
        raise CorrectionError("characters must be a list")
    if len(characters) > max_chars:
        raise CorrectionError(f"{len(characters)} characters, more than {max_chars}")
    chars = [_character(c, f"characters[{k}]", width, height, translation) for k, c in enumerate(characters)]
    order, column_of, block_of = reading_layout(np.asarray([c["box"] for c in chars], np.float64).reshape(-1, 4))
    ordered = []
    for k, i in enumerate(order):
        c = chars[i]
        ordered.append(
            {
                "index": k,
                "code": c["code"],
                "codepoint": int(c["code"][2:], 16),
                "char": char_of(c["code"], translation),
                "box": c["box"],
                "column": int(column_of[i]),
                "block": int(block_of[i]),
                "detection_score": c["detection_score"],
                "class_probability": c["class_probability"],
                "uncertain": not c["edited"] and c["class_probability"] < cls_threshold,
                "edited": c["edited"],
                "candidates": c["candidates"],
            }
        )
    return {
        "image": name,
        "width": width,
        "height": height,
        "cls_threshold": round(float(cls_threshold), 4),
        "columns": column_texts(ordered),
        "characters": ordered,
    }
