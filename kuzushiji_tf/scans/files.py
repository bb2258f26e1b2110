"""Image files as pages, and the one lister of image folders. A page's name is its path relative to the
folder (or its file name), suffix included, so `a.jpg` and `a.png` stay apart."""

from __future__ import annotations

import functools
import io
from pathlib import Path

from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS, inspect_image, load_image
from kuzushiji_tf.scans.source import PASS_THROUGH, ScanPage

SCAN_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def encode_for_recognizer(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes the recogniser takes: the file itself when the graph can decode it, else an RGB PNG."""
    path = Path(path)
    info = inspect_image(path, max_pixels=max_pixels, formats=("JPEG", "PNG", "TIFF", "MPO"))
    if (info.format, info.mode) in PASS_THROUGH:
        return path.read_bytes()
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(load_image(path, max_pixels=max_pixels, formats=None)).save(buffer, format="PNG")
    return buffer.getvalue()


def file_page(path: Path, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> ScanPage:
    return ScanPage(name, str(path), functools.partial(encode_for_recognizer, Path(path), max_pixels))


def folder_files(root: Path, suffixes: tuple[str, ...] = SCAN_SUFFIXES, *, recursive: bool = True) -> list[Path]:
    """Files in `root` (and its subfolders when `recursive`) with one of `suffixes` (any case), sorted by path:
    the one lister of scan folders, for recognition, pseudo-labels and ink statistics alike."""
    found = Path(root).rglob("*") if recursive else Path(root).iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in suffixes)
