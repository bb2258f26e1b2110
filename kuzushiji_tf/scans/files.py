"""Image files as pages: one folder searched recursively, or a list of files. A page's name is its path
relative to the folder (or its file name), suffix included, so `a.jpg` and `a.png` stay apart."""
from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Iterable

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


def folder_files(root: Path, suffixes: tuple[str, ...] = SCAN_SUFFIXES) -> list[Path]:
    """Files under `root` with one of `suffixes` (any case), sorted by path."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def image_pages(inputs: Iterable[str | Path], max_pixels: int = DEFAULT_MAX_PIXELS) -> list[ScanPage]:
    """One folder (searched recursively for JPEG/PNG/TIFF, sorted) or a list of image files."""
    inputs = [Path(p) for p in inputs]
    if len(inputs) == 1 and inputs[0].is_dir():
        root = inputs[0]
        return [file_page(p, p.relative_to(root).as_posix(), max_pixels) for p in folder_files(root)]
    pages, seen = [], {}
    for path in inputs:
        if path.is_dir():
            raise ValueError(f"{path}: give one folder, or a list of files, not both")
        if path.name in seen:
            raise ValueError(f"{path} and {seen[path.name]} share a file name: their outputs would collide")
        seen[path.name] = path
        pages.append(file_page(path, path.name, max_pixels))
    return pages
