"""The page recogniser's glue in numpy, step for step as the SavedModel's graph computes it (float32):
CenterNet peaks (`centernet_postprocess`), greedy NMS (`tf.image.non_max_suppression`), the `auto` scale
policy's choice (`detection.scaled_short_side`) and the character crops (`page_recognizer.crop_characters`).
No TensorFlow."""

from __future__ import annotations

import numpy as np

from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE

F32 = np.float32


EIGEN_PACKET = 8  # floats per AVX packet: TensorFlow's CPU kernels vectorise all but the last N % 8 elements


def sigmoid(x: np.ndarray) -> np.ndarray:
    """float32 sigmoid with the values of TensorFlow's CPU kernel (Eigen's `scalar_logistic_op<float>`), so
    that scores, their ties and so the order of the peaks are the SavedModel's: its packet path (a range
    reduced exp(x / 2) squared, every step in float32) for all but the last N % 8 elements of the flattened
    tensor, which take its scalar path (e / (1 + e), e = exp(x)). numpy's own 1 / (1 + exp(-x)) differs
    in the last bit for about half the values."""
    x = np.asarray(x, F32)
    flat = x.reshape(-1)
    tail = len(flat) - len(flat) % EIGEN_PACKET
    v = np.minimum(flat[:tail], F32(16.6355324)) * F32(0.5)
    m = np.floor(v * F32(1.44269504088896341) + F32(0.5))
    r = m * F32(-0.693359375) + v
    r = m * F32(2.12194440e-4) + r
    r2 = r * r
    p_even = r2 * F32(4.1898667812347412109375e-2) + F32(0.49999141693115234375)
    p_odd = r2 * F32(8.33471305668354034423828125e-3) + F32(0.16666877269744873046875)
    p = r * p_odd + p_even
    p = r2 * p + (r + F32(1.0))
    e = np.ldexp(p, m.astype(np.int32)).astype(F32)
    e = e * e
    packets = np.where(flat[:tail] < F32(-104.0), F32(0.0), e / (F32(1.0) + e))
    e = np.exp(np.minimum(flat[tail:], F32(16.6355324)).astype(np.float64)).astype(F32)  # correctly rounded expf
    return np.concatenate([packets, e / (F32(1.0) + e)]).astype(F32).reshape(x.shape)


def centernet_peaks(
    outputs: dict, max_detections: int, score_threshold: float, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image's (boxes float32 [n, 4] xyxy input pixels, scores float32 [n] descending) from its detector
    maps (`HEATMAP` logits [Ho, Wo, 1] or [1, Ho, Wo, 1], `SIZE`, `OFFSET`): the valid entries of
    `centernet_postprocess`. A peak equals the maximum of its 3x3 neighbourhood (on the logits) and scores
    sigmoid(logit) >= `score_threshold`; the best `max_detections`, ties by cell index as TF's top_k."""
    logits = np.asarray(outputs[HEATMAP], F32).reshape(np.shape(outputs[HEATMAP])[-3:])[..., 0]  # [Ho, Wo]
    height, width = logits.shape
    padded = np.pad(logits, 1, constant_values=-np.inf)  # max_pool "same": cells outside never win
    pooled = np.max(np.stack([padded[dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)]), axis=0)
    probs = sigmoid(logits)
    cells = np.flatnonzero((logits == pooled) & (probs >= F32(score_threshold)))
    scores = probs.reshape(-1)[cells]
    order = np.argsort(-scores, kind="stable")[:max_detections]  # descending, lower cell first on ties
    cells, scores = cells[order], scores[order]
    size = np.asarray(outputs[SIZE], F32).reshape(-1, 2)[cells]
    offset = np.asarray(outputs[OFFSET], F32).reshape(-1, 2)[cells]
    x = (cells % width).astype(F32) + offset[:, 0]
    y = (cells // width).astype(F32) + offset[:, 1]
    half_w = np.maximum(size[:, 0], F32(0.0)) / F32(2.0)
    half_h = np.maximum(size[:, 1], F32(0.0)) / F32(2.0)
    boxes = np.stack([x - half_w, y - half_h, x + half_w, y + half_h], axis=-1) * F32(stride)
    return boxes.astype(F32).reshape(-1, 4), scores.astype(F32)


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_output_size: int
) -> np.ndarray:
    """Indices kept by `tf.image.non_max_suppression` of xyxy `boxes`: best score first (ties: lower index
    first), a box is dropped when its IoU with a kept one is > `iou_threshold`; boxes of zero area overlap
    nothing. IoU in float32 as TensorFlow's kernel computes it."""
    boxes, scores = np.asarray(boxes, F32).reshape(-1, 4), np.asarray(scores, F32)
    x0, x1 = np.minimum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 0], boxes[:, 2])
    y0, y1 = np.minimum(boxes[:, 1], boxes[:, 3]), np.maximum(boxes[:, 1], boxes[:, 3])
    areas = (y1 - y0) * (x1 - x0)
    order = np.argsort(-scores, kind="stable")
    alive = np.ones(len(boxes), bool)
    keep = []
    threshold = F32(iou_threshold)
    for rank, i in enumerate(order):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) >= max_output_size:
            break
        rest = order[rank + 1 :]
        rest = rest[alive[rest]]
        if len(rest) == 0 or areas[i] <= 0:
            continue
        inter = np.maximum(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), F32(0.0)) * np.maximum(
            np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), F32(0.0)
        )
        iou = inter / (areas[rest] + areas[i] - inter)
        iou = np.where(areas[rest] <= 0, F32(0.0), iou)
        alive[rest[iou > threshold]] = False
    return np.asarray(keep, np.int64)


