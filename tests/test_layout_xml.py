"""PAGE-XML and ALTO folders as ground truth (`kuzushiji-build-records --layout page|alto`): our own writers'
files come back as the boxes and codes they were written from, through the records; hand-written Transkribus
and eScriptorium exports read as they are; every bad file is named with its line and element, and the other
pages are still written."""

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from lxml import etree

from conftest import SAMPLE_DIR, write_page_image
from kuzushiji_tf.cli import build_records as build_records_tool
from kuzushiji_tf.data.records import MANIFEST, UNKNOWN_REPORT, RecordOptions, build_records, read_vocabulary
from kuzushiji_tf.datasets.alto_reader import read_alto
from kuzushiji_tf.datasets.kaggle_reader import DataError, read_train, read_unicode_translation
from kuzushiji_tf.datasets.layout_xml import parse
from kuzushiji_tf.datasets.layouts import detect_layout
from kuzushiji_tf.datasets.page_xml_reader import read_page_xml
from kuzushiji_tf.datasets.xml_layout_reader import NO_GLYPHS, glyph_code, read_xml_folder
from kuzushiji_tf.formats import FORMATS, PageSource
from kuzushiji_tf.formats.layout import pixel_box
from kuzushiji_tf.recognition.contract import CLASS_PROBS, CODES, DET_SCORES, OUT_BOXES, TOPK_CODEPOINTS, TOPK_PROBS
from kuzushiji_tf.recognition.page_text import page_record

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "layouts"
TABLE = read_unicode_translation(SAMPLE_DIR / "unicode_translation.csv")
CREATED = "2024-05-06T07:08:09Z"
SIZE = (160, 200)  # width, height of the tiny pages
# Two books; each page two columns read right to left. Boxes with fractional edges are written rounded
# outwards (formats/layout.pixel_box), which is what must come back.
TINY = {
    "bookA/p1.jpg": [("U+3042", (100, 10, 130, 40)), ("U+3044", (100, 50, 130, 80.5)), ("U+304B", (40.2, 10, 70, 40))],
    "bookA/p2.jpg": [("U+306E", (110, 20, 140, 52)), ("U+3068", (110, 60, 140, 95)), ("U+4E8B", (50, 20, 82, 60))],
    "bookB/p1.jpg": [("U+3042", (90, 100, 120, 130)), ("U+3090", (30, 100, 60, 135))],
}
UNKNOWN_CHAR = "\U00020b9f"  # 𠮟: a real kanji outside the bundled Kaggle table


def make_record(name: str, chars, size=SIZE) -> dict:
    """The page record a recognition run would write for these characters (reading order from the boxes),
    each with two other candidates, which the writers add as alternatives (PAGE TextEquiv index 2 and 3, ALTO
    Variant) and the readers must not take for the character."""
    n = len(chars)
    others = [int(c, 16) for c in ("304B", "3042")]
    result = {
        CODES: [code for code, _ in chars],
        OUT_BOXES: np.array([box for _, box in chars], np.float32).reshape(-1, 4),
        DET_SCORES: np.full(n, 0.9, np.float32),
        CLASS_PROBS: np.full(n, 0.8, np.float32),
        TOPK_CODEPOINTS: np.array([[int(code[2:], 16), *others] for code, _ in chars], np.int32).reshape(-1, 3),
        TOPK_PROBS: np.tile(np.array([0.8, 0.15, 0.05], np.float32), (n, 1)),
    }
    return page_record(name, result, TABLE, size=size, cls_threshold=0.5)


def expected(record: dict) -> list[tuple[str, tuple[float, ...]]]:
    """(code, box) in the record's reading order, boxes as the writers write them."""
    width, height = record["width"], record["height"]
    return [(c["code"], tuple(float(v) for v in pixel_box(c["box"], width, height))) for c in record["characters"]]


def write_xml(layout: str, record: dict, path: Path, image: str) -> Path:
    source = PageSource(image=image, width=record["width"], height=record["height"], created=CREATED)
    path.write_text(FORMATS[layout].render(record, source), encoding="utf-8")
    return path


