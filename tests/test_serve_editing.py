"""The server's routes behind the web page's editing mode, on a real uvicorn on 127.0.0.1 (the app in a
thread, over the tiny recogniser): /classify answers what the model reads for drawn boxes, /reading-order
orders edited boxes, /corrected writes a corrected page that validates against the PAGE and ALTO schemas,
and /workspace saves the scan beside its PAGE-XML under names the server chooses, never a client's path,
and only when the server has a workspace. Each bad request gets its 4xx and one-line error."""

import io
import json
import re

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from serving_helpers import REAL_PAGES, ThreadServer, form, http

pytestmark = pytest.mark.slow
MAX_BOXES = 4
MAX_CHARS = 50
MAX_UPLOAD = 3_000_000
SAVED = re.compile(r"[A-Za-z0-9_-]+-[0-9a-f]{12}\.(jpg|png|xml)")
PAGE_NS = {"p": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}


@pytest.fixture(scope="module")
def model(tiny_recognizer):
    from kuzushiji_tf.backends.loading import load_page_model

    return load_page_model(tiny_recognizer)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    # A folder inside a folder of its own: the tests check that nothing is written beside it.
    return tmp_path_factory.mktemp("outside") / "workspace"


@pytest.fixture(scope="module")
def server(model, workspace):
    from kuzushiji_tf.serving.app import ServerConfig, create_app

    config = ServerConfig(
        max_boxes=MAX_BOXES, max_edit_chars=MAX_CHARS, max_upload_bytes=MAX_UPLOAD, workspace=str(workspace)
    )
    running = ThreadServer(create_app(model, config))
    yield running
    running.stop()


def post_form(server, route: str, fields: dict):
    return http("POST", server.url + route, *form(fields))


def post_json(server, route: str, value):
    return http("POST", server.url + route, json.dumps(value).encode(), {"Content-Type": "application/json"})


def error(answer) -> str:
    status, _, body = answer
    message = json.loads(body)["error"]
    assert "\n" not in message and 400 <= status < 500
    return message


def scan() -> bytes:
    return REAL_PAGES[0].read_bytes()


def scan_size() -> tuple[int, int]:
    return Image.open(REAL_PAGES[0]).size


def test_classify_answers_what_the_model_reads_for_the_boxes(server, model):
    from kuzushiji_tf.recognition.page_text import box_characters
    from kuzushiji_tf.recognition.postprocess import box_results

    width, height = scan_size()
    # Boxes anywhere, one reaching past the page's corner, one of no height (as untrained detectors give).
    boxes = [[100, 120, 160, 190], [width - 40, height - 50, width + 20, height + 9], [300.5, 400.25, 350, 400.25]]
    status, _, body = post_form(server, "/classify", {"file": ("p.jpg", scan()), "boxes": json.dumps(boxes).encode()})
    assert status == 200, body
    answer = json.loads(body)["characters"]
    clipped = [boxes[0], [width - 40, height - 50, width, height], boxes[2]]
    expected = box_characters(
        box_results(model.classify_boxes(scan(), np.array(clipped, np.float32))),
        dict(model.vocabulary),
        cls_threshold=model.options.cls_threshold,
    )
    assert len(answer) == 3 and answer == json.loads(json.dumps(expected))
    assert [len(c["candidates"]) for c in answer] == [3, 3, 3] and answer[2]["box"] == [300.5, 400.2, 350.0, 400.2]
    assert all(c["candidates"][0]["code"] == c["code"] for c in answer)


