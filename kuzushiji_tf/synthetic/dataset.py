"""A whole synthetic dataset in the Kaggle layout, so every later stage runs on it unchanged.

Writes train.csv, unicode_translation.csv (the full table), sample_submission.csv, train_images/,
test_images/, test_truth.csv (the test pages' labels, for scoring pseudo-labels and submissions) and
synthetic.json (what was generated). In train.csv and test_truth.csv the label groups of a page are in
reading order: columns right to left, top to bottom inside a column. Every file is written under a
temporary name and renamed, so an interrupted run never leaves a CSV that looks complete. Pages are pure
functions of (seed, book, page), so the output is byte-identical for a seed whatever `workers` is.

The columns write real text (`text_source`): each book reads on from a starting sentence, training books in
the text's training documents, test books in its held-out ones. Which stretch a page reads is decided
here, before any page is drawn, so it too depends on (seed, book, page) only.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kuzushiji_tf import __version__
from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.structures import Char
from kuzushiji_tf.synthetic.charset import TABLE_PATH, Charset, build_charset
from kuzushiji_tf.synthetic.fonts import FontSet, find_fonts, font_pages_only, without_faces
from kuzushiji_tf.synthetic.render import REAL_HEIGHT, render_page
from kuzushiji_tf.synthetic.style import BookStyle, parse_features, sample_book_style, with_char_scale, with_features
from kuzushiji_tf.synthetic.text_source import LONG_SENTENCE, WINDOW, TextSource, load_text, text_split

CSV_FILES = ("train.csv", "unicode_translation.csv", "sample_submission.csv", "test_truth.csv")
INFO_FILE = "synthetic.json"
IMAGE_DIRS = {"train": "train_images", "test": "test_images"}
BOOK_PREFIX = "synth"
# Streams of the seed: each purpose draws from its own, so adding pages never changes a book's style.
_STYLE, _PAGE, _EMPTY, _NUMBERING, _TEXT = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class PageTask:
    """One page to draw: its id, split and book, its index in the book, and whether it has text."""

    image_id: str
    split: str
    book: str
    book_index: int
    page_index: int
    empty: bool
    side: int


def labels_text(chars: list[Char]) -> str:
    """Kaggle `labels` (`U+XXXX x y w h` groups, integer pixels), keeping the order of `chars`."""
    groups = []
    for c in chars:
        x, y, w, h = (round(v) for v in c.xywh)
        groups.append(f"{c.code} {x} {y} {w} {h}")
    return " ".join(groups)


def make_test_id(seed: int, index: int) -> str:
    """`test_<8 hex>`, a pure function of (seed, index) like Kaggle's opaque test ids."""
    return "test_" + hashlib.sha256(f"kuzushiji-synthetic:{seed}:{index}".encode()).hexdigest()[:8]


