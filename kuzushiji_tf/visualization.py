"""Recognised characters drawn on their page, for reading a model's mistakes by eye: each prediction's box
(or point, for a submission CSV) with the character right of it in a Japanese font. Given the truth, the
competition's own matching colours them: green correct, red wrong, and grey for truth boxes nobody found,
with their true character left of the box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kuzushiji_tf.evaluation.metric import match_page
from kuzushiji_tf.synthetic.fonts import FontNotFoundError, find_fonts

CORRECT = (0, 170, 0)
WRONG = (230, 0, 0)
MISSED = (140, 140, 140)
PREDICTED = (0, 90, 255)  # no truth given: every prediction is drawn in this colour
DEFAULT_MAX_SIDE = 1600
POINT_RADIUS = 0.012  # of the page's longer side: a submission point is drawn as a disc this big


def page_colours(
    pred_codes: Sequence[str], pred_xy: np.ndarray, truth_codes: Sequence[str], truth_xywh: np.ndarray
) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """(colour per prediction, bool [N] truth boxes missed), by Kaggle's rule (`evaluation.match_page`):
    a prediction is correct when it took a truth box, i.e. same label and its point inside the box."""
    taken = match_page(truth_codes, truth_xywh, pred_codes, np.asarray(pred_xy, np.float64).reshape(-1, 2))
    correct = np.zeros(len(pred_codes), bool)
    correct[taken[taken >= 0]] = True
    return [CORRECT if c else WRONG for c in correct], taken < 0


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont:
    """A legible Japanese face (Noto before the brush faces); Pillow's own font when none is installed."""
    try:
        fonts = find_fonts()
    except FontNotFoundError:
        return ImageFont.load_default()
    face = fonts.fallback or fonts.primary[0]
    return ImageFont.truetype(face.path, size, index=face.index)


def _char(code: str, translation: Mapping[str, str] | None) -> str:
    # A U+XXXX code names its code point; the table only matters for the few codes Kaggle maps elsewhere.
    return (translation or {}).get(code) or chr(int(code[2:], 16))


def draw_page(
    image: np.ndarray,
    pred_codes: Sequence[str],
    *,
    pred_boxes: np.ndarray | None = None,
    pred_xy: np.ndarray | None = None,
    truth: tuple[Sequence[str], np.ndarray] | None = None,
    translation: Mapping[str, str] | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> Image.Image:
    """The page with its predictions (and truth) drawn, downscaled so its longer side is <= `max_side`.

    Args:
        image: uint8 [H, W, 3] RGB page.
        pred_codes: [M] `U+XXXX` labels.
        pred_boxes: float [M, 4] xyxy page pixels (a model's output); or else
        pred_xy: float [M, 2] points (a submission); the matching point of a box is its centre.
        truth: (codes [N], boxes_xywh [N, 4]) as `kaggle.labels.read_truth_csv` gives, or None.
        translation: {code: char}; codes it lacks are drawn as their own code point.
        max_side: longer side of the result in pixels; pages are never upscaled.
    Returns:
        an RGB PIL image.
    """
    if (pred_boxes is None) == (pred_xy is None):
        raise ValueError("give exactly one of pred_boxes (xyxy) and pred_xy (points)")
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1; received {max_side}")
    boxes = None if pred_boxes is None else np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    points = (boxes[:, :2] + boxes[:, 2:]) / 2 if boxes is not None else np.asarray(pred_xy, np.float64).reshape(-1, 2)
    if len(points) != len(pred_codes):
        raise ValueError(f"{len(pred_codes)} codes but {len(points)} boxes or points")
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    page = Image.fromarray(np.ascontiguousarray(image[..., :3], dtype=np.uint8))
    if scale < 1.0:
        page = page.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.LANCZOS)
    draw = ImageDraw.Draw(page)
    line = max(2, round(max(page.size) / 600))
    font = _font(_label_size(boxes, truth, scale, max(page.size)))
    colours = [PREDICTED] * len(points)
    if truth is not None:
        colours, missed = page_colours(pred_codes, points, truth[0], truth[1])
        truth_xywh = np.asarray(truth[1], np.float64).reshape(-1, 4)
        for code, (x, y, w, h) in zip(np.asarray(truth[0])[missed], truth_xywh[missed]):
            # Left of its box, so it does not collide with the label of a wrong guess inside the same box.
            _label(
                draw,
                (x * scale, y * scale, (x + w) * scale, (y + h) * scale),
                _char(code, translation),
                MISSED,
                line,
                font,
                left=True,
            )
    radius = max(line + 1, POINT_RADIUS * max(page.size))
    for k, code in enumerate(pred_codes):
        if boxes is not None:
            rect = tuple(boxes[k] * scale)
        else:
            x, y = points[k] * scale
            rect = (x - radius, y - radius, x + radius, y + radius)
        _label(draw, rect, _char(code, translation), colours[k], line, font, disc=boxes is None)
    return page


def _label_size(boxes, truth, scale: float, side: int) -> int:
    """One glyph size for the page, from its median character: per-box sizes make small kana unreadable."""
    sides = [b[:, 2:] - b[:, :2] for b in [boxes] if b is not None and len(b)]
    if truth is not None and len(truth[0]):
        sides.append(np.asarray(truth[1], np.float64).reshape(-1, 4)[:, 2:])
    typical = np.median(np.concatenate(sides).max(axis=1)) * scale if sides else POINT_RADIUS * 4 * side
    return int(np.clip(0.6 * typical, 14, 48))


def _label(
    draw: ImageDraw.ImageDraw, rect, char: str, colour, line: int, font, disc: bool = False, left: bool = False
) -> None:
    """A box (or a disc round a point) and its character just right (or left) of it, outlined in white to
    stay legible over ink."""
    x0, y0, x1, y1 = rect
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    if disc:
        draw.ellipse((x0, y0, x1, y1), outline=colour, width=line)
    else:
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line)
    stroke = max(1, round(getattr(font, "size", 12) / 12))
    x = x1 + line
    if left:
        x = x0 - line - (draw.textbbox((0, 0), char, font=font, stroke_width=stroke)[2])
    draw.text((x, y0), char, font=font, fill=colour, stroke_width=stroke, stroke_fill=(255, 255, 255))


def save_png(page: Image.Image, path: str | Path) -> Path:
    """Writes `page` as PNG, creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.save(path, format="PNG")
    return path
