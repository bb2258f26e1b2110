"""Load and faults on the real server (127.0.0.1), bounded in count and time: concurrent clients send real
pages and bad inputs mixed past the queue's size; every request is answered (200, 4xx or 503), the good
pages' answers equal their single-request answers, the server stays up and its memory bounded, and a
client that dies mid-upload changes nothing."""

import json
import socket
import threading
import time

import pytest

from serving_helpers import REAL_PAGES, ServerProcess, http

pytestmark = pytest.mark.slow
CLIENTS, SECONDS = 8, 8.0
MAX_UPLOAD = 3_000_000


def _post(url, data):
    return http("POST", f"{url}/recognize", data, {"Content-Type": "application/octet-stream"}, timeout=60)


def test_mixed_load_is_answered_and_bounded(tiny_recognizer):
    server = ServerProcess(
        tiny_recognizer, "--max-queue", "4", "--max-batch", "4", "--max-upload-mb", str(MAX_UPLOAD / 1e6)
    )
    try:
        good = [path.read_bytes() for path in REAL_PAGES]
        single = [json.loads(_post(server.url, page)[2]) for page in good]  # the answers alone
        bad = [
            (b"", 400),
            (b"GIF89a not a scan", 415),
            (b"\xff\xd8\xff\xe0" + b"\x00" * 100, 400),
            (b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD), 413),
        ]
        for _ in range(3):  # warm up before the memory baseline
            _post(server.url, good[0])
        baseline = server.rss_kib()

        answers, failures = [], []
        stop = time.monotonic() + SECONDS

        def client(k: int):
            n = 0
            while time.monotonic() < stop:
                n += 1
                try:
                    if (k + n) % 3:
                        i = (k + n) % len(good)
                        status, _, body = _post(server.url, good[i])
                        answers.append(("good", i, status, body))
                    else:
                        data, expected = bad[(k + n) % len(bad)]
                        status, _, body = _post(server.url, data)
                        answers.append(("bad", expected, status, body))
                except Exception as error:  # a connection refused or reset is a request not answered
                    failures.append(repr(error))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        [t.start() for t in threads]
        [t.join(120) for t in threads]

        assert failures == []
        assert len(answers) >= CLIENTS
        statuses = {}
        for kind, key, status, body in answers:
            statuses[status] = statuses.get(status, 0) + 1
            if status == 503:
                continue  # the queue was full: the client is told to retry
            if kind == "good":
                assert status == 200 and json.loads(body) == single[key]
            else:
                assert status == key and "error" in json.loads(body)
        assert statuses.get(200, 0) > 0 and set(statuses) <= {200, 400, 413, 415, 503}, statuses

        # A client that dies mid-upload, ten times over: the server carries on.
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(
                    b"POST /recognize HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + good[0][:30_000]
                )
        assert server.alive() and _post(server.url, good[1])[0] == 200
        grown = server.rss_kib() - baseline
        assert grown < 300_000, f"server memory grew by {grown} KiB under load"
        print(f"load: {sum(statuses.values())} requests in {SECONDS:g} s, statuses {statuses}, RSS +{grown} KiB")
    finally:
        server.stop()
