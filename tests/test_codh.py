"""CODH per-book layout: reads as the Kaggle sample does, validates like the Kaggle reader, is auto-detected,
and builds records through tools/build_records.py."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLE_DIR, TINY_SIZE, make_kaggle_dir, write_page_image
from kuzushiji_tf.cli import build_records as build_records_tool
from kuzushiji_tf.datasets.book_split import split_pages
from kuzushiji_tf.datasets.codh_reader import find_books, is_codh_dir, read_codh
from kuzushiji_tf.datasets.kaggle_reader import DataError, read_train
from kuzushiji_tf.datasets.layouts import detect_layout, resolve_layout
from kuzushiji_tf.file_hashes import file_sha256

BOOK = "100241706"
HEADER = "Unicode,Image,X,Y,Block ID,Char ID,Width,Height"


@pytest.fixture(scope="module")
def codh_root(tmp_path_factory) -> Path:
    """The bundled sample in CODH's layout: <root>/100241706/100241706_coordinate.csv + images/."""
    root = tmp_path_factory.mktemp("codh")
    book = root / BOOK
    (book / "images").mkdir(parents=True)
    shutil.copy(SAMPLE_DIR / "100241706_coordinate_first5pages.csv", book / f"{BOOK}_coordinate.csv")
    for image in (SAMPLE_DIR / "train_images").glob("*.jpg"):
        shutil.copy(image, book / "images" / image.name)
    return root


def _pages(result):
    return [(p.image_id, p.width, p.height, p.book, [(c.code, c.box) for c in p.chars]) for p in result.pages]


def test_codh_sample_reads_exactly_as_the_kaggle_sample_from_the_root_or_the_book_folder(codh_root):
    kaggle = read_train(SAMPLE_DIR)
    from_root = read_codh(codh_root)
    from_book = read_codh(codh_root / BOOK)
    assert len(kaggle.pages) == 5 and sum(len(p.chars) for p in kaggle.pages) == 464
    assert _pages(from_root) == _pages(kaggle)
    assert _pages(from_book) == _pages(kaggle)
    for result in (from_root, from_book):
        assert result.rows == 464 and result.skipped == [] and result.clipped_boxes == kaggle.clipped_boxes
        assert all(p.image_path == codh_root / BOOK / "images" / f"{p.image_id}.jpg" for p in result.pages)


# Tiny CODH folders: the book of a page is its folder, not its id's prefix (umgy00000 holds umgy001-...).
TINY_BOOKS = {
    "bookA": {
        "bookA_00001_1": [("U+3042", 10, 12, 20, 30), ("U+3044", 40, 60, 25, 25)],
        "bookA_00002_1": [("U+3042", 15, 20, 18, 22)],
    },
    "umgy00000": {"umgy001-001": [("U+304B", 50, 10, 30, 40)], "umgy002-001": [("U+3044", 30, 40, 12, 50)]},
}
ALL_IDS = [image_id for pages in TINY_BOOKS.values() for image_id in pages]
ALL_ROWS = sum(len(chars) for pages in TINY_BOOKS.values() for chars in pages.values())


def make_codh_root(root: Path, books=None) -> Path:
    books = TINY_BOOKS if books is None else books
    for book, pages in books.items():
        lines = [HEADER]
        for i, (image_id, chars) in enumerate(pages.items()):
            lines += [
                f"{code},{image_id},{x},{y},B0001,C{j + 1:04d},{w},{h}" for j, (code, x, y, w, h) in enumerate(chars)
            ]
            write_page_image(root / book / "images" / f"{image_id}.jpg", *TINY_SIZE, [c[1:] for c in chars], seed=i)
        (root / book / f"{book}_coordinate.csv").write_text("\n".join(lines) + "\n")
    return root


def _edit_line(root: Path, book: str, line: int, edit) -> None:
    path = root / book / f"{book}_coordinate.csv"
    lines = path.read_text().splitlines()
    lines[line - 1] = edit(lines[line - 1])
    path.write_text("\n".join(lines) + "\n")


def _set_field(root, line, index, value, book="bookA"):
    def edit(text):
        fields = text.split(",")
        fields[index] = value
        return ",".join(fields)

    _edit_line(root, book, line, edit)


def _append(root: Path, book: str, row: str) -> int:
    path = root / book / f"{book}_coordinate.csv"
    text = path.read_text()
    path.write_text(text + row + "\n")
    return len(text.splitlines()) + 1


