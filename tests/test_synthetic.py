"""The synthetic generator: Kaggle layout, valid labels, tight boxes, reading order, determinism, fonts."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from kuzushiji_tf.cli import make_synthetic
from kuzushiji_tf.structures import book_of, code_to_char
from kuzushiji_tf.synthetic import (
    FONT_DIR_ENV,
    FontNotFoundError,
    build_charset,
    find_fonts,
    generate_dataset,
    render_page,
    sample_book_style,
)
from kuzushiji_tf.synthetic import fonts as fonts_module
from kuzushiji_tf.synthetic.charset import TABLE_PATH, read_table
from kuzushiji_tf.synthetic.fonts import has_glyph
from kuzushiji_tf.synthetic.layout import INK_THRESHOLD
from kuzushiji_tf.user_cache import CACHE_DIR_ENV

REPO = Path(__file__).resolve().parents[1]
try:
    FONTS = find_fonts()
except FontNotFoundError:  # `make test` installs them; the missing-font test does not need them
    FONTS = None
needs_fonts = pytest.mark.skipif(FONTS is None, reason="no Japanese font installed (fonts-kouzan-mouhitsu)")
TABLE = read_table()


def _read_csv(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == ["image_id", "labels"]
        return [(row[0], row[1]) for row in reader]


def _groups(labels: str) -> list[tuple[str, int, int, int, int]]:
    tokens = labels.split()
    assert len(tokens) % 5 == 0
    return [(tokens[i], *map(int, tokens[i + 1 : i + 5])) for i in range(0, len(tokens), 5)]


def _style(seed: int = 0, **changes):
    style = sample_book_style(np.random.default_rng(seed), FONTS)
    return dataclasses.replace(style, **changes)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    summary = generate_dataset(out, 8, num_test_pages=3, num_books=3, seed=7, page_height=480, empty_fraction=0.15)
    return out, summary


@needs_fonts
def test_writes_the_kaggle_layout(dataset):
    out, summary = dataset
    names = {p.name for p in out.iterdir()}
    assert names == {
        "train.csv",
        "unicode_translation.csv",
        "sample_submission.csv",
        "test_truth.csv",
        "synthetic.json",
        "train_images",
        "test_images",
    }
    assert not [p for p in out.rglob(".*")], "temporary files left behind"
    assert (out / "unicode_translation.csv").read_bytes() == TABLE_PATH.read_bytes()
    train, truth, submission = (_read_csv(out / n) for n in ("train.csv", "test_truth.csv", "sample_submission.csv"))
    assert sorted(i for i, _ in train) == sorted(p.stem for p in (out / "train_images").glob("*.jpg"))
    assert len(train) == 8 and len(truth) == 3
    assert [i for i, _ in submission] == [i for i, _ in truth]
    assert sorted(i for i, _ in truth) == sorted(p.stem for p in (out / "test_images").glob("*.jpg"))
    assert all(labels == "" for _, labels in submission)
    info = json.loads((out / "synthetic.json").read_text())
    assert info["seed"] == 7 and info["charset_size"] == summary["charset_size"] > 300
    assert sum(b["pages"] for b in info["books"].values()) == 11
    assert info["fonts"] and info["chars"] == summary["chars"] == sum(len(_groups(lab)) for _, lab in train)


@needs_fonts
def test_ids_name_several_books_and_test_pages_have_their_own(dataset):
    out, _ = dataset
    train = _read_csv(out / "train.csv")
    assert all(re.fullmatch(r"synth\d{4}_\d{5}_[12]", i) for i, _ in train)
    assert len({book_of(i) for i, _ in train}) == 3
    assert all(re.fullmatch(r"test_[0-9a-f]{8}", i) for i, _ in _read_csv(out / "test_truth.csv"))
    books = json.loads((out / "synthetic.json").read_text())["books"]
    test_books = {b for b, d in books.items() if d["split"] == "test"}
    assert test_books and not test_books & {book_of(i) for i, _ in train}
    # Books differ in style, so a book-grouped split means something.
    assert len({json.dumps(d["style"], sort_keys=True) for d in books.values()}) == len(books)


@needs_fonts
def test_labels_are_table_codes_with_boxes_inside_the_image(dataset):
    out, summary = dataset
    empty = 0
    for folder, name in (("train_images", "train.csv"), ("test_images", "test_truth.csv")):
        for image_id, labels in _read_csv(out / name):
            image = cv2.imread(str(out / folder / f"{image_id}.jpg"))
            h, w = image.shape[:2]
            assert h == 480 and 0.58 < w / h < 0.66
            groups = _groups(labels)
            empty += not groups
            for code, x, y, bw, bh in groups:
                assert code in TABLE, code
                assert bw >= 1 and bh >= 1 and x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
    assert empty == summary["empty_pages"] == 1


@needs_fonts
def test_csv_order_is_reading_order(dataset):
    """Columns right to left, top to bottom inside a column: a new column starts where y jumps back up."""
    out, _ = dataset
    for _, labels in _read_csv(out / "train.csv"):
        columns, previous = [], None
        for _, x, y, w, h in _groups(labels):
            if previous is None or y < previous[1]:
                columns.append([])
            else:
                assert y >= previous[1] + previous[3], "glyphs of a column overlap"
            columns[-1].append(x + w / 2)
            previous = (x, y, w, h)
        centres = [np.mean(c) for c in columns]
        assert all(a > b for a, b in itertools.pairwise(centres)), centres


@needs_fonts
def test_render_page_order_columns_and_sizes():
    sizes, counts = [], []
    for seed in range(4):
        image, chars, debug = render_page(seed, _style(seed), page_height=1300, fonts=FONTS, return_debug=True)
        _h, w = image.shape[:2]
        assert image.dtype == np.uint8 and image.shape == (1300, w, 3)
        cols = debug.columns
        assert cols == sorted(cols) and 1 <= len(set(cols)) <= 9
        for k in set(cols):
            ys = [c.box[1] for c, col in zip(chars, cols) if col == k]
            assert ys == sorted(ys)
        centres = [np.mean([c.center[0] for c, col in zip(chars, cols) if col == k]) for k in sorted(set(cols))]
        assert all(a > b for a, b in itertools.pairwise(centres))
        sizes += [(c.xywh[2] + c.xywh[3]) / 2 / w for c in chars]
        counts.append(len(chars))
    # Kaggle sample pages: median 5.5% of the short side, 67-167 characters (docs/recipe.md).
    assert 0.04 < np.median(sizes) < 0.07
    assert all(20 <= n <= 250 for n in counts) and np.mean(counts) > 60


@needs_fonts
def test_columns_space_and_shape_characters_as_real_pages_do():
    # On the 46 unlabelled real scans (a detector's confident boxes, tools/ink_statistics.py's sample), 8 %
    # of the gaps down a column are under 5 % of a character's height (cursive characters nearly touch)
    # and boxes are 1.34 x as tall as wide; the generator drew 1 % and 1.21 before it matched them.
    gaps, ratios = [], []
    for seed in range(6):
        _image, chars, debug = render_page(seed, _style(seed), page_height=1300, fonts=FONTS, return_debug=True)
        for k in set(debug.columns):
            column = sorted((c.box for c, col in zip(chars, debug.columns) if col == k), key=lambda b: b[1])
            gaps += [(b[1] - a[3]) / ((a[3] - a[1] + b[3] - b[1]) / 2) for a, b in itertools.pairwise(column)]
        ratios += [(c.box[3] - c.box[1]) / (c.box[2] - c.box[0]) for c in chars]
    gaps = np.asarray([g for g in gaps if g < 1.5])  # a paragraph's end is not a gap
    assert min(gaps) > 0  # touching, never overlapping: each box keeps its own ring (next test)
    assert 0.03 < np.mean(gaps < 0.05) < 0.15 and 0.1 < np.median(gaps) < 0.35
    assert 1.24 < np.median(ratios) < 1.45


@needs_fonts
def test_boxes_are_tight_around_the_glyph_ink():
    # Cursive strokes between characters cross box edges on purpose (test_handwriting); debug.ink has
    # every labelled glyph, gloss and rule but not them.
    image, chars, debug = render_page(
        3, _style(3, gloss_prob=0.5, bleed=0.0), page_height=960, fonts=FONTS, return_debug=True
    )
    ink = debug.ink >= INK_THRESHOLD
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(int)
    paper = np.median(gray)
    assert chars
    for c in chars:
        x0, y0, x1, y1 = (int(v) for v in c.box)
        inside = ink[y0:y1, x0:x1]
        # Every edge of the box touches ink...
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        # ...and nothing else is inked in the 1-pixel ring around it (no other glyph, gloss or rule).
        ring = ink[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1].copy()
        ring[1:-1, 1:-1] = False
        assert not ring.any()
        # The drawn page is dark inside the box: the ink really is there after texture and blur.
        assert gray[y0:y1, x0:x1].min() < paper - 60


@needs_fonts
def test_glosses_are_drawn_but_not_labelled():
    image, chars, debug = render_page(
        5, _style(5, gloss_prob=1.0, kanji_ratio=0.5), page_height=1300, fonts=FONTS, return_debug=True
    )
    assert len(debug.glosses) >= 5
    centres = [c.center for c in chars]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(int)
    for x0, y0, x1, y1 in debug.glosses:
        assert not any(x0 <= cx <= x1 and y0 <= cy <= y1 for cx, cy in centres)
        assert not any(x0 < c.box[2] and c.box[0] < x1 and y0 < c.box[3] and c.box[1] < y1 for c in chars)
        assert gray[int(y0) : int(y1), int(x0) : int(x1)].min() < np.median(gray) - 40
        gloss_h = y1 - y0
        assert gloss_h < np.median([c.xywh[3] for c in chars])


@needs_fonts
def test_empty_page_has_paper_and_no_labels():
    image, chars = render_page(1, _style(1), page_height=400, fonts=FONTS, empty=True)
    assert chars == [] and image.shape[0] == 400 and image.std() > 1.0


@needs_fonts
def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    def files(folder):
        return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    kwargs = {"num_test_pages": 2, "num_books": 2, "page_height": 400}
    generate_dataset(tmp_path / "a", 4, seed=11, workers=1, **kwargs)
    generate_dataset(tmp_path / "b", 4, seed=11, workers=2, **kwargs)
    generate_dataset(tmp_path / "c", 4, seed=12, workers=1, **kwargs)
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b
    assert a[Path("train.csv")] != c[Path("train.csv")]
    assert a.keys() != c.keys() or any(a[k] != c[k] for k in a if k.suffix == ".jpg")


@needs_fonts
def test_char_scale_draws_the_same_books_in_smaller_script_and_more_columns(tmp_path, capsys):
    """`--char-scale 0.5`: the books' characters half their size relative to the page, in twice the columns;
    recorded in synthetic.json."""
    heights, infos = {}, {}
    for scale in (1.0, 0.5):
        out = tmp_path / str(scale)
        assert (
            make_synthetic.main(
                [
                    "--out",
                    str(out),
                    "--pages",
                    "2",
                    "--books",
                    "1",
                    "--seed",
                    "3",
                    "--page-height",
                    "800",
                    "--workers",
                    "1",
                ]
                + ["--char-scale", str(scale)]
            )
            == 0
        )
        heights[scale] = np.median([h for _, labels in _read_csv(out / "train.csv") for *_, h in _groups(labels)])
        infos[scale] = json.loads((out / "synthetic.json").read_text())
    assert 0.4 < heights[0.5] / heights[1.0] < 0.6
    assert infos[1.0]["options"]["char_scale"] == 1.0 and infos[0.5]["options"]["char_scale"] == 0.5
    (style,), (small,) = ([b["style"] for b in info["books"].values()] for info in (infos[1.0], infos[0.5]))
    assert small["em"] == pytest.approx(style["em"] / 2)
    assert small["columns"] == [2 * n for n in style["columns"]]
    with pytest.raises(ValueError, match="char_scale"):
        generate_dataset(tmp_path / "bad", 1, page_height=400, char_scale=0.0)


@needs_fonts
def test_charsets_keep_to_the_table_and_the_fonts(tmp_path):
    kana = build_charset("kana", FONTS)
    assert kana.kanji == () and all("\u3041" <= ch <= "\u30ff" for ch in kana.kana)
    default = build_charset(None, FONTS)
    # The default is the whole table as far as the fonts draw it (4,781 codes in the table).
    assert 3000 < len(default) <= len(TABLE) and all(code in TABLE for code in default.codes)
    common = build_charset("common", FONTS)
    assert 300 < len(common) < 1000 and all(code in TABLE for code in common.codes)
    listing = tmp_path / "chars.txt"
    listing.write_text("# two ways to name a character\nU+3042 い\n", encoding="utf-8")
    assert sorted(build_charset(listing, FONTS).kana) == ["あ", "い"]
    listing.write_text("U+3042 Ω\n", encoding="utf-8")
    with pytest.raises(ValueError, match="U\\+03A9"):
        build_charset(listing, FONTS)
    with pytest.raises(ValueError, match="neither"):
        build_charset("no-such-charset", FONTS)


@needs_fonts
def test_missing_glyphs_are_detected_by_rendering():
    names = [f.name for f in FONTS.primary]
    brush = FONTS.face("kouzan-sousyo") if "kouzan-sousyo" in names else FONTS.primary[0]
    assert has_glyph(brush, "あ") and has_glyph(brush, "日")
    assert not has_glyph(brush, "\U000f0000")
    if brush.name.startswith("kouzan") and FONTS.fallback:
        assert not has_glyph(brush, "ゟ") and has_glyph(FONTS.fallback, "ゟ")  # Kouzan lacks U+309F
        charset = build_charset(None, FONTS)
        assert all(code_to_char(code) in charset.faces for code in charset.codes)


@needs_fonts
def test_glyph_coverage_is_remembered_per_font_file(tmp_path, monkeypatch):
    """drawn_chars answers as has_glyph does, from disk in later processes, and forgets a changed font."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    font = tmp_path / "brush.ttf"
    font.write_bytes(Path(FONTS.primary[0].path).read_bytes())
    face = fonts_module.FontFace("brush", str(font), FONTS.primary[0].index)
    chars = ["あ", "日", "\U000f0000", "ゟ"]
    first = fonts_module.drawn_chars(face, chars)
    assert first == {c for c in chars if has_glyph(face, c)} and "あ" in first and "\U000f0000" not in first
    cache_files = list((tmp_path / "cache" / "glyph_coverage").glob("brush-*.json"))
    assert len(cache_files) == 1

    def no_rendering(*_):
        raise AssertionError("rendered a glyph the cache already knows")

    monkeypatch.setattr(fonts_module, "has_glyph", no_rendering)
    assert fonts_module.drawn_chars(face, chars) == first  # a later process: read from disk only
    with pytest.raises(AssertionError, match="rendered"):
        fonts_module.drawn_chars(face, ["人"])  # never asked before: rendered, not guessed
    cache_files[0].write_text("{not json")
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    assert fonts_module.drawn_chars(face, chars) == first  # a damaged cache is ignored and rewritten
    font.write_bytes(font.read_bytes() + b"\0" * 16)  # another file at the same path
    fonts_module.drawn_chars(face, chars)
    assert len(list((tmp_path / "cache" / "glyph_coverage").glob("brush-*.json"))) == 2
    monkeypatch.setenv(CACHE_DIR_ENV, "off")
    assert fonts_module.coverage_cache_dir() is None and fonts_module.drawn_chars(face, chars) == first


