"""One synthetic page: layout, ink, paper and scan effects composed into an RGB image plus its labels.

The page is a pure function of (seed, style, size, charset, fonts, text), which is what makes datasets
byte-identical for a seed whatever the number of worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from kuzushiji_tf.structures import Char, char_to_code
from kuzushiji_tf.synthetic.charset import Charset, build_charset
from kuzushiji_tf.synthetic.fonts import FontSet, GlyphCache, find_fonts
from kuzushiji_tf.synthetic.layout import ColumnWriter, Placement
from kuzushiji_tf.synthetic.paper import (
    centre_fold,
    draw_frame,
    draw_picture,
    frame_rect,
    ink_texture,
    paper_luminance,
    sheet_rect,
    stain,
    stamp_seal,
)
from kuzushiji_tf.synthetic.style import BookStyle, sample_book_style

REAL_HEIGHT = 3900  # the Kaggle scans' height; style lengths that are absolute pixels scale from it
_CACHES: dict[FontSet, GlyphCache] = {}
_GRAIN_TILE: np.ndarray | None = None


@dataclass
class PageDebug:
    """What `render_page(..., return_debug=True)` adds.

    Args:
        glosses: xyxy boxes of the unannotated reading glosses.
        columns: per labelled char, the index of its column in reading order (0 = rightmost).
        ink: uint8 [H, W] alpha of every glyph, gloss and frame line before cursive connections, pictures,
            bleed, texture and blur (255 = ink).
        frame: xyxy of the ruled border, or None on a page without one.
        drawn: per labelled char, the character whose glyph was drawn (a hentaigana for its kana).
        connectors: xyxy boxes of the cursive strokes drawn between characters.
        picture: xyxy of the illustration, or None.
        form_faces: per labelled char, the kana-form face it was drawn with as a hentaigana, else "".
        text_read: characters taken from `text` (0 without one); the labels are these in order, less
            `text_skipped` ones no glyph could be fitted for.
    """

    glosses: list[tuple[float, float, float, float]] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)
    ink: np.ndarray | None = None
    frame: tuple[int, int, int, int] | None = None
    drawn: list[str] = field(default_factory=list)
    connectors: list[tuple[float, float, float, float]] = field(default_factory=list)
    picture: tuple[int, int, int, int] | None = None
    form_faces: list[str] = field(default_factory=list)
    text_read: int = 0
    text_skipped: int = 0


@lru_cache(maxsize=4)
def _default_charset(fonts: FontSet) -> Charset:
    return build_charset(None, fonts)  # coverage checks cost ~0.3 s: once per process, not per page


def glyph_cache(fonts: FontSet) -> GlyphCache:
    """The process's glyph cache for a font set (a worker keeps it across the pages it draws)."""
    if fonts not in _CACHES:
        _CACHES[fonts] = GlyphCache(fonts)
    return _CACHES[fonts]


def _paste(canvas: np.ndarray, p: Placement) -> None:
    h, w = p.mask.shape
    y0, x0 = max(0, p.y), max(0, p.x)
    y1, x1 = min(canvas.shape[0], p.y + h), min(canvas.shape[1], p.x + w)
    if y1 > y0 and x1 > x0:
        region = canvas[y0:y1, x0:x1]
        np.maximum(region, p.mask[y0 - p.y : y1 - p.y, x0 - p.x : x1 - p.x], out=region)


