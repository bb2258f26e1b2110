"""`open_scans`: whatever the user named on the command line, as one list of ScanPages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kuzushiji_tf.config import INFERENCE_SHORT_SIDE
from kuzushiji_tf.scans.files import SCAN_SUFFIXES, file_page, folder_files
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.scans.source import ScanError, ScanPage, failed_page

PDF_SUFFIX = ".pdf"
MANIFEST_SUFFIX = ".json"


def _scheme(text: str) -> str:
    # "C:\scans" parses with scheme "c": a one-letter scheme is a Windows drive, not a URL.
    scheme = urlsplit(text).scheme.lower()
    return scheme if len(scheme) > 1 else ""


def open_scans(
    inputs: list[str],
    *,
    dpi: int = 300,
    short_side: int = INFERENCE_SHORT_SIDE,
    timeout: float = 30.0,
    retries: int = 3,
    max_bytes: int = 50_000_000,
    backoff: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[ScanPage]:
    """Every page of `inputs`, listed now and loaded later (`ScanPage.load`). How each input is told apart:

    - `http://` or `https://` at the start: a IIIF manifest URL (any other scheme is refused);
    - an existing folder: searched recursively for JPEG/PNG/TIFF images and PDFs, sorted; a folder must be
      the only input (as before, so a folder and a file of the same name cannot collide);
    - a name ending `.pdf` (any case): a PDF, one page per PDF page at `dpi`;
    - a name ending `.json`: a IIIF manifest file;
    - anything else: an image file (its content is checked when it is loaded).

    Names: an image's is its path relative to the folder (or its file name), suffix kept; a PDF's pages are
    `<path without .pdf>/page-0001`; a manifest's canvases `<file stem or URL id>/0001-<label>`.
    A PDF that cannot be opened becomes one page named after the file whose load() says why, so one bad
    book does not stop a folder. Raises FileNotFoundError for a missing file, ValueError for a mixed or
    colliding list, ScanError for a manifest that cannot be read (it has no pages to fail one by one).
    `timeout` (s per request), `retries`, `backoff` (s) and `max_bytes` bound every download;
    `short_side` is the size IIIF images are fetched at.
    """
    inputs = [str(item) for item in inputs]
    if not inputs:
        raise ValueError("no scans given: name a folder, image or PDF files, or IIIF manifests")
    limits = dict(timeout=timeout, retries=retries, max_bytes=max_bytes, backoff=backoff)
    listed: list[tuple[str, list[ScanPage]]] = []
    if len(inputs) == 1 and not _scheme(inputs[0]) and Path(inputs[0]).is_dir():
        root = Path(inputs[0])
        for path in folder_files(root, SCAN_SUFFIXES + (PDF_SUFFIX,)):
            name = path.relative_to(root).as_posix()
            listed.append(
                (
                    str(path),
                    _pdf(path, name, dpi, max_pixels)
                    if path.suffix.lower() == PDF_SUFFIX
                    else [file_page(path, name, max_pixels)],
                )
            )
    else:
        for item in inputs:
            scheme = _scheme(item)
            if scheme in ("http", "https"):
                listed.append((item, _manifest(item, short_side, limits, max_pixels)))
                continue
            if scheme:
                raise ValueError(f"{item}: only http(s) URLs are read, not {scheme}://")
            path = Path(item)
            if path.is_dir():
                raise ValueError(f"{path}: give one folder, or a list of files, not both")
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file")
            suffix = path.suffix.lower()
            if suffix == PDF_SUFFIX:
                pages = _pdf(path, path.name, dpi, max_pixels)
            elif suffix == MANIFEST_SUFFIX:
                pages = _manifest(item, short_side, limits, max_pixels)
            else:
                pages = [file_page(path, path.name, max_pixels)]
            listed.append((item, pages))
    seen: dict[str, str] = {}
    for item, pages in listed:
        for page in pages:
            if page.name in seen:
                raise ValueError(
                    f"{seen[page.name]} and {item} both give the page name {page.name!r}: their outputs would collide"
                )
            seen[page.name] = item
    return [page for _, pages in listed for page in pages]


def _pdf(path: Path, name: str, dpi: int, max_pixels: int) -> list[ScanPage]:
    from kuzushiji_tf.scans.pdf import pdf_pages

    try:
        return pdf_pages(path, dpi=dpi, max_pixels=max_pixels, stem=name[: -len(PDF_SUFFIX)])
    except ScanError as error:
        return [failed_page(name, str(path), str(error))]


def _manifest(location: str, short_side: int, limits: dict, max_pixels: int) -> list[ScanPage]:
    # Imported here: folders and PDFs need no HTTP machinery.
    from kuzushiji_tf.scans.iiif import manifest_pages
    from kuzushiji_tf.scans.web import Limits

    return manifest_pages(location, short_side=short_side, limits=Limits(**limits), max_pixels=max_pixels)
