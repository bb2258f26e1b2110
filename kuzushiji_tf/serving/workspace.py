"""The folder where `kuzushiji-serve --workspace DIR` keeps corrected pages: each scan beside its PAGE-XML,
`DIR/<stem>.jpg` (or .png) and `DIR/<stem>.xml` whose Page/@imageFilename names the image, so the folder
is a training set for `kuzushiji-build-records --layout page`.

The server chooses every file name; nothing a client sends becomes a path. The stem is the client's file
name reduced to ASCII letters, digits, `-` and `_` (a label only, at most 40 of them) and the first 12 hex
digits of the image's SHA-256: the same scan saved again replaces its own page, two scans never share a
name, and no stem can hold a separator, a dot or a drive. Files are written whole or not at all
(`atomic_files`), the image only when it is not there yet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from kuzushiji_tf.atomic_files import write_atomic

PAGE_SUFFIX = ".xml"
IMAGE_SUFFIXES = {"jpeg": ".jpg", "png": ".png"}  # what the recogniser reads; TIFF arrives converted to PNG
MAX_LABEL = 40
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,60}-[0-9a-f]{12}\.(jpg|png|xml)")


def file_stem(label: str, image: bytes) -> str:
    """`<label's stem, safe characters only>-<12 hex of sha256(image)>`; "page" when nothing is left of it."""
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", label.replace("\\", "/").rsplit("/", 1)[-1])  # without its extension
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:MAX_LABEL] or "page"
    return f"{safe}-{hashlib.sha256(image).hexdigest()[:12]}"


class Workspace:
    """Corrected pages saved into one folder (created when missing)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _inside(self, name: str) -> Path:
        # file_stem already allows nothing else; checked again here, where the path is made.
        path = self.root / name
        if not _SAFE_NAME.fullmatch(name) or path.parent != self.root:
            raise ValueError(f"refused workspace file name {name!r}")
        return path

    def save(self, image: bytes, kind: str, label: str, render_page: Callable[[str], str]) -> dict[str, str]:
        """Writes the scan (`kind`: jpeg or png) and its page, `render_page(image file name)` -> PAGE-XML.
        Returns {"image", "page"}: the two file names, relative to the folder."""
        stem = file_stem(label, image)
        image_name, page_name = stem + IMAGE_SUFFIXES[kind], stem + PAGE_SUFFIX
        image_path, page_path = self._inside(image_name), self._inside(page_name)
        if not (image_path.is_file() and image_path.read_bytes() == image):
            write_atomic(image_path, image)
        write_atomic(page_path, render_page(image_name))
        return {"image": image_name, "page": page_name}