def write_folder(root: Path, layout: str, pages=TINY) -> dict[str, dict]:
    """Images and our own writer's files beside them (`bookA/p1.jpg.page.xml`), each naming its image by its
    absolute path, as `kuzushiji-recognize` does for a folder given by its absolute path."""
    records = {}
    for seed, (name, chars) in enumerate(pages.items()):
        image = root / name
        xywh = [tuple(int(v) for v in (b[0], b[1], b[2] - b[0], b[3] - b[1])) for _, b in chars]
        write_page_image(image, *SIZE, xywh, seed=seed)
        records[name] = make_record(name, chars)
        write_xml(layout, records[name], root / FORMATS[layout].file_name(name), str(image))
    return records


def chars_of(page) -> list[tuple[str, tuple[float, ...]]]:
    return [(c.code, c.box) for c in page.chars]


def validate(schema, path: Path) -> None:
    document = etree.parse(str(path))
    assert schema.validate(document), "\n".join(str(e) for e in schema.error_log)


def read_back(out: Path, split: str = "train") -> dict[str, tuple[str, list]]:
    """{image id: (book, [(code, original-pixel box)])} from the page records, through the vocabulary."""
    from kuzushiji_tf.data import pipeline

    vocabulary = read_vocabulary(out)
    pages = {}
    for example in pipeline.read_pages(out, split):
        scale_y, scale_x = example["scale"].numpy()
        boxes = example["boxes"].numpy() / np.array([scale_x, scale_y, scale_x, scale_y])
        codes = [vocabulary[i][0] for i in example["labels"].numpy()]
        pages[example["image_id"].numpy().decode()] = (example["book"].numpy().decode(), list(zip(codes, boxes)))
    return pages


def assert_same(read: list, want: list) -> None:
    assert [code for code, _ in read] == [code for code, _ in want]
    assert np.allclose([box for _, box in read], [box for _, box in want], atol=1e-3)


def build(root: Path, out: Path, layout: str, **options):
    add_unknown = options.pop("add_unknown", False)
    return build_records(
        root,
        out,
        RecordOptions(full_data=True, shards=2, **options),
        layout=layout,
        add_unknown=add_unknown,
        workers=1,
        progress=False,
    )


# ---- our own output, back through the records -----------------------------------------------------------------


@pytest.mark.parametrize("layout", ["page", "alto"])
def test_own_output_round_trips_through_the_records(tmp_path, layout, schemas):
    root = tmp_path / "data"
    records = write_folder(root, layout)
    for name in TINY:
        validate(schemas[layout], root / FORMATS[layout].file_name(name))
    assert detect_layout(root) == layout

    manifest = build(root, tmp_path / "records", layout)
    pages = read_back(tmp_path / "records")
    assert sorted(pages) == ["bookA_p1", "bookA_p2", "bookB_p1"]
    for name, record in records.items():
        book, chars = pages[name.removesuffix(".jpg").replace("/", "_")]
        assert book == name.split("/")[0]
        assert_same(chars, expected(record))  # same codes, same boxes, same (reading) order
    assert manifest["source"]["layout"] == layout and manifest["rows"][f"{layout}_files"] == 3
    assert manifest["skipped"]["count"] == 0 and manifest["unknown_characters"]["count"] == 0
    assert manifest["splits"]["train"]["characters"] == sum(map(len, TINY.values()))
    assert [code for code, _ in read_vocabulary(tmp_path / "records")] == sorted(
        {code for chars in TINY.values() for code, _ in chars}, key=lambda c: int(c[2:], 16)
    )


