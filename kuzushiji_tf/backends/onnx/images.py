"""Page decoding and the detector's input resize, without TensorFlow, matching the SavedModel's graph
(`page_recognizer.decode_page_image`, `detection.resize_page`).

Decoding: the same checks, in the same order and with the same messages (empty, too many bytes, not
JPEG/PNG by its magic bytes, too many pixels by the header before any pixel is decoded). TensorFlow
decodes JPEG with libjpeg-turbo's fast integer DCT (JDCT_IFAST) and fancy upsampling; `simplejpeg` (the
`onnx` extra) is asked for the same and gives the same pixels. Without it, OpenCV decodes (accurate DCT):
pixels then differ from TensorFlow's by a few levels. PNG is decoded by OpenCV, as TensorFlow does it
(alpha dropped, 16 bits cut to 8).

Resize: `tf.image.resize(..., "bilinear", antialias=True)` is TensorFlow's ScaleAndTranslate op, a
separable triangle filter widened by the downscale factor, its weights renormalised at the edges. Its
weights are computed here as the op computes them, in float32, and applied in its order (rows, then
columns): Pillow's BILINEAR resampling of a float image is the same filter but computes its sample
positions in double, which moved pixels of a 3874 -> 1344 resize by up to 0.01 of 255.
"""

from __future__ import annotations

import cv2
import numpy as np

from kuzushiji_tf.recognition.contract import JPEG_MAGIC, PNG_MAGIC, PageRefused

try:  # the `onnx` extra: the same JPEG pixels as TensorFlow
    import simplejpeg
except ImportError:  # then OpenCV decodes JPEG (accurate DCT): a few levels off
    simplejpeg = None

# The magic bytes `page_recognizer` sniffs (kept here so that this module needs no TensorFlow).


def image_hw(data: bytes, is_jpeg: bool) -> tuple[int, int]:
    """(height, width) from the header, before any pixel is decoded."""
    if not is_jpeg:  # the IHDR chunk's width and height, big-endian, at bytes 16..24
        if len(data) < 24:
            raise PageRefused("Invalid PNG. Failed to initialize decoder.")
        return int.from_bytes(data[20:24], "big"), int.from_bytes(data[16:20], "big")
    if simplejpeg is None:
        import io

        from PIL import Image

        try:
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:  # reads the header only
                return int(image.size[1]), int(image.size[0])
        except (OSError, ValueError, Image.DecompressionBombError):
            raise PageRefused(f"Invalid JPEG data, size {len(data)}") from None
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:  # TensorFlow's message for a JPEG whose header cannot be read
        raise PageRefused(f"Invalid JPEG data, size {len(data)}") from None
    return int(height), int(width)


def _decode_jpeg(data: bytes) -> np.ndarray:
    if simplejpeg is not None:
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=True, fastupsample=False, strict=True)
        except ValueError:
            raise PageRefused("jpeg::Uncompress failed. Invalid JPEG data or crop window.") from None
    return _decode_cv2(data, "jpeg::Uncompress failed. Invalid JPEG data or crop window.")


