"""A book's look, drawn once per book so that pages of one book resemble each other and books differ.

A book-grouped split is only a meaningful test when books differ the way real ones do: hand (font mix),
character size and weight, paper, ink and scan quality all live here, not in the per-page randomness.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from kuzushiji_tf.synthetic.fonts import FontSet
from kuzushiji_tf.synthetic.handwriting import Hand, sample_hand


@dataclass(frozen=True)
class BookStyle:
    """Everything about a book's pages that is fixed per book. Lengths are fractions of the page width.

    Args:
        faces, face_weights: the primary font faces this book is written in and how often each is used.
        aspect: page width / height.
        em: median character em size.
        size_sigma: log-normal spread of per-character size.
        kanji_ratio: fraction of characters drawn from the kanji group on i.i.d. pages (real text has its own).
        weight: stroke dilation (+) or erosion (-) in reference-em pixels (`fonts.REF_EM`).
        gap: vertical gap between characters, in em.
        columns: (min, max) columns per page.
        gloss_prob: chance that a kanji gets a small unannotated reading gloss.
        title_prob: chance that a page opens with a short heading column.
        ink_rgb, ink_density: ink colour and opacity.
        paper_rgb, blotch, fibres, grain: paper colour and texture strengths.
        show_through: opacity of the mirrored text from the back of the sheet (0 = none).
        frame_double: ruled border drawn with an inner thin line as well.
        frame_width: border line thickness.
        blur: scan blur sigma at 3900 px page height.
        jpeg_quality: quality the page JPEG is saved with.
        hand: how the glyphs are written (warp, slant, pressure, dry brush, cursive connections).
        glyph_aspect: median width / height of a written glyph relative to the font's (real glyphs are
            taller and narrower than the fonts').
        hentaigana_rate: share of kana with hentaigana that are written as one.
        stroke: the hand's stroke width in reference-em pixels; each face is thinned or thickened to it
            (0: use `weight` as is).
        bleed: woodblock ink spreading into the paper, in pixels at 3900 px page height (0 = none).
        fold: the centre fold of the sheet shows as a shaded band at the gutter edge (0 = none, else depth).
        seal_prob, picture_prob, stain_prob: chances that a page carries an owner's seal, an illustration,
            a large water stain; none of them is text.
    """

    faces: tuple[str, ...]
    face_weights: tuple[float, ...]
    aspect: float
    em: float
    size_sigma: float
    kanji_ratio: float
    weight: int
    gap: float
    columns: tuple[int, int]
    gloss_prob: float
    title_prob: float
    ink_rgb: tuple[int, int, int]
    ink_density: float
    paper_rgb: tuple[int, int, int]
    blotch: float
    fibres: float
    grain: float
    show_through: float
    frame_double: bool
    frame_width: float
    blur: float
    jpeg_quality: int
    hand: Hand = Hand()
    glyph_aspect: float = 1.0
    stroke: float = 0.0
    hentaigana_rate: float = 0.0
    bleed: float = 0.0
    fold: float = 0.0
    seal_prob: float = 0.0
    picture_prob: float = 0.0
    stain_prob: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


# What the generator adds to font pages; each can be left out (`make_synthetic.py --features`) so an
# ablation measures what it is worth on real pages.
FEATURES = ("hentaigana", "handwriting", "pages")


def parse_features(spec: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """`all`, `none` or a comma-separated subset of FEATURES, as a tuple in FEATURES' order."""
    if spec is None or spec == "all":
        return FEATURES
    names = tuple(spec) if isinstance(spec, tuple) else tuple(n.strip() for n in spec.split(",") if n.strip())
    if names in (("none",), ()):
        return ()
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(
            f"unknown generator feature(s) {', '.join(unknown)}; choose from {', '.join(FEATURES)}, `all` or `none`"
        )
    return tuple(n for n in FEATURES if n in names)


def with_features(style: BookStyle, features: tuple[str, ...]) -> BookStyle:
    """`style` with the left-out features switched back to the plain font pages' behaviour."""
    changes = {}
    if "hentaigana" not in features:
        changes["hentaigana_rate"] = 0.0
    if "handwriting" not in features:
        # Type as the fonts draw it: no warp, slant, pressure, dry brush or cursive, the fonts' aspect and
        # the earlier stroke weights (dilation only).
        changes.update(
            hand=Hand(
                warp=0.0, slant=0.0, pressure=0.5, pressure_var=0.0, dry_prob=0.0, connect_prob=0.0, enabled=False
            ),
            glyph_aspect=1.0,
            weight=style.weight + 3,
            stroke=0.0,
            bleed=0.0,
        )
    if "pages" not in features:
        # The earlier page: larger characters, no fold, stain, seal or picture.
        changes.update(em=style.em * 1.15, fold=0.0, seal_prob=0.0, picture_prob=0.0, stain_prob=0.0)
    return replace(style, **changes) if changes else style