@pytest.mark.parametrize(
    "fields, status, message",
    [
        ({"file": ("p.jpg", b"")}, 400, "lacks the field boxes"),
        ({"file": ("p.jpg", b"x"), "boxes": b"[[1, 2, 3, 4]]"}, 415, "not a JPEG, PNG or TIFF"),
        ({"file": ("p.jpg", None), "boxes": b"[[1, 2"}, 400, "boxes is not valid JSON"),
        ({"file": ("p.jpg", None), "boxes": b"[[1, 2, 30, 40]]"}, None, None),
        (
            {"file": ("p.jpg", None), "boxes": json.dumps([[1, 2, 30, 40]] * (MAX_BOXES + 1)).encode()},
            400,
            "more than 4",
        ),
        ({"file": ("p.jpg", None), "boxes": b"[[-50, -50, -10, -10]]"}, 400, "lie on the page"),
        ({"file": ("p.jpg", None), "boxes": b"[[30, 40, 10, 50]]"}, 400, "x0 <= x1"),
        ({"file": ("p.jpg", None), "boxes": b'[[1, 2, "3", 4]]'}, 400, "must be a number"),
        ({"file": ("p.jpg", None), "boxes": b"[[1, 2, 3]]"}, 400, "[x0, y0, x1, y1]"),
    ],
)
def test_classify_refuses_bad_requests_with_one_line(server, fields, status, message):
    fields = {k: (v[0], scan() if v[1] is None else v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}
    answer = post_form(server, "/classify", fields)
    if status is None:  # the well-formed request among them, so a refusal is the input's doing
        assert answer[0] == 200, answer[2]
        return
    assert answer[0] == status and message in error(answer)


def test_classify_refuses_a_raw_body_and_an_oversized_scan(server):
    answer = http("POST", server.url + "/classify", scan(), {"Content-Type": "application/octet-stream"})
    assert answer[0] == 400 and "multipart/form-data" in error(answer)
    big = post_form(server, "/classify", {"file": ("p.jpg", b"\xff\xd8\xff" + bytes(MAX_UPLOAD)), "boxes": b"[]"})
    assert big[0] == 413 and str(MAX_UPLOAD) in error(big)


def test_reading_order_of_edited_boxes(server):
    # Two columns read right to left, each top to bottom.
    boxes = [[35, 10, 55, 30], [60, 10, 80, 30], [60, 35, 80, 55], [35, 35, 55, 55]]
    status, _, body = post_json(server, "/reading-order", {"width": 100, "height": 100, "boxes": boxes})
    assert status == 200 and json.loads(body) == {"order": [1, 2, 0, 3], "column": [1, 0, 0, 1], "block": [0] * 4}
    assert "width and height" in error(post_json(server, "/reading-order", {"boxes": boxes}))
    assert "more than 50" in error(
        post_json(server, "/reading-order", {"width": 9, "height": 9, "boxes": [[0, 0, 1, 1]] * 51})
    )


def corrected(width=200, height=300) -> dict:
    """A corrected page: a character whose reading a person set (the model's candidates still attached),
    one as the model read it, and a box a person drew and named."""
    return {
        "image": "../../scan.jpg",
        "width": width,
        "height": height,
        "characters": [
            {"box": [20, 20, 50, 50], "code": "U+5B57", "edited": True, "detection_score": 0.9},
            {
                "box": [20.04, 60, 50, 90.06],
                "code": "U+3042",
                "edited": False,
                "detection_score": 0.8,
                "class_probability": 0.7,
                "candidates": [{"code": "U+3042", "probability": 0.7}, {"code": "U+3044", "probability": 0.2}],
            },
            {"box": [120, 20, 150, 52.5], "code": "u+304b", "edited": True, "detection_score": None},
        ],
    }


def glyphs(root) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(the Glyph's points, [(its TextEquiv's index, Unicode)])] in document order."""
    return [
        (
            g.find("p:Coords", PAGE_NS).get("points"),
            [(t.get("index"), t.findtext("p:Unicode", namespaces=PAGE_NS)) for t in g.findall("p:TextEquiv", PAGE_NS)],
        )
        for g in root.iterfind(".//p:Glyph", PAGE_NS)
    ]


def test_corrected_page_in_page_xml_alto_and_json(server, schemas):
    status, headers, body = post_json(server, "/corrected?format=page", corrected())
    assert status == 200 and headers["content-type"].startswith("application/xml")
    root = etree.fromstring(body)
    schemas["page"].assertValid(root)
    # Reading order from the boxes: the right column (the drawn か) first. A person's reading is the glyph's
    # only TextEquiv; the model's reading keeps its candidates.
    assert glyphs(root) == [
        ("120,20 150,20 150,53 120,53", [("1", "か")]),
        ("20,20 50,20 50,50 20,50", [("1", "字")]),
        ("20,60 50,60 50,91 20,91", [("1", "あ"), ("2", "い")]),
    ]
    assert root.find(".//p:Page", PAGE_NS).get("imageFilename") == "scan.jpg"  # a label, its last component
    status, _, body = post_json(server, "/corrected?format=alto", corrected())
    assert status == 200
    schemas["alto"].assertValid(etree.fromstring(body))
    status, _, body = post_json(server, "/corrected?format=json", corrected())
    record = json.loads(body)
    assert record["columns"] == ["か", "字あ"]
    assert [(c["char"], c["edited"], c["uncertain"], c["class_probability"]) for c in record["characters"]] == [
        ("か", True, False, 1.0),
        ("字", True, False, 1.0),
        ("あ", False, False, 0.7),
    ]
    assert record["characters"][2]["box"] == [20.0, 60.0, 50.0, 90.1]
    # A detection of no height (untrained detectors give them) still saves, a pixel high as every writer makes
    # it, so that the saved page reads back as ground truth (build_records refuses glyphs without an area).
    flat = {**corrected(), "characters": [{**corrected()["characters"][1], "box": [20, 95.04, 50, 95.04]}]}
    status, _, body = post_json(server, "/corrected?format=page", flat)
    assert status == 200, body
    schemas["page"].assertValid(etree.fromstring(body))
    assert glyphs(etree.fromstring(body)) == [("20,95 50,95 50,96 20,96", [("1", "あ"), ("2", "い")])]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p["characters"][0].update(code="U+D800"), "not a character a page can hold"),
        (lambda p: p["characters"][0].update(code="U+0007"), "not a character a page can hold"),
        (lambda p: p["characters"][0].update(code="X+3042"), "code must be U+"),
        (lambda p: p["characters"][0].update(code="U+110000"), "not a character"),
        (lambda p: p["characters"][1].update(class_probability=2), "within [0, 1]"),
        (lambda p: p["characters"][1]["candidates"].reverse(), "the first candidate must be"),
        (lambda p: p["characters"][2].update(edited="yes"), "edited: must be true or false"),
        (lambda p: p["characters"].extend([p["characters"][0]] * MAX_CHARS), "more than 50"),
        (lambda p: p.update(width=0), "positive integers"),
        (lambda p: p.update(characters={}), "characters must be a list"),
    ],
)
def test_corrected_page_refuses_what_no_page_holds(server, change, message):
    page = corrected()
    change(page)
    answer = post_json(server, "/corrected", page)
    assert answer[0] == 400 and message in error(answer)
    if message != "positive integers":  # the workspace takes the page's size from the scan itself
        saved = post_form(server, "/workspace", {"file": ("p.jpg", scan()), "page": json.dumps(page).encode()})
        assert saved[0] == 400 and message in error(saved)


def test_corrected_page_refuses_bad_json_and_formats(server):
    bad = http("POST", server.url + "/corrected", b"{", {"Content-Type": "application/json"})
    assert bad[0] == 400 and "not valid JSON" in error(bad)
    assert "unknown format 'docx'" in error(post_json(server, "/corrected?format=docx", corrected()))


def saved_files(workspace) -> list[str]:
    return sorted(p.name for p in workspace.iterdir())


def test_workspace_saves_the_scan_beside_its_page(server, workspace, schemas):
    assert json.loads(http("GET", server.url + "/healthz")[2])["workspace"] is True
    width, height = scan_size()
    page = corrected()
    status, _, body = post_form(
        server, "/workspace", {"file": ("scan 1.jpg", scan()), "page": json.dumps(page).encode()}
    )
    assert status == 200, body
    names = json.loads(body)
    assert names["image"].startswith("scan_1-") and names["image"].endswith(".jpg") and SAVED.fullmatch(names["image"])
    assert names["page"] == names["image"][: -len(".jpg")] + ".xml"
    assert (workspace / names["image"]).read_bytes() == scan()
    root = etree.parse(str(workspace / names["page"])).getroot()
    schemas["page"].assertValid(root)
    found = root.find(".//p:Page", PAGE_NS)
    assert (found.get("imageFilename"), found.get("imageWidth"), found.get("imageHeight")) == (
        names["image"],
        str(width),
        str(height),
    )
    assert [text for _, text in glyphs(root)] == [[("1", "か")], [("1", "字")], [("1", "あ"), ("2", "い")]]
    # The same scan saved again replaces its page; nothing else is left in the folder (no temporary files).
    page["characters"].pop()
    status, _, body = post_form(
        server, "/workspace", {"file": ("scan 1.jpg", scan()), "page": json.dumps(page).encode()}
    )
    assert status == 200 and json.loads(body) == names
    assert len(glyphs(etree.parse(str(workspace / names["page"])).getroot())) == 2
    assert names["image"] in saved_files(workspace) and names["page"] in saved_files(workspace)
    assert not [name for name in saved_files(workspace) if not SAVED.fullmatch(name)]
    # A TIFF is saved as the PNG the recogniser read.
    tiff = io.BytesIO()
    Image.open(REAL_PAGES[0]).convert("RGB").reduce(4).save(tiff, format="TIFF")
    status, _, body = post_form(
        server, "/workspace", {"file": ("t.tif", tiff.getvalue()), "page": json.dumps(corrected()).encode()}
    )
    assert status == 200 and json.loads(body)["image"].endswith(".png")
    assert (workspace / json.loads(body)["image"]).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "name",
    [
        "../../escaped.jpg",
        "/tmp/absolute.jpg",
        "..\\..\\windows.jpg",
        "C:\\x\\drive.jpg",
        "..",
        ".",
        "a/../../b.jpg",
        "\x00nul.jpg",
        "...jpg",
        "頁.jpg",
    ],
)
def test_workspace_never_makes_a_path_of_a_client_name(server, workspace, name):
    before = sorted(p.name for p in workspace.parent.iterdir())
    page = corrected()
    page["image"] = name
    status, _, body = post_form(server, "/workspace", {"file": (name, scan()), "page": json.dumps(page).encode()})
    assert status == 200, body
    for saved in json.loads(body).values():
        assert SAVED.fullmatch(saved) and (workspace / saved).is_file()
    assert sorted(p.name for p in workspace.parent.iterdir()) == before  # nothing beside the workspace


def test_without_a_workspace_saving_is_refused(model, tmp_path):
    from kuzushiji_tf.serving.app import ServerConfig, create_app

    running = ThreadServer(create_app(model, ServerConfig()))
    try:
        assert json.loads(http("GET", running.url + "/healthz")[2])["workspace"] is False
        answer = post_form(running, "/workspace", {"file": ("p.jpg", scan()), "page": json.dumps(corrected()).encode()})
        assert answer[0] == 403 and "--workspace" in error(answer)
        # Everything else of the editing mode still works.
        assert post_json(running, "/corrected", corrected())[0] == 200
    finally:
        running.stop()
