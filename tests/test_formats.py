"""Output formats (kuzushiji_tf.formats): PAGE and ALTO validate against their official schemas (vendored in
tests/schemas/), and every format gives back each character, its box and its order when parsed."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from urllib.parse import unquote

import numpy as np
import pytest
from lxml import etree

from kuzushiji_tf import __version__
from kuzushiji_tf.formats import (
    DEFAULT_FORMATS,
    FORMATS,
    PageSource,
    alto,
    hocr,
    iiif_annotations,
    json_record,
    page_xml,
    parse_formats,
    tei,
    txt,
)
from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    DET_SCORES,
    OUT_BOXES,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
)
from kuzushiji_tf.recognition.page_text import page_record

WIDTH, HEIGHT = 600, 800
IMAGE = 'scan "A&B" <1>.jpg'  # everything XML, hOCR's quoted strings and URIs must escape
CREATED = "2024-05-06T07:08:09Z"
S = 40  # character side

# Two blocks (a band of 170 px, over 1.5 character heights, splits them), columns right to left, characters
# top to bottom, in reading order. The first box leaves the page at the top and the right (clipped), the
# fifth has fractional edges (rounded outwards).
READING = [  # (code, box)
    ("U+3042", (562, -3, 602, 37)),
    ("U+0026", (562, 47, 602, 87)),
    ("U+1B002", (562, 97, 602, 137)),
    ("U+304B", (562, 147, 602, 187)),
    ("U+003C", (500.4, 40.6, 539.7, 80.2)),
    ("U+3044", (500, 90, 540, 130)),
    ("U+3046", (500, 140, 540, 180)),
    ("U+3048", (440, 40, 480, 80)),
    ("U+304A", (440, 90, 480, 130)),
    ("U+1B002", (540, 400, 580, 440)),
    ("U+3042", (540, 450, 580, 490)),
    ("U+0026", (540, 500, 580, 540)),
    ("U+304D", (480, 400, 520, 440)),
    ("U+304F", (480, 450, 520, 490)),
]
COLUMNS = ["あ&\U0001b002か", "<いう", "えお", "\U0001b002あ&", "きく"]
BLOCK_OF_COLUMN = [0, 0, 0, 1, 1]
PROBS = [round(0.5 + 0.035 * k, 4) for k in range(len(READING))]
CLS_THRESHOLD = 0.6  # the first three characters (0.5, 0.535, 0.57) are uncertain
# Each character's candidates after its own class: two others, the second a character outside the BMP.
OTHERS = [("U+304B", "U+1B001") if code != "U+304B" else ("U+3042", "U+1B001") for code, _ in READING]
SHARES = (0.6, 0.3)  # of what the own class leaves


def expected_candidates(k: int) -> list[tuple[str, float]]:
    """(code, probability) of the k-th character in reading order, its own first."""
    rest = 1 - PROBS[k]
    return [(READING[k][0], PROBS[k])] + [(code, round(rest * s, 4)) for code, s in zip(OTHERS[k], SHARES)]


def expected_box(box) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (max(math.floor(x0), 0), max(math.floor(y0), 0), min(math.ceil(x1), WIDTH), min(math.ceil(y1), HEIGHT))


EXPECTED = [(chr(int(code[2:], 16)), expected_box(box)) for code, box in READING]


@pytest.fixture(scope="module")
def record() -> dict:
    """The real page_record of a recogniser result listing the characters shuffled."""
    shuffle = np.random.default_rng(3).permutation(len(READING))
    result = {
        CODES: [READING[i][0] for i in shuffle],
        CODEPOINTS: np.array([int(READING[i][0][2:], 16) for i in shuffle], np.int32),
        OUT_BOXES: np.array([READING[i][1] for i in shuffle], np.float32),
        DET_SCORES: np.full(len(READING), 0.9, np.float32),
        CLASS_PROBS: np.array([PROBS[i] for i in shuffle], np.float32),
        TOPK_CODEPOINTS: np.array([[int(c[2:], 16) for c, _ in expected_candidates(i)] for i in shuffle], np.int32),
        TOPK_PROBS: np.array([[p for _, p in expected_candidates(i)] for i in shuffle], np.float32),
    }
    made = page_record(IMAGE, result, {"U+3042": "あ"}, size=(WIDTH, HEIGHT), cls_threshold=CLS_THRESHOLD)
    # The layout this file's expectations assume: if reading order changes, fix READING, not the formats.
    assert made["columns"] == COLUMNS
    assert [c["char"] for c in made["characters"]] == [char for char, _ in EXPECTED]
    assert [c["block"] for c in made["characters"]] == [0] * 9 + [1] * 5
    assert [c["uncertain"] for c in made["characters"]] == [True] * 3 + [False] * 11
    assert [[(d["code"], d["probability"]) for d in c["candidates"]] for c in made["characters"]] == [
        expected_candidates(k) for k in range(len(READING))
    ]
    return made


@pytest.fixture(scope="module")
def empty() -> dict:
    result = {
        CODES: [],
        OUT_BOXES: np.zeros((0, 4), np.float32),
        DET_SCORES: np.zeros(0, np.float32),
        CLASS_PROBS: np.zeros(0, np.float32),
    }
    return page_record("blank.png", result, {}, size=(300, 200), cls_threshold=CLS_THRESHOLD)


@pytest.fixture(scope="module")
def source(record) -> PageSource:
    return PageSource.from_record(record, created=CREATED)


def parse(text: str):
    return etree.fromstring(text.encode("utf-8"))


def validate(schema, text: str) -> None:
    document = parse(text)
    assert schema.validate(document), "\n".join(str(e) for e in schema.error_log)


def points_box(points: str) -> tuple[int, int, int, int]:
    xs, ys = zip(*(map(int, p.split(",")) for p in points.split()))
    return min(xs), min(ys), max(xs), max(ys)


def position_box(element) -> tuple[int, int, int, int]:
    x, y, w, h = (int(float(element.get(k))) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    return x, y, x + w, y + h


# ---- registry ---------------------------------------------------------------------------------------------


def test_registry_names_suffixes_and_kinds():
    assert list(FORMATS) == ["txt", "json", "page", "alto", "hocr", "tei", "iiif"]
    assert {n: f.suffix for n, f in FORMATS.items()} == {
        "txt": ".txt",
        "json": ".json",
        "page": ".page.xml",
        "alto": ".alto.xml",
        "hocr": ".hocr.html",
        "tei": "tei.xml",
        "iiif": ".annotations.json",
    }
    assert [n for n, f in FORMATS.items() if not f.per_page] == ["tei"]
    assert FORMATS["page"].file_name("a/b.jpg") == "a/b.jpg.page.xml"
    assert FORMATS["tei"].file_name() == "tei.xml"
    with pytest.raises(ValueError, match="one file per page"):
        FORMATS["alto"].file_name()


def test_parse_formats():
    assert parse_formats(DEFAULT_FORMATS) == ["txt", "json"]
    assert parse_formats(" page , ALTO,page") == ["page", "alto"]
    assert parse_formats("all") == list(FORMATS)
    assert parse_formats("txt,all") == list(FORMATS)


@pytest.mark.parametrize("spec, named", [("txt,pdf", "'pdf'"), ("xml,docx", "'xml', 'docx'")])
def test_parse_formats_names_the_unknown_and_lists_the_known(spec, named):
    with pytest.raises(ValueError) as error:
        parse_formats(spec)
    message = str(error.value)
    assert named in message
    assert all(name in message for name in FORMATS)


def test_parse_formats_refuses_an_empty_list():
    with pytest.raises(ValueError, match="no output format"):
        parse_formats(" , ")


def test_formats_import_no_tensorflow():
    code = "import sys, kuzushiji_tf.formats; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_page_source_from_record(record):
    assert PageSource.from_record(record) == PageSource(IMAGE, WIDTH, HEIGHT)
    assert PageSource.from_record(record).software == f"kuzushiji_tf {__version__}"
    with pytest.raises(ValueError, match="width"):
        PageSource.from_record({"image": "x.jpg", "columns": [], "characters": []})
    with pytest.raises(ValueError, match="positive"):
        PageSource("x.jpg", 0, 10)


# ---- txt and json -----------------------------------------------------------------------------------------


def test_txt_is_one_column_a_line_and_stays_importable_from_page_text(record, source, empty):
    from kuzushiji_tf.formats.txt import page_text

    assert page_text is txt.page_text
    assert txt.render(record, source) == "".join(c + "\n" for c in COLUMNS)
    assert txt.render(empty, source) == ""


def test_json_is_the_record_as_folder_recognition_writes_it(record, source):
    text = json_record.render(record, source)
    assert text == json.dumps(record, ensure_ascii=False, indent=1)
    assert "\U0001b002" in text  # not escaped
    assert json.loads(text) == record


# ---- PAGE-XML ---------------------------------------------------------------------------------------------

PC = {"pc": page_xml.NS}


def test_page_xml_validates_and_round_trips(record, source, schemas):
    text = page_xml.render(record, source)
    validate(schemas["page"], text)
    root = parse(text)
    page = root.find("pc:Page", PC)
    assert (page.get("imageFilename"), page.get("imageWidth"), page.get("imageHeight")) == (IMAGE, "600", "800")
    assert (page.get("readingDirection"), page.get("textLineOrder")) == ("top-to-bottom", "right-to-left")
    assert root.findtext("pc:Metadata/pc:Creator", namespaces=PC) == f"kuzushiji_tf {__version__}"
    assert root.findtext("pc:Metadata/pc:Created", namespaces=PC) == CREATED
    glyphs = root.findall(".//pc:Glyph", PC)
    assert [
        (g.findtext("pc:TextEquiv/pc:Unicode", namespaces=PC), points_box(g.find("pc:Coords", PC).get("points")))
        for g in glyphs
    ] == EXPECTED
    assert [float(g.find("pc:TextEquiv", PC).get("conf")) for g in glyphs] == pytest.approx(PROBS, abs=1e-4)
    # Every candidate a TextEquiv, index 1 the reading chosen, then the alternatives in the record's order.
    for k, g in enumerate(glyphs):
        equivs = g.findall("pc:TextEquiv", PC)
        assert [e.get("index") for e in equivs] == ["1", "2", "3"]
        assert [(chr(int(code[2:], 16)) if code != "U+3042" else "あ", p) for code, p in expected_candidates(k)] == [
            (e.findtext("pc:Unicode", namespaces=PC), pytest.approx(float(e.get("conf")), abs=1e-4)) for e in equivs
        ]
    regions = page.findall("pc:TextRegion", PC)
    assert [
        [line.findtext("pc:TextEquiv/pc:Unicode", namespaces=PC) for line in r.findall("pc:TextLine", PC)]
        for r in regions
    ] == [COLUMNS[:3], COLUMNS[3:]]
    assert [w.findtext("pc:TextEquiv/pc:Unicode", namespaces=PC) for w in root.findall(".//pc:Word", PC)] == COLUMNS
    order = [ref.get("regionRef") for ref in page.findall("pc:ReadingOrder/pc:OrderedGroup/pc:RegionRefIndexed", PC)]
    assert order == [r.get("id") for r in regions]
    # A region's polygon holds its characters.
    assert points_box(regions[1].find("pc:Coords", PC).get("points")) == (480, 400, 580, 540)


def test_page_xml_of_an_empty_page_validates(empty, schemas):
    text = page_xml.render(empty, PageSource.from_record(empty))
    validate(schemas["page"], text)
    assert parse(text).findall(".//pc:TextRegion", PC) == []


# ---- ALTO -------------------------------------------------------------------------------------------------

AL = {"a": alto.NS}


def test_alto_validates_and_round_trips(record, source, schemas):
    text = alto.render(record, source)
    validate(schemas["alto"], text)
    root = parse(text)
    assert root.findtext("a:Description/a:MeasurementUnit", namespaces=AL) == "pixel"
    assert root.findtext("a:Description/a:sourceImageInformation/a:fileName", namespaces=AL) == IMAGE
    assert root.findtext(".//a:processingSoftware/a:softwareVersion", namespaces=AL) == __version__
    page = root.find("a:Layout/a:Page", AL)
    assert (page.get("WIDTH"), page.get("HEIGHT"), page.get("PHYSICAL_IMG_NR")) == ("600", "800", "1")
    glyphs = root.findall(".//a:Glyph", AL)
    assert [(g.get("CONTENT"), position_box(g)) for g in glyphs] == EXPECTED
    assert [float(g.get("GC")) for g in glyphs] == pytest.approx(PROBS, abs=1e-4)
    # The other candidates are Variants, in the record's order.
    for k, g in enumerate(glyphs):
        variants = [(v.get("CONTENT"), float(v.get("VC"))) for v in g.findall("a:Variant", AL)]
        expected = [(chr(int(code[2:], 16)) if code != "U+3042" else "あ", p) for code, p in expected_candidates(k)]
        assert variants == [(char, pytest.approx(p, abs=1e-4)) for char, p in expected[1:]]
    blocks = root.findall(".//a:TextBlock", AL)
    assert [b.get("BASEDIRECTION") for b in blocks] == ["ttb", "ttb"]
    strings = [[s.get("CONTENT") for s in b.findall("a:TextLine/a:String", AL)] for b in blocks]
    assert strings == [COLUMNS[:3], COLUMNS[3:]]


def test_alto_of_an_empty_page_validates(empty, schemas):
    text = alto.render(empty, PageSource.from_record(empty, page_number=7))
    validate(schemas["alto"], text)
    root = parse(text)
    assert root.findall(".//a:TextBlock", AL) == []
    assert root.find("a:Layout/a:Page", AL).get("PHYSICAL_IMG_NR") == "7"


# ---- hOCR -------------------------------------------------------------------------------------------------

XH = {"h": hocr.XHTML}


def hocr_property(title: str, name: str) -> str:
    for part in title.split(";"):
        key, _, value = part.strip().partition(" ")
        if key == name:
            return value
    raise KeyError(name)


def ints(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split())


def test_hocr_round_trips(record, source):
    root = parse(hocr.render(record, source))
    assert root.get("lang") == "ja"
    meta = {m.get("name"): m.get("content") for m in root.findall("h:head/h:meta", XH) if m.get("name")}
    assert meta["ocr-system"] == f"kuzushiji_tf {__version__}"
    assert set(meta["ocr-capabilities"].split()) >= {"ocr_page", "ocr_carea", "ocr_line", "ocrx_word", "ocrx_cinfo"}
    page = root.find(".//h:div[@class='ocr_page']", XH)
    assert "vertical-rl" in page.get("style")
    image = re.match(r'image "((?:[^"\\]|\\.)*)"', page.get("title")).group(1)
    assert re.sub(r"\\(.)", r"\1", image) == IMAGE
    assert ints(hocr_property(page.get("title"), "bbox")) == (0, 0, WIDTH, HEIGHT)
    words = root.findall(".//h:span[@class='ocrx_word']", XH)
    cinfos = [w.find("h:span[@class='ocrx_cinfo']", XH) for w in words]
    chosen = [c.find("h:span[@class='alternatives']/h:ins[@class='alt']", XH) for c in cinfos]
    assert [(ins.text, ints(hocr_property(c.get("title"), "x_bboxes"))) for ins, c in zip(chosen, cinfos)] == EXPECTED
    assert [ints(hocr_property(w.get("title"), "bbox")) for w in words] == [box for _, box in EXPECTED]
    assert [float(hocr_property(c.get("title"), "x_confs")) for c in cinfos] == pytest.approx(
        [100 * p for p in PROBS], abs=0.01
    )
    # The alternatives: the reading chosen as <ins>, then the other candidates as <del>, with x_cost = -ln p.
    for k, c in enumerate(cinfos):
        alts = c.findall("h:span[@class='alternatives']/*", XH)
        assert [etree.QName(a).localname for a in alts] == ["ins", "del", "del"]
        costs = [float(hocr_property(a.get("title"), "x_cost")) for a in alts]
        assert costs == pytest.approx([-math.log(p) for _, p in expected_candidates(k)], abs=1e-3)
    areas = root.findall(".//h:div[@class='ocr_carea']", XH)

    def chosen_text(line) -> str:  # the text an hOCR reader takes: without the <del> alternatives
        return "".join(t for e in line.iter() if etree.QName(e).localname != "del" for t in [e.text or ""])

    # No whitespace between a line's characters: a line's chosen text is exactly its column.
    assert [[chosen_text(line) for line in a.findall("h:span[@class='ocr_line']", XH)] for a in areas] == [
        COLUMNS[:3],
        COLUMNS[3:],
    ]


def test_hocr_of_an_empty_page(empty):
    root = parse(hocr.render(empty, PageSource.from_record(empty)))
    assert root.find(".//h:div[@class='ocr_page']", XH) is not None
    assert root.findall(".//h:span[@class='ocrx_word']", XH) == []


# ---- TEI --------------------------------------------------------------------------------------------------

TE = {"t": tei.NS}
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"


def test_tei_document_round_trips_every_page(record, source, empty):
    canvas = "https://example.org/iiif/book/canvas/p2"
    second = PageSource.from_record(empty, canvas=canvas, manifest="https://example.org/iiif/book/manifest")
    root = parse(tei.render_document([(record, source), (empty, second)], created=CREATED))
    header = root.find("t:teiHeader", TE)
    application = header.find(".//t:appInfo/t:application", TE)
    assert (application.get("ident"), application.get("version")) == ("kuzushiji_tf", __version__)
    assert header.find(".//t:creation/t:date", TE).get("when") == CREATED
    assert [i.text for i in header.findall(".//t:sourceDesc//t:item", TE)] == [IMAGE, "blank.png"]
    zones = {
        z.get(XML_ID): (z.get("type"), tuple(int(z.get(k)) for k in ("ulx", "uly", "lrx", "lry")))
        for z in root.iter(f"{{{tei.NS}}}zone")
    }
    surfaces = {s.get(XML_ID): s for s in root.iter(f"{{{tei.NS}}}surface")}
    assert root.find("t:facsimile", TE).get("sameAs") == "https://example.org/iiif/book/manifest"

    body = root.find("t:text/t:body", TE)
    pages, current = [], None
    for element in body.iter(f"{{{tei.NS}}}pb", f"{{{tei.NS}}}lb", f"{{{tei.NS}}}c"):
        target = element.get("facs")[1:]
        tag = etree.QName(element).localname
        if tag == "pb":
            current = {"surface": surfaces[target], "lines": [], "chars": []}
            pages.append(current)
        elif tag == "lb":
            assert zones[target][0] == "line"
            current["lines"].append([])
        else:
            assert zones[target][0] == "character"
            current["lines"][-1].append(element.text)
            current["chars"].append((element.text, zones[target][1]))
    assert len(pages) == 2
    first, second_page = pages
    assert first["chars"] == EXPECTED
    assert ["".join(line) for line in first["lines"]] == COLUMNS
    graphic = first["surface"].find("t:graphic", TE)
    assert graphic.get("url") == IMAGE
    assert (first["surface"].get("lrx"), first["surface"].get("lry")) == ("600", "800")
    assert second_page["chars"] == [] and second_page["lines"] == []
    assert second_page["surface"].get("sameAs") == canvas
    # The characters under the class threshold (the first three) carry TEI's cert="low"; the rest no cert.
    assert [c.get("cert") for c in body.iter(f"{{{tei.NS}}}c")] == ["low"] * 3 + [None] * 11
    # Blocks: one <ab> per block, pointing at a block zone that holds its columns.
    abs_ = body.findall("t:ab", TE)
    assert [zones[ab.get("facs")[1:]] for ab in abs_] == [
        ("block", (440, 0, 600, 187)),
        ("block", (480, 400, 580, 540)),
    ]


def test_tei_text_has_no_space_inside_a_column(record, source):
    root = parse(tei.render_document([(record, source)], created="2024-05-06"))
    text = "".join(root.find("t:text/t:body", TE).itertext())
    assert [line for line in text.split() if line] == COLUMNS


# ---- IIIF -------------------------------------------------------------------------------------------------


def xywh(target: str) -> tuple[str, tuple[int, int, int, int]]:
    canvas, fragment = target.split("#xywh=")
    x, y, w, h = (int(v) for v in fragment.split(","))
    return canvas, (x, y, x + w, y + h)


def test_iiif_annotation_page_round_trips(record, source):
    page = json.loads(iiif_annotations.render(record, source))
    assert page["type"] == "AnnotationPage"
    assert page["@context"][-1] == "http://iiif.io/api/presentation/3/context.json"
    assert "http://iiif.io/api/extension/text-granularity/context.json" in page["@context"]
    items = page["items"]
    assert all(a["type"] == "Annotation" and a["motivation"] == "supplementing" for a in items)
    assert all(
        a["body"]["type"] == "TextualBody" and a["body"]["format"] == "text/plain" and a["body"]["language"] == "ja"
        for a in items
    )
    glyphs = [a for a in items if a["textGranularity"] == "glyph"]
    lines = [a for a in items if a["textGranularity"] == "line"]
    assert [(a["body"]["value"], xywh(a["target"])[1]) for a in glyphs] == EXPECTED
    assert [a["body"]["value"] for a in lines] == COLUMNS
    assert len(items) == len(EXPECTED) + len(COLUMNS)
    assert len({a["id"] for a in items}) == len(items)
    # Without a canvas the target is derived from the image name, and leads back to it.
    canvases = {xywh(a["target"])[0] for a in items}
    assert len(canvases) == 1
    derived = canvases.pop()
    assert derived.startswith("urn:kuzushiji-tf:canvas:") and not re.search(r'[ "<>&#]', derived)
    assert unquote(derived.removeprefix("urn:kuzushiji-tf:canvas:")) == IMAGE


def test_iiif_targets_the_given_canvas(record, empty):
    canvas = "https://example.org/iiif/book/canvas/p1"
    page = json.loads(iiif_annotations.render(record, PageSource.from_record(record, canvas=canvas)))
    assert {xywh(a["target"])[0] for a in page["items"]} == {canvas}
    assert page["id"].startswith(canvas)
    assert json.loads(iiif_annotations.render(empty, PageSource.from_record(empty)))["items"] == []


# ---- every format ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.per_page])
def test_every_per_page_format_renders_text_the_same_every_time(name, record, empty, source):
    """Same record and source, same bytes: a resumed run rewrites a page exactly as before."""
    for page, where in ((record, source), (empty, PageSource.from_record(empty, created=CREATED))):
        out = FORMATS[name].render(page, where)
        assert isinstance(out, str) and out == FORMATS[name].render(page, where)
