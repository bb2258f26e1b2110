"""tools/recognize.py over the new inputs and formats, with a tiny exported recogniser: a 2-page PDF into
every format (PAGE and ALTO valid against their schemas, each format holding the page's characters in the
JSON's order, one TEI for the run), a IIIF manifest served on 127.0.0.1 (outputs in canvas coordinates,
bad canvases (404, not an image, too slow) failed rows), a rerun that rewrites nothing, and an unknown format as a usage error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from iiif_server import IMAGES, image_of, serve_manifest, server, v3_canvas  # noqa: F401 (server: a fixture)
from kuzushiji_tf.cli import recognize as tool

pytestmark = pytest.mark.slow

PAGE_NS = {"p": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}
ALTO_NS = {"a": "http://www.loc.gov/standards/alto/ns-v4#"}
XHTML_NS = {"h": "http://www.w3.org/1999/xhtml"}
TEI_NS = "{http://www.tei-c.org/ns/1.0}"
PER_PAGE = (".txt", ".json", ".page.xml", ".alto.xml", ".hocr.html", ".annotations.json")


def _page_image(seed: int, size=(160, 224)) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.full((size[1], size[0], 3), 225, np.uint8)
    for _ in range(5):
        x, y = rng.integers(5, size[0] - 30), rng.integers(5, size[1] - 40)
        pixels[y : y + 30, x : x + 20] = 40
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def model(tiny_recognizer):
    return tiny_recognizer


@pytest.fixture(scope="module")
def pdf_run(model, tmp_path_factory):
    """A 2-page PDF (72 dpi: one pixel a point) recognised into every format; (pdf, out, exit status)."""
    root = tmp_path_factory.mktemp("pdf")
    pdf = root / "book.pdf"
    _page_image(1).save(pdf, save_all=True, append_images=[_page_image(2)], resolution=72)
    out = root / "ocr"
    status = tool.main(
        [str(pdf), "--out", str(out), "--model", str(model), "--formats", "all", "--dpi", "72", "--quiet"]
    )
    return pdf, out, status


def _summary(out: Path) -> dict:
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        return {row["page"]: row for row in csv.DictReader(handle)}


def _valid(schema, path: Path):
    document = etree.parse(str(path))
    assert schema.validate(document), f"{path}: " + "\n".join(str(e) for e in schema.error_log)
    return document


def _characters(base: Path, schemas) -> dict[str, list[str]]:
    """The characters each per-page format holds, in document order."""
    page = _valid(schemas["page"], Path(f"{base}.page.xml"))
    alto = _valid(schemas["alto"], Path(f"{base}.alto.xml"))
    hocr = etree.parse(f"{base}.hocr.html")
    annotations = json.loads(Path(f"{base}.annotations.json").read_text(encoding="utf-8"))
    return {
        "txt": list(Path(f"{base}.txt").read_text(encoding="utf-8").replace("\n", "")),
        # A glyph's reading is its TextEquiv of index 1; the others are its candidates.
        "page": [u.text for u in page.iterfind(".//p:Glyph/p:TextEquiv[@index='1']/p:Unicode", PAGE_NS)],
        "alto": [g.get("CONTENT") for g in alto.iterfind(".//a:Glyph", ALTO_NS)],
        # A character with candidates holds <span class="alternatives">: its reading is the <ins>.
        "hocr": [
            s.text if s.text else s.find(".//h:ins", XHTML_NS).text
            for s in hocr.iterfind(".//h:span[@class='ocrx_cinfo']", XHTML_NS)
        ],
        "iiif": [a["body"]["value"] for a in annotations["items"] if a["textGranularity"] == "glyph"],
    }


def _tei_pages(path: Path) -> list[list[str]]:
    """The <c> characters of the TEI body, one list per <pb>."""
    body = etree.parse(str(path)).find(f"{TEI_NS}text/{TEI_NS}body")
    pages = []
    for element in body.iter(f"{TEI_NS}pb", f"{TEI_NS}c"):
        if element.tag == f"{TEI_NS}pb":
            pages.append([])
        else:
            pages[-1].append(element.text)
    return pages


def test_pdf_pages_in_every_format(pdf_run, schemas):
    pdf, out, status = pdf_run
    assert status == 0
    summary = _summary(out)
    assert list(summary) == ["book/page-0001", "book/page-0002"]
    assert {row["status"] for row in summary.values()} == {"ok"}
    tei_pages = _tei_pages(out / "tei.xml")
    assert len(tei_pages) == 2 and sorted(p.name for p in out.iterdir()) == ["book", "summary.csv", "tei.xml"]
    for k, name in enumerate(summary):
        base = out / name
        assert all(Path(f"{base}{suffix}").is_file() for suffix in PER_PAGE)
        record = json.loads(Path(f"{base}.json").read_text(encoding="utf-8"))
        assert (record["width"], record["height"]) == (160, 224)  # 72 dpi: the image's own pixels
        chars = [c["char"] for c in record["characters"]]
        assert len(chars) == int(summary[name]["characters"]) > 0
        for kind, found in _characters(base, schemas).items():
            assert found == chars, kind
        assert tei_pages[k] == chars
        # Every format names the page inside the PDF (RFC 8118's #page=N) as its image.
        page = etree.parse(f"{base}.page.xml").find(".//p:Page", PAGE_NS)
        assert page.get("imageFilename") == f"{pdf}#page={k + 1}" and page.get("imageWidth") == "160"
    # Without a IIIF canvas, each page's annotations target a placeholder canvas of their own.
    canvases = [
        {
            a["target"].split("#xywh=")[0]
            for a in json.loads(Path(f"{out / name}.annotations.json").read_text(encoding="utf-8"))["items"]
        }
        for name in summary
    ]
    assert all(len(c) == 1 for c in canvases) and canvases[0] != canvases[1]


def test_rerun_rewrites_nothing_and_unknown_format_is_a_usage_error(pdf_run, model, capsys):
    pdf, out, status = pdf_run
    assert status == 0
    files = [p for p in out.rglob("*") if p.is_file() and p.name != "summary.csv"]
    before = {p: p.stat().st_mtime_ns for p in files}
    capsys.readouterr()
    assert (
        tool.main([str(pdf), "--out", str(out), "--model", str(model), "--formats", "all", "--dpi", "72", "--quiet"])
        == 0
    )
    assert "0 recognised, 2 already done" in capsys.readouterr().out
    assert {row["status"] for row in _summary(out).values()} == {"skipped"}
    assert {p: p.stat().st_mtime_ns for p in files} == before and not list(out.rglob("*.tmp"))

    with pytest.raises(SystemExit) as exited:
        tool.main([str(pdf), "--out", str(out), "--model", str(model), "--formats", "txt,pdf"])
    assert exited.value.code == 2
    assert "unknown output format 'pdf'; known formats: txt, json, page" in capsys.readouterr().err


def test_iiif_manifest_outputs_in_canvas_coordinates(server, model, tmp_path, capsys):
    # The tiny model's short side is 128: the 256 x 384 canvas is fetched at half its size.
    canvases = [
        v3_canvas(server.base, "page", {"ja": ["一オ"]}),
        v3_canvas(server.base, "missing", {"none": ["2"]}),
        v3_canvas(server.base, "html", {"none": ["3"]}),
        v3_canvas(server.base, "slow", {"none": ["4"]}),
    ]
    url = serve_manifest(
        server,
        "/book/manifest.json",
        {"id": f"{server.base}/book/manifest.json", "type": "Manifest", "items": canvases},
    )
    out = tmp_path / "ocr"
    assert (
        tool.main(
            [
                url,
                "--out",
                str(out),
                "--model",
                str(model),
                "--formats",
                "iiif,page,tei",
                "--timeout",
                "2",
                "--retries",
                "0",
                "--quiet",
            ]
        )
        == 1
    )  # the slow canvas answers after 5 s
    assert "tei is built from the pages' .json files" in capsys.readouterr().out
    summary = _summary(out)
    assert {name: row["status"] for name, row in summary.items()} == {
        "book/0001-一オ": "ok",
        "book/0002-2": "failed",
        "book/0003-3": "failed",
        "book/0004-4": "failed",
    }
    assert "HTTP 404" in summary["book/0002-2"]["error"] and "canvas/missing" in summary["book/0002-2"]["error"]
    assert "not an image" in summary["book/0003-3"]["error"]
    assert "no answer within 2" in summary["book/0004-4"]["error"] and "canvas/slow" in summary["book/0004-4"]["error"]
    assert "/iiif/page/full/!128,192/0/default.jpg" in server.requests

    record = json.loads((out / "book" / "0001-一オ.json").read_text(encoding="utf-8"))
    assert (record["width"], record["height"]) == IMAGES["page"]
    boxes = np.array([c["box"] for c in record["characters"]])
    assert len(boxes) and boxes.min() >= -2
    assert (boxes[:, [0, 2]] <= 256 + 2).all() and (boxes[:, [1, 3]] <= 384 + 2).all()

    # The same image recognised as a local file gives the boxes at half the scale.
    local = tmp_path / "fetched.jpg"
    local.write_bytes(image_of((128, 192), IMAGES["page"]))
    assert tool.main([str(local), "--out", str(tmp_path / "local"), "--model", str(model), "--quiet"]) == 0
    small = json.loads((tmp_path / "local" / "fetched.jpg.json").read_text(encoding="utf-8"))
    small_boxes = np.array([c["box"] for c in small["characters"]])
    assert np.allclose(np.sort(boxes, axis=0), 2 * np.sort(small_boxes, axis=0), atol=0.3)

    annotations = json.loads((out / "book" / "0001-一オ.annotations.json").read_text(encoding="utf-8"))
    assert all(a["target"].startswith(f"{server.base}/canvas/page#xywh=") for a in annotations["items"])
    page = etree.parse(str(out / "book" / "0001-一オ.page.xml")).find(".//p:Page", PAGE_NS)
    assert page.get("imageWidth") == "256"
    assert page.get("imageFilename").endswith("/iiif/page/full/!128,192/0/default.jpg")
    surfaces = etree.parse(str(out / "tei.xml")).findall(f".//{TEI_NS}surface")
    assert [s.get("sameAs") for s in surfaces] == [f"{server.base}/canvas/page"]
    assert not (out / "book" / "0002-2.json").exists()
