"""Real servers on 127.0.0.1 for the serving tests: `python -m kuzushiji_tf.serve` as a process (what
`make serve` starts), or an app of `create_app` on uvicorn in a thread (for fake, controllable models).
Both are stopped by the test that started them."""

from __future__ import annotations

import http.client as httplib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import uvicorn

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "kuzushiji_tf" / "sample_data" / "kaggle_5p"
REAL_PAGES = sorted((SAMPLE / "train_images").glob("*.jpg"))[:2] + sorted((SAMPLE / "test_images").glob("*.jpg"))[:1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 120):
    """(status, headers with lower-case names, body bytes) without raising on 4xx/5xx. A server that
    answers before it has read the whole body (413) and closes may cut the upload short: the answer is
    read all the same, as a browser does."""
    parts = urllib.parse.urlsplit(url)
    connection = httplib.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        try:
            connection.request(
                method, parts.path + (f"?{parts.query}" if parts.query else ""), body=data, headers=headers or {}
            )
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def multipart(field: str, filename: str, data: bytes, content_type: str = "application/octet-stream"):
    """(body, headers) of a multipart/form-data upload with one file part."""
    boundary = "----kuzushiji-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def form(fields: dict) -> tuple[bytes, dict]:
    """(body, headers) of a multipart/form-data form of {name: bytes, or (file name, bytes) for a file}."""
    boundary = "----kuzushiji-form-boundary"
    body = b""
    for name, value in fields.items():
        filename = ""
        if isinstance(value, tuple):
            filename, value = f'; filename="{value[0]}"', value[1]
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'.encode()
        body += value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def wait_healthy(url: str, process: subprocess.Popen | None = None, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stdout.read()[-3000:]}")
        try:
            status, _, body = http("GET", f"{url}/healthz", timeout=2)
            if status == 200 and json.loads(body)["status"] == "ok":
                return
        except (OSError, httplib.HTTPException):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy in {seconds} s")


class ServerProcess:
    """`python -m kuzushiji_tf.serve --model MODEL --port <free> ARGS` until `stop()`."""

    def __init__(self, model: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kuzushiji_tf.serve",
                "--model",
                str(model),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )
        try:
            wait_healthy(self.url, self.process)
        except Exception:
            self.stop()
            raise

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ThreadServer:
    """An ASGI app on uvicorn in a background thread, on a free port of 127.0.0.1."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_healthy(self.url, seconds=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