def _split_evenly(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def plan_pages(
    num_pages: int, num_test_pages: int, num_books: int, num_test_books: int, seed: int, empty_fraction: float
) -> list[PageTask]:
    """Train pages over `num_books` books, then test pages over their own `num_test_books` books."""
    tasks: list[PageTask] = []
    test_ids: set[str] = set()
    for split, total, first, count in (
        ("train", num_pages, 0, num_books),
        ("test", num_test_pages, num_books, num_test_books),
    ):
        code = 0 if split == "train" else 1
        n_empty = round(empty_fraction * total)
        empty = set(np.random.default_rng([seed, _EMPTY, code]).permutation(total)[:n_empty].tolist())
        k = 0
        for b, n in enumerate(_split_evenly(total, max(1, count))):
            book_index = first + b
            book = f"{BOOK_PREFIX}{book_index + 1:04d}"
            numbering = np.random.default_rng([seed, _NUMBERING, book_index])
            start, offset = int(numbering.integers(1, 12)), int(numbering.integers(0, 2))
            for p in range(n):
                number, side = start + (p + offset) // 2, 1 + (p + offset) % 2
                if split == "train":
                    image_id = f"{book}_{number:05d}_{side}"
                else:
                    i = len(test_ids)
                    image_id = make_test_id(seed, i)
                    while image_id in test_ids:  # a hash collision: take the next index's id
                        i += 1
                        image_id = make_test_id(seed, i)
                    test_ids.add(image_id)
                tasks.append(PageTask(image_id, split, book, book_index, p, k in empty, side))
                k += 1
    return tasks


@dataclass(frozen=True)
class _Context:
    out_dir: str
    seed: int
    page_height: int
    fonts: FontSet
    charset: Charset
    styles: dict[int, BookStyle]
    texts: dict[str, tuple[int, str, str]] | None = None  # per image id, `_page_texts`; None: i.i.d.


_CONTEXT: _Context | None = None


def _init_worker(context: _Context, threads: int | None) -> None:
    global _CONTEXT
    _CONTEXT = context
    if threads is not None:
        cv2.setNumThreads(threads)  # one process per core: OpenCV's own threads would only contend


def _render_task(task: PageTask) -> tuple[str, str, str, int, int, int]:
    ctx = _CONTEXT
    style = ctx.styles[task.book_index]
    _, text, back = ctx.texts[task.image_id] if ctx.texts is not None else (0, None, None)
    image, chars, debug = render_page(
        [ctx.seed, _PAGE, task.book_index, task.page_index],
        style,
        page_height=ctx.page_height,
        charset=ctx.charset,
        fonts=ctx.fonts,
        empty=task.empty,
        side=task.side,
        text=text,
        back_text=back,
        return_debug=True,
    )
    ok, jpeg = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_quality])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode page {task.image_id} as JPEG")
    write_atomic(Path(ctx.out_dir) / IMAGE_DIRS[task.split] / f"{task.image_id}.jpg", jpeg.tobytes())
    return task.image_id, task.split, labels_text(chars), len(chars), debug.text_read, debug.text_skipped


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"output folder {out} is not empty; pass overwrite=True (--overwrite) to replace it")
        # Only what this generator writes is removed: a mistyped --out must not wipe someone's folder.
        for name in CSV_FILES + (INFO_FILE,):
            (out / name).unlink(missing_ok=True)
        for folder in IMAGE_DIRS.values():
            for image in (out / folder).glob("*.jpg") if (out / folder).is_dir() else []:
                image.unlink()
    for folder in IMAGE_DIRS.values():
        (out / folder).mkdir(parents=True, exist_ok=True)


def _csv(rows: list[tuple[str, str]]) -> bytes:
    # Ids and labels never hold commas or quotes, so plain joining is exact CSV.
    return ("image_id,labels\n" + "".join(f"{i},{labels}\n" for i, labels in sorted(rows))).encode()


def _check_args(num_pages, num_test_pages, num_books, num_test_books, page_height, workers, empty_fraction):
    for name, value, low in (
        ("num_pages", num_pages, 0),
        ("num_test_pages", num_test_pages, 0),
        ("num_books", num_books, 1),
        ("num_test_books", num_test_books, 1),
        ("page_height", page_height, 64),
        ("workers", workers, 1),
    ):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; received {name}={value!r}")
    if not 0.0 <= empty_fraction <= 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1]; received empty_fraction={empty_fraction!r}")


def _role(face, fonts) -> str:
    if face == fonts.fallback:
        return "fallback"
    return "hentaigana" if face in fonts.hentaigana else "kana-forms" if face in fonts.kana_forms else "primary"


