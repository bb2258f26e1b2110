"""PDF files as pages, `<stem>/page-0001` onwards, each rasterised by PDFium (pypdfium2: Apache-2.0/BSD;
PyMuPDF would make the package AGPL) when it is loaded, so one page's raster is in memory at a time.

A page whose raster at the chosen DPI would exceed the pixel cap is rendered at the highest whole DPI that
fits, and its `note` says so: PDFs made from photos often declare one point per pixel (Pillow, many
scanners), so a 6000-px scan becomes an 83-inch page that is 400 MP at 300 DPI, and failing such pages
would fail whole books that read well at a lower DPI. Outputs are in the rendered page's pixels.
pypdfium2 is not thread-safe: load pages from one thread.
"""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path

import pypdfium2 as pdfium

from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.scans.source import ScanError, ScanPage, failed_page

DEFAULT_DPI = 300
POINTS_PER_INCH = 72
# The recogniser works at a short side of 832, far below a 300-DPI page, so q95 JPEG loses nothing it
# sees, and it is ~10x smaller and faster to write than PNG of a scanned page.
JPEG_QUALITY = 95
_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD


def _open(path: Path) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(str(path))
    except FileNotFoundError:
        raise ScanError(f"{path}: PDF file is missing") from None
    except pdfium.PdfiumError as error:
        if getattr(error, "err_code", None) == _PASSWORD_ERROR:
            raise ScanError(f"{path}: PDF is password-protected; decrypt it first") from None
        raise ScanError(f"{path}: not a readable PDF (corrupt or not a PDF: {error})") from None


def raster_pixels(width_pt: float, height_pt: float, dpi: float) -> int:
    """Pixels PDFium allocates for a page of this size (it rounds each side up)."""
    scale = dpi / POINTS_PER_INCH
    return math.ceil(width_pt * scale) * math.ceil(height_pt * scale)


def fit_dpi(width_pt: float, height_pt: float, dpi: int, max_pixels: int) -> int:
    """`dpi`, or the highest whole DPI below it whose raster fits `max_pixels`; 0 when none does."""
    if raster_pixels(width_pt, height_pt, dpi) <= max_pixels:
        return dpi
    fitted = int(dpi * math.sqrt(max_pixels / raster_pixels(width_pt, height_pt, dpi)))
    while fitted > 0 and raster_pixels(width_pt, height_pt, fitted) > max_pixels:
        fitted -= 1
    return fitted


def render_page(path: Path, index: int, dpi: int, what: str) -> bytes:
    """Page `index` (0-based) of the PDF at `dpi` as JPEG bytes."""
    document = _open(path)
    try:
        page = document[index]
        bitmap = page.render(scale=dpi / POINTS_PER_INCH)
        buffer = io.BytesIO()
        bitmap.to_pil().convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
        return buffer.getvalue()
    except (pdfium.PdfiumError, IndexError) as error:  # IndexError: the file changed since it was listed
        raise ScanError(f"{what}: cannot render the page ({error})") from None
    finally:
        document.close()


def pdf_pages(
    path: str | Path, *, dpi: int = DEFAULT_DPI, max_pixels: int = DEFAULT_MAX_PIXELS, stem: str | None = None
) -> list[ScanPage]:
    """One ScanPage per page, named `<stem>/page-0001` (`stem`: the file's, unless given). Reads only the
    page sizes now; raises ScanError naming the file when it is missing, encrypted or not a PDF."""
    path = Path(path)
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, not {dpi}")
    stem = stem or path.stem
    document = _open(path)
    try:
        count = len(document)
        if count == 0:
            raise ScanError(f"{path}: PDF has no pages")
        pages = []
        for index in range(count):
            name = f"{stem}/page-{index + 1:04d}"
            what = f"{path} page {index + 1}"
            # RFC 8118's fragment names the page inside the file: outputs that cite their image (PAGE
            # imageFilename, ALTO fileName, TEI graphic, the IIIF placeholder canvas) then tell pages apart.
            source = f"{path}#page={index + 1}"
            try:
                width, height = document.get_page_size(index)
            except pdfium.PdfiumError as error:
                pages.append(failed_page(name, source, f"{what}: unreadable page ({error})"))
                continue
            if not (width > 0 and height > 0):
                pages.append(failed_page(name, source, f"{what}: page has no area ({width} x {height} pt)"))
                continue
            used = fit_dpi(width, height, dpi, max_pixels)
            if used == 0:
                pages.append(
                    failed_page(
                        name,
                        source,
                        f"{what}: {width / 72:.0f} x {height / 72:.0f} in page "
                        f"exceeds {max_pixels:,} pixels even at 1 dpi",
                    )
                )
                continue
            note = ""
            if used != dpi:
                note = (
                    f"{what}: {width / 72:.1f} x {height / 72:.1f} in would be "
                    f"{raster_pixels(width, height, dpi):,} pixels at {dpi} dpi, above the limit of "
                    f"{max_pixels:,}; rendered at {used} dpi"
                )
            pages.append(ScanPage(name, source, functools.partial(render_page, path, index, used, what), note=note))
        return pages
    finally:
        document.close()
