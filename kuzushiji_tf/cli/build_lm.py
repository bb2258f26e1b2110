"""Build a character n-gram language model of classical Japanese from folders of plain text.

    kuzushiji-build-lm TEXT... --order 5 --prune 1,2 --half --out my.lm [--report report.json] [--all-documents]

TEXT is folders of UTF-8 .txt files (one document each, searched recursively; subfolders such as edo/ are
reported apart) or single files. The model is built from the training documents of the project's split by
document (every 10th document of a folder, the first included, is held out) and its per-character
perplexity on the held-out ones is printed per folder; --all-documents builds from every document (no
report then). The model's vocabulary is the recogniser's classes (docs/language_model.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from kuzushiji_tf.cli.args import positive, prog
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "build_lm"


def _prune(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of counts, not {text!r}") from None
    if any(v < 0 for v in values) or any(b < a for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"counts must be >= 0 and must not decrease: {text!r}")
    return values


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="+", metavar="TEXT", help="folders of UTF-8 .txt documents, or single files")
    parser.add_argument("--out", required=True, help="the model file to write (e.g. my.lm)")
    parser.add_argument("--order", type=positive(int), default=5, help="n-gram order (default %(default)s)")
    parser.add_argument(
        "--prune",
        type=_prune,
        default=[],
        metavar="C2,C3,...",
        help="drop bigrams seen at most C2 times, trigrams at most C3 times, ...; the last count holds for the "
        "higher orders (default: keep all)",
    )
    parser.add_argument("--report", metavar="FILE.json", help="also write the held-out perplexities to this file")
    parser.add_argument(
        "--all-documents", action="store_true", help="build from every document, holding none out (no report)"
    )
    parser.add_argument(
        "--half",
        action="store_true",
        help="store the log probabilities of orders 2 and up as float16: a file about a third smaller, "
        "perplexity within 0.1 %%",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the result lines")
    args = parser.parse_args(argv)

    from kuzushiji_tf.atomic_files import write_atomic
    from kuzushiji_tf.language_model.build import build_model, held_out_report
    from kuzushiji_tf.text.corpus import read_corpus, split_documents

    def log(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    if args.report and args.all_documents:
        return fail(PROG, "--report needs held-out documents: leave out --all-documents")
    started = time.perf_counter()
    docs = read_corpus(args.text)
    train, held = (docs, []) if args.all_documents else split_documents(docs)
    log(f"read {len(docs)} documents: {len(train)} to build from, {len(held)} held out")
    meta = {
        "documents_built_from": [doc.name for doc in train],
        "licences": sorted({doc.licence for doc in train if doc.licence}),
    }
    model = build_model(train, args.order, args.prune, log=log, meta=meta, half=args.half)
    if not model.meta["training_tokens"]:
        return fail(PROG, f"no character of the recogniser's classes in the {len(train)} documents to build from")
    path = model.save(args.out)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    print(f"{path}: order {model.order}, n-grams {model.ngram_counts}, {size / 1e6:.2f} MB, built in {seconds:.1f} s")
    if held:
        report = held_out_report(model, held)
        print(f"{'held out':<12} {'documents':>9} {'characters':>10} {'perplexity':>10}")
        for folder, row in report.items():
            ppl = "-" if row["perplexity"] is None else f"{row['perplexity']:.2f}"
            print(f"{folder or '(root)':<12} {row['documents']:>9} {row['characters']:>10} {ppl:>10}")
        if args.report:
            summary = {
                "model": str(path),
                "order": model.order,
                "prune": model.meta["prune"],
                "ngrams": model.ngram_counts,
                "bytes": size,
                "build_seconds": round(seconds, 1),
                "held_out": report,
            }
            write_atomic(args.report, json.dumps(summary, ensure_ascii=False, indent=1))
    return 0