def _decode_cv2(data: bytes, failure: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise PageRefused(failure)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_page_image(data: bytes, max_image_bytes: int, max_pixels: int) -> np.ndarray:
    """JPEG or PNG bytes -> uint8 [H, W, 3] RGB, or `PageRefused` with decode_page_image's message."""
    data = bytes(data)
    if len(data) == 0:
        raise PageRefused("input is empty (0 bytes), not an image")
    if len(data) > max_image_bytes:
        raise PageRefused(f"input is larger than {max_image_bytes} bytes")
    is_jpeg, is_png = data[:2] == JPEG_MAGIC, data[:8] == PNG_MAGIC
    if not (is_jpeg or is_png):
        raise PageRefused("input is not a JPEG or PNG image")
    height, width = image_hw(data, is_jpeg)
    if height * width > max_pixels:
        raise PageRefused(f"image has more than {max_pixels} pixels (refused as a decompression bomb)")
    image = _decode_jpeg(data) if is_jpeg else _decode_cv2(data, "Invalid PNG data, decoding failed.")
    return np.ascontiguousarray(image)


def short_side_size(height: int, width: int, short_side: int, multiple: int) -> tuple[int, int]:
    """`image_ops.short_side_size` in float32 as TensorFlow computes it (round half to even)."""
    size = np.array([height, width], np.float32)
    scaled = size * (np.float32(short_side) / size.min())
    rounded = np.maximum(np.round(scaled / np.float32(multiple)), np.float32(1.0)) * np.float32(multiple)
    return int(rounded[0]), int(rounded[1])


def _spans(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts int [out_size], weights float32 [out_size, span]) of one axis, computed as TensorFlow's
    ScaleAndTranslate op computes them for the triangle kernel (radius 1), in float32."""
    f32 = np.float32
    scale = f32(out_size) / f32(in_size)
    inv_scale = f32(1.0 / float(scale))
    kernel_scale = max(inv_scale, f32(1.0))  # widened when downscaling: the antialiasing
    span = min(2 * int(np.ceil(kernel_scale)) + 1, in_size)
    sample = (np.arange(out_size).astype(f32) + f32(0.5)) * inv_scale  # (+ the zero translation)
    starts = np.clip(np.ceil(sample - kernel_scale - f32(0.5)), 0, in_size - 1).astype(np.int64)
    ends = np.clip(np.floor(sample + kernel_scale - f32(0.5)), 0, in_size - 1).astype(np.int64) + 1
    sources = starts[:, None] + np.arange(span)[None, :]  # [out, span]
    position = (sources.astype(f32) + f32(0.5) - sample[:, None]) * (f32(1.0) / kernel_scale)
    weights = np.where(sources < ends[:, None], np.maximum(f32(1.0) - np.abs(position), f32(0.0)), f32(0.0))
    total = np.zeros(out_size, f32)
    for k in range(span):  # summed in order, as the op does
        total = total + weights[:, k]
    usable = np.abs(total) >= f32(1000.0) * np.finfo(f32).tiny
    weights = np.where(usable[:, None], weights * (f32(1.0) / np.where(usable, total, f32(1.0)))[:, None], f32(0.0))
    return starts, weights.astype(f32)


def resize_antialias(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 [height, width, C] of an [H, W, C] image: `tf.image.resize(image, (height, width), "bilinear",
    antialias=True)`, up or down, with TensorFlow's weights and order of summation (rows, then columns):
    the same float32 values."""
    in_height, in_width, channels = image.shape
    row_starts, row_weights = _spans(height, in_height)
    col_starts, col_weights = _spans(width, in_width)
    flat = image.reshape(in_height, in_width * channels)
    rows = np.zeros((height, in_width * channels), np.float32)
    term = np.empty_like(rows)
    for k in range(row_weights.shape[1]):  # a zero weight adds nothing, whatever row it reads
        term[...] = flat[np.minimum(row_starts + k, in_height - 1)]
        term *= row_weights[:, k, None]
        rows += term
    # Columns first-axis (contiguous) for the second pass: gathering along axis 1 is ~3x slower.
    columns = np.ascontiguousarray(rows.reshape(height, in_width, channels).transpose(1, 0, 2))
    out = np.zeros((width, height, channels), np.float32)
    term = np.empty_like(out)
    for k in range(col_weights.shape[1]):
        np.take(columns, np.minimum(col_starts + k, in_width - 1), axis=0, out=term)
        term *= col_weights[:, k, None, None]
        out += term
    return np.ascontiguousarray(out.transpose(1, 0, 2))


def resize_page(image: np.ndarray, short_side: int, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """`detection.resize_page`: (float32 [1, H', W', 3] 0..255, scale_yx float32 [2] scan -> input pixels)."""
    height, width = image.shape[:2]
    size = short_side_size(height, width, short_side, multiple)
    resized = resize_antialias(image, *size)
    return resized[None], np.array(size, np.float32) / np.array([height, width], np.float32)