# Each case breaks bookA's CSV (line 3 = second row of page bookA_00001_1, whose first row is line 2) or an
# image; it returns (file, line, image id named or None, message fragment, the page id skip mode drops).
def _bad_header(root):
    _edit_line(root, "bookA", 1, lambda _: "Unicode,Image,X,Y,Width,Height")
    return "bookA_coordinate.csv", 1, None, "header must be 'Unicode,Image,X,Y,Block ID,Char ID,Width,Height'", None


def _non_integer(root):
    _set_field(root, 3, 2, "40.5")
    return "bookA_coordinate.csv", 3, "bookA_00001_1", "X '40.5' is not a non-negative integer", "bookA_00001_1"


def _negative(root):
    _set_field(root, 3, 3, "-6")
    return "bookA_coordinate.csv", 3, "bookA_00001_1", "Y '-6' is not a non-negative integer", "bookA_00001_1"


def _zero_width(root):
    _set_field(root, 3, 6, "0")
    return "bookA_coordinate.csv", 3, "bookA_00001_1", "width or height <= 0", "bookA_00001_1"


def _bad_code(root):
    _set_field(root, 3, 0, "U+30G4")
    return "bookA_coordinate.csv", 3, "bookA_00001_1", "code 'U+30G4' is not", "bookA_00001_1"


def _unknown_code(root):
    _set_field(root, 3, 0, "U+E000")
    return "bookA_coordinate.csv", 3, "bookA_00001_1", "code U+E000 is not in", "bookA_00001_1"


def _field_count(root):
    _edit_line(root, "bookA", 3, lambda text: text.rsplit(",", 1)[0])
    return "bookA_coordinate.csv", 3, "bookA_00001_1", "expected 8 fields", "bookA_00001_1"


def _box_outside(root):
    _set_field(root, 3, 2, "500")
    return "bookA_coordinate.csv", 3, "bookA_00001_1", "lies outside the 120x180 image", "bookA_00001_1"


def _missing_image(root):
    (root / "bookA" / "images" / "bookA_00001_1.jpg").unlink()
    return "bookA_coordinate.csv", 2, "bookA_00001_1", "image file is missing", "bookA_00001_1"


def _corrupt_image(root):
    (root / "bookA" / "images" / "bookA_00002_1.jpg").write_bytes(b"\x00garbage" * 50)
    return "bookA_coordinate.csv", 4, "bookA_00002_1", "not a readable image", "bookA_00002_1"


def _bad_image_id(root):
    line = _append(root, "bookA", "U+3042,../etc/passwd,1,1,B0001,C0009,5,5")
    return "bookA_coordinate.csv", line, None, "contains '/', '\\' or '..'", "../etc/passwd"


def _page_in_two_books(root):
    line = _append(root, "umgy00000", "U+3042,bookA_00002_1,1,1,B0001,C0009,5,5")
    return "umgy00000_coordinate.csv", line, "bookA_00002_1", "also used by book bookA", "bookA_00002_1"


CASES = [
    _bad_header,
    _non_integer,
    _negative,
    _zero_width,
    _bad_code,
    _unknown_code,
    _field_count,
    _box_outside,
    _missing_image,
    _corrupt_image,
    _bad_image_id,
    _page_in_two_books,
]


@pytest.mark.parametrize("break_it", CASES, ids=[case.__name__.strip("_") for case in CASES])
def test_bad_input_is_named_and_skip_mode_drops_the_whole_page(tmp_path, break_it):
    root = make_codh_root(tmp_path / "codh")
    name, line, image_id, fragment, dropped = break_it(root)
    with pytest.raises(DataError) as info:
        read_codh(root)
    message = str(info.value)
    assert f"{name}:{line}:" in message and fragment in message and "\n" not in message
    if image_id is not None:
        assert f"image_id '{image_id}':" in message
    if dropped is None:  # a wrong header stops the read in both modes
        with pytest.raises(DataError, match="header must be"):
            read_codh(root, on_error="skip")
        return

    result = read_codh(root, on_error="skip")
    assert len(result.skipped) == 1
    skipped = result.skipped[0]
    assert skipped.file.endswith(name) and skipped.line == line and fragment in skipped.problem
    kept = [page.image_id for page in result.pages]
    if break_it is _page_in_two_books:  # the first book keeps the page; the second's claim is dropped
        assert kept == ALL_IDS and result.rows == ALL_ROWS + 1
        assert [p.book for p in result.pages if p.image_id == dropped] == ["bookA"]
    else:
        assert kept == [i for i in ALL_IDS if i != dropped]
    # The whole page goes, rows before the bad one included: no page keeps a partial set of characters.
    kept_chars = {p.image_id: len(p.chars) for p in result.pages}
    assert all(kept_chars[i] == len(TINY_BOOKS[b][i]) for b in TINY_BOOKS for i in TINY_BOOKS[b] if i in kept_chars)


