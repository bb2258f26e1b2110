"""Pixel work of the record builder, one page at a time: decode once at full size, cut the character
crops from the full-resolution pixels, then shrink the page for the detector's records.

Plain numpy/OpenCV so that worker processes start fast and never import TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kuzushiji_tf.data.box_ops import STORED_CROP_FACTOR, scale_boxes, square_boxes
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS, load_image

# 416 / 0.35 = 1189: the recipe's smallest random crop (0.35 x the short side, resized to 416) is never
# upsampled from a 1200-px page, while decoding costs a quarter of a ~2400 x 3900 original.
DEFAULT_PAGE_SHORT_SIDE = 1200
# 112 x 1.4 / 1.1 = 142.5: the classifier's largest zoom (a 1.1/1.4 fraction resized to 112) still reads
# stored pixels, not interpolated ones.
DEFAULT_CROP_SIZE = 144
# Pages at 90: half the bytes of 95 (page decode dominates the detector's input cost) and the difference
# is invisible at stroke scale. Crops are small, so they keep 95.
PAGE_JPEG_QUALITY = 90
CROP_JPEG_QUALITY = 95


def shrink_to_short_side(image: np.ndarray, short_side: int) -> tuple[np.ndarray, float, float]:
    """Resizes so the short side is at most `short_side` (never enlarges). Returns (image, sx, sy), where
    sx, sy map original pixels to stored ones; they differ slightly because sizes are rounded."""
    height, width = image.shape[:2]
    factor = min(1.0, short_side / min(height, width))
    if factor == 1.0:
        return image, 1.0, 1.0
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return resized, new_w / width, new_h / height


def cut_square_crops(image: np.ndarray, boxes: np.ndarray, size: int, factor: float = STORED_CROP_FACTOR) -> np.ndarray:
    """[N, size, size, 3] uint8 squares of `factor` x each box's longer side around its centre.
    Parts beyond the page edge repeat the edge pixels, so a crop never shows an artificial black frame."""
    height, width = image.shape[:2]
    crops = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(np.round(square_boxes(boxes, factor)).astype(int)):
        side = max(x1 - x0, y1 - y0, 1)
        x1, y1 = x0 + side, y0 + side
        inner = image[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)]
        if inner.size == 0:
            inner = np.zeros((1, 1, 3), np.uint8)
        pad = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
        if any(pad):
            inner = cv2.copyMakeBorder(inner, *pad, borderType=cv2.BORDER_REPLICATE)
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        crops[i] = cv2.resize(inner, (size, size), interpolation=interpolation)
    return crops


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    return buffer.tobytes()


@dataclass(frozen=True)
class PreparedPage:
    """What one page contributes to the records. Boxes are in stored-page pixels."""

    image_id: str
    page_jpeg: bytes
    stored_width: int
    stored_height: int
    scale_x: float
    scale_y: float
    stored_boxes: np.ndarray  # [N, 4] float32
    crop_jpegs: tuple[bytes, ...]  # one per box, in label order; empty for test pages


def prepare_page(
    image_path,
    image_id: str,
    boxes: np.ndarray,
    *,
    page_short_side: int = DEFAULT_PAGE_SHORT_SIDE,
    crop_size: int = DEFAULT_CROP_SIZE,
    with_crops: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: tuple[str, ...] = ("JPEG",),
) -> PreparedPage:
    """Decodes the page (ImageError if it is corrupt or not of `formats`, Pillow's format names), cuts
    crops and shrinks it. `boxes` in original pixels."""
    image = load_image(image_path, max_pixels=max_pixels, formats=formats)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    crops = cut_square_crops(image, boxes, crop_size) if with_crops and len(boxes) else []
    stored, scale_x, scale_y = shrink_to_short_side(image, page_short_side)
    return PreparedPage(
        image_id=image_id,
        page_jpeg=encode_jpeg(stored, PAGE_JPEG_QUALITY),
        stored_width=stored.shape[1],
        stored_height=stored.shape[0],
        scale_x=scale_x,
        scale_y=scale_y,
        stored_boxes=scale_boxes(boxes, scale_x, scale_y),
        crop_jpegs=tuple(encode_jpeg(crop, CROP_JPEG_QUALITY) for crop in crops),
    )


def prepare_task(task: tuple) -> tuple[str, object]:
    """Worker entry point: ("ok", PreparedPage) or ("error", message). Errors travel back as text so the
    builder decides, under its --on-error policy, whether one bad image stops the build."""
    image_path, image_id, boxes, options = task
    try:
        return "ok", prepare_page(image_path, image_id, boxes, **options)
    except (ValueError, OSError) as error:  # ImageError is a ValueError
        return "error", str(error)
