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
        yy, xx = np.ogrid[: mid[0], : mid[1]]
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
        pts = np.cumsum(
            np.stack([np.cos(angle + rng.normal(0, 0.3, 4)), np.sin(angle + rng.normal(0, 0.3, 4))], 1) * length / 4,
            axis=0,
        ) + (x, y)
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
    return (
        int(sx0 + left),
        int(sy0 + rng.uniform(0.13, 0.23) * h),
        int(sx1 - right),
        int(sy1 - rng.uniform(0.035, 0.07) * h),
    )


def draw_picture(rng: np.random.Generator, ink: np.ndarray, rect: tuple[int, int, int, int], stroke: float) -> None:
    """An illustration's line work in `rect` (in place on the uint8 ink canvas): hills, waves, hatching.

    Books put pictures among the text; none of their strokes is a character, so a detector must learn to
    leave them alone.
    """
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    if w < 8 or h < 8:
        return
    t = max(1, round(stroke))
    for _ in range(int(rng.integers(3, 8))):  # long smooth contours
        xs = np.linspace(x0, x1, 24)
        base = rng.uniform(y0, y1)
        ys = base + np.cumsum(rng.normal(0, 0.04 * h, 24))
        pts = np.stack([xs, np.clip(ys, y0, y1)], 1).astype(np.int32)
        cv2.polylines(ink, [pts], False, 255, t, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 4))):  # hatched patches
        cx, cy, r = rng.uniform(x0, x1), rng.uniform(y0, y1), rng.uniform(0.05, 0.2) * min(w, h)
        angle = rng.uniform(0, np.pi)
        for k in np.linspace(-r, r, int(rng.integers(4, 12))):
            dx, dy = np.cos(angle) * r, np.sin(angle) * r
            ox, oy = -np.sin(angle) * k, np.cos(angle) * k
            cv2.line(
                ink,
                (int(cx + ox - dx), int(cy + oy - dy)),
                (int(cx + ox + dx), int(cy + oy + dy)),
                255,
                max(1, t // 2),
                cv2.LINE_AA,
            )
    for _ in range(int(rng.integers(0, 4))):  # round shapes: a moon, a roof tile, a face
        cv2.ellipse(
            ink,
            (int(rng.uniform(x0, x1)), int(rng.uniform(y0, y1))),
            (int(rng.uniform(0.03, 0.12) * w) + 1, int(rng.uniform(0.03, 0.12) * h) + 1),
            float(rng.uniform(0, 180)),
            0,
            float(rng.uniform(120, 360)),
            255,
            t,
            cv2.LINE_AA,
        )


def stamp_seal(rng: np.random.Generator, image: np.ndarray, centre: tuple[float, float], side: float) -> None:
    """A red owner's seal (in place on the RGB page): a square or round border round blocky strokes."""
    h, w = image.shape[:2]
    side = max(8, int(side))
    mask = np.zeros((side, side), np.uint8)
    t = max(1, side // 14)
    if rng.random() < 0.7:
        cv2.rectangle(mask, (t, t), (side - 1 - t, side - 1 - t), 255, t)
    else:
        cv2.circle(mask, (side // 2, side // 2), side // 2 - t, 255, t)
    for _ in range(int(rng.integers(6, 16))):  # seal-script strokes: short straight bars and hooks
        a, b = rng.integers(2 * t, side - 2 * t, 2), rng.integers(2 * t, side - 2 * t, 2)
        if rng.random() < 0.5:
            b[0] = a[0]
        else:
            b[1] = a[1]
        cv2.line(mask, tuple(int(v) for v in a), tuple(int(v) for v in b), 255, max(1, t // 2 + 1))
    x0, y0 = int(centre[0] - side / 2), int(centre[1] - side / 2)
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if xb <= xa or yb <= ya:
        return
    alpha = mask[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(np.float32)[..., None] / 255 * rng.uniform(0.5, 0.85)
    red = np.array([rng.uniform(160, 210), rng.uniform(30, 70), rng.uniform(30, 60)], np.float32)
    region = image[ya:yb, xa:xb].astype(np.float32)
    image[ya:yb, xa:xb] = np.clip(region * (1 - alpha) + red * alpha, 0, 255).astype(np.uint8)


def stain(rng: np.random.Generator, image: np.ndarray) -> None:
    """A large water or oil stain (in place): a soft brown blotch with a darker tide line."""
    h, w = image.shape[:2]
    field = cv2.resize(
        rng.standard_normal((6, 6)).astype(np.float32), (w // 8 + 1, h // 8 + 1), interpolation=cv2.INTER_CUBIC
    )
    cy, cx, r = rng.uniform(0, h // 8), rng.uniform(0, w // 8), rng.uniform(0.1, 0.35) * w / 8
    yy, xx = np.ogrid[: h // 8 + 1, : w // 8 + 1]
    blob = ((yy - cy) ** 2 + (xx - cx) ** 2) ** 0.5 / r + 0.4 * field < 1.0
    soft = cv2.GaussianBlur(blob.astype(np.float32), (0, 0), 2.0)
    tide = np.clip(soft * (1 - soft) * 4, 0, 1) * 0.5
    alpha = cv2.resize(soft * 0.5 + tide, (w, h), interpolation=cv2.INTER_LINEAR)[..., None] * rng.uniform(0.08, 0.25)
    brown = np.array([120, 90, 50], np.float32)
    image[...] = np.clip(image * (1 - alpha) + brown * alpha, 0, 255).astype(np.uint8)


def centre_fold(rng: np.random.Generator, image: np.ndarray, side: int, depth: float) -> None:
    """The sheet's fold at the gutter edge (in place): shading that deepens towards it, and a crease."""
    h, w = image.shape[:2]
    width = max(2, int(rng.uniform(0.03, 0.08) * w))
    ramp = (1.0 - np.linspace(0, 1, width, dtype=np.float32)) ** 2 * depth
    shade = 1.0 - (ramp if side == 1 else ramp[::-1])
    cols = slice(0, width) if side == 1 else slice(w - width, w)
    image[:, cols] = np.clip(image[:, cols] * shade[None, :, None], 0, 255).astype(np.uint8)
    crease = int(rng.uniform(0.2, 0.6) * width)
    x = crease if side == 1 else w - 1 - crease
    image[:, x] = (image[:, x] * (1 - depth)).astype(np.uint8)
