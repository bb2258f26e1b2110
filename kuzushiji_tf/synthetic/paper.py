"""Paper, scanner and print texture: everything on a page that is not a labelled glyph.

Fields are drawn at low resolution and resized, so a 2400x3900 page costs a few full-size array passes;
detectors trained on the pages must learn to ignore blotches, fibres, frame lines and show-through.
"""
from __future__ import annotations

import cv2
import numpy as np


def smooth_field(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """float32 [H, W] smooth noise, roughly unit variance, with about `cells` (rows, cols) features."""
    h, w = size
    small = rng.standard_normal((max(2, cells[0]), max(2, cells[1]))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def paper_luminance(rng: np.random.Generator, size: tuple[int, int], blotch: float, fibres: float) -> np.ndarray:
    """float32 [H, W] multiplicative paper brightness around 1: blotches, stains, fibres, edge shading."""
    h, w = size
    mid = (max(8, h // 8), max(8, w // 8))  # everything but the fibres is built at 1/8 scale
    field = smooth_field(rng, mid, (10, 7)) * blotch + smooth_field(rng, mid, (60, 40)) * blotch * 0.25
    for _ in range(int(rng.integers(0, 6))):  # foxing: small brown spots
        cy, cx = rng.uniform(0, mid[0]), rng.uniform(0, mid[1])
        r = rng.uniform(0.3, 2.5) * mid[1] / 100
        yy, xx = np.ogrid[:mid[0], :mid[1]]
        field -= rng.uniform(0.03, 0.12) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)).astype(np.float32)
    # Darker towards the sheet's edges, where handling and light have aged it.
    ey = np.minimum(np.arange(mid[0]), np.arange(mid[0])[::-1])[:, None] / mid[0]
    ex = np.minimum(np.arange(mid[1]), np.arange(mid[1])[::-1])[None, :] / mid[1]
    field -= (0.06 * np.exp(-ey / 0.04) + 0.06 * np.exp(-ex / 0.04)).astype(np.float32)
    lum = cv2.resize(1.0 + field, (w, h), interpolation=cv2.INTER_LINEAR)
    # Mottle a few pixels across: the fine texture that dominates a real scan's paper (high-pass std ~5).
    fine = (max(4, h // 3), max(4, w // 3))
    lum += cv2.resize(rng.standard_normal(fine, dtype=np.float32) * 0.03, (w, h), interpolation=cv2.INTER_LINEAR)
    fibre = np.zeros((h, w), np.uint8)
    n = int(fibres * 0.00008 * h * w)
    scale = h / 3900
    for _ in range(n):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        length, angle = rng.uniform(10, 60) * scale, rng.uniform(0, np.pi)
        pts = np.cumsum(np.stack([np.cos(angle + rng.normal(0, 0.3, 4)), np.sin(angle + rng.normal(0, 0.3, 4))], 1)
                        * length / 4, axis=0) + (x, y)
        cv2.polylines(fibre, [pts.astype(np.int32)], False, int(rng.integers(60, 255)), 1, cv2.LINE_AA)
    lum -= fibre.astype(np.float32) * (0.05 / 255)
    return lum


def ink_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """float32 [H, W] in [0.8, 1]: woodblock ink is uneven, lighter where the block took less."""
    h, w = size
    field = smooth_field(rng, (max(8, h // 4), max(8, w // 4)), (max(2, h // 24), max(2, w // 24)))
    tex = np.clip(1.0 - 0.08 * np.abs(field), 0.8, 1.0)
    return cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR)


def draw_frame(ink: np.ndarray, rect: tuple[int, int, int, int], width: float, double: bool) -> None:
    """Ruled border (in place on the uint8 ink canvas): one heavy line, optionally a thin inner one."""
    x0, y0, x1, y1 = rect
    t = max(1, round(width))
    cv2.rectangle(ink, (x0, y0), (x1, y1), 255, t, cv2.LINE_AA)
    if double:
        d = round(2.5 * t) + 1
        cv2.rectangle(ink, (x0 + d, y0 + d), (x1 - d, y1 - d), 255, max(1, t // 3), cv2.LINE_AA)


def sheet_rect(rng: np.random.Generator, size: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    """The paper's extent in the scan; outside it the scanner bed (or the next leaf) shows dark."""
    h, w = size
    outer, gutter = rng.uniform(0.0, 0.05 if rng.random() < 0.3 else 0.02) * w, rng.uniform(0.0, 0.012) * w
    left, right = (gutter, outer) if side == 1 else (outer, gutter)
    return int(left), int(rng.uniform(0, 0.012) * h), int(w - right), int(h - rng.uniform(0, 0.012) * h)


def frame_rect(rng: np.random.Generator, sheet: tuple[int, int, int, int], side: int) -> tuple[int, int, int, int]:
    """The ruled border: a tall top margin, as in Edo printed books; the wide side margin alternates."""
    sx0, sy0, sx1, sy1 = sheet
    w, h = sx1 - sx0, sy1 - sy0
    wide, narrow = rng.uniform(0.07, 0.12) * w, rng.uniform(0.03, 0.06) * w
    left, right = (wide, narrow) if side == 1 else (narrow, wide)
    return (int(sx0 + left), int(sy0 + rng.uniform(0.13, 0.23) * h),
            int(sx1 - right), int(sy1 - rng.uniform(0.035, 0.07) * h))
