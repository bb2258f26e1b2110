"""The routes behind the web page's editing mode: classify boxes a person drew, put edited boxes in reading
order, write the corrected page in any output format, and save it into the workspace folder.

Each one is stateless: the browser holds the page and its edits, and sends the scan again where the
server needs its pixels (classify, save). Every input is checked before use (`corrected_page`), under
byte and count caps, and refused with the app's one-line 4xx; no client string becomes a path
(`workspace`).
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kuzushiji_tf.formats import FORMATS, PageSource
from kuzushiji_tf.formats.source import utc_now
from kuzushiji_tf.recognition.contract import BoxesUnsupported, PageRefused
from kuzushiji_tf.recognition.corrected_page import CorrectionError, corrected_record, page_size, parse_boxes
from kuzushiji_tf.recognition.page_text import box_characters
from kuzushiji_tf.recognition.postprocess import box_results
from kuzushiji_tf.recognition.reading_order import reading_layout
from kuzushiji_tf.serving.uploads import (
    UploadError,
    display_name,
    form_fields,
    read_body,
    sniff,
    to_model_input,
    too_large,
)
from kuzushiji_tf.serving.workspace import Workspace

CLASSIFY_AT_ONCE = (
    2  # classify requests running together; more wait: they are small, and the batcher's pages come first
)
NO_WORKSPACE = "no workspace: start kuzushiji-serve with --workspace DIR to save corrected pages"


def _json(data: bytes, what: str):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise UploadError(400, f"{what} is not valid JSON") from None


def editing_routes(model, config, max_pixels: int, workspace: Workspace | None) -> APIRouter:
    """The routes for `model` (a `PageModel`) under `config` (the app's `ServerConfig`: the upload and edit
    caps, the timeout); `workspace` None refuses saving."""
    router = APIRouter()
    translation = dict(model.vocabulary)
    cls_threshold = model.options.cls_threshold
    classifying = asyncio.Semaphore(CLASSIFY_AT_ONCE)
    form_limit = config.max_upload_bytes + config.max_edit_bytes + 64 * 1024

    async def scan_and(request: Request, field: str) -> tuple[bytes, tuple[int, int], str, bytes]:
        """(the scan as the recogniser reads it, its (width, height), its label, `field`'s bytes) of a form."""
        body = await read_body(request, form_limit)
        fields = form_fields(body, request.headers.get("content-type", ""), form_limit, ("file", field))
        scan, name = fields["file"]
        if len(scan) > config.max_upload_bytes:
            raise too_large(config.max_upload_bytes)
        if len(fields[field][0]) > config.max_edit_bytes:
            raise UploadError(413, f"the {field} field is larger than {config.max_edit_bytes} bytes")
        data, size = await run_in_threadpool(to_model_input, scan, max_pixels)
        return data, size, display_name(name or "upload"), fields[field][0]

    def checked(function, *args):
        try:
            return function(*args)
        except CorrectionError as error:
            raise UploadError(400, str(error)) from None

    @router.post("/classify")
    async def classify(request: Request):
        """A scan and boxes drawn on it (multipart: `file`, the scan; `boxes`, JSON [[x0, y0, x1, y1], ...] in
        scan pixels, at most `ServerConfig.max_boxes`) -> {"characters": [{"box", "code", "char", "class_probability",
        "uncertain", "candidates"}]}, one per box in their order: the page recogniser's own crop and
        classifier, as if it had found the box."""
        data, (width, height), _, field = await scan_and(request, "boxes")
        boxes = checked(parse_boxes, _json(field, "boxes"), "boxes", width, height, config.max_boxes)
        try:
            async with classifying:
                outputs = await asyncio.wait_for(run_in_threadpool(model.classify_boxes, data, boxes), config.timeout)
        except asyncio.TimeoutError:
            raise UploadError(504, f"classifying took longer than {config.timeout:g} s") from None
        except PageRefused as error:
            raise UploadError(400, str(error)) from None
        except BoxesUnsupported as error:
            raise UploadError(501, str(error)) from None
        return {"characters": box_characters(box_results(outputs), translation, cls_threshold=cls_threshold)}

    @router.post("/reading-order")
    async def reading_order(request: Request):
        """{"width", "height", "boxes": [[x0, y0, x1, y1], ...]} -> {"order": box indices in reading order,
        "column": per box its column, "block": per box its block}: how the page would be read with them."""
        page = _json(await read_body(request, config.max_edit_bytes), "the request body")
        if not isinstance(page, dict):
            raise UploadError(400, "send {width, height, boxes}")
        size = checked(page_size, page)
        boxes = checked(parse_boxes, page.get("boxes"), "boxes", *size, config.max_edit_chars)
        order, column, block = reading_layout(boxes)
        return {"order": order.tolist(), "column": column.tolist(), "block": block.tolist()}

    def record_of(page, name: str, size=None) -> dict:
        return checked(
            lambda: corrected_record(
                page, translation, name=name, cls_threshold=cls_threshold, max_chars=config.max_edit_chars, size=size
            )
        )

    @router.post("/corrected")
    async def corrected(request: Request, format: str = "page"):
        """A corrected page as JSON ({"image": its label, "width", "height", "characters": [{"box", "code",
        "edited", and unless edited "class_probability", "candidates", "detection_score"}]}) -> that page in
        `format` (page, alto, json, ...), written by the same writers as a recognised page."""
        if format not in FORMATS:
            raise UploadError(400, f"unknown format {format!r}; known formats: {', '.join(FORMATS)}")
        page = _json(await read_body(request, config.max_edit_bytes), "the request body")
        name = display_name(str(page.get("image") or "upload")) if isinstance(page, dict) else "upload"
        record = await run_in_threadpool(record_of, page, name)
        source = PageSource(image=name, width=record["width"], height=record["height"], created=utc_now())
        text = await run_in_threadpool(FORMATS[format].render_page, record, source)
        return Response(text, media_type=FORMATS[format].media_type)

    @router.post("/workspace")
    async def save(request: Request):
        """The scan (`file`) and its corrected page (`page`, JSON as for /corrected; its size is the scan's)
        saved into the workspace as <stem>.jpg|png and <stem>.xml (PAGE-XML) -> {"image", "page"}: their names
        in the folder. 403 when the server has no workspace."""
        if workspace is None:
            raise UploadError(403, NO_WORKSPACE)
        data, size, name, field = await scan_and(request, "page")
        record = await run_in_threadpool(record_of, _json(field, "the page field"), name, size)

        def write() -> dict[str, str]:
            def render(image_name: str) -> str:
                source = PageSource(image=image_name, width=size[0], height=size[1], created=utc_now())
                return FORMATS["page"].render_page({**record, "image": image_name}, source)

            return workspace.save(data, sniff(data), name, render)

        return await run_in_threadpool(write)

    return router
