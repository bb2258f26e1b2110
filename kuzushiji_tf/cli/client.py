"""Send scans to a page recogniser served over TF Serving's REST API (this project's server or a real TF
Serving) and print or save what it read.

    kuzushiji-client --url http://127.0.0.1:8501 page1.jpg page2.png
    kuzushiji-client --url http://tf-serving:8501 --model-name kuzushiji_page scans/*.jpg --out ocr/

It sends `{"instances": [{"b64": ...}]}` to /v1/models/<name>:predict (one request per --batch pages),
reads `{"predictions": [...]}`, trims each page's padded outputs to its count and builds the same page
record as kuzushiji-recognize (reading order, columns): printed as text, or written as <out>/<file>.json
with --out. The characters come from the code points; --vocabulary (an export's assets/vocabulary.csv)
gives the recogniser's own character table instead. Only JPEG and PNG: the SavedModel decodes no TIFF.
Uses the standard library only (no TensorFlow, no requests).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from kuzushiji_tf.cli.args import add_no_context
from kuzushiji_tf.cli.errors import user_errors
from kuzushiji_tf.config import CLASS_THRESHOLD
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.recognition.contract import PAGE_MODEL

PROG = "client"


class ClientError(KuzushijiError, RuntimeError):
    """The server cannot be reached, refused the request or answered something else than the pages' results."""


def predict(url: str, pages: list[bytes], *, model_name: str = PAGE_MODEL, timeout: float = 300.0) -> list[dict]:
    """The recogniser's results for `pages` (encoded JPEG/PNG) from the predict API at `url`: per page every
    detection, as `recognition.postprocess.page_results` gives them (the class threshold not applied)."""
    from kuzushiji_tf.serving.tf_serving_rest import results_from_response

    body = json.dumps({"instances": [{"b64": base64.b64encode(page).decode("ascii")} for page in pages]}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/models/{model_name}:predict",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("error", "")
        except ValueError:
            message = ""
        raise ClientError(f"{error.code} {error.reason}: {message}".rstrip(": ")) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise ClientError(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None
    results = results_from_response(answer)
    if len(results) != len(pages):
        raise ClientError(f"sent {len(pages)} pages, got {len(results)} results")
    return results


def read_translation(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["code"]: row["char"] for row in csv.DictReader(handle)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    p.add_argument("images", nargs="+", help="JPEG or PNG scans")
    p.add_argument("--url", default="http://127.0.0.1:8501", help="server base URL (default %(default)s)")
    p.add_argument("--model-name", default=PAGE_MODEL, help="served model name (default %(default)s)")
    p.add_argument("--batch", type=int, default=1, help="pages per request (default %(default)s)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request (default %(default)s)")
    p.add_argument("--vocabulary", help="vocabulary.csv (class_id,code,char) for the characters")
    add_no_context(p)
    p.add_argument("--out", help="write <out>/<image file name>.json page records instead of printing text")
    p.add_argument(
        "--cls-threshold",
        type=float,
        default=CLASS_THRESHOLD,
        help="flag characters whose top class has less than this probability as uncertain (default "
        "%(default)s, the export's default); every detection is kept",
    )
    return p.parse_args(argv)


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from kuzushiji_tf.atomic_files import write_atomic
    from kuzushiji_tf.formats import PageSource, json_record
    from kuzushiji_tf.recognition.context import read_in_context
    from kuzushiji_tf.recognition.contract import RecognizerOptions
    from kuzushiji_tf.recognition.page_text import page_record
    from kuzushiji_tf.scans import encoded_size

    translation = read_translation(args.vocabulary)
    paths = [Path(p) for p in args.images]
    failed = 0
    for start in range(0, len(paths), max(args.batch, 1)):
        batch = paths[start : start + max(args.batch, 1)]
        try:
            pages = [path.read_bytes() for path in batch]
            results = predict(args.url, pages, model_name=args.model_name, timeout=args.timeout)
        except (OSError, ClientError) as error:
            print(f"client: {', '.join(map(str, batch))}: {error}", file=sys.stderr)
            failed += len(batch)
            continue
        for path, data, result in zip(batch, pages, results):
            if not args.no_context:
                # TF Serving returns the graph's outputs; reading in context happens here, with the default
                # settings (a served model's tuned ones are in its export folder, not in its answers).
                result = read_in_context(result, RecognizerOptions())
            record = page_record(
                path.name, result, translation, size=encoded_size(data), cls_threshold=args.cls_threshold
            )
            if args.out:
                out = Path(args.out) / f"{path.name}.json"
                write_atomic(out, json_record.render(record, PageSource.from_record(record)), make_parents=True)
                print(f"client: {path} -> {out} ({len(record['characters'])} characters)")
            else:
                print(f"# {path} ({len(record['characters'])} characters)")
                print("\n".join(record["columns"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
