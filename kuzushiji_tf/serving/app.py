"""The FastAPI application: routes, limits and error answers around one page model and its batcher (the
editing mode's routes are `editing`'s).

Every refusal is a 4xx with a one-line JSON body `{"error": "..."}`; an unexpected failure is a 500 with
the same shape and no traceback (the traceback goes to the server's log). Client input never becomes a
path: uploads stay in memory, a file name is only a label in the outputs, and only the workspace (off
unless --workspace) writes files, under names the server chooses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from kuzushiji_tf import __version__
from kuzushiji_tf.formats import FORMATS, PageSource
from kuzushiji_tf.formats.source import utc_now
from kuzushiji_tf.recognition.context import read_in_context
from kuzushiji_tf.recognition.page_text import page_record
from kuzushiji_tf.serving.batching import Batcher, QueueFull, model_runner
from kuzushiji_tf.serving.editing import editing_routes
from kuzushiji_tf.serving.metrics import CONTENT_TYPE_LATEST, Metrics
from kuzushiji_tf.serving.tf_serving_rest import padded_outputs, parse_predict, predict_response
from kuzushiji_tf.serving.uploads import (
    UploadError,
    display_name,
    file_from_multipart,
    read_body,
    to_model_input,
    too_large,
)
from kuzushiji_tf.serving.workspace import Workspace

STATIC = Path(__file__).parent / "static"
MODEL_NAME = "kuzushiji_page"
log = logging.getLogger("kuzushiji_tf.serve")


@dataclass(frozen=True)
class ServerConfig:
    """Limits and batching; the defaults are those of `python -m kuzushiji_tf.serve`."""

    max_batch: int = 4  # pages per model call; 1 turns batching off
    batch_wait: float = 0.005  # seconds the first page of a batch waits for more
    max_queue: int = 16  # pages waiting or running before 503
    max_upload_bytes: int = 20_000_000
    max_pixels: int | None = None  # None: the model's own cap (its export options), else 64 MP
    max_instances: int = 8  # pages in one predict request
    timeout: float = 120.0  # seconds a request may wait for its pages
    retry_after: int = 2  # seconds, the 503's Retry-After
    model_name: str = MODEL_NAME
    source: str = ""  # which model this is, in words (kuzushiji-serve's `model:` line): /healthz and the web page
    context: bool = True  # /recognize reads columns in context (recognition/context.py); predict never does
    # The editing mode (`editing`): boxes per /classify request, characters and JSON bytes of an edited page,
    # and the folder corrected pages are saved into (None: saving is refused).
    max_boxes: int = 64
    max_edit_chars: int = 5000
    max_edit_bytes: int = 4_000_000
    workspace: str | None = None


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(model, config: ServerConfig = ServerConfig()) -> FastAPI:
    """The server for `model` (a `page_model.PageModel`: the SavedModel or the ONNX export)."""
    metrics = Metrics()
    batcher = Batcher(
        model_runner(model),
        max_batch=config.max_batch,
        max_wait=config.batch_wait,
        max_queue=config.max_queue,
        on_batch=metrics.observe_batch,
    )
    max_pixels = config.max_pixels or model.options.max_pixels
    max_chars = model.options.max_chars
    translation = dict(model.vocabulary)
    version = Path(model.path).name
    workspace = Workspace(config.workspace) if config.workspace else None

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="kuzushiji_tf page recogniser", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.batcher, app.state.metrics, app.state.config = batcher, metrics, config

    @app.middleware("http")
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        status = 500  # an exception escaping the routes is answered 500 by the outermost handler
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            metrics.queue.set(batcher.pending)
            metrics.observe_request(getattr(route, "path", "other"), status, time.perf_counter() - start)

    @app.exception_handler(UploadError)
    async def upload_error(request, error: UploadError):
        return _error(error.status, str(error))

    @app.exception_handler(_Refused)
    async def refused(request, error: _Refused):
        return _error(error.status, str(error), error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, error: StarletteHTTPException):
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(ClientDisconnect)
    async def gone(request, error):
        return _error(400, "client disconnected before the upload ended")

    @app.exception_handler(Exception)
    async def crashed(request, error: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal server error (see the server's log)")

    async def recognise(data: bytes) -> dict:
        """One encoded page through the batcher -> its result dict; _Refused for queue, timeout, bad page."""
        try:
            found = await asyncio.wait_for(batcher.submit(data), config.timeout)
        except QueueFull:
            raise _Refused(
                503, "server busy: too many pages waiting; retry later", {"Retry-After": str(config.retry_after)}
            ) from None
        except asyncio.TimeoutError:
            raise _Refused(504, f"recognition took longer than {config.timeout:g} s") from None
        if found.error:
            raise _Refused(400, found.error)
        return found.result

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(editing_routes(model, config, max_pixels, workspace))

    @app.get("/healthz")
    async def healthz():
        return {
            "status": "ok",
            "model": config.model_name,
            "version": version,
            "backend": model.backend,
            "source": config.source or str(model.path),
            "queue": batcher.pending,
            "workspace": workspace is not None,  # the web page offers saving only then
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus():
        metrics.queue.set(batcher.pending)
        return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)

    def check_name(name: str) -> None:
        if name != config.model_name:
            raise _Refused(404, f"Servable not found for request: Latest({name})")

    @app.get("/v1/models/{name}")
    async def model_status(name: str):
        check_name(name)
        return {
            "model_version_status": [
                {"version": version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }

    async def predict(request: Request, name: str):
        check_name(name)
        body = await read_body(request, config.max_instances * (config.max_upload_bytes * 4 // 3 + 64) + 4096)
        try:
            parsed = json.loads(body)
        except ValueError:
            raise UploadError(400, "request body is not valid JSON") from None
        pages, row = parse_predict(parsed, config.max_instances)
        for k, page in enumerate(pages):
            if len(page) > config.max_upload_bytes:
                raise UploadError(413, f"instance {k}: larger than {config.max_upload_bytes} bytes")
        results = await asyncio.gather(*(recognise(page) for page in pages), return_exceptions=True)
        for k, result in enumerate(results):
            if isinstance(result, _Refused):
                raise _Refused(
                    result.status, f"instance {k}: {result}" if result.status == 400 else str(result), result.headers
                )
            if isinstance(result, BaseException):
                raise result
        return predict_response([padded_outputs(r, max_chars) for r in results], row)

    app.add_api_route("/v1/models/{name}:predict", predict, methods=["POST"])

    @app.post("/v1/models/{name}/versions/{number}:predict")
    async def predict_version(request: Request, name: str, number: str):
        if number != version:
            raise _Refused(404, f"Servable not found for request: Specific({name}, {number})")
        return await predict(request, name)

    @app.post("/recognize")
    async def recognize(request: Request, format: str = "json", name: str | None = None):
        """A scan (multipart `file` field, or the raw bytes as the body) -> the page in `format`:
        json (the record of kuzushiji-recognize), txt, page, alto, hocr, iiif or tei."""
        if format not in FORMATS:
            raise UploadError(400, f"unknown format {format!r}; known formats: {', '.join(FORMATS)}")
        content_type = request.headers.get("content-type", "")
        body = await read_body(request, config.max_upload_bytes + 64 * 1024)
        label = "upload"
        if content_type.startswith("multipart/form-data"):
            body, label = file_from_multipart(body, content_type, config.max_upload_bytes + 64 * 1024)
        if len(body) > config.max_upload_bytes:
            raise too_large(config.max_upload_bytes)
        label = display_name(name or label)
        data, size = await run_in_threadpool(to_model_input, body, max_pixels)
        result = await recognise(data)  # every detection; the class threshold flags, never drops
        if config.context:
            result = await run_in_threadpool(read_in_context, result, model.options)

        def render() -> str:
            record = page_record(label, result, translation, size=size, cls_threshold=model.options.cls_threshold)
            source = PageSource(image=label, width=size[0], height=size[1], created=utc_now())
            return FORMATS[format].render_page(record, source)

        return Response(await run_in_threadpool(render), media_type=FORMATS[format].media_type)

    return app
