"""Safe opening of page images: header checks before any pixel is decoded, then RGB uint8.

Pages come from many scanners, so grayscale, CMYK and 16-bit files are converted rather than refused;
what cannot be a page (empty, corrupt, absurdly large, the wrong format) raises `ImageError` with the path.
Pillow reads the header lazily, so size and mode are known before a decompression bomb is decoded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from kuzushiji_tf.config import MAX_PIXELS
from kuzushiji_tf.errors import KuzushijiError

DEFAULT_MAX_PIXELS = MAX_PIXELS


class ImageError(KuzushijiError, ValueError):
    """An image that cannot be used as a page; the message names the file and the problem."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    mode: str  # Pillow mode: RGB, L, CMYK, I;16, ...
    format: str  # JPEG, PNG, TIFF, ...


def _open(path: Path, max_pixels: int) -> Image.Image:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(f"{path}: image file is missing") from None
    if size == 0:
        raise ImageError(f"{path}: image file is empty (0 bytes)")
    with warnings.catch_warnings():
        # Our own pixel limit below replaces Pillow's global one, which would otherwise warn or raise
        # with a message that does not name the file.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError:
            raise ImageError(f"{path}: image is far larger than any page (decompression bomb?); refused") from None
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise ImageError(f"{path}: not a readable image (corrupt or unknown format: {error})") from None
    pixels = image.width * image.height
    if pixels > max_pixels:
        image.close()
        raise ImageError(
            f"{path}: image is {image.width}x{image.height} = {pixels:,} pixels, above the limit of "
            f"{max_pixels:,} (decompression bomb?); raise --max-pixels if the scan is genuine"
        )
    if image.width < 1 or image.height < 1:
        image.close()
        raise ImageError(f"{path}: image has no pixels ({image.width}x{image.height})")
    return image


def _check_format(image: Image.Image, path: Path, formats: tuple[str, ...] | None) -> None:
    if formats is not None and image.format not in formats:
        image.close()
        raise ImageError(f"{path}: not a {'/'.join(formats)} file (its content is {image.format or 'unknown'})")


def inspect_image(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, formats: tuple[str, ...] | None = ("JPEG",)
) -> ImageInfo:
    """Reads only the header: size, mode and format. Raises ImageError for anything unusable."""
    path = Path(path)
    image = _open(path, max_pixels)
    _check_format(image, path, formats)
    info = ImageInfo(image.width, image.height, image.mode, image.format or "")
    image.close()
    return info


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> [H, W, 3] uint8 RGB. 16-bit data keeps its top 8 bits of range."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Pillow cannot convert 16-bit grey to RGB directly; scale 0..65535 to 0..255 ourselves.
        wide = np.asarray(image, dtype=np.uint32)
        grey = np.clip((wide + 128) // 257, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def load_image(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, formats: tuple[str, ...] | None = ("JPEG",)
) -> np.ndarray:
    """Decodes a page to [H, W, 3] uint8 RGB; a truncated or corrupt file raises ImageError."""
    path = Path(path)
    image = _open(path, max_pixels)
    _check_format(image, path, formats)
    try:
        with image:
            image.load()
            return to_rgb8(image)
    except ImageError:
        raise
    except Exception as error:  # Pillow raises OSError, SyntaxError or ValueError for broken data.
        raise ImageError(f"{path}: corrupt image data ({error})") from None
