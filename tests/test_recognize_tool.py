"""tools/recognize.py over a folder of scans: nested folders, PNG and TIFF, bad files in summary.csv,
reading order shared by .txt and .json, resume after a crash, --force and --visualize."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kuzushiji_tf.backends.loading import load_page_model
from kuzushiji_tf.cli import recognize as tool
from kuzushiji_tf.recognition.folder_recognition import recognize_pages
from kuzushiji_tf.scans import open_scans

pytestmark = pytest.mark.slow


def _page(seed, size=(160, 224)):
    rng = np.random.default_rng(seed)
    image = np.full((size[1], size[0], 3), 225, np.uint8)
    for _ in range(5):
        x, y = rng.integers(5, size[0] - 30), rng.integers(5, size[1] - 40)
        image[y : y + 30, x : x + 20] = 40
    return image


@pytest.fixture(scope="module")
def model(tiny_recognizer):
    return tiny_recognizer


@pytest.fixture
def scans(tmp_path):
    root = tmp_path / "scans"
    (root / "book1" / "vol2").mkdir(parents=True)
    (root / "book2").mkdir()
    cv2.imwrite(str(root / "book1" / "p1.jpg"), _page(1))
    cv2.imwrite(str(root / "book1" / "vol2" / "p2.png"), _page(2))
    Image.fromarray(_page(3)).save(root / "book2" / "p3.tif")
    (root / "book2" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "book2" / "empty.png").write_bytes(b"")
    (root / "book2" / "notes.txt").write_text("not a scan")
    return root


def _summary(out):
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        return {row["page"]: row for row in csv.DictReader(handle)}


def test_folder_outputs_summary_and_exit_status(model, scans, tmp_path, capsys):
    out = tmp_path / "ocr"
    assert tool.main([str(scans), "--out", str(out), "--model", str(model), "--quiet", "--batch-size", "2"]) == 1
    summary = _summary(out)
    assert list(summary) == ["book1/p1.jpg", "book1/vol2/p2.png", "book2/broken.jpg", "book2/empty.png", "book2/p3.tif"]
    assert {p: r["status"] for p, r in summary.items()} == {
        "book1/p1.jpg": "ok",
        "book1/vol2/p2.png": "ok",
        "book2/broken.jpg": "failed",
        "book2/empty.png": "failed",
        "book2/p3.tif": "ok",
    }
    assert "empty" in summary["book2/empty.png"]["error"] and summary["book2/broken.jpg"]["error"]
    for name in ("book1/p1.jpg", "book1/vol2/p2.png", "book2/p3.tif"):
        record = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        text = (out / f"{name}.txt").read_text(encoding="utf-8")
        assert (record["width"], record["height"]) == (160, 224)
        assert int(summary[name]["characters"]) == len(record["characters"]) > 0
        # The JSON's reading order is the TXT's: same characters, same columns, same sequence.
        chars = record["characters"]
        assert [c["index"] for c in chars] == list(range(len(chars)))
        by_column = {}
        for c in chars:
            by_column.setdefault(c["column"], []).append(c["char"])
        assert text == "".join("".join(by_column[k]) + "\n" for k in sorted(by_column))
        assert all(c["codepoint"] == int(c["code"][2:], 16) and chr(c["codepoint"]) == c["char"] for c in chars)
    assert not (out / "book2" / "broken.jpg.json").exists()
    assert "2 failed" in capsys.readouterr().out


class Crash(Exception):
    pass


def test_crash_mid_run_then_rerun_matches_a_clean_run(model, scans, tmp_path):
    serve = load_page_model(model)
    vocabulary = serve.vocabulary
    good = [s for s in open_scans([str(scans)]) if not s.name.startswith(("book2/broken", "book2/empty"))]
    clean = tmp_path / "clean"
    recognize_pages(serve, vocabulary, good, clean, batch_size=1, progress=False)

    calls = []

    def dying(pages):
        calls.append(1)
        if len(calls) == 2:
            raise Crash("killed")
        return serve(pages)

    dying.options = serve.options  # a PageModel carries its export options (the class threshold)
    out = tmp_path / "resumed"
    with pytest.raises(Crash):
        recognize_pages(dying, vocabulary, good, out, batch_size=1, progress=False)
    assert len(list(out.rglob("*.json"))) == 1 and not list(out.rglob("*.tmp"))
    rows = recognize_pages(serve, vocabulary, good, out, batch_size=1, progress=False)
    assert [r["status"] for r in rows] == ["skipped", "ok", "ok"]
    for name in ("book1/p1.jpg", "book1/vol2/p2.png", "book2/p3.tif"):
        for ext in (".txt", ".json"):
            assert (out / f"{name}{ext}").read_bytes() == (clean / f"{name}{ext}").read_bytes()
    forced = recognize_pages(serve, vocabulary, good, out, batch_size=1, progress=False, force=True)
    assert [r["status"] for r in forced] == ["ok", "ok", "ok"]


def test_visualize_and_file_list(model, scans, tmp_path):
    out = tmp_path / "ocr"
    files = [str(scans / "book1" / "p1.jpg"), str(scans / "book2" / "p3.tif")]
    assert tool.main(files + ["--out", str(out), "--model", str(model), "--quiet", "--visualize"]) == 0
    assert Image.open(out / "p1.jpg.png").format == "PNG" and (out / "p3.tif.png").is_file()
    assert list(_summary(out)) == ["p1.jpg", "p3.tif"]


def test_usage_errors(model, tmp_path, capsys):
    assert tool.main([str(tmp_path), "--out", str(tmp_path / "o"), "--model", str(model)]) == 2
    assert "no JPEG, PNG, TIFF or PDF" in capsys.readouterr().err
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert tool.main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "none")]) == 2
    assert "neither a SavedModel (saved_model.pb) nor an ONNX export" in capsys.readouterr().err


def test_sigkill_part_way_then_rerun_equals_an_uninterrupted_run(model, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    scans = tmp_path / "scans"
    for i in range(10):
        (scans / f"vol{i % 2}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(scans / f"vol{i % 2}" / f"p{i}.jpg"), _page(10 + i))
    tool_path = str(Path(__file__).resolve().parents[1] / "tools" / "recognize.py")
    command = [sys.executable, tool_path, str(scans), "--model", str(model), "--quiet", "--batch-size", "1"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(command + ["--out", str(tmp_path / "clean")], check=True, capture_output=True, env=env)

    out = tmp_path / "killed"
    process = subprocess.Popen(
        command + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + 120
    while not list(out.rglob("*.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    done_at_kill = len(list(out.rglob("*.json")))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < done_at_kill < 10, f"the kill came at {done_at_kill} of 10 pages: nothing was interrupted"
    subprocess.run(command + ["--out", str(out)], check=True, capture_output=True, env=env)
    summary = _summary(out)
    assert sum(r["status"] == "skipped" for r in summary.values()) >= done_at_kill
    assert all(r["status"] in ("ok", "skipped") for r in summary.values())
    clean = {
        p.relative_to(tmp_path / "clean"): p.read_bytes()
        for p in (tmp_path / "clean").rglob("*.*")
        if p.suffix in (".txt", ".json")
    }
    resumed = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.*") if p.suffix in (".txt", ".json")}
    assert resumed == clean and len(clean) == 20
    assert not list(out.rglob("*.tmp"))  # the rerun's writes removed whatever the killed writer left
