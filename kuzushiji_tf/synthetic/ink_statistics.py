"""How the ink of written characters looks, measured the same way on real scans and on synthetic pages, so
the generator's stroke, ink and paper ranges can be checked against real pages that have no labels.

Per character box (a detector's boxes on real scans: no labels needed), on the grey page, with the box's
own Otsu threshold splitting ink from paper:

- ink fraction: the share of the box that is ink (thin strokes and open glyphs give low values);
- stroke / height: the stroke width over the box height, so pages of any resolution compare. The width is
  2d - 1 for d the mean distance-transform value on the stroke's ridge (its local maxima): a ridge pixel
  of a w-pixel stroke is (w + 1) / 2 from the paper;
- contrast: paper grey minus ink grey inside the box, 0..255;
- surround ink: the share of ink (darker than the box's own threshold) in what the classifier's crop, a
  square of `crop_factor` x the box's longer side (the caller passes the recogniser's
  `box_ops.INFERENCE_CROP_FACTOR`: this package imports nothing of `data`), holds outside the box:
  neighbours, furigana, cursive strokes.

The medians are robust to the odd false detection (a seal, a frame corner).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

MIN_BOX_PIXELS = 100  # smaller boxes (a dot, a detection on noise) say nothing about strokes
STATISTICS = ("ink_fraction", "stroke_to_height", "contrast", "surround_ink")


@dataclass(frozen=True)
class InkStatistics:
    """Medians over `boxes` character boxes of the per-box figures (module docstring)."""

    boxes: int
    ink_fraction: float
    stroke_to_height: float
    contrast: float
    surround_ink: float

    def as_dict(self) -> dict:
        return asdict(self)


def box_figures(gray: np.ndarray, box: Sequence[float], crop_factor: float) -> tuple[float, float, float, float] | None:
    """(ink fraction, stroke / height, contrast, surround ink) of one xyxy box of a uint8 [H, W] grey page,
    or None when the box is too small or holds no ink / no paper."""
    h, w = gray.shape[:2]
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    crop = gray[y0:y1, x0:x1]
    if crop.size < MIN_BOX_PIXELS:
        return None
    threshold, mask = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    ink = mask > 0
    if not ink.any() or ink.all():
        return None
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    ridge = (distance == cv2.dilate(distance, np.ones((3, 3), np.uint8))) & ink
    stroke = (2.0 * float(distance[ridge].mean()) - 1.0) / (y1 - y0)
    contrast = float(crop[~ink].mean()) - float(crop[ink].mean())
    half = crop_factor * max(x1 - x0, y1 - y0) / 2.0
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    sx0, sy0 = max(0, int(round(cx - half))), max(0, int(round(cy - half)))
    sx1, sy1 = min(w, int(round(cx + half))), min(h, int(round(cy + half)))
    ring = np.ones((sy1 - sy0, sx1 - sx0), bool)
    ring[max(0, y0 - sy0) : y1 - sy0, max(0, x0 - sx0) : x1 - sx0] = False
    square = gray[sy0:sy1, sx0:sx1]
    surround = float((square[ring] <= threshold).mean()) if ring.any() else 0.0
    return float(ink.mean()), stroke, contrast, surround


def ink_statistics(pages: Iterable[tuple[np.ndarray, np.ndarray]], crop_factor: float) -> InkStatistics:
    """Medians over every usable box of (uint8 RGB or grey page, float [n, 4] xyxy boxes) pairs."""
    figures = []
    for image, boxes in pages:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        figures += [f for f in (box_figures(gray, box, crop_factor) for box in np.asarray(boxes).reshape(-1, 4)) if f]
    if not figures:
        return InkStatistics(0, *([float("nan")] * len(STATISTICS)))
    medians = np.median(np.asarray(figures, np.float64), axis=0)
    return InkStatistics(len(figures), *(float(v) for v in medians))
