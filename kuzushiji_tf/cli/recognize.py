"""Recognise page scans (images, folders, PDFs, IIIF manifests) into text, data and layout files, plus summary.csv.

    kuzushiji-recognize scans/ --out ocr/                        # a folder: images and PDFs, recursively
    kuzushiji-recognize book.pdf --out ocr/ --formats all --dpi 300
    kuzushiji-recognize https://example.org/iiif/book/manifest.json --out ocr/ --formats page,alto,iiif
    kuzushiji-recognize page1.jpg manifest.json --out ocr/ [--model saved_models/kuzushiji_page/1]

SCANS is one folder (searched recursively for JPEG, PNG, TIFF and PDF files) or a list of image files,
PDF files, IIIF Presentation manifests (v2 or v3, a local .json file or an http(s) URL). A PDF's pages
are rasterised at --dpi (lower when a page would exceed the recogniser's pixel limit; the log says so)
and named <pdf path without .pdf>/page-0001; a manifest's canvases are named <manifest>/0001-<label>,
their images fetched at the recogniser's short side and the outputs given in canvas coordinates.
Downloads are bounded by --timeout, --retries and --max-bytes.

For each page it writes OUT/<page name><suffix> for each of --formats (default txt,json):
txt (.txt, one column a line in reading order), json (.json: image size; per character its code point,
character, box, scores, column, block and reading position), page (.page.xml, PAGE-XML 2019),
alto (.alto.xml, ALTO 4.4), hocr (.hocr.html), iiif (.annotations.json, a IIIF Presentation 3
AnnotationPage), and for tei one OUT/tei.xml over the whole run (built from the pages' .json files, so
tei writes json too). A rerun skips pages whose files are all there, so a killed run continues; --force
redoes them. A page that cannot be read is reported in summary.csv and the run goes on; the exit status
is 1 when any page failed.

With --runner NAME the same run is an Apache Beam pipeline (needs `pip install -e .[beam]`): the pages
are spread over the runner's workers, each loading the model once (RunInference), and the outputs are
the same files. Options this tool does not know go to Beam (e.g. --direct_num_workers 2
--direct_running_mode multi_processing; on Dataflow --project, --region, --temp_location, --num_workers);
SCANS may then also be a glob or a folder on gs://, s3:// or hdfs://, and --out and --model may be there
too. Pages that fail are listed in OUT/failed.csv (the dead letter) as well as in summary.csv. See
docs/scaling.md.

--created fixes the creation time written into PAGE, ALTO and TEI (default: when the run starts); two
runs with the same --created write the same bytes.

--model is an exported page recogniser: a SavedModel (run by TensorFlow) or an ONNX export
(`kuzushiji-export --format onnx`: run by ONNX Runtime, numpy and OpenCV, without importing TensorFlow), or a
model package (kuzushiji-package-model). Without --model, the model shipped with kuzushiji_tf is used (rebuilt
into the user cache on first use; docs/pretrained.md); --models-dir DIR instead takes the newest version under
DIR/kuzushiji_page. The first line on stderr says which model was loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from kuzushiji_tf.cli.args import add_model, add_no_context, chosen_model, positive
from kuzushiji_tf.cli.errors import fail, user_errors

PROG = "recognize"


def _formats(text: str) -> list[str]:
    from kuzushiji_tf.formats import parse_formats

    try:
        return parse_formats(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _created(text: str) -> str:
    import datetime

    try:
        datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UTC time like 2026-12-02T09:30:00Z") from None
    return text


def parse_args(argv=None) -> argparse.Namespace:
    from kuzushiji_tf.formats import DEFAULT_FORMATS, FORMATS

    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    p.add_argument("scans", nargs="+", help="a folder of scans, or image files, PDF files, IIIF manifest files or URLs")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--formats",
        type=_formats,
        default=DEFAULT_FORMATS,
        help=f"comma-separated output formats ({', '.join(FORMATS)}) or 'all' (default %(default)s); "
        "tei writes json too, since the run's TEI is built from the pages' .json files",
    )
    add_model(p, models_dir=True)
    p.add_argument("--dpi", type=positive(int), default=300, help="PDF rasterisation (default %(default)s)")
    p.add_argument(
        "--timeout",
        type=positive(float),
        default=30.0,
        help="seconds per network connect or read, IIIF only (default %(default)s)",
    )
    p.add_argument(
        "--retries",
        type=_count,
        default=3,
        help="more attempts after a network failure, 429 or 5xx, with backoff (default %(default)s)",
    )
    p.add_argument(
        "--max-bytes",
        type=positive(int),
        default=50_000_000,
        help="largest manifest or image download (default %(default)s)",
    )
    p.add_argument("--batch-size", type=positive(int), default=4)
    add_no_context(p)
    p.add_argument("--force", action="store_true", help="redo pages whose outputs are already complete")
    p.add_argument("--visualize", action="store_true", help="also write OUT/<page name>.png with the boxes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--created",
        type=_created,
        help="UTC creation time written into PAGE, ALTO and TEI, YYYY-MM-DDTHH:MM:SSZ (default: now)",
    )
    p.add_argument(
        "--runner",
        help="run as an Apache Beam pipeline on this runner (DirectRunner, PrismRunner, "
        "DataflowRunner, FlinkRunner, ...); other options go to Beam",
    )
    args, beam_args = p.parse_known_args(argv)
    if beam_args and not args.runner:
        p.error(f"unrecognized arguments: {' '.join(beam_args)} (Beam pipeline options need --runner)")
    if args.runner and args.visualize:
        p.error("--visualize is for local runs only: leave out --runner")
    args.beam_args = beam_args
    return args  # a string default goes through `type` too: args.formats is always a list


@user_errors(PROG)
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.runner:
        return run_on_beam(args)
    from kuzushiji_tf.backends.loading import load_page_model
    from kuzushiji_tf.recognition.contract import model_short_side
    from kuzushiji_tf.scans import open_scans

    log = lambda line: print(f"recognize: {line}", flush=True)  # noqa: E731
    try:
        model = chosen_model(args).path  # a clear error for a folder with no export, before any scan is opened
        pages = open_scans(
            args.scans,
            dpi=args.dpi,
            short_side=model_short_side(model),
            timeout=args.timeout,
            retries=args.retries,
            max_bytes=args.max_bytes,
        )
        if not pages:
            raise FileNotFoundError(f"{' '.join(args.scans)}: no JPEG, PNG, TIFF or PDF files found")
    except (FileNotFoundError, ValueError) as error:  # ValueError includes ScanError: an unreadable manifest
        return fail(PROG, error)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kuzushiji_tf.recognition.folder_recognition import recognize_pages
    from kuzushiji_tf.recognition.page_outputs import with_records

    formats = with_records(args.formats)
    if formats != args.formats:
        log("tei is built from the pages' .json files: writing json too")
    recognizer = load_page_model(model)
    log(f"{len(pages)} page(s), formats {','.join(formats)}, model {model} ({recognizer.backend})")
    start = time.perf_counter()
    rows = recognize_pages(
        recognizer,
        recognizer.vocabulary,
        pages,
        args.out,
        formats=formats,
        batch_size=args.batch_size,
        force=args.force,
        visualize=args.visualize,
        progress=not args.quiet,
        created=args.created,
        log=log,
        context=not args.no_context,
    )
    return _report(rows, time.perf_counter() - start, args.out, formats)


def run_on_beam(args) -> int:
    """The run as a Beam pipeline on `args.runner` (kuzushiji_tf.beam_recognition)."""
    try:
        from kuzushiji_tf.beam_recognition.pipeline import run_recognition
    except ImportError as error:
        return fail(PROG, f"--runner needs Apache Beam ({error}); install it with pip install -e .[beam]")
    from kuzushiji_tf.formats.source import utc_now
    from kuzushiji_tf.pretrained import SHIPPED

    log = lambda line: print(f"recognize: {line}", flush=True)  # noqa: E731
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # inherited by local worker processes
    options = dict(dpi=args.dpi, timeout=args.timeout, retries=args.retries, max_bytes=args.max_bytes)
    start = time.perf_counter()
    try:
        # The driver checks (and on first use rebuilds) a package here; an export folder, maybe a bucket's, is
        # checked by the pipeline.
        chosen = chosen_model(args, check=False).path
        # The shipped model or a package goes to the workers by name: each rebuilds it where it runs, as a
        # worker on another machine must. A folder name goes as given: it may be a bucket's (gs://, s3://).
        model = str(chosen) if args.models_dir else (args.model or SHIPPED)
        rows = run_recognition(
            args.scans,
            args.out,
            model,
            formats=args.formats,
            created=args.created or utc_now(),
            pipeline_args=[f"--runner={args.runner}", *args.beam_args],
            batch_size=args.batch_size,
            force=args.force,
            scan_options=options,
            log=log,
        )
    except (FileNotFoundError, ValueError) as error:
        return fail(PROG, error)
    from kuzushiji_tf.recognition.page_outputs import with_records

    return _report(rows, time.perf_counter() - start, args.out, with_records(args.formats))


def _report(rows: list[dict], seconds: float, out: str, formats: list[str]) -> int:
    from kuzushiji_tf.formats import FORMATS
    from kuzushiji_tf.recognition.folder_recognition import SUMMARY

    out = out.rstrip("/")
    done = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    for row in failed:
        print(f"recognize: failed: {row['page']}: {row['error']}", file=sys.stderr)
    tei = f", {out}/{FORMATS['tei'].file_name()}" if "tei" in formats else ""
    print(
        f"recognize: {len(done)} recognised, {len(rows) - len(done) - len(failed)} already done, {len(failed)} failed "
        f"in {seconds:.1f}s ({len(done) / max(seconds, 1e-9):.2f} pages/s) -> {out}/{SUMMARY}{tei}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
