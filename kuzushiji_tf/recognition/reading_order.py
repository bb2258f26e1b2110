"""Reading order of a page's characters: vertical columns read right to left, top to bottom inside each,
so recognised boxes become text. Plain numpy on xyxy boxes: it needs no model and no TensorFlow.

Three steps. (1) Blocks: a recursive XY cut splits the page at wide empty bands (a header band above the
body, the gutter of a two-page spread), read top before bottom and right before left. (2) Chains: each
character is linked to the nearest character below it whose horizontal extent overlaps its own, when that
choice is mutual; links only compare neighbours, so slanted columns and small kana beside big kanji stay
together. (3) Columns: chains broken by a gap or a misdetection are merged into the column whose fitted
centre line they lie on, longest chains first; what fits nowhere starts a column of its own.
"""

from __future__ import annotations

import numpy as np

MIN_OVERLAP = 0.5  # of the narrower box's width: two characters above each other belong to one column
BLOCK_GAP = 1.5  # empty band, in median character heights (widths for a vertical cut), that splits blocks
COLUMN_TOLERANCE = 0.5  # a chain joins a column whose centre line is this many column widths away, or less
MAX_SHARED_HEIGHT = 0.3  # a multi-character chain beside a column (split text) is a column of its own
MAX_SLANT = 0.15  # |dx/dy| of a fitted column line; steeper fits come from stray members


def reading_order(
    boxes_xyxy: np.ndarray, *, min_overlap: float = MIN_OVERLAP, block_gap: float = BLOCK_GAP
) -> tuple[np.ndarray, np.ndarray]:
    """Orders a page's character boxes for reading: `reading_layout` without the blocks."""
    order, column_of, _ = reading_layout(boxes_xyxy, min_overlap=min_overlap, block_gap=block_gap)
    return order, column_of


def reading_layout(
    boxes_xyxy: np.ndarray, *, min_overlap: float = MIN_OVERLAP, block_gap: float = BLOCK_GAP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders a page's character boxes for reading, in blocks of columns.

    Args:
        boxes_xyxy: float [N, 4] boxes (x0, y0, x1, y1) in page pixels, in any order.
        min_overlap: horizontal overlap, as a share of the narrower box, that puts two stacked boxes in a
            column.
        block_gap: an empty horizontal (vertical) band at least this many median character heights
            (widths) tall (wide) separates blocks read one after the other.
    Returns:
        order: int64 [N], the box indices in reading order.
        column_of: int64 [N], per box (input indexing) its column's number in reading order, from 0.
        block_of: int64 [N], per box its block's number in reading order, from 0 (a block is a run of
            columns that no wide empty band divides: a text area, a caption, a note).
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not np.isfinite(boxes).all():
        raise ValueError(
            f"boxes must be finite; received {int((~np.isfinite(boxes)).any(axis=1).sum())} "
            f"rows with NaN or inf out of {n}"
        )
    boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1)
    size = np.maximum(np.median(boxes[:, 2:] - boxes[:, :2], axis=0), 1.0)  # (width, height), page median
    order, column_of, block_of, column = [], np.zeros(n, np.int64), np.zeros(n, np.int64), 0
    for number, block in enumerate(_blocks(np.arange(n), boxes, size, block_gap)):
        block_of[block] = number
        for members in _columns(boxes[block], min_overlap):
            order.extend(block[members].tolist())
            column_of[block[members]] = column
            column += 1
    return np.asarray(order, np.int64), column_of, block_of


def _gaps(lo: np.ndarray, hi: np.ndarray, min_gap: float) -> list[float]:
    """Cut positions in the middle of every empty stretch of at least `min_gap` between intervals."""
    idx = np.argsort(lo, kind="stable")
    reach = np.maximum.accumulate(hi[idx])[:-1]  # furthest end seen before each next start
    starts = lo[idx][1:]
    wide = starts - reach >= min_gap
    return ((starts[wide] + reach[wide]) / 2).tolist()


def _blocks(index: np.ndarray, boxes: np.ndarray, size: np.ndarray, block_gap: float) -> list[np.ndarray]:
    """Recursive XY cut into blocks in reading order; `index` selects the boxes of this region."""
    b = boxes[index]
    # A horizontal cut needs a region wider than one column: inside a single column a blank is just a gap.
    if b[:, 2].max() - b[:, 0].min() > 2 * size[0]:
        cuts = _gaps(b[:, 1], b[:, 3], block_gap * size[1])
        if cuts:
            part = np.searchsorted(cuts, (b[:, 1] + b[:, 3]) / 2)  # 0 = top band
            return [blk for p in range(len(cuts) + 1) for blk in _blocks(index[part == p], boxes, size, block_gap)]
    cuts = _gaps(b[:, 0], b[:, 2], block_gap * size[0])
    if cuts:
        part = len(cuts) - np.searchsorted(cuts, (b[:, 0] + b[:, 2]) / 2)  # 0 = rightmost part
        return [blk for p in range(len(cuts) + 1) for blk in _blocks(index[part == p], boxes, size, block_gap)]
    return [index]


