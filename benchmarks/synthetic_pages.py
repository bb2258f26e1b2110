"""Synthetic page generator speed: pages/s of `render_page` with every feature (hentaigana, handwriting,
page marks, real text) against the plain font pages (`--features none`, the generator before them: i.i.d.
characters), in one process, alternating rounds on the same seeds. Goal: the full generator keeps at least
half the plain rate.

    python benchmarks/synthetic_pages.py --quick          # < 1 minute on 2 cores
    python benchmarks/synthetic_pages.py --pages 16 --page-height 3900
"""

from __future__ import annotations

import time

import numpy as np

import common


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="pages per round (default 6 quick, 16 full)")
    parser.add_argument("--page-height", type=int, default=2000, help="page height in pixels (default 2000)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds, best kept (2 quick, 3 full)")
    args = parser.parse_args(argv)
    args.pages = args.pages or (6 if args.quick else 16)
    args.rounds = args.rounds or (2 if args.quick else 3)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    common.banner("synthetic page generator", args)
    from kuzushiji_tf.synthetic import build_charset, find_fonts, render_page, sample_book_style
    from kuzushiji_tf.synthetic.fonts import font_pages_only
    from kuzushiji_tf.synthetic.style import with_features
    from kuzushiji_tf.synthetic.text_source import TRAIN, load_text

    fonts = find_fonts()
    variants = {}
    for name, features in (("font pages (features none)", ()), ("full generator (features all)", None)):
        faces = font_pages_only(fonts) if features == () else fonts
        charset = build_charset("common" if features == () else None, faces)  # as generate_dataset does
        styles = [sample_book_style(np.random.default_rng([args.seed, b]), faces) for b in range(4)]
        if features == ():
            styles = [with_features(s, ()) for s in styles]
        source = None if features == () else load_text(None, charset)  # as generate_dataset does
        texts = [
            source.window(TRAIN, source.book_start(TRAIN, np.random.default_rng([args.seed, page])), 0)[1]
            if source
            else None
            for page in range(args.pages)
        ]
        variants[name] = (faces, charset, styles, texts)
        render_page(0, styles[0], page_height=args.page_height, charset=charset, fonts=faces, text=texts[0])
    best = {name: 0.0 for name in variants}
    chars = {name: 0 for name in variants}
    for _ in range(args.rounds):
        for name, (faces, charset, styles, texts) in variants.items():
            start, count = time.perf_counter(), 0
            for page in range(args.pages):
                _, labelled = render_page(
                    [args.seed, page],
                    styles[page % len(styles)],
                    page_height=args.page_height,
                    charset=charset,
                    fonts=faces,
                    text=texts[page],
                    back_text=texts[page],
                )
                count += len(labelled)
            best[name] = max(best[name], args.pages / (time.perf_counter() - start))
            chars[name] = count
    rows = [[name, best[name], chars[name] / args.pages] for name in variants]
    common.print_table(["generator", "pages/s", "chars/page"], rows, title=f"render_page at height {args.page_height}")
    plain, full = (best[name] for name in variants)
    print(common.goal_line("full / font pages", full / plain, 0.5))
    print(common.load_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
