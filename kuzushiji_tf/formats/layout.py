"""A record's characters regrouped as the layout formats nest them: blocks of columns of characters, with
whole-pixel boxes.

Boxes are rounded outwards (floor/ceil) so every box still holds its character, and clipped to the page
frame: PAGE allows only non-negative integer points, and a detection a pixel past the edge is no reason
to write a file that fails validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kuzushiji_tf.formats.source import PageSource

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in whole pixels


@dataclass(frozen=True)
class Candidate:
    code: str  # U+XXXX
    char: str
    probability: float  # 0..1


@dataclass(frozen=True)
class Glyph:
    index: int  # position in the page's reading order, from 0
    char: str
    box: Box
    probability: float  # class probability, 0..1
    code: str
    # The record's candidates in its order, the first the glyph's own reading; a record written before
    # candidates existed gives the glyph's own class alone.
    candidates: tuple[Candidate, ...] = ()
    uncertain: bool = False  # class probability below the record's class threshold


def glyph_candidates(character: dict) -> tuple[Candidate, ...]:
    found = character.get("candidates") or [
        {"code": character["code"], "char": character["char"], "probability": character["class_probability"]}
    ]
    return tuple(Candidate(c["code"], c["char"], float(c["probability"])) for c in found)


@dataclass(frozen=True)
class Column:
    number: int  # the column's number in reading order, from 0 (record's "column")
    text: str
    glyphs: tuple[Glyph, ...]
    box: Box


@dataclass(frozen=True)
class Block:
    number: int  # from 0, reading order (record's "block")
    columns: tuple[Column, ...]
    box: Box


def pixel_box(box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    clip = lambda v, hi: min(max(v, 0), hi)  # noqa: E731
    x0, y0 = clip(math.floor(x0), width - 1), clip(math.floor(y0), height - 1)
    # At least one pixel each way: a flat glyph is not a box that PAGE/ALTO readers (ours included) accept
    # as ground truth, and a corrected page goes back into training through them.
    x1, y1 = max(clip(math.ceil(x1), width), x0 + 1), max(clip(math.ceil(y1), height), y0 + 1)
    return x0, y0, x1, y1


def union(boxes) -> Box:
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def page_blocks(record: dict, source: PageSource) -> list[Block]:
    """The record's blocks in reading order. The record lists characters in reading order, so blocks and
    columns are runs of it; a column's text is the record's own, not rebuilt."""
    runs: list[tuple[int, list[tuple[int, list[Glyph]]]]] = []
    for c in record["characters"]:
        glyph = Glyph(
            int(c["index"]),
            c["char"],
            pixel_box(c["box"], source.width, source.height),
            float(c["class_probability"]),
            c["code"],
            glyph_candidates(c),
            bool(c.get("uncertain", False)),
        )
        if not runs or runs[-1][0] != c["block"]:
            runs.append((c["block"], []))
        columns = runs[-1][1]
        if not columns or columns[-1][0] != c["column"]:
            columns.append((c["column"], []))
        columns[-1][1].append(glyph)
    blocks = []
    for number, columns in runs:
        built = tuple(
            Column(col, record["columns"][col], tuple(glyphs), union(g.box for g in glyphs)) for col, glyphs in columns
        )
        blocks.append(Block(number, built, union(col.box for col in built)))
    return blocks


def rectangle_points(box: Box) -> str:
    """A box as PAGE's clockwise polygon "x0,y0 x1,y0 x1,y1 x0,y1"."""
    x0, y0, x1, y1 = box
    return f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"
