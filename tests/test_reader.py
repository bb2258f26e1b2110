"""Reader validation: every bad input names file, line and image id; in skip mode nothing valid is lost."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_PAGES, TINY_SIZE, make_kaggle_dir
from kuzushiji_tf.datasets.kaggle_reader import DataError, read_test, read_train, read_unicode_translation

VALID_IDS = list(TINY_PAGES)


def _set_row(root: Path, image_id: str, labels: str, new_id: str | None = None) -> int:
    """Rewrites one train.csv row; returns its line number (header = line 1)."""
    lines = (root / "train.csv").read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if line.split(",")[0] == image_id:
            lines[number - 1] = f"{new_id or image_id},{labels}"
            (root / "train.csv").write_text("\n".join(lines) + "\n")
            return number
    raise KeyError(image_id)


def _append_row(root: Path, row: str) -> int:
    text = (root / "train.csv").read_text()
    (root / "train.csv").write_text(text + row + "\n")
    return len(text.splitlines()) + 1


# Each case breaks one row (or its image); the message fragment is what a user must read.
def _bad_group_size(root):
    return _set_row(root, "bookA_00001_1", "U+3042 10 12 20"), "bookA_00001_1", "groups of 5"


def _bad_code(root):
    return _set_row(root, "bookA_00001_1", "U+30G2 10 12 20 30"), "bookA_00001_1", "code 'U+30G2' is not"


def _lower_case_code(root):
    return _set_row(root, "bookA_00001_1", "u+3042 10 12 20 30"), "bookA_00001_1", "code 'u+3042' is not"


def _non_integer(root):
    return (
        _set_row(root, "bookA_00001_1", "U+3042 10.5 12 20 30"),
        "bookA_00001_1",
        "'10.5' is not a non-negative integer",
    )


def _zero_width(root):
    return _set_row(root, "bookA_00001_1", "U+3042 10 12 0 30"), "bookA_00001_1", "width or height <= 0"


def _box_outside(root):
    return _set_row(root, "bookA_00001_1", "U+3042 500 12 20 30"), "bookA_00001_1", "lies outside the 120x180 image"


def _unknown_code(root):
    return (
        _set_row(root, "bookA_00001_1", "U+E000 10 12 20 30"),
        "bookA_00001_1",
        "U+E000 is not in unicode_translation.csv",
    )


def _duplicate_id(root):
    return (
        _append_row(root, "bookA_00002_1,U+3042 1 1 5 5"),
        "bookA_00002_1",
        "duplicate image id (first seen on line 3)",
    )


def _missing_image(root):
    (root / "train_images" / "bookC_00001_2.jpg").unlink()
    return 6, "bookC_00001_2", "image file is missing"


def _empty_image(root):
    (root / "train_images" / "bookC_00001_2.jpg").write_bytes(b"")
    return 6, "bookC_00001_2", "image file is empty"


def _corrupt_image(root):
    (root / "train_images" / "bookC_00001_2.jpg").write_bytes(b"\x00garbage" * 50)
    return 6, "bookC_00001_2", "not a readable image"


def _png_image(root):
    Image.new("RGB", TINY_SIZE).save(root / "train_images" / "bookC_00001_2.jpg", format="PNG")
    return 6, "bookC_00001_2", "not a JPEG file"


def _bomb_image(root):
    Image.new("1", (12000, 12000)).save(root / "train_images" / "bookC_00001_2.jpg", format="PNG")
    return 6, "bookC_00001_2", "decompression bomb"


def _slash_id(root):
    return _append_row(root, "../etc/passwd,"), None, "contains '/', '\\' or '..'"


def _backslash_id(root):
    return _append_row(root, "book\\x,"), None, "contains '/', '\\' or '..'"


def _dotdot_id(root):
    return _append_row(root, "book..x,"), None, "contains '/', '\\' or '..'"


def _absolute_id(root):
    return _append_row(root, "C:evil,"), None, "absolute path"


CASES = [
    _bad_group_size,
    _bad_code,
    _lower_case_code,
    _non_integer,
    _zero_width,
    _box_outside,
    _unknown_code,
    _duplicate_id,
    _missing_image,
    _empty_image,
    _corrupt_image,
    _png_image,
    _bomb_image,
    _slash_id,
    _backslash_id,
    _dotdot_id,
    _absolute_id,
]


@pytest.mark.parametrize("break_it", CASES, ids=[case.__name__.strip("_") for case in CASES])
def test_bad_input_is_named_and_skip_mode_keeps_every_valid_row(tmp_path, break_it):
    root = make_kaggle_dir(tmp_path / "kaggle")
    line, image_id, fragment = break_it(root)
    with pytest.raises(DataError) as info:
        read_train(root)
    message = str(info.value)
    assert f"train.csv:{line}:" in message
    assert fragment in message
    if image_id is not None:
        assert f"image_id '{image_id}':" in message
    assert "\n" not in message

    result = read_train(root, on_error="skip")
    assert len(result.skipped) == 1
    skipped = result.skipped[0]
    assert skipped.line == line and fragment in skipped.problem
    kept = [page.image_id for page in result.pages]
    # Every valid row survives: duplicates keep their first row; otherwise only the broken id goes.
    expected = [i for i in VALID_IDS if i != image_id or break_it is _duplicate_id]
    assert kept == expected
    assert result.rows == len(kept) + len(result.skipped)
    total_chars = sum(len(TINY_PAGES[i]) for i in expected)
    assert sum(len(page.chars) for page in result.pages) == total_chars


def test_valid_folder_reads_whole_with_xyxy_boxes_and_empty_pages(kaggle_dir):
    result = read_train(kaggle_dir)
    assert [page.image_id for page in result.pages] == VALID_IDS
    assert result.skipped == [] and result.clipped_boxes == 0
    page = result.pages[0]
    assert (page.width, page.height) == TINY_SIZE
    assert page.chars[1].code == "U+3044" and page.chars[1].box == (40.0, 60.0, 65.0, 85.0)
    assert page.book == "bookA"
    empty = next(p for p in result.pages if p.image_id == "bookB-002")
    assert empty.chars == () and empty.book == "bookB"


def test_box_partly_outside_is_clipped_and_counted(tmp_path):
    root = make_kaggle_dir(tmp_path / "k", pages={"b_1": [("U+3042", 100, 170, 40, 30), ("U+3044", 1, 1, 5, 5)]})
    result = read_train(root)
    assert result.clipped_boxes == 1
    assert result.pages[0].chars[0].box == (100.0, 170.0, 120.0, 180.0)
    assert result.pages[0].chars[1].box == (1.0, 1.0, 6.0, 6.0)


def test_grayscale_and_cmyk_pages_are_accepted(tmp_path):
    root = make_kaggle_dir(tmp_path / "k", pages={"g_1": [("U+3042", 1, 1, 5, 5)], "c_1": []})
    Image.new("L", TINY_SIZE, 200).save(root / "train_images" / "g_1.jpg")
    Image.new("CMYK", TINY_SIZE, (0, 0, 0, 30)).save(root / "train_images" / "c_1.jpg")
    assert [p.image_id for p in read_train(root).pages] == ["g_1", "c_1"]


def test_pandas_style_nan_and_blank_labels_are_empty_pages(tmp_path):
    root = make_kaggle_dir(tmp_path / "k", pages={"a_1": [], "b_1": []})
    (root / "train.csv").write_text("image_id,labels\na_1,\nb_1,   \n")
    assert [len(p.chars) for p in read_train(root).pages] == [0, 0]


def test_wrong_header_and_field_count(tmp_path):
    root = make_kaggle_dir(tmp_path / "k")
    (root / "train.csv").write_text("id,label\nx,\n")
    with pytest.raises(DataError, match=r"train.csv:1: header must be 'image_id,labels', got \['id', 'label'\]"):
        read_train(root)
    (root / "train.csv").write_text("image_id,labels\nbookA_00001_1,U+3042 1 1 2 2,extra\n")
    with pytest.raises(DataError, match=r"train.csv:2: expected 2 fields"):
        read_train(root)


def test_unicode_translation_is_strict(tmp_path):
    path = tmp_path / "unicode_translation.csv"
    path.write_text("Unicode,char\nU+3042,あ\nU+3042,あ\n")
    with pytest.raises(DataError, match="unicode_translation.csv:3: code U\\+3042 appears twice"):
        read_unicode_translation(path)
    path.write_text("Unicode,char\nX+3042,あ\n")
    with pytest.raises(DataError, match=":2: code 'X\\+3042' is not U"):
        read_unicode_translation(path)


def test_test_pages_come_from_sample_submission_or_the_folder(kaggle_dir):
    assert [p.image_id for p in read_test(kaggle_dir).pages] == ["test_0001", "test_0002"]
    (kaggle_dir / "sample_submission.csv").unlink()
    assert [p.image_id for p in read_test(kaggle_dir).pages] == ["test_0001", "test_0002"]
    (kaggle_dir / "test_images" / "test_0002.jpg").write_bytes(b"")
    result = read_test(kaggle_dir, on_error="skip")
    assert [p.image_id for p in result.pages] == ["test_0001"] and "empty" in result.skipped[0].problem


def test_bundled_real_sample_reads_exactly(tmp_path):
    from conftest import SAMPLE_DIR

    result = read_train(SAMPLE_DIR)
    assert len(result.pages) == 5
    assert sum(len(p.chars) for p in result.pages) == 464
    assert len({c.code for p in result.pages for c in p.chars}) == 179
    assert result.clipped_boxes == 0
    assert {p.book for p in result.pages} == {"100241706"}
    assert np.all([2300 < p.width < 2500 and 3800 < p.height < 3950 for p in result.pages])