def test_unknown_code_names_the_table_and_the_folder_table_replaces_the_bundled_one(tmp_path):
    root = make_codh_root(tmp_path / "codh")
    _set_field(root, 2, 0, "U+E000")
    with pytest.raises(DataError, match=r"code U\+E000 is not in .*sample_data.kaggle_5p.unicode_translation.csv"):
        read_codh(root)
    (root / "unicode_translation.csv").write_text("Unicode,char\nU+E000,x\nU+3042,あ\nU+3044,い\nU+304B,か\n")
    assert [len(p.chars) for p in read_codh(root).pages] == [2, 1, 1, 1]


def test_book_is_the_folder_and_splits_group_by_it(tmp_path):
    root = make_codh_root(tmp_path / "codh")
    result = read_codh(root)
    assert [p.book for p in result.pages] == ["bookA", "bookA", "umgy00000", "umgy00000"]
    assert [b.name for b in find_books(root)] == ["bookA", "umgy00000"]
    train, val = split_pages(result.pages, num_folds=2, fold=0)
    assert {p.book for p in train} | {p.book for p in val} == {"bookA", "umgy00000"}
    assert not {p.book for p in train} & {p.book for p in val}
    assert len({p.book for p in val}) == 1


def test_box_partly_outside_is_clipped_and_counted(tmp_path):
    root = make_codh_root(tmp_path / "codh", {"b": {"b_1": [("U+3042", 100, 170, 40, 30), ("U+3044", 1, 1, 5, 5)]}})
    result = read_codh(root)
    assert result.clipped_boxes == 1
    assert [c.box for c in result.pages[0].chars] == [(100.0, 170.0, 120.0, 180.0), (1.0, 1.0, 6.0, 6.0)]


def test_auto_detection_picks_the_layout_and_refuses_ambiguous_or_empty_folders(tmp_path, codh_root, capsys):
    assert detect_layout(SAMPLE_DIR) == "kaggle" and not is_codh_dir(SAMPLE_DIR)
    assert detect_layout(codh_root) == "codh" and detect_layout(codh_root / BOOK) == "codh"

    both = make_codh_root(make_kaggle_dir(tmp_path / "both"))
    with pytest.raises(
        DataError, match=r"holds both layouts \(looked for train.csv .*--layout kaggle or --layout codh"
    ):
        detect_layout(both)
    assert resolve_layout(both, "kaggle") == "kaggle" and resolve_layout(both, "codh") == "codh"
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError,
        match=r"holds none of the layouts read: looked for train.csv \(Kaggle layout\), "
        r"\*_coordinate.csv in the folder itself",
    ):
        detect_layout(tmp_path / "empty")

    stray = make_codh_root(tmp_path / "stray")
    shutil.copy(stray / "bookA" / "bookA_coordinate.csv", stray / "bookA" / "other_coordinate.csv")
    with pytest.raises(DataError, match=r"other_coordinate.csv: a CODH book folder names its CSV after itself"):
        find_books(stray)

    code = build_records_tool.main(["--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "holds none of the layouts read" in err and err.count("\n") == 1


def test_cli_builds_records_from_a_codh_root(tmp_path, codh_root, capsys):
    from kuzushiji_tf.data import pipeline

    out = tmp_path / "records"
    code = build_records_tool.main(
        [
            "--data-dir",
            str(codh_root),
            "--out",
            str(out),
            "--full-data",
            "--quiet",
            "--page-short-side",
            "400",
            "--crop-size",
            "48",
            "--workers",
            "1",
        ]
    )
    assert code == 0 and "from a codh folder" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    train = manifest["splits"]["train"]
    assert (train["pages"], train["characters"], train["classes"]) == (5, 464, 179)
    assert manifest["splits"]["val"]["pages"] == 0 and manifest["splits"]["test"]["pages"] == 0
    assert manifest["rows"]["coordinate_csv"] == 464 and manifest["skipped"]["count"] == 0
    source = manifest["source"]
    assert source["layout"] == "codh" and source["unicode_translation"] == "bundled"
    assert source[f"{BOOK}/{BOOK}_coordinate.csv_sha256"] == file_sha256(codh_root / BOOK / f"{BOOK}_coordinate.csv")
    assert source["unicode_translation.csv_sha256"] == file_sha256(SAMPLE_DIR / "unicode_translation.csv")
    pages = list(pipeline.read_pages(out, "train"))
    written = sorted(p["image_id"].numpy().decode() for p in pages)
    assert written == [p.image_id for p in read_train(SAMPLE_DIR).pages]
    assert {p["book"].numpy().decode() for p in pages} == {BOOK}
