"""kuzushiji_tf.scans: folders, PDFs and IIIF manifests (v2, v3; file or URL) as ScanPages.

IIIF tests run a real HTTP server on 127.0.0.1 (tests/iiif_server.py) whose image services answer Image
API requests, with canvases that 404, hang past the client's timeout, answer HTML or fail once with 503.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iiif_server import IMAGES, SQUARE, image_requests, page_image, serve_manifest, server, v3_canvas  # noqa: F401 (server: a fixture)
from kuzushiji_tf.scans import ScanError, ScanPage, encoded_size, open_scans, safe_name
from kuzushiji_tf.scans.pdf import pdf_pages

TIMEOUT = 0.5  # the client's; the slow canvas sleeps past it
SAFE_PART = re.compile(r"^[^\W_][\w.-]*$")  # what a name component may look like (\w covers any script)


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def _dark_box(grey: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(grey < 128)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _assert_safe(name: str) -> None:
    assert not name.startswith("/") and "\\" not in name
    for part in name.split("/"):
        assert part not in ("", ".", "..") and SAFE_PART.match(part), name


# ---------------------------------------------------------------- names, files


def test_safe_name_never_escapes():
    assert safe_name("../../etc") == "etc"
    assert safe_name("/etc/passwd") == "etc_passwd"
    assert safe_name("a\\b:c*?d") == "a_b_c_d"
    assert safe_name("一オ 表紙") == "一オ_表紙"
    assert safe_name("..", "fallback") == "fallback"
    assert safe_name("", "7") == "7"
    assert len(safe_name("x" * 500)) <= 64


def test_folder_lists_images_and_pdfs_with_relative_names(tmp_path):
    (tmp_path / "book").mkdir()
    Image.new("RGB", (30, 40), "white").save(tmp_path / "book" / "b.png")
    Image.new("RGB", (30, 40), "white").save(tmp_path / "a.jpg")
    Image.new("RGB", (72, 72), "white").save(
        tmp_path / "book" / "scan.PDF",
        save_all=True,
        append_images=[Image.new("RGB", (72, 72), "white")],
        resolution=72,
    )
    (tmp_path / "notes.txt").write_text("not a scan")
    pages = open_scans([str(tmp_path)])
    assert [p.name for p in pages] == ["a.jpg", "book/b.png", "book/scan/page-0001", "book/scan/page-0002"]
    assert encoded_size(pages[1].load()) == (30, 40)


def test_file_list_errors():
    with pytest.raises(ValueError, match="only http"):
        open_scans(["ftp://example.org/manifest.json"])
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        open_scans(["missing.jpg"])


def test_image_files_with_one_name_collide(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / folder / "p.jpg")
    with pytest.raises(ValueError, match="collide"):
        open_scans([str(tmp_path / "x" / "p.jpg"), str(tmp_path / "y" / "p.jpg")])


def test_broken_image_fails_its_page_naming_the_file(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    [page] = open_scans([str(tmp_path / "broken.jpg")])
    with pytest.raises(ScanError, match="broken.jpg"):
        page.load()


# ---------------------------------------------------------------- PDF


def _make_pdf(path: Path) -> Path:
    # At 100 px per inch: page 1 is 4 x 2 in with a square at (1, 0.5)-(1.5, 1) in; page 2 is 2 x 3 in.
    page_image((400, 200), (100, 50, 149, 99)).save(
        path, save_all=True, append_images=[page_image((200, 300))], resolution=100
    )
    return path


def test_pdf_pages_rasterised_at_the_dpi(tmp_path):
    pages = open_scans([str(_make_pdf(tmp_path / "book.pdf"))], dpi=150)
    assert [p.name for p in pages] == ["book/page-0001", "book/page-0002"]
    assert [p.source for p in pages] == [f"{tmp_path / 'book.pdf'}#page={k}" for k in (1, 2)]
    assert all(p.canvas_size is None and not p.note for p in pages)
    first, second = (p.load() for p in pages)
    assert first[:2] == b"\xff\xd8"  # JPEG
    # DPI x inches, give or take the pixel PDFium adds when a side in points is not exact.
    assert np.allclose(encoded_size(first), (600, 300), atol=1)
    assert np.allclose(encoded_size(second), (300, 450), atol=1)
    x1, y1, x2, y2 = _dark_box(_decode(first))
    assert abs(x1 - 150) <= 2 and abs(y1 - 75) <= 2 and abs(x2 - 225) <= 2 and abs(y2 - 150) <= 2


def test_pdf_page_over_the_pixel_cap_is_rendered_at_a_lower_dpi(tmp_path):
    pages = pdf_pages(_make_pdf(tmp_path / "big.pdf"), dpi=300, max_pixels=200_000)
    # 4 x 2 in at 300 dpi = 720,000 px: the highest whole dpi under 200,000 px is 158 (632 x 316).
    assert "rendered at 158 dpi" in pages[0].note and "big.pdf page 1" in pages[0].note
    width, height = encoded_size(pages[0].load())
    assert width * height <= 200_000 and (width, height) == (632, 316)


def test_corrupt_and_encrypted_pdfs_name_the_file(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nthis is no pdf")
    with pytest.raises(ScanError, match=r"bad\.pdf: not a readable PDF"):
        pdf_pages(bad)
    # In a run it is one failed page, named after the file, so the other inputs still go.
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    pages = open_scans([str(bad), str(tmp_path / "ok.png")])
    assert [p.name for p in pages] == ["bad.pdf", "ok.png"]
    with pytest.raises(ScanError, match=r"bad\.pdf"):
        pages[0].load()
    pages[1].load()

    locked = tmp_path / "locked.pdf"
    locked.write_bytes(_encrypted_pdf())
    with pytest.raises(ScanError, match=r"locked\.pdf: PDF is password-protected"):
        pdf_pages(locked)


def _encrypted_pdf() -> bytes:
    """A one-page PDF behind the standard security handler whose user password is not empty."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        b"33" * 16,
        b"33" * 16,
        xref,
    )
    return out


