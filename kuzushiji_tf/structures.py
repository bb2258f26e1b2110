"""The two value types every stage shares: a page and the characters on it.

One box convention everywhere: xyxy in pixels of the image the box belongs to, as floats. Any other
frame (xywh, feature-map cells) carries it in the variable's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CODE_PATTERN = re.compile(r"^U\+[0-9A-F]{4,5}$")


def code_to_char(code: str) -> str:
    """`U+304B` -> `か`."""
    return chr(int(code[2:], 16))


def char_to_code(char: str) -> str:
    """`か` -> `U+304B` (four hex digits at least, upper case, as in Kaggle's files)."""
    return f"U+{ord(char):04X}"


def book_of(image_id: str) -> str:
    """The book an image id belongs to: the part before the first `_` or `-` (docs/recipe.md)."""
    return re.split(r"[_-]", image_id, maxsplit=1)[0]


@dataclass(frozen=True)
class Char:
    """One annotated character.

    Args:
        code: `U+XXXX` code point of the label.
        box: (x0, y0, x1, y1) in pixels of the original page image.
    """

    code: str
    box: tuple[float, float, float, float]

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2.0, (y0 + y1) / 2.0

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = self.box
        return x0, y0, x1 - x0, y1 - y0


@dataclass(frozen=True)
class Page:
    """A page image and its characters (empty for test pages and pages with no text).

    Args:
        image_id: Kaggle image id (file name without `.jpg`).
        image_path: where the image lives, or None when the page exists only in a CSV.
        width, height: original image size in pixels (0 when the image was not opened).
        chars: annotated characters in `train.csv` order.
        source_book: the book as the source names it (CODH's book folder: `umgy00000` holds `umgy001-009`),
            or None to take it from the image id (`book_of`).
    """

    image_id: str
    image_path: Path | None = None
    width: int = 0
    height: int = 0
    chars: tuple[Char, ...] = field(default_factory=tuple)
    source_book: str | None = None

    @property
    def book(self) -> str:
        return self.source_book or book_of(self.image_id)


# Keys shared by CenterNet targets (tf.data), model outputs, the loss and postprocessing: one name per
# concept across every stage, as CenterNet's `hm`/`wh`/`reg`/`ind`/`reg_mask`.
HEATMAP = "heatmap"  # targets: float32 [Ho, Wo, 1] Gaussian peaks; outputs: logits [B, Ho, Wo, 1]
SIZE = "size"  # box (w, h) in output-stride units; targets [max_chars, 2], outputs [B, Ho, Wo, 2]
OFFSET = "offset"  # centre minus its cell, (dx, dy) in [0, 1); targets [max_chars, 2], outputs [B, Ho, Wo, 2]
INDICES = "indices"  # int32 [max_chars]: flat cell index y * Wo + x of each character's centre
MASK = "mask"  # float32 [max_chars]: 1 for a real character, 0 for padding