@pytest.mark.parametrize("layout", ["page", "alto"])
def test_own_output_of_the_bundled_real_scans_reads_back_as_their_truth(tmp_path, layout, schemas):
    """The 5 real Kaggle pages written by our writers from their ground truth (the record of a perfect
    recognition, 464 characters, real code table) read back exactly: codes, boxes, reading order."""
    root = tmp_path / "scans"
    root.mkdir()
    truth = read_train(SAMPLE_DIR)
    records = {}
    for page in truth.pages:
        shutil.copy(page.image_path, root / page.image_path.name)
        records[page.image_id] = make_record(
            page.image_path.name, [(c.code, c.box) for c in page.chars], size=(page.width, page.height)
        )
        path = write_xml(layout, records[page.image_id], root / f"{page.image_id}.xml", page.image_path.name)
        validate(schemas[layout], path)

    result = read_xml_folder(root, layout)
    assert result.rows == 5 and not result.skipped and not result.unknown and result.clipped_boxes == 0
    assert [p.image_id for p in result.pages] == [p.image_id for p in truth.pages]
    for page, want in zip(result.pages, truth.pages):
        assert (page.width, page.height) == (want.width, want.height)
        assert chars_of(page) == expected(records[page.image_id])
        assert sorted(chars_of(page)) == sorted(chars_of(want))  # Kaggle's boxes are whole pixels: exact


@pytest.mark.slow
def test_recognize_output_reads_back_as_its_json(tmp_path, tiny_recognizer):
    """End to end: `kuzushiji-recognize` over real scans, written as PAGE and ALTO beside them, reads back as
    the run's own JSON records say: every glyph's text and box from each file, in order; then, through the
    folder reader, every page (the writers give each glyph at least a pixel each way, even where the untrained
    tiny detector's box is flat)."""
    from kuzushiji_tf.cli import recognize

    root = tmp_path / "scans"
    root.mkdir()
    for image in sorted((SAMPLE_DIR / "train_images").glob("*.jpg"))[:2]:
        shutil.copy(image, root / image.name)
    args = [str(root), "--out", str(root), "--model", str(tiny_recognizer), "--formats", "page,alto,json", "--quiet"]
    assert recognize.main(args) == 0
    records = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in root.glob("*.json")}
    for layout, read_file in (("page", read_page_xml), ("alto", read_alto)):
        for name, record in records.items():
            path = root / FORMATS[layout].file_name(name.removesuffix(".json"))
            page = read_file(parse(path), path)
            assert page.image_name == str(root / name.removesuffix(".json"))
            assert [(glyph_code(g.text, TABLE, {}), g.box) for g in page.glyphs] == expected(record)
            assert all(b[2] > b[0] and b[3] > b[1] for _, b in expected(record))
        result = read_xml_folder(root, layout, on_error="raise")
        assert not result.skipped and len(result.pages) == 2
        for page in result.pages:
            assert chars_of(page) == expected(records[page.image_path.name + ".json"])


# ---- tools' exports ---------------------------------------------------------------------------------------


def test_transkribus_export_reads_with_its_polygons_and_the_image_above_the_page_folder(tmp_path, schemas, capsys):
    document = tmp_path / "exports" / "doc1"
    shutil.copytree(FIXTURES / "transkribus", document)
    write_page_image(document / "0001.jpg", 240, 320)
    # Transkribus writes PAGE 2013; its elements here are the 2019 schema's too, so the 2019 XSD checks it.
    text = (document / "page" / "0001.xml").read_text(encoding="utf-8")
    renamed = tmp_path / "as2019.xml"
    renamed.write_text(text.replace("2013-07-15", "2019-07-15"), encoding="utf-8")
    validate(schemas["page"], renamed)

    root = tmp_path / "exports"
    assert detect_layout(root) == "page"
    (page,) = read_xml_folder(root, "page").pages
    assert (page.image_id, page.book, page.image_path) == ("doc1_0001", "doc1", document / "0001.jpg")
    assert chars_of(page) == [
        ("U+3044", (180.0, 18.0, 216.0, 60.0)),  # a quadrilateral: its bounding box
        ("U+308D", (182.0, 70.0, 213.0, 108.0)),
        ("U+306F", (179.0, 118.0, 215.0, 161.0)),  # a pentagon
        ("U+306B", (121.0, 22.0, 155.0, 61.0)),
        ("U+4E8B", (120.0, 72.0, 156.0, 115.0)),
    ]

    out = tmp_path / "records"
    args = ["--data-dir", str(root), "--out", str(out), "--full-data", "--quiet", "--workers", "1"]
    assert build_records_tool.main(args) == 0
    assert "from a page folder" in capsys.readouterr().out
    ((book, chars),) = read_back(out).values()
    assert book == "doc1"
    assert_same(chars, chars_of(page))


