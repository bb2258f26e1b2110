"""The web page of the server, driven as a person would in a real headless Chromium (Debian's, installed
by `make test`; no browser download): choose a bundled real scan, see a box and a character for every
recognised character (the uncertain ones set apart), the transcription in reading order, hover scores, a
clicked character's candidates, and downloads that parse."""

import json
import os
import shutil

import pytest
from lxml import etree

from conftest import splitting_threshold, with_cls_threshold
from serving_helpers import REAL_PAGES, ServerProcess, http

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
def server(tiny_recognizer, tmp_path_factory):
    """The server on a copy of the tiny recogniser whose class threshold splits the first scan's characters,
    so the page shows sure and uncertain ones."""
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.recognition.context import read_in_context
    from kuzushiji_tf.recognition.contract import CLASS_PROBS
    from kuzushiji_tf.recognition.postprocess import page_results

    model = load_page_model(tiny_recognizer)
    # The page reads in context, as the server does: the split is of the readings it chose.
    probabilities = read_in_context(page_results(model([REAL_PAGES[0].read_bytes()])), model.options)[CLASS_PROBS]
    unsure = with_cls_threshold(tiny_recognizer, splitting_threshold(probabilities), tmp_path_factory.mktemp("web"))
    process = ServerProcess(unsure)
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
