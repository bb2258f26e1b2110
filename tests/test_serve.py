"""The HTTP server (`python -m kuzushiji_tf.serve`), started for real on 127.0.0.1: TF Serving's REST
predict through tools/client.py, /recognize in every format, limits and bad input (one-line JSON 4xx),
batching, metrics, a client that dies mid-upload."""

import base64
import io
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from kuzushiji_tf.backends.loading import load_page_model
from kuzushiji_tf.cli import client
from kuzushiji_tf.formats import FORMATS
from kuzushiji_tf.recognition.contract import CODES, OUT_BOXES
from kuzushiji_tf.recognition.folder_recognition import recognize_pages
from kuzushiji_tf.scans import open_scans
from serving_helpers import REAL_PAGES, REPO, ServerProcess, http, multipart

pytestmark = pytest.mark.slow
MAX_UPLOAD = 2_000_000
MAX_PIXELS = 30_000_000


@pytest.fixture(scope="module")
def model_dir(tiny_recognizer):
    return tiny_recognizer


@pytest.fixture(scope="module")
def server(model_dir):
    process = ServerProcess(
        model_dir,
        "--batch-wait-ms",
        "40",
        "--max-batch",
        "4",
        "--max-upload-mb",
        str(MAX_UPLOAD / 1e6),
        "--max-pixels",
        str(MAX_PIXELS),
    )
    yield process
    process.stop()


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _metrics(server) -> str:
    return http("GET", f"{server.url}/metrics")[2].decode()


def _recognize(server, data: bytes, query: str = "", **upload):
    if upload:
        body, headers = multipart("file", upload["filename"], data)
    else:
        body, headers = data, {"Content-Type": "application/octet-stream"}
    return http("POST", f"{server.url}/recognize{query}", body, headers)


def test_health_and_tf_serving_model_status(server, model_dir):
    status, _, body = http("GET", f"{server.url}/healthz")
    assert status == 200 and json.loads(body) == {
        "status": "ok",
        "model": "kuzushiji_page",
        "version": "1",
        "backend": "tf",
        "source": f"{model_dir} (--model)",  # the `model:` line kuzushiji-serve printed, shown on the web page
        "queue": 0,
        "workspace": False,  # no --workspace: the web page offers no saving
    }
    status, _, body = http("GET", f"{server.url}/v1/models/kuzushiji_page")
    assert status == 200 and json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"


def test_client_gets_what_the_model_gives_called_directly(server, model_dir):
    pages = [path.read_bytes() for path in REAL_PAGES[:2]]
    direct = load_page_model(model_dir)
    expected = [direct([page]) for page in pages]
    served = client.predict(server.url, pages)
    assert len(served) == 2
    for got, outputs in zip(served, expected):
        n = int(outputs["count"][0])
        assert n > 0 and got[CODES] == [c.decode() for c in outputs[CODES][0][:n]]
        np.testing.assert_allclose(got[OUT_BOXES], outputs[OUT_BOXES][0][:n], atol=1e-2)
    # The columnar form, and the padded shape TF Serving gives: every output max_chars long.
    body = json.dumps({"inputs": {"images": [{"b64": base64.b64encode(pages[0]).decode()}]}}).encode()
    status, _, answer = http("POST", f"{server.url}/v1/models/kuzushiji_page:predict", body)
    outputs = json.loads(answer)["outputs"]
    assert status == 200 and len(outputs["codes"][0]) == 40 and len(outputs["boxes"][0]) == 40
    assert outputs["count"] == [len(served[0][CODES])]
    status, _, answer = http(
        "POST",
        f"{server.url}/v1/models/kuzushiji_page/versions/1:predict",
        json.dumps({"instances": [{"images": {"b64": base64.b64encode(pages[0]).decode()}}]}).encode(),
    )
    assert status == 200 and json.loads(answer)["predictions"][0]["count"] == len(served[0][CODES])


