"""Print pages as text in reading order (columns right to left, top to bottom), with the exported recogniser.

    kuzushiji-transcribe page.jpg page2.png                    # the shipped model
    kuzushiji-transcribe page.jpg --model saved_models/kuzushiji_page/1 --json > page.json

Without --model the model shipped with kuzushiji_tf reads the pages (docs/pretrained.md); a `model: ...` line on
stderr says which model it was. Per page: a header line `== page.jpg: N characters, K columns`, then one line per column. With --json, one
object per page with its columns and its characters (code, char, box xyxy, column, scores) in reading order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kuzushiji_tf.cli.args import add_model, add_no_context, chosen_model, prog
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "transcribe"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog(PROG), description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", help="page images (JPEG or PNG)")
    add_model(p)
    add_no_context(p)
    p.add_argument("--json", action="store_true", help="print JSON (columns and characters) instead of text")
    return p.parse_args(argv)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from kuzushiji_tf.scans.images import ImageError, load_image

    paths = [Path(p) for p in args.images]
    try:
        for path in paths:  # every page is checked before the model loads, which takes seconds
            load_image(path, formats=("JPEG", "PNG"))
        model_path = chosen_model(args).path  # a clear error before the model loads, which takes seconds
    except (FileNotFoundError, ImageError) as error:
        return fail(PROG, error)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.recognition.context import read_in_context
    from kuzushiji_tf.recognition.contract import PageRefused
    from kuzushiji_tf.recognition.page_text import page_record
    from kuzushiji_tf.recognition.postprocess import page_results

    try:
        model = load_page_model(model_path)
    except (OSError, ValueError, KeyError) as error:
        return fail(PROG, f"{model_path}: cannot load the page recogniser ({error})")
    translation = dict(model.vocabulary)
    records = []
    for path in paths:
        try:
            result = page_results(model([path.read_bytes()]))
            if not args.no_context:
                result = read_in_context(result, model.options)
        except PageRefused as error:
            return fail(PROG, f"{path}: the model refused the image ({error})")
        record = page_record(path.name, result, translation, cls_threshold=model.options.cls_threshold)
        records.append(record)
        if not args.json:
            print(f"== {path.name}: {len(record['characters'])} characters, {len(record['columns'])} columns")
            for column in record["columns"]:
                print(column)
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
