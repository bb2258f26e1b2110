"""What every kind of input becomes: a `ScanPage` that names its outputs, says where its pixels come from
and loads them on demand as the JPEG/PNG bytes the page recogniser takes.

Pages are listed up front (cheap) and loaded one at a time (costly), so memory stays bounded however many
pages a PDF or manifest has. A page that cannot be listed properly still becomes a page whose `load()`
raises, so one bad input is one failed page, not the end of a run.
"""

from __future__ import annotations

import functools
import io
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS, ImageError, to_rgb8

# Formats and modes the serving graph decodes itself; anything else (TIFF, CMYK JPEG, 16-bit PNG) is
# decoded here and sent as an 8-bit RGB PNG.
PASS_THROUGH = {
    ("JPEG", "RGB"),
    ("JPEG", "L"),
    ("PNG", "RGB"),
    ("PNG", "L"),
    ("PNG", "RGBA"),
    ("PNG", "P"),
    ("PNG", "LA"),
}
MAX_NAME_PART = 64  # characters of a label kept in a page name: file names stay well under 255 bytes


class ScanError(KuzushijiError, ValueError):
    """A page (or a whole input) that cannot be read; the message names the page or input and the problem."""


@dataclass(frozen=True)
class ScanPage:
    """One page of input. `name` is the outputs' stem, relative and safe (no `..`, no leading `/`).
    Boxes come out in the loaded image's pixels; `canvas_size` (w, h), when set, is the frame the outputs
    should use instead (a IIIF canvas, whose image is fetched smaller): see `to_frame`."""

    name: str
    source: str  # file path or image URL: the outputs' reference to the image
    loader: Callable[[], bytes] = field(repr=False, compare=False)
    canvas: str | None = None  # IIIF canvas id
    manifest: str | None = None  # IIIF manifest id
    canvas_size: tuple[int, int] | None = None
    note: str = ""  # something the run should tell the user about this page (e.g. a PDF page rendered at a lower DPI)

    def load(self) -> bytes:
        """The encoded image (JPEG or PNG bytes); raises ScanError naming the page and the problem."""
        try:
            return self.loader()
        except ScanError:
            raise
        except (ImageError, ValueError) as error:
            raise ScanError(self._named(str(error))) from None
        except OSError as error:
            raise ScanError(self._named(f"cannot read: {error.strerror or error}")) from None

    def _named(self, message: str) -> str:
        return message if self.name in message or self.source in message else f"{self.name}: {message}"

    def outputs(self, out_dir: Path) -> dict[str, Path]:
        base = Path(out_dir) / self.name
        return {kind: base.with_name(f"{base.name}.{kind}") for kind in ("txt", "json", "png")}

    def scale(self, loaded_size: tuple[int, int]) -> tuple[float, float]:
        """(sx, sy) from the loaded image's pixels to the output frame."""
        if self.canvas_size is None:
            return 1.0, 1.0
        return self.canvas_size[0] / loaded_size[0], self.canvas_size[1] / loaded_size[1]

    def frame_size(self, loaded_size: tuple[int, int]) -> tuple[int, int]:
        """(w, h) of the output frame: the canvas, else the loaded image itself."""
        return self.canvas_size if self.canvas_size is not None else tuple(loaded_size)

    def to_frame(self, boxes: np.ndarray, loaded_size: tuple[int, int]) -> np.ndarray:
        """xyxy boxes [N, 4] in loaded-image pixels -> the output frame."""
        sx, sy = self.scale(loaded_size)
        return np.asarray(boxes, dtype=np.float32) * np.array([sx, sy, sx, sy], dtype=np.float32)


def _raise(message: str) -> bytes:
    raise ScanError(message)


def failed_page(name: str, source: str, message: str, **fields) -> ScanPage:
    """A page whose `load()` raises `message`: the listing could not read it, the run reports it."""
    return ScanPage(name, source, functools.partial(_raise, message), **fields)


def safe_name(text: str, fallback: str = "") -> str:
    """One path component from untrusted text (a label, a URL segment): letters and digits of any script,
    `-`, `_`, `.`; everything else becomes `_`; never empty, `.`/`..`, hidden or absolute."""
    text = unicodedata.normalize("NFKC", str(text))
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    while "__" in kept:
        kept = kept.replace("__", "_")
    kept = kept[:MAX_NAME_PART].strip("._-")
    return kept or fallback


def encoded_size(data: bytes) -> tuple[int, int]:
    """(w, h) of encoded image bytes, from the header only."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def recogniser_bytes(data: bytes, what: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """Downloaded bytes -> what the recogniser takes: themselves when the graph decodes them, else an RGB
    PNG. Raises ScanError (naming `what`) for anything that is not an image or is too large."""
    if not data:
        raise ScanError(f"{what}: empty (0 bytes), not an image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below names the page
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ScanError(f"{what}: image is far larger than any page (decompression bomb?); refused") from None
        except (UnidentifiedImageError, OSError, SyntaxError):
            raise ScanError(f"{what}: not an image (starts {data[:16]!r})") from None
    with image:
        if image.width * image.height > max_pixels:
            raise ScanError(f"{what}: image is {image.width}x{image.height}, above the limit of {max_pixels:,} pixels")
        if (image.format, image.mode) in PASS_THROUGH:
            return data
        try:
            image.load()
            pixels = to_rgb8(image)
        except Exception as error:  # Pillow raises OSError, SyntaxError or ValueError for broken data
            raise ScanError(f"{what}: corrupt image data ({error})") from None
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