# ---------------------------------------------------------------- IIIF server (tests/iiif_server.py)


def _v3_manifest(base: str) -> dict:
    no_width = v3_canvas(base, "tall", {"none": ["no width"]})
    del no_width["width"]
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{base}/v3/manifest.json",
        "type": "Manifest",
        "label": {"ja": ["源氏物語"]},
        "items": [
            v3_canvas(base, "tall", {"ja": ["一オ"]}),
            v3_canvas(base, "missing", {"none": ["2"]}),
            v3_canvas(base, "slow", {"none": ["3"]}),
            v3_canvas(base, "html", {"none": ["4"]}),
            v3_canvas(base, "plain", {"none": ["5"]}, service="", body_id=f"{base}/plain/plain.jpg"),
            v3_canvas(base, "wide", {"en": ["../../etc"]}, service="ImageService2"),
            no_width,
        ],
    }


def _v2_manifest(base: str) -> dict:
    def canvas(key, label):
        width, height = IMAGES[key]
        return {
            "@id": f"{base}/v2/canvas/{key}",
            "@type": "sc:Canvas",
            "label": label,
            "width": width,
            "height": height,
            "images": [
                {
                    "@type": "oa:Annotation",
                    "motivation": "sc:painting",
                    "on": f"{base}/v2/canvas/{key}",
                    "resource": {
                        "@id": f"{base}/iiif/{key}/full/full/0/default.jpg",
                        "@type": "dctypes:Image",
                        "service": {
                            "@context": "http://iiif.io/api/image/2/context.json",
                            "@id": f"{base}/iiif/{key}",
                            "profile": "http://iiif.io/api/image/2/level2.json",
                        },
                    },
                }
            ],
        }

    return {
        "@context": "http://iiif.io/api/presentation/2/context.json",
        "@id": f"{base}/v2/manifest.json",
        "@type": "sc:Manifest",
        "label": "v2 book",
        "sequences": [{"@type": "sc:Sequence", "canvases": [canvas("wide", "1"), canvas("small", "p. 2")]}],
    }


# ---------------------------------------------------------------- IIIF


def test_v3_manifest_url_each_failure_is_its_page_only(server):
    url = serve_manifest(server, "/v3/manifest.json", _v3_manifest(server.base))
    pages = open_scans([url], timeout=TIMEOUT, retries=0)
    names = [p.name for p in pages]
    assert names == ["v3/0001-一オ", "v3/0002-2", "v3/0003-3", "v3/0004-4", "v3/0005-5", "v3/0006-etc", "v3/0007"]
    for name in names:
        _assert_safe(name)
    tall = pages[0]
    assert tall.canvas == f"{server.base}/canvas/tall" and tall.manifest == url
    assert tall.canvas_size == (1000, 1600) and tall.source == f"{server.base}/iiif/tall/full/!832,1332/0/default.jpg"

    # The good canvas: fetched at the short side, boxes map back to canvas coordinates.
    data = tall.load()
    loaded = encoded_size(data)
    assert loaded == (832, 1331)
    assert tall.frame_size(loaded) == (1000, 1600)
    x1, y1, x2, y2 = tall.to_frame(np.array([_dark_box(_decode(data))]), loaded)[0]
    assert np.allclose([x1, y1, x2, y2], SQUARE, atol=3)

    errors = {}
    for page in pages[1:4] + pages[6:]:
        started = time.monotonic()
        with pytest.raises(ScanError) as caught:
            page.load()
        errors[page.name] = (str(caught.value), time.monotonic() - started)
    missing, slow, html, no_width = (errors[n][0] for n in ("v3/0002-2", "v3/0003-3", "v3/0004-4", "v3/0007"))
    assert "canvas/missing" in missing and "/iiif/missing/full/" in missing and "HTTP 404" in missing
    assert "canvas/slow" in slow and "/iiif/slow/" in slow and "no answer within 0.5 s" in slow
    assert errors["v3/0003-3"][1] < 3
    assert "canvas/html" in html and "text/html, not an image" in html
    assert "missing key 'width'" in no_width and "canvas/tall" in no_width

    # No service: the image itself, at its own size; a v2 service inside a v3 manifest takes `,h`.
    assert pages[4].source == f"{server.base}/plain/plain.jpg"
    assert encoded_size(pages[4].load()) == (600, 900) and pages[4].scale((600, 900)) == (1.0, 1.0)
    wide = pages[5]
    assert wide.source.endswith("/iiif/wide/full/,832/0/default.jpg")
    loaded = encoded_size(wide.load())
    assert loaded == (1331, 832) and wide.scale(loaded) == pytest.approx((1600 / 1331, 1000 / 832))
    requested = image_requests(server)
    assert "/iiif/tall/full/!832,1332/0/default.jpg" in requested and "/plain/plain.jpg" in requested