def with_char_scale(style: BookStyle, factor: float) -> BookStyle:
    """`style` with characters `factor` times their size relative to the page, and as many times fewer
    columns so that they still fill it (as a real book of smaller script writes more columns): test books
    for the page recogniser's scale policy (`make_synthetic --char-scale`)."""
    if factor == 1.0:
        return style
    low, high = (max(1, round(n / factor)) for n in style.columns)
    return replace(style, em=style.em * factor, columns=(low, max(low, high)))


def sample_book_style(rng: np.random.Generator, fonts: FontSet) -> BookStyle:
    """A random but plausible book; ranges were tuned against the 5 Kaggle sample pages (docs/recipe.md)."""
    names = tuple(f.name for f in fonts.primary)
    # A second stream for the fields added later, so that a seed keeps the original fields' values.
    extra = np.random.default_rng(rng.integers(1 << 63))
    extra_paper = np.random.default_rng(extra.integers(1 << 63))
    # One dominant hand per book, the others mixed in: real books are one carver's hand, not a font soup.
    weights = rng.dirichlet(np.full(len(names), 0.4))
    order = np.argsort(-weights)
    faces = tuple(names[i] for i in order)
    face_weights = tuple(float(w) for w in weights[order])
    # Paper and ink colours span the Kaggle samples: paper from greyish (205,198,180) to cream (241,225,180),
    # i.e. red highest, green a little lower, blue well below; the darkest 1% of ink measures from about 25
    # (crisp prints) to 90 (faded scans).
    light, green_drop = rng.uniform(198, 246), rng.uniform(6, 18)
    paper = np.array([light, light - green_drop, light - green_drop * rng.uniform(2.5, 4.0)])
    # Most of the real scans are warmer (cream to tan) than that range's grey end: shift the blue down.
    paper[2] -= extra_paper.uniform(0, 25)
    ink = rng.uniform(20, 90) * np.array([1.0, 0.95, 0.8])
    lo_cols = int(rng.integers(6, 8))
    return BookStyle(
        faces=faces,
        face_weights=face_weights,
        aspect=float(rng.uniform(0.60, 0.64)),
        # Real glyphs are tall and narrow (glyph_aspect) and their boxes are ~5.5 % of the short side at
        # the median (docs/recipe.md); the em is the font's square before that squeeze.
        em=float(rng.uniform(0.062, 0.082)),
        size_sigma=float(rng.uniform(0.14, 0.24)),
        kanji_ratio=float(rng.uniform(0.2, 0.45)),
        weight=int(rng.integers(-3, 2)),  # in reference-em pixels: real strokes are thinner than the brush fonts'
        gap=float(rng.uniform(0.10, 0.38)),
        columns=(lo_cols, lo_cols + 1),
        gloss_prob=float(rng.uniform(0.2, 0.6)),
        title_prob=float(rng.uniform(0.0, 0.25)),
        ink_rgb=tuple(int(v) for v in np.clip(ink, 10, 100)),
        ink_density=float(rng.uniform(0.92, 1.0)),
        paper_rgb=tuple(int(v) for v in np.clip(paper, 120, 250)),
        blotch=float(rng.uniform(0.004, 0.015)),
        fibres=float(rng.uniform(0.5, 1.5)),
        grain=float(rng.uniform(4.0, 7.0)),
        show_through=float(rng.uniform(0.12, 0.35)) if rng.random() < 0.8 else 0.0,
        frame_double=bool(rng.random() < 0.4),
        frame_width=float(rng.uniform(0.0025, 0.0045)),
        blur=float(rng.uniform(0.6, 1.4)),
        jpeg_quality=int(rng.integers(80, 96)),
        hand=sample_hand(extra),
        glyph_aspect=float(np.exp(extra.uniform(-0.38, -0.1))),  # boxes 1.32 x as tall as wide (real scans 1.34)
        stroke=float(extra.uniform(4.0, 9.0)),
        # Edo printed books write a good share of kana as hentaigana; how many varies by book and hand.
        hentaigana_rate=float(extra.uniform(0.05, 0.35)),
        bleed=float(extra.uniform(0.0, 1.5)) if extra.random() < 0.6 else 0.0,
        fold=float(extra.uniform(0.05, 0.25)) if extra.random() < 0.5 else 0.0,
        seal_prob=float(extra.uniform(0.0, 0.3)),
        picture_prob=float(extra.uniform(0.0, 0.15)),
        stain_prob=float(extra.uniform(0.0, 0.3)),
    )
