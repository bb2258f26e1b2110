"""Write a synthetic kuzushiji dataset in the Kaggle layout (train.csv, images, test pages and their truth).

kuzushiji-make-synthetic --out data/synth --pages 200 --test-pages 40 --books 8 --seed 0
kuzushiji-make-synthetic --out data/iid --pages 200 --text iid      # characters drawn one by one, as before
kuzushiji-make-synthetic --out data/small --pages 0 --test-pages 40 --char-scale 0.6   # smaller script
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from kuzushiji_tf.cli.args import prog
from kuzushiji_tf.cli.errors import fail, user_errors
from kuzushiji_tf.synthetic import NAMED_CHARSETS, FontNotFoundError, generate_dataset

PROG = "make_synthetic"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (must be empty unless --overwrite)")
    parser.add_argument("--pages", type=int, default=20, help="train pages (default 20)")
    parser.add_argument("--test-pages", type=int, default=0, help="test pages, from books of their own (default 0)")
    parser.add_argument("--books", type=int, default=4, help="train books (default 4)")
    parser.add_argument("--test-books", type=int, default=None, help="test books (default: books/3, at least 1)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    parser.add_argument(
        "--page-height",
        type=int,
        default=3900,
        help="page height in pixels; width follows the real aspect ~0.62 (default 3900)",
    )
    parser.add_argument(
        "--features",
        default="all",
        help="what is drawn beyond font pages: all (default), none, or a comma list of "
        "hentaigana, handwriting, pages (for ablations)",
    )
    parser.add_argument(
        "--charset", default=None, help=f"one of {', '.join(NAMED_CHARSETS)}, or a file of characters / U+XXXX codes"
    )
    parser.add_argument(
        "--text",
        default=None,
        help="what the columns write: sample (the public-domain classical text shipped with the package; the "
        "default, except iid when --features leaves out pages), a folder of UTF-8 .txt documents (training "
        "books read its training documents, test books its held-out ones), or iid (characters drawn one by "
        "one from the charset's frequency table, as the generator did before)",
    )
    parser.add_argument(
        "--exclude-faces",
        nargs="+",
        default=(),
        metavar="FACE",
        help="hands never drawn with (e.g. yuji-mai, the one the release model was not trained on, so that "
        "pages in it measure a hand no model has seen); names as synthetic.json lists them under fonts",
    )
    parser.add_argument(
        "--char-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="characters F times their usual size relative to the page, in 1/F as many columns (default 1): "
        "test books of smaller or larger script, e.g. for the recogniser's --scale auto",
    )
    parser.add_argument("--empty-fraction", type=float, default=0.03, help="share of pages without text")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes drawing pages; output does not depend on it (default: all cores)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    return parser


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    step = max(1, (args.pages + args.test_pages) // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"{PROG}: {done}/{total} pages ({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)

    try:
        summary = generate_dataset(
            args.out,
            args.pages,
            num_test_pages=args.test_pages,
            num_books=args.books,
            num_test_books=args.test_books,
            seed=args.seed,
            page_height=args.page_height,
            charset=args.charset,
            workers=args.workers,
            empty_fraction=args.empty_fraction,
            overwrite=args.overwrite,
            progress=progress,
            features=args.features,
            text=args.text,
            exclude_faces=tuple(args.exclude_faces),
            char_scale=args.char_scale,
        )
    except (ValueError, FileExistsError, FontNotFoundError) as error:
        return fail(PROG, error)
    pages = summary["train_pages"] + summary["test_pages"]
    print(
        f"{PROG}: wrote {summary['out_dir']}: {pages} pages ({summary['train_pages']} train, "
        f"{summary['test_pages']} test, {summary['empty_pages']} empty) in {len(summary['books'])} books, "
        f"{summary['chars'] + summary['test_chars']} chars, {summary['classes']} classes "
        f"(charset {summary['charset_size']}), {summary['seconds']:.1f} s"
    )
    print(f"{PROG}: {text_line(summary['text'])}")
    if summary["excluded_faces"]:
        print(f"{PROG}: hands left out: {', '.join(summary['excluded_faces'])}")
    return 0


def text_line(text: dict) -> str:
    """One line on the text the pages wrote: its source, the characters drawn per split, and what was
    skipped of the text they read for characters the charset lacks or no face draws."""
    if text["source"] == "iid":
        return "text: iid (characters drawn one by one from the charset's frequency table)"
    parts = []
    for split, side in (("train", "train"), ("test", "held_out")):
        row = text["pages"].get(split)
        if row:
            docs = text["documents"][side]
            parts.append(
                f"{split} pages drew {row['chars_drawn']} characters from {docs} "
                f"{'training' if side == 'train' else 'held-out'} document{'s' if docs != 1 else ''}, skipping "
                f"{row['sentences_skipped']} sentences ({row['sentence_chars_skipped']} characters) and "
                f"{row['chars_skipped']} single characters that no face draws or the charset lacks "
                f"({100 * row['share_chars_lost']:.1f} % of the text read)"
            )
    return f"text {text['source']}: " + ("; ".join(parts) or "no page with text")


if __name__ == "__main__":
    sys.exit(main())