def test_client_tool_prints_and_writes_page_records(server, tmp_path, capsys):
    # The predict answer holds every detection; the client keeps them all and flags those under its class
    # threshold: 0 flags none, the recipe's 0.5 (the default) every one of the tiny model's (about 1/3 each).
    argv = ["--url", server.url, str(REAL_PAGES[0]), "--cls-threshold", "0"]
    assert client.main([*argv, "--out", str(tmp_path / "all")]) == 0
    record = json.loads((tmp_path / "all" / f"{REAL_PAGES[0].name}.json").read_text())
    assert record["image"] == REAL_PAGES[0].name and len(record["characters"]) > 0
    assert client.main([*argv[:-2], "--out", str(tmp_path / "flagged")]) == 0
    flagged = json.loads((tmp_path / "flagged" / f"{REAL_PAGES[0].name}.json").read_text())

    def without_flag(chars):
        return [{k: v for k, v in c.items() if k != "uncertain"} for c in chars]

    assert without_flag(flagged["characters"]) == without_flag(record["characters"])
    assert not any(c["uncertain"] for c in record["characters"]) and record["cls_threshold"] == 0
    assert [c["uncertain"] for c in flagged["characters"]] == [
        c["class_probability"] < 0.5 for c in flagged["characters"]
    ]
    assert all(c["uncertain"] for c in flagged["characters"]) and flagged["cls_threshold"] == 0.5
    assert client.main(["--url", server.url.replace(str(server.port), "1"), str(REAL_PAGES[0])]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_recognize_gives_the_json_of_the_folder_tool(server, model_dir, tmp_path):
    page = REAL_PAGES[0]
    recognize_pages(
        load_page_model(model_dir),
        load_page_model(model_dir).vocabulary,
        open_scans([str(page)]),
        tmp_path,
        progress=False,
    )
    expected = json.loads(next(tmp_path.glob("*.json")).read_text())
    for answer in (
        _recognize(server, page.read_bytes(), filename=page.name),
        _recognize(server, page.read_bytes(), f"?name={page.name}"),
    ):
        status, headers, body = answer
        assert status == 200 and headers["content-type"].startswith("application/json")
        record = json.loads(body)
        assert record["image"] == page.name
        assert {k: v for k, v in record.items() if k != "image"} == {k: v for k, v in expected.items() if k != "image"}


def test_recognize_in_every_format(server):
    data = REAL_PAGES[1].read_bytes()
    count = len(json.loads(_recognize(server, data)[2])["characters"])
    for name in FORMATS:
        status, _, body = _recognize(server, data, f"?format={name}", filename="p.jpg")
        assert status == 200, (name, body[:200])
        if name in ("page", "alto", "tei", "hocr"):
            root = etree.fromstring(body)
            glyphs = {"page": "Glyph", "alto": "Glyph", "tei": "c", "hocr": "span"}[name]
            found = [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == glyphs]
            if name == "hocr":
                found = [e for e in found if e.get("class") == "ocrx_cinfo"]
            assert len(found) == count, name
        elif name == "txt":
            assert len(body.decode().replace("\n", "")) == count
        else:
            assert json.loads(body)


def test_tiff_reads_like_the_same_pixels_as_png(server):
    image = Image.open(REAL_PAGES[0]).convert("RGB").reduce(4)  # under the 2 MB upload cap as TIFF
    png, tiff = io.BytesIO(), io.BytesIO()
    image.save(png, format="PNG")
    image.save(tiff, format="TIFF", compression="tiff_lzw")
    a = json.loads(_recognize(server, png.getvalue())[2])
    b = json.loads(_recognize(server, tiff.getvalue(), filename="scan.tif")[2])
    assert a["characters"] and a["characters"] == b["characters"]


def _big_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (6000, 6000), 255).save(buffer, format="PNG")  # 36 MP, a few kB compressed
    return buffer.getvalue()


BAD_RECOGNIZE = [
    (b"", "", 400, "empty upload"),
    (b"%PDF-1.4 not a scan", "", 415, "not a JPEG, PNG or TIFF"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "", 400, "not a readable image"),
    (b"\xff\xd8\xff" + bytes(MAX_UPLOAD), "", 413, f"larger than {MAX_UPLOAD} bytes"),
    (None, "", 413, f"more than {MAX_PIXELS}"),
    (b"\x89PNG\r\n\x1a\n", "?format=docx", 400, "unknown format 'docx'"),
]


@pytest.mark.parametrize("data,query,status,message", BAD_RECOGNIZE)
def test_bad_uploads_get_a_one_line_json_4xx(server, data, query, status, message):
    got, _, body = _recognize(server, _big_png() if data is None else data, query)
    assert got == status
    assert body.count(b"\n") == 0 and b"Traceback" not in body
    assert message in json.loads(body)["error"]


