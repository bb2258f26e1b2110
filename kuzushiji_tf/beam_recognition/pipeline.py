"""`run_recognition`: scans -> per-page outputs in the folder CLI's layout, summary.csv, a dead-letter file
and tei.xml, as one Beam pipeline.

    listing file -> ReadFromText -> Reshuffle (spread the pages over the workers)
      -> SkipComplete (a page whose files all exist is a `skipped` row, as in the folder CLI)
      -> LoadPage (the page's bytes and image size; an unreadable page goes to the dead letter)
      -> RunInference (PageModelHandler: batched, the model loaded once per worker)
      -> WritePage (reading order, every chosen format; a refused page goes to the dead letter)
      -> Finish, once: summary.csv in run order, failed.csv (the dead letter) and tei.xml

Every page's files are rendered by the same code as the folder CLI's (`folder_recognition`,
`page_outputs`, `kuzushiji_tf.formats`) from the same page number and `created` time, so with the same
`created` both give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from kuzushiji_tf.beam_recognition import storage
from kuzushiji_tf.beam_recognition.listing import decode_line, list_pages, write_listing
from kuzushiji_tf.beam_recognition.model_handler import PageModelHandler, local_model_folder
from kuzushiji_tf.config import CLASS_THRESHOLD
from kuzushiji_tf.formats import FORMATS
from kuzushiji_tf.pretrained import SHIPPED
from kuzushiji_tf.recognition.contract import model_backend, read_options_asset, read_vocabulary_asset
from kuzushiji_tf.recognition.folder_recognition import (
    SUMMARY,
    SUMMARY_FIELDS,
    failed_row,
    framed_record,
    load_sized,
    summary_row,
    summary_text,
)
from kuzushiji_tf.recognition.page_outputs import page_file_names, page_source, tei_text, with_records

DEAD_LETTER = "failed.csv"
DEAD_LETTER_FIELDS = ("page", "source", "error")
LOCAL_RUNNERS = ("DirectRunner", "PrismRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner")
FAILED = "failed"
# Counters a runner shows while the job runs (the Dataflow and Flink UIs) and the driver prints at the end.
METRICS = "kuzushiji_tf"
SKIPPED_PAGES = Metrics.counter(METRICS, "pages_skipped")
RECOGNISED_PAGES = Metrics.counter(METRICS, "pages_recognised")
FAILED_PAGES = Metrics.counter(METRICS, "pages_failed")
CHARACTERS = Metrics.counter(METRICS, "characters")


@dataclass(frozen=True)
class RunSettings:
    """What every worker needs besides the page: where the outputs go and how they are written."""

    out: str
    formats: tuple[str, ...]
    created: str
    vocabulary: tuple[tuple[str, str], ...]
    force: bool = False
    cls_threshold: float = CLASS_THRESHOLD  # the export's: characters below it are flagged `uncertain`

    def files(self, page) -> dict[str, str]:
        """{format: path} of the page's own files in writing order, the .json last."""
        return {name: storage.join(self.out, file) for name, file in page_file_names(page.name, self.formats).items()}


def _read_record(path: str) -> dict:
    return json.loads(storage.read_bytes(path).decode("utf-8"))


class SkipComplete(beam.DoFn):
    """(number, page) -> itself when it is to be done, or a `skipped` row (tag `skipped`) when complete."""

    def __init__(self, settings: RunSettings):
        self.settings = settings

    def process(self, element):
        number, page = element
        files = self.settings.files(page)
        if self.settings.force or not all(storage.exists(path) for path in files.values()):
            yield element
            return
        record = _read_record(files["json"]) if "json" in files else None
        SKIPPED_PAGES.inc()
        yield beam.pvalue.TaggedOutput("skipped", (number, page, summary_row(page.name, record, "skipped")))


class LoadPage(beam.DoFn):
    """(number, page) -> ((number, page, image size), encoded bytes), or a failed row (tag `failed`)."""

    def process(self, element):
        number, page = element
        try:
            data, size = load_sized(page)
        except (OSError, ValueError) as error:  # ScanError is a ValueError
            FAILED_PAGES.inc()
            yield beam.pvalue.TaggedOutput(FAILED, (number, page, failed_row(page, str(error))))
            return
        yield (number, page, size), data