def scaled_short_side(
    boxes: np.ndarray,
    page_size: tuple[int, int],
    short_side: int,
    *,
    target_char_height: float,
    min_short_side: int,
    max_short_side: int,
    tolerance: float,
    min_chars: int,
    multiple: int,
) -> int:
    """`detection.scaled_short_side` in float32, step for step: the short side the `auto` scale policy reads
    a page at, from the xyxy scan-pixel `boxes` of its first pass at `short_side` and the scan's (height,
    width)."""
    boxes = np.asarray(boxes, F32).reshape(-1, 4)
    if len(boxes) < min_chars:
        return int(short_side)
    median = np.sort(boxes[:, 3] - boxes[:, 1])[(len(boxes) - 1) // 2]
    raw = F32(target_char_height) * F32(min(page_size)) / np.maximum(median, F32(1e-6))
    chosen = np.clip(np.round(raw / F32(multiple)) * F32(multiple), F32(min_short_side), F32(max_short_side))
    current = F32(short_side)
    if np.abs(chosen - current) < F32(tolerance) * current:
        return int(short_side)
    return int(chosen)


def square_crop_boxes(boxes: np.ndarray, factor: float) -> np.ndarray:
    """Squares of `factor` x each xyxy box's longer side around its centre. [N, 4] -> [N, 4]."""
    boxes = np.asarray(boxes, F32)
    centre = (boxes[:, :2] + boxes[:, 2:]) / F32(2.0)
    half = F32(factor) * np.max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True) / F32(2.0)
    return np.concatenate([centre - half, centre + half], axis=1)