def test_missing_fonts_give_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fonts_module, "SYSTEM_FONT_DIRS", ())
    monkeypatch.setenv(FONT_DIR_ENV, str(tmp_path))
    with pytest.raises(FontNotFoundError, match="fonts-kouzan-mouhitsu.*fonts-noto-cjk.*KUZUSHIJI_FONT_DIR"):
        find_fonts()
    with pytest.raises(FontNotFoundError):
        generate_dataset(tmp_path / "out", 1, page_height=400)
    assert not (tmp_path / "out").exists()
    assert make_synthetic.main(["--out", str(tmp_path / "out"), "--pages", "1", "--page-height", "400"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fonts-kouzan-mouhitsu" in err[0]


@needs_fonts
def test_font_dir_variable_is_searched_first(tmp_path, monkeypatch):
    brush = FONTS.primary[0]
    (tmp_path / Path(brush.path).name).symlink_to(brush.path)
    monkeypatch.setattr(fonts_module, "SYSTEM_FONT_DIRS", ())
    monkeypatch.setenv(FONT_DIR_ENV, str(tmp_path))
    found = find_fonts()
    assert [f.path for f in found.primary] == [str(tmp_path / Path(brush.path).name)] and found.fallback is None
    image, chars = render_page(2, page_height=400, fonts=found)
    assert chars and image.shape[0] == 400


@needs_fonts
def test_cli_writes_refuses_non_empty_and_overwrites(tmp_path, capsys):
    main = make_synthetic.main
    args = [
        "--out",
        str(tmp_path / "d"),
        "--pages",
        "2",
        "--test-pages",
        "1",
        "--books",
        "2",
        "--page-height",
        "400",
        "--workers",
        "1",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "3 pages" in captured.out and "classes" in captured.out and "3/3 pages" in captured.err
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0] and "--overwrite" in err[0]
    (tmp_path / "d" / "notes.txt").write_text("keep me")
    assert main(args + ["--overwrite"]) == 0
    assert (tmp_path / "d" / "notes.txt").read_text() == "keep me"
    assert main(args + ["--overwrite", "--charset", "nope"]) == 2
    assert main(args + ["--overwrite", "--pages", "-1"]) == 2


@needs_fonts
def test_excluded_hands_are_never_drawn_and_unknown_ones_are_refused(tmp_path):
    kept_out = FONTS.primary[0].name
    summary = generate_dataset(tmp_path / "d", 3, num_books=3, seed=1, page_height=400, exclude_faces=(kept_out,))
    info = json.loads((tmp_path / "d" / "synthetic.json").read_text())
    assert summary["excluded_faces"] == [kept_out] == info["options"]["excluded_faces"]
    assert kept_out not in {f["name"] for f in info["fonts"]}
    assert all(kept_out not in book["style"]["faces"] for book in info["books"].values())
    with pytest.raises(ValueError, match="no installed hand named no-such-hand; the hands are"):
        fonts_module.without_faces(FONTS, ["no-such-hand"])
    with pytest.raises(ValueError, match="leaves no hand"):
        fonts_module.without_faces(FONTS, [f.name for f in FONTS.primary])
    assert "yuji-mai" in fonts_module.HAND_FILES.values() and set(fonts_module.RELEASE_HELD_OUT_FACES) == {"yuji-mai"}