def test_bad_api_requests_get_a_one_line_json_4xx(server):
    good = base64.b64encode(REAL_PAGES[0].read_bytes()).decode()
    cases = [
        ("POST", "/v1/models/kuzushiji_page:predict", b"{not json", 400, "not valid JSON"),
        ("POST", "/v1/models/kuzushiji_page:predict", b'{"instances": [{"b64": "@@@"}]}', 400, "not valid base64"),
        ("POST", "/v1/models/kuzushiji_page:predict", b'{"instances": []}', 400, "non-empty list"),
        (
            "POST",
            "/v1/models/kuzushiji_page:predict",
            json.dumps({"instances": [{"b64": good}] * 9}).encode(),
            413,
            "at most 8",
        ),
        (
            "POST",
            "/v1/models/kuzushiji_page:predict",
            json.dumps({"instances": [{"b64": good}, {"b64": base64.b64encode(b"junk").decode()}]}).encode(),
            400,
            "instance 1: input is not a JPEG or PNG image",
        ),
        (
            "POST",
            "/v1/models/other:predict",
            json.dumps({"instances": [{"b64": good}]}).encode(),
            404,
            "Servable not found",
        ),
        ("POST", "/v1/models/kuzushiji_page/versions/7:predict", b"{}", 404, "Specific(kuzushiji_page, 7)"),
        ("GET", "/no/such/page", None, 404, "Not Found"),
        ("GET", "/recognize", None, 405, "Method Not Allowed"),
        ("GET", "/static/../../setup.py", None, 404, "Not Found"),
    ]
    for method, path, body, status, message in cases:
        got, _, answer = http(method, f"{server.url}{path}", body)
        assert got == status, (path, answer[:200])
        assert answer.count(b"\n") == 0 and b"Traceback" not in answer and message in json.loads(answer)["error"], path


def test_a_client_file_name_is_only_a_label(server):
    status, _, body = _recognize(server, REAL_PAGES[0].read_bytes(), filename="../../etc/<passwd>")
    assert status == 200 and json.loads(body)["image"] == "passwd"


def test_concurrent_pages_are_batched_and_counted(server):
    before = _metrics(server)
    data = [path.read_bytes() for path in REAL_PAGES]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda k: _recognize(server, data[k % len(data)]), range(8)))
    assert [a[0] for a in answers] == [200] * 8
    for k, answer in enumerate(answers):  # each page gets its own answer back, not a neighbour's
        assert json.loads(answer[2]) == json.loads(answers[k % len(data)][2])
    after = _metrics(server)
    batches = _metric(after, "kuzushiji_batch_size_count") - _metric(before, "kuzushiji_batch_size_count")
    pages = _metric(after, "kuzushiji_batch_size_sum") - _metric(before, "kuzushiji_batch_size_sum")
    assert pages == 8 and batches < 8  # at least one model call took several pages
    assert 'kuzushiji_requests_total{route="/recognize",status="200"}' in after
    assert _metric(after, 'kuzushiji_request_seconds_count{route="/recognize"}') >= 8


def test_errors_are_counted(server):
    _recognize(server, b"plain text")
    text = _metrics(server)
    assert _metric(text, 'kuzushiji_request_errors_total{route="/recognize",status="415"}') >= 1


def test_a_client_killed_mid_upload_leaves_the_server_serving(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /recognize HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 1000000\r\n\r\n" + REAL_PAGES[0].read_bytes()[:50_000]
        )
    threads = [threading.Thread(target=lambda: http("GET", f"{server.url}/healthz")) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    status, _, body = _recognize(server, REAL_PAGES[0].read_bytes())
    assert status == 200 and json.loads(body)["characters"] and server.alive()


def test_serve_refuses_a_folder_without_a_model(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "kuzushiji_tf.serve", "--model", str(tmp_path)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2 and "neither a SavedModel" in result.stderr


def test_the_tf_backend_refuses_a_truncated_png_as_a_page_error(model_dir):
    from kuzushiji_tf.recognition.contract import PageRefused

    with pytest.raises(PageRefused, match="not a readable JPEG or PNG"):
        load_page_model(model_dir)([b"\x89PNG\r\n\x1a\nabc"])