def _show_through(rng, style, charset, fonts, cache, size, area, em, frame, text=None) -> np.ndarray:
    """float32 [H, W] alpha of the back page's text and rules, mirrored and soaked through the paper.

    Drawn at half scale (its strokes are soft anyway) with no gap rule: none of it is labelled.
    """
    h, w = size
    f = 2 if h >= 1200 else 1
    small = (max(8, h // f), max(8, w // f))
    ink = np.zeros(small, np.uint8)
    writer = ColumnWriter(rng, style, charset, fonts, cache, text)
    for p in writer.columns(tuple(a / f for a in area), em / f, int(rng.integers(6, 9)), gap=0):
        _paste(ink, p)
    if frame is not None:
        shift = rng.normal(0, 0.01, 4) * w / f  # the back's frame is not quite where ours is
        x0, y0, x1, y1 = (int(v / f + d) for v, d in zip(frame, shift))
        draw_frame(ink, (x0, y0, x1, y1), style.frame_width * w / f, style.frame_double)
    ink = cv2.GaussianBlur(ink[:, ::-1], (0, 0), max(0.5, em / f * 0.015))
    alpha = cv2.resize(ink, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return alpha * (style.show_through / 255.0)


def render_page(
    seed: int | Sequence[int],
    style: BookStyle | None = None,
    *,
    page_height: int = REAL_HEIGHT,
    charset: Charset | None = None,
    fonts: FontSet | None = None,
    empty: bool = False,
    side: int = 1,
    text: str | None = None,
    back_text: str | None = None,
    return_debug: bool = False,
):
    """Draw one page.

    Args:
        seed: anything `np.random.default_rng` takes; the page is a pure function of it and the rest.
        style: the book's look; None draws one from `seed`.
        page_height: image height in pixels; the width is `round(page_height * style.aspect)`.
        charset: characters to draw (default charset when None); fonts: faces (found when None).
        empty: a page without text (cover, blank leaf): paper, maybe a frame and show-through.
        side: 1 or 2, the leaf side: which margin is wide and where the gutter is.
        text: what the columns write, in order (characters of `charset`; `text_source` prepares it):
            the labels are its first characters. None draws characters one by one from `charset`.
        back_text: what the back of the leaf shows through (unlabelled); None draws it from `charset`.
        return_debug: also return a `PageDebug` (gloss boxes, ink alpha, frame).

    Returns:
        (image, chars) or (image, chars, debug): image uint8 [H, W, 3] RGB; chars the labelled `Char`s
        (xyxy, integer-valued floats, tight ink boxes) in reading order: columns right to left, top to
        bottom inside each column.
    """
    rng = np.random.default_rng(seed)
    fonts = find_fonts() if fonts is None else fonts
    charset = _default_charset(fonts) if charset is None else charset
    style = sample_book_style(rng, fonts) if style is None else style
    cache = glyph_cache(fonts)
    h = int(page_height)
    w = max(8, round(h * style.aspect))
    sheet = sheet_rect(rng, (h, w), side)
    frame = frame_rect(rng, sheet, side) if not empty or rng.random() < 0.5 else None
    ink = np.zeros((h, w), np.uint8)
    placed: list[Placement] = []
    glosses: list[Placement] = []
    pad_x, pad_y = 0.018 * w, 0.012 * h
    area = (
        (frame[0] + pad_x, frame[1] + pad_y, frame[2] - pad_x, frame[3] - pad_y)
        if frame
        else (0.1 * w, 0.15 * h, 0.9 * w, 0.93 * h)
    )
    em = style.em * w * float(np.exp(rng.normal(0, 0.05)))
    if frame:
        draw_frame(ink, frame, style.frame_width * w, style.frame_double)
    # Page-level draws come from their own stream, so they never shift the layout's random numbers.
    extras = np.random.default_rng(rng.integers(1 << 63))
    picture = None
    text_area = area
    if not empty and extras.random() < style.picture_prob:
        # An illustration fills the top or bottom of the text block; the columns keep to the rest.
        cut = area[1] + (area[3] - area[1]) * extras.uniform(0.35, 0.6)
        if extras.random() < 0.5:
            picture, text_area = (area[0], area[1], area[2], cut - 0.02 * h), (area[0], cut, area[2], area[3])
        else:
            picture, text_area = (area[0], cut + 0.02 * h, area[2], area[3]), (area[0], area[1], area[2], cut)
        picture = tuple(int(v) for v in picture)
    connectors: list[Placement] = []
    text_read = text_skipped = 0
    if not empty:
        writer = ColumnWriter(rng, style, charset, fonts, cache, text)
        n_cols = int(rng.integers(style.columns[0], style.columns[1] + 1))
        max_chars = int(rng.integers(25, 90)) if rng.random() < 0.08 else None  # a chapter's last page
        placed = writer.columns(text_area, em, n_cols, title=rng.random() < style.title_prob, max_chars=max_chars)
        glosses = writer.glosses(placed, area[2] + pad_x * 0.6)
        connectors = writer.connectors
        text_read, text_skipped = writer.read, writer.skipped
        for p in placed + glosses:
            _paste(ink, p)
    debug_ink = ink.copy() if return_debug else None
    for p in connectors:
        _paste(ink, p)
    if picture is not None:
        draw_picture(extras, ink, picture, max(1.0, 0.004 * w))
    if style.bleed > 0:
        # Woodblock ink spreads into the paper fibres: the strokes grow soft, slightly fatter edges.
        sigma = style.bleed * h / REAL_HEIGHT
        if sigma >= 0.3:
            spread = cv2.GaussianBlur(ink, (0, 0), sigma)
            np.maximum(ink, cv2.convertScaleAbs(spread, alpha=1.3), out=ink)
    show = None
    if style.show_through > 0:
        show = _show_through(rng, style, charset, fonts, cache, (h, w), area, em, frame, back_text)
    image = _compose(rng, style, ink, show, sheet)
    _page_marks(extras, style, image, sheet, side, em)
    chars = [Char(char_to_code(p.char), tuple(float(v) for v in p.box)) for p in placed]
    if return_debug:
        return (
            image,
            chars,
            PageDebug(
                [tuple(float(v) for v in g.box) for g in glosses],
                [p.column for p in placed],
                debug_ink,
                frame,
                [p.drawn or p.char for p in placed],
                [tuple(float(v) for v in c.box) for c in connectors],
                picture,
                [p.form_face for p in placed],
                text_read,
                text_skipped,
            ),
        )
    return image, chars


def _page_marks(rng, style: BookStyle, image: np.ndarray, sheet, side: int, em: float) -> None:
    """What time and owners left on the sheet (in place): stains, a seal, the centre fold."""
    h, w = image.shape[:2]
    if rng.random() < style.stain_prob:
        stain(rng, image)
    if rng.random() < style.seal_prob:
        x0, y0, x1, y1 = sheet
        centre = (rng.uniform(x0 + 0.1 * w, x1 - 0.1 * w), rng.uniform(y0 + 0.1 * h, y1 - 0.1 * h))
        stamp_seal(rng, image, centre, em * rng.uniform(1.2, 2.5))
    if style.fold > 0:
        centre_fold(rng, image, side, style.fold)


def _grain(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """float32 [H, W] unit pixel noise: a fixed tile at a random offset, 5x cheaper than fresh normals."""
    global _GRAIN_TILE
    if _GRAIN_TILE is None:
        _GRAIN_TILE = np.random.default_rng(20190715).standard_normal((1031, 1031), dtype=np.float32)
    h, w = size
    oy, ox = (int(v) for v in rng.integers(0, 1031, 2))
    reps = (-(-(h + oy) // 1031), -(-(w + ox) // 1031))
    return np.tile(_GRAIN_TILE, reps)[oy : oy + h, ox : ox + w]


def _compose(rng, style: BookStyle, ink: np.ndarray, show: np.ndarray | None, sheet) -> np.ndarray:
    """Paper x show-through x ink, then the scanner: background outside the sheet, grain, blur.

    Per channel: paper_c * lum * (1 - show) * (1 - ink) + back_c * show * (1 - ink) + ink_c * ink + grain;
    written with in-place operations because each full-size pass costs ~10 ms.
    """
    h, w = ink.shape
    paper = paper_luminance(rng, (h, w), style.blotch, style.fibres)
    alpha = ink.astype(np.float32)
    alpha *= style.ink_density / 255.0
    alpha *= ink_texture(rng, (h, w))
    keep = np.subtract(1.0, alpha)
    paper *= keep
    back = None
    if show is not None:
        back = show * keep
        paper *= np.subtract(1.0, show, out=show)
    # A smaller page is a downscaled scan: its grain is averaged down with it.
    grain = _grain(rng, (h, w)) * (style.grain * min(1.0, max(0.35, h / REAL_HEIGHT)) ** 0.5)
    back_rgb = np.array(style.paper_rgb, np.float32) * np.array([0.55, 0.60, 0.72], np.float32)  # bluish grey
    image = np.empty((h, w, 3), np.uint8)
    out = keep  # reuse the buffer: keep is not needed any more
    for c in range(3):
        np.multiply(paper, float(style.paper_rgb[c]), out=out)
        out += grain
        if style.ink_rgb[c]:
            out += alpha * float(style.ink_rgb[c])
        if back is not None:
            out += back * float(back_rgb[c])
        np.clip(out, 0, 255, out=out)
        image[:, :, c] = out
    _scanner_background(rng, image, sheet, style.paper_rgb)
    sigma = style.blur * h / REAL_HEIGHT
    if sigma >= 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    return image


def _scanner_background(rng, image: np.ndarray, sheet, paper_rgb) -> None:
    """Dark scanner bed outside the sheet, often with the next leaf's darker edge beside it (in place)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = sheet
    dark = np.clip(np.array([1.0, 0.97, 0.92]) * rng.uniform(20, 60), 0, 255).astype(np.uint8)
    for region in (image[:y0], image[y1:], image[:, :x0], image[:, x1:]):
        region[...] = dark
    gap = max(1, round(h * 0.001))
    for lo, hi in ((0, x0), (x1, w)):
        if hi - lo > 3 * gap + 2 and rng.random() < 0.6:
            band = int((hi - lo - gap) * rng.uniform(0.3, 0.8))
            a = lo + gap if lo > 0 else hi - gap - band
            colour = np.clip(np.array(paper_rgb) * rng.uniform(0.6, 0.85), 0, 255).astype(np.uint8)
            image[y0 + gap : y1 - gap, a : a + band] = colour