def generate_dataset(
    out_dir: str | Path,
    num_pages: int,
    num_test_pages: int = 0,
    num_books: int = 4,
    seed: int = 0,
    page_height: int = REAL_HEIGHT,
    charset: str | Path | None = None,
    workers: int = 1,
    num_test_books: int | None = None,
    empty_fraction: float = 0.03,
    overwrite: bool = False,
    fonts: FontSet | None = None,
    progress: Callable[[int, int], None] | None = None,
    features: str | tuple[str, ...] | None = None,
    text: str | Path | None = None,
    exclude_faces: tuple[str, ...] = (),
    char_scale: float = 1.0,
) -> dict:
    """Write a synthetic Kaggle-layout dataset to `out_dir` and return a summary.

    Args:
        out_dir: folder to create or fill; it must be empty unless `overwrite`.
        num_pages, num_test_pages: train and test page counts.
        num_books: train books (page ids `synth0001_00004_2`); test pages come from `num_test_books`
            books of their own (default: about a third as many, at least one).
        seed: everything is a pure function of it; page_height: image height (width ~0.62 of it).
        charset: a name of `charset.NAMED_CHARSETS` or a file of characters; None is `default`.
        workers: processes drawing pages; the output does not depend on it.
        empty_fraction: share of pages (per split, rounded) with no text.
        fonts: faces to draw with (found by `find_fonts` when None).
        progress: called as progress(done, total) after each page.
        features: which of `style.FEATURES` (hentaigana, handwriting, pages) to draw; None or `all` is
            every one; the rest are left out (for ablations). `pages` left out also means the `common`
            charset and `iid` text unless `charset` or `text` is given: the plain font pages as they were
            (real text written with the `common` charset's 600 characters would skip most sentences).
        text: what the columns write: None or `sample` is the classical text shipped with the package,
            `iid` draws characters one by one from the charset's frequency table (the generator before
            real text), anything else is a folder of UTF-8 .txt documents (`text_source`).
        exclude_faces: hands (`fonts.HAND_FILES` names) never drawn with, e.g. to keep one back for
            measuring a hand no model has seen; recorded in synthetic.json.
        char_scale: every book's characters this many times their sampled size relative to the page, with
            as many times fewer columns (`style.with_char_scale`): held-out books of smaller or larger
            script for measuring the recogniser's scale policy; recorded in synthetic.json.

    Returns:
        dict with `train_pages`, `test_pages`, `empty_pages`, `chars` (train), `test_chars`, `classes`
        (distinct train codes), `charset_size`, `books` ({book: {split, pages, chars}}), `fonts`, `seconds`,
        `text` (its source and, per split, what the pages drew of it and skipped: `text_summary`).

    Raises:
        ValueError: a bad argument, charset or text folder (`TextSourceError`); FileExistsError: `out_dir`
        not empty; FontNotFoundError: no Japanese font.
    """
    started = time.perf_counter()
    if num_test_books is None:
        num_test_books = max(1, min(num_test_pages, num_books // 3))
    _check_args(num_pages, num_test_pages, num_books, num_test_books, page_height, workers, empty_fraction)
    if not 0.1 <= char_scale <= 10.0:
        raise ValueError(f"char_scale must be in [0.1, 10]; received char_scale={char_scale!r}")
    fonts = find_fonts() if fonts is None else fonts
    if exclude_faces:
        fonts = without_faces(fonts, exclude_faces)
    features = parse_features(features)
    if "handwriting" not in features:
        fonts = font_pages_only(fonts)
    if charset is None and "pages" not in features:
        charset = "common"
    if text is None and "pages" not in features:
        text = "iid"
    charset_obj = build_charset(charset, fonts)
    source = load_text(text, charset_obj)
    tasks = plan_pages(num_pages, num_test_pages, num_books, num_test_books, seed, empty_fraction)
    texts = _page_texts(source, tasks, seed) if source is not None else None
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    styles = {
        b: with_char_scale(
            with_features(sample_book_style(np.random.default_rng([seed, _STYLE, b]), fonts), features), char_scale
        )
        for b in sorted({t.book_index for t in tasks})
    }
    context = _Context(str(out), seed, int(page_height), fonts, charset_obj, styles, texts)
    results = []
    if workers > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
        with ProcessPoolExecutor(
            min(workers, len(tasks)), mp_context=ctx, initializer=_init_worker, initargs=(context, 1)
        ) as pool:
            for result in pool.map(_render_task, tasks):
                results.append(result)
                if progress:
                    progress(len(results), len(tasks))
    else:
        _init_worker(context, None)
        for task in tasks:
            results.append(_render_task(task))
            if progress:
                progress(len(results), len(tasks))
    return _write_tables(
        out,
        seed,
        page_height,
        charset_obj,
        fonts,
        tasks,
        styles,
        results,
        empty_fraction,
        time.perf_counter() - started,
        features,
        text_summary(source, tasks, results, texts),
        tuple(exclude_faces),
        char_scale,
    )


def _page_texts(source: TextSource, tasks: list[PageTask], seed: int) -> dict[str, tuple[int, str, str]]:
    """Per image id: (where in its side's text the page starts, the `WINDOW` characters it may write, the
    next page's, which show through from the back). A book starts at a sentence drawn from its own seed
    stream; its page p reads window p from there."""
    for split in sorted({t.split for t in tasks}):
        source.require(text_split(split))
    starts = {}
    for t in tasks:
        if t.book_index not in starts:
            starts[t.book_index] = source.book_start(
                text_split(t.split), np.random.default_rng([seed, _TEXT, t.book_index])
            )
    texts = {}
    for t in tasks:
        side, start = text_split(t.split), starts[t.book_index]
        offset, front = source.window(side, start, t.page_index)
        texts[t.image_id] = (offset, front, source.window(side, start, t.page_index + 1)[1])
    return texts


_PAGE_TEXT_COUNTS = (
    "pages",
    "chars_drawn",
    "chars_read",
    "glyphs_skipped",
    "sentences_skipped",
    "sentence_chars_skipped",
    "chars_skipped",
)


def text_summary(source: TextSource | None, tasks, results, texts) -> dict:
    """Where the text came from and, per page split, what the pages drew of it: `chars_drawn` labelled
    characters of `chars_read` taken from the text (`glyphs_skipped` of them had no glyph that fit), and
    within the text they read, the `sentences_skipped` (with `sentence_chars_skipped` characters) and
    `chars_skipped` single characters that no face draws or the charset lacks; the whole text's own
    figures under `corpus`."""
    if source is None:
        return {"source": "iid"}
    pages = {}
    for task, (_, split, _, n, read, glyphs_skipped) in zip(tasks, results):
        row = pages.setdefault(split, dict.fromkeys(_PAGE_TEXT_COUNTS, 0))
        sentences, sentence_chars, chars = source.skipped_within(text_split(split), texts[task.image_id][0], read)
        row["pages"] += 1
        row["chars_drawn"] += n
        row["chars_read"] += read
        row["glyphs_skipped"] += glyphs_skipped
        row["sentences_skipped"] += sentences
        row["sentence_chars_skipped"] += sentence_chars
        row["chars_skipped"] += chars
    for row in pages.values():
        lost = row["sentence_chars_skipped"] + row["chars_skipped"]
        row["share_chars_lost"] = round(lost / max(1, lost + row["chars_read"]), 4)
    return {
        "source": source.name,
        "window": WINDOW,
        "long_sentence": LONG_SENTENCE,
        "documents": {side: {"count": len(names), "names": names} for side, names in source.documents.items()},
        "corpus": {side: stats.to_dict() for side, stats in source.stats.items()},
        "pages": pages,
    }


def _write_tables(
    out,
    seed,
    page_height,
    charset,
    fonts,
    tasks,
    styles,
    results,
    empty_fraction,
    seconds,
    features,
    text,
    excluded,
    char_scale=1.0,
):
    rows = {"train": [], "test": []}
    books: dict[str, dict] = {}
    classes: set[str] = set()
    chars = {"train": 0, "test": 0}
    for task, (image_id, split, labels, n, _read, _skipped) in zip(tasks, results):
        rows[split].append((image_id, labels))
        chars[split] += n
        if split == "train":
            classes.update(labels.split()[0::5])
        book = books.setdefault(
            task.book,
            {"split": split, "pages": 0, "empty_pages": 0, "chars": 0, "style": styles[task.book_index].to_dict()},
        )
        book["pages"] += 1
        book["empty_pages"] += task.empty
        book["chars"] += n
    info = {
        "generator": "kuzushiji_tf.synthetic",
        "version": __version__,
        "seed": seed,
        "options": {
            "page_height": int(page_height),
            "empty_fraction": empty_fraction,
            "charset": charset.name,
            "features": list(features),
            "text": text["source"],
            "excluded_faces": list(excluded),
            "char_scale": char_scale,
        },
        "fonts": [{"name": f.name, "path": f.path, "index": f.index, "role": _role(f, fonts)} for f in fonts.faces],
        "charset_size": len(charset),
        "train_pages": len(rows["train"]),
        "test_pages": len(rows["test"]),
        "empty_pages": sum(t.empty for t in tasks),
        "chars": chars["train"],
        "test_chars": chars["test"],
        "classes": len(classes),
        "books": books,
        "text": text,
        "reading_order": "label groups per page: columns right to left, top to bottom inside a column",
    }
    write_atomic(out / "unicode_translation.csv", TABLE_PATH.read_bytes())
    write_atomic(out / "sample_submission.csv", _csv([(i, "") for i, _ in rows["test"]]))
    write_atomic(out / "test_truth.csv", _csv(rows["test"]))
    write_atomic(out / "train.csv", _csv(rows["train"]))
    write_atomic(out / INFO_FILE, (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode())
    summary = {
        k: info[k]
        for k in ("seed", "charset_size", "train_pages", "test_pages", "empty_pages", "chars", "test_chars", "classes")
    }
    brief = {"source": text["source"]}
    if "pages" in text:  # real text: what the pages drew, and from how many documents
        brief.update(pages=text["pages"], documents={side: d["count"] for side, d in text["documents"].items()})
    summary.update(
        out_dir=str(out),
        seconds=round(seconds, 2),
        fonts=[f.name for f in fonts.faces],
        excluded_faces=list(excluded),
        books={b: {k: v for k, v in d.items() if k != "style"} for b, d in books.items()},
        text=brief,
    )
    return summary
