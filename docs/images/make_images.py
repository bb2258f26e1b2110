#!/usr/bin/env python3
"""Remake the README's two pictures with a model (default: the shipped one), on labelled real pages of the
bundled sample, which no model of the project trains on:

  real_page_100241706_00005_1.png   kuzushiji-visualize of the page against its truth
  web_page.png                      the web page of kuzushiji-serve after reading 100241706_00004_2, with
                                    one character's candidates open

    python docs/images/make_images.py [--model DIR|shipped] [--out docs/images]

Needs the serve extra and Debian's chromium (as `make test` installs it) for the screenshot.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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


def screenshot(model: str, out: Path) -> Path:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kuzushiji_tf.cli.serve", "--model", model, "--port", str(port)],
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
        target = out / "web_page.png"
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/")
            page.set_input_files("#file", str(SAMPLE_KAGGLE_DIR / "train_images" / f"{WEB_PAGE}.jpg"))
            page.wait_for_selector("#overlay g.char-box", timeout=300_000)
            # An uncertain character's candidates, if there is one: what the page offers beyond the boxes.
            unsure = page.locator("#transcription span.char.uncertain")
            (unsure if unsure.count() else page.locator("#transcription span.char")).first.click()
            page.wait_for_selector("#candidates:not([hidden])")
            page.screenshot(path=str(target))
            browser.close()
        return target
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shipped", help="an export, a model package or `shipped` (default)")
    parser.add_argument("--out", default=str(HERE), help="folder for the two pictures (default: docs/images)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(picture(args.model, out))
    print(screenshot(args.model, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