def test_escriptorium_alto_reads_polygons_positions_and_a_png(tmp_path, schemas):
    root = tmp_path / "export"
    shutil.copytree(FIXTURES / "escriptorium", root)
    validate(schemas["alto"], root / "page_1.xml")
    cv2.imwrite(str(root / "page_1.png"), np.full((260, 200, 3), 220, np.uint8))
    assert detect_layout(root) == "alto"
    (page,) = read_xml_folder(root, "alto").pages
    assert (page.image_id, page.book, page.width, page.height) == ("page_1", "export", 200, 260)
    assert chars_of(page) == [
        ("U+306E", (80.0, 14.0, 120.0, 58.0)),  # Shape/Polygon wins over HPOS.. (the exact outline)
        ("U+3007", (84.0, 70.0, 116.0, 104.0)),  # HPOS, VPOS, WIDTH, HEIGHT
        ("U+3068", (83.0, 118.0, 117.0, 170.0)),  # the older "x y x y" point list
    ]
    manifest = build(root, tmp_path / "records", "alto")  # a PNG scan is decoded, not refused as non-JPEG
    assert manifest["rows"]["pages_written"] == 1 and manifest["splits"]["train"]["characters"] == 3


# ---- bad files: named, and the other pages still written ------------------------------------------------------

BROKEN = "bookA/p2.jpg"  # the page each case breaks


def _edit(root: Path, layout: str, edit) -> tuple[str, int | None]:
    """Applies `edit(root element, q)` to the broken page's file; returns (its path in the folder, the line of
    the element `edit` returns, in the file as written)."""
    path = root / FORMATS[layout].file_name(BROKEN)
    tree = etree.parse(str(path))
    ns = etree.QName(tree.getroot()).namespace
    target = edit(tree.getroot(), lambda tag: f"{{{ns}}}{tag}")
    marker = "kuzushiji-test-target"
    target.set("{urn:test}mark", marker)
    text = etree.tostring(tree, encoding="unicode", pretty_print=True)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if marker in row)
    del target.attrib["{urn:test}mark"]
    path.write_text(etree.tostring(tree, encoding="unicode", pretty_print=True), encoding="utf-8")
    return path.relative_to(root).as_posix(), line


def _missing_image(root, layout):
    (root / BROKEN).unlink()
    name, line = _edit(
        root, layout, lambda r, q: r.find(f".//{q('Page')}" if layout == "page" else f".//{q('fileName')}")
    )
    return name, line, "image file is missing: the file names"


def _glyph_without_coordinates(root, layout):
    def edit(root_element, q):
        glyph = root_element.findall(f".//{q('Glyph')}")[1]
        if layout == "page":
            glyph.remove(glyph.find(q("Coords")))
        else:
            for name in ("HPOS", "VPOS", "WIDTH", "HEIGHT"):
                del glyph.attrib[name]
        return glyph

    name, line = _edit(root, layout, edit)
    fragment = "Glyph 'g2' has no Coords" if layout == "page" else "Glyph 'glyph_2' has no coordinates"
    return name, line, fragment


def _line_with_text_but_no_glyphs(root, layout):
    def edit(root_element, q):
        line = root_element.find(f".//{q('TextLine')}")
        for glyph in line.findall(f".//{q('Glyph')}"):
            glyph.getparent().remove(glyph)
        return line

    name, line = _edit(root, layout, edit)
    fragment = (
        "TextLine 'l1' has no Glyph elements (its text: 'のと')"
        if layout == "page"
        else "TextLine 'line_1' has no Glyph elements"
    )
    return name, line, fragment


