"""A real HTTP server on 127.0.0.1 for IIIF tests (test_scans, test_recognize_sources): its image services
answer Image API requests at the size asked, and some canvases 404, hang past the client's timeout, answer
HTML or fail once with 503. Use the `server` fixture (import it into the test module)."""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image, ImageDraw

# Each image's full size (the canvas's) and a black square on it, in canvas pixels. "page" is small, for
# the recogniser tests: a tiny model's short side (128) is half its short side.
IMAGES = {
    "tall": (1000, 1600),
    "wide": (1600, 1000),
    "small": (500, 700),
    "missing": (1000, 1600),
    "slow": (1000, 1600),
    "html": (1000, 1600),
    "flaky": (1000, 1600),
    "plain": (600, 900),
    "unsized": (1000, 1600),
    "page": (256, 384),
}
SQUARE = (200, 300, 400, 500)


def page_image(size, square=None) -> Image.Image:
    image = Image.new("RGB", size, "white")
    if square:
        ImageDraw.Draw(image).rectangle(square, fill="black")
    return image


def image_of(size: tuple[int, int], full: tuple[int, int]) -> bytes:
    sx, sy = size[0] / full[0], size[1] / full[1]
    x1, y1, x2, y2 = SQUARE
    image = page_image(size, (round(x1 * sx), round(y1 * sy), round(x2 * sx) - 1, round(y2 * sy) - 1))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def requested_size(text: str, full: tuple[int, int]) -> tuple[int, int]:
    width, height = full
    if text in ("full", "max"):
        return full
    if text.startswith("!"):
        w, h = (int(v) for v in text[1:].split(","))
        scale = min(w / width, h / height, 1.0)  # Image API 3: fit inside, never upscale
        return round(width * scale), round(height * scale)
    w, h = text.split(",")
    if w:
        return int(w), round(height * int(w) / width)
    return round(width * int(h) / height), int(h)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, kind: str, sized: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if sized:  # without a length the body ends when the connection closes (HTTP/1.0)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        if self.path == "/redirect.jpg":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/passwd")  # urllib would follow ftp
            self.end_headers()
            return
        if self.path in server.manifests:
            return self._send(200, json.dumps(server.manifests[self.path]).encode(), "application/json")
        match = re.fullmatch(r"/iiif/(\w+)/full/([^/]+)/0/default\.jpg", self.path)
        plain = re.fullmatch(r"/plain/(\w+)\.jpg", self.path)
        if not (match or plain):
            return self._send(404, b"not found", "text/plain")
        key = (match or plain).group(1)
        if key == "missing":
            return self._send(404, b"no such image", "text/plain")
        if key == "html":
            return self._send(200, b"<html>login required</html>", "text/html; charset=utf-8")
        if key == "slow":
            server.release.wait(5)  # far past the client's timeout; released when the test ends
        if key == "flaky" and server.failures.get(key, 0) < 1:
            server.failures[key] = server.failures.get(key, 0) + 1
            return self._send(503, b"busy", "text/plain")
        size = requested_size(match.group(2), IMAGES[key]) if match else IMAGES[key]
        self._send(200, image_of(size, IMAGES[key]), "image/jpeg", sized=key != "unsized")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client gave up on the slow canvas: its broken pipe is expected


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.requests, httpd.manifests, httpd.failures, httpd.release = [], {}, {}, threading.Event()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def v3_canvas(base: str, key: str, label, service: str = "ImageService3", body_id: str | None = None, **extra) -> dict:
    width, height = IMAGES[key]
    body = {"id": body_id or f"{base}/iiif/{key}/full/max/0/default.jpg", "type": "Image", "format": "image/jpeg"}
    if service:
        id_key = "id" if service == "ImageService3" else "@id"
        body["service"] = [{id_key: f"{base}/iiif/{key}", "type": service, "profile": "level1"}]
    canvas = {
        "id": f"{base}/canvas/{key}",
        "type": "Canvas",
        "label": label,
        "width": width,
        "height": height,
        "items": [
            {
                "id": f"{base}/page/{key}",
                "type": "AnnotationPage",
                "items": [
                    {
                        "id": f"{base}/anno/{key}",
                        "type": "Annotation",
                        "motivation": "painting",
                        "body": body,
                        "target": f"{base}/canvas/{key}",
                    }
                ],
            }
        ],
    }
    canvas.update(extra)
    return canvas


def serve_manifest(server, path: str, manifest: dict) -> str:
    """Serves `manifest` at `path`; returns its URL."""
    server.manifests[path] = manifest
    return server.base + path


def image_requests(server) -> list[str]:
    return [p for p in server.requests if p.startswith(("/iiif/", "/plain/"))]
