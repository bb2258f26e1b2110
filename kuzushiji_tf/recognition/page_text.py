"""A recognised page as data: characters in reading order with their columns, the record that
`kuzushiji-transcribe` prints and every output format in `kuzushiji_tf.formats` is written from."""

from __future__ import annotations

from collections.abc import Mapping

from kuzushiji_tf.recognition.contract import CLASS_PROBS, CODES, DET_SCORES, OUT_BOXES
from kuzushiji_tf.recognition.reading_order import reading_layout
from kuzushiji_tf.structures import code_to_char


def page_record(name: str, result: dict, translation: Mapping[str, str], size: tuple[int, int] | None = None) -> dict:
    """The JSON object of one page from `page_model.page_results`' dict.

    Returns:
        {"image": name, ["width", "height",] "columns": [str per column, reading order],
         "characters": [{"index": position in reading order, "code", "codepoint", "char", "box" (xyxy, image
         pixels), "column", "block" (the column's block: a text area read before the next), "detection_score",
         "class_probability"}] in reading order}.
    """
    codes, boxes = result[CODES], result[OUT_BOXES]
    order, column_of, block_of = reading_layout(boxes)
    chars = [
        {
            "index": k,
            "code": codes[i],
            "codepoint": int(codes[i][2:], 16),
            "char": translation.get(codes[i]) or code_to_char(codes[i]),
            "box": [round(float(v), 1) for v in boxes[i]],
            "column": int(column_of[i]),
            "block": int(block_of[i]),
            "detection_score": round(float(result[DET_SCORES][i]), 4),
            "class_probability": round(float(result[CLASS_PROBS][i]), 4),
        }
        for k, i in enumerate(order)
    ]
    columns = [""] * (int(column_of.max()) + 1 if len(order) else 0)
    for c in chars:
        columns[c["column"]] += c["char"]
    record = {"image": name}
    if size is not None:
        record.update(width=int(size[0]), height=int(size[1]))
    return {**record, "columns": columns, "characters": chars}
