"""Synthetic kuzushiji pages in the Kaggle layout: the project's default data for demos, tests and benchmarks.

The Kaggle set is not redistributable, so brush-font pages stand in for it: `generate_dataset` writes a
complete Kaggle-layout folder, `render_page` draws one page (image + labelled characters in reading order),
its columns writing real classical text from `load_text` (or characters drawn one by one, `iid`).
"""

from kuzushiji_tf.synthetic.charset import NAMED_CHARSETS, Charset, build_charset
from kuzushiji_tf.synthetic.dataset import generate_dataset
from kuzushiji_tf.synthetic.fonts import FONT_DIR_ENV, FontFace, FontNotFoundError, FontSet, find_fonts
from kuzushiji_tf.synthetic.render import PageDebug, render_page
from kuzushiji_tf.synthetic.style import BookStyle, sample_book_style
from kuzushiji_tf.synthetic.text_source import TextSource, TextSourceError, load_text

__all__ = [
    "FONT_DIR_ENV",
    "NAMED_CHARSETS",
    "BookStyle",
    "Charset",
    "FontFace",
    "FontNotFoundError",
    "FontSet",
    "PageDebug",
    "TextSource",
    "TextSourceError",
    "build_charset",
    "find_fonts",
    "generate_dataset",
    "load_text",
    "render_page",
    "sample_book_style",
]
