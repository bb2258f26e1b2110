"""Record building end to end: counts, exact boxes after undoing the scale, crops, atomicity and resume."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE_DIR, TINY_PAGES, make_kaggle_dir
from kuzushiji_tf.cli import build_records as build_records_tool
from kuzushiji_tf.data import pipeline, record_images
from kuzushiji_tf.data.record_images import cut_square_crops
from kuzushiji_tf.data.records import MANIFEST, RecordOptions, build_records, read_vocabulary
from kuzushiji_tf.datasets.kaggle_reader import DataError, read_train
from kuzushiji_tf.file_hashes import file_sha256


@pytest.fixture(scope="module")
def sample_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "sample"
    manifest = build_records(SAMPLE_DIR, out, RecordOptions(full_data=True, shards=2), workers=2, progress=False)
    return out, manifest


def test_real_sample_counts(sample_records):
    out, manifest = sample_records
    train = manifest["splits"]["train"]
    assert (train["pages"], train["characters"], train["classes"]) == (5, 464, 179)
    assert manifest["splits"]["test"]["pages"] == 2
    assert manifest["vocabulary"]["classes"] == 179 and len(read_vocabulary(out)) == 179
    for shard in manifest["shards"]:
        assert file_sha256(out / shard["file"]) == shard["sha256"]
    assert sum(s["records"] for s in manifest["shards"] if s["kind"] == "crops") == 464
    assert manifest["source"]["train.csv_sha256"] == file_sha256(SAMPLE_DIR / "train.csv")


def test_real_sample_boxes_come_back_within_a_pixel(sample_records):
    out, _ = sample_records
    truth = {p.image_id: p for p in read_train(SAMPLE_DIR).pages}
    vocabulary = read_vocabulary(out)
    seen = 0
    for example in pipeline.read_pages(out, "train"):
        page = truth[example["image_id"].numpy().decode()]
        scale_y, scale_x = example["scale"].numpy()
        boxes = example["boxes"].numpy() / np.array([scale_x, scale_y, scale_x, scale_y])
        assert np.abs(boxes - np.array([c.box for c in page.chars])).max() <= 1.0
        assert [vocabulary[i][0] for i in example["labels"].numpy()] == [c.code for c in page.chars]
        height, width = example["image"].shape[:2]
        assert min(height, width) == 1200
        assert example["original_size"].numpy().tolist() == [page.height, page.width]
        seen += len(boxes)
    assert seen == 464


def test_crop_records_match_their_pages(sample_records):
    out, _ = sample_records
    truth = {p.image_id: p for p in read_train(SAMPLE_DIR).pages}
    crops = list(pipeline.read_crops(out, "train"))
    assert len(crops) == 464
    for crop in crops[:20]:
        page = truth[crop["image_id"].numpy().decode()]
        char = page.chars[int(crop["index"])]
        assert crop["code"].numpy().decode() == char.code
        assert np.allclose(crop["source_box"].numpy(), char.box)
        assert crop["image"].shape == (144, 144, 3)


def test_test_pages_are_page_records_without_boxes(sample_records):
    out, _ = sample_records
    pages = list(pipeline.read_test_pages(out))
    assert sorted(p["image_id"].numpy().decode() for p in pages) == ["test_24ace5cc", "test_adf346d4"]
    assert all(p["boxes"].shape == (0, 4) for p in pages)


def test_crop_is_centred_square_of_1_4_times_the_longer_side():
    image = np.full((200, 300, 3), 255, np.uint8)
    image[50:90, 100:120] = 0  # box x 100..120, y 50..90: 20 wide, 40 high
    crop = cut_square_crops(image, np.array([[100, 50, 120, 90]], np.float32), size=56)[0]
    ink = np.argwhere(crop[..., 0] < 128)
    # side 1.4 * 40 = 56 px, so the stored 56-px crop is 1:1: ink 40 high, 20 wide, centred at 28.
    assert ink[:, 0].min() == 8 and ink[:, 0].max() == 47
    assert ink[:, 1].min() == 18 and ink[:, 1].max() == 37


def test_crop_beyond_the_page_edge_repeats_the_edge():
    image = np.zeros((50, 50, 3), np.uint8)
    image[:, :5] = 200
    crop = cut_square_crops(image, np.array([[0, 20, 10, 30]], np.float32), size=14)[0]
    assert crop.shape == (14, 14, 3) and crop[:, 0].min() == 200


def test_folds_write_train_and_val_of_different_books(tmp_path):
    root = make_kaggle_dir(tmp_path / "k")
    manifest = build_records(
        root, tmp_path / "r", RecordOptions(num_folds=3, fold=1, shards=2), workers=1, progress=False
    )
    train_books = {e["book"].numpy() for e in pipeline.read_pages(tmp_path / "r", "train")}
    val_books = {e["book"].numpy() for e in pipeline.read_pages(tmp_path / "r", "val")}
    assert train_books and val_books and not train_books & val_books
    splits = manifest["splits"]
    assert splits["train"]["pages"] + splits["val"]["pages"] == len(TINY_PAGES)
    assert splits["train"]["characters"] + splits["val"]["characters"] == sum(map(len, TINY_PAGES.values()))
    assert splits["train"]["empty_pages"] + splits["val"]["empty_pages"] == 1


def _truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_corrupt_pixel_data_stops_the_build_or_is_skipped_and_reported(tmp_path):
    root = make_kaggle_dir(tmp_path / "k")
    _truncate(root / "train_images" / "bookB-001.jpg")
    with pytest.raises(DataError, match=r"bookB-001.jpg: image_id 'bookB-001': corrupt image data"):
        build_records(root, tmp_path / "r1", RecordOptions(full_data=True, shards=2), workers=1, progress=False)
    assert not list((tmp_path / "r1").glob("*.tfrecord*")) and not (tmp_path / "r1" / MANIFEST).exists()

    manifest = build_records(
        root, tmp_path / "r2", RecordOptions(full_data=True, shards=2, on_error="skip"), workers=1, progress=False
    )
    assert manifest["skipped"]["count"] == 1
    assert manifest["splits"]["train"]["pages"] == len(TINY_PAGES) - 1
    assert manifest["rows"]["pages_written"] == len(TINY_PAGES) - 1 + 2  # + the 2 test pages
    with open(tmp_path / "r2" / "skipped.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["image_id"] == "bookB-001" and "corrupt image data" in rows[0]["problem"]
    written = [e["image_id"].numpy().decode() for e in pipeline.read_pages(tmp_path / "r2", "train")]
    assert sorted(written) == sorted(i for i in TINY_PAGES if i != "bookB-001")


def test_skip_mode_accounts_for_every_row_in_the_manifest(tmp_path):
    root = make_kaggle_dir(tmp_path / "k")
    with open(root / "train.csv", "a") as handle:
        handle.write("bad_1,U+3042 1 2 3\n")
    manifest = build_records(
        root, tmp_path / "r", RecordOptions(full_data=True, on_error="skip"), workers=1, progress=False
    )
    assert manifest["rows"]["train_csv"] == len(TINY_PAGES) + 1
    assert manifest["splits"]["train"]["pages"] + manifest["skipped"]["count"] == manifest["rows"]["train_csv"]


def test_crash_mid_build_leaves_no_whole_looking_file_and_rerun_matches_a_clean_build(tmp_path, monkeypatch):
    root = make_kaggle_dir(tmp_path / "k")
    options = RecordOptions(full_data=True, shards=3)
    clean = build_records(root, tmp_path / "clean", options, workers=1, progress=False)

    real = record_images.prepare_task
    calls = {"n": 0}

    def dies_on_the_fifth_page(task):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("simulated kill")
        return real(task)

    monkeypatch.setattr("kuzushiji_tf.data.records.prepare_task", dies_on_the_fifth_page)
    out = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        build_records(root, out, options, workers=1, progress=False)
    assert not (out / MANIFEST).exists()
    assert not list(out.glob("*.tmp"))
    finished = sorted(p.name for p in out.glob("*.tfrecord"))
    assert finished and len(finished) < len(clean["shards"])

    monkeypatch.setattr("kuzushiji_tf.data.records.prepare_task", real)
    resumed = build_records(root, out, options, workers=1, progress=False)
    assert resumed.pop("_run")["shards_reused"] >= 1
    clean.pop("_run")
    for manifest in (resumed, clean):
        manifest["source"].pop("data_dir")
    assert resumed == clean


def test_rebuilding_into_a_folder_of_other_options_is_refused(tmp_path):
    root = make_kaggle_dir(tmp_path / "k")
    build_records(root, tmp_path / "r", RecordOptions(full_data=True), workers=1, progress=False)
    with pytest.raises(DataError, match="other data or options; choose another --out or pass --overwrite"):
        build_records(root, tmp_path / "r", RecordOptions(full_data=True, crop_size=64), workers=1, progress=False)
    manifest = build_records(
        root, tmp_path / "r", RecordOptions(full_data=True, crop_size=64), workers=1, overwrite=True, progress=False
    )
    assert manifest["options"]["crop_size"] == 64


def test_cli_reports_a_bad_row_in_one_line_and_exit_2(tmp_path, capsys):
    root = make_kaggle_dir(tmp_path / "k")
    with open(root / "train.csv", "a") as handle:
        handle.write("bad_1,U+3042 1 2 3\n")
    code = build_records_tool.main(
        ["--data-dir", str(root), "--out", str(tmp_path / "r"), "--full-data", "--quiet", "--workers", "1"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "train.csv:8: image_id 'bad_1':" in err and "groups of 5" in err


def test_cli_builds_and_prints_a_summary(tmp_path, capsys):
    root = make_kaggle_dir(tmp_path / "k")
    code = build_records_tool.main(
        ["--data-dir", str(root), "--out", str(tmp_path / "r"), "--num-folds", "3", "--quiet", "--workers", "1"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "pages/s" in out and "test : 2 pages" in out
    manifest = json.loads((tmp_path / "r" / MANIFEST).read_text())
    assert manifest["options"]["num_folds"] == 3
