"""Hentaigana are labelled with their standard kana, derived from the Unicode names, and drawn on pages."""

from __future__ import annotations

import dataclasses
import unicodedata

import numpy as np
import pytest

from kuzushiji_tf.structures import code_to_char
from kuzushiji_tf.synthetic import FontNotFoundError, build_charset, find_fonts, render_page, sample_book_style
from kuzushiji_tf.synthetic.charset import is_kana
from kuzushiji_tf.synthetic.fonts import has_glyph
from kuzushiji_tf.synthetic.hentaigana import BLOCKS, base_kana, hentaigana_table

try:
    FONTS = find_fonts()
except FontNotFoundError:
    FONTS = None
needs_hentaigana_fonts = pytest.mark.skipif(
    FONTS is None or not FONTS.hentaigana, reason="no hentaigana font (fonts-babelstone-han, fonts-hanazono)"
)


def test_each_hentaigana_is_labelled_with_the_kana_of_its_reading():
    table = hentaigana_table()
    # Unicode 10 encodes 285 hentaigana; all but the 11 with two or three readings have one base kana.
    assert sum(len(v) for v in table.values()) == 274 and len(table) == 47
    for base, forms in table.items():
        assert 0x3041 <= ord(base) <= 0x3096
        reading = unicodedata.name(base).removeprefix("HIRAGANA LETTER ")
        for form in forms:
            assert any(lo <= ord(form) <= hi for lo, hi in BLOCKS)
            assert unicodedata.name(form).rsplit("-", 1)[0] == f"HENTAIGANA LETTER {reading}"
            assert base_kana(form) == base
    # The example: a は written from 者 or 八 is labelled U+306F; Unicode calls those HA-n.
    assert len(table["は"]) >= 2 and all(unicodedata.name(f).startswith("HENTAIGANA LETTER HA-") for f in table["は"])


def test_ambiguous_archaic_and_ordinary_characters_get_no_base():
    assert base_kana("\U0001b11e") is None  # HENTAIGANA LETTER N-MU-MO-1: three readings, no single label
    assert base_kana("\U0001b001") is None  # HIRAGANA LETTER ARCHAIC YE: not a hentaigana
    assert base_kana("あ") is None and base_kana("日") is None


@needs_hentaigana_fonts
def test_charset_carries_drawable_variants_of_its_kana():
    charset = build_charset("kana", FONTS)
    assert len(charset.variants) >= 40
    for base, forms in charset.variants.items():
        assert base in charset.kana
        for form in forms:
            assert base_kana(form) == base
            assert charset.faces[form] and all(has_glyph(FONTS.face(n), form) for n in charset.faces[form])


@needs_hentaigana_fonts
def test_pages_draw_hentaigana_but_label_the_standard_kana():
    charset = build_charset("hiragana", FONTS)
    style = dataclasses.replace(
        sample_book_style(np.random.default_rng(0), FONTS), hentaigana_rate=1.0, kanji_ratio=0.0
    )
    _, chars, debug = render_page(4, style, page_height=900, charset=charset, fonts=FONTS, return_debug=True)
    assert chars
    drawn_variants = 0
    for char, drawn, form_face in zip(chars, debug.drawn, debug.form_faces):
        label = code_to_char(char.code)
        assert is_kana(label) and 0x3041 <= ord(label) <= 0x3096  # never a U+1Bxxx code in the labels
        if charset.forms(label):  # rate 1: every kana that has hentaigana is drawn as one
            if form_face:  # the brush hentaigana a kana-form face draws at the kana's own code
                assert drawn == label and form_face in charset.form_faces[label]
            else:
                assert base_kana(drawn) == label
            drawn_variants += 1
        else:
            assert drawn == label and not form_face
    assert drawn_variants >= len(chars) // 2
    assert any(debug.form_faces) == bool(FONTS.kana_forms)  # the brush hentaigana faces are among the forms
    # At rate 0 nothing is replaced.
    _, chars, debug = render_page(
        4,
        dataclasses.replace(style, hentaigana_rate=0.0),
        page_height=900,
        charset=charset,
        fonts=FONTS,
        return_debug=True,
    )
    assert [code_to_char(c.code) for c in chars] == debug.drawn and not any(debug.form_faces)
