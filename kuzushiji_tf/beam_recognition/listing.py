"""The pages of a run, listed once by the driver and handed to the workers in a listing file.

Local inputs are listed by `kuzushiji_tf.scans.open_scans`, exactly as the folder CLI lists them (folders,
image files, PDFs, IIIF manifests), so both name and number pages alike. A glob, or a folder or file on
another filesystem Beam reads (`gs://`, `s3://`, `hdfs://`, ...), is matched with Beam's FileSystems;
its images are read by the workers.

The listing is a text file, one page a line (its number in the run and the pickled `ScanPage`, whose
loader is a picklable partial), read with ReadFromText: a million pages split across workers, where
`beam.Create` would put them all in the job's graph.
"""

from __future__ import annotations

import base64
import functools
import pickle
from pathlib import PurePosixPath

from apache_beam.io.filesystems import FileSystems

from kuzushiji_tf.beam_recognition import storage
from kuzushiji_tf.scans import ScanError, ScanPage, open_scans
from kuzushiji_tf.scans.files import SCAN_SUFFIXES
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.scans.source import failed_page, recogniser_bytes

GLOB_CHARS = "*?["
WEB_SCHEMES = ("http", "https")


def _is_pattern(item: str) -> bool:
    """Matched with Beam's FileSystems: a glob, or a path on a filesystem that is not local."""
    scheme = FileSystems.get_scheme(item)
    return any(c in item for c in GLOB_CHARS) or (scheme not in (None, "file") and scheme not in WEB_SCHEMES)


def _load_file(path: str, name: str, max_pixels: int) -> bytes:
    return recogniser_bytes(storage.read_bytes(path), name, max_pixels)


def _matched_pages(item: str, max_pixels: int) -> list[ScanPage]:
    """Images matched by a glob, or under a folder (`item/**`) or the one file named, on any filesystem.
    Names are paths relative to the pattern's fixed part, as a folder's are in the folder CLI."""
    fixed = item[: min((item.index(c) for c in GLOB_CHARS if c in item), default=len(item))]
    if fixed == item and PurePosixPath(item).suffix.lower() not in SCAN_SUFFIXES + (".pdf",):
        item = item.rstrip("/") + "/**"  # a folder
        fixed = item[:-2]
    root = fixed[: fixed.rfind("/") + 1]
    try:
        found = FileSystems.match([item])[0].metadata_list
    except Exception as error:  # Beam raises BeamIOError (an IOError) or the filesystem's own errors
        raise FileNotFoundError(f"{item}: cannot be listed ({error})") from None
    pages = []
    for meta in sorted(found, key=lambda m: m.path):
        suffix = PurePosixPath(meta.path).suffix.lower()
        name = meta.path[len(root) :] if meta.path.startswith(root) else PurePosixPath(meta.path).name
        if suffix in SCAN_SUFFIXES:
            pages.append(ScanPage(name, meta.path, functools.partial(_load_file, meta.path, name, max_pixels)))
        elif suffix == ".pdf":
            pages.append(
                failed_page(
                    name,
                    meta.path,
                    f"{name}: PDFs are read from local files only; copy it to "
                    "a local folder, or give its pages as images",
                )
            )
    return pages


def list_pages(inputs: list[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, **scan_options) -> list[ScanPage]:
    """Every page of `inputs` in run order. Local folders, files, PDFs and IIIF manifests: `open_scans`
    (with `scan_options`); globs and other filesystems: matched here. Raises FileNotFoundError,
    ValueError (colliding names) or ScanError as `open_scans` does."""
    inputs = [str(item) for item in inputs]
    if not any(_is_pattern(item) for item in inputs):
        return open_scans(inputs, max_pixels=max_pixels, **scan_options)
    pages, seen = [], {}
    for item in inputs:
        found = (
            _matched_pages(item, max_pixels)
            if _is_pattern(item)
            else open_scans([item], max_pixels=max_pixels, **scan_options)
        )
        if _is_pattern(item) and not found:
            raise FileNotFoundError(f"{item}: matches no JPEG, PNG or TIFF file")
        for page in found:
            if page.name in seen:
                raise ValueError(
                    f"{seen[page.name]} and {item} both give the page name {page.name!r}: their outputs would collide"
                )
            seen[page.name] = item
        pages.extend(found)
    return pages


def encode_line(number: int, page: ScanPage) -> str:
    return base64.b64encode(pickle.dumps((number, page), protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


def decode_line(line: str) -> tuple[int, ScanPage]:
    return pickle.loads(base64.b64decode(line))


def write_listing(pages: list[ScanPage], path: str) -> None:
    """The listing file of `pages`, numbered from 1 in run order (the page number ALTO and hOCR carry)."""
    storage.write(path, "".join(encode_line(k, page) + "\n" for k, page in enumerate(pages, start=1)))


__all__ = ["ScanError", "decode_line", "encode_line", "list_pages", "write_listing"]
