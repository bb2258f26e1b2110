"""A book's look, drawn once per book so that pages of one book resemble each other and books differ.

A book-grouped split is only a meaningful test when books differ the way real ones do: hand (font mix),
character size and weight, paper, ink and scan quality all live here, not in the per-page randomness.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from kuzushiji_tf.synthetic.fonts import FontSet


@dataclass(frozen=True)
class BookStyle:
    """Everything about a book's pages that is fixed per book. Lengths are fractions of the page width.

    Args:
        faces, face_weights: the primary font faces this book is written in and how often each is used.
        aspect: page width / height.
        em: median character em size.
        size_sigma: log-normal spread of per-character size.
        kanji_ratio: fraction of characters drawn from the kanji group.
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

    def to_dict(self) -> dict:
        return asdict(self)


def sample_book_style(rng: np.random.Generator, fonts: FontSet) -> BookStyle:
    """A random but plausible book; ranges were tuned against the 5 Kaggle sample pages (REFERENCE)."""
    names = tuple(f.name for f in fonts.primary)
    # One dominant hand per book, the others mixed in: real books are one carver's hand, not a font soup.
    weights = rng.dirichlet(np.full(len(names), 0.6))
    order = np.argsort(-weights)
    faces = tuple(names[i] for i in order)
    face_weights = tuple(float(w) for w in weights[order])
    # Paper and ink colours span the Kaggle samples: paper from greyish (205,198,180) to cream (241,225,180),
    # i.e. red highest, green a little lower, blue well below; the darkest 1% of ink measures from about 25
    # (crisp prints) to 90 (faded scans).
    light, green_drop = rng.uniform(198, 246), rng.uniform(6, 18)
    paper = np.array([light, light - green_drop, light - green_drop * rng.uniform(2.5, 4.0)])
    ink = rng.uniform(20, 90) * np.array([1.0, 0.95, 0.8])
    lo_cols = int(rng.integers(6, 8))
    return BookStyle(
        faces=faces,
        face_weights=face_weights,
        aspect=float(rng.uniform(0.60, 0.64)),
        em=float(rng.uniform(0.078, 0.098)),
        size_sigma=float(rng.uniform(0.14, 0.24)),
        kanji_ratio=float(rng.uniform(0.2, 0.45)),
        weight=int(rng.integers(0, 4)),
        gap=float(rng.uniform(0.10, 0.35)),
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
    )
