"""IIIF Presentation manifests, v2 and v3, as pages: one per canvas, its image fetched through the IIIF
Image API at the recogniser's short side (never larger than the canvas), and `canvas_size` set so boxes
map back to canvas coordinates, which annotations on the canvas use.

v2: sequences[0].canvases[].images[0].resource (+ .service). v3: items[] canvases -> items[0] AnnotationPage
-> painting Annotation -> body (+ .service, ImageService2 or 3). Without a service the image itself is
fetched. A manifest that is not one fails as a whole (ScanError naming the missing key); a canvas that is
unusable becomes a page whose load() says why, so the rest of the book is still read.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kuzushiji_tf.config import INFERENCE_SHORT_SIDE
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.scans.source import ScanError, ScanPage, failed_page, recogniser_bytes, safe_name
from kuzushiji_tf.scans.web import Limits, check_url, fetch, is_url

DEFAULT_SHORT_SIDE = INFERENCE_SHORT_SIDE  # the page recogniser's (RecognizerOptions.short_side)
_LABEL_LANGUAGES = ("none", "ja", "en")  # which of a v3 label's languages names a page, first found


class _Bad(Exception):
    """A canvas that cannot be used; the message says which key is missing or wrong."""


@dataclass(frozen=True)
class Canvas:
    index: int  # 1-based position in the manifest
    id: str
    label: str
    width: int
    height: int
    image: str | None  # the image resource itself (full size)
    service: str | None  # IIIF Image API base URL
    service_version: int  # 2 or 3: which size syntax the service takes
    level0: bool  # a level-0 service serves only its listed sizes, so ask for the full image


def _id(node: dict) -> str | None:
    value = node.get("id", node.get("@id"))
    return value if isinstance(value, str) and value else None


def _text(value, depth: int = 0) -> str:
    """A label (string, list, {"@value"} or v3 language map) as one string."""
    if depth > 4:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list):
        return _text(value[0], depth + 1) if value else ""
    if isinstance(value, dict):
        if "@value" in value:
            return _text(value["@value"], depth + 1)
        for key in (*_LABEL_LANGUAGES, *value):
            if key in value:
                return _text(value[key], depth + 1)
    return ""


def _first(node: dict, key: str, where: str):
    value = node.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, dict):
        raise _Bad(f"missing key '{key}'" + (f" in {where}" if where else ""))
    return value


def _size(node: dict, key: str) -> int:
    value = node.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Bad(f"missing key '{key}'" if value is None else f"'{key}' is not a number: {value!r}") from None
    if not (math.isfinite(number) and number >= 1):
        raise _Bad(f"'{key}' is not a positive size: {value!r}")
    return int(round(number))


def _service(image: dict) -> tuple[str | None, int, bool]:
    services = image.get("service") or []
    for service in services if isinstance(services, list) else [services]:
        if not isinstance(service, dict) or _id(service) is None:
            continue
        kind = f"{service.get('type', '')} {service.get('@type', '')} {service.get('@context', '')}"
        profile = json.dumps(service.get("profile", ""))
        if "ImageService" not in kind and "iiif.io/api/image" not in kind + profile:
            continue  # a search or auth service, not the image's
        version = 3 if "ImageService3" in kind or "image/3" in kind else 2
        return _id(service).rstrip("/"), version, "level0" in profile
    return None, 2, False


def _canvas(index: int, node, version: int) -> Canvas:
    if not isinstance(node, dict):
        raise _Bad("canvas is not a JSON object")
    canvas_id = _id(node)
    if canvas_id is None:
        raise _Bad("missing key 'id'" if version == 3 else "missing key '@id'")
    width, height = _size(node, "width"), _size(node, "height")
    if version == 3:
        page = _first(node, "items", "the canvas (its AnnotationPage)")
        annotations = [a for a in page.get("items") or [] if isinstance(a, dict)]
        painting = [a for a in annotations if a.get("motivation", "painting") == "painting"]
        if not painting:
            raise _Bad("no painting annotation in the canvas's AnnotationPage 'items'")
        image = _first(painting[0], "body", "the painting annotation")
        if image.get("type") == "Choice":
            image = _first(image, "items", "the Choice body")
    else:
        image = _first(_first(node, "images", "the canvas"), "resource", "images[0]")
    service, service_version, level0 = _service(image)
    if service is None and _id(image) is None:
        raise _Bad("the image has neither 'service' nor an id")
    label = _text(node.get("label"))
    return Canvas(index, canvas_id, label, width, height, _id(image), service, service_version, level0)


def parse_manifest(manifest, where: str) -> tuple[str | None, list[Canvas | tuple[int, str | None, str]]]:
    """(manifest id, per canvas a Canvas or (index, canvas id, problem)). Raises ScanError when `manifest`
    is not a Presentation manifest at all."""
    if not isinstance(manifest, dict):
        raise ScanError(f"{where}: not a IIIF manifest (the JSON is not an object)")
    if "Collection" in f"{manifest.get('type', '')} {manifest.get('@type', '')}":
        raise ScanError(f"{where}: a IIIF Collection, not a Manifest; give one of its manifests")
    if isinstance(manifest.get("items"), list):
        version, nodes = 3, manifest["items"]
    elif "sequences" in manifest:
        sequences = manifest["sequences"]
        if not (isinstance(sequences, list) and sequences and isinstance(sequences[0], dict)):
            raise ScanError(f"{where}: 'sequences' is not a list of sequences")
        nodes = sequences[0].get("canvases")
        if not isinstance(nodes, list):
            raise ScanError(f"{where}: missing key 'canvases' in sequences[0]")
        version = 2
    else:
        raise ScanError(f"{where}: not a IIIF Presentation manifest: missing key 'items' (v3) or 'sequences' (v2)")
    if not nodes:
        raise ScanError(f"{where}: the manifest has no canvases")
    canvases = []
    for index, node in enumerate(nodes, 1):
        try:
            canvases.append(_canvas(index, node, version))
        except _Bad as problem:
            canvases.append((index, _id(node) if isinstance(node, dict) else None, str(problem)))
    return _id(manifest), canvases


def image_url(canvas: Canvas, short_side: int = DEFAULT_SHORT_SIDE) -> str:
    """The Image API request for the canvas at `short_side` (no larger than the canvas), or the image itself."""
    if canvas.service is None:
        return canvas.image
    if canvas.level0:
        size = "max" if canvas.service_version == 3 else "full"
    elif canvas.service_version == 3:
        # `!w,h` fits inside the box and never upscales in Image API 3; the long side is rounded up so the
        # short side is the one that binds. Integer arithmetic: no float rounding past the canvas.
        short, long = sorted((canvas.width, canvas.height))
        fitted_short = min(short_side, short)
        fitted_long = -(-long * fitted_short // short)
        w, h = (fitted_short, fitted_long) if canvas.width <= canvas.height else (fitted_long, fitted_short)
        size = f"!{w},{h}"
    elif canvas.width <= canvas.height:
        size = f"{min(short_side, canvas.width)},"
    else:
        size = f",{min(short_side, canvas.height)}"
    return f"{canvas.service}/full/{size}/0/default.jpg"


def read_manifest(location: str, limits: Limits = Limits()) -> dict:
    """The manifest's JSON from a local file or an http(s) URL; ScanError naming it when unreadable."""
    if is_url(location):
        data = fetch(location, what="manifest", limits=limits)
    else:
        path = Path(location)
        try:
            if path.stat().st_size > limits.max_bytes:
                raise ScanError(f"{location}: manifest is over {limits.max_bytes:,} bytes; refused")
            data = path.read_bytes()
        except OSError as error:
            raise ScanError(f"{location}: cannot read the manifest ({error.strerror or error})") from None
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise ScanError(
            f"{location}: manifest is not JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except (UnicodeDecodeError, RecursionError) as error:
        raise ScanError(f"{location}: manifest is not readable JSON ({type(error).__name__})") from None


def manifest_prefix(location: str) -> str:
    """The folder a manifest's pages are named under: the file's stem, or the URL's last segment that is
    not `manifest(.json)` (usually the item's identifier)."""
    if not is_url(location):
        return safe_name(Path(location).stem, "manifest")
    for segment in reversed(urlsplit(location).path.split("/")):
        stem = unquote(segment).rsplit(".", 1)[0] if segment.lower().endswith(".json") else unquote(segment)
        if stem and stem.lower() != "manifest":
            return safe_name(stem, "manifest")
    return safe_name(urlsplit(location).hostname or "", "manifest")


def _load_canvas(url: str, what: str, limits: Limits, max_pixels: int) -> bytes:
    return recogniser_bytes(fetch(url, what=what, limits=limits, image=True), f"{what}: {url}", max_pixels)


def manifest_pages(
    location: str,
    *,
    short_side: int = DEFAULT_SHORT_SIDE,
    limits: Limits = Limits(),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    prefix: str | None = None,
) -> list[ScanPage]:
    """One ScanPage per canvas, named `<prefix>/0001[-<label>]` (safe whatever the manifest says)."""
    if short_side < 1:
        raise ValueError(f"short_side must be positive, not {short_side}")
    manifest_id, canvases = parse_manifest(read_manifest(location, limits), location)
    prefix = safe_name(prefix, "manifest") if prefix is not None else manifest_prefix(location)
    manifest_id = manifest_id or location
    pages = []
    for canvas in canvases:
        if not isinstance(canvas, Canvas):
            index, canvas_id, problem = canvas
            name = f"{prefix}/{index:04d}"
            pages.append(
                failed_page(
                    name,
                    location,
                    f"{name} (canvas {canvas_id or index} of {location}): {problem}",
                    canvas=canvas_id,
                    manifest=manifest_id,
                )
            )
            continue
        label = safe_name(canvas.label)
        name = f"{prefix}/{canvas.index:04d}" + (f"-{label}" if label else "")
        url = image_url(canvas, short_side)
        what = f"{name} (canvas {canvas.id})"
        try:
            check_url(url, what)
        except ScanError as error:
            pages.append(failed_page(name, str(url), str(error), canvas=canvas.id, manifest=manifest_id))
            continue
        pages.append(
            ScanPage(
                name,
                url,
                functools.partial(_load_canvas, url, what, limits, max_pixels),
                canvas=canvas.id,
                manifest=manifest_id,
                canvas_size=(canvas.width, canvas.height),
            )
        )
    return pages
