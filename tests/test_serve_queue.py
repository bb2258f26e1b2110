"""The server's queue and timeout on a real uvicorn (127.0.0.1) with a model the test holds: a full queue
answers 503 with Retry-After at once, a slow page 504, and both leave the server serving; the batcher
forms batches up to its size and skips pages nobody waits for."""

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kuzushiji_tf.recognition.contract import PageRefused, RecognizerOptions
from kuzushiji_tf.serving.app import ServerConfig, create_app
from kuzushiji_tf.serving.batching import Batcher, QueueFull, model_runner
from serving_helpers import REAL_PAGES, ThreadServer, http


class HeldModel:
    """A page model that answers one character per page, but only once the test releases it."""

    backend, path, options = "fake", Path("fake/1"), RecognizerOptions(max_chars=4, top_k=1)
    vocabulary = [("U+3042", "あ")]

    def __init__(self):
        self.release = threading.Event()
        self.calls: list[int] = []

    def __call__(self, pages):
        self.calls.append(len(pages))
        self.release.wait(30)
        n = len(pages)
        if any(page.startswith(b"\x89PNG") for page in pages):
            raise PageRefused("this fake reads no PNG")
        boxes = np.zeros((n, 4, 4), np.float32)
        boxes[:, 0] = [10, 10, 50, 60]
        return {
            "codepoints": np.full((n, 4), 0x3042, np.int32),
            "codes": np.full((n, 4), b"U+3042", object),
            "detection_scores": np.full((n, 4), 0.9, np.float32),
            "class_probabilities": np.full((n, 4), 0.8, np.float32),
            "boxes": boxes,
            "topk_class_ids": np.zeros((n, 4, 1), np.int32),
            "topk_codepoints": np.full((n, 4, 1), 0x3042, np.int32),
            "topk_probabilities": np.full((n, 4, 1), 0.8, np.float32),
            "count": np.ones(n, np.int32),
        }


def _post(url, data):
    return http("POST", f"{url}/recognize", data, {"Content-Type": "application/octet-stream"})


def _wait_until(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_full_queue_answers_503_with_retry_after_and_recovers():
    model = HeldModel()
    app = create_app(model, ServerConfig(max_batch=1, max_queue=1, timeout=30))
    server = ThreadServer(app)
    page = REAL_PAGES[0].read_bytes()
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(_post, server.url, page)
            _wait_until(lambda: app.state.batcher.pending == 1)
            status, headers, body = _post(server.url, page)
            assert status == 503 and headers["retry-after"] == "2"
            assert "server busy" in json.loads(body)["error"]
            model.release.set()
            status, _, body = first.result(30)
            assert status == 200 and json.loads(body)["characters"][0]["char"] == "あ"
        assert _post(server.url, page)[0] == 200  # the queue drained: served again
        assert http("GET", f"{server.url}/healthz")[0] == 200
    finally:
        model.release.set()
        server.stop()


def test_a_page_past_the_timeout_gets_504_and_the_server_goes_on():
    model = HeldModel()
    server = ThreadServer(create_app(model, ServerConfig(timeout=0.3)))
    try:
        status, _, body = _post(server.url, REAL_PAGES[0].read_bytes())
        assert status == 504 and "longer than 0.3 s" in json.loads(body)["error"]
        model.release.set()
        assert _post(server.url, REAL_PAGES[0].read_bytes())[0] == 200
    finally:
        model.release.set()
        server.stop()


def test_a_refused_page_fails_alone_in_its_batch():
    model = HeldModel()
    model.release.set()
    run = model_runner(model)
    results = run([b"\xff\xd8\xff jpeg", b"\x89PNG\r\n\x1a\n png", b"\xff\xd8\xff jpeg"])
    assert [r.error for r in results] == [None, "this fake reads no PNG", None]
    assert model.calls == [3, 1, 1, 1]  # the batch, then each page alone to find the refused one


def test_batcher_batches_up_to_its_size_and_skips_abandoned_pages():
    seen = []

    def run(pages):
        seen.append(list(pages))
        return [p for p in pages]

    async def scenario():
        batcher = Batcher(run, max_batch=3, max_wait=0.05, max_queue=8)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(bytes([k])) for k in range(5)))
        assert results == [bytes([k]) for k in range(5)]
        assert [len(b) for b in seen] == [3, 2]
        # A waiter that gives up before its batch runs costs no model time.
        abandoned = asyncio.ensure_future(batcher.submit(b"gone"))
        await asyncio.sleep(0)
        abandoned.cancel()
        assert await batcher.submit(b"kept") == b"kept"
        assert [b"gone"] not in seen and seen[-1] == [b"kept"]
        assert batcher.pending == 0
        await batcher.stop()

    asyncio.run(scenario())


def test_batcher_refuses_past_its_queue():
    gate = threading.Event()

    async def scenario():
        batcher = Batcher(lambda pages: (gate.wait(10), list(pages))[1], max_batch=1, max_wait=0, max_queue=2)
        await batcher.start()
        waiting = [asyncio.ensure_future(batcher.submit(bytes([k]))) for k in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await batcher.submit(b"one too many")
        gate.set()
        assert await asyncio.gather(*waiting) == [b"\x00", b"\x01"]
        await batcher.stop()

    asyncio.run(scenario())