def test_v2_manifest_sizes_never_exceed_the_canvas(server):
    url = serve_manifest(server, "/items/bk123/manifest", _v2_manifest(server.base))
    pages = open_scans([url], timeout=TIMEOUT, retries=0, short_side=832)
    assert [p.name for p in pages] == ["bk123/0001-1", "bk123/0002-p._2"]
    for page in pages:
        page.load()
    assert image_requests(server) == ["/iiif/wide/full/,832/0/default.jpg", "/iiif/small/full/500,/0/default.jpg"]
    assert pages[1].canvas == f"{server.base}/v2/canvas/small"
    assert pages[1].manifest == f"{server.base}/v2/manifest.json"
    assert pages[1].scale((500, 700)) == (1.0, 1.0)


def test_manifest_from_a_local_file(server, tmp_path):
    path = tmp_path / "genji.json"
    path.write_text(json.dumps(_v2_manifest(server.base)), encoding="utf-8")
    pages = open_scans([str(path)], timeout=TIMEOUT, retries=0, short_side=400)
    assert [p.name for p in pages] == ["genji/0001-1", "genji/0002-p._2"]
    assert encoded_size(pages[0].load()) == (640, 400)


def test_retry_after_a_503(server):
    canvas = v3_canvas(server.base, "flaky", "1")
    url = serve_manifest(server, "/v3/flaky.json", {"id": "m", "type": "Manifest", "items": [canvas]})
    [page] = open_scans([url], timeout=TIMEOUT, retries=2, backoff=0.01)
    assert encoded_size(page.load()) == (832, 1331)
    assert len(image_requests(server)) == 2  # the 503, then the image

    server.failures.clear()
    [page] = open_scans([url], timeout=TIMEOUT, retries=0)
    with pytest.raises(ScanError, match="HTTP 503"):
        page.load()


def test_byte_and_pixel_caps_and_non_http_image_urls(server):
    items = [
        v3_canvas(server.base, "tall", "1"),
        v3_canvas(server.base, "unsized", "2"),
        v3_canvas(server.base, "tall", "3", service="", body_id="file:///etc/passwd"),
        v3_canvas(server.base, "plain", "4", service="", body_id=f"{server.base}/plain/plain.jpg"),
        v3_canvas(server.base, "tall", "5", service="", body_id=f"{server.base}/redirect.jpg"),
    ]
    url = serve_manifest(server, "/v3/cap.json", {"id": "m", "type": "Manifest", "items": items})
    pages = open_scans([url], timeout=TIMEOUT, retries=0, max_bytes=10_000, max_pixels=500_000)
    with pytest.raises(ScanError, match="19,[0-9]{3} bytes, above the limit of 10,000"):  # declared length
        pages[0].load()
    with pytest.raises(ScanError, match="answer is over 10,000 bytes"):  # no length: the read stops at the cap
        pages[1].load()
    with pytest.raises(ScanError, match="not an http"):
        pages[2].load()
    with pytest.raises(ScanError, match="600x900, above the limit of 500,000 pixels"):
        open_scans([url], timeout=TIMEOUT, retries=0, max_pixels=500_000)[3].load()
    with pytest.raises(ScanError, match=r"redirect\.jpg: HTTP 302 redirect to a non-http\(s\) URL"):
        pages[4].load()
    assert not any("passwd" in p for p in server.requests)


def test_manifest_validation_names_what_is_missing(server, tmp_path):
    cases = {
        "empty.json": ({"@context": "x"}, "missing key 'items' \\(v3\\) or 'sequences' \\(v2\\)"),
        "nocanvases.json": ({"sequences": [{"label": "s"}]}, "missing key 'canvases'"),
        "list.json": ([1, 2], "not an object"),
        "none.json": ({"items": []}, "no canvases"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(content))
        with pytest.raises(ScanError, match=message):
            open_scans([str(tmp_path / name)])
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ScanError, match="broken.json: manifest is not JSON"):
        open_scans([str(tmp_path / "broken.json")])
    with pytest.raises(ScanError, match="HTTP 404"):
        open_scans([server.base + "/nowhere/manifest.json"], timeout=TIMEOUT, retries=0)


def test_scan_page_frame_without_a_canvas():
    page = ScanPage("a.jpg", "a.jpg", lambda: b"")
    boxes = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert page.frame_size((10, 20)) == (10, 20) and np.array_equal(page.to_frame(boxes, (10, 20)), boxes)
    assert page.outputs(Path("out"))["json"] == Path("out/a.jpg.json")