def _chains(b: np.ndarray, min_overlap: float) -> list[np.ndarray]:
    """Runs of boxes linked to their nearest mutually-chosen neighbour below, each top to bottom."""
    w = np.maximum(b[:, 2] - b[:, 0], 1e-6)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    overlap = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])  # [n, n]
    # Relative to the narrower box, so a small kana under a wide kanji counts as fully overlapped.
    stacked = (overlap / np.minimum(w[:, None], w[None, :]) >= min_overlap) & (cy[None, :] > cy[:, None])
    # Gap from i's bottom to j's top, plus half the centre offset so an aligned neighbour wins a tie.
    cost = np.where(stacked, b[None, :, 1] - b[:, None, 3] + 0.5 * np.abs(cx[None, :] - cx[:, None]), np.inf)
    below, above = np.argmin(cost, axis=1), np.argmin(cost, axis=0)
    rows = np.arange(len(b))
    linked = np.isfinite(cost[rows, below]) & (above[below] == rows)  # i -> below[i], chosen both ways
    successor = np.where(linked, below, -1)
    has_pred = np.zeros(len(b), bool)
    has_pred[successor[linked]] = True
    chains = []
    for head in np.flatnonzero(~has_pred):
        chain = [head]
        while successor[chain[-1]] >= 0:
            chain.append(successor[chain[-1]])
        chains.append(np.asarray(chain, np.int64))
    return chains


def _line(b: np.ndarray, members: list[int]) -> tuple[float, float, float]:
    """(x at y=0, dx/dy, median width) of a column's centre line, fitted over its members."""
    m = b[members]
    cx, cy = (m[:, 0] + m[:, 2]) / 2, (m[:, 1] + m[:, 3]) / 2
    width = float(np.median(m[:, 2] - m[:, 0]))
    slope = 0.0
    if len(m) >= 3 and np.ptp(cy) > 0:
        slope = float(np.clip(np.polyfit(cy, cx, 1)[0], -MAX_SLANT, MAX_SLANT))
    return float(np.median(cx - slope * cy)), slope, max(width, 1e-6)


def _shared_height(b: np.ndarray, chain: np.ndarray, members: list[int]) -> float:
    """Share of the chain's total height that lies beside the column's members (vertical overlap)."""
    c, m = b[chain], b[members]
    overlap = np.minimum(c[:, None, 3], m[None, :, 3]) - np.maximum(c[:, None, 1], m[None, :, 1])
    return float(np.clip(overlap, 0, None).sum() / max((c[:, 3] - c[:, 1]).sum(), 1e-6))


def _columns(b: np.ndarray, min_overlap: float) -> list[np.ndarray]:
    """Columns of one block (indices into `b`), right to left, each top to bottom."""
    chains = sorted(_chains(b, min_overlap), key=lambda c: (-len(c), b[c, 1].min()))
    columns: list[list[int]] = []
    lines: list[tuple[float, float, float]] = []
    for chain in chains:
        cx, cy = (b[chain, 0] + b[chain, 2]) / 2, (b[chain, 1] + b[chain, 3]) / 2
        best, best_offset = -1, np.inf
        for k, (x0, slope, width) in enumerate(lines):
            offset = float(np.max(np.abs(cx - (x0 + slope * cy))) / width)
            # A lone box beside a column (a pair of small kana side by side) joins it; a run of them is
            # split text (warichu), read after the column as a column of its own.
            if (
                offset <= COLUMN_TOLERANCE
                and offset < best_offset
                and (len(chain) == 1 or _shared_height(b, chain, columns[k]) <= MAX_SHARED_HEIGHT)
            ):
                best, best_offset = k, offset
        if best < 0:
            columns.append(chain.tolist())
            lines.append(_line(b, columns[-1]))
        else:
            columns[best].extend(chain.tolist())
            lines[best] = _line(b, columns[best])
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    out = [np.asarray(sorted(c, key=lambda i: (cy[i], -cx[i])), np.int64) for c in columns]
    return sorted(out, key=lambda c: (-float(np.median(cx[c])), float(cy[c].min())))
