"""An uploaded scan, read under a byte cap, its type sniffed from its first bytes (never from the file
name or the Content-Type header), its pixel count read from its header before anything is decoded. TIFF,
which the recogniser's graph does not decode, is converted to PNG in memory. Nothing touches the disk."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from kuzushiji_tf.recognition.contract import JPEG_MAGIC, PNG_MAGIC

# A JPEG's first marker follows its start-of-image bytes, hence the third 0xFF.
KINDS = {JPEG_MAGIC + b"\xff": "jpeg", PNG_MAGIC: "png", b"II*\x00": "tiff", b"MM\x00*": "tiff"}
MAX_PARTS = 8  # a form with more parts than this is not an upload from our page or client


class UploadError(ValueError):
    """A request the server refuses, with its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def sniff(data: bytes) -> str:
    """`jpeg`, `png` or `tiff` by the magic bytes; UploadError 415 for anything else."""
    if not data:
        raise UploadError(400, "empty upload: send a JPEG, PNG or TIFF scan")
    for magic, kind in KINDS.items():
        if data.startswith(magic):
            return kind
    raise UploadError(415, "not a JPEG, PNG or TIFF image (checked by its content, not its name)")


def check_pixels(data: bytes, max_pixels: int) -> tuple[int, int]:
    """(width, height) from the header; UploadError when unreadable or over `max_pixels`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise UploadError(413, f"image has more than {max_pixels} pixels") from None
    except Exception as error:  # Pillow raises several kinds for a corrupt header
        raise UploadError(400, f"not a readable image ({type(error).__name__})") from None
    if width * height > max_pixels:
        raise UploadError(413, f"image has {width * height} pixels, more than {max_pixels}")
    return width, height


def to_model_input(data: bytes, max_pixels: int) -> tuple[bytes, tuple[int, int]]:
    """(JPEG or PNG bytes the recogniser takes, (width, height)). TIFF (first page) becomes PNG."""
    kind = sniff(data)
    size = check_pixels(data, max_pixels)
    if kind != "tiff":
        return data, size
    from kuzushiji_tf.scans.source import ScanError, recogniser_bytes  # what IIIF downloads go through too

    try:
        return recogniser_bytes(data, "TIFF upload", max_pixels), size
    except ScanError as error:
        raise UploadError(400, str(error)) from None


def too_large(limit: int) -> UploadError:
    return UploadError(413, f"upload is larger than {limit} bytes")


async def read_body(request, limit: int) -> bytes:
    """A request's body, refused (413) as soon as it passes `limit` bytes, by Content-Length or while read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _multipart(body: bytes, content_type: str, limit: int) -> list[tuple[dict, bytes]]:
    """[(its Content-Disposition parameters, its bytes)] per part of a multipart/form-data body, in memory."""
    # Here, not at the top: kuzushiji-client shares this package's REST code without the server's extras.
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(400, "multipart upload without a boundary")
    parts: list[dict] = []
    header = {"field": b"", "value": b""}

    def begin():
        if len(parts) >= MAX_PARTS:
            raise UploadError(400, f"more than {MAX_PARTS} parts in the form")
        parts.append({"headers": {}, "data": []})

    def field(data, start, end):
        header["field"] += data[start:end]

    def value(data, start, end):
        header["value"] += data[start:end]

    def header_end():
        parts[-1]["headers"][header["field"].lower()] = header["value"]
        header["field"], header["value"] = b"", b""

    def data(chunk, start, end):
        parts[-1]["data"].append(chunk[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": field,
            "on_header_value": value,
            "on_header_end": header_end,
            "on_part_data": data,
        },
        max_size=limit,
    )
    try:
        parser.write(body)
        parser.finalize()
    except UploadError:
        raise
    except Exception as error:
        raise UploadError(400, f"malformed multipart body ({type(error).__name__})") from None
    found = []
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        found.append((disposition, b"".join(part["data"])))
    return found


def file_from_multipart(body: bytes, content_type: str, limit: int) -> tuple[bytes, str]:
    """(the first file part's bytes, its file name or "upload") of a multipart/form-data body, in memory."""
    for disposition, data in _multipart(body, content_type, limit):
        if b"filename" in disposition:
            return data, disposition[b"filename"].decode("utf-8", "replace") or "upload"
    raise UploadError(400, "multipart upload without a file part (send the scan as the 'file' field)")


def form_fields(body: bytes, content_type: str, limit: int, names: tuple[str, ...]) -> dict[str, tuple[bytes, str]]:
    """{name: (its bytes, its file name or "")} for each of `names` in a multipart/form-data body; a missing
    one, or one sent twice, is refused. Other fields are ignored."""
    if not content_type.startswith("multipart/form-data"):
        raise UploadError(400, f"send a multipart/form-data form with the fields {', '.join(names)}")
    found: dict[str, tuple[bytes, str]] = {}
    for disposition, data in _multipart(body, content_type, limit):
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name in names:
            if name in found:
                raise UploadError(400, f"the form holds the field {name!r} twice")
            found[name] = (data, disposition.get(b"filename", b"").decode("utf-8", "replace"))
    missing = [name for name in names if name not in found]
    if missing:
        raise UploadError(400, f"the form lacks the field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return found


def display_name(name: str) -> str:
    """A client's file name as a label in the outputs only (never a path): its last component, printable,
    at most 100 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>"&')
    return name[:100] or "upload"