def _broken_xml(root, layout):
    path = root / FORMATS[layout].file_name(BROKEN)
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[: len(lines) // 2]) + "\n", encoding="utf-8")
    return path.relative_to(root).as_posix(), None, "not well-formed XML"


def _glyph_of_two_characters(root, layout):
    def edit(root_element, q):
        glyph = root_element.find(f".//{q('Glyph')}")
        if layout == "page":
            glyph.find(f"{q('TextEquiv')}/{q('Unicode')}").text = "のと"
        else:
            glyph.set("CONTENT", "のと")
        return glyph

    name, line = _edit(root, layout, edit)
    return name, line, "holds 'のと', 2 characters: a Glyph is one character"


CASES = [
    _missing_image,
    _glyph_without_coordinates,
    _line_with_text_but_no_glyphs,
    _broken_xml,
    _glyph_of_two_characters,
]


@pytest.mark.parametrize("layout", ["page", "alto"])
@pytest.mark.parametrize("break_it", CASES, ids=[case.__name__.strip("_") for case in CASES])
def test_a_bad_file_is_named_and_skip_mode_still_writes_the_other_pages(tmp_path, layout, break_it):
    root = tmp_path / "data"
    records = write_folder(root, layout)
    name, line, fragment = break_it(root, layout)
    with pytest.raises(DataError) as info:
        read_xml_folder(root, layout)
    message = str(info.value)
    assert "\n" not in message and fragment in message
    if line is None:  # lxml says where the text stopped making sense
        assert message.startswith(str(root / name) + ":") and message.split(":")[1].isdigit()
    else:
        assert message.startswith(f"{root / name}:{line}:")

    out = tmp_path / "records"
    manifest = build(root, out, layout, on_error="skip")
    assert manifest["rows"][f"{layout}_files"] == 3 and manifest["skipped"]["count"] == 1
    pages = read_back(out)
    assert sorted(pages) == ["bookA_p1", "bookB_p1"]
    for kept in ("bookA/p1.jpg", "bookB/p1.jpg"):
        assert_same(pages[kept.removesuffix(".jpg").replace("/", "_")][1], expected(records[kept]))
    with open(out / "skipped.csv", newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["file"] == str(root / name) and fragment in row["problem"]
    if line is not None:
        assert row["line"] == str(line)


def _put_unknown(root: Path, layout: str) -> tuple[str, int]:
    def edit(root_element, q):
        glyph = root_element.findall(f".//{q('Glyph')}")[2]
        if layout == "page":
            for unicode in glyph.iter(q("Unicode")):
                unicode.text = UNKNOWN_CHAR
        else:
            glyph.set("CONTENT", UNKNOWN_CHAR)
        return glyph

    return _edit(root, layout, edit)


@pytest.mark.parametrize("layout", ["page", "alto"])
def test_unknown_characters_are_reported_refused_or_added(tmp_path, layout):
    root = tmp_path / "data"
    records = write_folder(root, layout)
    name, line = _put_unknown(root, layout)

    # raise: one error after the whole folder, naming the character, its count and where it is.
    with pytest.raises(DataError) as info:
        read_xml_folder(root, layout)
    message = str(info.value)
    assert message.startswith(f"{root}: 1 character(s) outside the vocabulary ")
    assert f"'{UNKNOWN_CHAR}' U+20B9F x1 ({name}:{line})" in message and "--add-unknown" in message

    # skip: the page is left out whole (not trimmed), listed, and the report names the character.
    out = tmp_path / "skip"
    manifest = build(root, out, layout, on_error="skip")
    assert sorted(read_back(out)) == ["bookA_p1", "bookB_p1"]
    assert manifest["unknown_characters"] == {"count": 1, "glyphs": 1, "added": 0, "report": UNKNOWN_REPORT}
    with open(out / UNKNOWN_REPORT, newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == [
            {
                "code": "U+20B9F",
                "char": UNKNOWN_CHAR,
                "glyphs": "1",
                "files": "1",
                "vocabulary": "pages left out",
                "places": f"{name}:{line}",
            }
        ]
    with open(out / "skipped.csv", newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["file"] == str(root / name) and "U+20B9F" in row["problem"]

    # --add-unknown: every page kept, the character joins the vocabulary and has its crop.
    out = tmp_path / "add"
    manifest = build(root, out, layout, add_unknown=True)
    assert manifest["unknown_characters"]["added"] == 1 and manifest["skipped"]["count"] == 0
    assert ("U+20B9F", UNKNOWN_CHAR) in read_vocabulary(out)
    want = expected(records[BROKEN])
    want[2] = ("U+20B9F", want[2][1])
    assert_same(read_back(out)["bookA_p2"][1], want)
    from kuzushiji_tf.data import pipeline

    assert [c["code"].numpy().decode() for c in pipeline.read_crops(out, "train")].count("U+20B9F") == 1


def test_add_unknown_is_refused_for_the_csv_layouts(tmp_path, capsys):
    args = ["--data-dir", str(SAMPLE_DIR), "--out", str(tmp_path / "r"), "--add-unknown", "--quiet"]
    assert build_records_tool.main(args) == 2
    assert "--add-unknown is for the page and alto layouts" in capsys.readouterr().err


def test_copies_of_the_real_test_pages_are_left_out_of_the_records(tmp_path):
    """A real test page transcribed or recognised, under another name in a document folder, is still the
    test page (`evaluation.test_set`, by its bytes): listed, never written; the other pages are."""
    root = tmp_path / "data"
    records = write_folder(root, "page", {"bookB/p1.jpg": TINY["bookB/p1.jpg"]})
    test_page = read_train(SAMPLE_DIR).pages[0]
    (root / "bookA").mkdir()
    shutil.copy(test_page.image_path, root / "bookA" / "scan_17.jpg")
    record = make_record("scan_17.jpg", [(c.code, c.box) for c in test_page.chars], (test_page.width, test_page.height))
    write_xml("page", record, root / "bookA" / "scan_17.xml", "scan_17.jpg")
    for on_error in ("raise", "skip"):
        out = tmp_path / on_error
        manifest = build(root, out, "page", on_error=on_error)
        assert list(read_back(out)) == ["bookB_p1"] and manifest["rows"]["page_files"] == 2
        with open(out / "skipped.csv", newline="", encoding="utf-8") as handle:
            (row,) = list(csv.DictReader(handle))
        assert row["image_id"] == "bookA_scan_17" and f"the real test page {test_page.image_id}" in row["problem"]
    assert_same(read_back(out)["bookB_p1"][1], expected(records["bookB/p1.jpg"]))


def test_the_code_table_maps_characters_written_as_another(tmp_path):
    """Kaggle's table writes U+3007 as '0'; our writers write a glyph's table character, so it must read back."""
    root = tmp_path / "data"
    write_folder(root, "page", {"b/p.jpg": [("U+3007", (60, 20, 90, 50))]})
    text = (root / "b/p.jpg.page.xml").read_text(encoding="utf-8")
    assert "<Unicode>0</Unicode>" in text
    assert chars_of(read_xml_folder(root, "page").pages[0]) == [("U+3007", (60.0, 20.0, 90.0, 50.0))]


# ---- images: found inside the data folder only ---------------------------------------------------------------


def _single_page(root: Path, image_name: str, xml_name: str = "p.xml") -> Path:
    record = make_record("p.jpg", [("U+3042", (60, 20, 90, 50))])
    return write_xml("page", record, root / xml_name, image_name)


def test_an_image_name_leading_outside_the_data_folder_is_not_opened(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    write_page_image(tmp_path / "outside.jpg", *SIZE)
    _single_page(root, "../outside.jpg")
    with pytest.raises(
        DataError,
        match=r"p.xml:\d+: image file is missing: the file names '../outside.jpg' \(a path leading outside the data folder is not opened\)",
    ):
        read_xml_folder(root, "page")
    _single_page(root, str(tmp_path / "outside.jpg"))  # an absolute path outside: the same
    with pytest.raises(DataError, match="leading outside the data folder is not opened"):
        read_xml_folder(root, "page")


def test_image_found_by_its_leaf_name_or_the_file_stem_and_size_checked(tmp_path):
    root = tmp_path / "data"
    write_page_image(root / "p.jpg", *SIZE)
    _single_page(root, "C:\\Users\\someone\\scans\\p.jpg", "other.xml")  # a path of the machine that wrote it
    assert read_xml_folder(root, "page").pages[0].image_path == root / "p.jpg"
    (root / "other.xml").unlink()
    _single_page(root, "https://example.org/iiif/p/full/max/0/default.jpg", "p.xml")  # a URL: the file's stem
    assert read_xml_folder(root, "page").pages[0].image_path == root / "p.jpg"

    write_page_image(root / "p.jpg", 80, 100)  # another size of the scan: its coordinates would be wrong
    with pytest.raises(DataError, match=r"the file's page is 160x200 pixels but its image p.jpg is 80x100"):
        read_xml_folder(root, "page")


def test_two_files_of_one_image_are_refused(tmp_path):
    root = tmp_path / "data"
    write_page_image(root / "p.jpg", *SIZE)
    _single_page(root, "p.jpg", "a.xml")
    _single_page(root, "p.jpg", "b.xml")
    with pytest.raises(DataError, match=r"b.xml:\d+: image p.jpg is also the page of a.xml: one file per page"):
        read_xml_folder(root, "page")


def test_a_file_without_glyphs_is_left_out_and_listed_in_both_modes(tmp_path):
    root = tmp_path / "data"
    write_folder(root, "page")
    blank = make_record("blank.jpg", [])
    write_page_image(root / "blank.jpg", *SIZE)
    write_xml("page", blank, root / "blank.jpg.page.xml", "blank.jpg")
    for on_error in ("raise", "skip"):
        result = read_xml_folder(root, "page", on_error=on_error)
        assert len(result.pages) == 3 and result.rows == 4
        assert [(Path(s.file).name, s.problem) for s in result.skipped] == [("blank.jpg.page.xml", NO_GLYPHS)]


def test_auto_detection_tells_page_from_alto_and_ignores_other_xml(tmp_path):
    root = tmp_path / "data"
    write_folder(root, "page")
    (root / "mets.xml").write_text('<mets:mets xmlns:mets="http://www.loc.gov/METS/"/>', encoding="utf-8")
    assert detect_layout(root) == "page" and read_xml_folder(root, "page").rows == 3
    write_folder(root, "alto")
    with pytest.raises(
        DataError, match=r"holds both layouts .*found page, alto\); choose one with --layout page or --layout alto"
    ):
        detect_layout(root)
    assert len(read_xml_folder(root, "alto").pages) == 3  # each layout reads its own files only
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(root / "mets.xml", other)
    with pytest.raises(DataError, match="holds none of the layouts read"):
        detect_layout(other)
    with pytest.raises(DataError, match=r"holds no PAGE-XML \(PcGts\) files"):
        read_xml_folder(other, "page")


def test_the_fingerprint_follows_the_xml_files(tmp_path):
    """A changed file is a different build: resuming into the old folder is refused, not mixed."""
    root = tmp_path / "data"
    write_folder(root, "page")
    build(root, tmp_path / "r", "page")
    _put_unknown(root, "page")
    with pytest.raises(DataError, match="already holds records built from other data or options"):
        build(root, tmp_path / "r", "page", add_unknown=True)
    manifest = json.loads((tmp_path / "r" / MANIFEST).read_text())
    assert manifest["source"]["page_files"] == 3 and len(manifest["source"]["page_files_sha256"]) == 64
