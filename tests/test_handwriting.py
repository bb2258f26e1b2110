"""Handwriting: per-glyph warps, pressure, dry brush, cursive connections; generator features for ablations;
page marks that are not text (seals, pictures, stains, the fold)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from kuzushiji_tf.synthetic import FontNotFoundError, find_fonts, generate_dataset, render_page, sample_book_style
from kuzushiji_tf.synthetic.fonts import FONT_PACKAGES, GlyphCache
from kuzushiji_tf.synthetic.handwriting import Hand, connector, write_glyph
from kuzushiji_tf.synthetic.layout import INK_THRESHOLD
from kuzushiji_tf.synthetic.style import FEATURES, parse_features, with_features

REPO = Path(__file__).resolve().parents[1]
try:
    FONTS = find_fonts()
except FontNotFoundError:
    FONTS = None
needs_fonts = pytest.mark.skipif(FONTS is None, reason="no Japanese font installed (make fonts)")


def _glyph() -> np.ndarray:
    return GlyphCache(FONTS).glyph(FONTS.primary[0].name, "あ", 80)


@needs_fonts
def test_written_glyphs_differ_from_the_font_and_from_each_other_but_keep_its_ink():
    mask = _glyph()
    hand = Hand(warp=0.06, slant=0.1, pressure=0.5, pressure_var=0.4, dry_prob=0.0)
    a = write_glyph(mask, np.random.default_rng(1), hand)
    b = write_glyph(mask, np.random.default_rng(2), hand)
    again = write_glyph(mask, np.random.default_rng(1), hand)
    assert np.array_equal(a, again)  # a pure function of the draw
    assert a.shape != b.shape or not np.array_equal(a, b)
    ink = (mask >= INK_THRESHOLD).sum()
    for w in (a, b):
        assert 0.6 * ink < (w >= INK_THRESHOLD).sum() < 1.6 * ink  # warped, not destroyed or smeared
    assert np.array_equal(write_glyph(mask, np.random.default_rng(1), dataclasses.replace(hand, enabled=False)), mask)


@needs_fonts
def test_pressure_thickens_and_thins_strokes_and_dry_brush_breaks_them():
    mask = _glyph()
    ink = lambda m: int((m >= INK_THRESHOLD).sum())  # noqa: E731
    still = dict(warp=0.0, slant=0.0, pressure_var=0.0, dry_prob=0.0)
    thin = write_glyph(mask, np.random.default_rng(0), Hand(pressure=0.0, **still))
    thick = write_glyph(mask, np.random.default_rng(0), Hand(pressure=1.0, **still))
    assert ink(thin) < ink(mask) < ink(thick)
    dry = write_glyph(mask, np.random.default_rng(0), Hand(**{**still, "dry_prob": 1.0}, pressure=0.5))
    plain = write_glyph(mask, np.random.default_rng(0), Hand(pressure=0.5, **still))
    assert ink(dry) < ink(plain)


def test_connector_runs_between_its_ends_and_tapers():
    mask, x, y = connector((50.0, 10.0), (55.0, 60.0), 4.0, np.random.default_rng(0))
    ys, xs = np.nonzero(mask >= 128)
    assert y + ys.min() <= 12 and y + ys.max() >= 58  # it reaches both characters
    top, bottom = (mask[: mask.shape[0] // 3] >= 128).sum(), (mask[-mask.shape[0] // 3 :] >= 128).sum()
    assert top > bottom  # the brush lifts towards the next character
    assert connector((0.0, 50.0), (0.0, 40.0), 3.0, np.random.default_rng(0)) is None


@needs_fonts
def test_cursive_connections_are_ink_between_characters_but_never_labelled():
    style = sample_book_style(np.random.default_rng(3), FONTS)
    style = dataclasses.replace(style, hand=dataclasses.replace(style.hand, connect_prob=1.0), bleed=0.0)
    image, chars, debug = render_page(2, style, page_height=1100, fonts=FONTS, return_debug=True)
    assert len(debug.connectors) >= len(chars) // 3
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes = [c.box for c in chars]
    crossing = 0
    for x0, y0, x1, y1 in debug.connectors:
        # Each stroke joins two labelled characters and shows as ink in the gap between them.
        assert sum(b[0] < x1 and x0 < b[2] and b[1] < y1 and y0 < b[3] for b in boxes) >= 2
        cx = int((x0 + x1) / 2)
        column = gray[int(y0) : int(y1), max(0, cx - 3) : cx + 4]
        crossing += column.min() < np.median(gray) - 40
    assert crossing >= len(debug.connectors) // 2
    # ...and no connector is a label: the labels are the characters of the same page without connectors.
    plain = dataclasses.replace(style, hand=dataclasses.replace(style.hand, connect_prob=0.0))
    assert len(render_page(2, plain, page_height=1100, fonts=FONTS)[1]) > 0


@needs_fonts
def test_glyphs_are_taller_than_the_fonts():
    base = sample_book_style(np.random.default_rng(5), FONTS)
    ratios = {}
    for aspect in (1.0, 0.75):
        style = dataclasses.replace(base, glyph_aspect=aspect, hand=dataclasses.replace(base.hand, enabled=False))
        _, chars = render_page(6, style, page_height=1200, fonts=FONTS)
        ratios[aspect] = np.median([c.xywh[2] / c.xywh[3] for c in chars])
    assert ratios[0.75] < 0.88 * ratios[1.0]


def test_features_parse_and_switch_back_to_font_pages():
    assert parse_features(None) == FEATURES == parse_features("all")
    assert parse_features("none") == ()
    assert parse_features("pages,hentaigana") == ("hentaigana", "pages")
    with pytest.raises(ValueError, match="unknown generator feature.*brushes"):
        parse_features("hentaigana,brushes")


@needs_fonts
def test_features_none_draws_the_earlier_font_pages(tmp_path):
    style = sample_book_style(np.random.default_rng(0), FONTS)
    plain = with_features(style, ())
    assert plain.hentaigana_rate == 0 and not plain.hand.enabled and plain.glyph_aspect == 1.0
    assert plain.seal_prob == plain.picture_prob == plain.stain_prob == plain.fold == 0
    summary = generate_dataset(tmp_path / "d", 2, num_books=1, page_height=400, features="none")
    info = json.loads((tmp_path / "d" / "synthetic.json").read_text())
    assert info["options"]["features"] == [] and info["options"]["charset"] == "common"
    assert info["options"]["text"] == "iid" and summary["text"] == {"source": "iid"}  # as the plain pages were
    hands = [f["name"] for f in info["fonts"] if f["role"] == "primary"]
    assert hands and all(name.startswith("kouzan") for name in hands)
    assert summary["train_pages"] == 2


@needs_fonts
def test_seals_pictures_stains_and_fold_are_drawn_but_not_text():
    style = dataclasses.replace(
        sample_book_style(np.random.default_rng(1), FONTS), seal_prob=1.0, picture_prob=1.0, stain_prob=1.0, fold=0.3
    )
    image, chars, debug = render_page(3, style, page_height=1000, fonts=FONTS, side=1, return_debug=True)
    assert debug.picture is not None and chars
    px0, py0, px1, py1 = debug.picture
    for c in chars:  # the columns keep out of the picture
        assert not (px0 < c.center[0] < px1 and py0 < c.center[1] < py1)
    r, g, b = (image[..., k].astype(int) for k in range(3))
    assert ((r - g > 60) & (r - b > 60)).sum() > 50  # the red seal
    plain = dataclasses.replace(style, seal_prob=0.0, picture_prob=0.0, stain_prob=0.0, fold=0.0)
    image2, _ = render_page(3, plain, page_height=1000, fonts=FONTS, side=1)
    edge = slice(0, max(2, image.shape[1] // 50))
    assert image[:, edge].mean() < image2[:, edge].mean() - 5  # the fold darkens the gutter edge


def test_the_makefile_installs_the_fonts_the_generator_looks_for():
    text = (REPO / "Makefile").read_text()
    listed = re.search(r"FONT_PACKAGES := (.*?)\n\n", text, re.S).group(1).replace("\\", " ").split()
    assert sorted(listed) == sorted(FONT_PACKAGES)