def crop_geometry(shape: tuple[int, int], squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`crop_characters`' mirror padding of the page: ((top, left) int [2], (bottom, right) int [2]), only on
    the sides the squares leave, by their overshoot plus one pixel of slack, at most the largest square's
    side and the page size - 1 (SYMMETRIC padding's limit)."""
    hw = np.array(shape[:2])
    first = np.stack([squares[:, 1], squares[:, 0]], 1) - F32(0.5)  # [N, 2] (y, x) first sample
    last = np.stack([squares[:, 3], squares[:, 2]], 1) - F32(0.5)
    none = np.zeros((1, 2), F32)
    before = np.max(np.concatenate([F32(1.0) - first, none]), axis=0)
    after = np.max(np.concatenate([last - (hw - 1).astype(F32) + F32(1.0), none]), axis=0)
    largest = np.ceil(np.max(np.concatenate([[F32(0.0)], np.abs(squares[:, 2] - squares[:, 0])])))
    limit = min(int(largest), int(hw.min()) - 1)
    return (np.minimum(np.ceil(before).astype(np.int64), limit), np.minimum(np.ceil(after).astype(np.int64), limit))


def crop_and_resize(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """`tf.image.crop_and_resize(image[None], boxes, 0, [size, size])` (bilinear, extrapolation 0) of a
    uint8 [H, W, C] image and normalised (y0, x0, y1, x1) boxes -> float32 [N, size, size, C], with the op's
    float32 arithmetic: sample positions start * (extent - 1) + i * step, then per sample
    top = tl + (tr - tl) * x_lerp, bottom = bl + (br - bl) * x_lerp, top + (bottom - top) * y_lerp.
    Each crop interpolates its window's rows along x once, then the two rows of every sample along y."""
    height, width, channels = image.shape
    boxes = np.asarray(boxes, F32).reshape(-1, 4)
    steps = np.arange(size).astype(F32)

    def samples(start, end, extent):  # [N, size]
        last = F32(extent - 1)
        if size > 1:
            step = (end - start) * last / F32(size - 1)
            return start[:, None] * last + steps[None, :] * step[:, None]
        return np.repeat((F32(0.5) * (start + end) * last)[:, None], size, 1)

    all_y, all_x = samples(boxes[:, 0], boxes[:, 2], height), samples(boxes[:, 1], boxes[:, 3], width)
    out = np.zeros((len(boxes), size, size, channels), F32)
    for n, (in_y, in_x) in enumerate(zip(all_y, all_x)):
        rows = np.flatnonzero((in_y >= 0) & (in_y <= F32(height - 1)))  # others stay 0 (extrapolation)
        cols = np.flatnonzero((in_x >= 0) & (in_x <= F32(width - 1)))
        if len(rows) == 0 or len(cols) == 0:
            continue
        in_y, in_x = in_y[rows], in_x[cols]
        top, left = np.floor(in_y), np.floor(in_x)
        top_i, bottom_i = top.astype(np.int64), np.ceil(in_y).astype(np.int64)
        left_i, right_i = left.astype(np.int64), np.ceil(in_x).astype(np.int64)
        first, last = top_i[0], bottom_i[-1] + 1  # the window of the page the samples read
        start, end = left_i[0], right_i[-1] + 1
        window = image[first:last, start:end].astype(F32)
        left_px = np.take(window, left_i - start, axis=1)
        across = np.take(window, right_i - start, axis=1)  # rows of the window, interpolated along x:
        across -= left_px  # left + (right - left) * x_lerp, in place
        across *= (in_x - left)[None, :, None]
        across += left_px
        upper = np.take(across, top_i - first, axis=0)
        lower = np.take(across, bottom_i - first, axis=0)  # upper + (lower - upper) * y_lerp
        lower -= upper
        lower *= (in_y - top)[:, None, None]
        lower += upper
        out[n, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = lower
    return out


def crop_characters(
    image: np.ndarray, boxes: np.ndarray, size: int, factor: float, oversample: int, chunk: int = 64
) -> np.ndarray:
    """float32 [N, size, size, 3] 0..255 squares around xyxy pixel boxes of a uint8 [H, W, 3] image, as
    `page_recognizer.crop_characters`: mirror-padded page, crops at `oversample` x `size` then averaged.
    The padding is the whole page's (it sets every crop's sample positions); the crops are cut `chunk`
    boxes at a time to bound the oversampled crops' memory."""
    boxes = np.asarray(boxes, F32).reshape(-1, 4)
    channels = image.shape[2]
    if len(boxes) == 0:
        return np.zeros((0, size, size, channels), F32)
    squares = square_crop_boxes(boxes, factor)
    before, after = crop_geometry(image.shape, squares)
    if (before > 0).any() or (after > 0).any():
        image = np.pad(image, [(before[0], after[0]), (before[1], after[1]), (0, 0)], mode="symmetric")
    shift = before.astype(F32) - F32(0.5)  # (y, x) page pixels -> padded sample positions
    extent = (np.array(image.shape[:2]) - 1).astype(F32)
    normalised = np.stack(
        [
            (squares[:, 1] + shift[0]) / extent[0],
            (squares[:, 0] + shift[1]) / extent[1],
            (squares[:, 3] + shift[0]) / extent[0],
            (squares[:, 2] + shift[1]) / extent[1],
        ],
        1,
    )
    out = np.empty((len(boxes), size, size, channels), F32)
    for start in range(0, len(boxes), chunk):
        crops = crop_and_resize(image, normalised[start : start + chunk], size * oversample)
        pooled = np.zeros((len(crops), size, size, channels), F32)
        for dy in range(oversample):  # avg_pool2d's sum, in its order (row by row), then the division
            for dx in range(oversample):
                pooled += crops[:, dy::oversample, dx::oversample]
        out[start : start + chunk] = pooled / F32(oversample * oversample)
    return out


def contained_mask(boxes: np.ndarray, share: float) -> np.ndarray:
    """bool [n]: `detection.contained_mask` in float32: which xyxy `boxes` (best first) have more than
    `share` of their area inside a box ranked before them; a box of zero area is never dropped."""
    boxes = np.asarray(boxes, F32).reshape(-1, 4)
    low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    overlap = np.maximum(high - low, F32(0.0))  # [n, n, 2]
    inter = overlap[..., 0] * overlap[..., 1]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(area[:, None] != 0, inter / area[:, None], F32(0.0))
    before = np.tri(len(boxes), k=-1, dtype=bool)  # [i, j]: j ranked before i
    return (before & (inside > F32(share))).any(axis=1)
