"""A recognised page as data: characters in reading order with their columns, the record that
`kuzushiji-transcribe` prints and every output format in `kuzushiji_tf.formats` is written from."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    DET_SCORES,
    OUT_BOXES,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
)
from kuzushiji_tf.recognition.postprocess import uncertain
from kuzushiji_tf.recognition.reading_order import reading_layout
from kuzushiji_tf.structures import char_to_code, code_to_char


def char_of(code: str, translation: Mapping[str, str]) -> str:
    """The character of a code: the vocabulary's, else the code point's own."""
    return translation.get(code) or code_to_char(code)


def column_texts(chars: list[dict]) -> list[str]:
    """Each column's text, in column order, from a record's characters (in reading order, with "column")."""
    columns = [""] * (max(c["column"] for c in chars) + 1 if chars else 0)
    for c in chars:
        columns[c["column"]] += c["char"]
    return columns


def candidates(result: dict, i: int, translation: Mapping[str, str]) -> list[dict]:
    """Character `i`'s candidates, `[{"code", "char", "probability"}]`, in the order of the result's top-k
    arrays (most probable first as the graph gives them; a later step may put another reading first). A
    result without top-k arrays gives the character's own class alone."""
    own = result[CODES][i]
    if TOPK_CODEPOINTS not in result or TOPK_PROBS not in result:
        return [
            {"code": own, "char": char_of(own, translation), "probability": round(float(result[CLASS_PROBS][i]), 4)}
        ]
    own_point = int(result[CODEPOINTS][i]) if CODEPOINTS in result else int(own[2:], 16)
    found = []
    for point, probability in zip(np.asarray(result[TOPK_CODEPOINTS][i]), np.asarray(result[TOPK_PROBS][i])):
        code = own if int(point) == own_point else char_to_code(chr(int(point)))
        found.append({"code": code, "char": char_of(code, translation), "probability": round(float(probability), 4)})
    return found


def page_record(
    name: str,
    result: dict,
    translation: Mapping[str, str],
    size: tuple[int, int] | None = None,
    *,
    cls_threshold: float,
) -> dict:
    """The JSON object of one page from `postprocess.page_results`' dict: every character of `result`, none
    dropped. `cls_threshold` (the export's, `model.options.cls_threshold`) sets each character's
    `uncertain` flag: its class probability is below it (the characters a Kaggle submission drops).

    Returns:
        {"image": name, ["width", "height",] "cls_threshold", "columns": [str per column, reading order],
         "characters": [{"index": position in reading order, "code", "codepoint", "char", "box" (xyxy, image
         pixels), "column", "block" (the column's block: a text area read before the next), "detection_score",
         "class_probability", "uncertain", "candidates": [{"code", "char", "probability"}, ...] (the top-k
         classes in the result's order, the first the character's own)}] in reading order}.
    """
    codes, boxes = result[CODES], result[OUT_BOXES]
    order, column_of, block_of = reading_layout(boxes)
    unsure = uncertain(result, cls_threshold)
    chars = [
        {
            "index": k,
            "code": codes[i],
            "codepoint": int(codes[i][2:], 16),
            "char": char_of(codes[i], translation),
            "box": [round(float(v), 1) for v in boxes[i]],
            "column": int(column_of[i]),
            "block": int(block_of[i]),
            "detection_score": round(float(result[DET_SCORES][i]), 4),
            "class_probability": round(float(result[CLASS_PROBS][i]), 4),
            "uncertain": bool(unsure[i]),
            "candidates": candidates(result, i, translation),
        }
        for k, i in enumerate(order)
    ]
    record = {"image": name}
    if size is not None:
        record.update(width=int(size[0]), height=int(size[1]))
    return {
        **record,
        "cls_threshold": round(float(cls_threshold), 4),
        "columns": column_texts(chars),
        "characters": chars,
    }


def box_characters(result: dict, translation: Mapping[str, str], *, cls_threshold: float) -> list[dict]:
    """The characters of boxes classified on request (`postprocess.box_results` of `classify_boxes`), in the
    order of the boxes: each one's "box", "code", "char", "class_probability", "uncertain" and "candidates",
    as `page_record` gives a recognised character's."""
    unsure = uncertain(result, cls_threshold)
    return [
        {
            "box": [round(float(v), 1) for v in result[OUT_BOXES][i]],
            "code": code,
            "char": char_of(code, translation),
            "class_probability": round(float(result[CLASS_PROBS][i]), 4),
            "uncertain": bool(unsure[i]),
            "candidates": candidates(result, i, translation),
        }
        for i, code in enumerate(result[CODES])
    ]
