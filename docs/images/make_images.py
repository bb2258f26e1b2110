#!/usr/bin/env python3
"""Remake the README's and the docs' pictures with a model (default: the shipped one), on labelled real pages
of the bundled sample, which no model of the project trains on:

  real_page_100241706_00005_1.png   kuzushiji-visualize of the page against its truth
  web_page.png                      the web page of kuzushiji-serve after reading 100241706_00004_2, with
                                    one character's candidates open
  web_editing.png                   the same page in the editing mode (docs/serving.md): a reading picked,
                                    one typed, a box drawn and read, a box moved, one character's candidates

    python docs/images/make_images.py [--model DIR|shipped] [--out docs/images] [--only web_editing,...]

Needs the serve extra and Debian's chromium (as `make test` installs it) for the screenshot.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR

HERE = Path(__file__).resolve().parent
PICTURE_PAGE = "100241706_00005_1"
WEB_PAGE = "100241706_00004_2"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def picture(model: str, out: Path) -> Path:
    target = out / f"real_page_{PICTURE_PAGE}.png"
    image = SAMPLE_KAGGLE_DIR / "train_images" / f"{PICTURE_PAGE}.jpg"
    command = [sys.executable, "-m", "kuzushiji_tf.cli.visualize", "--model", model, "--image", str(image)]
    command += ["--truth", str(SAMPLE_KAGGLE_DIR / "train.csv"), "--out", str(target)]
    subprocess.run(command, check=True)
    return target


@contextlib.contextmanager
def _served(model: str, *args: str) -> Iterator[str]:
    """The URL of kuzushiji-serve on `model` (with `args`) on a free port of 127.0.0.1, until the block ends."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kuzushiji_tf.cli.serve", "--model", model, "--port", str(port), *args],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # the first use of the shipped model builds its export
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                    if json.load(answer)["status"] == "ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server on {url} did not start")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def _browser_page(url: str) -> Iterator:
    """A Chromium tab on the web page at `url` that has read WEB_PAGE."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/")
            page.set_input_files("#file", str(SAMPLE_KAGGLE_DIR / "train_images" / f"{WEB_PAGE}.jpg"))
            page.wait_for_selector("#overlay g.char-box", timeout=300_000)
            yield page
        finally:
            browser.close()


def _compact(target: Path) -> Path:
    """The screenshot at 0.8 of its size in 256 colours (as web_page.png is kept): a fifth of the bytes, and
    the page's flat colours lose nothing that shows."""
    from PIL import Image

    with Image.open(target) as image:
        small = image.convert("RGB").resize((image.width * 4 // 5, image.height * 4 // 5), Image.LANCZOS)
    # Octree keeps the few saturated colours (boxes, handles) that median cut merges into the page's beige.
    small.quantize(256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    return target


def screenshot(model: str, out: Path) -> Path:
    target = out / "web_page.png"
    with _served(model) as url, _browser_page(url) as page:
        # An uncertain character's candidates, if there is one: what the page offers beyond the boxes.
        unsure = page.locator("#transcription span.char.uncertain")
        (unsure if unsure.count() else page.locator("#transcription span.char")).first.click()
        page.wait_for_selector("#candidates:not([hidden])")
        page.screenshot(path=str(target))
    return _compact(target)


def _scan_point(page, x: float, y: float) -> tuple[float, float]:
    """The viewport point of scan pixel (x, y)."""
    return tuple(
        page.evaluate(
            """([x, y]) => { const p = new DOMPoint(x, y).matrixTransform(document.getElementById("overlay")
               .getScreenCTM()); return [p.x, p.y]; }""",
            [x, y],
        )
    )


def editing_screenshot(model: str, out: Path) -> Path:
    """The editing mode after a few corrections of each kind, the last drawn box selected with its candidates.
    The server gets a throwaway workspace, so the Save button shows as it does for a person correcting pages."""
    target = out / "web_editing.png"
    with tempfile.TemporaryDirectory() as workspace, _served(model, "--workspace", workspace) as url:
        with _browser_page(url) as page:
            record = page.evaluate("() => current.record")
            chars = record["characters"]
            page.click("#edit-toggle")
            idle = "() => window.kuzushijiEditor.idle()"
            if len(chars) > 2:
                page.locator('#transcription span.char[data-index="0"]').click()
                page.keyboard.press("2")  # its second candidate
                page.keyboard.press("Tab")
                page.keyboard.press("Enter")
                page.keyboard.type("字")
                page.keyboard.press("Enter")
                page.locator('#transcription span.char[data-index="2"]').click()
                x0, y0, x1, y1 = chars[2]["box"]
                start = _scan_point(page, (x0 + x1) / 2, (y0 + y1) / 2)
                page.mouse.move(*start)
                page.mouse.down()
                page.mouse.move(start[0] + 6, start[1] + 4, steps=5)
                page.mouse.up()
                page.evaluate(idle)
            # A box drawn where the page's left margin is: the classifier reads it at once.
            width, height = record["width"], record["height"]
            page.keyboard.press("b")
            side = 0.04 * min(width, height)
            start, end = (
                _scan_point(page, 0.06 * width, 0.1 * height),
                _scan_point(page, 0.06 * width + side, 0.1 * height + side),
            )
            page.mouse.move(*start)
            page.mouse.down()
            page.mouse.move(*end, steps=5)
            page.mouse.up()
            page.evaluate(idle)
            page.wait_for_selector("#candidates:not([hidden])")
            page.screenshot(path=str(target))
    return _compact(target)


PICTURES = {"real_page": picture, "web_page": screenshot, "web_editing": editing_screenshot}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shipped", help="an export, a model package or `shipped` (default)")
    parser.add_argument("--out", default=str(HERE), help="folder for the pictures (default: docs/images)")
    parser.add_argument(
        "--only",
        default=",".join(PICTURES),
        help=f"which pictures, comma-separated (default: all: {', '.join(PICTURES)})",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in PICTURES]
    if unknown:
        parser.error(f"unknown picture {', '.join(unknown)}; known: {', '.join(PICTURES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        print(PICTURES[name](args.model, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