class WritePage(beam.DoFn):
    """((number, page, size), prediction) -> the page's files and its `ok` row, or a failed row (tag `failed`)."""

    def __init__(self, settings: RunSettings):
        self.settings = settings

    def setup(self):
        self.translation = dict(self.settings.vocabulary)

    def process(self, element):
        (number, page, size), prediction = element
        if isinstance(prediction.inference, str):  # the recogniser refused the page
            FAILED_PAGES.inc()
            yield beam.pvalue.TaggedOutput(FAILED, (number, page, failed_row(page, prediction.inference)))
            return
        try:
            record = framed_record(
                page, prediction.inference, size, self.translation, cls_threshold=self.settings.cls_threshold
            )
            source = page_source(page, record, number, self.settings.created)
            for name, path in self.settings.files(page).items():
                storage.write(path, FORMATS[name].render(record, source))
        except (OSError, ValueError) as error:
            FAILED_PAGES.inc()
            yield beam.pvalue.TaggedOutput(FAILED, (number, page, failed_row(page, f"{page.name}: {error}")))
            return
        RECOGNISED_PAGES.inc()
        CHARACTERS.inc(len(record["characters"]))
        yield number, page, summary_row(page.name, record)


def _dead_letter_text(rows: Sequence[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DEAD_LETTER_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({"page": page.name, "source": page.source, "error": row["error"]} for _, page, row in rows)
    return buffer.getvalue()


class Finish(beam.DoFn):
    """All rows -> summary.csv (run order), failed.csv (only when pages failed) and tei.xml (when asked for)."""

    def __init__(self, settings: RunSettings):
        self.settings = settings

    def process(self, rows):
        rows = sorted(rows, key=lambda item: item[0])
        settings = self.settings
        if "tei" in settings.formats:
            done = [(number, page) for number, page, row in rows if row["status"] in ("ok", "skipped")]
            if done:
                pairs = []
                for number, page in done:
                    record = _read_record(settings.files(page)["json"])
                    pairs.append((record, page_source(page, record, number, settings.created)))
                path = storage.join(settings.out, FORMATS["tei"].file_name())
                text = tei_text(
                    storage.read_text(path),
                    pairs,
                    settings.created,
                    new_pages=any(row["status"] == "ok" for _, _, row in rows),
                )
                if text is not None:
                    storage.write(path, text)
        failed = [item for item in rows if item[2]["status"] == FAILED]
        dead_letter = storage.join(settings.out, DEAD_LETTER)
        if failed:
            storage.write(dead_letter, _dead_letter_text(failed))
        else:
            storage.delete(dead_letter)  # from an earlier run whose failures are now done
        storage.write(storage.join(settings.out, SUMMARY), summary_text([row for _, _, row in rows]))
        yield len(rows)


def build_pipeline(pipeline: beam.Pipeline, listing: str, model: str, settings: RunSettings, batch_size: int):
    """Adds the recognition steps to `pipeline`; returns the dead-letter PCollection of (number, page, row)."""
    pages = (
        pipeline
        | "ReadListing" >> beam.io.ReadFromText(listing)
        | "Decode" >> beam.Map(decode_line)
        | "Spread" >> beam.Reshuffle()
    )
    todo = pages | "SkipComplete" >> beam.ParDo(SkipComplete(settings)).with_outputs("skipped", main="todo")
    loaded = todo.todo | "LoadPage" >> beam.ParDo(LoadPage()).with_outputs(FAILED, main="loaded")
    predicted = loaded.loaded | "Recognise" >> RunInference(
        KeyedModelHandler(PageModelHandler(model, max_batch_size=batch_size))
    )
    written = predicted | "WritePage" >> beam.ParDo(WritePage(settings)).with_outputs(FAILED, main="rows")
    dead_letter = (loaded[FAILED], written[FAILED]) | "DeadLetter" >> beam.Flatten()
    _ = (
        (todo.skipped, written.rows, dead_letter)
        | "AllRows" >> beam.Flatten()
        | "Gather" >> beam.combiners.ToList()
        | "Finish" >> beam.ParDo(Finish(settings))
    )
    return dead_letter


def _listing_path(options: PipelineOptions) -> tuple[str, bool]:
    """Where the listing goes: the pipeline's --temp_location, else (local runners only) a local temporary
    file. Returns (path, whether it is a local temporary folder of ours)."""
    temp = options.view_as(GoogleCloudOptions).temp_location
    name = f"kuzushiji-listing-{uuid.uuid4().hex}.txt"
    if temp:
        return storage.join(temp, name), False
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    if str(runner).split(".")[-1] not in LOCAL_RUNNERS:
        raise ValueError(
            f"--runner {runner} needs --temp_location on a filesystem its workers read (e.g. "
            "gs://bucket/tmp): the page listing is written there"
        )
    return os.path.join(tempfile.mkdtemp(prefix="kuzushiji_beam_"), name), True


def _counters(result) -> str:
    """The job's page counters, as the runner reports them (committed values, attempted where it has none)."""
    try:
        found = result.metrics().query(MetricsFilter().with_namespace(METRICS))["counters"]
    except Exception as error:  # a runner may not support metrics queries
        return f"counters not available from this runner ({error.__class__.__name__})"
    values = {}
    for counter in found:
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + (value or 0)
    names = ("pages_recognised", "pages_skipped", "pages_failed", "characters")
    return "counters: " + ", ".join(f"{name} {values.get(name, 0)}" for name in names)


def run_recognition(
    scans: list[str],
    out: str,
    model: str,
    *,
    formats: Sequence[str],
    created: str,
    pipeline_args: Sequence[str],
    batch_size: int = 4,
    force: bool = False,
    scan_options: dict | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> list[dict]:
    """Runs the pipeline (blocking) and returns summary.csv's rows as written. `model` is an export folder
    (local or on a bucket), a local model package, or `pretrained.SHIPPED`. Raises FileNotFoundError or
    ValueError for inputs, a model or options that cannot work, before the pipeline starts."""
    pipeline_args = list(pipeline_args)
    if not any(arg.startswith("--default_sdk_harness_log_level") for arg in pipeline_args):
        pipeline_args.append("--default_sdk_harness_log_level=WARNING")  # workers' INFO lines would bury ours
    options = PipelineOptions(pipeline_args)
    FileSystems.set_options(options)  # the driver lists and reads with the run's credentials and endpoints
    if storage.is_local(out):
        out = os.path.abspath(out)  # workers may run elsewhere on this machine
    if storage.is_local(model) and model != SHIPPED:
        model = os.path.abspath(model)
    # The driver reads the assets; workers copy the model (or rebuild a package) themselves.
    local_model = local_model_folder(model)
    try:
        model_backend(local_model)
        vocabulary = tuple(read_vocabulary_asset(local_model))
        recognizer_options = read_options_asset(local_model)
    finally:
        if not storage.is_local(model):
            shutil.rmtree(local_model, ignore_errors=True)
    pages = list_pages(scans, short_side=recognizer_options.largest_short_side, **(scan_options or {}))
    if not pages:
        raise FileNotFoundError(f"{' '.join(scans)}: no JPEG, PNG, TIFF or PDF files found")
    if tuple(with_records(formats)) != tuple(formats):
        log("tei is built from the pages' .json files: writing json too")
    formats = tuple(with_records(formats))
    settings = RunSettings(
        out=out,
        formats=formats,
        created=created,
        vocabulary=vocabulary,
        force=force,
        cls_threshold=recognizer_options.cls_threshold,
    )
    listing, local_listing = _listing_path(options)
    write_listing(pages, listing)
    log(
        f"{len(pages)} page(s), formats {','.join(formats)}, model {model}, runner "
        f"{options.view_as(StandardOptions).runner or 'DirectRunner'}"
    )
    try:
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, listing, model, settings, batch_size)
        result = pipeline.run()
        result.wait_until_finish()
        log(_counters(result))
    finally:
        storage.delete(listing)
        if local_listing:
            Path(listing).parent.rmdir()
    return list(csv.DictReader(io.StringIO(storage.read_text(storage.join(out, SUMMARY)) or "")))


__all__ = ["DEAD_LETTER", "RunSettings", "SUMMARY_FIELDS", "build_pipeline", "run_recognition"]
