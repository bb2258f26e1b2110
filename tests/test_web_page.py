"""The web page of the server, driven as a person would in a real headless Chromium (Debian's, installed
by `make test`; no browser download): choose a bundled real scan, see a box and a character for every
recognised character (the uncertain ones set apart), the transcription in reading order, hover scores, a
clicked character's candidates, and downloads that parse; then correct the page in the editing mode and
save it into the server's workspace, and find exactly those edits in the saved PAGE-XML."""

import json
import os
import re
import shutil
from collections import Counter

import pytest
from lxml import etree

from conftest import splitting_threshold, with_cls_threshold
from kuzushiji_tf.formats.layout import pixel_box, rectangle_points
from serving_helpers import REAL_PAGES, ServerProcess, form, http

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a sandboxed CI machine with no network beyond loopback: no background connections to Google.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

if os.environ.get("KUZUSHIJI_SKIP_BROWSER") == "1":
    pytest.skip("KUZUSHIJI_SKIP_BROWSER=1", allow_module_level=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("web") / "workspace"


@pytest.fixture(scope="module")
def server(tiny_recognizer, tmp_path_factory, workspace):
    """The server on a copy of the tiny recogniser whose class threshold splits the first scan's characters,
    so the page shows sure and uncertain ones; it saves corrected pages into `workspace`."""
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.recognition.context import read_in_context
    from kuzushiji_tf.recognition.contract import CLASS_PROBS
    from kuzushiji_tf.recognition.postprocess import page_results

    model = load_page_model(tiny_recognizer)
    # The page reads in context, as the server does: the split is of the readings it chose.
    probabilities = read_in_context(page_results(model([REAL_PAGES[0].read_bytes()])), model.options)[CLASS_PROBS]
    unsure = with_cls_threshold(tiny_recognizer, splitting_threshold(probabilities), tmp_path_factory.mktemp("web"))
    process = ServerProcess(unsure, "--workspace", str(workspace))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium (or set KUZUSHIJI_SKIP_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def test_upload_shows_boxes_text_and_scores_matching_the_api(server, browser, tmp_path):
    scan = REAL_PAGES[0]
    status, _, body = http(
        "POST",
        f"{server.url}/recognize?name={scan.name}",
        scan.read_bytes(),
        {"Content-Type": "application/octet-stream"},
    )
    expected = json.loads(body)
    assert status == 200 and len(expected["characters"]) > 3

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server.url + "/")
    page.set_input_files("#file", str(scan))
    page.wait_for_selector("#overlay g.char-box", timeout=120_000)
    # The footer says which model reads the pages: here the --model the server was started with.
    source = page.locator("#model-source").text_content()
    assert source.startswith("model: ") and source.endswith(" (--model)")

    boxes = page.locator("#overlay g.char-box")
    assert boxes.count() == len(expected["characters"])
    # Each box sits where the API put its character, labelled with that character.
    first = expected["characters"][0]
    rect = page.locator('#overlay g[data-index="0"] rect')
    assert [float(rect.get_attribute(k)) for k in ("x", "y")] == first["box"][:2]
    assert page.locator('#overlay g[data-index="0"] text').text_content() == first["char"]
    # The transcription: the API's columns, in reading order.
    columns = page.locator("#transcription .column")
    assert [columns.nth(k).text_content() for k in range(columns.count())] == expected["columns"]
    assert page.locator("#status").text_content().startswith(f"{len(expected['characters'])} characters")
    # Hover a box: its scores appear and its character lights up in the transcription.
    last = expected["characters"][-1]
    page.locator(f'#overlay g[data-index="{last["index"]}"]').hover()
    info = page.locator("#hover-info").text_content()
    assert last["code"] in info and f"{last['class_probability']:.3f}" in info
    assert page.locator(f'#transcription span.char.active[data-index="{last["index"]}"]').count() == 1
    # Every character is shown; the uncertain ones (below the class threshold) are set apart.
    unsure = [c["index"] for c in expected["characters"] if c["uncertain"]]
    assert 0 < len(unsure) < len(expected["characters"])
    shown = page.locator("#overlay g.char-box.uncertain")
    assert sorted(int(shown.nth(k).get_attribute("data-index")) for k in range(shown.count())) == sorted(unsure)
    assert page.locator("#transcription span.char.uncertain").count() == len(unsure)
    assert page.locator("#candidates").is_hidden()
    # Click an uncertain character: its candidates appear, with their probabilities, the reading chosen first.
    chosen = expected["characters"][unsure[0]]
    page.locator(f'#transcription span.char[data-index="{chosen["index"]}"]').click()
    page.wait_for_selector("#candidates:not([hidden])")
    items = page.locator("#candidate-list li")
    assert items.count() == len(chosen["candidates"]) == 3
    assert [
        (
            items.nth(k).locator(".candidate-char").text_content(),
            items.nth(k).locator(".candidate-code").text_content(),
            items.nth(k).locator(".candidate-probability").text_content(),
        )
        for k in range(items.count())
    ] == [(c["char"], c["code"], f"{100 * c['probability']:.1f} %") for c in chosen["candidates"]]
    assert "uncertain" in page.locator("#candidates-title").text_content()
    assert page.locator(f'#overlay g.selected[data-index="{chosen["index"]}"]').count() == 1
    # Clicking a box shows that character's candidates instead.
    other = expected["characters"][0]
    page.locator(f'#overlay g[data-index="{other["index"]}"]').dispatch_event("click")
    assert page.locator("#candidate-list li .candidate-code").first.text_content() == other["candidates"][0]["code"]
    assert page.locator("#candidates-title").text_content().startswith(f"#1, column {other['column'] + 1}: ")
    page.screenshot(path=str(tmp_path / "web_page.png"))
    assert (tmp_path / "web_page.png").stat().st_size > 10_000

    # Downloads: the JSON as the API gave it, and a PAGE-XML with one Glyph per character.
    with page.expect_download() as download:
        page.click('#downloads button[data-format="json"]')
    assert download.value.suggested_filename == scan.stem + ".json"
    assert json.loads(open(download.value.path(), encoding="utf-8").read()) == expected
    with page.expect_download() as download:
        page.click('#downloads button[data-format="page"]')
    root = etree.parse(download.value.path()).getroot()
    glyphs = [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "Glyph"]
    assert download.value.suggested_filename.endswith(".page.xml") and len(glyphs) == len(expected["characters"])
    page.close()


def test_a_bad_file_shows_the_servers_error(server, browser, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image at all")
    page = browser.new_page()
    page.goto(server.url + "/")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#status.error", timeout=60_000)
    assert "not a JPEG, PNG or TIFF" in page.locator("#status").text_content()
    assert page.locator("#result").is_hidden()
    page.close()


PAGE_NS = {"p": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}


def _screen(page, x: float, y: float) -> tuple[float, float]:
    """The viewport point of scan pixel (x, y) on the overlay."""
    return tuple(
        page.evaluate(
            """([x, y]) => { const p = new DOMPoint(x, y).matrixTransform(document.getElementById("overlay")
               .getScreenCTM()); return [p.x, p.y]; }""",
            [x, y],
        )
    )


def _page_point(page, x: float, y: float) -> tuple[float, float]:
    """The scan pixel under viewport point (x, y)."""
    return tuple(
        page.evaluate(
            """([x, y]) => { const p = new DOMPoint(x, y).matrixTransform(document.getElementById("overlay")
               .getScreenCTM().inverse()); return [p.x, p.y]; }""",
            [x, y],
        )
    )


def _drag(page, start, end) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    page.evaluate("() => window.kuzushijiEditor.idle()")


def _box(page, index: int) -> list[float]:
    rect = page.locator(f'#overlay g.char-box[data-index="{index}"] rect:not(.handle)')
    x, y, w, h = (float(rect.get_attribute(k)) for k in ("x", "y", "width", "height"))
    return [x, y, round(x + w, 1), round(y + h, 1)]


def _label(page, index: int) -> str:
    return page.locator(f'#overlay g.char-box[data-index="{index}"] text').text_content()


def _select(page, index: int) -> None:
    page.locator(f'#transcription span.char[data-index="{index}"]').click()
    assert page.locator(f'#overlay g.selected[data-index="{index}"]').count() == 1


def _classified(server, scan, box) -> dict:
    """What /classify reads in `box`: the reading a drawn or moved box gets."""
    status, _, body = http(
        "POST",
        f"{server.url}/classify",
        *form({"file": (scan.name, scan.read_bytes()), "boxes": json.dumps([box]).encode()}),
    )
    assert status == 200, body
    return json.loads(body)["characters"][0]


def _glyphs(root) -> list[tuple[str, list[str]]]:
    """[(a Glyph's points, the Unicode of its TextEquivs by index)] in document order."""
    found = []
    for glyph in root.iterfind(".//p:Glyph", PAGE_NS):
        equivs = sorted(glyph.findall("p:TextEquiv", PAGE_NS), key=lambda e: int(e.get("index")))
        found.append(
            (
                glyph.find("p:Coords", PAGE_NS).get("points"),
                [e.findtext("p:Unicode", namespaces=PAGE_NS) for e in equivs],
            )
        )
    return found


def test_correct_a_page_and_save_it_into_the_workspace(server, browser, workspace, schemas, tmp_path):
    """Pick a candidate (digit key), type a character, delete a box, draw a box (read at once), resize a box
    and move it, undo two edits (Ctrl+Z and the button), save: the saved PAGE-XML holds exactly those edits
    and validates; the corrected ALTO download validates too."""
    scan = REAL_PAGES[0]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server.url + "/")
    page.set_input_files("#file", str(scan))
    page.wait_for_selector("#overlay g.char-box", timeout=120_000)
    record = page.evaluate("() => current.record")
    chars, width, height = record["characters"], record["width"], record["height"]
    assert len(chars) >= 8
    points = lambda box: rectangle_points(pixel_box(box, width, height))  # noqa: E731  as the PAGE writer puts it
    assert page.locator("#edit-tools").is_hidden()
    page.click("#edit-toggle")
    assert page.locator("#edit-toggle").get_attribute("aria-pressed") == "true"
    assert page.locator("#edit-save").is_visible() and page.locator("#downloads").is_hidden()

    # A: pick its third candidate with the digit key.
    a = chars[0]
    _select(page, 0)
    assert page.locator("#candidate-list li.pickable").count() == 3
    page.keyboard.press("3")
    assert _label(page, 0) == a["candidates"][2]["char"] != a["char"]
    assert "edited" in page.locator('#overlay g[data-index="0"]').get_attribute("class")
    # B: Tab goes to the next character in reading order; Enter types its reading.
    page.keyboard.press("Tab")
    assert page.locator('#overlay g.selected[data-index="1"]').count() == 1
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "edit-char"
    page.keyboard.type("字")
    page.keyboard.press("Enter")
    assert _label(page, 1) == "字"
    # C: Delete removes the box.
    _select(page, 2)
    page.keyboard.press("Delete")
    page.evaluate("() => window.kuzushijiEditor.idle()")
    assert page.locator('#overlay g[data-index="2"]').count() == 0
    # A missed character: B, then drag on the scan; the classifier reads the new box at once.
    page.keyboard.press("b")
    page.locator("#overlay").scroll_into_view_if_needed()
    _drag(page, _screen(page, 0.04 * width, 0.03 * height), _screen(page, 0.04 * width + 90, 0.03 * height + 120))
    added = len(chars)
    drawn = _box(page, added)
    assert 80 < drawn[2] - drawn[0] < 100 and 110 < drawn[3] - drawn[1] < 130
    read = _classified(server, scan, drawn)
    assert _label(page, added) == read["char"]
    assert page.locator(f'#overlay g.selected[data-index="{added}"]').count() == 1
    assert [c.text_content() for c in page.locator("#candidate-list .candidate-code").all()] == [
        c["code"] for c in read["candidates"]
    ]
    # D: drag the lower right corner's handle: the box grows from that corner (the tiny model's boxes have no
    # height); then drag the box by its middle: it moves whole. The model reads it again each time.
    d = chars[3]
    _select(page, 3)
    handle = page.locator('#overlay rect.handle[data-corner="se"]').bounding_box()
    start = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    _drag(page, start, (start[0] + 12, start[1] + 16))
    grown = [a - b for a, b in zip(_page_point(page, start[0] + 12, start[1] + 16), _page_point(page, *start))]
    resized = _box(page, 3)
    assert resized[:2] == d["box"][:2] and grown[0] > 30 and grown[1] > 40
    assert abs(resized[2] - d["box"][2] - grown[0]) < 0.2 and abs(resized[3] - d["box"][3] - grown[1]) < 0.2
    start = _screen(page, (resized[0] + resized[2]) / 2, (resized[1] + resized[3]) / 2)
    _drag(page, start, (start[0] + 10, start[1] + 8))
    shift = [a - b for a, b in zip(_page_point(page, start[0] + 10, start[1] + 8), _page_point(page, *start))]
    moved = _box(page, 3)
    assert all(abs(moved[k] - resized[k] - shift[k % 2]) < 0.2 for k in range(4))
    moved_read = _classified(server, scan, moved)
    assert _label(page, 3) == moved_read["char"]
    # E: delete, then Ctrl+Z brings it back. F: pick a candidate by clicking it, then the Undo button.
    _select(page, 4)
    page.keyboard.press("Delete")
    assert page.locator('#overlay g[data-index="4"]').count() == 0
    page.keyboard.press("Control+z")
    assert page.locator('#overlay g[data-index="4"]').count() == 1
    f = chars[5]
    _select(page, 5)
    page.locator("#candidate-list li").nth(1).click()
    assert _label(page, 5) == f["candidates"][1]["char"] != f["char"]
    page.click("#edit-undo")
    assert _label(page, 5) == f["char"]
    page.evaluate("() => window.kuzushijiEditor.idle()")

    page.click("#edit-save")
    page.wait_for_function("() => document.getElementById('edit-status').textContent.startsWith('Saved')")
    saved = sorted(p.name for p in workspace.iterdir())
    assert len(saved) == 2 and re.fullmatch(r"[A-Za-z0-9_-]+-[0-9a-f]{12}\.jpg", saved[0]) and saved[1].endswith(".xml")
    assert (workspace / saved[0]).read_bytes() == scan.read_bytes()
    root = etree.parse(str(workspace / saved[1])).getroot()
    schemas["page"].assertValid(root)
    assert root.find(".//p:Page", PAGE_NS).get("imageFilename") == saved[0]
    found = _glyphs(root)
    by_points = {}
    for where, texts in found:
        by_points.setdefault(where, []).append(texts)
    before = Counter(points(c["box"]) for c in chars)
    after = Counter(where for where, _ in found)
    assert len(found) == len(chars)  # one deleted, one drawn
    assert by_points[points(a["box"])].count([a["candidates"][2]["char"]]) == 1  # a reading set by hand: alone
    assert by_points[points(chars[1]["box"])].count(["字"]) == 1
    assert after[points(chars[2]["box"])] == before[points(chars[2]["box"])] - 1  # deleted
    assert by_points[points(drawn)] == [[c["char"] for c in read["candidates"]]]  # the model's reading, kept
    assert after[points(d["box"])] == before[points(d["box"])] - 1 and after[points(resized)] == 0
    assert by_points[points(moved)] == [[c["char"] for c in moved_read["candidates"]]]
    for undone in (chars[4], f):  # back as recognised, every candidate with it
        assert [c["char"] for c in undone["candidates"]] in by_points[points(undone["box"])]
    untouched = [c for c in chars[7:] if before[points(c["box"])] == 1]
    assert untouched and all(by_points[points(c["box"])] == [[x["char"] for x in c["candidates"]]] for c in untouched)

    # The corrected page as a download: the same glyphs in PAGE-XML, and an ALTO that validates.
    with page.expect_download() as download:
        page.click('#edit-tools button[data-format="page"]')
    assert download.value.suggested_filename == scan.stem + ".corrected.page.xml"
    assert _glyphs(etree.parse(download.value.path()).getroot()) == found
    with page.expect_download() as download:
        page.click('#edit-tools button[data-format="alto"]')
    alto = etree.parse(download.value.path()).getroot()
    schemas["alto"].assertValid(alto)
    assert len([e for e in alto.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "Glyph"]) == len(chars)
    page.screenshot(path=str(tmp_path / "editing.png"))
    page.close()
