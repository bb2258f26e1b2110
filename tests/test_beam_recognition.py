"""tools/recognize.py --runner: the Beam pipeline on the DirectRunner with 2 worker processes, against the
folder CLI on the bundled real pages plus synthetic ones: the same files byte for byte, a corrupt and an
empty file in the dead letter with exit status 1, a run killed part-way and rerun to the same files; and
the listing, argument and runner checks that need no pipeline."""

from __future__ import annotations

import csv
import filecmp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("apache_beam", reason="the beam extra is not installed (pip install -e .[beam])")

from iiif_server import serve_manifest, server, v3_canvas  # noqa: E402, F401 (server: a fixture)
from kuzushiji_tf.beam_recognition import listing  # noqa: E402
from kuzushiji_tf.beam_recognition.pipeline import DEAD_LETTER, _listing_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL_PAGES = ROOT / "kuzushiji_tf" / "sample_data" / "kaggle_5p" / "train_images"
CREATED = "2026-12-02T09:30:00Z"
BEAM = ["--runner", "DirectRunner", "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
from kuzushiji_tf.cli import recognize as tool  # noqa: E402


@pytest.fixture(scope="module")
def model(tiny_recognizer):
    return tiny_recognizer


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """The 5 bundled real pages and 2 synthetic pages of the project's own generator, in a nested folder."""
    from PIL import Image

    from kuzushiji_tf.synthetic import render_page

    root = tmp_path_factory.mktemp("scans")
    shutil.copytree(REAL_PAGES, root / "real")
    (root / "synthetic").mkdir()
    for seed in (1, 2):
        image, chars = render_page(seed, page_height=700)
        assert chars
        Image.fromarray(image).save(root / "synthetic" / f"page{seed}.png")
    return root


def _recognize(scans, out, model, *extra, check=True):
    command = [
        sys.executable,
        str(ROOT / "tools" / "recognize.py"),
        str(scans),
        "--out",
        str(out),
        "--model",
        str(model),
        "--formats",
        "all",
        "--created",
        CREATED,
        "--quiet",
        *extra,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    return done


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _same_files(a: Path, b: Path, ignore=()) -> None:
    names = _files(a) - set(ignore)
    assert names == _files(b) - set(ignore)
    _, mismatch, errors = filecmp.cmpfiles(a, b, sorted(names), shallow=False)
    assert not mismatch and not errors, (mismatch, errors)


def _finished(out: Path) -> list[Path]:
    """The pages' .json files, written last of each page's files."""
    return [p for p in out.rglob("*.json") if not p.name.endswith(".annotations.json")]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def folder_run(model, scans, tmp_path_factory):
    out = tmp_path_factory.mktemp("folder") / "ocr"
    assert (
        tool.main(
            [str(scans), "--out", str(out), "--model", str(model), "--formats", "all", "--created", CREATED, "--quiet"]
        )
        == 0
    )
    return out


@pytest.mark.slow
def test_two_worker_processes_write_the_folder_clis_files_and_a_dead_letter(model, scans, tmp_path):
    with_bad = tmp_path / "scans"
    shutil.copytree(scans, with_bad)
    (with_bad / "real" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (with_bad / "synthetic" / "empty.png").write_bytes(b"")
    folder_out, beam_out = tmp_path / "folder", tmp_path / "beam"
    assert (
        tool.main(
            [
                str(with_bad),
                "--out",
                str(folder_out),
                "--model",
                str(model),
                "--formats",
                "all",
                "--created",
                CREATED,
                "--quiet",
            ]
        )
        == 1
    )
    done = _recognize(with_bad, beam_out, model, *BEAM)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "7 recognised, 0 already done, 2 failed" in done.stdout
    assert "counters: pages_recognised 7, pages_skipped 0, pages_failed 2" in done.stdout  # Beam's own metrics
    assert "failed: real/broken.jpg" in done.stderr and "failed: synthetic/empty.png" in done.stderr
    # Every page file, summary.csv and tei.xml are the folder CLI's, byte for byte; the dead letter is extra.
    _same_files(folder_out, beam_out, ignore=[DEAD_LETTER])
    pages = [r["page"] for r in _rows(beam_out / "summary.csv")]
    assert pages == sorted(pages) and len(pages) == 9 and pages[0].startswith("real/")  # run order, not finish order
    dead = {row["page"]: row for row in _rows(beam_out / DEAD_LETTER)}
    assert set(dead) == {"real/broken.jpg", "synthetic/empty.png"}
    assert dead["synthetic/empty.png"]["source"] == str(with_bad / "synthetic" / "empty.png")
    assert (
        "empty" in dead["synthetic/empty.png"]["error"] and "not a readable image" in dead["real/broken.jpg"]["error"]
    )


@pytest.mark.slow
def test_a_run_killed_part_way_reruns_to_the_same_files(model, scans, folder_run, tmp_path):
    out = tmp_path / "beam"
    command = [
        sys.executable,
        str(ROOT / "tools" / "recognize.py"),
        str(scans),
        "--out",
        str(out),
        "--model",
        str(model),
        "--formats",
        "all",
        "--created",
        CREATED,
        "--quiet",
        "--batch-size",
        "1",
        *BEAM,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        deadline = time.monotonic() + 300
        while not _finished(out) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the driver and its worker processes
        process.wait()
    written = _finished(out)
    assert written, "no page was written before the kill"
    assert not (out / "summary.csv").exists(), "the run ended before it could be killed"
    # A worker killed mid-write leaves at most its hidden temporary file, never a page file that looks whole
    # (the rerun skips finished pages, and its files equal the folder CLI's below).
    temporary = [p for p in out.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in temporary), temporary
    done = _recognize(scans, out, model, *BEAM)
    assert done.returncode == 0, done.stderr[-3000:]
    # Rewriting those pages removed what the killed writers left.
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    rows = _rows(out / "summary.csv")
    assert {r["status"] for r in rows} <= {"ok", "skipped"} and sum(r["status"] == "skipped" for r in rows) >= len(
        written
    )
    _same_files(folder_run, out, ignore=["summary.csv"])
    # summary.csv differs only in the status of the pages the killed run had finished.
    expected = _rows(folder_run / "summary.csv")
    assert [{**r, "status": "ok"} for r in rows] == expected


@pytest.mark.slow
def test_pdf_pages_and_iiif_canvases_on_the_default_runner(model, server, tmp_path):  # noqa: F811
    """The other inputs the folder CLI reads, through the pipeline: a PDF's pages (rendered by the workers) and a
    IIIF manifest's canvases (fetched by the workers from 127.0.0.1), one of them missing (404)."""
    from PIL import Image

    from kuzushiji_tf.synthetic import render_page

    pdf = tmp_path / "book.pdf"
    pages = [Image.fromarray(render_page(seed, page_height=300)[0]) for seed in (3, 4)]
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=72)
    canvases = [v3_canvas(server.base, "page", {"ja": ["一オ"]}), v3_canvas(server.base, "missing", {"none": ["2"]})]
    url = serve_manifest(
        server,
        "/book2/manifest.json",
        {"id": f"{server.base}/book2/manifest.json", "type": "Manifest", "items": canvases},
    )
    inputs = [
        str(pdf),
        url,
        "--model",
        str(model),
        "--formats",
        "all",
        "--dpi",
        "72",
        "--retries",
        "0",
        "--created",
        CREATED,
        "--quiet",
    ]
    assert tool.main([*inputs, "--out", str(tmp_path / "folder")]) == 1
    assert tool.main([*inputs, "--out", str(tmp_path / "beam"), "--runner", "DirectRunner"]) == 1
    _same_files(tmp_path / "folder", tmp_path / "beam", ignore=[DEAD_LETTER])
    assert [r["page"] for r in _rows(tmp_path / "beam" / "summary.csv")] == [
        "book/page-0001",
        "book/page-0002",
        "book2/0001-一オ",
        "book2/0002-2",
    ]
    dead = _rows(tmp_path / "beam" / DEAD_LETTER)
    assert [row["page"] for row in dead] == ["book2/0002-2"] and "HTTP 404" in dead[0]["error"]


def test_listing_matches_a_glob_with_names_relative_to_its_folder(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/p1.jpg", "a/b/p2.png", "a/b/notes.txt", "a/b/book.pdf"):
        (tmp_path / name).write_bytes(b"x")
    pages = listing.list_pages([str(tmp_path / "a" / "**")])
    assert [p.name for p in pages] == ["b/book.pdf", "b/p2.png", "p1.jpg"]
    with pytest.raises(listing.ScanError, match="PDFs are read from local files only"):
        pages[0].load()
    number, page = listing.decode_line(listing.encode_line(7, pages[2]))
    assert (number, page.name, page.source) == (7, "p1.jpg", str(tmp_path / "a" / "p1.jpg"))
    with pytest.raises(listing.ScanError, match="p1.jpg: not an image"):
        page.load()  # the loader travels with the page: it reads the file on the worker
    with pytest.raises(FileNotFoundError, match="matches no JPEG"):
        listing.list_pages([str(tmp_path / "a" / "*.tif")])
    with pytest.raises(ValueError, match="would collide"):
        listing.list_pages([str(tmp_path / "a" / "*.jpg"), str(tmp_path / "a" / "p*.jpg")])


def test_runner_and_argument_checks(model, tmp_path, capsys):
    from apache_beam.options.pipeline_options import PipelineOptions

    with pytest.raises(ValueError, match="needs --temp_location"):
        _listing_path(PipelineOptions(["--runner=DataflowRunner"]))
    path, local = _listing_path(PipelineOptions(["--runner=DataflowRunner", "--temp_location=gs://bucket/tmp"]))
    assert path.startswith("gs://bucket/tmp/kuzushiji-listing-") and not local
    with pytest.raises(SystemExit):
        tool.parse_args(["scans", "--out", "o", "--direct_num_workers", "2"])
    assert "need --runner" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(["scans", "--out", "o", "--runner", "DirectRunner", "--visualize"])
    with pytest.raises(SystemExit):
        tool.parse_args(["scans", "--out", "o", "--created", "yesterday"])
    assert (
        tool.main(
            [str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--model", str(model), "--runner", "DirectRunner"]
        )
        == 2
    )
    assert "missing: no such file" in capsys.readouterr().err


@pytest.fixture
def s3_server():
    """A real S3 API (moto's server) on 127.0.0.1, started and stopped here: buckets as Dataflow or Flink
    workers would see them, through Beam's own S3 filesystem."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    s3 = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    try:
        host, port = s3.get_host_and_port()
        url = f"http://{host}:{port}"
        client = boto3.client(
            "s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
        client.create_bucket(Bucket="library")
        options = [
            f"--s3_endpoint_url={url}",
            "--s3_access_key_id=test",
            "--s3_secret_access_key=test",
            "--s3_region_name=us-east-1",
        ]
        yield client, options
    finally:
        s3.stop()


def _keys(client, prefix: str) -> list[str]:
    found = client.list_objects_v2(Bucket="library", Prefix=prefix).get("Contents", [])
    return sorted(item["Key"][len(prefix) :] for item in found)


@pytest.mark.slow
def test_scans_model_and_outputs_on_an_s3_bucket(model, s3_server, tmp_path):
    client, s3_options = s3_server
    local = tmp_path / "scans" / "book"
    local.mkdir(parents=True)
    for path in sorted(REAL_PAGES.glob("*.jpg"))[:2]:
        shutil.copyfile(path, local / path.name)
    (local / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for path in local.iterdir():
        client.upload_file(str(path), "library", f"scans/book/{path.name}")
    for path in Path(model).rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "library", f"models/kuzushiji_page/1/{path.relative_to(model).as_posix()}")
    remote = ["--model", "s3://library/models/kuzushiji_page/1", "--temp_location", "s3://library/tmp", *s3_options]
    command = [
        sys.executable,
        str(ROOT / "tools" / "recognize.py"),
        "s3://library/scans/",
        "--out",
        "s3://library/ocr",
        "--created",
        CREATED,
        "--quiet",
        *BEAM,
        *remote,
    ]
    temp = tmp_path / "temp"  # where the driver and the workers copy the model from the bucket
    temp.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(temp)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 1, done.stderr[-3000:]  # the torn page
    assert not list(temp.glob("kuzushiji_model_*"))  # each process removed its copy as it ended
    assert "2 recognised, 0 already done, 1 failed" in done.stdout
    names = sorted(path.name for path in local.iterdir() if path.name != "torn.jpg")
    assert _keys(client, "ocr/") == ["book/" + f"{n}{suffix}" for n in names for suffix in (".json", ".txt")] + [
        DEAD_LETTER,
        "summary.csv",
    ]
    assert _keys(client, "tmp/") == []  # the listing is gone
    # The same pages from a local folder through the folder CLI: the same text and summary.
    folder = tmp_path / "folder"
    assert (
        tool.main(
            [str(tmp_path / "scans"), "--out", str(folder), "--model", str(model), "--created", CREATED, "--quiet"]
        )
        == 1
    )
    fetch = lambda key: client.get_object(Bucket="library", Key=key)["Body"].read()  # noqa: E731
    for name in names:
        assert fetch(f"ocr/book/{name}.txt") == (folder / "book" / f"{name}.txt").read_bytes()
    # The summaries agree but for the failed page's reason, which names where it was read from.
    strip = lambda rows: [{**row, "error": bool(row["error"])} for row in rows]  # noqa: E731
    assert strip(csv.DictReader(fetch("ocr/summary.csv").decode().splitlines())) == strip(_rows(folder / "summary.csv"))
    assert b"book/torn.jpg,s3://library/scans/book/torn.jpg," in fetch(f"ocr/{DEAD_LETTER}")
    # A rerun skips the finished pages on the bucket; the torn one fails again.
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 1 and "0 recognised, 2 already done, 1 failed" in again.stdout, again.stderr[-3000:]
