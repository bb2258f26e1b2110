"""Handwriting, not type: what a brush and a carver do to each glyph that a font never does.

Each written glyph is its font glyph changed by one draw of `Hand`: a smooth elastic warp (no two
characters alike), slant, brush pressure (strokes thicker where the brush pressed, thinner where it
lifted), and sometimes dry-brush breaks. Everything works on the uint8 ink mask at its final size, so a
glyph costs a few small OpenCV calls. `connector` draws the cursive stroke that runs from one character
into the next down a column; the labelled boxes stay the characters' own ink, so, as on real pages,
the box edges cut through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kuzushiji_tf.synthetic.paper import smooth_field


@dataclass(frozen=True)
class Hand:
    """A book's handwriting, drawn once per book.

    Args:
        warp: elastic displacement, as a fraction of the glyph's size (std of the control points).
        slant: std of the per-glyph shear (x shift per unit of y).
        pressure: mean of the brush-pressure field in [0, 1] (0: the thin stroke everywhere, 1: the thick).
        pressure_var: how much pressure varies inside a glyph.
        dry_prob: chance that a glyph shows dry-brush breaks.
        connect_prob: chance that a character runs on into the next one in its column.
        enabled: False draws the font's glyph unchanged (the ablation's "no handwriting").
    """

    warp: float = 0.05
    slant: float = 0.08
    pressure: float = 0.5
    pressure_var: float = 0.35
    dry_prob: float = 0.1
    connect_prob: float = 0.2
    enabled: bool = True


def sample_hand(rng: np.random.Generator) -> Hand:
    return Hand(
        warp=float(rng.uniform(0.025, 0.07)),
        slant=float(rng.uniform(0.03, 0.12)),
        pressure=float(rng.uniform(0.25, 0.75)),
        pressure_var=float(rng.uniform(0.2, 0.5)),
        dry_prob=float(rng.uniform(0.0, 0.25)),
        connect_prob=float(rng.uniform(0.05, 0.45)),
    )


def _pressure(mask: np.ndarray, rng: np.random.Generator, hand: Hand) -> np.ndarray:
    """Blend the glyph's eroded and dilated strokes by a smooth pressure field."""
    k = np.ones((3, 3), np.uint8)
    thin, thick = cv2.erode(mask, k), cv2.dilate(mask, k)
    t = np.clip(hand.pressure + hand.pressure_var * smooth_field(rng, mask.shape, (3, 3)), 0.0, 1.0)
    out = thin.astype(np.float32) + (thick.astype(np.float32) - thin) * t
    return out.astype(np.uint8)


def _warp(mask: np.ndarray, rng: np.random.Generator, hand: Hand) -> np.ndarray:
    """Elastic warp plus slant; the mask is padded first so no stroke is cut off."""
    h, w = mask.shape
    pad = max(2, int(0.15 * max(h, w)))
    mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
    H, W = mask.shape
    size = float(max(h, w))
    dx = smooth_field(rng, (H, W), (4, 4)) * (hand.warp * size)
    dy = smooth_field(rng, (H, W), (4, 4)) * (hand.warp * size)
    shear = float(rng.normal(0, hand.slant))
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    map_x = xs + dx + shear * (ys - H / 2)
    map_y = ys + dy
    return cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _dry(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Streaks along the stroke direction where the brush ran out of ink."""
    h, w = mask.shape
    streaks = cv2.resize(
        rng.standard_normal((max(2, h // 6), max(2, w // 2))).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR
    )
    if rng.random() < 0.5:  # horizontal strokes streak across, vertical ones down
        streaks = cv2.resize(
            rng.standard_normal((max(2, h // 2), max(2, w // 6))).astype(np.float32),
            (w, h),
            interpolation=cv2.INTER_LINEAR,
        )
    keep = np.where(streaks > rng.uniform(0.6, 1.2), rng.uniform(0.15, 0.5), 1.0).astype(np.float32)
    return (mask * keep).astype(np.uint8)


def write_glyph(mask: np.ndarray, rng: np.random.Generator, hand: Hand) -> np.ndarray:
    """The font glyph `mask` (uint8 [h, w], 255 = ink) as one hand would write it (uint8, padded)."""
    if not hand.enabled or min(mask.shape) < 4:
        return mask
    out = _pressure(mask, rng, hand)
    out = _warp(out, rng, hand)
    if rng.random() < hand.dry_prob:
        out = _dry(out, rng)
    return out


def connector(start: tuple[float, float], end: tuple[float, float], width: float, rng: np.random.Generator):
    """A thin curved stroke from `start` to `end` (page x, y): (mask uint8, x0, y0) to paste, or None.

    The stroke tapers as the brush lifts; its bow is random, as a writer's wrist moves.
    """
    (x0, y0), (x1, y1) = start, end
    if y1 <= y0:
        return None
    bow = rng.normal(0, 0.25) * (y1 - y0)
    t = np.linspace(0.0, 1.0, 12)[:, None]
    mid = np.array([(x0 + x1) / 2 + bow, (y0 + y1) / 2])
    pts = (1 - t) ** 2 * np.array([x0, y0]) + 2 * (1 - t) * t * mid + t**2 * np.array([x1, y1])
    pad = int(np.ceil(width)) + 2
    left, top = int(np.floor(pts[:, 0].min())) - pad, int(np.floor(pts[:, 1].min())) - pad
    w = int(np.ceil(pts[:, 0].max())) + pad - left + 1
    h = int(np.ceil(pts[:, 1].max())) + pad - top + 1
    mask = np.zeros((h, w), np.uint8)
    local = ((pts - (left, top)) * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    for k in range(len(local) - 1):
        thickness = max(1, int(round(width * (1.0 - 0.6 * k / len(local)))))
        cv2.line(mask, tuple(local[k]), tuple(local[k + 1]), 255, thickness, cv2.LINE_AA, shift=2)
    return mask, left, top
