"""Output-format writing time: mean ms per page of each format of `kuzushiji_tf.formats`, on synthetic page
records (two blocks of columns, `--chars` characters a page), to set beside the recogniser's time per page.
TEI is one document for the run: its time is the whole document's divided by the pages.

    python benchmarks/formats.py --quick       # seconds
    python benchmarks/formats.py --pages 200 --chars 300
"""

from __future__ import annotations

import time

import numpy as np

import common
from kuzushiji_tf.config import CLASS_THRESHOLD as CLS_THRESHOLD  # noqa: E402
from kuzushiji_tf.config import TOP_K  # noqa: E402
from kuzushiji_tf.formats import FORMATS, PageSource  # noqa: E402  (common puts the repository on sys.path)

CHAR = 40  # character side, pixels
PER_COLUMN = 15


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="synthetic pages (default 20 quick, 100 full)")
    parser.add_argument("--chars", type=int, default=150, help="characters a page (default 150)")
    parser.add_argument("--rounds", type=int, default=None, help="repeats, best kept (default 2 quick, 5 full)")
    args = parser.parse_args(argv)
    args.pages = args.pages or (20 if args.quick else 100)
    args.rounds = args.rounds or (2 if args.quick else 5)
    return args


def synthetic_record(page: int, chars: int, rng: np.random.Generator) -> dict:
    """A record in page_record's shape: columns of PER_COLUMN characters right to left, the first half of
    the columns in a top block and the rest in a bottom one, random kana and kanji, jittered boxes, each
    with TOP_K candidates (the recogniser's default) and its uncertain flag."""
    n_columns = -(-chars // PER_COLUMN)
    top = -(-n_columns // 2)
    width = (top + 2) * CHAR * 3 // 2
    height = 2 * (PER_COLUMN + 3) * CHAR * 5 // 4
    characters, columns = [], [""] * n_columns
    for k in range(chars):
        column, row = divmod(k, PER_COLUMN)
        block = int(column >= top)
        x0 = width - (column - block * top + 1) * CHAR * 3 // 2 + rng.uniform(-3, 3)
        y0 = CHAR + block * (PER_COLUMN + 3) * CHAR * 5 // 4 + row * CHAR * 5 // 4 + rng.uniform(-3, 3)
        point = int(rng.choice([rng.integers(0x3041, 0x3097), rng.integers(0x4E00, 0x9FA0)]))
        char = chr(point)
        columns[column] += char
        probability = round(float(rng.uniform(0.3, 1)), 4)
        others = [int(rng.integers(0x3041, 0x3097)) for _ in range(TOP_K - 1)]
        shares = np.sort(rng.dirichlet(np.ones(TOP_K)))[::-1][: TOP_K - 1] * (1 - probability)
        candidates = [{"code": f"U+{point:04X}", "char": char, "probability": probability}] + [
            {"code": f"U+{p:04X}", "char": chr(p), "probability": round(float(q), 4)} for p, q in zip(others, shares)
        ]
        characters.append(
            {
                "index": k,
                "code": f"U+{point:04X}",
                "codepoint": point,
                "char": char,
                "box": [round(x0, 1), round(y0, 1), round(x0 + CHAR, 1), round(y0 + CHAR, 1)],
                "column": column,
                "block": block,
                "detection_score": round(float(rng.uniform(0.3, 1)), 4),
                "class_probability": probability,
                "uncertain": probability < CLS_THRESHOLD,
                "candidates": candidates,
            }
        )
    return {
        "image": f"page_{page:04d}.jpg",
        "width": width,
        "height": height,
        "cls_threshold": CLS_THRESHOLD,
        "columns": columns,
        "characters": characters,
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    common.banner("output formats: ms per page", args)
    rng = np.random.default_rng(args.seed)
    pages = [synthetic_record(p, args.chars, rng) for p in range(args.pages)]
    sources = [
        PageSource.from_record(r, page_number=k + 1, created="2024-01-01T00:00:00Z") for k, r in enumerate(pages)
    ]
    pairs = list(zip(pages, sources))
    rows = []
    for name, fmt in FORMATS.items():
        best, size = float("inf"), 0
        for _ in range(args.rounds):
            started = time.perf_counter()
            if fmt.per_page:
                size = sum(len(fmt.render(record, source).encode("utf-8")) for record, source in pairs)
            else:
                size = len(fmt.render(pairs, created="2024-01-01T00:00:00Z").encode("utf-8"))
            best = min(best, time.perf_counter() - started)
        rows.append([name, 1000 * best / len(pages), size / len(pages) / 1024])
    total = sum(row[1] for row in rows)
    rows.append(["all seven", total, sum(row[2] for row in rows)])
    common.print_table(
        ["format", "ms / page", "KiB / page"],
        rows,
        title=f"{args.pages} pages x {args.chars} characters, best of {args.rounds} rounds",
    )
    print(common.load_note())


if __name__ == "__main__":
    main()
