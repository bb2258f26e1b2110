"""Where each glyph goes: vertical columns read right to left, characters top to bottom, glosses beside.

Placements come out in reading order (columns right to left, top to bottom inside a column), and that
order becomes the order of the label groups in train.csv; transcription tests rely on it. Characters are
stacked by their ink extents, as a carver would, so the labelled box is the glyph's tight ink box.

Given a text (`text_source`), the columns write it in order: a character that does not fit under the last
one opens the next column, so the labels read in reading order are the text itself. Without one, characters
are drawn one by one from the charset (`Charset.sample`), exactly as the generator did before real text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kuzushiji_tf.synthetic.charset import HIRAGANA_ORDER, Charset, is_kana
from kuzushiji_tf.synthetic.fonts import FontSet, GlyphCache, has_glyph
from kuzushiji_tf.synthetic.handwriting import connector, write_glyph
from kuzushiji_tf.synthetic.style import BookStyle

INK_THRESHOLD = 96  # uint8 alpha from which a pixel is ink for the box: the anti-aliased fringe is not
MIN_GAP = 3  # pixels kept free between any two boxes, so each box's 1-px ring holds no other glyph's ink
TEXT_TRIES = 3  # draws of one text character that fails to fit its column before it is skipped


@dataclass(frozen=True)
class Placement:
    """One glyph on the page.

    Args:
        char: the character drawn.
        mask: uint8 [h, w] ink alpha, 255 = full ink.
        x, y: page position of the mask's top-left pixel.
        box: tight ink box on the page, (x0, y0, x1, y1) with exclusive x1, y1 (integers).
        gloss: True for an unannotated reading gloss.
        column: reading-order index of the column (0 = rightmost); for a gloss, its kanji's column.
        drawn: the character whose glyph was drawn when it is not `char` (a hentaigana for its kana).
        form_face: the `FontSet.kana_forms` face when `char` was drawn as the hentaigana that face
            draws at its code, else "".
    """

    char: str
    mask: np.ndarray
    x: int
    y: int
    box: tuple[int, int, int, int]
    gloss: bool = False
    column: int = 0
    drawn: str = ""
    form_face: str = ""


def ink_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive ends, of the pixels >= INK_THRESHOLD; None when there are none."""
    rows = np.flatnonzero((mask >= INK_THRESHOLD).any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero((mask[rows[0] : rows[-1] + 1] >= INK_THRESHOLD).any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _solid(mask: np.ndarray) -> np.ndarray:
    # Thin strokes shrunk to a few pixels lose their peak; printed ink is solid somewhere in every glyph.
    peak = int(mask.max())
    if 0 < peak < 224:
        mask = np.minimum(mask.astype(np.float32) * (255.0 / peak), 255).astype(np.uint8)
    return mask


class ColumnWriter:
    """Lays out one page's glyphs for a book style; one instance per page (it holds the page's rng).

    `text`, when given, is what the columns write, in order (every character in `charset`); `read` counts
    the characters taken from it and `skipped` those of them no glyph could be fitted for (`TEXT_TRIES`).
    """

    def __init__(
        self,
        rng: np.random.Generator,
        style: BookStyle,
        charset: Charset,
        fonts: FontSet,
        cache: GlyphCache,
        text: str | None = None,
    ):
        self.rng, self.style, self.charset, self.fonts, self.cache = rng, style, charset, fonts, cache
        self._pending: list[str] = []
        self.connectors: list[Placement] = []  # cursive strokes between characters: ink, never labelled
        self.text = text
        self.read = 0
        self.skipped = 0
        self._tries = 0

    def _face_for(self, char: str, face: str) -> str:
        if face in self.charset.form_faces.get(char, ()):
            return face
        drawn_by = self.charset.faces.get(char)
        if drawn_by is None:  # glosses: kana outside the charset
            candidates = [f.name for f in self.fonts.faces if has_glyph(f, char)]
            drawn_by = tuple(candidates) or (face,)
        if face in drawn_by:
            return face
        for other in self.style.faces:  # the book's other hands before the fallback
            if other in drawn_by:
                return other
        return drawn_by[int(self.rng.integers(len(drawn_by)))]

    def _glyph(self, char: str, em: float, face: str | None = None):
        st, rng = self.style, self.rng
        if face is None:
            face = st.faces[int(rng.choice(len(st.faces), p=st.face_weights))]
        face = self._face_for(char, face)
        aspect = float(np.exp(rng.normal(0, 0.06))) * st.glyph_aspect
        angle = float(rng.normal(0, 2.0))
        weight = st.weight
        if st.stroke:  # every face to the hand's stroke width, in whole reference pixels
            weight = int(np.clip(round((st.stroke - self.cache.stroke_width(face)) / 2), -4, 4))
        mask = self.cache.glyph(face, char, em, weight, aspect, angle)
        mask = write_glyph(mask, rng, st.hand)
        mask = _solid(mask)
        box = ink_box(mask)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        # Keep a 1-px fringe of the sub-threshold anti-aliasing around the box: it is the glyph's edge.
        fx0, fy0 = max(0, x0 - 1), max(0, y0 - 1)
        mask = mask[fy0 : y1 + 1, fx0 : x1 + 1]
        return mask, (x0 - fx0, y0 - fy0, x1 - fx0, y1 - fy0)

    def _next_char(self) -> str | None:
        """The next character to write: the text's next one (None once it is all read), or an i.i.d. draw."""
        if self.text is not None:
            if self.read >= len(self.text):
                return None
            self.read += 1
            return self.text[self.read - 1]
        if not self._pending:
            self._pending = self.charset.sample(self.rng, self.style.kanji_ratio, 64)
        return self._pending.pop()

    def _form(self, char: str) -> tuple[str, str | None]:
        """The glyph to draw for `char` and the face it must be drawn with (None: the book's): `char`
        itself, or one of its hentaigana forms at the book's rate, each form equally likely."""
        forms = self.charset.forms(char)
        if forms and self.rng.random() < self.style.hentaigana_rate:
            return forms[int(self.rng.integers(len(forms)))]
        return char, None

    def _connect(self, upper: Placement, lower: Placement, em: float) -> None:
        """A cursive stroke from the lowest ink of `upper` to the highest ink of `lower`."""
        ys_up = np.flatnonzero((upper.mask >= INK_THRESHOLD).any(axis=1))
        ys_lo = np.flatnonzero((lower.mask >= INK_THRESHOLD).any(axis=1))
        if not len(ys_up) or not len(ys_lo):
            return
        row_up, row_lo = upper.mask[ys_up[-1]], lower.mask[ys_lo[0]]
        start = (upper.x + float(np.mean(np.flatnonzero(row_up >= INK_THRESHOLD))), upper.y + float(ys_up[-1]))
        end = (lower.x + float(np.mean(np.flatnonzero(row_lo >= INK_THRESHOLD))), lower.y + float(ys_lo[0]))
        stroke = connector(start, end, max(1.0, 0.035 * em * self.rng.uniform(0.5, 1.0)), self.rng)
        if stroke is not None:
            mask, x, y = stroke
            self.connectors.append(
                Placement("", mask, x, y, (x, y, x + mask.shape[1], y + mask.shape[0]), gloss=True, column=upper.column)
            )

    def columns(
        self,
        area: tuple[float, float, float, float],
        em: float,
        n_cols: int,
        title: bool = False,
        max_chars: int | None = None,
        gap: int = MIN_GAP,
    ) -> list[Placement]:
        """Glyphs filling `area` (x0, y0, x1, y1) in `n_cols` columns, in reading order.

        `gap` pixels are kept free between boxes (MIN_GAP for labelled text; 0 is fine for show-through).
        """
        st, rng = self.style, self.rng
        ax0, ay0, ax1, ay1 = area
        pitch = (ax1 - ax0) / n_cols
        em = min(em, pitch / 1.4)  # room for the glyph and a gloss lane beside it
        out: list[Placement] = []
        indent = 0.0
        for col in range(n_cols):
            slot_x0, slot_x1 = ax1 - pitch * (col + 1) + gap, ax1 - pitch * col - gap
            centre = (slot_x0 + slot_x1) / 2 - 0.08 * pitch + rng.normal(0, 0.025) * pitch  # gloss lane right
            bottom = ay1
            col_em = em
            if title and col == 0:
                col_em, indent = em * rng.uniform(1.15, 1.35), em * rng.uniform(1.0, 3.0)
                bottom = min(ay1, ay0 + indent + col_em * rng.uniform(2.4, 4.2))
            elif rng.random() < 0.12:  # a paragraph ends inside this column
                bottom = ay0 + (ay1 - ay0) * rng.uniform(0.15, 0.85)
            y = ay0 + indent
            indent = em if (bottom < ay1 and rng.random() < 0.5) else 0.0
            drift = rng.normal(0, 0.01) * pitch  # columns lean a little as a carved line does
            misses, walk, previous = 0, 0.0, None
            while misses < 20:  # a column too narrow for any glyph (a toy page size) just stays empty
                if max_chars is not None and len(out) >= max_chars:
                    return out
                char = self._next_char()
                if char is None:
                    return out
                form, form_face = self._form(char) if gap else (char, None)
                # Kanji are carved a little larger than kana (Kaggle samples: median 6.8% vs 4.3% of width);
                # the size also wanders slowly down a column, as a writer's hand does.
                walk = 0.7 * walk + rng.normal(0, 0.06)
                e = col_em * float(np.exp(rng.normal(0, st.size_sigma) + walk)) * (1.0 if is_kana(char) else 1.08)
                glyph = self._glyph(form, e, form_face)
                if glyph is not None and glyph[1][2] - glyph[1][0] > slot_x1 - slot_x0:
                    # Too wide for its column: shrink it rather than let it touch the next column.
                    glyph = self._glyph(form, e * 0.95 * (slot_x1 - slot_x0) / (glyph[1][2] - glyph[1][0]), form_face)
                if glyph is None or glyph[1][2] - glyph[1][0] > slot_x1 - slot_x0:
                    misses += 1
                    if self.text is not None:  # the text's next character must wait: try it again
                        self._tries += 1
                        if self._tries < TEXT_TRIES:
                            self.read -= 1
                        else:
                            self.skipped, self._tries = self.skipped + 1, 0
                    continue
                mask, (bx0, by0, bx1, by1) = glyph
                w, h = bx1 - bx0, by1 - by0
                if y + h > bottom:
                    if self.text is not None:  # it opens the next column
                        self.read -= 1
                    break
                self._tries = 0
                frac = (y - ay0) / max(1.0, ay1 - ay0)
                x = centre + drift * frac - w / 2 + rng.normal(0, 0.03) * e
                x = float(np.clip(x, slot_x0, max(slot_x0, slot_x1 - w)))
                px, py = round(x) - bx0, round(y) - by0
                box = (px + bx0, py + by0, px + bx1, py + by1)
                placed = Placement(
                    char, mask, px, py, box, column=col, drawn=form if form != char else "", form_face=form_face or ""
                )
                if previous is not None and gap and rng.random() < st.hand.connect_prob:
                    self._connect(previous, placed, e)
                out.append(placed)
                previous = placed
                # Real columns run from nearly touching cursive to wide gaps (gap / height on the unlabelled
                # scans: median 0.26, 8 % under 0.05): a narrower draw left almost none under 0.05.
                y = box[3] + max(gap, st.gap * e * rng.uniform(0.0, 2.0))
        return out

    def glosses(self, placed: list[Placement], limit_x1: float) -> list[Placement]:
        """Small kana to the right of some kanji, 35-45% of their size, written in the book's hands as real
        furigana are (crisp type taught the detector a cue real pages lack); dropped where they would touch a box."""
        st, rng = self.style, self.rng
        kana = list(HIRAGANA_ORDER)
        taken = [p.box for p in placed]
        out: list[Placement] = []
        for p in placed:
            if is_kana(p.char) or rng.random() >= st.gloss_prob:
                continue
            x0, y0, x1, y1 = p.box
            em = (x1 - x0 + y1 - y0) / 2 / 0.7 * rng.uniform(0.35, 0.45)
            gx, gy = x1 + max(MIN_GAP, 0.12 * em), y0 + rng.uniform(-0.1, 0.3) * (y1 - y0)
            for _ in range(int(rng.choice([1, 2, 2, 3]))):
                glyph = self._glyph(kana[int(rng.integers(len(kana)))], em)
                if glyph is None:
                    continue
                mask, (bx0, by0, bx1, by1) = glyph
                px, py = round(gx) - bx0, round(gy) - by0
                box = (px + bx0, py + by0, px + bx1, py + by1)
                if box[2] > limit_x1 or any(_near(box, t) for t in taken):
                    break
                out.append(Placement("", mask, px, py, box, gloss=True, column=p.column))
                taken.append(box)
                gy = box[3] + max(MIN_GAP, 0.15 * em)
        return out


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = MIN_GAP) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap
